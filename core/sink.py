"""The port every sink implements, and the values that cross it.

A sink's outcomes are values, never exceptions: the client turns each into a count and, at
most, a debug log line. An event reaches a sink already anonymized; a sink adds nothing to it
but delivery.
"""

from __future__ import annotations

import datetime
import enum
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, NamedTuple, Protocol

if TYPE_CHECKING:
    from .vocabulary import JSONObject

# The values here are NamedTuples: the client makes one per capture (cheaper than a frozen
# dataclass), and this module loads at the host's start-up.


class OutboundEvent(NamedTuple):
    """One anonymized event on its way to a sink.

    ``captured_at`` is the capture time in seconds since the epoch. The uuid (which makes a
    retried batch count once) and the timestamp's text are made by the sink, off the host's
    path: see :meth:`to_json`.
    """

    event: str
    distinct_id: str
    properties: JSONObject
    captured_at: float

    def to_json(self, uuid: str) -> JSONObject:
        """The event as one item of a PostHog batch (and one line of the stdout sink).

        >>> OutboundEvent("e", "d", {}, 0.0).to_json("u")["timestamp"]
        '1970-01-01T00:00:00+00:00'
        """
        timestamp = datetime.datetime.fromtimestamp(self.captured_at, datetime.UTC)
        return {
            "event": self.event,
            "distinct_id": self.distinct_id,
            "properties": self.properties,
            "timestamp": timestamp.isoformat(),
            "uuid": uuid,
        }


class Accepted(enum.Enum):
    """What became of one emitted event."""

    QUEUED = "queued"
    """Taken for delivery (the stdout and null sinks deliver at once)."""

    DROPPED_FULL = "dropped_full"
    """Left out because the sink's bounded buffer was full (an outage, or a burst)."""

    DROPPED_CLOSED = "dropped_closed"
    """Left out because the sink was already closed."""

    FAILED = "failed"
    """The sink tried at once and failed (a closed stream, a full disk)."""


class LossReason(enum.Enum):
    """Why an event that was captured never reached the destination: each loss is counted
    under one reason, and the session event reports the counts by reason."""

    NOT_BUILT = "not_built"
    """The event could not be built, reduced or checked (the host's values, a set-up failure)."""

    BUFFER_FULL = "buffer_full"
    """The sink's bounded memory buffer was full and the spool could not take the event."""

    SINK_CLOSED = "sink_closed"
    """Captured after the client or sink was shut down."""

    REJECTED = "rejected"
    """The destination refused the batch for good (a 4xx answer other than 429)."""

    OUTAGE = "outage"
    """Not delivered before the end, and not spooled either (no state directory, a spool
    that could not be written)."""

    EXPIRED = "expired"
    """Waited in the spool longer than its maximum age."""

    SPOOL_FULL = "spool_full"
    """Pushed out of the spool, oldest first, by its bound in bytes or events."""

    WRITE_FAILED = "write_failed"
    """A local sink could not write it (a closed stream, a full disk)."""


class DeliveryReport(NamedTuple):
    """How a flush or a close ended. ``delivered``, ``failed`` and ``spooled`` are totals
    since the sink was made (failures its ``emit`` already reported as FAILED included;
    ``delivered`` counts events a spool handed back too); ``pending`` is what was neither
    delivered nor spooled at the deadline (after a close: lost, counted as OUTAGE)."""

    delivered: int = 0
    failed: int = 0
    pending: int = 0
    timed_out: bool = False
    spooled: int = 0


class ExportResult(enum.Enum):
    """What the destination made of one batch."""

    DELIVERED = "delivered"
    RETRY_LATER = "retry_later"
    """It answered "not now" (429, 5xx): the same batch, later, after ``retry_after``."""

    UNREACHABLE = "unreachable"
    """No answer: refused, unresolvable, reset, or silent past the timeout."""

    REJECTED = "rejected"
    """Refused for good (a 4xx other than 429): sending it again cannot help."""

    FAILED = "failed"
    """A local destination could not take it (a closed stream, a full disk)."""


class ExportOutcome(NamedTuple):
    """One export's result, and the wait the destination asked for (``Retry-After``)."""

    result: ExportResult
    retry_after: float | None = None


class Exporter(Protocol):
    """Sends batches of wire items (``OutboundEvent.to_json``), knowing nothing of threads,
    buffers or retries: the batching worker decides those from the outcomes. Neither method
    raises."""

    def prepare(self, timeout: float) -> bool:
        """Load what sending needs and check that the destination can be reached at all
        (False: it cannot, now); called before each export, so it is cheap once ready. The
        worker counts a silent destination's time from the end of this, not from its start."""
        ...

    def export(self, batch: Sequence[JSONObject], timeout: float) -> ExportOutcome:
        """Send ``batch`` once, within about ``timeout`` seconds."""
        ...


class Sink(Protocol):
    """Where events go. No method raises, and none waits longer than its ``timeout``."""

    def emit(self, event: OutboundEvent) -> Accepted:
        """Take one event; never blocks on I/O."""
        ...

    def flush(self, timeout: float) -> DeliveryReport:
        """Deliver what is buffered, waiting at most ``timeout`` seconds."""
        ...

    def close(self, timeout: float) -> DeliveryReport:
        """Flush within ``timeout``, then release every resource; later events are dropped."""
        ...

    def loss_totals(self) -> Mapping[LossReason, int]:
        """The events lost since the sink was made, by reason: those lost after ``emit``
        took them (``emit`` reports its own refusals in what it returns). Totals that only
        grow, read without changing anything: whoever reports them keeps what it has
        reported, so that no interrupt between the sink and the report can lose a count."""
        ...
