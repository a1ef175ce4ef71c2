"""The sinks that need no account: JSON lines to a stream or file, and a counting null sink.

A host that chooses the stdout sink in its settings gets :func:`stream_sink`: the lines are
written on the batching worker's threads, so that a pipe nobody reads (an MCP client that
never drains standard error) holds a worker's thread, never the host's. :class:`StdoutSink`
writes on the caller's thread, into a stream the caller hands over (a test's buffer, the
demo's): each line is there when ``capture`` returns.
"""

from __future__ import annotations

import json
import sys
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, Protocol, TextIO

from codeweaver_telemetry.core.sink import (
    Accepted,
    DeliveryReport,
    ExportOutcome,
    ExportResult,
    LossReason,
    OutboundEvent,
)

from .log import debug

if TYPE_CHECKING:
    from codeweaver_telemetry.core.vocabulary import JSONObject

    from .batching import BatchingWorker

LINES_PER_WRITE: Final = 100
"""Lines the stream sink writes at once (what waited while the previous write ran)."""


def wire_line(item: JSONObject) -> str:
    """One wire item as the stdout sink prints it: compact JSON on one line.

    >>> wire_line({"event": "e"})
    '{"event":"e"}\\n'
    """
    return json.dumps(item, separators=(",", ":"), allow_nan=False) + "\n"


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

    def loss_totals(self) -> Mapping[LossReason, int]:
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
        self._lock = threading.RLock()  # (a host's signal handler may capture mid-line)
        self._closed = False
        self.written = 0
        self.failed = 0

    def emit(self, event: OutboundEvent) -> Accepted:
        """Write the event as one line."""
        line = wire_line(event.to_json(str(uuid.uuid4())))
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

    def loss_totals(self) -> Mapping[LossReason, int]:
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


class StreamExporter:
    """Writes each batch as JSON lines to standard output or standard error, or appends them
    to a file (opened for each batch, so nothing stays open), and flushes."""

    def __init__(self, target: str) -> None:
        self._target = target
        self._failures = 0

    def prepare(self, timeout: float) -> bool:
        """Nothing to load: a stream is always there to try."""
        return True

    def export(self, batch: Sequence[JSONObject], timeout: float) -> ExportOutcome:
        """Write the lines; FAILED (never raised) when the stream or file refuses them."""
        try:
            text = "".join(wire_line(item) for item in batch)
            if self._target in ("stdout", "stderr"):
                stream: TextIO = getattr(sys, self._target)
                stream.write(text)
                stream.flush()
            else:
                with open(self._target, "a", encoding="utf-8") as file:
                    file.write(text)
        except Exception as error:  # noqa: BLE001 - a closed or missing stream, a full disk
            self._failures += 1
            if self._failures == 1:
                debug("telemetry: the stdout sink cannot write (%s)", type(error).__name__)
            return ExportOutcome(ExportResult.FAILED)
        return ExportOutcome(ExportResult.DELIVERED)


def stream_sink(target: str, *, max_buffered: int) -> BatchingWorker:
    """The stdout sink of the settings: lines to ``target`` (stdout, stderr or a file path),
    written on the worker's threads; nothing is spooled."""
    from .batching import BatchingWorker  # noqa: PLC0415 - loaded with the sink, not before

    return BatchingWorker(
        StreamExporter(target),
        batch_size=LINES_PER_WRITE,
        batch_interval=0.0,
        max_buffered=max_buffered,
    )
