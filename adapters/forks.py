"""What a forked child must not inherit: locks that a parent's thread held at the fork, and
the state of threads that do not exist in the child.

Each object that holds locks or threads (the client, the batching worker, the PostHog
exporter and flags) registers its own fork hook here, the OpenTelemetry way: through a weak
method, so that the hook keeps nothing alive and does nothing once its object is gone.
"""

from __future__ import annotations

import os
import sys
import weakref
from typing import Protocol

from .log import debug


class ForkAware(Protocol):
    """Something that holds locks or threads, and can start afresh in a forked child."""

    def after_fork_in_child(self) -> None:
        """Replace the locks, and forget the threads, inherited from the parent."""
        ...


def start_afresh_in_children(instance: ForkAware) -> None:
    """Call ``instance.after_fork_in_child()`` in every child forked from now on (as long as
    the instance lives)."""
    method = weakref.WeakMethod(instance.after_fork_in_child)
    kind = type(instance).__name__  # (the hook must not hold the instance itself)

    def in_child() -> None:
        bound = method()
        if bound is None:
            return
        try:
            bound()
        except Exception as error:  # noqa: BLE001 - a child must not fail because of telemetry
            debug("telemetry: a forked child could not reset %s (%s)", kind, type(error).__name__)

    os.register_at_fork(after_in_child=in_child)


def forget_imports_cut_short_by_the_fork() -> None:
    """In a forked child, forget the modules that another thread of the parent was importing
    at the fork (the PostHog exporter's first export imports ``posthog`` on a thread of its
    own): that thread does not exist here, and its module locks, which it held, would block
    every later import of those modules for ever. Forgotten, they are imported afresh.

    This reads CPython's import machinery (``importlib._bootstrap``: each module being
    imported has ``__spec__._initializing`` set and a lock in ``_module_locks`` with its
    ``owner``); a module that this very thread is importing (a fork made while a module
    loads) is kept, and anything unexpected leaves the modules as they are."""
    try:
        import importlib._bootstrap as bootstrap  # noqa: PLC0415 - in a forked child only
        import threading  # noqa: PLC0415 - in a forked child only

        locks = bootstrap._module_locks  # type: ignore[attr-defined]
        this_thread = threading.get_ident()
        for name, module in list(sys.modules.items()):
            if not getattr(getattr(module, "__spec__", None), "_initializing", False):
                continue
            reference = locks.get(name)
            lock = reference() if reference is not None else None
            if lock is not None and getattr(lock, "owner", None) == this_thread:
                continue
            sys.modules.pop(name, None)
            locks.pop(name, None)
    except Exception as error:  # noqa: BLE001 - a child must not fail because of telemetry
        debug("telemetry: a forked child kept the imports under way (%s)", type(error).__name__)
