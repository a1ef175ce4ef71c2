"""Feature flags from PostHog's ``/flags`` endpoint, never waiting past the flag budget.

The official client's flag lookups took 6.3 s per call against a silent host, every call.
Here one request at a time runs on a daemon thread; the caller waits for it at most the flag
budget, and otherwise gets the cached values (a stale value is kept when a refresh fails) or
nothing. Values are cached for ``ttl`` seconds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Final

from .forks import start_afresh_in_children
from .log import debug
from .posthog_sink import Endpoint

FLAG_REQUEST_TIMEOUT: Final = 5.0
"""How long the background request itself may take (the caller waits only the budget)."""
RETRY_AFTER_FAILURE: Final = 30.0
"""After a failed refresh, lookups answer from the cache at once for this long."""


def flag_values(response: object) -> dict[str, object]:
    """Each flag's value from a v4 ``/flags`` answer: its variant, else whether it is on.

    >>> flag_values({"flags": {"a": {"enabled": True, "variant": "test"}, "b": {"enabled": False}}})
    {'a': 'test', 'b': False}
    """
    records = response.get("flags") if isinstance(response, dict) else None
    if not isinstance(records, dict):
        return {}
    values: dict[str, object] = {}
    for key, record in records.items():
        if isinstance(key, str) and isinstance(record, dict):
            variant = record.get("variant")
            values[key] = variant if isinstance(variant, str) else bool(record.get("enabled"))
    return values


class PostHogFlags:
    """A :class:`~codeweaver_telemetry.adapters.flags.FlagSource` backed by PostHog."""

    def __init__(self, endpoint: Endpoint, *, budget: float, ttl: float = 300.0) -> None:
        self._endpoint = endpoint
        self._budget = budget
        self._ttl = ttl
        self._values: dict[str, object] = {}
        self._fetched_at = float("-inf")
        self._quiet_until = float("-inf")
        self.after_fork_in_child()
        start_afresh_in_children(self)

    def after_fork_in_child(self) -> None:
        """A new lock and no refresh under way (the one a parent's thread ran does not exist
        here); the cached values are kept."""
        self._lock = threading.Lock()
        self._refresh: threading.Event | None = None
        self._refresh_started = 0.0

    def value(self, key: str, distinct_id: str) -> object:
        """One flag's value, or None when unknown."""
        return self.all(distinct_id).get(key)

    def all(self, distinct_id: str) -> Mapping[str, object]:
        """Every flag's value: fresh within the budget, else the last known values.

        One refresh runs at a time, and all callers together wait for it at most the budget
        from its start; after a failure, lookups answer from the cache at once for a while.
        """
        with self._lock:
            now = time.monotonic()
            if now - self._fetched_at < self._ttl or now < self._quiet_until:
                return dict(self._values)
            refresh = self._refresh
            if refresh is None:
                refresh = self._refresh = threading.Event()
                self._refresh_started = now
                threading.Thread(
                    target=self._fetch,
                    args=(distinct_id, refresh),
                    name="codeweaver-telemetry-flags",
                    daemon=True,
                ).start()
            wait = self._refresh_started + self._budget - now
        if wait > 0:
            refresh.wait(wait)
        with self._lock:
            return dict(self._values)

    def _fetch(self, distinct_id: str, done: threading.Event) -> None:
        try:
            from posthog import request  # noqa: PLC0415 - imported off the caller's path

            response = request.flags(
                self._endpoint.api_key,
                self._endpoint.host,
                timeout=FLAG_REQUEST_TIMEOUT,
                max_retries=0,
                distinct_id=distinct_id,
            )
            values = flag_values(response)
            with self._lock:
                self._values = values
                self._fetched_at = time.monotonic()
        except Exception as error:  # noqa: BLE001 - offline: keep the stale values
            debug("telemetry: flag refresh failed (%s)", type(error).__name__)
            with self._lock:
                self._quiet_until = time.monotonic() + RETRY_AFTER_FAILURE
        finally:
            with self._lock:
                self._refresh = None
            done.set()
