"""What a forked child must not inherit: locks that a parent's thread held at the fork, and
the state of threads that do not exist in the child.

The client, the PostHog sink and the PostHog flags each register here; in every child forked
after that, each is told to start afresh.
"""

from __future__ import annotations

import os
import weakref
from typing import Protocol


class ForkAware(Protocol):
    """Something that holds locks or threads, and can start afresh in a forked child."""

    def after_fork_in_child(self) -> None:
        """Replace the locks, and forget the threads, inherited from the parent."""
        ...


_registered: weakref.WeakSet[ForkAware] = weakref.WeakSet()


def start_afresh_in_children(instance: ForkAware) -> None:
    """Call ``instance.after_fork_in_child()`` in every child forked from now on (as long as
    the instance lives)."""
    _registered.add(instance)


def _after_fork_in_child() -> None:
    for instance in list(_registered):
        instance.after_fork_in_child()


os.register_at_fork(after_in_child=_after_fork_in_child)
