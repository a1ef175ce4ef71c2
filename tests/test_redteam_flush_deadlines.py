"""Red team of the lifecycle, short flushes on a HEALTHY host: three ways events were never
delivered though the host answered every request, each as a test.

- A flush whose deadline came while the first export was still importing ``posthog`` took
  the host for silent (a failure, a backoff), so the exit hook spooled everything and tried
  nothing: a short process that flushed for 0.2 s delivered none of its events, ever.
- A flush granted no time (every flush on a running event loop's thread) was due at once:
  it spooled the buffer and the batch in flight, and counted the host silent. An asyncio
  server that flushed after each request delivered 87 of its 15,917 events.
- An export that a flush's deadline abandoned was never heard again: its success did not end
  the backoff that the abandonment had started, so flushes shorter than the round trip kept
  a healthy host in an ever longer backoff.

Counted by uuid at a PostHog-compatible server on 127.0.0.1 or at a scripted exporter, and by
the worker's reports; every wait bounded.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pytest
from delivery_doubles import MemorySpool, ScriptedExporter
from fake_posthog import FakePostHog, Mode
from host_process import host_environment, run_program
from loop_waits import eventually

from codeweaver_telemetry.adapters import TelemetryClient
from codeweaver_telemetry.adapters.batching import UNTIMED_FLUSH_SPACING, BatchingWorker
from codeweaver_telemetry.adapters.client import PROCESS_BUDGET
from codeweaver_telemetry.adapters.posthog_sink import Endpoint, posthog_sink
from codeweaver_telemetry.core import PrivacyPolicy
from codeweaver_telemetry.core.settings import RawSources, resolve_settings
from codeweaver_telemetry.core.sink import (
    Accepted,
    ExportOutcome,
    ExportResult,
    LossReason,
    OutboundEvent,
)
from codeweaver_telemetry.core.vocabulary import JSONObject

NOT_A_HANG = 10.0


@pytest.fixture(autouse=True)
def _batch_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POSTHOG_CAPTURE_MODE", raising=False)


@pytest.fixture
def server() -> Iterator[FakePostHog]:
    with FakePostHog(lifetime_seconds=60) as fake:
        yield fake


def event(n: int) -> OutboundEvent:
    return OutboundEvent("redteam_event", str(uuid.uuid4()), {"n": n}, time.time())


def worker(exporter: ScriptedExporter, spool: MemorySpool, *, batch_size: int) -> BatchingWorker:
    return BatchingWorker(
        exporter, batch_size=batch_size, batch_interval=60.0, max_buffered=1_000, spool=spool
    )


# --- a flush that ends while the first export imports what it sends with ------------------


def test_a_flush_ending_while_the_export_prepares_keeps_its_events_and_the_host_healthy() -> None:
    exporter = ScriptedExporter(importing=True)
    spool = MemorySpool()
    sink = worker(exporter, spool, batch_size=100)
    for n in range(10):
        sink.emit(event(n))
    flushed = sink.flush(0.2)  # its deadline comes while the export still prepares
    assert (flushed.spooled, flushed.pending, flushed.timed_out) == (10, 0, False)
    exporter.imported()
    closed = sink.close(NOT_A_HANG)  # the exit hook: the host was never silent
    assert (closed.delivered, closed.pending) == (10, 0)  # (before: 0, spooled for good)
    assert spool.items == []
    assert len(exporter.sent_uuids()) == len(set(exporter.sent_uuids())) == 10  # sent once
    assert sink.loss_totals() == {}


SHORT_FLUSH = """
from codeweaver_telemetry.adapters import get_telemetry_client
client = get_telemetry_client()
for index in range(10):
    client.capture("e", {"n": index})
report = client.flush(0.2)
print(report.spooled + report.delivered)
"""


@pytest.mark.slow
def test_short_processes_that_flush_briefly_deliver_every_event(
    server: FakePostHog, tmp_path: Path
) -> None:
    # Real processes: the first export imports posthog, which outlasts the flush's deadline.
    environment = host_environment(
        tmp_path,
        CODEWEAVER__TELEMETRY__POSTHOG_API_KEY="phc_test",
        CODEWEAVER__TELEMETRY__POSTHOG_HOST=server.host,
    )
    settled = [run_program(SHORT_FLUSH, tmp_path, environment).strip() for _ in range(3)]
    assert settled == ["10", "10", "10"]  # each flush kept its events by its deadline
    assert server.wait_for_events(30, timeout=NOT_A_HANG)  # (before: none, in any run)
    assert len(server.uuids()) == len(set(server.uuids())) == 30


# --- a flush granted no time --------------------------------------------------------------


def test_a_flush_granted_no_time_asks_for_delivery_and_spools_nothing_while_healthy() -> None:
    exporter = ScriptedExporter()
    spool = MemorySpool()
    sink = worker(exporter, spool, batch_size=100)
    reports = []
    for n in range(50):
        sink.emit(event(n))
        reports.append(sink.flush(0))
    assert (reports[0].pending, reports[0].timed_out) == (1, True)  # it waited for nothing
    # Sent without waiting for a full batch or the interval, none of it spooled:
    assert eventually(lambda: len(exporter.sent_uuids()) == 50, NOT_A_HANG)
    assert [report.spooled for report in reports] == [0] * 50
    assert spool.appends == 0
    closed = sink.close(NOT_A_HANG)
    assert (closed.delivered, closed.spooled, closed.pending) == (50, 0, 0)
    assert len(set(exporter.sent_uuids())) == 50
    assert sink.loss_totals() == {}


def test_a_flush_granted_no_time_spools_what_a_backoff_holds_back() -> None:
    exporter = ScriptedExporter([ExportOutcome(ExportResult.RETRY_LATER, 30.0)])
    spool = MemorySpool()
    sink = worker(exporter, spool, batch_size=10)
    for n in range(10):  # a full batch: sent, and answered "not for 30 s"
        sink.emit(event(n))
    assert eventually(lambda: sink.flush(0).spooled == 10, NOT_A_HANG)
    assert len(spool.items) == 10
    assert len(exporter.exports) == 1  # (and not retried before the backoff ends)
    assert sink.close(0.5).spooled == 10
    assert sink.loss_totals() == {}


def test_flushes_on_a_running_loop_deliver_in_the_background(server: FakePostHog) -> None:
    settings = resolve_settings(RawSources(arguments={}, environment={})).unwrap()
    spool = MemorySpool()
    sink = posthog_sink(Endpoint("phc_test", server.host, 10, 60.0, 1_000), spool=spool)
    client = TelemetryClient(settings, policy=PrivacyPolicy(hash_key=b"k" * 32), sink=sink)

    async def server_loop() -> None:
        for n in range(30):
            client.capture("request", {"n": n})
            client.flush()  # on the loop's thread: granted no time, never blocking the loop
            await asyncio.sleep(0.01)

    try:
        asyncio.run(server_loop())
        assert server.wait_for_events(30, timeout=NOT_A_HANG)  # while the server runs on
        assert spool.appends == 0  # (before: each flush spooled, and backed off)
        closed = sink.close(NOT_A_HANG)
    finally:
        PROCESS_BUDGET.__init__()  # type: ignore[misc]
    assert (closed.delivered, closed.spooled, closed.pending) == (30, 0, 0)
    assert len(server.uuids()) == len(set(server.uuids())) == 30
    assert sink.loss_totals() == {}


# --- flushes shorter than the round trip --------------------------------------------------


@pytest.mark.slow
def test_flushes_shorter_than_the_round_trip_keep_a_healthy_host_out_of_backoff() -> None:
    with FakePostHog(lifetime_seconds=60, slow_seconds=0.3) as server:
        server.mode = Mode.SLOW  # healthy, answering 200 after 0.3 s
        spool = MemorySpool()
        sink = posthog_sink(Endpoint("phc_test", server.host, 10, 60.0, 1_000), spool=spool)
        flushed = []
        for n in range(10):
            sink.emit(event(n))
            flushed.append(sink.flush(0.1))  # each ends before its export is answered
            time.sleep(0.1)
        # Each export was answered 200: no backoff, so the close waits for the host (before:
        # six abandoned exports in a row, a backoff, and everything spooled at once).
        closed = sink.close(NOT_A_HANG)
        assert server.wait_for_events(10, timeout=NOT_A_HANG)
        uuids = server.uuids()
    assert all(not report.timed_out for report in flushed)  # every one kept its events
    assert (closed.delivered, closed.pending) == (10, 0)  # counted delivered once each
    assert spool.items == []
    assert len(uuids) == len(set(uuids)) == 10  # a spooled copy of a delivered batch not resent
    assert sink.loss_totals() == {}


# --- the red team of these changes ---------------------------------------------------------


def test_flushes_granted_no_time_after_every_event_cost_a_request_a_second_at_most() -> None:
    """A host that flushed after every event (as every flush on an event loop's thread does)
    sent one request per round trip to a healthy host: 833 requests in 3 s where batching
    sends 25. An early batch now comes no sooner than a second after the last export began."""
    exporter = ScriptedExporter()
    sink = worker(exporter, MemorySpool(), batch_size=1_000)
    started = time.monotonic()
    for n in range(100):
        sink.emit(event(n))
        sink.flush(0)
        time.sleep(0.003)
    emitting = time.monotonic() - started
    assert eventually(lambda: len(exporter.sent_uuids()) == 100, NOT_A_HANG)
    sink.close(NOT_A_HANG)
    assert len(exporter.exports) <= 2 + emitting / UNTIMED_FLUSH_SPACING  # (before: about 100)
    assert len(set(exporter.sent_uuids())) == 100


class SlowMemorySpool(MemorySpool):
    """Appends that take a moment, as a disk's do: threads emitting at once overlap."""

    def append(self, items: Sequence[JSONObject]) -> Mapping[LossReason, int]:
        time.sleep(0.001)
        return super().append(items)


def test_events_emitted_at_once_after_the_close_are_each_spooled_and_counted_once() -> None:
    """Each late emit spooled the whole buffer, others' events too, then told its own caller
    it was refused: of 400 events from 8 threads, all 400 were in the spool and 298 counted
    lost as well."""
    spool = SlowMemorySpool()
    sink = worker(ScriptedExporter(), spool, batch_size=10)
    sink.close(NOT_A_HANG)
    answers: list[Accepted] = []

    def emitting() -> None:
        answers.extend(sink.emit(event(n)) for n in range(50))

    threads = [threading.Thread(target=emitting) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=NOT_A_HANG)
    assert answers.count(Accepted.QUEUED) == 400
    assert len(spool.items) == 400
    assert sink.loss_totals() == {}
