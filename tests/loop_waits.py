"""Bounded waits for the tests and the benchmarks: for a condition that should come true, and
for the longest stall of a running event loop while something runs on it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

PATIENCE = 5.0
"""The longest wait for a background request to loopback; never reached when healthy."""


def eventually(condition: Callable[[], bool], patience: float = PATIENCE) -> bool:
    """Whether ``condition`` comes true within ``patience`` seconds (polled every 10 ms)."""
    deadline = time.monotonic() + patience
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


async def longest_stall(look_up: Callable[[], object], lookups: int) -> float:
    """The longest gap between a ticker's 1 ms ticks while ``look_up`` runs ``lookups`` times
    on the loop (the same probe runs on both sides)."""
    longest, looking_up = 0.0, True

    async def ticker() -> None:
        nonlocal longest
        last = time.monotonic()
        while looking_up:
            await asyncio.sleep(0.001)
            now = time.monotonic()
            longest, last = max(longest, now - last), now

    ticking = asyncio.create_task(ticker())
    await asyncio.sleep(0.01)
    for _ in range(lookups):
        look_up()
        await asyncio.sleep(0.005)
    looking_up = False
    await ticking
    return longest
