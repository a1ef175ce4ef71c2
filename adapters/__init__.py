"""codeweaver-telemetry's adapters: configuration, sinks and the client a host talks to.

The only code of the library that performs I/O. A host needs three names::

    from codeweaver_telemetry.adapters import get_telemetry_client

    with get_telemetry_client() as client:
        client.start_session({"version": "0.5.0"})
        client.capture("codeweaver_search", {"intent": "UNDERSTAND"})
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from codeweaver_telemetry.core.lazy_exports import lazy_exports

if TYPE_CHECKING:
    from .cli import add_telemetry_commands
    from .client import TelemetryClient
    from .context import current_tags
    from .events import capture_search_event, capture_session_event
    from .local_sinks import NullSink, StdoutSink
    from .notice import first_run_notice
    from .registry import (
        build_client,
        get_telemetry_client,
        reset_telemetry_client,
        set_telemetry_client,
    )
    from .testing import InMemorySink

# A host that asks for get_telemetry_client loads the client and the configuration only.
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        ".cli": ("add_telemetry_commands",),
        ".client": ("TelemetryClient",),
        ".context": ("current_tags",),
        ".events": ("capture_search_event", "capture_session_event"),
        ".local_sinks": ("NullSink", "StdoutSink"),
        ".testing": ("InMemorySink",),
        ".notice": ("first_run_notice",),
        ".registry": (
            "build_client",
            "get_telemetry_client",
            "reset_telemetry_client",
            "set_telemetry_client",
        ),
    },
)

__all__ = [
    "InMemorySink",
    "NullSink",
    "StdoutSink",
    "TelemetryClient",
    "add_telemetry_commands",
    "build_client",
    "capture_search_event",
    "capture_session_event",
    "current_tags",
    "first_run_notice",
    "get_telemetry_client",
    "reset_telemetry_client",
    "set_telemetry_client",
]
