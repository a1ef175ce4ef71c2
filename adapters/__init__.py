"""codeweaver-telemetry's adapters: configuration, sinks and the client a host talks to.

The only code of the library that performs I/O. A host needs three names::

    from codeweaver_telemetry.adapters import get_telemetry_client

    with get_telemetry_client() as client:
        client.start_session({"version": "0.5.0"})
        client.capture("codeweaver_search", {"intent": "UNDERSTAND"})
"""

from __future__ import annotations

from .client import TelemetryClient
from .context import current_tags
from .events import capture_search_event, capture_session_event
from .local_sinks import NullSink, StdoutSink
from .registry import build_client, get_telemetry_client, reset_telemetry_client

__all__ = [
    "NullSink",
    "StdoutSink",
    "TelemetryClient",
    "build_client",
    "capture_search_event",
    "capture_session_event",
    "current_tags",
    "get_telemetry_client",
    "reset_telemetry_client",
]
