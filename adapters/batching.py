"""One generic batching worker over an exporter: the sink of every destination reached over
the network, and the one place that decides what is sent, when, and what is kept for later.

The host's side never waits on Python-level locking. ``emit`` appends to a bounded buffer
under a plain lock (acquired in C) and may post a wake-up to a C queue; ``flush`` and
``close`` post a request and wait on a per-call waiter lock that the worker releases. No
``threading.Condition``, ``Event.wait`` or ``Thread.start`` runs on the host's thread: their
Python code takes a lock in one bytecode and protects it in a later one, and a
KeyboardInterrupt landing in between would strand it (every later capture, and the exit hook,
would block for ever).

The worker thread alone decides, one turn at a time:

- a batch is due when ``batch_size`` events wait, or ``batch_interval`` after the first; each
  export runs on its own short-lived daemon thread, so that the worker can still meet a
  deadline while a host is silent, and the uuids made for a batch stay with it for good;
- RETRY_LATER holds the batch and waits (exponential backoff with jitter, or the host's
  ``Retry-After`` when longer, capped); the wait is a deadline, so a capture that wakes the
  worker never shortens it;
- UNREACHABLE (refused, unresolvable, silent) sends the batch to the spool at once, then
  waits the backoff: nothing is retried in a tight loop;
- during an outage (a backoff, or an export with no answer within ``IN_FLIGHT_PATIENCE``),
  full batches move from memory to the spool, so memory stays bounded;
- a flush or a close settles every event emitted before it by its deadline: what the host
  takes is delivered, the rest is spooled (at once when the host is unreachable or silent,
  or in a backoff that outlasts the deadline; a batch in flight too, with its uuids, which
  PostHog deduplicates on); without a spool a close counts the rest lost (OUTAGE);
- while the host answers and nothing of this process waits, what earlier processes spooled
  is claimed and delivered.
"""

from __future__ import annotations

import _thread
import collections
import math
import queue
import random
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, NamedTuple, Protocol

from codeweaver_telemetry.core.sink import (
    Accepted,
    DeliveryReport,
    Exporter,
    ExportOutcome,
    ExportResult,
    LossReason,
    OutboundEvent,
)

from .forks import start_afresh_in_children
from .log import debug

if TYPE_CHECKING:
    from codeweaver_telemetry.core.vocabulary import JSONObject

REQUEST_TIMEOUT: Final = 10.0
"""Longest one export may take when no deadline is nearer."""
IN_FLIGHT_PATIENCE: Final = 0.5
"""An export with no answer this long after it started counts as silence: a deadline then
spools its batch instead of waiting for it."""
SPOOL_MARGIN: Final = 0.1
"""Kept before a flush's or close's deadline for writing the spool."""
FIRST_BACKOFF: Final = 0.5
MAX_BACKOFF: Final = 60.0
MAX_RETRY_AFTER: Final = 120.0
"""The longest ``Retry-After`` honoured as given (a longer one waits this long)."""
SPOOL_CLAIM_SIZE: Final = 100
"""Items claimed from the spool per request: a backlog drains in fewer requests than the
host's ``batch_size`` would take."""
EMPTY_CLAIMS_PER_TURN: Final = 8
"""Claims that came back empty (every item expired) tried in a row before waiting."""
SHORTEST_WAIT: Final = 0.001


class ClaimedItems(Protocol):
    """Items taken from the spool for one attempt, until told how it went."""

    @property
    def items(self) -> list[JSONObject]:
        """Wire items, with the uuids they were captured with."""
        ...

    @property
    def losses(self) -> Mapping[LossReason, int]:
        """What the spool dropped while claiming (expired entries, say)."""
        ...

    def delivered(self) -> None:
        """Remove them for good."""
        ...

    def returned(self) -> None:
        """Give them back for a later attempt, here or in another process."""
        ...


class DurableSpool(Protocol):
    """Where events wait between processes (``adapters.spool.Spool``); the worker calls it
    from its own thread only, and counts what it reports lost."""

    def append(self, items: Sequence[JSONObject]) -> Mapping[LossReason, int]:
        """Keep ``items``; the losses this caused (the oldest pushed out, a failed write)."""
        ...

    def claim(self, max_items: int) -> ClaimedItems | None:
        """At most ``max_items`` items no other process has claimed; None when none wait."""
        ...


@dataclass(eq=False, slots=True)
class _Request:
    """A flush or a close waiting for the events emitted before it to be settled."""

    waiter: threading.Lock
    settle_by: float
    closing: bool
    target: int = 0
    """How many events had been emitted when it was made."""
    pending: int = 0
    """Of those, how many were neither delivered nor spooled when it was answered."""


@dataclass(eq=False, slots=True)
class _Batch:
    items: list[JSONObject]
    own: int
    """How many of the items this process emitted (none, for items claimed from the spool)."""
    claim: ClaimedItems | None = None


class _Sending(NamedTuple):
    token: int


class _Exported(NamedTuple):
    token: int
    outcome: ExportOutcome


def _seconds(timeout: float) -> float:
    """A timeout as a wait the threading module can make: NaN, negative or unusable is 0."""
    try:
        seconds = float(timeout)
    except (TypeError, ValueError, OverflowError):
        return 0.0
    return min(seconds, threading.TIMEOUT_MAX) if seconds > 0 else 0.0


def backoff_seconds(failures: int, retry_after: float | None) -> float:
    """The wait after ``failures`` failed attempts in a row: doubling from FIRST_BACKOFF up
    to MAX_BACKOFF, jittered over its upper half, and never shorter than the host's
    ``Retry-After`` (capped at MAX_RETRY_AFTER)."""
    ceiling = min(MAX_BACKOFF, FIRST_BACKOFF * 2.0 ** min(max(failures - 1, 0), 16))
    wait = ceiling / 2 + random.random() * ceiling / 2
    if retry_after is not None and retry_after > 0:
        wait = max(wait, min(retry_after, MAX_RETRY_AFTER))
    return wait


class BatchingWorker:
    """A :class:`~codeweaver_telemetry.core.sink.Sink` over an exporter: a bounded buffer,
    one daemon worker thread started by the first event (and afresh in a forked child), and
    an optional spool. See the module docstring."""

    def __init__(
        self,
        exporter: Exporter,
        *,
        batch_size: int,
        batch_interval: float,
        max_buffered: int,
        spool: DurableSpool | None = None,
    ) -> None:
        self._exporter = exporter
        self._batch_size = max(1, batch_size)
        self._batch_interval = max(0.0, batch_interval)
        self._max_buffered = max(1, max_buffered)
        self._spool = spool
        self._closed = False
        self._start_afresh()
        start_afresh_in_children(self)

    def _start_afresh(self) -> None:
        # Shared with the host's threads, under _lock (never held while calling out):
        self._lock = threading.Lock()
        self._wake_ups: queue.SimpleQueue[_Sending | _Exported | None] = queue.SimpleQueue()
        self._buffer: collections.deque[OutboundEvent] = collections.deque()
        self._first_waiting_since = 0.0
        self._emitted = 0
        self._settled = 0  # delivered, spooled or lost, of the emitted
        self._requests: list[_Request] = []
        self._started = False
        self._worker_present = False
        self._finished = False
        self._delivered = 0
        self._failed = 0
        self._spooled = 0
        self._lost_at_close = 0  # emitted events neither delivered nor spooled at the close
        self._losses: collections.Counter[LossReason] = collections.Counter()
        # The worker thread's own:
        self._held: _Batch | None = None
        self._in_flight: _Batch | None = None
        self._export_token = 0
        self._export_started = 0.0
        self._not_before = 0.0
        self._failures = 0
        self._unreachable = False
        self._spool_may_have_items = self._spool is not None

    def after_fork_in_child(self) -> None:
        """Start empty, with a new lock, and a new thread on the first event: the parent's
        thread does not exist here, its lock may have been held at the fork, and the parent
        delivers (or spools) its own buffer. A sink the parent had closed stays closed."""
        closed = self._closed
        self._start_afresh()
        self._closed = closed

    # --- the host's side -------------------------------------------------------------------

    def emit(self, event: OutboundEvent) -> Accepted:
        """Buffer the event; never blocks on I/O."""
        with self._lock:
            if self._closed:
                return Accepted.DROPPED_CLOSED
            waiting = len(self._buffer)
            if waiting >= self._max_buffered:
                return Accepted.DROPPED_FULL
            self._buffer.append(event)
            self._emitted += 1
            if not waiting:
                self._first_waiting_since = time.monotonic()
            if not self._started:
                self._start_worker()
        if not waiting or (waiting + 1) % self._batch_size == 0:
            self._wake_ups.put(None)
        return Accepted.QUEUED

    def flush(self, timeout: float) -> DeliveryReport:
        """Deliver what was emitted before this call, spooling what cannot be by the
        deadline; waits at most ``timeout`` seconds."""
        return self._settle(timeout, closing=False)

    def close(self, timeout: float) -> DeliveryReport:
        """Flush within ``timeout`` (without a spool, what is not delivered by then is lost),
        then stop; later events are dropped."""
        return self._settle(timeout, closing=True)

    def take_losses(self) -> Mapping[LossReason, int]:
        """The events lost after ``emit`` took them, since the last call, by reason."""
        with self._lock:
            losses, self._losses = self._losses, collections.Counter()
        return dict(losses)

    def _start_worker(self) -> None:
        # A C-level start (Thread.start waits on an Event, in Python code). Were an
        # interrupt to land between the start and the flag, the next emit would start a
        # second thread, which sees the first and ends at once.
        try:
            _thread.start_new_thread(self._run, ())
            self._started = True
        except RuntimeError:  # no thread to be had now: the next event tries again
            pass

    def _settle(self, timeout: float, *, closing: bool) -> DeliveryReport:
        wait = _seconds(timeout)
        waiter = threading.Lock()
        waiter.acquire()
        settle_by = time.monotonic() + wait - min(SPOOL_MARGIN, wait / 2)
        request = _Request(waiter, settle_by, closing)
        with self._lock:
            if closing:
                self._closed = True
            served = self._started and not self._finished
            if served:
                request.target = self._emitted
                request.pending = self._emitted - self._settled
                self._requests.append(request)
        if served:
            self._wake_ups.put(None)
        answered = waiter.acquire(timeout=wait) if served else True
        with self._lock:
            return DeliveryReport(
                delivered=self._delivered,
                failed=self._failed,
                pending=max(0, request.pending),
                timed_out=not answered or request.pending > 0,
                spooled=self._spooled,
            )

    # --- the worker thread -----------------------------------------------------------------

    def _run(self) -> None:
        with self._lock:
            if self._worker_present:
                return
            self._worker_present = True
        try:
            while self._act():  # first at once: what earlier processes spooled is due now
                self._wait()
        except Exception as error:  # noqa: BLE001 - the worker ends quietly, never loudly
            debug("telemetry: the delivery thread stopped (%s)", type(error).__name__)
            self._give_up()

    def _wait(self) -> None:
        """Until something is due, or a wake-up or an export's outcome comes; take every
        outcome that came."""
        try:
            message = self._wake_ups.get(timeout=self._wait_seconds(time.monotonic()))
        except queue.Empty:
            message = None
        while True:
            if isinstance(message, _Sending):
                if message.token == self._export_token:
                    self._export_started = time.monotonic()
            elif message is not None:
                self._exported(message)
            try:
                message = self._wake_ups.get_nowait()
            except queue.Empty:
                return

    def _wait_seconds(self, now: float) -> float | None:
        with self._lock:
            settle_by = min((request.settle_by for request in self._requests), default=math.inf)
            interval_ends = self._first_waiting_since + self._batch_interval
            due = interval_ends if self._buffer else math.inf
        if self._in_flight is not None:
            silence = self._export_started + IN_FLIGHT_PATIENCE
            due = min(settle_by, silence) if silence > now or settle_by < math.inf else math.inf
        elif self._not_before > now:
            due = min(self._not_before, settle_by)
        else:
            due = min(due, settle_by)
        return None if due == math.inf else max(SHORTEST_WAIT, due - now)

    def _act(self) -> bool:
        now = time.monotonic()
        with self._lock:
            requests = list(self._requests)
            closed = self._closed
        silent = self._in_flight is not None and now >= self._export_started + IN_FLIGHT_PATIENCE
        in_backoff = self._not_before > now
        if self._unreachable or silent:
            due = requests  # no answer to wait for
        else:  # a deadline reached, or one a backoff outlasts
            waits_until = max(now, self._not_before)
            due = [request for request in requests if waits_until > request.settle_by]
        if due:
            self._settle_now(closing=any(request.closing for request in due))
        elif in_backoff or silent:
            self._spill()
        elif self._in_flight is None:
            # Claims wait while a flush does, and go on within a close's deadline: a short
            # process is the next one for what earlier ones spooled.
            flushing = any(not request.closing for request in requests)
            claims = not flushing and (bool(requests) or not closed)
            self._send_next(now, urgent=bool(requests), claims=claims)
        return self._answer(due)

    def _answer(self, settled: list[_Request]) -> bool:
        """Release the requests that are settled (all those in ``settled`` are, as far as
        they can be); whether the worker goes on."""
        with self._lock:
            draining = self._spool_may_have_items and not self._unreachable
            for request in list(self._requests):
                ready = self._settled >= request.target and not (request.closing and draining)
                if ready or request in settled:
                    unsent = self._lost_at_close if request.closing else 0
                    request.pending = max(0, request.target - self._settled) + unsent
                    self._requests.remove(request)
                    request.waiter.release()
            done = self._closed and not self._requests and self._in_flight is None
            self._finished = done
        return not done

    def _send_next(self, now: float, *, urgent: bool, claims: bool) -> None:
        batch, self._held = self._held, None
        if batch is None:
            with self._lock:
                waiting = len(self._buffer)
                interval_ended = now >= self._first_waiting_since + self._batch_interval
                count = min(waiting, self._batch_size)
                if waiting < self._batch_size and not (urgent or interval_ended):
                    count = 0
                events = [self._buffer.popleft() for _ in range(count)]
                if events and self._buffer:  # the rest waits its own interval
                    self._first_waiting_since = now
            if events:
                batch = _Batch(_wire_items(events), len(events))
            elif claims:
                batch = self._claimed()
        if batch is not None:
            self._start_export(batch, now)

    def _claimed(self) -> _Batch | None:
        spool = self._spool
        for _ in range(EMPTY_CLAIMS_PER_TURN):
            if spool is None or not self._spool_may_have_items:
                return None
            try:
                claimed = spool.claim(max(self._batch_size, SPOOL_CLAIM_SIZE))
            except Exception as error:  # noqa: BLE001 - a spool must not raise; fail safe
                debug("telemetry: the spool could not be read (%s)", type(error).__name__)
                claimed = None
            if claimed is None:
                self._spool_may_have_items = False
                return None
            self._lose(claimed.losses)
            if claimed.items:
                return _Batch(list(claimed.items), 0, claimed)
            claimed.delivered()
        return None

    def _start_export(self, batch: _Batch, now: float) -> None:
        with self._lock:
            settle_by = min((request.settle_by for request in self._requests), default=math.inf)
        timeout = max(SHORTEST_WAIT, min(REQUEST_TIMEOUT, settle_by - now))
        self._export_token += 1
        self._in_flight = batch
        self._export_started = math.inf  # until it is ready to send: see Exporter.prepare
        threading.Thread(
            target=self._export,
            args=(self._export_token, batch.items, timeout),
            name="codeweaver-telemetry-export",
            daemon=True,
        ).start()

    def _export(self, token: int, items: list[JSONObject], timeout: float) -> None:
        """On the export thread: one attempt, its outcome posted to the worker."""
        try:
            outcome = ExportOutcome(ExportResult.UNREACHABLE)
            if self._exporter.prepare(timeout):
                self._wake_ups.put(_Sending(token))
                outcome = self._exporter.export(items, timeout)
        except Exception as error:  # noqa: BLE001 - an exporter must not raise; fail safe
            debug("telemetry: the exporter failed (%s)", type(error).__name__)
            outcome = ExportOutcome(ExportResult.REJECTED)
        self._wake_ups.put(_Exported(token, outcome))

    def _exported(self, message: _Exported) -> None:
        batch = self._in_flight
        if batch is None or message.token != self._export_token:
            return  # abandoned at a deadline: already spooled or given back
        self._in_flight = None
        result = message.outcome.result
        if result is ExportResult.DELIVERED or result is ExportResult.REJECTED:
            self._failures, self._unreachable, self._not_before = 0, False, 0.0
            if batch.claim is not None:
                batch.claim.delivered()
            with self._lock:
                self._settled += batch.own
                if result is ExportResult.DELIVERED:
                    self._delivered += len(batch.items)
                else:
                    self._count_lost(LossReason.REJECTED, len(batch.items))
            return
        self._failures += 1
        self._unreachable = result is ExportResult.UNREACHABLE
        wait = backoff_seconds(self._failures, message.outcome.retry_after)
        self._not_before = time.monotonic() + wait
        if batch.claim is not None:
            batch.claim.returned()
        elif self._unreachable and self._spool is not None:
            self._to_spool([batch])
        else:
            self._held = batch

    def _settle_now(self, *, closing: bool) -> None:
        """Spool (or, closing without a spool, count lost) every event of this process still
        in memory or in flight."""
        if self._spool is None and not closing:
            return  # kept in memory: a later flush or the close decides
        batches: list[_Batch] = []
        in_flight, self._in_flight = self._in_flight, None
        if in_flight is not None:  # no answer by now: silence
            self._export_token += 1
            self._failures += 1
            self._unreachable = True
            self._not_before = time.monotonic() + backoff_seconds(self._failures, None)
            if in_flight.claim is not None:
                in_flight.claim.returned()
            else:
                batches.append(in_flight)
        if self._held is not None:
            batches.append(self._held)
            self._held = None
        with self._lock:
            events = list(self._buffer)
            self._buffer.clear()
        if events:
            batches.append(_Batch(_wire_items(events), len(events)))
        if self._spool is not None:
            self._to_spool(batches)
        else:
            with self._lock:
                lost = sum(batch.own for batch in batches)
                self._settled += lost
                self._lost_at_close += lost
                self._count_lost(LossReason.OUTAGE, lost)

    def _spill(self) -> None:
        """In an outage, move what waits in memory to the spool once a batch is full."""
        with self._lock:
            full = len(self._buffer) >= self._batch_size
        if self._spool is None or not full:
            return
        batches = [self._held] if self._held is not None else []
        self._held = None
        with self._lock:
            events = list(self._buffer)
            self._buffer.clear()
        self._to_spool([*batches, _Batch(_wire_items(events), len(events))])

    def _to_spool(self, batches: list[_Batch]) -> None:
        items = [item for batch in batches for item in batch.items]
        own = sum(batch.own for batch in batches)
        if not items or self._spool is None:
            return
        try:
            losses: Mapping[LossReason, int] = self._spool.append(items)
            spooled = len(items)
        except Exception as error:  # noqa: BLE001 - a spool must not raise; fail safe
            debug("telemetry: the spool could not be written (%s)", type(error).__name__)
            losses, spooled = {LossReason.OUTAGE: len(items)}, 0
        self._spool_may_have_items = True
        with self._lock:
            self._settled += own
            self._spooled += spooled
        self._lose(losses)

    def _lose(self, losses: Mapping[LossReason, int]) -> None:
        with self._lock:
            for reason, count in losses.items():
                self._count_lost(reason, count)

    def _count_lost(self, reason: LossReason, count: int) -> None:
        # (under _lock)
        if count > 0:
            self._losses[reason] += count
            self._failed += count

    def _give_up(self) -> None:
        """After an unexpected failure of the worker: what it held is lost, every waiting
        request is answered, and the sink takes no more events."""
        with self._lock:
            self._closed = self._finished = True
            batches = [batch for batch in (self._held, self._in_flight) if batch is not None]
            lost = len(self._buffer) + sum(batch.own for batch in batches)
            self._buffer.clear()
            self._settled += lost
            self._count_lost(LossReason.OUTAGE, lost)
            for request in self._requests:
                request.pending = max(0, request.target - self._settled)
                request.waiter.release()
            self._requests.clear()


def _wire_items(events: list[OutboundEvent]) -> list[JSONObject]:
    """The events as wire items, each with the uuid it keeps through retries and the spool."""
    return [event.to_json(str(uuid.uuid4())) for event in events]
