"""Feature flags from PostHog's ``/flags`` endpoint, never waiting on the caller's thread.

A lookup reads a cache and returns at once: the values of the last answer, or nothing (the
caller's default) until the first one. When the cache is due (never filled, or older than
``ttl``), the lookup starts one refresh on a thread of its own and does not wait for it. A
failed refresh backs off, exponentially and with jitter, and for at least as long as a 429's
``Retry-After`` asks: lookups in between send nothing, so a host that looks flags up in a loop
never hammers a host that is down. A host that wants remote values from its first request
calls :meth:`PostHogFlags.wait_for_values` with a timeout (off an event loop's thread).

Interrupt safety: on the caller's thread, the only lock taken is a plain ``threading.Lock`` in
``with`` (acquired and released in C), and the only wait is a per-call waiter lock's
``acquire(timeout=)``, which the refresh thread releases. A ``KeyboardInterrupt`` anywhere on
the caller's thread therefore strands no lock; a refresh it prevents from starting is claimed
for a bounded time only, after which the next lookup starts another.
"""

from __future__ import annotations

import _thread
import math
import os
import random
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Protocol

from .forks import start_afresh_in_children
from .log import debug

FLAG_REQUEST_TIMEOUT: Final = 5.0
"""How long one background request may take (no caller waits for it unless it asks to)."""
FIRST_BACKOFF: Final = 5.0
"""The wait after a first failed refresh; it doubles with each failure in a row."""
MAX_BACKOFF: Final = 300.0
MAX_RETRY_AFTER: Final = 3600.0
"""A host's ``Retry-After`` is honoured up to this; a larger one is taken as this."""

NO_VALUES: Final[Mapping[str, object]] = MappingProxyType({})


class FlagEndpoint(Protocol):
    """Where to ask: the project key and the host (the PostHog sink's ``Endpoint`` is one)."""

    @property
    def api_key(self) -> str:
        """The project API key."""
        ...

    @property
    def host(self) -> str:
        """The base URL, e.g. ``https://eu.i.posthog.com``."""
        ...


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


@dataclass(frozen=True, slots=True)
class RetryLater:
    """A refresh that failed; ``retry_after`` is the host's own ``Retry-After``, if it sent
    one."""

    retry_after: float | None = None


def next_attempt_delay(failures: int, retry_after: float | None, jitter: float) -> float:
    """Seconds to wait after ``failures`` failed refreshes in a row: exponential backoff scaled
    by ``jitter`` (in [0.5, 1]), and never less than the host's ``Retry-After`` (capped).

    >>> next_attempt_delay(1, None, 1.0), next_attempt_delay(3, None, 0.5)
    (5.0, 10.0)
    >>> next_attempt_delay(1, 60.0, 1.0), next_attempt_delay(1, 10.0**9, 1.0)
    (60.0, 3600.0)
    """
    backoff = min(MAX_BACKOFF, FIRST_BACKOFF * 2.0 ** min(failures - 1, 16)) * jitter
    return max(backoff, min(retry_after or 0.0, MAX_RETRY_AFTER))


def wait_seconds(timeout: object) -> float:
    """A timeout a lock's ``acquire`` accepts: a non-negative number of seconds, at most
    ``threading.TIMEOUT_MAX``; anything that is not a number waits not at all.

    >>> wait_seconds(0.25), wait_seconds(-1), wait_seconds(float("nan")), wait_seconds("2")
    (0.25, 0.0, 0.0, 0.0)
    >>> wait_seconds(10**400) == threading.TIMEOUT_MAX
    True
    """
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        return 0.0
    try:
        seconds = float(timeout)
    except OverflowError:
        return threading.TIMEOUT_MAX
    except Exception:  # noqa: BLE001 - a host's number subclass may raise anything
        return 0.0
    if math.isnan(seconds):
        return 0.0
    return min(max(seconds, 0.0), threading.TIMEOUT_MAX)


def fetch_with_posthog(
    endpoint: FlagEndpoint, distinct_id: str, timeout: float
) -> dict[str, object] | RetryLater:
    """One ``/flags`` request through the official package, without its retries."""
    try:
        from posthog import request  # noqa: PLC0415 - imported off the caller's thread

        response = request.flags(
            endpoint.api_key,
            endpoint.host,
            timeout=timeout,
            max_retries=0,
            distinct_id=distinct_id,
        )
    except Exception as error:  # noqa: BLE001 - offline, refused, 429, 5xx, quota: all wait
        debug("telemetry: flag refresh failed (%s)", type(error).__name__)
        retry_after: object = getattr(error, "retry_after", None)  # posthog's APIError has it
        return RetryLater(None if retry_after is None else wait_seconds(retry_after))
    return flag_values(response)


class PostHogFlags:
    """A :class:`~codeweaver_telemetry.adapters.flags.FlagSource` backed by PostHog."""

    def __init__(
        self,
        endpoint: FlagEndpoint,
        *,
        budget: float,
        ttl: float = 300.0,
        request_timeout: float = FLAG_REQUEST_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``budget``: how long :meth:`wait_for_values` waits when the host gives no timeout
        (the ``flag_budget_seconds`` setting). ``clock`` schedules refreshes (TTL, backoff);
        waits are always measured in real time."""
        self._endpoint = endpoint
        self._budget = budget
        self._ttl = ttl
        self._request_timeout = request_timeout
        self._clock = clock
        # None until the first answer; an answer's mapping is never changed, only replaced,
        # so a lookup hands it out without a copy.
        self._values: Mapping[str, object] | None = None
        self._fresh_until = -math.inf
        self._next_attempt = -math.inf
        self._failures = 0
        self._start_afresh()
        start_afresh_in_children(self)

    def after_fork_in_child(self) -> None:
        """Start afresh, with pooled connections of the child's own."""
        self._start_afresh()
        reset_posthog_sessions()

    def _start_afresh(self) -> None:
        """A new lock, no refresh under way and no waiters (in a child, the parent's threads do
        not exist), a jitter of this process's own; the cached values and the backoff stay."""
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._attempt = 0
        # While a refresh is under way, the time it is given up on: a refresh that an interrupt
        # kept from starting, or whose thread hangs, holds its claim no longer than this.
        self._attempt_deadline = -math.inf
        self._waiters: list[_thread.LockType] = []
        self._jitter = random.Random()  # private: the host's random state is not touched

    # --- FlagSource ---------------------------------------------------------------------------

    def value(self, key: str, distinct_id: str) -> object:
        """One flag's value, or None when unknown (so far)."""
        return self.all(distinct_id).get(key)

    def all(self, distinct_id: str) -> Mapping[str, object]:
        """Every flag's value as last answered, or nothing before the first answer; starts a
        refresh when one is due, without waiting for it."""
        self._start_afresh_if_forked()
        with self._lock:
            values = self._values
            attempt = self._claim_refresh_if_due()
        if attempt:
            self._start_refresh(attempt, distinct_id)
        return NO_VALUES if values is None else values

    def wait_for_values(self, timeout: float | None, distinct_id: str) -> bool:
        """Whether remote values have arrived, waiting for the first answer at most
        ``timeout`` seconds (None: the budget); starts a refresh if one is due.

        Returns early, False, when a refresh fails (refused, silent past the request timeout,
        5xx, 429) or while backing off after one: no values will come within the wait. Blocks
        the calling thread: from an event loop, run it in a worker thread.
        """
        seconds = wait_seconds(self._budget if timeout is None else timeout)
        deadline = time.monotonic() + seconds
        self._start_afresh_if_forked()
        while True:
            waiter = _thread.allocate_lock()
            waiter.acquire()
            with self._lock:
                if self._values is not None:
                    return True
                attempt = self._claim_refresh_if_due()
                if not attempt and self._clock() >= self._attempt_deadline:
                    return False  # backing off after a failure
                self._waiters.append(waiter)
                claim_left = self._attempt_deadline - self._clock()
            if attempt:
                self._start_refresh(attempt, distinct_id)
            try:
                left = deadline - time.monotonic()
                ended = waiter.acquire(timeout=max(0.0, min(left, claim_left)))
            finally:
                with self._lock:
                    if waiter in self._waiters:
                        self._waiters.remove(waiter)
            if ended or time.monotonic() >= deadline:
                with self._lock:
                    return self._values is not None
            # The claim lapsed with no answer: claim a refresh afresh (the loop is bounded by
            # the deadline, and each turn by a claim's lifetime).

    # --- the refresh --------------------------------------------------------------------------

    def _claim_refresh_if_due(self) -> int:
        """The number of a refresh the caller must start (0: none due). Under the lock."""
        now = self._clock()
        if now < self._fresh_until or now < self._next_attempt or now < self._attempt_deadline:
            return 0
        self._attempt += 1
        self._attempt_deadline = now + 2 * self._request_timeout
        return self._attempt

    def _start_refresh(self, attempt: int, distinct_id: str) -> None:
        try:
            # The low-level start, because threading.Thread.start waits on an Event (Python
            # code, where an interrupt can strand its lock) on the caller's thread.
            _thread.start_new_thread(self._refresh, (attempt, distinct_id))
        except Exception as error:  # noqa: BLE001 - no thread to spare: back off, as offline
            debug("telemetry: cannot start a flag refresh (%s)", type(error).__name__)
            self._end_refresh(attempt, RetryLater())

    def _refresh(self, attempt: int, distinct_id: str) -> None:
        outcome: dict[str, object] | RetryLater = RetryLater()
        try:
            outcome = fetch_with_posthog(self._endpoint, distinct_id, self._request_timeout)
        except Exception as error:  # noqa: BLE001 - a refresh never raises
            debug("telemetry: flag refresh failed (%s)", type(error).__name__)
        finally:
            self._end_refresh(attempt, outcome)

    def _end_refresh(self, attempt: int, outcome: dict[str, object] | RetryLater) -> None:
        with self._lock:
            now = self._clock()
            if isinstance(outcome, RetryLater):
                self._failures += 1
                jitter = self._jitter.uniform(0.5, 1.0)
                delay = next_attempt_delay(self._failures, outcome.retry_after, jitter)
                self._next_attempt = now + delay
            else:
                # Even an answer to a refresh given up on is an answer.
                self._values = MappingProxyType(outcome)
                self._fresh_until = now + self._ttl
                self._failures = 0
            if attempt == self._attempt:
                self._attempt_deadline = -math.inf
            waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            waiter.release()

    def _start_afresh_if_forked(self) -> None:
        # A child forked without os.fork's hooks (they run for os.fork only).
        if self._pid != os.getpid():
            self.after_fork_in_child()


def reset_posthog_sessions() -> None:
    """Give a forked child pooled connections of its own, if posthog is loaded: a connection
    shared with the parent would mix two processes' requests and answers."""
    request = sys.modules.get("posthog.request")
    if request is None:
        return
    try:
        request.reset_sessions()
    except Exception as error:  # noqa: BLE001 - the child then opens new connections anyway
        debug("telemetry: cannot reset posthog's sessions (%s)", type(error).__name__)
