"""The cost of MCP instrumentation per tool call, over the SDK's in-memory transport.

    python tests/benchmarks/bench_mcp.py            # the full run (about half a minute)
    python tests/benchmarks/bench_mcp.py --quick    # a smoke run, for CI

An empty tool on the same server class, uninstrumented and instrumented (summed into the
session event, and one event per call), each with its own client connected in memory, in
alternating rounds of the same run: the ratio of the median round's per-call times.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import anyio
from mcp.client import Client
from mcp.server.mcpserver import MCPServer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from codeweaver_telemetry.adapters import NullSink, TelemetryClient
from codeweaver_telemetry.adapters.mcp import instrument
from codeweaver_telemetry.core import PrivacyPolicy
from codeweaver_telemetry.core.settings import RawSources, resolve_settings


def empty_server() -> MCPServer:
    server = MCPServer("bench", log_level="CRITICAL")

    @server.tool()
    def empty() -> str:
        """Returns nothing."""
        return ""

    return server


def telemetry() -> TelemetryClient:
    settings = resolve_settings(RawSources(arguments={}, environment={})).unwrap()
    policy = PrivacyPolicy(hash_key=b"k" * 32)
    return TelemetryClient(settings, policy=policy, sink=NullSink())


async def per_call_times(rounds: int, calls: int) -> dict[str, list[float]]:
    """Seconds per call of each side, one sample per round, the sides alternating."""
    plain = empty_server()
    summed, per_call = empty_server(), empty_server()
    instrument(summed, telemetry())
    instrument(per_call, telemetry(), per_call=True)
    sides = {"uninstrumented": plain, "summed": summed, "per call": per_call}
    times: dict[str, list[float]] = {name: [] for name in sides}
    async with (
        Client(plain) as plain_client,
        Client(summed) as summed_client,
        Client(per_call) as per_call_client,
    ):
        clients = {"uninstrumented": plain_client, "summed": summed_client}
        clients["per call"] = per_call_client
        for client in clients.values():  # warm up: tool lists, caches, first events
            for _ in range(50):
                await client.call_tool("empty", {})
        for _ in range(rounds):
            for name, client in clients.items():
                started = time.perf_counter()
                for _ in range(calls):
                    await client.call_tool("empty", {})
                times[name].append((time.perf_counter() - started) / calls)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    quick = parser.parse_args().quick
    rounds, calls = (3, 50) if quick else (15, 400)
    times = anyio.run(per_call_times, rounds, calls)
    plain = statistics.median(times["uninstrumented"])
    print("| MCP tool call, in memory, an empty tool | per call | ratio |")
    print("|---|---|---|")
    print(f"| uninstrumented | {plain * 1e6:.1f} µs | |")
    for name in ("summed", "per call"):
        ratios = [
            side / base for side, base in zip(times[name], times["uninstrumented"], strict=True)
        ]
        median = statistics.median(times[name])
        print(
            f"| instrumented, {name} | {median * 1e6:.1f} µs | {statistics.median(ratios):.3f}x |"
        )


if __name__ == "__main__":
    main()
