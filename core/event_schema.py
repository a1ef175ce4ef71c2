"""What an event is: a schema of properties, each saying what it is and how it is computed.

The builder (:func:`build_event`) and the data inventory (the ``manifest`` command) read the
same :class:`Property` table, so what is documented as sent and what is sent cannot drift.
A property whose computation raises is dropped and counted, never the event; the finished
properties go through the wire check like anything else (see ``wire.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import ClassVar, Final, Generic, Protocol, TypeVar, runtime_checkable

from returns.result import Result

from .conversions import ConversionRejected, describe_error
from .payload import MAX_NOTES, DropNote, Filtered, FilterReport, finish_payload
from .policy import PrivacyPolicy
from .vocabulary import LABEL_PATTERN, AnonymityConversion, JSONObject, JSONValue, PrivacyError
from .wire import FEATURE_PREFIX, NO_PERSON_PROFILE_KEY, PRIVACY_FILTER_KEY, QUERY_TEXT_KEY

__all__ = [
    "FEATURE_PREFIX",
    "NO_PERSON_PROFILE_KEY",
    "AnonymizedEvent",
    "EventSchema",
    "Property",
    "TelemetryEvent",
    "build_event",
]

_In = TypeVar("_In")
_In_contra = TypeVar("_In_contra", contravariant=True)
_E = TypeVar("_E", bound="AnonymizedEvent")


@runtime_checkable
class TelemetryEvent(Protocol):
    """Anything the client can capture: a name and JSON-ready properties."""

    EVENT_NAME: ClassVar[str]

    def to_posthog_event(self) -> tuple[str, JSONObject]:
        """The event's name and a fresh copy of its properties."""
        ...


@dataclass(frozen=True)  # no slots: ``Property[T](...)`` sets ``__orig_class__``, which they refuse
class Property(Generic[_In_contra]):
    """One property an event carries: its name, JSON type and meaning, how its value was
    reduced from its source (``conversion``; None: sent as computed, a number or a label),
    whether only the user's opt-in sends it, its declared labels (always kept by the wire
    check), and how it is computed from the event's inputs.

    A ``spliced`` property's computation returns several properties (its name is their
    pattern, such as ``$feature/<flag>``).
    """

    name: str
    json_type: str
    description: str
    compute: Callable[[_In_contra, PrivacyPolicy], JSONValue] = field(repr=False)
    conversion: AnonymityConversion | None = None
    opt_in: bool = False
    vocabulary: frozenset[str] = frozenset()
    spliced: bool = False


class EventSchema(Generic[_In]):
    """An event's name and properties, in the order they are computed and listed."""

    __slots__ = ("event_name", "properties", "query_words", "vocabularies")

    def __init__(self, event_name: str, properties: Iterable[Property[_In]]) -> None:
        self.event_name = event_name
        self.properties = tuple(properties)
        for prop in self.properties:
            if not (prop.spliced or prop.name[:1] == "$" or LABEL_PATTERN.fullmatch(prop.name)):
                raise ValueError(f"{prop.name!r} is not a label: the wire check would drop it")
        self.vocabularies: Mapping[str, frozenset[str]] = {
            prop.name: prop.vocabulary for prop in self.properties
        }
        """Each property's declared labels, for the wire check (which takes the names as
        declared too: a user named ``version`` does not cost the event its version)."""
        self.query_words = QUERY_TEXT_KEY in self.vocabularies
        """Whether the event carries the opted-in query's plain words (see ``wire.py``)."""


@dataclass(frozen=True, slots=True)
class AnonymizedEvent:
    """An event the core built: its checked properties and the report of how. Subclasses
    name the event and give its schema; build one with :func:`build_event`."""

    EVENT_NAME: ClassVar[str]
    SCHEMA: ClassVar[EventSchema[object]]

    properties: JSONObject
    report: FilterReport

    def to_posthog_event(self) -> tuple[str, JSONObject]:
        """The event's name and a copy of its properties."""
        return self.EVENT_NAME, dict(self.properties)


def no_person_profile(inputs: object, policy: PrivacyPolicy) -> bool:
    """PostHog's ``$process_person_profile``: always false, so no person profile is made."""
    return False


def build_event(
    event_type: type[_E], schema: EventSchema[_In], inputs: _In, policy: PrivacyPolicy
) -> Result[_E, PrivacyError]:
    """Compute each of the schema's properties from ``inputs`` (the opt-in ones only with the
    user's opt-in), then pass them through the wire check. A property whose computation
    raises is dropped and noted; the event fails only when the check refuses it as a whole.
    """
    properties: JSONObject = {}
    notes: list[DropNote] = []
    dropped = 0
    for prop in schema.properties:
        if prop.opt_in and not policy.tools_over_privacy:
            continue
        try:
            value = prop.compute(inputs, policy)
        except Exception as error:  # noqa: BLE001 - host objects may raise anything; fail closed
            dropped += 1
            if len(notes) < MAX_NOTES:
                notes.append(DropNote(prop.name, prop.conversion, _reason(error)))
            continue
        if prop.spliced and type(value) is dict:
            properties.update(value)
        else:
            properties[prop.name] = value
    report = FilterReport(dropped, 0, tuple(notes))

    def event(filtered: Filtered) -> _E:
        return event_type(filtered.payload, filtered.report)

    finished = finish_payload(
        properties, policy, report, schema.vocabularies, query_words=schema.query_words
    )
    return finished.map(event)


def _reason(error: Exception) -> str:
    """A conversion's own reason, or the type of anything else's error (whose message may
    hold a value)."""
    return str(error) if isinstance(error, ConversionRejected) else describe_error(error)


def empty_report(inputs: object, policy: PrivacyPolicy) -> JSONObject:
    """The filter report before the filter has run (``finish_payload`` writes the real one)."""
    return {"dropped": 0, "redacted": 0}


NO_PERSON_PROFILE: Final[Property[object]] = Property(
    NO_PERSON_PROFILE_KEY, "boolean", "Always false: no person profile is made.", no_person_profile
)
FILTER_REPORT: Final[Property[object]] = Property(
    PRIVACY_FILTER_KEY, "object", "What the privacy filter dropped and redacted.", empty_report
)
"""The two properties every event schema ends with."""
