"""Short host processes against a refused, silent or healthy PostHog-compatible server: what
their exit costs, and what the next run delivers of what an offline run could not."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fake_posthog import FakePostHog, Mode
from host_process import host_environment, run_program

CAPTURES = """
from codeweaver_telemetry.adapters import get_telemetry_client
client = get_telemetry_client()
for index in range({count}):
    client.capture("e", {{"n": index}})
"""


def environment(home: Path, server: FakePostHog, **variables: str) -> dict[str, str]:
    return host_environment(
        home,
        CODEWEAVER__TELEMETRY__POSTHOG_API_KEY="phc_test",
        CODEWEAVER__TELEMETRY__POSTHOG_HOST=server.host,
        **variables,
    )


def run(home: Path, server: FakePostHog, count: int, **variables: str) -> float:
    """Seconds a host process that captures ``count`` events takes, exit hook included."""
    started = time.monotonic()
    run_program(CAPTURES.format(count=count), home, environment(home, server, **variables))
    return time.monotonic() - started


@pytest.mark.parametrize("failure", [Mode.REFUSE, Mode.SILENT])
def test_a_short_process_offline_exits_without_waiting_its_budget(
    failure: Mode, tmp_path: Path
) -> None:
    with FakePostHog(lifetime_seconds=60) as server:
        server.mode = failure
        seconds = run(tmp_path, server, 100, CODEWEAVER__TELEMETRY__SHUTDOWN_BUDGET_SECONDS="10")
    assert seconds < 5.0  # (e70ee05: the whole 10 s budget, plus start-up)


@pytest.mark.slow
def test_a_refused_run_then_a_healthy_one_delivers_both_runs_events_once(tmp_path: Path) -> None:
    with FakePostHog(lifetime_seconds=60) as server:
        server.mode = Mode.REFUSE
        run(tmp_path, server, 100)
        server.mode = Mode.HEALTHY
        run(tmp_path, server, 100)
        assert server.wait_for_events(200, timeout=10)
        uuids = server.uuids()
    assert len(uuids) == len(set(uuids)) == 200  # (e70ee05: the offline run's 100 were gone)


@pytest.mark.slow
def test_two_processes_starting_together_deliver_a_spooled_run_exactly_once(
    tmp_path: Path,
) -> None:
    with FakePostHog(lifetime_seconds=60) as server:
        server.mode = Mode.REFUSE
        run(tmp_path, server, 100)
        server.mode = Mode.HEALTHY
        program = CAPTURES.format(count=1)
        children = [
            subprocess.Popen(
                [sys.executable, "-c", program], cwd=tmp_path, env=environment(tmp_path, server)
            )
            for _ in range(2)
        ]
        assert all(child.wait(timeout=60) == 0 for child in children)
        assert server.wait_for_events(102, timeout=10)
        time.sleep(0.5)  # a duplicate would arrive about now
        uuids = server.uuids()
    assert len(uuids) == len(set(uuids)) == 102


CAPTURES_THEN_EXITS = CAPTURES + "print('exiting', flush=True)\n"


@pytest.mark.slow
@pytest.mark.parametrize("failure", [Mode.SILENT, Mode.ERROR_500])
def test_ctrl_c_during_the_exit_wait_keeps_what_was_captured(failure: Mode, tmp_path: Path) -> None:
    """Red team of the lifecycle: a user's Ctrl-C while the exit hook waited for a silent or
    failing host lost every event it held (the next healthy run delivered 0 of 50), and
    printed the library's traceback."""
    with FakePostHog(lifetime_seconds=60) as server:
        server.mode = failure
        child = subprocess.Popen(
            [sys.executable, "-c", CAPTURES_THEN_EXITS.format(count=50)],
            cwd=tmp_path,
            env=environment(tmp_path, server),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "exiting"
            time.sleep(0.2)  # into the exit hook's wait (a silent host is given 0.5 s)
            child.send_signal(signal.SIGINT)
            _, errors = child.communicate(timeout=30)
        finally:
            child.kill()
            child.wait(timeout=30)
        server.mode = Mode.HEALTHY
        run(tmp_path, server, 1)
        assert server.wait_for_events(51, timeout=10), f"{len(server.uuids())} of 51"
        uuids = server.uuids()
    assert len(uuids) == len(set(uuids)) == 51
    assert "codeweaver_telemetry" not in errors


HOST_HOOK_FIRST = """
import atexit

def cleanup():
    from codeweaver_telemetry.adapters import get_telemetry_client
    client = get_telemetry_client()
    client.capture("command_finished", {"ok": True})
    client.end_session()

atexit.register(cleanup)  # the host's clean-up, registered before the library is imported
from codeweaver_telemetry.adapters import get_telemetry_client
client = get_telemetry_client()
client.start_session({"version": "1.0"})
client.capture("command", {"n": 1})
"""


@pytest.mark.slow
def test_a_hosts_exit_hook_that_runs_after_the_librarys_loses_nothing(tmp_path: Path) -> None:
    """Red team of the lifecycle: atexit runs hooks last in, first out, so a host's clean-up
    registered before the library was imported ran after the library's exit hook had closed
    the client: its last event and its session event were refused (counted, in a process
    that was ending), even on a healthy host. Now what a closed sink is handed is spooled,
    and the next run sends it."""
    with FakePostHog(lifetime_seconds=60) as server:
        run_program(HOST_HOOK_FIRST, tmp_path, environment(tmp_path, server))
        run(tmp_path, server, 1)
        assert server.wait_for_events(4, timeout=10)
        time.sleep(0.5)  # a duplicate would arrive about now
        names = [str(event.get("event")) for event in server.events()]
        uuids = server.uuids()
    assert sorted(names) == ["codeweaver_session", "command", "command_finished", "e"]
    assert len(uuids) == len(set(uuids))
