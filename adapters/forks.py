"""What a forked child must not inherit: locks that a parent's thread held at the fork, and
the state of threads that do not exist in the child.

The client, the PostHog sink and the PostHog flags each register here; in every child forked
after that, each is told to start afresh.
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


# Keyed by id, so that an instance need not be hashable (a host's subclass may define __eq__);
# an entry goes when its instance does, so an id is never taken for another object's.
_registered: weakref.WeakValueDictionary[int, ForkAware] = weakref.WeakValueDictionary()


def start_afresh_in_children(instance: ForkAware) -> None:
    """Call ``instance.after_fork_in_child()`` in every child forked from now on (as long as
    the instance lives)."""
    _registered[id(instance)] = instance


def _after_fork_in_child() -> None:
    for instance in list(_registered.values()):
        try:
            instance.after_fork_in_child()
        except Exception as error:  # noqa: BLE001 - one failure must not stop the others
            debug(
                "telemetry: a forked child could not reset %s (%s)",
                type(instance).__name__,
                type(error).__name__,
            )


os.register_at_fork(after_in_child=_after_fork_in_child)
