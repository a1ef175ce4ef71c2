"""codeweaver-telemetry's pure core: domain objects in, anonymized JSON-ready events out.

Nothing here performs I/O, reads the environment or keeps state between calls; every public
function returns a ``returns`` Result instead of raising. The adapters
(``codeweaver_telemetry.adapters``) gather the inputs and deliver the output.
"""

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
from .event_schema import PropertySpec, TelemetryEvent
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

__all__ = [
    "PRIVACY_FILTER_KEY",
    "REDACTED",
    "AnonymityConversion",
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
    "build_search_event",
    "build_session_event",
    "convert",
    "default_policy",
    "filter_for_telemetry",
    "find_leak",
    "guard_payload",
    "serialize_for_telemetry",
]
