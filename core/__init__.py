"""codeweaver-telemetry's pure core: domain objects in, anonymized JSON-ready events out.

Nothing here performs I/O, reads the environment or keeps state between calls; every public
function returns a ``returns`` Result instead of raising. The adapters
(``codeweaver_telemetry.adapters``) gather the inputs and deliver the output.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from .conversions import convert
from .leak_guard import REDACTED, LeakKind, find_leak, guard_payload
from .mixin import TelemetrySerializable
from .payload import PRIVACY_FILTER_KEY, DropNote, Filtered, FilterReport
from .policy import PrivacyPolicy, default_policy
from .serializer import filter_for_telemetry, serialize_for_telemetry
from .vocabulary import (
    AnonymityConversion,
    FilteredKey,
    JSONObject,
    JSONScalar,
    JSONValue,
    PrivacyError,
    TelemetryKeys,
)

__version__ = "0.1.0"
"""This release; pyproject.toml reads it from here."""

if TYPE_CHECKING:
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
    from .search_event import SearchEvent, build_search_event
    from .session_event import SessionEvent, build_session_event

# The domain objects and event schemas load on first use: a host that only serializes its own
# models pays for neither at start-up.
_LAZY_MODULES = {
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
    ".search_event": ("SearchEvent", "build_search_event"),
    ".session_event": ("SessionEvent", "build_session_event"),
}
_LAZY = {name: module for module, names in _LAZY_MODULES.items() for name in names}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


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
