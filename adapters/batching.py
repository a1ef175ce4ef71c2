"""One generic batching worker over an exporter: the sink of every destination reached over
the network, and the one place that decides what is sent, when, and what is kept for later.

The host's side holds no lock at all, so a KeyboardInterrupt landing anywhere in it can
strand none (a lock taken in Python code, as ``threading.Condition`` takes its own, is
protected only a few bytecodes later; even ``with lock:`` leaves its release unprotected at
the line where the block ends). ``emit`` appends to a bounded deque and may post a wake-up to
a C queue (both atomic); ``flush`` and ``close`` post a request and wait on a per-call waiter
lock that the worker releases (an acquire in C, which an interrupt ends without taking it).
The worker thread is started in C too: ``Thread.start`` waits on an Event, in Python code.

The worker thread alone decides, one turn at a time:

- a batch is due when ``batch_size`` events wait, or ``batch_interval`` after the first; it
  carries what waits then, up to ``BACKLOG_BATCH_SIZE`` (a burst is a few requests); each
  export runs on its own short-lived daemon thread, so that the worker can still meet a
  deadline while a host is silent, and the uuids made for a batch stay with it for good;
- RETRY_LATER holds the batch and waits (exponential backoff with jitter, or the host's
  ``Retry-After`` when longer, capped); the wait is a deadline, so a capture that wakes the
  worker never shortens it;
- UNREACHABLE (refused, unresolvable, silent) sends the batch to the spool at once, then
  waits the backoff: nothing is retried in a tight loop; REJECTED and FAILED are counted
  lost (REJECTED, WRITE_FAILED) and not retried;
- during an outage (a backoff, or an export with no answer within ``IN_FLIGHT_PATIENCE``),
  full batches move from memory to the spool, so memory stays bounded;
- a flush or a close settles every event emitted before it by its deadline: what the host
  takes is delivered, the rest is spooled (at once when the host is unreachable or silent,
  or in a backoff that outlasts the deadline; a batch in flight too, with its uuids, which
  PostHog deduplicates on); without a spool a close counts the rest lost (OUTAGE);
- an export under way at a flush's deadline is not the host's silence (the first one
  imports ``posthog``; a round trip may outlast a short flush): its batch is spooled and it
  stays in flight, within ``REQUEST_TIMEOUT``, its answer deciding the backoff as any
  answer does; delivered (or rejected) at last, it is counted then, and its copy in the
  spool is not sent again by this process. Only a close's deadline cuts an export short;
- a flush granted no time (``flush(0)``, and every flush on a running event loop's thread,
  which the client never blocks) has no deadline: it asks for delivery now, without waiting
  for a full batch (but no sooner than ``UNTIMED_FLUSH_SPACING`` after the last export
  began), and returns at once with what is pending; it spools only what a silent
  host or a backoff holds back. A close granted no time spools at once;
- while the host answers and nothing of this process waits, what earlier processes spooled
  is claimed and delivered.
"""

from __future__ import annotations

import _thread
import collections
import contextlib
import math
import queue
import random
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
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
"""An export with no answer this long after it started sending (its exporter prepared: the
first import of ``posthog`` is not the host's silence) counts as silence: a flush or close
then spools at once instead of waiting for its deadline."""
SPOOL_MARGIN: Final = 0.1
"""Kept before a flush's or close's deadline for writing the spool."""
FIRST_BACKOFF: Final = 0.5
MAX_BACKOFF: Final = 60.0
MAX_RETRY_AFTER: Final = 120.0
"""The longest ``Retry-After`` honoured as given (a longer one waits this long)."""
BACKLOG_BATCH_SIZE: Final = 100
"""Events per request when more than ``batch_size`` wait (in memory, or claimed from the
spool): a backlog drains in fewer requests than the host's ``batch_size`` would take, and
each request costs its host a few milliseconds of CPU, as posthog's own client batches 100."""
SPOOL_APPEND_SIZE: Final = 1_000
"""Items written to the spool at once: a process killed while a large buffer is written
keeps what was written before."""
CLAIMS_PER_BATCH: Final = 32
"""Claims made to fill one batch from the spool (empty ones included) before waiting."""
SETTLED_COPIES_REMEMBERED: Final = 10_000
"""uuids kept of spooled items whose export ended meanwhile (beyond them, the oldest are
forgotten, and their copies are sent again: PostHog counts a uuid once)."""
SHORTEST_WAIT: Final = 0.001
UNTIMED_FLUSH_SPACING: Final = 1.0
"""A flush granted no time sends what waits now, but no sooner than this after the last
export began: a host that flushes after every event (every flush on an event loop's thread
is one) costs PostHog one more request a second, not one a round trip."""


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

    def take_losses(self) -> Mapping[LossReason, int]:
        """What it dropped on the way to a claim that found nothing (expired entries, say)."""
        ...


@dataclass(eq=False, slots=True)
class _Request:
    """A flush or a close waiting for the events emitted before it to be settled."""

    waiter: threading.Lock
    settle_by: float
    """Its deadline; none (``math.inf``) for a flush granted no time to wait."""
    closing: bool
    pending: int
    """How many of the events it waits for were neither delivered nor spooled when it was
    answered (until then, how many were buffered when it was made)."""
    target: int | None = None
    """Settled events it waits for: those taken or buffered when the worker first saw it."""


@dataclass(frozen=True)
class _Claims:
    """Several claims sent as one batch, and told together how it went."""

    claims: tuple[ClaimedItems, ...]

    def delivered(self) -> None:
        for claim in self.claims:
            claim.delivered()

    def returned(self) -> None:
        for claim in self.claims:
            claim.returned()


@dataclass(eq=False, slots=True)
class _Batch:
    items: list[JSONObject]
    own: int
    """How many of the items this process emitted (none, for items claimed from the spool)."""
    claim: _Claims | None = None
    spooled: bool = False
    """Written to the spool while its export was under way (at a flush's deadline): settled
    then, so its export's outcome only tells about the host, and whether that copy is to be
    sent again."""


_FINAL: Final[Mapping[ExportResult, LossReason | None]] = {
    ExportResult.DELIVERED: None,
    ExportResult.REJECTED: LossReason.REJECTED,
    ExportResult.FAILED: LossReason.WRITE_FAILED,
}
"""The outcomes after which a batch is done with, and what it is lost as (if it is)."""


class _Sending(NamedTuple):
    token: int


class _Exported(NamedTuple):
    token: int
    outcome: ExportOutcome


def _seconds(timeout: float) -> float:
    """A timeout as a wait the threading module can make: NaN, negative or unusable is 0;
    one beyond any float (``10**400``) is the longest wait there is, as it asks."""
    try:
        seconds = float(timeout)
    except OverflowError:
        seconds = math.inf if type(timeout) is int and timeout > 0 else 0.0
    except (TypeError, ValueError):
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
        recheck: Callable[[JSONObject], JSONObject | None] | None = None,
    ) -> None:
        """``recheck``: what each item claimed from the spool passes again before it is sent
        (the file is input from disk: written by another version, or by anything that can
        write there); an item it refuses (None) is counted lost as NOT_BUILT."""
        self._exporter = exporter
        self._recheck = recheck
        self._batch_size = max(1, batch_size)
        self._batch_interval = max(0.0, batch_interval)
        self._max_buffered = max(1, max_buffered)
        self._spool = spool
        self._closed = False
        self._start_afresh()
        start_afresh_in_children(self)

    def _start_afresh(self) -> None:
        # Shared with the host's threads, through operations that are atomic in C (a
        # deque's append and popleft, a SimpleQueue, one attribute's store): no lock.
        self._buffer: collections.deque[OutboundEvent] = collections.deque()
        self._requests: collections.deque[_Request] = collections.deque()
        self._wake_ups: queue.SimpleQueue[_Sending | _Exported | None] = queue.SimpleQueue()
        self._started = False
        self._finished = False
        # Written by the worker thread only, read by the host's:
        self._delivered = 0
        self._failed = 0
        self._spooled = 0
        self._lost_at_close = 0  # taken events neither delivered nor spooled at the close
        self._loss_totals: collections.Counter[LossReason] = collections.Counter()
        # The worker thread's own:
        self._worker_lock = threading.Lock()
        self._worker_present = False
        self._taken = 0  # events taken from the buffer
        self._settled = 0  # of those, delivered, spooled or lost
        self._first_waiting_since: float | None = None
        self._held: _Batch | None = None
        self._in_flight: _Batch | None = None
        self._export_token = 0
        self._export_started = 0.0
        self._last_export_began = -math.inf
        self._not_before = 0.0
        self._failures = 0
        self._unreachable = False
        self._spool_may_have_items = self._spool is not None
        # uuids of spooled items whose export, under way when they were spooled, ended for
        # good (delivered, or rejected): their copies claimed back are not sent again.
        self._settled_copies: dict[str, None] = {}

    def after_fork_in_child(self) -> None:
        """Start empty, with a new thread on the first event: the parent's thread does not
        exist here, and the parent delivers (or spools) its own buffer. A sink the parent had
        closed stays closed."""
        closed = self._closed
        self._start_afresh()
        self._closed = closed

    # --- the host's side: no lock, nothing that an interrupt could leave held -------------

    def emit(self, event: OutboundEvent) -> Accepted:
        """Buffer the event; never blocks. (Threads emitting at once may take the buffer a
        few events past its bound: one each, at most.)"""
        if self._closed:
            return self._spooled_after_the_close(event)
        waiting = len(self._buffer)
        if waiting >= self._max_buffered:
            return Accepted.DROPPED_FULL
        self._buffer.append(event)
        if self._finished:
            return self._taken_back_after_the_end()
        if not self._started:
            self._start_worker()
        if not waiting or (waiting + 1) % self._batch_size == 0:
            self._wake_ups.put(None)
        return Accepted.QUEUED

    def _spooled_after_the_close(self, event: OutboundEvent) -> Accepted:
        """An event emitted once the close is done: spooled on this thread for the next run
        to send (a host's exit hook that runs after the library's, as one registered before
        the library was imported does, ends its session then); dropped with no spool, or
        while a worker still runs (it alone settles what it takes)."""
        if self._spool is None or (self._started and not self._finished):
            return Accepted.DROPPED_CLOSED
        # This event alone, not the buffer: threads emitting at once each spool their own.
        # What the spool cannot keep it counts lost, as it does for the worker's batches.
        self._to_spool([_Batch(_wire_items([event]), 1)])
        return Accepted.QUEUED

    def _taken_back_after_the_end(self) -> Accepted:
        """After an append that may have come once the worker had ended (a close racing this
        emit on another thread): nothing would ever send it. Each such emit takes one event
        back out; when the worker had already taken it (and counted it lost as SINK_CLOSED),
        there is none to take. Any event will do: what is counted is how many."""
        try:
            self._buffer.popleft()
        except IndexError:
            return Accepted.QUEUED
        return Accepted.DROPPED_CLOSED

    def flush(self, timeout: float) -> DeliveryReport:
        """Deliver what was emitted before this call, spooling what cannot be by the
        deadline; waits at most ``timeout`` seconds. Given none, it waits for nothing and
        spools only what a silent host or a backoff holds back (see the module docstring)."""
        return self._settle(timeout, closing=False)

    def close(self, timeout: float) -> DeliveryReport:
        """Flush within ``timeout`` (without a spool, what is not delivered by then is lost),
        then stop; later events are dropped."""
        return self._settle(timeout, closing=True)

    def loss_totals(self) -> Mapping[LossReason, int]:
        """The events lost after ``emit`` took them, by reason, since the worker was made
        (in a forked child: since the fork)."""
        return dict(self._loss_totals)

    def _start_worker(self) -> None:
        # Started in C: Thread.start waits on an Event, in Python code. Were an interrupt to
        # land between the start and the flag, the next emit would start a second thread,
        # which finds the first and ends at once.
        try:
            _thread.start_new_thread(self._run, ())
        except RuntimeError:  # no thread to be had now: the next event tries again
            return
        self._started = True

    def _settle(self, timeout: float, *, closing: bool) -> DeliveryReport:
        unsettled = 0
        if not self._started and self._buffer:
            self._start_worker()  # (a thread may be had now)
            if not self._started:
                unsettled = self._settle_without_a_worker()
        wait = _seconds(timeout)
        waiter = threading.Lock()
        waiter.acquire()
        if wait == 0 and not closing:  # (on an event loop's thread, or flush(0))
            settle_by = math.inf  # no deadline: see the module docstring
        else:
            settle_by = time.monotonic() + wait - min(SPOOL_MARGIN, wait / 2)
        request = _Request(waiter, settle_by, closing, pending=len(self._buffer))
        if closing:
            self._closed = True
        answered = True
        if self._started and not self._finished:
            self._requests.append(request)
            self._wake_ups.put(None)
            # (a worker that finished meanwhile answered every request it could see)
            try:
                answered = self._finished or waiter.acquire(timeout=wait)
            except BaseException:
                # The host's Ctrl-C (or its signal handler's exception) ends its wait, not
                # what it waited for: the deadline is brought to now, so that the worker
                # spools what is left, and is given the spool's margin for it (and the
                # patience of an export it makes on its own thread, at exit from 3.12).
                request.settle_by = -math.inf
                self._wake_ups.put(None)
                waiter.acquire(timeout=IN_FLIGHT_PATIENCE + SPOOL_MARGIN)
                raise
        pending = request.pending if self._started else unsettled
        return DeliveryReport(
            delivered=self._delivered,
            failed=self._failed,
            pending=pending,
            timed_out=not answered or pending > 0,
            spooled=self._spooled,
        )

    def _settle_without_a_worker(self) -> int:
        """When no thread could be started for the worker (none to be had; or the interpreter
        is finalizing: from Python 3.12 an exit hook cannot start one, and a process whose
        first event is its session event at exit would have left it queued for nobody): what
        waits is spooled on this thread, or without a spool counted lost (OUTAGE). How many
        were neither delivered nor spooled."""
        events: list[OutboundEvent] = []
        for _ in range(len(self._buffer)):
            try:
                events.append(self._buffer.popleft())
            except IndexError:
                break
        self._taken += len(events)
        spooled_before = self._spooled
        if self._spool is not None:
            self._to_spool([_Batch(_wire_items(events), len(events))])
        else:
            self._settled += len(events)
            self._count_lost(LossReason.OUTAGE, len(events))
        return len(events) - (self._spooled - spooled_before)

    # --- the worker thread -----------------------------------------------------------------

    def _run(self) -> None:
        with self._worker_lock:
            if self._worker_present:
                return
            self._worker_present = True
        try:
            threading.current_thread().name = "codeweaver-telemetry-delivery"  # (for a reader)
            while self._act():  # first at once: what earlier processes spooled is due now
                self._wait()
        # Any exception at all: nothing on this thread is the host's to receive, and a worker
        # that ended without giving up would leave every flush and close waiting its whole
        # timeout and every later event queued for nobody, uncounted.
        except BaseException as error:  # noqa: BLE001 - the worker ends quietly, never loudly
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

    def _settle_by(self) -> float:
        return min((request.settle_by for request in list(self._requests)), default=math.inf)

    def _untimed_flush_due(self) -> float:
        """When a flush granted no time may send what waits (never, with none waiting)."""
        if any(request.settle_by == math.inf for request in list(self._requests)):
            return self._last_export_began + UNTIMED_FLUSH_SPACING
        return math.inf

    def _wait_seconds(self, now: float) -> float | None:
        settle_by = self._settle_by()
        if self._in_flight is not None:
            silence = self._export_started + IN_FLIGHT_PATIENCE
            due = min(settle_by, silence) if silence > now or settle_by < math.inf else math.inf
        elif self._not_before > now:
            due = min(self._not_before, settle_by)
        else:
            waiting_since = self._waiting_since(now)
            interval_ends = (
                math.inf if waiting_since is None else waiting_since + self._batch_interval
            )
            due = min(interval_ends, settle_by, self._untimed_flush_due())
        return None if due == math.inf else max(SHORTEST_WAIT, due - now)

    def _waiting_since(self, now: float) -> float | None:
        """Since when the oldest buffered event waits (as first seen by the worker)."""
        if not self._buffer:
            self._first_waiting_since = None
        elif self._first_waiting_since is None:
            self._first_waiting_since = now
        return self._first_waiting_since

    def _act(self) -> bool:
        now = time.monotonic()
        requests = list(self._requests)
        for request in requests:
            if request.target is None:  # first seen: what it waits for is what waits now
                request.target = self._taken + len(self._buffer)
        silent = self._in_flight is not None and now >= self._export_started + IN_FLIGHT_PATIENCE
        in_backoff = self._not_before > now
        # Silence is settled at once only where there is a spool to keep the batch in: an
        # answer may still come (a slow host), and without a spool the alternative to waiting
        # for it, up to the deadline, is to lose the batch.
        if (self._unreachable and in_backoff) or (silent and self._spool is not None):
            due = requests  # no answer to wait for (once the backoff ends, it is tried again)
        else:  # a deadline reached, or one a backoff outlasts (any, for a flush without one)
            waits_until = max(now, self._not_before)
            due = [
                request
                for request in requests
                if waits_until > request.settle_by or (in_backoff and request.settle_by == math.inf)
            ]
        if due:
            self._settle_now(closing=any(request.closing for request in due))
        elif in_backoff or silent:
            self._spill()
        elif self._in_flight is None:
            # Claims wait while a flush does, and go on within a close's deadline: a short
            # process is the next one for what earlier ones spooled.
            flushing = any(not request.closing for request in requests)
            claims = not flushing and (bool(requests) or not self._closed)
            urgent = any(request.settle_by < math.inf for request in requests) or (
                now >= self._untimed_flush_due()
            )
            self._send_next(now, urgent=urgent, claims=claims)
        return self._answer(due)

    def _answer(self, settled: list[_Request]) -> bool:
        """Release the requests that are settled (all those in ``settled`` are, as far as
        they can be); whether the worker goes on."""
        draining = self._spool_may_have_items and not self._unreachable
        for request in list(self._requests):
            target = request.target if request.target is not None else math.inf
            ready = self._settled >= target and not (request.closing and draining)
            if ready or request in settled:
                self._release(request)
        if not (self._closed and not self._requests and self._in_flight is None):
            return True
        self._finished = True
        self._count_lost(LossReason.SINK_CLOSED, self._drop_buffered())
        while self._requests:  # made as it finished
            self._release(self._requests.popleft())
        return False

    def _drop_buffered(self) -> int:
        """Once finished: empty the buffer (events emitted as the sink ended, on other
        threads), and how many this took. An emit that sees the end takes one back itself,
        so some may be gone by the time they would be taken."""
        dropped = 0
        for _ in range(len(self._buffer)):
            try:
                self._buffer.popleft()
            except IndexError:
                break
            dropped += 1
        return dropped

    def _release(self, request: _Request) -> None:
        target = request.target if request.target is not None else self._settled
        unsent = self._lost_at_close if request.closing else 0
        request.pending = max(0, target - self._settled) + unsent
        with contextlib.suppress(ValueError):  # (already answered)
            self._requests.remove(request)
        request.waiter.release()

    def _take(self, count: int) -> list[OutboundEvent]:
        """The oldest ``count`` buffered events (no more than there are)."""
        events = [self._buffer.popleft() for _ in range(min(count, len(self._buffer)))]
        self._taken += len(events)
        if events:
            self._first_waiting_since = None
        return events

    def _send_next(self, now: float, *, urgent: bool, claims: bool) -> None:
        batch, self._held = self._held, None
        if batch is None:
            waiting = len(self._buffer)
            waiting_since = self._waiting_since(now)
            interval_ended = waiting_since is not None and (
                now >= waiting_since + self._batch_interval
            )
            if waiting >= self._batch_size or (waiting and (urgent or interval_ended)):
                events = self._take(max(self._batch_size, BACKLOG_BATCH_SIZE))
                batch = _Batch(_wire_items(events), len(events))
            elif claims:
                batch = self._claimed()
        if batch is not None:
            self._start_export(batch, now)

    def _claimed(self) -> _Batch | None:
        """A batch of what earlier runs spooled, filled from as many claims as it takes (a
        short run spools a few events: twenty of them are one request, not twenty)."""
        spool = self._spool
        wanted = max(self._batch_size, BACKLOG_BATCH_SIZE)
        items: list[JSONObject] = []
        claims: list[ClaimedItems] = []
        for _ in range(CLAIMS_PER_BATCH):
            if spool is None or not self._spool_may_have_items or len(items) >= wanted:
                break
            try:
                claimed = spool.claim(wanted - len(items))
                if claimed is None:
                    self._lose(spool.take_losses())
            except Exception as error:  # noqa: BLE001 - a spool must not raise; fail safe
                debug("telemetry: the spool could not be read (%s)", type(error).__name__)
                claimed = None
            if claimed is None:
                # (with items gathered, the next turn finds it empty: until this batch is
                # settled, a close must still wait for what came from the spool)
                self._spool_may_have_items = bool(items)
                break
            self._lose(claimed.losses)
            kept = self._rechecked(self._unsettled(claimed.items))
            if kept:
                items.extend(kept)
                claims.append(claimed)
            else:
                claimed.delivered()  # (every item expired or refused: nothing to send)
        return _Batch(items, 0, _Claims(tuple(claims))) if items else None

    def _unsettled(self, items: Sequence[JSONObject]) -> list[JSONObject]:
        """The claimed items that are not copies of ones this process already saw settled."""
        return [item for item in items if item.get("uuid") not in self._settled_copies]

    def _remember_settled(self, items: Sequence[JSONObject]) -> None:
        for item in items:
            self._settled_copies[str(item.get("uuid"))] = None
        for _ in range(len(self._settled_copies) - SETTLED_COPIES_REMEMBERED):
            del self._settled_copies[next(iter(self._settled_copies))]  # the oldest

    def _rechecked(self, items: Sequence[JSONObject]) -> list[JSONObject]:
        """The claimed items that pass ``recheck`` (as it returns them)."""
        recheck = self._recheck
        if recheck is None:
            return list(items)
        kept: list[JSONObject] = []
        for item in items:
            try:
                checked = recheck(item)
            except Exception as error:  # noqa: BLE001 - refused, as a check that fails must be
                debug("telemetry: a spooled item could not be checked (%s)", type(error).__name__)
                checked = None
            if checked is not None:
                kept.append(checked)
        self._count_lost(LossReason.NOT_BUILT, len(items) - len(kept))
        return kept

    def _start_export(self, batch: _Batch, now: float) -> None:
        # Only a close's deadline cuts an export short: nothing hears it after the close. A
        # flush's spools the batch, and its answer is still heard (a slow host's success
        # ends a backoff, and keeps its copy in the spool from being sent again).
        close_by = min(
            (request.settle_by for request in list(self._requests) if request.closing),
            default=math.inf,
        )
        timeout = max(SHORTEST_WAIT, min(REQUEST_TIMEOUT, close_by - now))
        self._export_token += 1
        self._in_flight = batch
        self._last_export_began = now
        self._export_started = math.inf  # until it is ready to send: see Exporter.prepare
        try:
            threading.Thread(
                target=self._export,
                args=(self._export_token, batch.items, timeout),
                name="codeweaver-telemetry-export",
                daemon=True,
            ).start()
        except RuntimeError:
            # No thread to be had: out of threads, or the interpreter is finalizing (from
            # Python 3.12 an atexit hook, the client's exit hook, can start none). Exported on
            # this thread instead, within the nearest deadline, which this thread must meet:
            # the host's waits end on time whatever it does, since each has its own timeout.
            # And within the patience an export on its own thread is given before its batch
            # is spooled: this thread hears no silence while it waits (a silent host had cost
            # a short process on Python 3.12 its whole shutdown budget at exit).
            by_deadline = max(SHORTEST_WAIT, min(timeout, self._settle_by() - now))
            self._export(self._export_token, batch.items, min(by_deadline, IN_FLIGHT_PATIENCE))

    def _export(self, token: int, items: list[JSONObject], timeout: float) -> None:
        """On the export thread: one attempt, its outcome posted to the worker (even when
        the exporter raised what no exporter should: the batch is then kept, as unsent)."""
        outcome = ExportOutcome(ExportResult.UNREACHABLE)
        try:
            if self._exporter.prepare(timeout):
                self._wake_ups.put(_Sending(token))
                outcome = self._exporter.export(items, timeout)
        except Exception as error:  # noqa: BLE001 - an exporter must not raise; fail safe
            debug("telemetry: the exporter failed (%s)", type(error).__name__)
            outcome = ExportOutcome(ExportResult.REJECTED)
        finally:
            self._wake_ups.put(_Exported(token, outcome))

    def _exported(self, message: _Exported) -> None:
        batch = self._in_flight
        if batch is None or message.token != self._export_token:
            return  # given up at a close's deadline: spooled, given back or counted lost
        self._in_flight = None
        result = message.outcome.result
        if result in _FINAL:
            self._failures, self._unreachable, self._not_before = 0, False, 0.0
            if batch.claim is not None:
                batch.claim.delivered()
            if batch.spooled:
                self._remember_settled(batch.items)  # (counted here, not again from its copy)
            else:
                self._settled += batch.own
            lost_as = _FINAL[result]
            if lost_as is None:
                self._delivered += len(batch.items)
            else:
                self._count_lost(lost_as, len(batch.items))
            return
        self._failures += 1
        self._unreachable = result is ExportResult.UNREACHABLE
        wait = backoff_seconds(self._failures, message.outcome.retry_after)
        self._not_before = time.monotonic() + wait
        if batch.claim is not None:
            batch.claim.returned()
        elif batch.spooled:
            return  # tried again from its copy in the spool
        elif self._unreachable and self._spool is not None:
            self._to_spool([batch])
        else:
            self._held = batch

    def _settle_now(self, *, closing: bool) -> None:
        """Spool (or, closing without a spool, count lost) every event of this process still
        in memory or in flight. An export under way is no failure of the host's (it may be
        importing ``posthog``, or the round trip may outlast a short flush): after a flush it
        stays in flight, its batch spooled, and its answer decides the backoff; a close stops
        waiting for it, giving back what it had claimed from the spool."""
        if self._spool is None and not closing:
            return  # kept in memory: a later flush or the close decides
        batches: list[_Batch] = []
        in_flight = self._in_flight
        if in_flight is not None and closing:
            self._in_flight = None
            if in_flight.claim is not None:
                in_flight.claim.returned()
            elif not in_flight.spooled:
                batches.append(in_flight)
        elif in_flight is not None and in_flight.claim is None and not in_flight.spooled:
            in_flight.spooled = True
            batches.append(in_flight)
        if self._held is not None:
            batches.append(self._held)
            self._held = None
        events = self._take(len(self._buffer))
        if events:
            batches.append(_Batch(_wire_items(events), len(events)))
        if self._spool is not None:
            self._to_spool(batches)
        else:
            lost = sum(batch.own for batch in batches)
            self._settled += lost
            self._lost_at_close += lost
            self._count_lost(LossReason.OUTAGE, lost)

    def _spill(self) -> None:
        """In an outage, move what waits in memory to the spool once a batch is full."""
        if self._spool is None or len(self._buffer) < self._batch_size:
            return
        batches = [self._held] if self._held is not None else []
        self._held = None
        events = self._take(len(self._buffer))
        self._to_spool([*batches, _Batch(_wire_items(events), len(events))])

    def _to_spool(self, batches: list[_Batch]) -> None:
        items = [item for batch in batches for item in batch.items]
        spool = self._spool
        if not items or spool is None:
            return
        self._spool_may_have_items = True
        self._settled += sum(batch.own for batch in batches)
        for start in range(0, len(items), SPOOL_APPEND_SIZE):
            chunk = items[start : start + SPOOL_APPEND_SIZE]
            try:
                self._lose(spool.append(chunk))
            except Exception as error:  # noqa: BLE001 - a spool must not raise; fail safe
                debug("telemetry: the spool could not be written (%s)", type(error).__name__)
                self._count_lost(LossReason.OUTAGE, len(items) - start)
                return
            self._spooled += len(chunk)

    def _lose(self, losses: Mapping[LossReason, int]) -> None:
        for reason, count in losses.items():
            self._count_lost(reason, count)

    def _count_lost(self, reason: LossReason, count: int) -> None:
        if count > 0:
            self._loss_totals[reason] += count
            self._failed += count

    def _give_up(self) -> None:
        """After an unexpected failure of the worker: what it held is lost, every waiting
        request is answered, and the sink takes no more events (the spool, which may be what
        failed, not even after the close)."""
        self._closed = self._finished = True
        self._spool = None
        batches = [batch for batch in (self._held, self._in_flight) if batch is not None]
        buffered = self._drop_buffered()
        self._taken += buffered
        lost = buffered + sum(batch.own for batch in batches if not batch.spooled)
        self._settled += lost
        self._count_lost(LossReason.OUTAGE, lost)
        while self._requests:
            self._release(self._requests.popleft())


def _wire_items(events: list[OutboundEvent]) -> list[JSONObject]:
    """The events as wire items, each with the uuid it keeps through retries and the spool."""
    return [event.to_json(str(uuid.uuid4())) for event in events]
