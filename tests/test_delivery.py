"""The batching worker: fail fast, never spin, keep what cannot be delivered, lose nothing
it could keep. Against scripted exporters and an in-memory spool (the contract), and against
a PostHog-compatible server on 127.0.0.1 through the real ``posthog`` request function."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from delivery_doubles import MemorySpool, ScriptedExporter
from fake_posthog import FakePostHog, Mode

from codeweaver_telemetry.adapters.batching import (
    BACKLOG_BATCH_SIZE,
    BatchingWorker,
    backoff_seconds,
)
from codeweaver_telemetry.adapters.posthog_sink import Endpoint, posthog_sink
from codeweaver_telemetry.adapters.registry import make_sink
from codeweaver_telemetry.core.settings import RawSources, resolve_settings
from codeweaver_telemetry.core.sink import (
    Accepted,
    ExportOutcome,
    ExportResult,
    LossReason,
    OutboundEvent,
    Sink,
)


@pytest.fixture(autouse=True)
def _batch_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POSTHOG_CAPTURE_MODE", raising=False)


@pytest.fixture
def server() -> Iterator[FakePostHog]:
    with FakePostHog(lifetime_seconds=90) as fake:
        yield fake


def event(index: int = 0) -> OutboundEvent:
    return OutboundEvent("e", "d", {"i": index}, time.time())


def worker(
    exporter: ScriptedExporter,
    spool: MemorySpool | None = None,
    *,
    batch_size: int = 10,
    interval: float = 60.0,
    buffered: int = 25_000,
) -> BatchingWorker:
    return BatchingWorker(
        exporter,
        batch_size=batch_size,
        batch_interval=interval,
        max_buffered=buffered,
        spool=spool,
    )


def on_server(
    server: FakePostHog, spool: MemorySpool | None = None, *, batch_size: int = 10
) -> BatchingWorker:
    return posthog_sink(Endpoint("phc_test", server.host, batch_size, 60.0, 25_000), spool=spool)


def emitted(sink: Sink, count: int) -> None:
    for index in range(count):
        assert sink.emit(event(index)) is Accepted.QUEUED


# --- Offline: fail fast, keep everything, deliver it next run ----------------------------------


def test_a_refused_host_is_spooled_at_once_and_close_does_not_wait(server: FakePostHog) -> None:
    server.mode = Mode.REFUSE
    spool = MemorySpool()
    sink = on_server(server, spool)
    emitted(sink, 100)
    started = time.monotonic()
    report = sink.close(timeout=5)
    assert time.monotonic() - started < 2.0  # (e70ee05: retried the refusal for the 5 s)
    assert (report.spooled, report.pending, report.failed) == (100, 0, 0)
    assert len(set(spool.uuids())) == 100
    assert sink.loss_totals() == {}


def test_what_was_spooled_offline_is_delivered_by_the_next_process_with_its_uuids(
    server: FakePostHog,
) -> None:
    server.mode = Mode.REFUSE
    spool = MemorySpool()
    offline = on_server(server, spool)
    emitted(offline, 100)
    offline.close(timeout=5)
    kept = set(spool.uuids())
    server.mode = Mode.HEALTHY
    online = on_server(server, spool)  # the next process, on the same spool
    emitted(online, 5)
    report = online.close(timeout=10)
    assert server.wait_for_events(105, timeout=5)
    assert report.delivered == 105
    assert kept <= set(server.uuids())
    assert len(set(server.uuids())) == len(server.uuids()) == 105
    assert spool.items == []


def test_a_silent_host_is_not_waited_for_at_close_and_the_batch_in_flight_is_kept(
    server: FakePostHog,
) -> None:
    server.mode = Mode.SILENT
    spool = MemorySpool()
    sink = on_server(server, spool)
    emitted(sink, 25)  # two full batches: the first goes out and gets no answer
    assert server.wait_for_requests(1, timeout=10)
    started = time.monotonic()
    report = sink.close(timeout=10)
    assert time.monotonic() - started < 3.0  # (e70ee05: waited the 10 s)
    assert (report.spooled, report.pending) == (25, 0)
    assert len(set(spool.uuids())) == 25  # the batch in flight too, with the uuids it was sent with


def test_without_a_spool_a_refused_host_costs_no_wait_and_the_loss_is_counted() -> None:
    sink = worker(ScriptedExporter(reachable=False))
    emitted(sink, 30)
    started = time.monotonic()
    report = sink.close(timeout=5)
    assert time.monotonic() - started < 2.0
    assert (report.pending, report.failed) == (30, 30)
    assert sink.loss_totals() == {LossReason.OUTAGE: 30}
    assert sink.loss_totals() == {LossReason.OUTAGE: 30}  # totals: reading changes nothing


# --- Outages: the host's waits hold, whatever the host process does -----------------------------


def test_capturing_never_shortens_a_retry_after_wait() -> None:
    exporter = ScriptedExporter(
        [ExportOutcome(ExportResult.RETRY_LATER, 1.0), ExportOutcome(ExportResult.DELIVERED)]
    )
    sink = worker(exporter)
    emitted(sink, 10)
    deadline = time.monotonic() + 5
    while not exporter.exports and time.monotonic() < deadline:
        time.sleep(0.01)
    for index in range(200):  # (e70ee05: each emit woke the retry wait)
        sink.emit(event(index))
        time.sleep(0.002)
    report = sink.close(timeout=10)
    first, second = exporter.exports[0][0], exporter.exports[1][0]
    assert second - first >= 0.95
    assert report.delivered == 210
    assert exporter.exports[1][1] == exporter.exports[0][1]  # the same batch, the same uuids


@pytest.mark.parametrize("failures", [1, 3, 8, 40])
def test_backoff_doubles_with_jitter_and_never_undercuts_retry_after(failures: int) -> None:
    waits = [backoff_seconds(failures, None) for _ in range(200)]
    ceiling = min(60.0, 0.5 * 2 ** (failures - 1))
    assert all(ceiling / 2 <= wait <= ceiling for wait in waits)
    assert len(set(waits)) > 1
    assert all(backoff_seconds(failures, 7.0) >= 7.0 for _ in range(50))
    assert backoff_seconds(failures, 10**9) <= 120.0


@pytest.mark.slow
@pytest.mark.parametrize("failure", [Mode.RATE_LIMITED, Mode.ERROR_500])
@pytest.mark.parametrize("kept", ["in memory", "in the spool"])
def test_an_outage_is_not_hammered_and_every_event_arrives_after_it(
    server: FakePostHog, failure: Mode, kept: str
) -> None:
    server.retry_after_seconds = 2
    server.mode = failure
    sink = on_server(server, MemorySpool() if kept == "in the spool" else None)
    for index in range(300):  # 100 events a second for 3 s of outage
        sink.emit(event(index))
        time.sleep(0.01)
    during = len(server.requests())
    server.mode = Mode.HEALTHY
    for index in range(100):
        sink.emit(event(300 + index))
        time.sleep(0.01)
    report = sink.close(timeout=30)
    assert during <= 6  # (e70ee05: about 150 requests in 3 s)
    assert report.delivered == 400
    assert len(set(server.uuids())) == len(server.uuids()) == 400


def test_in_an_outage_memory_stays_bounded_and_batches_move_to_the_spool() -> None:
    spool = MemorySpool()
    sink = worker(ScriptedExporter(reachable=False), spool, buffered=100)
    outcomes = [sink.emit(event(index)) for index in range(3_000)]
    report = sink.close(timeout=5)
    taken = outcomes.count(Accepted.QUEUED)
    assert taken == report.spooled
    assert taken + outcomes.count(Accepted.DROPPED_FULL) == 3_000
    assert len(spool.items) == taken
    assert sink.flush(0.0).pending == 0


def test_the_spools_own_losses_are_reported_by_reason() -> None:
    spool = MemorySpool(max_events=50)
    offline = worker(ScriptedExporter(reachable=False), spool)
    emitted(offline, 100)
    offline.close(timeout=5)
    assert offline.loss_totals() == {LossReason.SPOOL_FULL: 50}
    assert len(spool.items) == 50
    spool.claim_losses = {LossReason.EXPIRED: 3}
    online = worker(ScriptedExporter(), spool)
    emitted(online, 1)
    assert online.close(timeout=5).delivered == 51
    assert online.loss_totals() == {LossReason.EXPIRED: 3}


# --- Deadlines -----------------------------------------------------------------------------------


def test_flush_and_close_never_wait_past_their_timeout_for_a_silent_exporter() -> None:
    exporter = ScriptedExporter(silent=True)
    sink = worker(exporter)
    emitted(sink, 20)
    started = time.monotonic()
    sink.flush(0.3)
    sink.close(0.3)
    assert time.monotonic() - started < 2.0
    exporter.release()


def test_a_flush_with_no_time_left_does_not_cost_a_later_close_its_events() -> None:
    exporter = ScriptedExporter()
    sink = worker(exporter, batch_size=100)
    emitted(sink, 4)
    sink.flush(0.0)  # an exhausted budget
    report = sink.close(timeout=10)
    assert (report.delivered, report.pending, report.failed) == (4, 0, 0)


def test_flush_delivers_what_was_emitted_before_it() -> None:
    exporter = ScriptedExporter()
    sink = worker(exporter, batch_size=100)
    emitted(sink, 7)
    report = sink.flush(5.0)
    assert (report.delivered, report.pending, report.timed_out) == (7, 0, False)
    emitted(sink, 3)
    assert sink.flush(5.0).delivered == 10
    assert sink.close(5.0).delivered == 10


def test_events_after_close_are_dropped_and_a_second_close_returns_at_once() -> None:
    sink = worker(ScriptedExporter())
    emitted(sink, 3)
    sink.close(5.0)
    assert sink.emit(event()) is Accepted.DROPPED_CLOSED
    started = time.monotonic()
    assert sink.close(5.0).delivered == 3
    assert time.monotonic() - started < 1.0


def test_the_worker_delivers_what_earlier_processes_spooled_without_waiting_for_a_batch() -> None:
    earlier = [event(index).to_json(f"00000000-0000-4000-8000-{index:012d}") for index in range(30)]
    spool = MemorySpool(earlier)
    exporter = ScriptedExporter()
    sink = worker(exporter, spool)
    sink.emit(event())  # the first capture starts the worker; its own batch is not due
    deadline = time.monotonic() + 5
    while len(exporter.exports) < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert exporter.sent_uuids()[:30] == [str(item["uuid"]) for item in earlier]
    sink.close(5.0)


# --- Forks ---------------------------------------------------------------------------------------


@pytest.mark.skipif(sys.platform == "win32", reason="fork")
def test_a_forked_child_starts_empty_with_fresh_connections(server: FakePostHog) -> None:
    import posthog.request

    sink = on_server(server, batch_size=100)
    emitted(sink, 3)
    assert sink.flush(5.0).delivered == 3  # the parent has used its connection pool
    emitted(sink, 2)  # waiting in the parent's buffer at the fork
    parent_session = posthog.request._session
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            signal.alarm(20)
            fresh = posthog.request._session is not parent_session
            sink.emit(event(99))
            report = sink.close(timeout=5)
            os.write(write_end, json.dumps([report.delivered, fresh]).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    _, status = os.waitpid(pid, 0)
    outcome = json.loads(os.read(read_end, 1024) or b"[]")
    os.close(read_end)
    assert status == 0
    assert outcome == [1, True]  # only its own event: the parent's buffer is the parent's
    assert sink.close(timeout=5).delivered == 5
    assert sorted(event["properties"]["i"] for event in server.events()) == [0, 0, 1, 1, 2, 99]  # type: ignore[index]


def _capture_and_flush(sink: BatchingWorker) -> None:
    """A multiprocessing worker's last act (it ends with os._exit: no exit hook runs)."""
    sink.emit(event(7))
    sink.flush(5.0)


@pytest.mark.skipif(sys.platform == "win32", reason="fork")
def test_a_multiprocessing_worker_that_flushes_delivers(server: FakePostHog) -> None:
    import multiprocessing

    sink = on_server(server)
    child = multiprocessing.get_context("fork").Process(target=_capture_and_flush, args=(sink,))
    child.start()
    child.join(30)
    assert child.exitcode == 0
    assert server.wait_for_events(1, timeout=5)
    assert [event["properties"]["i"] for event in server.events()] == [7]  # type: ignore[index]


def test_the_fork_hook_keeps_nothing_alive() -> None:
    import gc
    import weakref

    sink = worker(ScriptedExporter())
    alive = weakref.ref(sink)
    del sink
    gc.collect()
    assert alive() is None


# --- Threads -------------------------------------------------------------------------------------


def test_only_daemon_threads_are_left_behind() -> None:
    exporter = ScriptedExporter(silent=True)
    sink = worker(exporter)
    emitted(sink, 20)
    sink.close(0.2)
    assert all(
        thread.daemon
        for thread in threading.enumerate()
        if thread.is_alive() and thread is not threading.main_thread()
    )
    exporter.release()


# --- The stdout sink of the settings -------------------------------------------------------------


def stdout_sink(target: str) -> Sink:
    settings = resolve_settings(
        RawSources(arguments={"sink": "stdout", "stdout_target": target}, environment={})
    ).unwrap()
    return make_sink(settings)


def test_a_pipe_nobody_reads_never_blocks_the_host(monkeypatch: pytest.MonkeyPatch) -> None:
    read_end, write_end = os.pipe()
    with os.fdopen(write_end, "w") as unread:
        monkeypatch.setattr(sys, "stderr", unread)
        sink = stdout_sink("stderr")

        def capture_and_exit() -> None:
            for index in range(2_000):  # far more than a pipe holds
                sink.emit(event(index))
            sink.close(0.5)

        thread = threading.Thread(target=capture_and_exit, daemon=True)
        thread.start()
        thread.join(5.0)
        assert not thread.is_alive()  # (e70ee05: blocked in write() for ever)
        os.close(read_end)  # the blocked write fails, and its thread ends


def test_the_stdout_sink_appends_lines_in_order_to_a_file(tmp_path: Path) -> None:
    target = tmp_path / "events.jsonl"
    sink = stdout_sink(str(target))
    emitted(sink, 250)
    assert sink.close(5.0).delivered == 250
    lines = [json.loads(line) for line in target.read_text().splitlines()]
    assert [line["properties"]["i"] for line in lines] == list(range(250))


def test_a_write_that_fails_is_counted_by_reason(tmp_path: Path) -> None:
    sink = stdout_sink(str(tmp_path))  # a directory: every write fails
    emitted(sink, 3)
    report = sink.close(5.0)
    assert (report.delivered, report.failed) == (0, 3)
    assert sink.loss_totals() == {LossReason.WRITE_FAILED: 3}


def test_a_burst_goes_out_in_requests_of_up_to_a_hundred_not_of_batch_size() -> None:
    """A request costs its host milliseconds of CPU: 250 events that wait at once are three
    requests, not twenty-five; a trickle still goes out at ``batch_size``."""
    exporter = ScriptedExporter(silent=True)
    sink = worker(exporter, batch_size=10)
    emitted(sink, 10)  # the first batch, held by the silent exporter while the burst comes
    deadline = time.monotonic() + 5
    while not exporter.exports and time.monotonic() < deadline:
        time.sleep(0.01)
    emitted(sink, 250)
    exporter.release()
    assert sink.flush(5.0).pending == 0
    sizes = [len(batch) for _, batch in exporter.exports]
    assert sizes == [10, BACKLOG_BATCH_SIZE, BACKLOG_BATCH_SIZE, 50]
    sink.close(1.0)
