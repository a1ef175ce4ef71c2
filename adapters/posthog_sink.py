"""Delivery to PostHog, with budgets the ``posthog`` client alone does not keep.

The official package's request functions (``posthog.request.batch_post``) are driven from this
sink's own daemon thread, so that:

- ``emit`` only appends to a bounded buffer: no I/O, no import, on the host's path;
- ``import posthog`` (100-200 ms) happens on the delivery thread, not at the host's start-up;
- a batch goes out when ``batch_size`` events are waiting, or ``batch_interval`` seconds after
  its first event, whichever comes first; at close, the rest goes out at once;
- 5xx and 429 answers are retried with backoff (honouring ``Retry-After``), other 4xx are not;
  a retried batch keeps its uuids, so PostHog counts it once;
- ``flush`` and ``close`` never wait past their timeout, whatever the host does (refused,
  silent, slow): the thread is a daemon and every request is bounded by the time left;
- during an outage the buffer stays bounded; what it cannot hold is counted, never logged
  one line per event.
"""

from __future__ import annotations

import collections
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from codeweaver_telemetry.core.settings import TelemetrySettings
from codeweaver_telemetry.core.sink import Accepted, DeliveryReport, LossReason, OutboundEvent

from .forks import start_afresh_in_children
from .log import debug

REQUEST_TIMEOUT: Final = 10.0
"""Longest wait for one request when no deadline is nearer."""
MAX_ATTEMPTS: Final = 5
"""Attempts per batch before it is counted as failed (while the sink is open)."""
BACKOFF_SECONDS: Final = (0.5, 1.0, 2.0, 4.0, 8.0)
MAX_RETRY_AFTER: Final = 60.0


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where and how to send: project key, host, batching."""

    api_key: str
    host: str
    batch_size: int
    batch_interval: float
    max_buffered: int


def endpoint_from_settings(settings: TelemetrySettings) -> Endpoint:
    """Where and how to send, as the settings say (the settings chose PostHog: a key is set)."""
    return Endpoint(
        api_key=key.reveal() if (key := settings.posthog_api_key.value) else "",
        host=settings.posthog_host.value.reveal(),
        batch_size=settings.batch_size.value,
        batch_interval=settings.batch_interval_seconds.value,
        max_buffered=settings.max_buffered_events.value,
    )


class _RetryableError(Exception):
    def __init__(self, delay: float | None) -> None:
        super().__init__()
        self.delay = delay


class _PermanentError(Exception):
    pass


Sender = Callable[[Endpoint, list[dict[str, Any]], float], None]
"""Sends one batch within a timeout; raises _RetryableError or _PermanentError."""


def send_with_posthog(endpoint: Endpoint, batch: list[dict[str, Any]], timeout: float) -> None:
    """One ``/batch/`` request through the official package's request function."""
    from posthog import request  # noqa: PLC0415 - imported on the delivery thread only

    try:
        request.batch_post(endpoint.api_key, endpoint.host, gzip=True, timeout=timeout, batch=batch)
    except request.APIError as error:
        status = error.status if isinstance(error.status, int) else 0
        if status == 429 or status >= 500:
            raise _RetryableError(error.retry_after) from None
        raise _PermanentError from None
    except (request.RequestsConnectionError, request.RequestsTimeout) as error:
        raise _RetryableError(None) from error


class PostHogSink:
    """A bounded buffer and one daemon delivery thread; see the module docstring."""

    def __init__(self, endpoint: Endpoint, *, sender: Sender = send_with_posthog) -> None:
        self._endpoint = endpoint
        self._sender = sender
        self._reset_state()
        start_afresh_in_children(self)

    @classmethod
    def from_settings(cls, settings: TelemetrySettings) -> PostHogSink:
        """The sink the settings describe."""
        return cls(endpoint_from_settings(settings))

    def _reset_state(self) -> None:
        self._condition = threading.Condition(threading.Lock())
        self._buffer: collections.deque[OutboundEvent] = collections.deque()
        self._first_waiting_since = 0.0
        self._in_flight = 0
        self._thread: threading.Thread | None = None
        self._flush_requested = False
        self._closing = False
        self._closed = False
        self._deadline = float("inf")
        self.delivered = 0
        self.failed = 0
        self.dropped = 0

    # --- the host's side -------------------------------------------------------------------

    def emit(self, event: OutboundEvent) -> Accepted:
        """Buffer the event; wake the thread when a batch is full. Never blocks on I/O."""
        with self._condition:
            if self._closing:
                return Accepted.DROPPED_CLOSED
            if len(self._buffer) >= self._endpoint.max_buffered:
                self.dropped += 1
                return Accepted.DROPPED_FULL
            if not self._buffer:
                self._first_waiting_since = time.monotonic()
            self._buffer.append(event)
            if self._thread is None:
                self._start_thread()
            if len(self._buffer) >= self._endpoint.batch_size:
                self._condition.notify_all()
        return Accepted.QUEUED

    def flush(self, timeout: float) -> DeliveryReport:
        """Send everything buffered now, waiting at most ``timeout`` seconds."""
        deadline = time.monotonic() + max(0.0, timeout)
        with self._condition:
            self._flush_requested = True
            self._condition.notify_all()
            self._wait_until_idle(deadline)
            self._flush_requested = False
            return self._report(timed_out=bool(self._buffer or self._in_flight))

    def close(self, timeout: float) -> DeliveryReport:
        """Send the rest at once within ``timeout``; later events are dropped."""
        deadline = time.monotonic() + max(0.0, timeout)
        with self._condition:
            if self._closed:
                return self._report(timed_out=False)
            self._closing = True
            self._deadline = deadline
            self._condition.notify_all()
            self._wait_until_idle(deadline)
            self._closed = True
            pending = len(self._buffer) + self._in_flight
            self.failed += len(self._buffer)  # abandoned at the deadline
            self._buffer.clear()
            self._condition.notify_all()
            return DeliveryReport(self.delivered, self.failed, pending, timed_out=pending > 0)

    def take_losses(self) -> Mapping[LossReason, int]:
        """Not yet kept by reason: the client counts what ``emit`` reports."""
        return {}

    def _wait_until_idle(self, deadline: float) -> None:
        while (self._buffer or self._in_flight) and self._thread is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._condition.wait(remaining)

    def _report(self, *, timed_out: bool) -> DeliveryReport:
        pending = len(self._buffer) + self._in_flight
        return DeliveryReport(self.delivered, self.failed, pending, timed_out)

    # --- the delivery thread ---------------------------------------------------------------

    def _start_thread(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name="codeweaver-telemetry-delivery", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        try:
            while True:
                batch = self._next_batch()
                if batch is None:
                    return
                self._deliver(batch)
        except Exception as error:  # noqa: BLE001 - the thread must end quietly, never crash loudly
            debug("telemetry: the delivery thread stopped (%s)", type(error).__name__)
            with self._condition:
                self.failed += len(self._buffer) + self._in_flight
                self._buffer.clear()
                self._in_flight = 0
                self._thread = None
                self._condition.notify_all()

    def _next_batch(self) -> list[OutboundEvent] | None:
        """Wait until a batch is due; None when the sink is closed and empty."""
        endpoint = self._endpoint
        with self._condition:
            while True:
                if self._closed or (self._closing and not self._buffer):
                    return None
                due_in = self._first_waiting_since + endpoint.batch_interval - time.monotonic()
                urgent = self._closing or self._flush_requested
                if self._buffer and (
                    len(self._buffer) >= endpoint.batch_size or urgent or due_in <= 0
                ):
                    count = min(endpoint.batch_size, len(self._buffer))
                    batch = [self._buffer.popleft() for _ in range(count)]
                    self._in_flight = len(batch)
                    self._first_waiting_since = time.monotonic()
                    return batch
                self._condition.wait(due_in if self._buffer else None)

    def _deliver(self, batch: list[OutboundEvent]) -> None:
        items = [event.to_json(str(uuid.uuid4())) for event in batch]  # uuids kept across retries
        outcome_delivered = False
        for attempt in range(MAX_ATTEMPTS):
            timeout = self._time_left()
            if timeout <= 0:
                break
            try:
                self._sender(self._endpoint, items, min(REQUEST_TIMEOUT, timeout))
                outcome_delivered = True
                break
            except _PermanentError:
                break
            except _RetryableError as error:
                if not self._pause(error.delay, attempt):
                    break
        with self._condition:
            if outcome_delivered:
                self.delivered += len(batch)
            else:
                self.failed += len(batch)
            self._in_flight = 0
            self._condition.notify_all()

    def _time_left(self) -> float:
        with self._condition:
            return self._deadline - time.monotonic() if self._closing else REQUEST_TIMEOUT

    def _pause(self, retry_after: float | None, attempt: int) -> bool:
        """Back off before the next attempt; False when there is no time left for one."""
        delay = min(retry_after, MAX_RETRY_AFTER) if retry_after else BACKOFF_SECONDS[attempt]
        with self._condition:
            if self._closing and time.monotonic() + delay >= self._deadline:
                return False
            self._condition.wait(delay)  # close() wakes us early
            return not self._closed

    # --- fork --------------------------------------------------------------------------------

    def after_fork_in_child(self) -> None:
        """Start empty, with a new lock and, on the first event, a new thread: the parent's
        thread does not exist here and its lock may have been held at the fork. A sink the
        parent had closed stays closed."""
        closed = self._closing
        self._reset_state()
        self._closing = self._closed = closed
