"""Feature flags from PostHog's ``/flags`` endpoint, never waiting on the caller's thread.

A lookup reads a cache and returns at once: the values of the last answer, or nothing (the
caller's default) until the first one. When the cache is due (never filled, or older than
``ttl``), the lookup starts one refresh on a thread of its own and does not wait for it. A
failed refresh backs off, exponentially and with jitter, and for at least as long as a 429's
``Retry-After`` asks: lookups in between send nothing, so a host that looks flags up in a loop
never hammers a server that is down. A host that wants remote values from its first request
calls :meth:`PostHogFlags.wait_for_values` with a timeout (off an event loop's thread).

Interrupt safety: the caller's thread holds no lock that it must release. A Ctrl-C can land
between any two lines of Python, including the line that would release a lock (even the exit
of a ``with`` block), so a lookup only reads the state, which refresh threads alone write (a
``KeyboardInterrupt`` is raised in the main thread only), and takes nothing but a gate that
one refresh thread at a time holds; a gate taken by a caller that was interrupted before its
thread started lapses after a bounded time. The one wait, :meth:`~PostHogFlags.wait_for_values`,
is a waiter lock's ``acquire(timeout=)`` (in C), released by the refresh thread when it ends.
"""

from __future__ import annotations

import _thread
import contextlib
import itertools
import math
import os
import queue
import random
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Protocol

from .event_loop import in_running_event_loop
from .forks import start_afresh_in_children
from .log import debug

FLAG_REQUEST_TIMEOUT: Final = 5.0
"""How long one background request may take (no caller waits for it unless it asks to)."""
FIRST_BACKOFF: Final = 5.0
"""The wait after a first failed refresh; it doubles with each failure in a row."""
MAX_BACKOFF: Final = 300.0
MAX_RETRY_AFTER: Final = 3600.0
"""PostHog's ``Retry-After`` is honoured up to this; a larger one is taken as this."""

MAX_FLAGS: Final = 1000
"""The most flags taken from one answer (a project has tens): a broken or hostile answer of
a million reaches neither the host's memory twice nor its lookups."""
MAX_FLAG_TEXT: Final = 256
"""The longest flag key or variant taken; a flag with a longer one is left out (its lookup
gives the caller's default)."""

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
    for key, record in itertools.islice(records.items(), MAX_FLAGS):
        if type(key) is str and len(key) <= MAX_FLAG_TEXT and isinstance(record, dict):
            variant = record.get("variant")
            if type(variant) is not str:
                values[key] = record.get("enabled") is True
            elif len(variant) <= MAX_FLAG_TEXT:
                values[key] = variant
    return values


@dataclass(frozen=True, slots=True)
class RetryLater:
    """A refresh that failed; ``retry_after`` is the server's ``Retry-After``, if it sent
    one."""

    retry_after: float | None = None


def next_attempt_delay(failures: int, retry_after: float | None, jitter: float) -> float:
    """Seconds to wait after ``failures`` failed refreshes in a row: exponential backoff scaled
    by ``jitter`` (in [0.5, 1]), and never less than the server's ``Retry-After`` (capped).

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
            geoip_disable=True,  # as the events say: no location lookup of this address
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
        # Written by refresh threads only (under ``_lock``); lookups read them.
        # None until the first answer; an answer's mapping is never changed, only replaced,
        # so a lookup hands it out without a copy.
        self._values: Mapping[str, object] | None = None
        self._due_at = -math.inf  # when the values are stale, or the backoff ends
        self._failures = 0
        self._completed = 0  # refreshes ended, so that a waiter knows it missed none
        self._start_afresh()
        start_afresh_in_children(self)

    def after_fork_in_child(self) -> None:
        """Start afresh, with pooled connections of the child's own."""
        self._start_afresh()
        reset_posthog_sessions()

    def _start_afresh(self) -> None:
        """No refresh under way and no waiters (in a child, the parent's threads do not exist)
        and a jitter of this process's own; the cached values and the backoff stay."""
        self._pid = os.getpid()
        self._lock = threading.Lock()  # taken by refresh threads only
        # Held from the moment a caller decides to start a refresh until that refresh ends.
        self._gate = threading.Lock()
        # Until when the refresh that holds the gate may take to start: past it, with no
        # refresh thread running, the gate lapses (its caller was interrupted before the
        # thread started, or no thread could be started).
        self._under_way_until = -math.inf
        # Refresh threads that have started and not ended: while one runs (a server holding
        # the request open past its timeout), the gate does not lapse, so that threads and
        # connections cannot pile up, one per lapse.
        self._running = 0
        self._waiters: queue.SimpleQueue[_thread.LockType] = queue.SimpleQueue()
        self._jitter = random.Random()  # private: the host's random state is not touched

    # --- FlagSource ---------------------------------------------------------------------------

    def value(self, key: str, distinct_id: str) -> object:
        """One flag's value, or None when unknown (so far)."""
        return self.all(distinct_id).get(key)

    def all(self, distinct_id: str) -> Mapping[str, object]:
        """Every flag's value as last answered, or nothing before the first answer; starts a
        refresh when one is due, without waiting for it."""
        self._start_afresh_if_forked()
        values = self._values
        if self._refresh_due():
            self._start_refresh(distinct_id)
        return NO_VALUES if values is None else values

    def wait_for_values(self, timeout: float | None, distinct_id: str) -> bool:
        """Whether remote values have arrived, waiting for the first answer at most
        ``timeout`` seconds (None: the budget); starts a refresh if one is due.

        Returns early, False, when a refresh fails (refused, silent past the request timeout,
        5xx, 429) or while backing off after one: no values will come within the wait. Blocks
        the calling thread, but never a running event loop's: there it only starts the
        refresh and says whether values are here (run it in a worker thread to wait).
        """
        wait = wait_seconds(self._budget if timeout is None else timeout)
        deadline = time.monotonic() + (0.0 if in_running_event_loop() else wait)
        self._start_afresh_if_forked()
        while self._values is None:
            completed = self._completed
            if self._refresh_due():
                self._start_refresh(distinct_id)
            under_way_for = self._under_way_until - self._clock()
            left = deadline - time.monotonic()
            if under_way_for <= 0 or left <= 0:
                break  # backing off after a failure, or out of time
            waiter = _thread.allocate_lock()
            waiter.acquire()
            self._waiters.put(waiter)
            if self._completed == completed:  # else it ended before it could release us
                waiter.acquire(timeout=min(left, under_way_for))
        return self._values is not None

    # --- the refresh --------------------------------------------------------------------------

    def _refresh_due(self) -> bool:
        now = self._clock()
        return now >= self._due_at and now >= self._under_way_until

    def _start_refresh(self, distinct_id: str) -> None:
        if not self._gate.acquire(blocking=False):
            if self._clock() < self._under_way_until or self._running:
                return
            with contextlib.suppress(RuntimeError):  # released meanwhile by its refresh
                self._gate.release()  # lapsed
            if not self._gate.acquire(blocking=False):
                return
        if not self._refresh_due():  # the refresh that held the gate just ended
            self._gate.release()
            return
        self._under_way_until = self._clock() + 2 * self._request_timeout
        try:
            # The low-level start, because threading.Thread.start waits on an Event (Python
            # code) on the caller's thread.
            _thread.start_new_thread(self._refresh, (distinct_id,))
        except Exception as error:  # noqa: BLE001 - no thread to spare: the gate lapses
            debug("telemetry: cannot start a flag refresh (%s)", type(error).__name__)

    def _refresh(self, distinct_id: str) -> None:
        outcome: dict[str, object] | RetryLater = RetryLater()
        with self._lock:
            self._running += 1
        try:
            outcome = fetch_with_posthog(self._endpoint, distinct_id, self._request_timeout)
        except Exception as error:  # noqa: BLE001 - a refresh never raises
            debug("telemetry: flag refresh failed (%s)", type(error).__name__)
        finally:
            self._end_refresh(outcome)

    def _end_refresh(self, outcome: dict[str, object] | RetryLater) -> None:
        with self._lock:
            now = self._clock()
            if isinstance(outcome, RetryLater):
                self._failures += 1
                jitter = self._jitter.uniform(0.5, 1.0)
                self._due_at = now + next_attempt_delay(self._failures, outcome.retry_after, jitter)
            else:
                self._values = MappingProxyType(outcome)
                self._due_at = now + self._ttl
                self._failures = 0
            self._under_way_until = -math.inf
            self._running -= 1
            self._completed += 1
        with contextlib.suppress(RuntimeError):  # it lapsed, and a caller released it
            self._gate.release()
        while True:
            try:
                self._waiters.get_nowait().release()
            except queue.Empty:
                return

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
