"""A red-team review of the faster capture path and the loss totals (2026-12-01): a sink's
losses reported once each, whoever holds the sink (a forked child, a replacing client, a sink
of the older protocol), the check's payload bound and its cost for huge text, and what held
(canaries of every shape through the label fast path and the stdout sink's lines, bursts in
requests of at most 100)."""

from __future__ import annotations

import io
import json
import os
import select
import signal
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

from delivery_doubles import MemorySpool
from fake_posthog import FakePostHog, Mode

from codeweaver_telemetry.adapters import StdoutSink, set_telemetry_client
from codeweaver_telemetry.adapters.library import library_properties
from codeweaver_telemetry.adapters.posthog_sink import Endpoint, posthog_sink
from codeweaver_telemetry.adapters.testing import InMemorySink, telemetry_client_for_tests
from codeweaver_telemetry.core import PrivacyPolicy
from codeweaver_telemetry.core.sink import Accepted, DeliveryReport, LossReason, OutboundEvent
from codeweaver_telemetry.core.wire import (
    _VERDICTS_BY_LITERALS,
    MAX_LABEL_LENGTH,
    _json_size,
    checked_event,
    label_verdicts,
)

SESSION = "codeweaver_session"
SESSION_ID = "44630603-eac2-4372-a523-fa8c78c200e1"


def policy(**kwargs: Any) -> PrivacyPolicy:
    return PrivacyPolicy(hash_key=b"k" * 32, **kwargs)


def sessions(sink: InMemorySink) -> list[Mapping[str, Any]]:
    return [event.properties for event in sink.events if event.event == SESSION]


def test_the_size_bound_counts_the_librarys_own_text() -> None:
    """The check's room for ``$lib`` and ``$session_id`` was 6 bytes, whatever their text:
    a payload over ``max_payload_bytes`` passed."""
    library = library_properties(SESSION_ID, policy())
    exact = _json_size(checked_event("e", dict(library), policy()).unwrap().properties)
    result = checked_event("e", dict(library), policy(max_payload_bytes=exact - 1))
    sent = result.value_or(None)
    assert sent is None or _json_size(sent.properties) <= exact - 1, exact


class _Recording(dict[str, bool]):
    """A verdict table that records the length of every text looked up in it."""

    def __init__(self) -> None:
        super().__init__()
        self.lengths: list[int] = []

    def get(self, key: str, default: Any = None) -> Any:
        self.lengths.append(len(key))
        return super().get(key, default)


def test_a_huge_top_level_string_is_measured_before_it_is_looked_up() -> None:
    """A lookup hashes the whole text: a 50 MB value at the top (a tampered built event, any
    caller of the check) was hashed on the host's thread before its length was checked."""
    chosen = policy(sensitive_literals=frozenset({"huge-text-test"}))
    recording = _Recording()
    _VERDICTS_BY_LITERALS[chosen.literal_tokens] = recording
    try:
        assert label_verdicts(chosen.literal_tokens) is recording
        checked = checked_event("e", {"x": "x" * 5_000_000, "y": "hybrid"}, chosen).unwrap()
    finally:
        del _VERDICTS_BY_LITERALS[chosen.literal_tokens]
    assert "x" not in checked.properties
    assert checked.properties["y"] == "hybrid"
    assert recording.lengths
    assert max(recording.lengths) <= MAX_LABEL_LENGTH


CANARIES = [
    "def charge(card): return stripe.Charge.create(amount=100)",
    "/home/bob/My Documents/Q3 Payroll.xlsx",
    "%2Fhome%2Fbobby%2Fsalaries",
    "db-prod-01.internal.acme.com",
    "kåre.sjöö@acme-corp.se",
    "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8",
    "h:" + "0123456789abcdef" * 2 + "x",
    "h:zz",
    "a" * 65,
    "acme-corp/payments",
]


def test_no_canary_passes_through_the_known_label_fast_path() -> None:
    """Held: canaries as keys then as values, values then keys, nested, under two policies
    whose literals differ (a verdict of one used under the other)."""
    plain, guarded = policy(), policy(sensitive_literals=frozenset({"payrollco"}))
    checked_event("e", {"payrollco": "payrollco"}, plain)  # a label under `plain` only
    for p in (plain, guarded, plain):
        for text in [*CANARIES, "payrollco"]:
            for props in ({text: text}, {"x": text}, {"x": [text, {text: text}]}):
                out = checked_event("e", props, p).unwrap().properties
                if text == "payrollco" and p is plain:
                    continue
                assert text not in repr(out), (text, out)


def in_a_forked_child(run: Any) -> bytes:
    """What ``run()`` returns (bytes) in a forked child; bounded: 15 s, then the child (ours,
    by its id) is killed."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            signal.alarm(10)
            os.write(write, run())
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    try:
        ready, _, _ = select.select([read], [], [], 15.0)
        answer = os.read(read, 64) if ready else b"timeout"
    finally:
        os.close(read)
        deadline = time.monotonic() + 5.0
        reaped = False
        while not reaped and time.monotonic() < deadline:
            reaped = os.waitpid(pid, os.WNOHANG) != (0, 0)
            if not reaped:
                time.sleep(0.01)
        if not reaped:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    return answer


def test_a_forked_child_does_not_report_the_parents_losses_again() -> None:
    """The client forgets what it has reported in a forked child ("a forked child's sink
    starts from nothing"), but a sink need not: the InMemorySink keeps its totals as the
    child's copy, so the child's first session event reports the parent's losses a second
    time (take_losses had swapped them out in the parent)."""
    sink = InMemorySink()
    client = telemetry_client_for_tests(sink)
    client.start_session({"version": "0.5.0"})
    sink.record_loss(LossReason.OUTAGE, 2)
    client.end_session()
    assert sessions(sink)[-1]["telemetry_events_lost"] == {"outage": 2}

    def child() -> bytes:
        client.start_session({"version": "0.5.0"})
        client.end_session()
        return str(sessions(sink)[-1].get("telemetry_events_lost_total", 0)).encode()

    answer = in_a_forked_child(child)
    client.shutdown()
    assert answer == b"0", answer


def test_a_forked_child_does_not_report_the_parents_own_pending_losses() -> None:
    """(Pre-existing: fails on 170199b^ too.) The client's own losses not yet reported at the fork
    are copied into the child: parent and child each report them."""
    sink = InMemorySink()
    client = telemetry_client_for_tests(sink)
    client.start_session({"version": "0.5.0"})
    client.capture("bad name with spaces", {})  # one NOT_BUILT loss, pending

    def child() -> bytes:
        client.start_session({"version": "0.5.0"})
        client.end_session()
        return str(sessions(sink)[-1].get("telemetry_events_lost_total", 0)).encode()

    answer = in_a_forked_child(child)
    client.end_session()
    parent = sessions(sink)[-1].get("telemetry_events_lost_total", 0)
    client.shutdown()
    assert parent + int(answer) == 1, (parent, answer)


def test_a_replacing_client_on_the_same_sink_does_not_report_its_losses_again() -> None:
    """set_telemetry_client: a host replaces its client with a new one on the same sink (the
    old one is not shut down, as the registry documents). The new client starts from an empty
    "reported", and reports every loss the first one already reported."""
    sink = InMemorySink()
    first = telemetry_client_for_tests(sink)
    first.start_session({"version": "0.5.0"})
    sink.record_loss(LossReason.OUTAGE, 3)
    first.end_session()
    second = telemetry_client_for_tests(sink)
    previous = set_telemetry_client(second)
    try:
        second.start_session({"version": "0.5.0"})
        second.end_session()
    finally:
        set_telemetry_client(previous)
        second.shutdown()
        first.shutdown()
    totals = [s.get("telemetry_events_lost_total", 0) for s in sessions(sink)]
    assert sum(totals) == 3, totals


class OldProtocolSink:
    """A host's sink written to yesterday's Sink protocol (take_losses)."""

    def __init__(self) -> None:
        self.events: list[OutboundEvent] = []

    def emit(self, event: OutboundEvent) -> Accepted:
        self.events.append(event)
        return Accepted.QUEUED

    def flush(self, timeout: float) -> DeliveryReport:
        return DeliveryReport(delivered=len(self.events))

    def close(self, timeout: float) -> DeliveryReport:
        return DeliveryReport(delivered=len(self.events))

    def take_losses(self) -> Mapping[LossReason, int]:
        return {}


def test_a_sink_of_the_previous_protocol_still_gets_its_session_events() -> None:
    """A host sink without loss_totals is accepted and gets every event but the session
    event, silently (AttributeError inside the session event's try): no session statistics
    and no loss report, ever. Nothing says the sink is unusable."""
    sink = OldProtocolSink()
    client = telemetry_client_for_tests(sink)  # type: ignore[arg-type]
    client.start_session({"version": "0.5.0"})
    client.capture("thing", {"mode": "hybrid"})
    client.end_session()
    client.shutdown()
    names = [e.event for e in sink.events]
    assert "thing" in names
    assert SESSION in names, names


def test_two_threads_ending_sessions_report_each_loss_once() -> None:
    """Held: two threads sending session events at once, the sink's totals growing between
    them: every loss is reported exactly once (bounded: 50 rounds)."""

    sink = InMemorySink()
    client = telemetry_client_for_tests(sink)
    client.start_session({"version": "0.5.0"})
    barrier = threading.Barrier(2, timeout=5.0)

    def worker() -> None:
        for _ in range(50):
            sink.record_loss(LossReason.OUTAGE, 1)
            try:
                barrier.wait()
            except threading.BrokenBarrierError:
                return
            client.capture_session_event()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20.0)
    client.capture_session_event()
    client.shutdown()
    total = sum(s.get("telemetry_events_lost_total", 0) for s in sessions(sink))
    assert total == 100


def test_a_refused_session_event_gives_the_sinks_losses_back_once() -> None:
    """Held: the sink refuses the session event (closed): the taken growth goes back to the
    client's own losses, and the next accepted session event reports it once."""

    class Refusing(InMemorySink):
        refuse = True

        def emit(self, event: OutboundEvent) -> Accepted:
            if self.refuse and event.event == SESSION:
                return Accepted.DROPPED_FULL
            return super().emit(event)

    sink = Refusing()
    client = telemetry_client_for_tests(sink)
    client.start_session({"version": "0.5.0"})
    sink.record_loss(LossReason.OUTAGE, 4)
    client.end_session()
    client.end_session()
    sink.refuse = False
    client.end_session()
    client.end_session()
    client.shutdown()
    lost = [s.get("telemetry_events_lost", {}) for s in sessions(sink)]
    assert lost[0] == {"outage": 4, "buffer_full": 2}, lost
    assert all(not x for x in lost[1:]), lost


def test_stdout_lines_carry_no_canary_wherever_it_is_planted() -> None:
    """Held: canaries of every shape in metadata, tags, properties (keys and values, nested),
    a $ key colliding with a constant, through the StdoutSink's exact lines."""

    stream = io.StringIO()
    client = telemetry_client_for_tests(StdoutSink(stream=stream))
    planted = {c: c for c in CANARIES}
    client.start_session({"version": "0.5.0", **planted, "$os": CANARIES[1]})
    with client.context(**{"t" + str(i): c for i, c in enumerate(CANARIES)}):
        client.capture(
            "thing",
            {
                "$lib": CANARIES[0],
                "$session_id": CANARIES[3],
                **planted,
                "deep": [planted, {"k": list(CANARIES)}],
            },
        )
    client.end_session()
    client.shutdown()
    text = stream.getvalue()
    assert text.count("\n") >= 2
    for line in text.splitlines():
        json.loads(line)
    for canary in CANARIES:
        for part in {canary, canary[5:30]} - {"", "zz"}:
            assert part not in text, canary


def test_a_burst_goes_out_in_batches_of_at_most_100_each_event_once() -> None:
    """Held: 250 events with batch_size 10: requests of at most 100, every uuid once."""

    with FakePostHog(lifetime_seconds=60) as server:
        sink = posthog_sink(
            Endpoint("phc_test", server.host, 10, 60.0, 25_000), spool=MemorySpool()
        )
        for index in range(250):
            assert sink.emit(OutboundEvent("e", "d", {"i": index}, time.time())) is Accepted.QUEUED
        report = sink.close(timeout=10)
        assert server.wait_for_events(250, timeout=5)
        sizes = [len(batch.events) for batch in server.batches()]
        assert max(sizes) <= 100, sizes
        assert len(set(server.uuids())) == len(server.uuids()) == 250
        assert report.delivered == 250


def test_a_silent_host_with_a_backlog_batch_keeps_the_close_deadline() -> None:
    """Held: a host that never answers; a 100-event request in flight: close(2) returns in
    time, and every event is spooled or in flight, none lost uncounted."""

    with FakePostHog(lifetime_seconds=60) as server:
        server.mode = Mode.SILENT
        spool = MemorySpool()
        sink = posthog_sink(Endpoint("phc_test", server.host, 10, 60.0, 25_000), spool=spool)
        for index in range(250):
            sink.emit(OutboundEvent("e", "d", {"i": index}, time.time()))
        started = time.monotonic()
        report = sink.close(timeout=2)
        assert time.monotonic() - started < 3.0
        assert (
            report.spooled + report.pending + report.delivered + sum(sink.loss_totals().values())
            >= 250
        ), (report, sink.loss_totals())


class _EndlessTotals(Mapping[LossReason, int]):
    """A host sink's loss totals that never end, whatever ``len`` says."""

    def __getitem__(self, reason: LossReason) -> int:
        return 1

    def __len__(self) -> int:
        return 1

    def __iter__(self) -> Iterator[LossReason]:
        while True:
            yield LossReason.OUTAGE


class EndlessLossesSink(InMemorySink):
    def loss_totals(self) -> Mapping[LossReason, int]:
        return _EndlessTotals()


def test_a_sinks_endless_loss_totals_are_read_to_a_bound() -> None:
    """(Unbounded, the session event would never return: it runs on a thread, with a bound.)"""
    sink = EndlessLossesSink()
    client = telemetry_client_for_tests(sink)

    def session() -> None:
        client.start_session({"version": "0.5.0"})
        client.end_session()

    thread = threading.Thread(target=session, daemon=True)
    thread.start()
    thread.join(10.0)
    assert not thread.is_alive()
    client.shutdown()
    # (the totals were the same when the client took the sink: nothing new to report)
    assert sessions(sink)[-1]["telemetry_events_lost"] == {}
