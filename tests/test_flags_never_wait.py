"""Flag lookups never wait on the caller's thread: not on a running event loop with a silent
host, not after a Ctrl-C landed anywhere in them, not in a forked child whose parent had a
refresh under way."""

from __future__ import annotations

import asyncio
import functools
import gc
import os
import signal
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

import pytest
from fake_posthog import FakePostHog, Mode
from loop_waits import eventually, longest_stall

from codeweaver_telemetry.adapters import NullSink, TelemetryClient, posthog_flags
from codeweaver_telemetry.adapters.posthog_flags import PostHogFlags
from codeweaver_telemetry.adapters.posthog_sink import Endpoint
from codeweaver_telemetry.core import PrivacyPolicy
from codeweaver_telemetry.core.settings import RawSources, resolve_settings

ANONYMOUS = "anonymous"
PATIENCE = 5.0
LONGEST_LOOP_STALL = 0.1  # generous: a lookup takes microseconds; today's main stalls 0.5 s


@pytest.fixture
def server() -> Iterator[FakePostHog]:
    with FakePostHog(flags={"new_reranker": "test"}, lifetime_seconds=60) as fake:
        yield fake


def endpoint(server: FakePostHog) -> Endpoint:
    return Endpoint("phc_test", server.host, 10, 60.0, 100)


def returns_within(seconds: float, call: Callable[[], object]) -> bool:
    """Whether ``call`` returns within ``seconds``, on a daemon thread so that a call stuck
    on a stranded lock fails the test instead of hanging it."""
    finished = threading.Event()

    def run() -> None:
        call()
        finished.set()

    threading.Thread(target=run, daemon=True).start()
    return finished.wait(seconds)


def client_with_flags(server: FakePostHog) -> TelemetryClient:
    """A client whose flags come from ``server``, with the default settings."""
    settings = resolve_settings(RawSources(arguments={}, environment={})).unwrap()
    return TelemetryClient(
        settings,
        policy=PrivacyPolicy(hash_key=b"k" * 32),
        sink=NullSink(),
        flags=PostHogFlags(endpoint(server), budget=0.5),
    )


def test_a_silent_host_never_stalls_a_running_event_loop(server: FakePostHog) -> None:
    """Issue 11, asyncio: "the first get_feature_flag stalls the loop 504 ms with a silent
    host"."""
    server.mode = Mode.SILENT
    telemetry = client_with_flags(server)

    def look_up() -> None:
        assert telemetry.get_feature_flag("new_reranker", default="control") == "control"
        assert telemetry.get_all_feature_flags() == {}

    assert asyncio.run(longest_stall(look_up, 100)) < LONGEST_LOOP_STALL
    assert server.wait_for_requests(1, PATIENCE)
    assert server.flag_requests() == 1


class InterruptAtLine:
    """A ``sys.settrace`` hook that raises KeyboardInterrupt at the ``at``-th line event of
    posthog_flags.py (as a Ctrl-C would, between any two lines), or only counts them."""

    def __init__(self, at: int | None = None) -> None:
        self.at = at
        self.lines = 0

    def __call__(self, frame: FrameType, event: str, arg: Any) -> Any:
        if frame.f_code.co_filename != posthog_flags.__file__:
            return None
        return self.on_line

    def on_line(self, frame: FrameType, event: str, arg: Any) -> Any:
        if event == "line":
            self.lines += 1
            if self.lines == self.at:
                raise KeyboardInterrupt
        return self.on_line


def traced(hook: InterruptAtLine, call: Callable[[], object]) -> None:
    previous = sys.gettrace()
    sys.settrace(hook)
    try:
        call()
    finally:
        sys.settrace(previous)


@pytest.mark.parametrize("what", ["first lookup", "wait for values"])
def test_an_interrupt_anywhere_propagates_and_strands_nothing(
    server: FakePostHog, what: str
) -> None:
    """Issue 11, Ctrl-C: a KeyboardInterrupt between any two lines of a lookup or a wait
    reaches the host, and later lookups return at once and still get the values."""

    def made() -> PostHogFlags:
        # A short request timeout, so that a refresh an interrupt kept from starting is given
        # up on within the test's patience.
        return PostHogFlags(endpoint(server), budget=0.5, request_timeout=0.5)

    def action(flags: PostHogFlags) -> Callable[[], object]:
        if what == "first lookup":
            return lambda: flags.all(ANONYMOUS)
        return lambda: flags.wait_for_values(PATIENCE, ANONYMOUS)

    counting = InterruptAtLine()
    traced(counting, action(made()))
    assert counting.lines > 10
    for at in range(1, counting.lines + 1):
        flags = made()
        with pytest.raises(KeyboardInterrupt):
            traced(InterruptAtLine(at), action(flags))
        assert returns_within(1.0, functools.partial(flags.all, ANONYMOUS)), f"line {at}"
        assert flags.wait_for_values(PATIENCE, ANONYMOUS), f"line {at}"
        assert flags.value("new_reranker", ANONYMOUS) == "test"


def test_a_real_signal_during_a_wait_propagates_and_strands_nothing(server: FakePostHog) -> None:
    server.mode = Mode.SILENT
    flags = PostHogFlags(endpoint(server), budget=0.5)

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.2)
        with pytest.raises(KeyboardInterrupt):
            flags.wait_for_values(PATIENCE, ANONYMOUS)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert returns_within(1.0, functools.partial(flags.all, ANONYMOUS))
    server.mode = Mode.HEALTHY  # the held request ends unanswered: a failed refresh
    assert server.wait_for_requests(1, PATIENCE)
    assert returns_within(1.0, functools.partial(flags.wait_for_values, 0.5, ANONYMOUS))


@pytest.mark.slow
def test_a_forked_child_starts_without_its_parents_refresh(server: FakePostHog) -> None:
    server.slow_seconds = 1.0
    server.mode = Mode.SLOW  # the parent's refresh is under way at the fork
    flags = PostHogFlags(endpoint(server), budget=0.5)
    assert flags.value("new_reranker", ANONYMOUS) is None
    # A slow answer is recorded when it is sent; its body, when it is read.
    assert eventually(lambda: len(server.raw_bodies()) == 1)
    child = os.fork()
    if child == 0:  # pragma: no cover - the child's status is the assertion
        status = 1
        try:
            # The parent's refresh thread does not exist here: waiting on its refresh would
            # never end, so the child must make its own request.
            arrived = flags.wait_for_values(PATIENCE, ANONYMOUS)
            status = 0 if arrived and flags.value("new_reranker", ANONYMOUS) == "test" else 1
        finally:
            os._exit(status)
    deadline = time.monotonic() + 3 * PATIENCE
    while (ended := os.waitpid(child, os.WNOHANG)) == (0, 0) and time.monotonic() < deadline:
        time.sleep(0.05)
    if ended == (0, 0):
        os.kill(child, 9)
        os.waitpid(child, 0)
        pytest.fail("the forked child hung")
    assert os.waitstatus_to_exitcode(ended[1]) == 0
    assert server.flag_requests() == 2
    assert flags.wait_for_values(PATIENCE, ANONYMOUS)  # the parent's own refresh still ends


def test_a_new_pid_without_fork_hooks_is_noticed(
    server: FakePostHog, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.mode = Mode.SILENT
    flags = PostHogFlags(endpoint(server), budget=0.5)
    assert flags.value("new_reranker", ANONYMOUS) is None
    assert server.wait_for_requests(1, PATIENCE)
    parent = os.getpid()
    monkeypatch.setattr(os, "getpid", lambda: parent + 1)
    assert flags.value("new_reranker", ANONYMOUS) is None
    monkeypatch.undo()
    assert server.wait_for_requests(2, PATIENCE)


def test_fork_handling_does_not_keep_the_flags_alive(server: FakePostHog) -> None:
    flags = PostHogFlags(endpoint(server), budget=0.5)
    gone = weakref.ref(flags)
    del flags
    gc.collect()
    assert gone() is None


def test_a_host_can_wait_for_the_first_values_with_a_bound(server: FakePostHog) -> None:
    telemetry = client_with_flags(server)
    assert telemetry.wait_for_flags(PATIENCE) is True
    assert telemetry.get_feature_flag("new_reranker") == "test"
    assert asyncio.run(telemetry.await_flags(PATIENCE)) is True


def test_without_remote_flags_a_wait_is_over_at_once() -> None:
    settings = resolve_settings(RawSources(arguments={}, environment={})).unwrap()
    telemetry = TelemetryClient(settings, policy=PrivacyPolicy(hash_key=b"k" * 32), sink=NullSink())
    started = time.monotonic()
    assert telemetry.wait_for_flags(10**400) is False
    assert time.monotonic() - started < 1.0
    assert TelemetryClient(None).wait_for_flags(1.0) is False
