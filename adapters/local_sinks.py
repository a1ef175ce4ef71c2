"""The sinks that need no account: JSON lines to a stream or file, and a counting null sink."""

from __future__ import annotations

import json
import sys
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, TextIO

from codeweaver_telemetry.core.sink import Accepted, DeliveryReport, LossReason, OutboundEvent

from .log import debug


class TextStream(Protocol):
    """Where the stdout sink writes: standard output, standard error, a file, a test buffer."""

    def write(self, text: str, /) -> int:
        """Write text."""
        ...

    def flush(self) -> None:
        """Push it out."""
        ...


@dataclass
class NullSink:
    """Accepts and discards, counting what it got: the sink of disabled telemetry, and a test
    double that keeps the events it was given (``keep=True``)."""

    keep: bool = False
    received: int = 0
    events: list[OutboundEvent] = field(default_factory=list)
    closed: bool = False

    def emit(self, event: OutboundEvent) -> Accepted:
        """Count (and with ``keep``, remember) the event."""
        if self.closed:
            return Accepted.DROPPED_CLOSED
        self.received += 1
        if self.keep:
            self.events.append(event)
        return Accepted.QUEUED

    def flush(self, timeout: float) -> DeliveryReport:
        """Nothing is ever pending."""
        return DeliveryReport(delivered=0)

    def close(self, timeout: float) -> DeliveryReport:
        """Later events are dropped."""
        self.closed = True
        return DeliveryReport()

    def take_losses(self) -> Mapping[LossReason, int]:
        """Nothing is ever lost here that the client does not count itself."""
        return {}


class StdoutSink:
    """One JSON object per line, exactly the event the PostHog sink would send, flushed per line.

    Writes to standard output by default, or to standard error, or appends to a file (an MCP
    server speaking over stdio cannot have anything else on standard output). It never opens
    a socket. A failed write is counted and logged once at debug level, never raised.
    """

    def __init__(self, target: str = "stdout", *, stream: TextStream | None = None) -> None:
        self._target = target
        self._stream = stream
        self._owned: TextIO | None = None
        self._lock = threading.Lock()
        self._closed = False
        self.written = 0
        self.failed = 0

    def emit(self, event: OutboundEvent) -> Accepted:
        """Write the event as one line."""
        item = event.to_json(str(uuid.uuid4()))
        line = json.dumps(item, separators=(",", ":"), allow_nan=False) + "\n"
        with self._lock:
            if self._closed:
                return Accepted.DROPPED_CLOSED
            try:
                stream = self._resolve()
                stream.write(line)
                stream.flush()
            except (OSError, ValueError) as error:  # a closed or broken stream, a full disk
                self.failed += 1
                if self.failed == 1:
                    debug("telemetry: the stdout sink cannot write (%s)", type(error).__name__)
                return Accepted.FAILED
            self.written += 1
            return Accepted.QUEUED

    def flush(self, timeout: float) -> DeliveryReport:
        """Every line is flushed as it is written; report the totals."""
        return DeliveryReport(delivered=self.written, failed=self.failed)

    def close(self, timeout: float) -> DeliveryReport:
        """Close the file this sink opened (never standard output or a given stream)."""
        with self._lock:
            self._closed = True
            if self._owned is not None:
                try:
                    self._owned.close()
                except OSError:
                    self.failed += 1
                self._owned = None
        return DeliveryReport(delivered=self.written, failed=self.failed)

    def take_losses(self) -> Mapping[LossReason, int]:
        """The client counts a failed write when ``emit`` reports it."""
        return {}

    def _resolve(self) -> TextStream:
        if self._stream is not None:
            return self._stream
        if self._target == "stdout":
            return sys.stdout
        if self._target == "stderr":
            return sys.stderr
        if self._owned is None:
            self._owned = open(self._target, "a", encoding="utf-8")  # noqa: SIM115
        return self._owned
