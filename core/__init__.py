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
    from .based_model import BasedModel as BasedModel  # needs pydantic: not in __all__
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
    from .event_schema import AnonymizedEvent, EventSchema, Property, TelemetryEvent
    from .leak_guard import REDACTED, LeakKind, find_leak, guard_payload
    from .mixin import DataclassSerializationMixin, TelemetrySerializable
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
    from .wire import (
        OTHER_LABEL,
        Checked,
        checked_event,
        checked_properties,
        is_digest,
        is_label,
        plain_words,
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
    ".event_schema": ("AnonymizedEvent", "EventSchema", "Property", "TelemetryEvent"),
    ".leak_guard": ("REDACTED", "LeakKind", "find_leak", "guard_payload"),
    ".mixin": ("DataclassSerializationMixin", "TelemetrySerializable"),
    ".payload": ("PRIVACY_FILTER_KEY", "DropNote", "Filtered", "FilterReport"),
    ".policy": ("PrivacyPolicy", "default_policy"),
    ".search_event": ("SearchEvent", "build_search_event"),
    ".serializer": ("filter_for_telemetry", "serialize_for_telemetry"),
    ".session_event": ("SessionEvent", "build_session_event"),
    ".wire": (
        "OTHER_LABEL",
        "Checked",
        "checked_event",
        "checked_properties",
        "is_digest",
        "is_label",
        "plain_words",
    ),
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
_load, __dir__ = lazy_exports(__name__, _LAZY_MODULES)


def __getattr__(name: str) -> object:
    """Every name above on first use; ``BasedModel`` too, which needs pydantic, so that it is
    not in ``__all__`` and ``import *`` does not load it."""
    if name == "BasedModel":
        from .based_model import BasedModel  # noqa: PLC0415 - pydantic loads only when asked

        return BasedModel
    return _load(name)


__all__ = [
    "OTHER_LABEL",
    "PRIVACY_FILTER_KEY",
    "REDACTED",
    "AnonymityConversion",
    "AnonymizedEvent",
    "Checked",
    "CodeMatch",
    "DataclassSerializationMixin",
    "DropNote",
    "EventSchema",
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
    "Property",
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
    "checked_event",
    "checked_properties",
    "convert",
    "default_policy",
    "filter_for_telemetry",
    "find_leak",
    "guard_payload",
    "is_digest",
    "is_label",
    "plain_words",
    "serialize_for_telemetry",
]
