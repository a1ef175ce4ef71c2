"""The PostHog sink against a PostHog-compatible server on 127.0.0.1, through the real
``posthog`` request functions: what arrives, what is retried, and how long anything waits."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_posthog import FakePostHog, Mode, _Handler
from host_process import host_environment, run_program

from codeweaver_telemetry.adapters import TelemetryClient
from codeweaver_telemetry.adapters.batching import BACKLOG_BATCH_SIZE, BatchingWorker
from codeweaver_telemetry.adapters.posthog_sink import Endpoint, posthog_sink
from codeweaver_telemetry.core import PrivacyPolicy
from codeweaver_telemetry.core.settings import RawSources, resolve_settings
from codeweaver_telemetry.core.sink import Accepted, LossReason, OutboundEvent

CANARY = "CANARYPOSTHOG7Q"


@pytest.fixture(autouse=True)
def _batch_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POSTHOG_CAPTURE_MODE", raising=False)


@pytest.fixture
def server() -> Iterator[FakePostHog]:
    with FakePostHog(lifetime_seconds=60) as fake:
        yield fake


def make_client(
    server: FakePostHog,
    *,
    batch_size: int = 10,
    interval: float = 60.0,
    buffered: int = 25_000,
    budget: float = 2.0,
) -> tuple[TelemetryClient, BatchingWorker]:
    settings = resolve_settings(
        RawSources(
            arguments={
                "posthog_api_key": "phc_test",
                "posthog_host": server.host,
                "sink": "posthog",
                "shutdown_budget_seconds": budget,
            },
            environment={},
        )
    ).unwrap()
    sink = posthog_sink(Endpoint("phc_test", server.host, batch_size, interval, buffered))
    policy = PrivacyPolicy(hash_key=b"k" * 32, sensitive_literals=frozenset({CANARY}))
    return TelemetryClient(settings, policy=policy, sink=sink), sink


def test_events_arrive_once_each_with_no_canary_no_ip_and_no_profile(server: FakePostHog) -> None:
    client, _ = make_client(server)
    client.start_session({"version": "0.5.0"})
    for index in range(25):
        client.capture("codeweaver_search", {"n": index, "who": CANARY, "path": f"/home/{CANARY}"})
    report = client.shutdown(timeout=10)
    events = server.events()
    assert report.delivered == 25
    assert len(events) == 25
    assert len(set(server.uuids())) == 25
    assert sorted(event["properties"]["n"] for event in events) == list(range(25))  # type: ignore[index]
    for event in events:
        properties = event["properties"]
        assert isinstance(properties, dict)
        assert properties["$process_person_profile"] is False
        assert properties["$geoip_disable"] is True
        assert "$ip" not in properties
        assert properties["$session_id"] == event["distinct_id"]
    assert all(CANARY.encode() not in body for body in server.raw_bodies())
    assert all(batch.gzip for batch in server.batches())


@pytest.mark.parametrize(
    ("batch_size", "interval", "events"),
    [(100, 0.3, 3), (5, 60.0, 5)],
    ids=["a partial batch after the interval", "a full batch at once"],
)
def test_a_batch_goes_out_when_full_or_after_the_interval(
    server: FakePostHog, batch_size: int, interval: float, events: int
) -> None:
    client, _ = make_client(server, batch_size=batch_size, interval=interval)
    for _ in range(events):
        client.capture("e")
    assert server.wait_for_events(events, timeout=5)
    client.shutdown()


@pytest.mark.slow
@pytest.mark.parametrize("failure", [Mode.ERROR_500, Mode.RATE_LIMITED])
def test_5xx_and_429_are_retried_and_counted_once(server: FakePostHog, failure: Mode) -> None:
    client, _ = make_client(server, batch_size=4)
    server.mode = failure
    for _ in range(4):
        client.capture("e")
    time.sleep(0.3)
    server.mode = Mode.HEALTHY
    report = client.shutdown(timeout=10)
    assert report.delivered == 4
    assert len(server.events()) == 4
    assert len(set(server.uuids())) == 4


@pytest.mark.slow
@pytest.mark.parametrize("failure", [Mode.REFUSE, Mode.SILENT])
def test_shutdown_keeps_its_budget_with_10000_queued_events(
    server: FakePostHog, failure: Mode
) -> None:
    server.mode = failure
    client, _ = make_client(server, budget=1.0)
    for _ in range(10_000):
        client.capture("e")
    started = time.monotonic()
    client.end_session()
    report = client.shutdown()
    elapsed = time.monotonic() - started
    assert elapsed < 1.5  # the budget is shared by end_session and shutdown
    assert report.pending > 0
    assert all(
        thread.daemon
        for thread in threading.enumerate()
        if thread.is_alive() and thread is not threading.main_thread()
    )


def test_an_outage_keeps_the_buffer_bounded_and_counts_drops(server: FakePostHog) -> None:
    server.mode = Mode.SILENT
    client, sink = make_client(server, buffered=100)
    for _ in range(1_000):
        client.capture("e")
    in_flight = BACKLOG_BATCH_SIZE  # at most one batch, of what waited when it was taken
    assert client.dropped >= 1_000 - 100 - in_flight
    report = sink.flush(0.0)
    assert report.pending <= 100 + in_flight
    client.shutdown(timeout=0.2)


def test_events_after_close_are_dropped_not_raised(server: FakePostHog) -> None:
    client, _ = make_client(server)
    client.shutdown()
    client.capture("late")
    assert client.dropped == 1


@pytest.mark.slow
def test_eight_threads_of_captures_are_all_delivered(server: FakePostHog) -> None:
    client, _ = make_client(server, batch_size=50)

    def work(thread_index: int) -> None:
        for index in range(1_000):
            client.capture("e", {"t": thread_index, "i": index})

    threads = [threading.Thread(target=work, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    report = client.shutdown(timeout=60)
    assert report.delivered == 8_000
    assert len(set(server.uuids())) == 8_000


@pytest.mark.slow
def test_a_forked_child_gets_a_working_client(server: FakePostHog) -> None:
    client, _ = make_client(server)
    client.capture("parent")
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: capture, flush, report the outcome through the pipe
        try:
            signal.alarm(20)  # a child that hangs dies, and the test fails instead of hanging
            client.capture("child")
            report = client.shutdown(timeout=5)
            os.write(write_end, json.dumps({"delivered": report.delivered}).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    _, status = os.waitpid(pid, 0)
    outcome = json.loads(os.read(read_end, 1024) or b"{}")
    os.close(read_end)
    client.shutdown(timeout=5)
    assert status == 0
    assert outcome == {"delivered": 1}
    assert sorted(str(event["event"]) for event in server.events()) == ["child", "parent"]


@pytest.mark.slow
def test_retry_after_is_honoured_between_attempts(server: FakePostHog) -> None:
    client, _ = make_client(server, batch_size=2)
    server.mode = Mode.RATE_LIMITED
    started = time.monotonic()
    client.capture("a")
    client.capture("b")
    assert server.wait_for_requests(1, timeout=5)
    server.mode = Mode.HEALTHY
    assert server.wait_for_events(2, timeout=5)
    assert time.monotonic() - started >= server.retry_after_seconds * 0.9
    client.shutdown()


class _RefusesTheBatch(FakePostHog):
    """Answers every capture 400: the batch itself is refused (a 401, 403 or 404 refuses the
    key or the host, and the batch is kept: see test_redteam_delivery)."""

    def _route(self, handler: _Handler, body: bytes, gzipped: bool) -> None:
        self._answer(handler, 400, {"detail": "invalid batch"})


def test_a_4xx_answer_is_not_retried() -> None:
    with _RefusesTheBatch(lifetime_seconds=30) as server:
        sink = posthog_sink(Endpoint("phc_test", server.host, 2, 60.0, 100))
        events = [OutboundEvent("e", "d", {}, time.time()) for _ in range(2)]
        for event in events:
            sink.emit(event)
        report = sink.close(timeout=5)
        assert report.failed == 2
        assert report.delivered == 0
        assert sink.loss_totals() == {LossReason.REJECTED: 2}
        assert len(server.requests()) == 1


@pytest.mark.slow
def test_a_20000_event_burst_is_delivered_completely_when_time_is_granted(
    server: FakePostHog,
) -> None:
    client, _ = make_client(server)
    for index in range(20_000):
        client.capture("burst", {"i": index})
    report = client.shutdown(timeout=60)
    assert (report.delivered, client.dropped) == (20_000, 0)
    assert len(set(server.uuids())) == 20_000


EXIT_PROGRAM = """
from codeweaver_telemetry.adapters import get_telemetry_client
client = get_telemetry_client()
for _ in range(10_000):
    client.capture("e", {"n": 1})
client.end_session()
"""


@pytest.mark.slow
@pytest.mark.parametrize("failure", [Mode.REFUSE, Mode.SILENT])
def test_a_host_process_exits_within_the_budget_when_posthog_fails(
    server: FakePostHog, failure: Mode, tmp_path: Path
) -> None:
    server.mode = failure
    environment = host_environment(
        tmp_path,
        CODEWEAVER__TELEMETRY__POSTHOG_API_KEY="phc_test",
        CODEWEAVER__TELEMETRY__POSTHOG_HOST=server.host,
    )
    started = time.monotonic()
    run_program(EXIT_PROGRAM, tmp_path, environment)
    assert time.monotonic() - started < 2.0 + 1.5  # the 2 s budget, plus interpreter start-up


def test_a_closed_sink_stays_closed_in_a_forked_child() -> None:
    sink = posthog_sink(Endpoint("phc_test", "http://127.0.0.1:9", 10, 60.0, 100))
    sink.close(0.0)
    sink.after_fork_in_child()  # what the fork hook does in a child
    assert sink.emit(OutboundEvent("e", "d", {}, 0.0)) is Accepted.DROPPED_CLOSED
