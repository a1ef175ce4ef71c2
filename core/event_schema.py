"""What an event is, how its properties are declared, and how a builder collects them.

Every event the library sends declares its properties as :class:`PropertySpec` values, from
which the data inventory (the ``manifest`` command) is generated, so that the documentation of
what is sent cannot drift from what the builders produce.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import ClassVar, Final, Protocol, TypeVar, runtime_checkable

from returns.result import Result

from .conversions import ConversionRejected, category_label, describe_error, to_distribution
from .payload import DropNote, Filtered, FilterReport, finish_payload
from .policy import PrivacyPolicy
from .vocabulary import AnonymityConversion, JSONObject, JSONValue, PrivacyError

NO_PERSON_PROFILE: Final = "$process_person_profile"
"""PostHog's property that keeps an event from creating or updating a person profile."""

FEATURE_PREFIX: Final = "$feature/"
"""PostHog's prefix for the feature-flag values an event was produced under."""

_T = TypeVar("_T")
_E = TypeVar("_E", bound="AnonymizedEvent")


@runtime_checkable
class TelemetryEvent(Protocol):
    """Anything the client can capture: a name and anonymized, JSON-ready properties."""

    EVENT_NAME: ClassVar[str]

    def to_posthog_event(self) -> tuple[str, JSONObject]:
        """The event's name and a fresh copy of its properties."""
        ...


@dataclass(frozen=True, slots=True)
class AnonymizedEvent:
    """An event the core built: anonymized properties and the report of how. Subclasses name
    the event and declare its properties.

    Only the core's builders seal an event; an unsealed one (made by calling the class
    directly) is filtered like any other when captured.
    """

    EVENT_NAME: ClassVar[str]
    PROPERTIES: ClassVar[tuple[PropertySpec, ...]]

    properties: JSONObject
    report: FilterReport
    seal: object = field(default=None, repr=False, compare=False)

    def to_posthog_event(self) -> tuple[str, JSONObject]:
        """The event's name and a copy of its properties."""
        return self.EVENT_NAME, dict(self.properties)

    @property
    def sealed(self) -> bool:
        """Whether one of the core's builders made this event (its filter has run)."""
        return self.seal is _BUILDERS_SEAL


_BUILDERS_SEAL: Final = object()
"""Private to the core: what the builders put on the events they make."""


def sealed_event(event_type: type[_E], filtered: Filtered) -> _E:
    """An event of ``event_type`` from a finished payload, sealed as the core's own."""
    return event_type(filtered.payload, filtered.report, _BUILDERS_SEAL)


@dataclass(frozen=True, slots=True)
class PropertySpec:
    """One property an event may carry, for the data inventory.

    ``conversion`` says how the value was reduced from its source (None: sent as computed,
    a number or a category); ``opt_in`` marks properties sent only with ``tools_over_privacy``.
    """

    name: str
    json_type: str
    description: str
    conversion: AnonymityConversion | None = None
    opt_in: bool = False


class PropertyBuilder:
    """Collects an event's properties; a property that cannot be computed is dropped and noted.

    Each property is computed by a function, so that a value which raises (a hostile
    ``__len__``, a NaN, an out-of-range number) costs that property only, never the event.
    """

    __slots__ = ("dropped", "hashed", "notes", "policy", "properties", "vetted")

    def __init__(self, policy: PrivacyPolicy) -> None:
        self.policy = policy
        self.properties: JSONObject = {}
        self.dropped = 0
        self.hashed = 0
        self.notes: list[DropNote] = []
        self.vetted: set[str] = set()

    def put(self, name: str, compute: Callable[[], JSONValue]) -> None:
        """Set ``name`` to ``compute()``, or drop it (counted, with a note) if that fails."""
        try:
            self.properties[name] = compute()
        except ConversionRejected as rejected:
            self.drop(name, str(rejected))
        except Exception as error:  # noqa: BLE001 - host objects may raise anything; fail closed
            self.drop(name, describe_error(error))

    def put_digest(self, name: str, compute: Callable[[], str]) -> None:
        """Set ``name`` to a keyed digest, which the leak guard must not take for a secret."""
        self.put(name, compute)
        digest = self.properties.get(name)
        if isinstance(digest, str):
            self.hashed += 1
            self.vetted.add(digest)

    def drop(self, name: str, reason: str) -> None:
        """Count a property that was left out, and say why."""
        self.dropped += 1
        self.notes.append(DropNote(name, None, reason))

    def label(self, value: object) -> str | None:
        """A category's text (free text hashed, see ``category_label``); None stays None."""
        if value is None:
            return None
        text = category_label(value, self.policy)
        self.vetted.add(text)  # it passed the full guard, or it is a digest
        return text

    def checked_name(self, name: str) -> bool:
        """Whether a property name made from host data may be used: only if the category
        rules would send it as it is (then it is vetted); otherwise the property is dropped
        and noted, since a name is never sent hashed or redacted."""
        if category_label(name, self.policy) == name:
            self.vetted.add(name)
            return True
        self.drop("[*]", "a property name made from host data looks sensitive")
        return False

    def distribution(self, value: object) -> JSONObject:
        """``to_distribution`` of the value, its labels vetted like :meth:`label`'s."""
        counts = to_distribution(value, self.policy)
        self.vetted.update(counts)
        return counts

    def bounded(self, values: Iterable[_T], what: str) -> Iterator[_T]:
        """At most the policy's number of categories from ``values``; the excess is counted."""
        for index, value in enumerate(values):
            if index >= self.policy.max_categories:
                self.drop(what, "more items than the policy's category cap")
                return
            yield value

    def finish(self, constant_names: Iterable[str]) -> Result[Filtered, PrivacyError]:
        """The guarded, size-checked payload, marked to create no person profile.

        ``constant_names`` are the event schema's own property and sub-property names: code,
        not data, so the guard need not check them (a user named ``version`` must not cost
        the session event its version).
        """
        self.properties[NO_PERSON_PROFILE] = False
        report = FilterReport(self.dropped, 0, self.hashed, tuple(self.notes))
        self.vetted.update(constant_names)
        return finish_payload(self.properties, self.policy, vetted=self.vetted, report=report)
