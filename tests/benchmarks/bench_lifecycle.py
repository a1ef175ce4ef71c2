"""Lifecycle benchmarks: what exits, outages and restarts cost and keep, side by side with the
posthog client used directly.

    python tests/benchmarks/bench_lifecycle.py            # the full run (about three minutes)
    python tests/benchmarks/bench_lifecycle.py --quick    # a smoke run, for CI

Every scenario runs in fresh host processes against a PostHog-compatible server on 127.0.0.1
started here, each process with its own home (so its own state directory and spool). The
posthog client's processes run under a watchdog: its exit retries a failing host with no
time limit, and a stuck one is reported as "> N s" instead of hanging this script.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fake_posthog import FakePostHog, Mode
from host_process import host_environment

WATCHDOG = 20.0

OURS = """
from codeweaver_telemetry.adapters import get_telemetry_client
client = get_telemetry_client()
for index in range({count}):
    client.capture("e", {{"n": index}})
"""
THEIRS = """
from posthog import Posthog
client = Posthog("phc_bench", host={host!r}, disabled={disabled})
for index in range({count}):
    client.capture("e", distinct_id="d", properties={{"n": index}})
"""

PACED_OURS = """
import json, sys, time
from codeweaver_telemetry.adapters import get_telemetry_client
client = get_telemetry_client()
print("ready", flush=True)
started = time.monotonic()
for index in range({count}):
    client.capture("e", {{"n": index}})
    time.sleep(max(0.0, started + (index + 1) / {rate} - time.monotonic()))
client.shutdown(timeout=30)
"""
PACED_THEIRS = """
import json, sys, time
from posthog import Posthog
client = Posthog("phc_bench", host={host!r})
print("ready", flush=True)
started = time.monotonic()
for index in range({count}):
    client.capture("e", distinct_id="d", properties={{"n": index}})
    time.sleep(max(0.0, started + (index + 1) / {rate} - time.monotonic()))
client.shutdown()
"""

RSS = """
import json, os
def rss():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024
"""
OUTAGE_OURS = (
    RSS
    + """
from codeweaver_telemetry.adapters import get_telemetry_client
client = get_telemetry_client()
client.capture("e", {{"n": -1}})
before, peak = rss(), 0
for index in range({count}):
    client.capture("e", {{"n": index}})
    if index % 1000 == 0:
        peak = max(peak, rss())
peak = max(peak, rss())
client.shutdown()
print(json.dumps({{"grown": peak - before, "dropped": client.dropped}}), flush=True)
"""
)
OUTAGE_THEIRS = (
    RSS
    + """
from posthog import Posthog
client = Posthog("phc_bench", host={host!r})
client.capture("e", distinct_id="d", properties={{"n": -1}})
before, peak = rss(), 0
for index in range({count}):
    client.capture("e", distinct_id="d", properties={{"n": index}})
    if index % 1000 == 0:
        peak = max(peak, rss())
peak = max(peak, rss())
print(json.dumps({{"grown": peak - before}}), flush=True)
os._exit(0)  # its exit hook would retry the refused host without a limit
"""
)


@contextlib.contextmanager
def home() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="codeweaver-bench-") as directory:
        yield Path(directory)


def environment(where: Path, host: str, **variables: str) -> dict[str, str]:
    return host_environment(
        where,
        CODEWEAVER__TELEMETRY__POSTHOG_API_KEY="phc_bench",
        CODEWEAVER__TELEMETRY__POSTHOG_HOST=host,
        **variables,
    )


def seconds(program: str, where: Path, variables: dict[str, str]) -> float | None:
    """Wall time of one host process, start-up and exit included; None past the watchdog."""
    started = time.monotonic()
    try:
        subprocess.run(
            [sys.executable, "-c", program],
            cwd=where,
            env=variables,
            capture_output=True,
            timeout=WATCHDOG,
            check=True,
        )
    except subprocess.TimeoutExpired:
        return None
    return time.monotonic() - started


def median_seconds(runs: int, program: str, where: Path, variables: dict[str, str]) -> float | None:
    """The median of ``runs`` runs; None when any of them passed the watchdog."""
    samples = [seconds(program, where, variables) for _ in range(runs)]
    timed = [sample for sample in samples if sample is not None]
    return statistics.median(timed) if len(timed) == len(samples) else None


def shown(value: float | None, null: float | None = None) -> str:
    if value is None:
        return f"> {WATCHDOG:.0f} s"
    text = f"{value * 1e3:.0f} ms"
    return text if null is None else f"{text} (+{(value - null) * 1e3:.0f} ms)"


def exit_costs(runs: int) -> list[str]:
    """A 100-event process, null sink against a refused and a silent host."""
    rows = []
    null_ours = null_theirs = None
    for mode in (None, Mode.REFUSE, Mode.SILENT):
        with FakePostHog(lifetime_seconds=600) as server, home() as where:
            if mode is not None:
                server.mode = mode
            extra = {"CODEWEAVER__TELEMETRY__SINK": "null"} if mode is None else {}
            variables = environment(where, server.host, **extra)
            ours = median_seconds(runs, OURS.format(count=100), where, variables)
            program = THEIRS.format(host=server.host, count=100, disabled=mode is None)
            theirs = median_seconds(runs, program, where, variables)
        if mode is None:
            null_ours, null_theirs = ours, theirs
            what = "null sink (posthog: disabled=True)"
        else:
            what = "refused host" if mode is Mode.REFUSE else "silent host"
        rows.append(
            f"exit of a 100-event process, {what} | {shown(ours, null_ours)} | "
            f"{shown(theirs, null_theirs)} | "
        )
    return rows


def pair_of_runs() -> list[str]:
    """Events delivered of a refused run's 100 and a healthy run's 100."""
    delivered = []
    for program in (OURS, THEIRS):
        with FakePostHog(lifetime_seconds=600) as server, home() as where:
            variables = environment(where, server.host)
            text = program.format(host=server.host, count=100, disabled=False)
            server.mode = Mode.REFUSE
            seconds(text, where, variables)
            server.mode = Mode.HEALTHY
            seconds(text, where, variables)
            server.wait_for_events(200, timeout=5)
            delivered.append(len(set(server.uuids())))
    ours, theirs = delivered
    return [f"refused run then healthy run, events delivered of 200 | {ours} | {theirs} | "]


class RequestClock:
    """The times at which the server saw each request (polled every millisecond)."""

    def __init__(self, server: FakePostHog) -> None:
        self.server = server
        self.times: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        seen = 0
        while not self._stop.wait(0.001):
            count = len(self.server.requests())
            self.times.extend([time.monotonic()] * (count - seen))
            seen = count

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def outage(failure: Mode, outage_seconds: float, after_seconds: float) -> list[str]:
    """100 events a second; the host fails for ``outage_seconds`` and is healthy after."""
    rate = 100
    count = int(rate * (outage_seconds + after_seconds))
    cells = []
    for paced in (PACED_OURS, PACED_THEIRS):
        with FakePostHog(lifetime_seconds=600, retry_after_seconds=2) as server, home() as where:
            server.mode = failure
            program = paced.format(host=server.host, count=count, rate=rate)
            child = subprocess.Popen(
                [sys.executable, "-c", program],
                cwd=where,
                env=environment(where, server.host),
                stdout=subprocess.PIPE,
                text=True,
            )
            assert child.stdout is not None
            child.stdout.readline()  # ready
            clock = RequestClock(server)
            time.sleep(outage_seconds)
            during = len(server.requests())
            outage_times = list(clock.times)
            server.mode = Mode.HEALTHY
            try:
                child.wait(timeout=60)
            except subprocess.TimeoutExpired:
                child.kill()
            server.wait_for_events(count, timeout=5)
            clock.stop()
            gaps = [later - earlier for earlier, later in itertools.pairwise(outage_times)]
            shortest = f"{min(gaps) * 1e3:.0f} ms" if gaps else "-"
            delivered = len(set(server.uuids()))
            cells.append(f"{during} requests (shortest gap {shortest}), {delivered} of {count}")
    name = "429 (Retry-After: 2)" if failure is Mode.RATE_LIMITED else "500"
    return [
        f"{outage_seconds:.0f} s of {name} at 100 events/s, then shutdown(timeout=30) | "
        f"{cells[0]} | {cells[1]} | "
    ]


def memory_during_outage(count: int) -> list[str]:
    """Peak resident memory growth while ``count`` events meet a refused host."""
    results = []
    for program in (OUTAGE_OURS, OUTAGE_THEIRS):
        with FakePostHog(lifetime_seconds=600) as server, home() as where:
            server.mode = Mode.REFUSE
            try:
                completed = subprocess.run(
                    [sys.executable, "-c", program.format(host=server.host, count=count)],
                    cwd=where,
                    env=environment(where, server.host),
                    capture_output=True,
                    text=True,
                    timeout=300,
                    check=True,
                )
                results.append(json.loads(completed.stdout.strip().splitlines()[-1]))
            except subprocess.TimeoutExpired:
                results.append(None)
    ours, theirs = results
    mine = (
        f"{ours['grown'] / 1024:.1f} MiB ({ours['dropped']:,} dropped at capture)"
        if ours
        else "n/a"
    )
    direct = f"{theirs['grown'] / 1024:.1f} MiB" if theirs else "n/a"
    return [f"peak RSS growth, {count:,} events, host refused | {mine} | {direct} | "]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run with small sizes")
    quick = parser.parse_args().quick
    outage_seconds, after_seconds = (1.0, 1.0) if quick else (6.0, 2.0)
    sections: list[Callable[[], list[str]]] = [
        lambda: exit_costs(1 if quick else 5),
        pair_of_runs,
        lambda: outage(Mode.RATE_LIMITED, outage_seconds, after_seconds),
        lambda: outage(Mode.ERROR_500, outage_seconds, after_seconds),
        lambda: memory_during_outage(2_000 if quick else 200_000),
    ]
    print(f"# codeweaver-telemetry lifecycle benchmarks ({'quick' if quick else 'full'})")
    print(f"# Python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} cores")
    print("what | codeweaver-telemetry | posthog client directly | ")
    for section in sections:
        for row in section():
            print(row, flush=True)


if __name__ == "__main__":
    main()
