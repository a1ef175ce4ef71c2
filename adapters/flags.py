"""Where feature-flag values come from; the PostHog sink provides a remote source."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol


class FlagSource(Protocol):
    """Remote flag values. Lookups never wait: None (or nothing) while a value is unknown."""

    def value(self, key: str, distinct_id: str) -> object:
        """One flag's value, or None."""
        ...

    def all(self, distinct_id: str) -> Mapping[str, object]:
        """Every flag's value."""
        ...

    def wait_for_values(self, timeout: float | None, distinct_id: str) -> bool:
        """Whether remote values have arrived, waiting for them at most ``timeout`` seconds
        (None: the source's own budget). Blocks its thread, but never a running event loop's;
        lookups need no call to it, they give defaults until the values arrive."""
        ...


class NoFlags:
    """No remote flags: every lookup gives the caller's default."""

    def value(self, key: str, distinct_id: str) -> object:
        """Always unknown."""
        return None

    def all(self, distinct_id: str) -> Mapping[str, object]:
        """Always empty."""
        return {}

    def wait_for_values(self, timeout: float | None, distinct_id: str) -> bool:
        """False at once: no remote values will ever come (local overrides still apply)."""
        return False
