"""The client's lifecycle: one budget per process, an exit hook for every client with a sink,
``flush`` for workers that end with ``os._exit``, asyncio, and interrupts that strand nothing."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from fake_posthog import FakePostHog
from host_process import host_environment, run_program
from interrupts import LIBRARY_FILES, interrupted, line_events_of

from codeweaver_telemetry.adapters import NullSink, TelemetryClient
from codeweaver_telemetry.adapters.client import PROCESS_BUDGET, OnFirstUse
from codeweaver_telemetry.core import PrivacyPolicy
from codeweaver_telemetry.core.settings import RawSources, TelemetrySettings, resolve_settings
from codeweaver_telemetry.core.sink import DeliveryReport

POLICY = PrivacyPolicy(hash_key=b"k" * 32)
ADAPTERS = str(Path(__file__).resolve().parent.parent / "adapters")
INSTALLED_ADAPTERS = os.path.join("codeweaver_telemetry", "adapters", "")


def settings(**arguments: object) -> TelemetrySettings:
    return resolve_settings(RawSources(arguments=arguments, environment={})).unwrap()


class WaitingSink(NullSink):
    """A null sink whose close and flush wait the whole timeout they are given (a silent
    host), recording each."""

    def __init__(self) -> None:
        super().__init__(keep=True)
        self.waits: list[float] = []

    def flush(self, timeout: float) -> DeliveryReport:
        self.waits.append(timeout)
        time.sleep(timeout)
        return DeliveryReport(pending=1, timed_out=True)

    def close(self, timeout: float) -> DeliveryReport:
        self.flush(timeout)
        return super().close(timeout)


@pytest.fixture(autouse=True)
def fresh_process_budget() -> Iterator[None]:
    PROCESS_BUDGET.__init__()  # type: ignore[misc]
    yield
    PROCESS_BUDGET.__init__()  # type: ignore[misc]


def test_two_clients_in_one_process_wait_one_budget_between_them() -> None:
    # Why: "a child that uses the inherited client and a new one spends two budgets (4 s)".
    sinks = [WaitingSink(), WaitingSink()]
    clients = [
        TelemetryClient(settings(shutdown_budget_seconds=0.3), policy=POLICY, sink=sink)
        for sink in sinks
    ]
    for client in clients:
        client.capture("e")
    started = time.monotonic()
    for client in clients:
        client.shutdown()
    elapsed = time.monotonic() - started
    assert sinks[0].waits[0] == pytest.approx(0.3, abs=0.05)
    assert sinks[1].waits[0] < 0.05  # the first one spent the process's budget
    assert elapsed < 0.6


def test_a_forked_child_has_a_budget_of_its_own() -> None:
    if not hasattr(os, "fork"):
        pytest.skip("no fork on this platform")  # pragma: no cover
    PROCESS_BUDGET.spend(100.0)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(read)
        os.write(write, str(PROCESS_BUDGET.left(2.0)).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child_left = float(pipe.read())
    os.waitpid(pid, 0)
    assert child_left == 2.0
    assert PROCESS_BUDGET.left(2.0) == 0.0


def test_a_host_grant_is_its_own_and_not_taken_from_the_budget() -> None:
    sink = WaitingSink()
    client = TelemetryClient(settings(shutdown_budget_seconds=5.0), policy=POLICY, sink=sink)
    client.capture("e")
    client.flush(0.05)
    assert sink.waits == [0.05]
    assert PROCESS_BUDGET.left(5.0) == 5.0


@pytest.mark.parametrize("timeout", [10**400, -(10**400), 1e308, float("inf")])
def test_a_huge_timeout_is_the_longest_wait_there_is_not_an_overflow(timeout: float) -> None:
    # Why: "shutdown(timeout=10**400) (OverflowError)".
    sink = NullSink(keep=True)
    client = TelemetryClient(settings(), policy=POLICY, sink=sink)
    client.capture("e")
    assert client.flush(timeout) == DeliveryReport()
    assert client.shutdown(timeout) == DeliveryReport()
    assert sink.closed


def test_a_timeout_of_an_int_subclass_is_not_the_hosts_code_run() -> None:
    class Hostile(int):
        def __lt__(self, other: object) -> bool:
            raise RuntimeError("host code")

        __gt__ = __le__ = __ge__ = __lt__

    sink = WaitingSink()
    client = TelemetryClient(settings(shutdown_budget_seconds=0.01), policy=POLICY, sink=sink)
    client.capture("e")
    client.shutdown(Hostile(5))  # ignored: the budget applies
    assert sink.waits == [pytest.approx(0.01, abs=0.01)]


def test_a_first_capture_near_the_recursion_limit_does_not_fail_set_up_for_good() -> None:
    # Why: "a first capture made near the recursion limit (RecursionError, and set-up marked
    # failed for good)".
    sink = NullSink(keep=True)

    def policy() -> PrivacyPolicy:
        return POLICY

    client = TelemetryClient(settings(), policy=OnFirstUse(policy), sink=sink)

    def deep(levels: int) -> None:
        if levels:
            deep(levels - 1)
        else:
            client.capture("near_the_limit")

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(200)
    try:
        for depth in range(150, 200, 5):  # one of them lands in the making, whatever it costs
            with contextlib.suppress(RecursionError):
                deep(depth)
    finally:
        sys.setrecursionlimit(limit)
    client.capture("later")
    assert [event.event for event in sink.events][-1] == "later"


def test_every_client_with_a_sink_delivers_at_exit_however_it_was_built(tmp_path: Path) -> None:
    # Why: "build_client() registers no exit hook, so its events are lost even with a healthy
    # host".
    program = """
from codeweaver_telemetry.adapters import build_client
client = build_client()
for number in range(3):
    client.capture("built_by_hand", {"number": number})
"""
    with FakePostHog(lifetime_seconds=60) as server:
        environment = host_environment(
            tmp_path,
            CODEWEAVER__TELEMETRY__POSTHOG_API_KEY="phc_test",
            CODEWEAVER__TELEMETRY__POSTHOG_HOST=server.host,
        )
        run_program(program, tmp_path, environment)
        assert server.wait_for_events(3, timeout=5)
        assert {str(event["event"]) for event in server.events()} == {"built_by_hand"}


def test_a_multiprocessing_worker_that_flushes_delivers(tmp_path: Path) -> None:
    # Why: "multiprocessing children (which end with os._exit) lose every event".
    program = """
import multiprocessing
from codeweaver_telemetry.adapters import get_telemetry_client

def work(number):
    client = get_telemetry_client()
    client.capture("worker_job", {"number": number})
    return client.flush(5).delivered

if __name__ == "__main__":
    get_telemetry_client().capture("parent_job")  # the parent's client exists at the fork
    with multiprocessing.get_context("fork").Pool(2) as pool:
        print(sum(pool.map(work, range(4))))
"""
    with FakePostHog(lifetime_seconds=60) as server:
        environment = host_environment(
            tmp_path,
            CODEWEAVER__TELEMETRY__POSTHOG_API_KEY="phc_test",
            CODEWEAVER__TELEMETRY__POSTHOG_HOST=server.host,
        )
        script = tmp_path / "pool_host.py"
        script.write_text(program)
        run_program(
            f"import runpy; runpy.run_path({str(script)!r}, run_name='__main__')",
            tmp_path,
            environment,
        )
        assert server.wait_for_events(5, timeout=10)
        names = sorted(str(event["event"]) for event in server.events())
    assert names.count("worker_job") == 4
    assert names.count("parent_job") == 1


class StallMeter:
    """The longest gap between ticks of a task that asks to run every millisecond."""

    def __init__(self) -> None:
        self.longest = 0.0
        self._running = True

    async def run(self) -> None:
        last = time.monotonic()
        while self._running:
            await asyncio.sleep(0.001)
            now = time.monotonic()
            self.longest = max(self.longest, now - last)
            last = now

    def stop(self) -> None:
        self._running = False


def test_waiting_calls_made_inside_a_running_loop_do_not_stall_it() -> None:
    # Why: "inside a running loop ... end_session() 2,008 ms".
    sink = WaitingSink()
    client = TelemetryClient(settings(shutdown_budget_seconds=0.5), policy=POLICY, sink=sink)

    async def host() -> float:
        meter = StallMeter()
        ticking = asyncio.ensure_future(meter.run())
        await asyncio.sleep(0.01)
        client.start_session()
        client.capture("e")
        client.end_session()
        client.flush()
        client.shutdown()
        await asyncio.sleep(0.01)
        meter.stop()
        await ticking
        return meter.longest

    longest = asyncio.run(host())
    assert sink.waits == [0.0, 0.0, 0.0]
    assert longest < 0.2  # the budget is 0.5 s: no wait happened on the loop


def test_the_awaitable_forms_wait_in_a_thread_while_the_loop_runs() -> None:
    sink = WaitingSink()
    client = TelemetryClient(settings(shutdown_budget_seconds=0.3), policy=POLICY, sink=sink)

    async def host() -> tuple[float, list[str]]:
        meter = StallMeter()
        ticking = asyncio.ensure_future(meter.run())
        async with client:
            client.capture("inside")
        await client.aflush(0.1)
        meter.stop()
        await ticking
        return meter.longest, [event.event for event in sink.events]

    longest, names = asyncio.run(host())
    assert sink.waits[0] == pytest.approx(0.3, abs=0.05)  # aend_session waited the budget
    assert sink.waits[1] == pytest.approx(0.1, abs=0.01)
    assert names == ["inside", "codeweaver_session"]
    assert longest < 0.2


# --- interrupts --------------------------------------------------------------------------


def interrupted_client() -> tuple[TelemetryClient, NullSink]:
    sink = NullSink(keep=True)

    def policy() -> PrivacyPolicy:
        return POLICY

    def make_sink() -> NullSink:
        return sink

    client = TelemetryClient(
        settings(shutdown_budget_seconds=0.2),
        policy=OnFirstUse(policy),
        sink=OnFirstUse(make_sink),
    )
    return client, sink


def run_bounded(call: Any, seconds: float = 5.0) -> bool:
    """Whether ``call`` returned within ``seconds`` (in a daemon thread, so a hang fails the
    test instead of the suite)."""
    done = threading.Event()

    def target() -> None:
        call()
        done.set()

    threading.Thread(target=target, daemon=True).start()
    return done.wait(seconds)


def _first_capture_then_session(client: TelemetryClient) -> None:
    client.start_session({"version": "1.0.0"})
    client.capture("first", {"count": 1})
    with client.context(tool="search"):
        client.capture("second")
    client.end_session()


ADAPTER_FILES = tuple(place for place in LIBRARY_FILES if "adapters" in place)


@pytest.mark.parametrize(
    "files",
    [
        pytest.param(ADAPTER_FILES, id="adapters"),
        pytest.param(LIBRARY_FILES, id="adapters-and-core", marks=pytest.mark.slow),
    ],
)
def test_an_interrupt_at_any_line_of_a_capture_propagates_and_strands_nothing(
    files: tuple[str, ...],
) -> None:
    # Why: "A KeyboardInterrupt landing just after the sink's lock is taken ... leaves it held:
    # every later capture and the exit hook block ... An interrupt during the first capture
    # was swallowed and set-up then failed for good." Injected at every line, one run each;
    # ``interrupted`` fails the test when an interrupt is swallowed. (The core holds no lock,
    # but an interrupt there must propagate all the same.)
    _first_capture_then_session(interrupted_client()[0])  # caches warm, as in every later run
    counted = interrupted_client()[0]
    lines = line_events_of(lambda: _first_capture_then_session(counted), files)
    assert lines > 50
    fired = 0
    for nth in range(1, lines + 1):
        client, sink = interrupted_client()
        # (in a context of its own: an interrupt inside ``context()`` may leave its tags set)
        run = functools.partial(_first_capture_then_session, client)
        interrupter = contextvars.copy_context().run(interrupted, run, nth, files)
        if not interrupter.fired:  # (a run may pass a few lines fewer: a cache hit)
            continue
        fired += 1
        before = len(sink.events)
        for thread in ("this", "another"):  # another thread, for a lock the interrupt held
            capture = functools.partial(client.capture, "after", {"thread": thread})
            assert run_bounded(capture) if thread == "another" else capture() is None
        assert len(sink.events) == before + 2, interrupter.where  # set-up not failed for good
        assert run_bounded(client.shutdown), interrupter.where
        assert sink.closed, interrupter.where
    assert fired >= lines * 0.99  # every line was tried


@pytest.mark.parametrize(
    ("variable", "value", "deleted"),
    [
        ("DO_NOT_TRACK", "1", True),
        ("CODEWEAVER__TELEMETRY__DISABLE_TELEMETRY", "true", True),
        ("CODEWEAVER__TELEMETRY__SINK", "null", False),  # still on: the spool waits
    ],
)
def test_the_users_opt_out_deletes_the_spool(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, variable: str, value: str, deleted: bool
) -> None:
    # Why (what to build): "An opt-out deletes the spool."
    from codeweaver_telemetry.adapters import build_client
    from codeweaver_telemetry.adapters.directories import spool_directory
    from codeweaver_telemetry.adapters.spool import Spool
    from codeweaver_telemetry.core.sink import OutboundEvent

    for name in list(os.environ):
        if "CODEWEAVER" in name or name == "DO_NOT_TRACK":
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    directory = spool_directory()
    assert directory is not None
    spool = Spool(directory)
    assert not spool.append([OutboundEvent("e", "d", {}, time.time()).to_json(str(uuid4()))])
    spool.close()
    monkeypatch.setenv(variable, value)
    build_client()
    assert os.path.exists(directory) is not deleted
