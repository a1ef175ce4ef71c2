"""What an event is, how its properties are declared, and how a builder collects them.

Every event the library sends declares its properties as :class:`PropertySpec` values, from
which the data inventory (the ``manifest`` command) is generated, so that the documentation of
what is sent cannot drift from what the builders produce.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import ClassVar, Final, Protocol, TypeVar, TypeVarTuple, runtime_checkable

from returns.result import Failure, Result, Success

from .conversions import (
    ConversionRejected,
    as_json_number,
    category_label,
    describe_error,
    to_distribution,
)
from .hashing import DIGEST_HEX_LENGTH
from .leak_guard import REDACTED, find_leak
from .payload import (
    CONSTANT_BOUND,
    MAX_NOTES,
    DropNote,
    FilterReport,
    entries_bound,
    longest_entry,
    text_bound,
    vouch_for_payload,
)
from .policy import PrivacyPolicy
from .vocabulary import AnonymityConversion, JSONObject, JSONValue, PrivacyError

NO_PERSON_PROFILE: Final = "$process_person_profile"
"""PostHog's property that keeps an event from creating or updating a person profile."""

FEATURE_PREFIX: Final = "$feature/"
"""PostHog's prefix for the feature-flag values an event was produced under."""

_T = TypeVar("_T")
_Ts = TypeVarTuple("_Ts")
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

    Only the core's builders seal an event; one made any other way (by calling the class, or
    by ``dataclasses.replace`` of a sealed one) is unsealed, and is filtered like any other
    when captured. The seal says who made the event, not that it is unchanged: a client
    sends a sealed event as it is only if it built the event itself.
    """

    EVENT_NAME: ClassVar[str]
    PROPERTIES: ClassVar[tuple[PropertySpec, ...]]

    properties: JSONObject
    report: FilterReport
    seal: object = field(default=None, init=False, repr=False, compare=False)

    def to_posthog_event(self) -> tuple[str, JSONObject]:
        """The event's name and a copy of its properties."""
        return self.EVENT_NAME, dict(self.properties)

    @property
    def sealed(self) -> bool:
        """Whether one of the core's builders made this event (its filter has run)."""
        return self.seal is _BUILDERS_SEAL


_BUILDERS_SEAL: Final = object()
"""Private to the core: what the builders put on the events they make."""


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


def schema_room(names: Iterable[str]) -> int:
    """Room, in an event's JSON text, for the braces and an entry with a scalar value under
    each of an event schema's ``names`` (see :class:`PropertyBuilder`)."""
    return 2 + entries_bound(frozenset(names))


class PropertyBuilder:
    """Collects an event's properties; a property that cannot be computed is dropped and noted.

    Each property is set by :meth:`put` from a function and its arguments, so that a value
    which raises (a hostile ``__len__``, a NaN, an out-of-range number) costs that property
    only, never the event. In Python 3.11 a ``try`` costs nothing until something raises, so
    this isolation is free for the ordinary inputs that almost every event has.

    The builder vouches for what it makes, so that no walk over the payload is needed:

    - every string is one of the schema's names, or one the builder made: a label or a
      property name that passed the category rules (the leak guard among them), a keyed
      digest, or text that :meth:`put_text` ran through the leak guard;
    - every number comes from ``as_json_number``, a count or a length: finite, within 64 bits;
    - for each string it makes, the builder counts room in the JSON text for that string and
      a scalar beside it: a label, digest or checked name takes at most the room of the
      policy's category length or of a digest; text takes its own ``text_bound``; what the
      schema nests under a label, it adds with :meth:`reserve`. The schema's room
      (:func:`schema_room`) plus this room bounds the payload's size.
    """

    __slots__ = (
        "digests",
        "dropped",
        "hashed",
        "labels",
        "notes",
        "policy",
        "properties",
        "redacted",
        "room",
    )

    def __init__(self, policy: PrivacyPolicy) -> None:
        self.policy = policy
        self.properties: JSONObject = {}
        self.dropped = 0
        self.hashed = 0
        self.redacted = 0
        self.notes: list[DropNote] = []
        self.digests: list[str] = []
        self.labels = 0  # strings counted at the longest a label or digest can be
        self.room = 0  # other room counted, in characters of the JSON text

    def put(self, name: str, compute: Callable[[*_Ts], JSONValue], *args: *_Ts) -> None:
        """Set ``name`` to ``compute(*args)``, or drop it (counted, with a note) if that raises."""
        try:
            self.properties[name] = compute(*args)
        except Exception as error:  # noqa: BLE001 - host objects may raise anything; fail closed
            self.drop_for(name, error)

    def put_number(self, name: str, value: object) -> None:
        """Set ``name`` to ``as_json_number(value)``, or drop it as :meth:`put` would. Numbers
        and labels are most of an event's properties: this skips packing the arguments."""
        try:
            self.properties[name] = as_json_number(value)
        except Exception as error:  # noqa: BLE001 - host objects may raise anything; fail closed
            self.drop_for(name, error)

    def put_label(self, name: str, value: object) -> None:
        """Set ``name`` to the value's :meth:`label`, or drop it as :meth:`put` would."""
        try:
            if value is None:
                self.properties[name] = None
            else:
                self.labels += 1
                self.properties[name] = category_label(value, self.policy)
        except Exception as error:  # noqa: BLE001 - host objects may raise anything; fail closed
            self.drop_for(name, error)

    def put_many(self, group: str, compute: Callable[[*_Ts], JSONObject], *args: *_Ts) -> None:
        """Set the properties ``compute(*args)`` returns, or drop them all, noted under
        ``group``, if that raises."""
        try:
            self.properties.update(compute(*args))
        except Exception as error:  # noqa: BLE001 - host objects may raise anything; fail closed
            self.drop_for(group, error)

    def put_digest(self, name: str, compute: Callable[[*_Ts], str], *args: *_Ts) -> None:
        """Set ``name`` to a keyed digest, which the leak guard must not take for a secret."""
        self.put(name, compute, *args)
        digest = self.properties.get(name)
        if isinstance(digest, str):
            self.hashed += 1
            self.labels += 1
            self.digests.append(digest)

    def put_text(self, name: str, compute: Callable[[*_Ts], str], *args: *_Ts) -> None:
        """Set ``name`` to text that is not a label, after the leak guard: replaced by the
        marker (and counted) if it flags the text."""
        self.put(name, lambda: self.guarded(compute(*args)))

    def guarded(self, text: str) -> str:
        """``text``, or the marker if the leak guard flags it (counted as redacted)."""
        if type(text) is not str:
            raise ConversionRejected(f"a {type(text).__name__} is not a str")
        if find_leak(text, self.policy.literal_tokens) is not None:
            self.redacted += 1
            text = REDACTED
        self.room += text_bound(text)
        return text

    def drop(self, name: str, reason: str) -> None:
        """Count a property that was left out, and say why."""
        self.dropped += 1
        if len(self.notes) < MAX_NOTES:
            self.notes.append(DropNote(name, None, reason))

    def drop_for(self, name: str, error: Exception) -> None:
        """:meth:`drop` a property whose computation raised ``error``: a conversion's own
        reason, or the type of anything else's error (whose message may hold a value)."""
        rejected = isinstance(error, ConversionRejected)
        self.drop(name, str(error) if rejected else describe_error(error))

    def label(self, value: object) -> str | None:
        """A category's text (free text hashed, see ``category_label``); None stays None."""
        if value is None:
            self.room += CONSTANT_BOUND  # a null in a list of labels
            return None
        self.labels += 1
        return category_label(value, self.policy)

    def key_label(self, value: object) -> str:
        """A category's text to use as a key: like :meth:`label`'s, and ``None`` for None."""
        self.labels += 1
        return category_label("None" if value is None else value, self.policy)

    def checked_name(self, name: str) -> bool:
        """Whether a property name made from host data may be used: only if the category
        rules would send it as it is; otherwise the property is dropped and noted, since a
        name is never sent hashed or redacted."""
        if type(name) is str and category_label(name, self.policy) == name:
            self.labels += 1
            return True
        self.drop("[*]", "a property name made from host data looks sensitive")
        return False

    def distribution(self, value: object) -> JSONObject:
        """``to_distribution`` of the value, its labels counted like :meth:`label`'s."""
        counts = to_distribution(value, self.policy)
        self.labels += len(counts)
        return counts

    def reserve(self, room: int) -> None:
        """Add room for what the schema nests under a label (its own names, and scalars)."""
        self.room += room

    def bounded(self, values: Iterable[_T], what: str) -> Iterable[_T]:
        """At most the policy's number of categories from ``values``; the excess is counted.

        A short list is copied: the caller may run the host's code on each item (labelling an
        ``int`` subclass), which must not grow what is being read.
        """
        kind = type(values)
        if kind in _SIZED and len(values) <= self.policy.max_categories:  # type: ignore[arg-type]
            return values.copy() if kind is list else values  # type: ignore[attr-defined]
        return self._bounded(values, what)

    def _bounded(self, values: Iterable[_T], what: str) -> Iterator[_T]:
        for index, value in enumerate(values):
            if index >= self.policy.max_categories:
                self.drop(what, "more items than the policy's category cap")
                return
            yield value

    def finished(self, schema_room: int) -> tuple[JSONObject, FilterReport] | PrivacyError:
        """The size-checked payload, marked to create no person profile, and its report.

        ``schema_room`` is :func:`schema_room` of the schema's own names: code, not data,
        which the guard need not check (a user named ``version`` must not cost the session
        event its version).
        """
        self.properties[NO_PERSON_PROFILE] = False
        if self.dropped or self.hashed or self.redacted:
            report = FilterReport(
                self.dropped, self.redacted, self.hashed, tuple(self.notes), tuple(self.digests)
            )
        else:
            report = _CLEAN_REPORT
        room = schema_room + self.room + self.labels * _label_room(self.policy.max_category_length)
        error = vouch_for_payload(self.properties, self.policy, report, room)
        return (self.properties, report) if error is None else error


@functools.cache
def _label_room(max_category_length: int) -> int:
    """The most a label or a digest can take in the JSON text, as an entry's key or value."""
    return longest_entry(max(max_category_length, DIGEST_HEX_LENGTH))


_SIZED: Final = frozenset({list, tuple, type({}.items())})
"""Collections whose length is their number of items, read at no cost."""

_CLEAN_REPORT: Final = FilterReport()
"""The report of a payload from which nothing was dropped, hashed or redacted (immutable)."""


def build_event(
    event_type: type[_E],
    put_properties: Callable[[PropertyBuilder], None],
    policy: PrivacyPolicy,
    schema_room: int,
) -> Result[_E, PrivacyError]:
    """Build and seal an event whose properties ``put_properties`` puts, or say why not.

    ``schema_room`` is :func:`schema_room` of the schema's names. A value that raises inside
    a :meth:`PropertyBuilder.put` costs its property; anything else that raises (a domain
    object whose fields cannot be read) costs the event, as a Failure.
    """
    try:
        build = PropertyBuilder(policy)
        put_properties(build)
        finished = build.finished(schema_room)
    except Exception as error:  # noqa: BLE001 - host objects may raise anything; fail closed
        return Failure(PrivacyError("", None, describe_error(error)))
    if isinstance(finished, PrivacyError):
        return Failure(finished)
    properties, report = finished
    event = event_type(properties, report)
    object.__setattr__(event, "seal", _BUILDERS_SEAL)  # frozen: only a builder may seal
    return Success(event)
