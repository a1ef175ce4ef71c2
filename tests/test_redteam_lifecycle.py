"""Red-team findings on the merged lifecycle parts (spool, flags, host test kit, client): each
test is an attack or an unlucky user's case that broke what was merged, kept as a regression
test once fixed (an ``xfail(strict=True)`` marks one whose fix is in a file this branch does
not own)."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import json
import os
import threading
import time
import uuid
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest
from domain_samples import empty_summary
from interrupts import PACKAGE, interrupted, line_events_of

from codeweaver_telemetry.adapters import posthog_flags
from codeweaver_telemetry.adapters import spool as spool_module
from codeweaver_telemetry.adapters.client import OnFirstUse, TelemetryClient
from codeweaver_telemetry.adapters.posthog_flags import PostHogFlags, flag_values
from codeweaver_telemetry.adapters.registry import get_telemetry_client, set_telemetry_client
from codeweaver_telemetry.adapters.spool import Spool, SpoolLimits
from codeweaver_telemetry.adapters.testing import (
    InMemorySink,
    capture_telemetry,
    telemetry_client_for_tests,
)
from codeweaver_telemetry.core import IntentType, PrivacyPolicy
from codeweaver_telemetry.core.domain import SearchStatus
from codeweaver_telemetry.core.sink import Accepted, LossReason, OutboundEvent
from codeweaver_telemetry.core.vocabulary import JSONObject

NOW = 1_800_000_000.0


def wire_item(
    properties: JSONObject, *, name: str = "codeweaver_search", at: float = NOW
) -> JSONObject:
    session = str(uuid.uuid4())
    return OutboundEvent(name, session, properties, at).to_json(str(uuid.uuid4()))


def fresh_items(count: int) -> list[JSONObject]:
    return [wire_item({"n": index, "mode": "hybrid"}) for index in range(count)]


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    return tmp_path / "state dir ü" / "spool"  # spaces and non-ASCII on the way


def spool_at(directory: Path, **limits: float) -> Spool:
    return Spool(str(directory), limits=SpoolLimits(**limits), clock=lambda: NOW)  # type: ignore[arg-type]


def drained(spool: Spool, *, rounds: int = 200) -> list[JSONObject]:
    got: list[JSONObject] = []
    for _ in range(rounds):
        claimed = spool.claim(50)
        if claimed is None:
            return got
        got += claimed.items
        claimed.delivered()
    return got


def plant_segment(directory: Path, lines: list[bytes], *, count: int | None = None) -> Path:
    """A segment written by someone else (malware, another tool) under a valid name."""
    token = f"1-{'b' * 16}"
    ms = int(NOW * 1000)
    path = directory / f"v1.{ms}.{ms}.{len(lines) if count is None else count}.{token}.ready"
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    path.chmod(0o600)
    return path


LEAKING = {
    "file": "/home/alice/projects/secret-merger/plan.py",
    "email": "alice@example.com",
    "note": "password=hunter2",
}


# --- spool: only wire-checked events, in and out --------------------------------------------


def test_the_spool_never_writes_an_item_that_fails_the_wire_check(directory: Path) -> None:
    """Issue 11: 'Only events that passed the wire check are ever written'. The spool's own
    shape check let any JSON through: a path, an e-mail address and a secret were written
    to disk in clear text (and then sent by the next process)."""
    spool = spool_at(directory)
    spool.append([wire_item(dict(LEAKING))])
    spool.close()
    files = list(directory.iterdir()) if directory.exists() else []
    on_disk = b"".join(path.read_bytes() for path in files if path.is_file())
    assert b"alice" not in on_disk
    assert b"hunter2" not in on_disk


def test_a_planted_segment_of_leaking_items_is_never_handed_out_for_sending(
    directory: Path,
) -> None:
    """The spool is input from disk: a segment planted in the state directory (or written by
    a buggy version) with well-shaped items that carry a path, an e-mail address or a
    non-label event name was handed to the delivery worker as it was, to be sent."""
    spool = spool_at(directory)
    spool.append(fresh_items(1))
    spool.close()
    planted = [
        json.dumps(wire_item(dict(LEAKING))).encode(),
        json.dumps(wire_item({"n": 1}, name="see /home/alice/x.py")).encode(),
        json.dumps({**wire_item({"n": 1}), "distinct_id": "alice@example.com"}).encode(),
    ]
    plant_segment(directory, planted)
    sent = json.dumps(drained(spool_at(directory)))
    assert "alice" not in sent
    assert "hunter2" not in sent


def test_events_that_passed_the_wire_check_still_round_trip(directory: Path) -> None:
    """The re-check on the way in and out keeps every event the client really sends."""
    sink = InMemorySink()
    client = telemetry_client_for_tests(sink, tools_over_privacy=True)
    client.start_session({"version": "1.2.3"})
    client.capture("codeweaver_search", {"mode": "hybrid", "n": 3, "ok": True})
    client.end_session()
    client.shutdown()
    items = list(sink.wire_items)
    assert len(items) == 2
    spool = Spool(str(directory))
    assert spool.append(items) == {}
    spool.close()
    back = drained(Spool(str(directory)))
    assert back == items


# --- spool: what a listing believes --------------------------------------------------------


def test_a_directory_planted_under_a_segment_name_does_not_fill_the_spool_for_ever(
    directory: Path,
) -> None:
    """A directory named like a ready segment claiming 999,999,999 events is left alone (it
    cannot be claimed), but its name's count was added to every bound check: the spool
    thought itself full for good and dropped every later append as SPOOL_FULL."""
    spool_at(directory).append(fresh_items(1))
    planted = directory / f"v1.0.0.999999999.1-{'c' * 16}.ready"
    planted.mkdir()
    spool = spool_at(directory)
    losses = spool.append(fresh_items(5))
    assert LossReason.SPOOL_FULL not in losses
    assert len(drained(spool)) == 6
    assert planted.is_dir()


def test_a_name_cannot_make_status_or_losses_say_more_than_a_file_can_hold(
    directory: Path,
) -> None:
    """A tiny file (or a link, a FIFO) named as holding 999,999,999 events made ``status``
    report that many waiting, and its removal counted that many losses into the session
    event: counts a planted name chooses."""
    spool_at(directory).append(fresh_items(2))
    plant_segment(directory, [b"{}"], count=999_999_999)
    os.symlink("/dev/zero", directory / f"v1.1.1.888888888.1-{'d' * 16}.ready")
    spool = spool_at(directory)
    assert spool.status().waiting < 1000
    claimed = spool.claim(100)
    assert claimed is not None
    assert sum(claimed.losses.values()) < 1000
    assert sum(spool.take_losses().values()) < 1000


def test_junk_entries_in_the_directory_do_not_blind_the_spool(
    directory: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A listing looks at MAX_ENTRIES entries, and counted files of any name toward it: a
    directory holding that many files of other names (another version's, junk planted
    there) hid the spool's own segments from every claim, bound and status: events written
    were never delivered, and the bounds never held (the spool grew without limit)."""
    monkeypatch.setattr(spool_module, "MAX_ENTRIES", 8)
    spool = spool_at(directory, max_events=20)
    spool.append(fresh_items(1))
    for index in range(100):
        (directory / f"junk-{index}").write_bytes(b"")
    for _ in range(10):
        spool.append(fresh_items(3))
        spool.close()
    status = spool.status()
    assert status.waiting == 20
    assert len(drained(spool_at(directory))) == 20


def test_an_opt_out_deletes_the_spool_whatever_else_the_directory_holds(
    directory: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``delete_all`` (what ``disable`` calls) listed MAX_ENTRIES entries only: past that,
    segments stayed on disk and the directory with them, though the user opted out."""
    monkeypatch.setattr(spool_module, "MAX_ENTRIES", 8)
    spool = spool_at(directory)
    spool.append(fresh_items(1))
    for index in range(300):
        (directory / f"junk-{index}").write_bytes(b"")
    for _ in range(5):
        spool.append(fresh_items(2))
        spool.close()
    spool.delete_all()
    assert not directory.exists()


# --- flags -----------------------------------------------------------------------------------


class _Endpoint:
    api_key = "phc_test"
    host = "http://127.0.0.1:9"


class _FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_refresh_held_by_the_server_does_not_let_refresh_threads_pile_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A server that holds the /flags request open (a trickle of bytes keeps posthog's
    per-read timeout from firing) kept a refresh thread for ever; the gate lapsed after
    twice the request timeout and the next lookup started another, and so on: a thread and
    a connection per lapse, without bound, in a long-running host."""
    release = threading.Event()
    running = 0
    most = 0
    lock = threading.Lock()

    def held(endpoint: object, distinct_id: str, timeout: float) -> dict[str, object]:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        release.wait(10.0)
        with lock:
            running -= 1
        return {}

    monkeypatch.setattr(posthog_flags, "fetch_with_posthog", held)
    clock = _FakeClock()
    flags = PostHogFlags(_Endpoint(), budget=0.0, request_timeout=1.0, clock=clock)
    try:
        for _ in range(20):
            flags.all("anonymous")
            deadline = time.monotonic() + 2.0
            while running == 0 and time.monotonic() < deadline:
                time.sleep(0.005)
            clock.now += 3.0  # past the gate's lapse
        time.sleep(0.05)
        assert most <= 1
    finally:
        release.set()


def test_a_huge_flags_answer_is_bounded_before_it_reaches_the_host() -> None:
    """A hostile or broken /flags answer (100,000 flags, a megabyte variant, a key of a
    megabyte) reached the host whole through get_all_feature_flags and get_feature_flag."""
    flags: dict[str, dict[str, object]] = {
        f"flag_{index}": {"enabled": True} for index in range(100_000)
    }
    flags["big"] = {"enabled": True, "variant": "v" * 1_000_000}
    flags["k" * 1_000_000] = {"enabled": True}
    values = flag_values({"flags": flags})
    assert len(values) <= posthog_flags.MAX_FLAGS
    assert all(len(key) <= posthog_flags.MAX_FLAG_TEXT for key in values)
    assert all(
        not isinstance(value, str) or len(value) <= posthog_flags.MAX_FLAG_TEXT
        for value in values.values()
    )


def test_waiting_for_flags_inside_a_running_event_loop_does_not_stall_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 11: 'No call made from a running event loop blocks it for more than a few
    milliseconds'. flush and end_session do not wait there, but wait_for_flags (the client's
    and the source's) waited its whole timeout on the loop's thread with a silent server."""
    release = threading.Event()

    def held(endpoint: object, distinct_id: str, timeout: float) -> dict[str, object]:
        release.wait(10.0)
        return {}

    monkeypatch.setattr(posthog_flags, "fetch_with_posthog", held)
    flags = PostHogFlags(_Endpoint(), budget=0.0, request_timeout=5.0)

    async def on_the_loop() -> tuple[bool, float]:
        started = time.monotonic()
        arrived = flags.wait_for_values(3.0, "anonymous")
        return arrived, time.monotonic() - started

    try:
        arrived, waited = asyncio.run(on_the_loop())
        assert not arrived
        assert waited < 1.0  # "does not wait its 3 s"; a stall of a few ms is the target
    finally:
        release.set()


# --- host test kit ---------------------------------------------------------------------------


def test_captures_that_overlap_restore_the_process_client_not_a_shut_down_one() -> None:
    """Two captures that end out of order (two threads of a parallel test runner, or a
    fixture and a helper each using ``capture_telemetry``): the second put back the first's
    test client, already shut down, as the process client for every later test."""
    original = telemetry_client_for_tests(InMemorySink())
    before = set_telemetry_client(original)
    try:
        first = capture_telemetry()
        second = capture_telemetry()
        first.__enter__()
        second.__enter__()
        first.__exit__(None, None, None)
        second.__exit__(None, None, None)
        assert get_telemetry_client() is original
    finally:
        set_telemetry_client(before)
        original.shutdown()


@pytest.fixture
def no_process_client() -> Iterator[None]:
    before = set_telemetry_client(None)
    try:
        yield
    finally:
        set_telemetry_client(before)


def test_overlapping_captures_in_threads_leave_no_test_client_behind(
    no_process_client: None,
) -> None:
    """The same in real threads: after both end, no test client is left as the process
    client (the next get_telemetry_client builds one from the configuration)."""
    entered = threading.Barrier(2, timeout=5.0)
    first_out = threading.Event()

    def first() -> None:
        with capture_telemetry():
            entered.wait()
            entered.wait()  # the second has entered too
        first_out.set()

    def second() -> None:
        entered.wait()
        with capture_telemetry():
            entered.wait()
            first_out.wait(5.0)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10.0)
    assert not any(thread.is_alive() for thread in threads)
    assert set_telemetry_client(None) is None


def test_a_spool_dropped_after_a_failed_write_frees_its_segment_at_once(
    directory: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failed write (a full disk) kept its OSError with the traceback, whose frames held
    the error again: a cycle that kept the dropped spool, its open segment and the segment's
    lock alive until the garbage collector ran, so no other spool of the process (a second
    client's, the next test's) could claim what it had written. Found by the spool's
    property test (slow suite), which failed on main with this sequence."""
    spool = spool_at(directory)
    spool.append(fresh_items(1))
    real_write = os.write
    calls = 0

    def full_once(descriptor: int, data: bytes) -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise OSError(28, "No space left on device")
        return real_write(descriptor, data)

    gc.disable()
    try:
        with monkeypatch.context() as patch:
            patch.setattr(os, "write", full_once)
            assert spool.append(fresh_items(1)) == {LossReason.OUTAGE: 1}
        del spool
        assert len(drained(spool_at(directory))) == 1
    finally:
        gc.enable()


# --- client (fixes in client.py, which this branch does not own) ----------------------------


def test_a_client_the_host_dropped_is_not_kept_alive_by_its_exit_hook() -> None:
    client = telemetry_client_for_tests(InMemorySink())
    client.capture("codeweaver_search", {"n": 1})
    reference = weakref.ref(client)
    del client
    gc.collect()
    assert reference() is None


class _RefusingOnce(InMemorySink):
    """A sink whose buffer is full for the first session event (an outage at its end)."""

    def __init__(self) -> None:
        super().__init__()
        self.refused = 0

    def emit(self, event: OutboundEvent) -> Accepted:
        if event.event.endswith("_session") and not self.refused:
            self.refused += 1
            return Accepted.DROPPED_FULL
        return super().emit(event)


def test_a_session_event_the_sink_refused_keeps_the_tally_for_the_next_one() -> None:
    sink = _RefusingOnce()
    client = telemetry_client_for_tests(sink)
    for _ in range(3):
        client.capture_search_event(
            dataclasses.replace(empty_summary(), status=SearchStatus.SUCCESS, token_count=5),
            query="where is auth",
            intent_type=IntentType.UNDERSTAND,
            strategies=[],
            execution_time_ms=20.0,
        )
    client.capture_session_event()  # refused: the buffer is full
    client.capture_session_event()
    client.shutdown()
    (session,) = [item for item in sink.wire_items if str(item["event"]).endswith("_session")]
    properties = session["properties"]
    assert isinstance(properties, dict)
    assert properties["telemetry_events_lost"] == {"buffer_full": 1}
    assert properties["requests_total"] == 3


def test_an_interrupt_while_the_session_event_is_built_loses_no_loss_counts() -> None:
    # Every point of the client's own code (the core's, which it calls, is pure: an
    # interrupt there ends the build before anything is taken or sent).
    counts = _outages_reported_when_interrupted_in(CLIENT_FILE, at_most=400)
    assert counts == dict.fromkeys(counts, 5)


def test_an_interrupt_inside_the_sink_during_the_session_event_never_loses_a_count() -> None:
    """A sink's losses are totals the client reads (it keeps what it has reported), so no
    interrupt inside the sink can lose them (``take_losses`` swapped them out, then returned
    them: an interrupt at its return lost them). What remains: an interrupt in the instant
    after the sink queued the event, before ``emit`` returns, makes a taken event look
    refused, and its counts are reported again by the next session event: twice, not lost."""
    counts = _outages_reported_when_interrupted_in(SINK_FILE, at_most=100)
    assert set(counts.values()) <= {5, 10}
    assert list(counts.values()).count(5) > len(counts) // 2


CLIENT_FILE = (
    str(PACKAGE / "adapters" / "client.py"),
    os.path.join("codeweaver_telemetry", "adapters", "client.py"),
)
SINK_FILE = (
    str(PACKAGE / "adapters" / "testing.py"),
    os.path.join("codeweaver_telemetry", "adapters", "testing.py"),
)


def _outages_reported_when_interrupted_in(files: tuple[str, ...], at_most: int) -> dict[str, int]:
    """The outage count that session events report (5 were recorded) after an interrupt at
    each point of ``files`` in turn while the first one is captured, by where it landed."""

    def client_with_losses() -> tuple[InMemorySink, TelemetryClient]:
        sink = InMemorySink()
        client = telemetry_client_for_tests(sink)
        client.capture("codeweaver_search", {"n": 1})
        sink.record_loss(LossReason.OUTAGE, 5)
        return sink, client

    _, client = client_with_losses()
    points = line_events_of(client.capture_session_event, files)
    assert 0 < points <= at_most
    counts = {}
    for nth in range(1, points + 1):
        sink, client = client_with_losses()
        where = interrupted(client.capture_session_event, nth, files).where
        client.capture_session_event()
        counts[where] = _outage_reported(sink)
        client.shutdown()
    return counts


def _outage_reported(sink: InMemorySink) -> int:
    total = 0
    for item in sink.wire_items:
        properties = item["properties"]
        lost = properties.get("telemetry_events_lost") if isinstance(properties, dict) else None
        outage = lost.get("outage") if isinstance(lost, dict) else None
        total += outage if isinstance(outage, int) else 0
    return total


def test_an_interrupted_first_capture_does_not_stall_and_drop_other_threads_captures() -> None:
    def fresh() -> tuple[InMemorySink, TelemetryClient]:
        sink = InMemorySink()
        client = TelemetryClient(
            telemetry_client_for_tests(InMemorySink()).settings,
            policy=OnFirstUse(lambda: PrivacyPolicy(hash_key=bytes(32))),
            sink=OnFirstUse(lambda: sink),
        )
        return sink, client

    dropped_at = []
    for nth in range(1, 41):  # the making starts within the first line events of a capture
        sink, client = fresh()
        interrupted(lambda: client.capture("codeweaver_search", {"n": 1}), nth)  # noqa: B023
        other = threading.Thread(target=client.capture, args=("codeweaver_search", {"n": 2}))
        other.start()
        other.join(10.0)
        assert not other.is_alive()
        if not any(event.properties.get("n") == 2 for event in sink.events):
            dropped_at.append(nth)
        client.shutdown()
    assert dropped_at == []


def test_what_many_short_runs_spooled_comes_back_in_full_batches(directory: Path) -> None:
    for _ in range(20):  # twenty short CLI runs offline, three events each
        run = spool_at(directory)
        run.append(fresh_items(3))
        run.close()
    # A claim takes one run's segment; the worker fills one batch from as many as it takes.
    from delivery_doubles import ScriptedExporter

    from codeweaver_telemetry.adapters.batching import BatchingWorker

    exporter = ScriptedExporter()
    worker = BatchingWorker(
        exporter, batch_size=1, batch_interval=60.0, max_buffered=100, spool=spool_at(directory)
    )
    worker.emit(OutboundEvent("codeweaver_search", str(uuid.uuid4()), {"n": 1}, time.time()))
    deadline = time.monotonic() + 5.0
    while sum(len(batch) for _, batch in exporter.exports) < 61 and time.monotonic() < deadline:
        time.sleep(0.01)  # the worker claims what earlier runs spooled once the host answers
    worker.close(5.0)
    batch_sizes = sorted(len(batch) for _, batch in exporter.exports)
    assert batch_sizes == [1, 60]  # this run's event, and the twenty runs' in one request
    assert spool_at(directory).claim(100) is None


def _opted_in_search_event() -> JSONObject:
    sink = InMemorySink()
    client = telemetry_client_for_tests(sink, tools_over_privacy=True)
    client.capture_search_event(
        dataclasses.replace(empty_summary(), status=SearchStatus.SUCCESS, token_count=5),
        query="where is the auth middleware configured",
        intent_type=IntentType.UNDERSTAND,
        strategies=[],
        execution_time_ms=20.0,
    )
    client.shutdown()
    (item,) = sink.wire_items
    properties = item["properties"]
    assert isinstance(properties, dict)
    assert properties["query_text"] == "where is the auth middleware configured"
    return item


def test_an_opted_in_search_event_waits_in_the_spool_with_its_query(directory: Path) -> None:
    """The spool's re-check must not cost the user's opted-in search events (it did, at
    first: a check without the opt-in drops the query properties)."""
    item = _opted_in_search_event()
    spool = Spool(str(directory), query_opt_in=True)
    assert spool.append([item]) == {}
    spool.close()
    assert drained(Spool(str(directory), query_opt_in=True)) == [item]


def test_withdrawing_the_query_opt_in_stops_the_spooled_query_text_too(directory: Path) -> None:
    """A user who withdraws the query opt-in (``disable --tools-over-privacy`` keeps the
    spool) still had the query text of spooled search events sent by the next process: a
    spool told the opt-in is gone hands none of them out."""
    spool = Spool(str(directory), query_opt_in=True)
    spool.append([_opted_in_search_event(), wire_item({"n": 1}, at=time.time())])
    spool.close()
    sent = drained(Spool(str(directory), query_opt_in=False))
    assert len(sent) == 1
    assert "query_text" not in json.dumps(sent)


def test_a_process_forked_during_a_capture_stays_on_the_test_client() -> None:
    """The registry forgets its clients in a forked child (so that it never shares a
    parent's), and so forgot the test client too: a host's code forked during its test (a
    multiprocessing worker) built a real client from the configuration in the child, which
    reads the user's files and may send to PostHog, though the kit promises no file or
    network access."""
    with capture_telemetry():
        installed = id(get_telemetry_client())
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: report whether it still has the test client
            try:
                same = id(get_telemetry_client()) == installed
                os.write(write, b"1" if same else b"0")
            finally:
                os._exit(0)
        os.close(write)
        try:
            answer = os.read(read, 1)
        finally:
            os.close(read)
            os.waitpid(pid, 0)
    assert answer == b"1"
