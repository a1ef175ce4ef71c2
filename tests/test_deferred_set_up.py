"""What a client given factories makes, and when: nothing at start-up, all at the first capture."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest
from host_process import host_environment, run_program

from codeweaver_telemetry.adapters import NullSink, TelemetryClient, build_client
from codeweaver_telemetry.adapters.client import OnFirstUse
from codeweaver_telemetry.adapters.flags import FlagSource, NoFlags
from codeweaver_telemetry.core import PrivacyPolicy
from codeweaver_telemetry.core.settings import RawSources, TelemetrySettings, resolve_settings
from codeweaver_telemetry.core.sink import Accepted, OutboundEvent

SETTINGS: TelemetrySettings = resolve_settings(RawSources(arguments={}, environment={})).unwrap()


class Factories:
    """Counts how often each part is made; the policy maker can be told to fail, to take a
    while, or to capture on the client itself (as a host's log handler might)."""

    def __init__(
        self, *, policy_fails: bool = False, making_takes: float = 0.0, captures: bool = False
    ) -> None:
        self.made: list[str] = []
        self.sink = NullSink(keep=True)
        self.policy_fails = policy_fails
        self.making_takes = making_takes
        self.captures = captures
        self.made_client: TelemetryClient | None = None

    def policy(self) -> PrivacyPolicy:
        self.made.append("policy")
        time.sleep(self.making_takes)
        if self.captures and self.made_client is not None:
            self.made_client.capture("from_the_maker")
        if self.policy_fails:
            raise OSError("the key file cannot be read")
        return PrivacyPolicy(hash_key=b"k" * 32)

    def make_sink(self) -> NullSink:
        self.made.append("sink")
        return self.sink

    def flags(self) -> FlagSource:
        self.made.append("flags")
        return NoFlags()

    def client(self) -> TelemetryClient:
        self.made_client = TelemetryClient(
            SETTINGS,
            policy=OnFirstUse(self.policy),
            sink=OnFirstUse(self.make_sink),
            flags=OnFirstUse(self.flags),
        )
        return self.made_client


def test_nothing_is_made_until_the_first_capture_then_everything_once() -> None:
    parts = Factories()
    client = parts.client()
    client.start_session()
    assert client.enabled
    assert parts.made == []
    client.capture("first", {"n": 1})
    client.capture("second", {"n": 2})
    assert parts.made == ["policy", "sink"]
    assert [event.event for event in parts.sink.events] == ["first", "second"]


def test_session_metadata_makes_the_parts_since_it_must_be_filtered_at_once() -> None:
    parts = Factories()
    client = parts.client()
    client.start_session({"version": "0.5.0"})
    assert parts.made == ["policy", "sink"]
    client.capture("e")
    assert parts.sink.events[0].properties["version"] == "0.5.0"


def test_flags_are_made_on_the_first_lookup_only() -> None:
    parts = Factories()
    client = parts.client()
    client.capture("e")
    assert "flags" not in parts.made
    assert client.get_feature_flag("f", default="d") == "d"
    assert client.get_all_feature_flags() == {}
    assert parts.made.count("flags") == 1


def test_a_client_shut_down_before_capturing_makes_nothing_and_counts_later_captures() -> None:
    parts = Factories()
    client = parts.client()
    client.start_session()
    report = client.shutdown()
    assert (report.delivered, report.pending) == (0, 0)
    client.capture("late")
    assert parts.made == []
    assert client.dropped == 1
    assert client.enabled  # it reflects the configuration, not the shutdown


def test_a_policy_that_cannot_be_made_drops_and_counts_every_capture() -> None:
    parts = Factories(policy_fails=True)
    client = parts.client()
    client.start_session()
    client.capture("a")
    client.capture("b")
    assert parts.made == ["policy"]  # tried once, not once per capture
    assert client.dropped == 2
    assert parts.sink.events == []
    assert client.shutdown().delivered == 0


def test_flags_are_not_made_after_shutdown() -> None:
    parts = Factories()
    client = parts.client()
    client.shutdown()
    assert client.get_feature_flag("f", default="d") == "d"
    assert "flags" not in parts.made


def test_a_callable_sink_is_a_sink_not_a_maker() -> None:
    class CallableSink(NullSink):
        def __call__(self) -> None:
            raise AssertionError("a sink is never called")

    sink = CallableSink(keep=True)
    client = TelemetryClient(SETTINGS, policy=PrivacyPolicy(hash_key=b"k" * 32), sink=sink)
    client.capture("e")
    assert [event.event for event in sink.events] == ["e"]
    assert client.dropped == 0


def test_concurrent_first_captures_make_one_sink_and_one_session() -> None:
    for _ in range(5):
        parts = Factories(making_takes=0.05)  # the others arrive while it is being made
        client = parts.client()
        barrier = threading.Barrier(8, timeout=5)

        def capture(client: TelemetryClient = client, barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            client.capture("e")

        threads = [threading.Thread(target=capture) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=5)
        assert parts.made == ["policy", "sink"]
        assert len(parts.sink.events) == 8
        assert {event.distinct_id for event in parts.sink.events} == {
            event.properties["$session_id"] for event in parts.sink.events
        }
        assert len({event.distinct_id for event in parts.sink.events}) == 1


class SlowSetUp:
    """A client whose first capture blocks in making the policy (a hung home directory, say)
    until ``release`` is set; ``entered`` says the maker has started."""

    def __init__(self) -> None:
        self.parent = os.getpid()
        self.entered = threading.Event()
        self.release = threading.Event()
        self.sink = NullSink(keep=True)
        self.client = TelemetryClient(
            SETTINGS, policy=OnFirstUse(self.policy), sink=OnFirstUse(lambda: self.sink)
        )
        self.capturing = threading.Thread(target=self.client.capture, args=("first",))
        self.capturing.start()
        assert self.entered.wait(timeout=5)

    def policy(self) -> PrivacyPolicy:
        if os.getpid() == self.parent:  # a forked child makes its own at once
            self.entered.set()
            self.release.wait(timeout=5)
        return PrivacyPolicy(hash_key=b"k" * 32)

    def finish(self) -> None:
        self.release.set()
        self.capturing.join(timeout=5)


def test_shutdown_does_not_wait_for_a_slow_first_capture() -> None:
    slow = SlowSetUp()
    slow.client.shutdown(timeout=0.1)
    still_making = slow.capturing.is_alive()  # shutdown returned while the maker blocks
    slow.finish()
    assert still_making
    assert slow.sink.events == []  # made after the shutdown: closed at once, never used
    assert slow.sink.closed
    assert slow.client.dropped == 1


@pytest.mark.slow
def test_a_child_forked_during_a_first_capture_makes_its_own_parts() -> None:
    slow = SlowSetUp()  # the parent's thread holds the lock that guards the making
    client = slow.client
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: the parent's maker does not exist here; it makes its own
        try:
            signal.alarm(10)
            client.capture("child")
            os.write(write_end, ",".join(e.event for e in slow.sink.events).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    slow.finish()
    _, status = os.waitpid(pid, 0)
    outcome = os.read(read_end, 16)
    os.close(read_end)
    assert (status, outcome) == (0, b"child")


def test_a_maker_that_captures_does_not_wait_for_itself() -> None:
    parts = Factories(captures=True)
    client = parts.client()
    client.capture("outer")
    assert [event.event for event in parts.sink.events] == ["outer"]
    assert client.dropped == 1  # the maker's own capture: nothing to capture with yet


class RefusingSink(NullSink):
    """Takes events until ``refusing`` is set; then says its buffer is full."""

    refusing = False

    def emit(self, event: OutboundEvent) -> Accepted:
        return Accepted.DROPPED_FULL if self.refusing else super().emit(event)


def test_counts_go_to_exactly_one_session_event_even_from_many_threads() -> None:
    sink = NullSink(keep=True)
    client = TelemetryClient(SETTINGS, policy=PrivacyPolicy(hash_key=b"k" * 32), sink=sink)
    for _ in range(5):
        client.capture("not a label")
    barrier = threading.Barrier(4, timeout=5)

    def report() -> None:
        barrier.wait()
        client.capture_session_event(version="1")

    threads = [threading.Thread(target=report) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=5)
    reported = [
        event.properties["telemetry_events_lost_total"]
        for event in sink.events
        if event.event == "codeweaver_session"
    ]
    assert (reported.count(5), reported.count(0)) == (1, 3)
    assert client.dropped == 0


def test_counts_a_refused_session_event_carried_are_kept_for_the_next() -> None:
    sink = RefusingSink(keep=True)
    client = TelemetryClient(SETTINGS, policy=PrivacyPolicy(hash_key=b"k" * 32), sink=sink)
    client.start_session()
    client.capture("not a label")
    sink.refusing = True
    client.end_session(version="1")
    assert client.dropped == 2  # its own drop, and the session event that was refused
    sink.refusing = False
    client.end_session(version="1")  # not sent yet: end_session tries again
    sessions = [event for event in sink.events if event.event == "codeweaver_session"]
    assert [event.properties["telemetry_events_lost_total"] for event in sessions] == [2]


def test_a_client_stays_shut_down_in_a_forked_child() -> None:
    parts = Factories()
    client = parts.client()
    client.capture("before")
    client.shutdown()
    client.after_fork_in_child()  # what the fork hook does in a child
    client.capture("after")
    assert [event.event for event in parts.sink.events] == ["before"]
    assert client.dropped == 1


def test_a_client_subclass_that_is_not_hashable_still_works() -> None:
    class Compared(TelemetryClient):  # noqa: PLW1641 - unhashable, on purpose
        def __eq__(self, other: object) -> bool:
            return other is self

    sink = NullSink(keep=True)
    client = Compared(SETTINGS, policy=PrivacyPolicy(hash_key=b"k" * 32), sink=sink)
    client.capture("e")
    assert [event.event for event in sink.events] == ["e"]


def test_the_directory_at_start_up_stays_protected_after_a_change_of_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repository = tmp_path / "acme-secret-repo"
    (repository / ".git").mkdir(parents=True)
    monkeypatch.chdir(repository)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    client = build_client({"sink": "null"})
    monkeypatch.chdir(tmp_path)  # a daemon changes directory before it captures
    steps = client._capture_steps()
    assert steps is not None
    assert "acme-secret-repo" in steps.policy.literal_tokens


STARTUP_PROBE = """
import json, os, sys, threading, time
from codeweaver_telemetry.adapters import get_telemetry_client

def state():
    return {
        "threads": sorted(t.name for t in threading.enumerate()),
        "core_loaded": "codeweaver_telemetry.core.serializer" in sys.modules,
        "posthog": "posthog" in sys.modules,
        "key_file": os.path.exists(KEY_FILE),
    }

client = get_telemetry_client()
client.start_session()
after_start = state()
client.capture("codeweaver_search", {"intent": "UNDERSTAND"})
after_capture = state()
# The delivery thread is started in C, and names itself once it runs.
for _ in range(500):
    if "codeweaver-telemetry-delivery" in after_capture["threads"]:
        break
    time.sleep(0.01)
    after_capture["threads"] = state()["threads"]
print(json.dumps({"enabled": client.enabled, "start": after_start, "capture": after_capture}))
"""


@pytest.mark.slow
def test_start_up_loads_no_core_starts_no_thread_and_reads_no_key(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    key_file = home / "state" / "codeweaver" / "telemetry-hash-key"  # see host_environment
    environment = host_environment(
        home,
        CODEWEAVER__TELEMETRY__POSTHOG_API_KEY="phc_test",
        CODEWEAVER__TELEMETRY__POSTHOG_HOST="http://127.0.0.1:9",
        CODEWEAVER__TELEMETRY__SHUTDOWN_BUDGET_SECONDS="0.2",
    )
    program = STARTUP_PROBE.replace("KEY_FILE", repr(str(key_file)))
    outcome = json.loads(run_program(program, tmp_path, environment))
    assert outcome["enabled"] is True
    assert outcome["start"] == {
        "threads": ["MainThread"],
        "core_loaded": False,
        "posthog": False,
        "key_file": False,
    }
    assert outcome["capture"]["core_loaded"] is True
    assert outcome["capture"]["key_file"] is True
    assert "codeweaver-telemetry-delivery" in outcome["capture"]["threads"]
