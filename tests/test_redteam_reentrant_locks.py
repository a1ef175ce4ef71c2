"""Red team of the lifecycle (at 0396ba6): three ways a host hung for good on one of the
library's locks, taken again by a thread that already held it or inherited held by a fork.

- A host's signal handler that flushes (as a SIGTERM handler that sends telemetry does), while
  the main thread was inside the shared shutdown budget's lock: the handler waited on its own
  thread for ever (3 runs in 3).
- A handler that asks for the process-wide client while that thread is making it (26 in 30).
- A child forked while another thread held the budget's lock: the child's flush waited for
  ever on a lock whose holder it does not have (17 forks in 400).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest
from host_process import host_environment, run_program

from codeweaver_telemetry.adapters import NullSink, TelemetryClient, registry
from codeweaver_telemetry.adapters.client import PROCESS_BUDGET
from codeweaver_telemetry.core import PrivacyPolicy
from codeweaver_telemetry.core.settings import RawSources, resolve_settings

SIGNALLED_FLUSHES = """
import random, signal, time
from codeweaver_telemetry.adapters import get_telemetry_client
client = get_telemetry_client()
client.capture("e", {"n": 1})
handled = 0
def on_alarm(signum, frame):
    global handled
    handled += 1
    client.flush()
signal.signal(signal.SIGALRM, on_alarm)
started, armed_for, flushes = time.monotonic(), -1, 0
while time.monotonic() - started < 3 and flushes < 1_000_000:
    if armed_for != handled:  # one signal at a time, each at a random instant
        armed_for = handled
        signal.setitimer(signal.ITIMER_REAL, random.uniform(0.0001, 0.002))
    client.flush()
    flushes += 1
signal.setitimer(signal.ITIMER_REAL, 0)
print(handled)
"""


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="no interval timers here")
def test_a_signal_handler_that_flushes_never_waits_on_its_own_thread(tmp_path: Path) -> None:
    environment = host_environment(
        tmp_path,
        CODEWEAVER__TELEMETRY__SINK="stdout",
        CODEWEAVER__TELEMETRY__STDOUT_TARGET=str(tmp_path / "events.jsonl"),
    )
    printed = run_program(SIGNALLED_FLUSHES, tmp_path, environment)  # (bounded: 60 s)
    assert int(printed.split()[-1]) > 100  # the handler ran, and ran again


def test_asking_for_the_client_while_this_thread_makes_it_gives_an_inert_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    making = registry._configured_client
    asked: list[TelemetryClient] = []

    def interrupted(*arguments: object) -> TelemetryClient:
        asked.append(registry.get_telemetry_client("reentered"))  # a handler, mid-way
        return making(*arguments)

    monkeypatch.setattr(registry, "_configured_client", interrupted)
    made: list[TelemetryClient] = []
    thread = threading.Thread(
        target=lambda: made.append(registry.get_telemetry_client("reentered")), daemon=True
    )
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive(), "the second ask waited on the first, on the same thread"
    (inner,) = asked
    assert not inner.enabled
    (outer,) = made
    assert outer is not inner
    registry.set_telemetry_client(None, "reentered")
    outer.shutdown()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork here")
def test_a_child_forked_while_a_thread_holds_the_budget_flushes_and_exits() -> None:
    settings = resolve_settings(RawSources(arguments={"sink": "null"}, environment={}))
    client = TelemetryClient(
        settings.unwrap(), policy=PrivacyPolicy(hash_key=b"k" * 32), sink=NullSink()
    )
    assert client.enabled
    client.capture("before", {"n": 1})  # (its sink made: a flush waits on the budget)
    held, release = threading.Event(), threading.Event()

    def hold_the_budget() -> None:
        with PROCESS_BUDGET._lock:
            held.set()
            release.wait(timeout=30)

    holder = threading.Thread(target=hold_the_budget, daemon=True)
    holder.start()
    assert held.wait(timeout=30)
    pid = os.fork()
    if pid == 0:  # the child: its flush takes the budget, which nobody here holds
        try:
            client.capture("in_the_child", {"n": 2})
            client.flush()
            client.shutdown()
        finally:
            os._exit(0)
    release.set()
    holder.join(timeout=30)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.05)
    else:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        pytest.fail("the forked child hung on the budget's lock")
    assert os.waitstatus_to_exitcode(status) == 0
    client.shutdown()
