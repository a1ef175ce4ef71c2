"""Where feature-flag values come from; the PostHog sink provides a remote source."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol


class FlagSource(Protocol):
    """Remote flag values, bounded in time by their implementation; None when unknown."""

    def value(self, key: str, distinct_id: str) -> object:
        """One flag's value, or None."""
        ...

    def all(self, distinct_id: str) -> Mapping[str, object]:
        """Every flag's value."""
        ...


class NoFlags:
    """No remote flags: every lookup gives the caller's default."""

    def value(self, key: str, distinct_id: str) -> object:
        """Always unknown."""
        return None

    def all(self, distinct_id: str) -> Mapping[str, object]:
        """Always empty."""
        return {}
