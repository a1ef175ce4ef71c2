"""What a forked child must not inherit: locks that a parent's thread held at the fork, and
the state of threads that do not exist in the child.

Each object that holds locks or threads (the client, the batching worker, the PostHog
exporter and flags) registers its own fork hook here, the OpenTelemetry way: through a weak
method, so that the hook keeps nothing alive and does nothing once its object is gone.
"""

from __future__ import annotations

import os
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
