"""Test doubles for the batching worker: a spool kept in memory, and exporters that answer
from a script. (The real spool is ``adapters.spool``; the real exporter is PostHog's.)"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from codeweaver_telemetry.core.sink import ExportOutcome, ExportResult, LossReason
from codeweaver_telemetry.core.vocabulary import JSONObject


class MemorySpool:
    """The spool's contract in memory: bounded in events (oldest pushed out first, counted
    as SPOOL_FULL), claims that are given back or removed for good."""

    def __init__(
        self,
        items: Sequence[JSONObject] = (),
        *,
        max_events: int = 10_000,
        claim_losses: Mapping[LossReason, int] | None = None,
    ) -> None:
        self.items: list[JSONObject] = list(items)
        self.max_events = max_events
        self.claim_losses = dict(claim_losses or {})
        self.appends = 0
        self._lock = threading.Lock()

    def append(self, items: Sequence[JSONObject]) -> Mapping[LossReason, int]:
        with self._lock:
            self.appends += 1
            self.items.extend(items)
            overflow = len(self.items) - self.max_events
            if overflow <= 0:
                return {}
            del self.items[:overflow]
            return {LossReason.SPOOL_FULL: overflow}

    def claim(self, max_items: int) -> MemoryClaim | None:
        with self._lock:
            if not self.items:
                return None
            losses, self.claim_losses = self.claim_losses, {}
            taken, self.items = self.items[:max_items], self.items[max_items:]
        return MemoryClaim(self, taken, losses)

    def take_losses(self) -> Mapping[LossReason, int]:
        with self._lock:
            losses, self.claim_losses = self.claim_losses, {}
        return losses

    def give_back(self, items: list[JSONObject]) -> None:
        with self._lock:
            self.items[:0] = items

    def uuids(self) -> list[str]:
        with self._lock:
            return [str(item["uuid"]) for item in self.items]


@dataclass
class MemoryClaim:
    spool: MemorySpool
    items: list[JSONObject]
    losses: Mapping[LossReason, int]

    def delivered(self) -> None:
        pass

    def returned(self) -> None:
        self.spool.give_back(self.items)


@dataclass
class ScriptedExporter:
    """Answers each export with the next outcome of ``script`` (the last one for ever after),
    recording what it was given and when. ``silent`` holds every export until its timeout or
    until ``release()``; ``reachable=False`` fails every ``prepare``; ``importing`` holds
    every ``prepare`` (as the first import of ``posthog`` does) until ``imported()``."""

    script: list[ExportOutcome] = field(
        default_factory=lambda: [ExportOutcome(ExportResult.DELIVERED)]
    )
    reachable: bool = True
    silent: bool = False
    importing: bool = False
    exports: list[tuple[float, list[JSONObject]]] = field(default_factory=list)
    _released: threading.Event = field(default_factory=threading.Event)
    _imported: threading.Event = field(default_factory=threading.Event)

    def prepare(self, timeout: float) -> bool:
        if self.importing:
            self._imported.wait(timeout)
        return self.reachable

    def imported(self) -> None:
        self.importing = False
        self._imported.set()

    def export(self, batch: Sequence[JSONObject], timeout: float) -> ExportOutcome:
        self.exports.append((time.monotonic(), list(batch)))
        if self.silent and not self._released.wait(timeout):
            return ExportOutcome(ExportResult.UNREACHABLE)
        index = min(len(self.exports), len(self.script)) - 1
        return self.script[index]

    def release(self) -> None:
        self.silent = False
        self._released.set()

    def sent_uuids(self) -> list[str]:
        return [str(item["uuid"]) for _, batch in self.exports for item in batch]
