"""codeweaver-telemetry's pure core: domain objects in, anonymized JSON-ready events out.

Nothing here performs I/O, reads the environment or keeps state between calls; every public
function returns a ``returns`` Result instead of raising. The adapters
(``codeweaver_telemetry.adapters``) gather the inputs and deliver the output.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .lazy_exports import lazy_exports

__version__ = "0.1.0"
"""This release; pyproject.toml reads it from here."""

if TYPE_CHECKING:
    from .conversions import convert
    from .domain import (
        CodeMatch,
        FindCodeResponseSummary,
        IndexState,
        IntentType,
        MatchType,
        SearchMode,
        SearchStatus,
        SearchStrategy,
        SessionStatistics,
    )
    from .event_schema import AnonymizedEvent, PropertySpec, TelemetryEvent
    from .leak_guard import REDACTED, LeakKind, find_leak, guard_payload
    from .mixin import TelemetrySerializable
    from .payload import PRIVACY_FILTER_KEY, DropNote, Filtered, FilterReport
    from .policy import PrivacyPolicy, default_policy
    from .search_event import SearchEvent, build_search_event
    from .serializer import filter_for_telemetry, serialize_for_telemetry
    from .session_event import SessionEvent, build_session_event
    from .vocabulary import (
        AnonymityConversion,
        FilteredKey,
        JSONObject,
        JSONScalar,
        JSONValue,
        PrivacyError,
        TelemetryKeys,
    )

# Every other name loads from its module on first use (see lazy_exports).
_LAZY_MODULES = {
    ".conversions": ("convert",),
    ".domain": (
        "CodeMatch",
        "FindCodeResponseSummary",
        "IndexState",
        "IntentType",
        "MatchType",
        "SearchMode",
        "SearchStatus",
        "SearchStrategy",
        "SessionStatistics",
    ),
    ".event_schema": ("AnonymizedEvent", "PropertySpec", "TelemetryEvent"),
    ".leak_guard": ("REDACTED", "LeakKind", "find_leak", "guard_payload"),
    ".mixin": ("TelemetrySerializable",),
    ".payload": ("PRIVACY_FILTER_KEY", "DropNote", "Filtered", "FilterReport"),
    ".policy": ("PrivacyPolicy", "default_policy"),
    ".search_event": ("SearchEvent", "build_search_event"),
    ".serializer": ("filter_for_telemetry", "serialize_for_telemetry"),
    ".session_event": ("SessionEvent", "build_session_event"),
    ".vocabulary": (
        "AnonymityConversion",
        "FilteredKey",
        "JSONObject",
        "JSONScalar",
        "JSONValue",
        "PrivacyError",
        "TelemetryKeys",
    ),
}
__getattr__, __dir__ = lazy_exports(__name__, _LAZY_MODULES)

__all__ = [
    "PRIVACY_FILTER_KEY",
    "REDACTED",
    "AnonymityConversion",
    "AnonymizedEvent",
    "CodeMatch",
    "DropNote",
    "FilterReport",
    "Filtered",
    "FilteredKey",
    "FindCodeResponseSummary",
    "IndexState",
    "IntentType",
    "JSONObject",
    "JSONScalar",
    "JSONValue",
    "LeakKind",
    "MatchType",
    "PrivacyError",
    "PrivacyPolicy",
    "PropertySpec",
    "SearchEvent",
    "SearchMode",
    "SearchStatus",
    "SearchStrategy",
    "SessionEvent",
    "SessionStatistics",
    "TelemetryEvent",
    "TelemetryKeys",
    "TelemetrySerializable",
    "__version__",
    "build_search_event",
    "build_session_event",
    "convert",
    "default_policy",
    "filter_for_telemetry",
    "find_leak",
    "guard_payload",
    "serialize_for_telemetry",
]
