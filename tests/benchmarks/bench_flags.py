"""Feature flags on a running event loop: the longest stall, this library against the posthog
client used directly, side by side.

    python tests/benchmarks/bench_flags.py            # the full run (about half a minute)
    python tests/benchmarks/bench_flags.py --quick    # a smoke run, for CI

Both sides look flags up from a coroutine while a ticker task measures the longest gap between
its ticks (the loop's longest stall), against the same PostHog-compatible server on 127.0.0.1,
silent or healthy. The posthog client runs in a child process under a watchdog: its lookups
have no time limit of ours, and a stuck one is reported as "> N s" instead of hanging this
script.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import os
import platform
import subprocess
import sys
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fake_posthog import FakePostHog, Mode
from loop_waits import longest_stall

from codeweaver_telemetry.adapters import NullSink, TelemetryClient
from codeweaver_telemetry.adapters.posthog_flags import PostHogFlags
from codeweaver_telemetry.adapters.posthog_sink import Endpoint
from codeweaver_telemetry.core import PrivacyPolicy
from codeweaver_telemetry.core.settings import RawSources, resolve_settings

WATCHDOG = 30.0
"""How long posthog's lookups may run before they are reported as "> N s" (3 s in a smoke
run, whose figures are not read)."""


def our_stall(host: str, lookups: int) -> float:
    settings = resolve_settings(RawSources(arguments={}, environment={})).unwrap()
    flags = PostHogFlags(Endpoint("phc_bench", host, 10, 60.0, 100), budget=0.5)
    client = TelemetryClient(
        settings, policy=PrivacyPolicy(hash_key=b"k" * 32), sink=NullSink(), flags=flags
    )
    return asyncio.run(longest_stall(lambda: client.get_feature_flag("new_reranker", "d"), lookups))


def their_stall(host: str, lookups: int) -> float | None:
    script = (
        "import asyncio, json, time, warnings\n"
        "from collections.abc import Callable\n"
        "warnings.simplefilter('ignore')\n"
        "from posthog import Posthog\n"
        + inspect.getsource(longest_stall)
        + textwrap.dedent(
            f"""
            client = Posthog("phc_bench", host={host!r})
            stall = asyncio.run(longest_stall(
                lambda: client.get_feature_flag("new_reranker", "anonymous"), {lookups}))
            print(json.dumps({{"stall": stall}}))
            """
        )
    )
    try:
        completed = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            timeout=WATCHDOG,
            check=True,
        )
    except subprocess.TimeoutExpired:
        return None
    stall: float = json.loads(completed.stdout.strip().splitlines()[-1])["stall"]
    return stall


def stalls(lookups: int) -> list[str]:
    rows = []
    for mode in (Mode.SILENT, Mode.HEALTHY):
        with FakePostHog(flags={"new_reranker": "test"}, lifetime_seconds=600) as server:
            server.mode = mode
            ours = our_stall(server.host, lookups)
        with FakePostHog(flags={"new_reranker": "test"}, lifetime_seconds=600) as server:
            server.mode = mode
            theirs = their_stall(server.host, lookups)
        direct = f"{theirs * 1e3:.1f} ms" if theirs is not None else f"> {WATCHDOG:.0f} s"
        rows.append(
            f"longest event-loop stall, {lookups} flag lookups, {mode.name.lower()} host | "
            f"{ours * 1e3:.1f} ms | {direct} | "
        )
    return rows


def first_value() -> list[str]:
    """What a host that wants remote values first pays: wait_for_values in a worker thread,
    the loop free meanwhile."""
    with FakePostHog(flags={"new_reranker": "test"}, lifetime_seconds=600) as server:
        flags = PostHogFlags(Endpoint("phc_bench", server.host, 10, 60.0, 100), budget=0.5)
        started = time.monotonic()
        arrived = flags.wait_for_values(5.0, "anonymous")
        seconds = time.monotonic() - started
    return [
        f"first remote value (healthy host, wait_for_values) | {seconds * 1e3:.1f} ms "
        f"({'arrived' if arrived else 'none'}) | | "
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run with small sizes")
    quick = parser.parse_args().quick
    if quick:
        global WATCHDOG  # noqa: PLW0603 - the one knob of a smoke run
        WATCHDOG = 3.0
    print(f"# codeweaver-telemetry flag benchmarks ({'quick' if quick else 'full'})")
    print(f"# Python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} cores")
    print("what | codeweaver-telemetry | posthog client directly | ratio")
    for row in [*stalls(20 if quick else 200), *first_value()]:
        print(row, flush=True)


if __name__ == "__main__":
    main()
