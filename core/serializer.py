"""Privacy-filtered serialization: any supported model in, an anonymized JSON object out.

Declared fields are reduced by their conversion at every depth; undeclared fields become JSON
when they are plain data, or are dropped when they cannot be sent safely; then the whole goes
through the wire check (``wire.py``), so an undeclared string is sent only when it is a label.
A host's ``$`` keys and ``privacy_filter`` at the top are dropped: they are the library's.
Everything that is left out for a reason other than a FORBIDDEN declaration is counted and
explained. Nothing here raises into the caller.
"""

from __future__ import annotations

import datetime
import enum
import itertools
import math
import numbers
from collections.abc import Collection, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Final, TypeVar

from returns.result import Failure, Result, Success

from .conversions import ConversionRejected, apply, as_json_number, describe_error
from .hashing import DIGEST_PREFIX
from .introspection import MISSING, ModelRejected, declared_keys, is_model, model_fields
from .payload import MAX_NOTES, DropNote, Filtered, FilterReport, finish_payload
from .policy import PrivacyPolicy, default_policy
from .vocabulary import AnonymityConversion, JSONObject, JSONValue, PrivacyError
from .wire import MAX_LABEL_LENGTH, NO_VOCABULARY, PRIVACY_FILTER_KEY, is_digest

_FORBIDDEN: Final = AnonymityConversion.FORBIDDEN
_INT_BOUND: Final = 2**63
_T = TypeVar("_T")

# A host's values are read within the policy's bounds before anything else is done with them:
# at most ``max_list_length`` (and one more, to know there are more) items of any container,
# mapping or model inside an event, whatever its ``__len__`` says, and ``max_event_values``
# in all (the event's properties included: a list shared by every item of another is read
# each time it is met); and a string's length (``str.__len__``, which a subclass cannot
# change) before its text is copied, hashed or scanned. What is over a bound is dropped and
# counted whole, as the wire check would drop it: never cut, never read to the end. (A key
# longer than a label can never be sent: the wire grammar's keys are labels.)

_PLAIN_CONTAINERS: Final = frozenset({list, tuple, set, frozenset})

_OVER_EVENT_VALUES: Final = "the event holds more values than the policy allows"

_NO_DECLARATIONS: Final[Mapping[str, AnonymityConversion]] = {}


def serialize_for_telemetry(
    obj: object, policy: PrivacyPolicy | None = None, *, keys: Mapping[str, object] | None = None
) -> Result[JSONObject, PrivacyError]:
    """The anonymized, JSON-ready form of a model, or why there is none.

    ``keys`` declares the sensitive keys of a plain mapping (models declare their own with
    ``_telemetry_keys()``). Without a policy, :func:`default_policy` is used.

    >>> from codeweaver_telemetry.core import AnonymityConversion as AC
    >>> serialize_for_telemetry({"query": "auth", "hits": 3}, keys={"query": AC.TEXT_COUNT})
    <Success: {'query': 4, 'hits': 3, 'privacy_filter': {'dropped': 0, 'redacted': 0}}>
    """
    return filter_for_telemetry(obj, policy, keys=keys).map(lambda filtered: filtered.payload)


def filter_for_telemetry(
    obj: object, policy: PrivacyPolicy | None = None, *, keys: Mapping[str, object] | None = None
) -> Result[Filtered, PrivacyError]:
    """Like :func:`serialize_for_telemetry`, with the report of what was dropped and why."""
    policy = policy or default_policy()
    return reduced_payload(obj, policy, keys=keys).bind(
        lambda reduced: finish_payload(reduced.payload, policy, reduced.report)
    )


def reduced_payload(
    obj: object, policy: PrivacyPolicy, *, keys: Mapping[str, object] | None = None
) -> Result[Filtered, PrivacyError]:
    """The JSON object a model or a mapping reduces to under its declarations, *before* the
    wire check: for a caller that merges several of them into one event and checks that.

    >>> from codeweaver_telemetry.core.policy import default_policy
    >>> reduced_payload({"$set": {"name": "Bob"}, "hits": 3}, default_policy()).unwrap().payload
    {'hits': 3}
    """
    walk = _Walk(policy)
    try:
        properties = walk.root(obj, keys)
    except ModelRejected as rejected:
        return Failure(PrivacyError("", None, str(rejected)))
    except Exception as error:  # noqa: BLE001 - user objects may raise anything; fail closed
        return Failure(PrivacyError("", None, describe_error(error)))
    return Success(Filtered(properties, walk.report()))


class _Dropped:
    """The walk's marker for a value that is left out."""


_DROP: Final = _Dropped()


class _Walk:
    """One serialization's traversal: the policy, and what it has counted so far."""

    __slots__ = ("active", "dropped", "notes", "policy", "values", "vocabulary")

    def __init__(self, policy: PrivacyPolicy) -> None:
        self.policy = policy
        self.values = 0  # read so far, against the policy's max_event_values
        self.dropped = 0
        self.notes: list[DropNote] = []
        self.active: set[int] = set()  # ids on the current path: a repeat is a cycle
        self.vocabulary: AbstractSet[str] = NO_VOCABULARY  # the top-level property's

    def report(self) -> FilterReport:
        return FilterReport(self.dropped, 0, tuple(self.notes))

    def drop(
        self, parent: str, name: str, conversion: AnonymityConversion | None, reason: str
    ) -> _Dropped:
        self.dropped += 1
        if len(self.notes) < MAX_NOTES:
            self.notes.append(DropNote(_join(parent, name), conversion, reason))
        return _DROP

    def root(self, obj: object, keys: Mapping[str, object] | None) -> JSONObject:
        # An event's properties are not a nested collection: they are read up to the policy's
        # max_event_values (the payload bound then holds what is sent), not max_list_length.
        limit = self.policy.max_event_values
        if type(obj) is dict:  # the common case: its length is its number of items
            declarations = _NO_DECLARATIONS if keys is None else declared_keys(obj, explicit=keys)
            fields = list(obj.items()) if len(obj) <= limit else None
        elif isinstance(obj, Mapping):
            declarations = declared_keys(obj, explicit=keys)
            fields = self.bounded(obj.items(), limit)
        elif is_model(obj):
            declarations = declared_keys(obj, explicit=keys)
            fields = self.bounded(model_fields(obj), limit)
        else:
            raise ModelRejected(f"a {type(obj).__name__} is not a model or a mapping")
        if fields is None:
            raise ModelRejected(f"a {type(obj).__name__} with more items than allowed")
        self.active.add(id(obj))
        self.values = len(fields)
        reveal_names = not isinstance(obj, Mapping)
        return self.fields(fields, declarations, "", 1, reveal_names=reveal_names)

    def admits(self, count: int) -> bool:
        """Whether ``count`` more values fit in the event (``max_event_values``) with what was
        read before them (once they do not, no later ones do, as in the wire check)."""
        self.values += count
        return self.values <= self.policy.max_event_values

    def bounded(self, items: Iterable[_T], limit: int | None = None) -> list[_T] | None:
        """At most ``limit`` items (the policy's ``max_list_length``), read once; None when
        there are more."""
        limit = self.policy.max_list_length if limit is None else limit
        read = list(itertools.islice(items, limit + 1))
        return None if len(read) > limit else read

    def fields(
        self,
        fields: Sequence[tuple[object, object]],
        declarations: Mapping[str, AnonymityConversion],
        path: str,
        depth: int,
        *,
        reveal_names: bool,
    ) -> JSONObject:
        """Walk ``(key, value)`` pairs; mapping keys appear in drop notes only when declared."""
        out: JSONObject = {}
        vocabularies = self.policy.vocabularies
        for raw_key, value in fields:
            key = raw_key if type(raw_key) is str else _json_key(raw_key)
            if key is None or len(key) > MAX_LABEL_LENGTH or key.startswith(DIGEST_PREFIX):
                key = self.admitted_key(key, raw_key, declarations, path)
                if key is None:
                    continue
            conversion = declarations.get(key) if declarations else None
            if conversion is _FORBIDDEN:
                continue
            label = key if reveal_names or conversion is not None else "[*]"
            if depth == 1:
                reported = _reported_drops(value) if key == PRIVACY_FILTER_KEY else None
                if reported is not None:
                    # The library's report of an earlier pass (a payload serialized before it
                    # is captured) keeps its count.
                    self.dropped += reported
                    continue
                if key == PRIVACY_FILTER_KEY or key[:1] == "$":
                    # The filter's report, and PostHog's $ properties, are the library's alone.
                    self.drop(path, label, conversion, "the key is reserved for the library")
                    continue
                if vocabularies:
                    self.vocabulary = vocabularies.get(key, NO_VOCABULARY)
            if value is MISSING:
                result: JSONValue | _Dropped = self.drop(path, label, conversion, "unreadable")
            elif conversion is None:
                result = self.free(value, path, label, depth)
            else:
                result = self.declared(value, conversion, path, label)
            if isinstance(result, _Dropped):
                continue
            if key in out:
                self.drop(path, label, conversion, "two keys have the same text")
                continue
            out[key] = result
        return out

    def admitted_key(
        self,
        key: str | None,
        raw_key: object,
        declarations: Mapping[str, AnonymityConversion],
        path: str,
    ) -> str | None:
        """A key that is not plain short text, if it may be kept; None when it is left out
        (dropped and counted, or silently when it is declared FORBIDDEN): one JSON cannot
        carry, one longer than a label (which is not read further), or one in a digest's form
        (only HASH makes a digest: in a host's key, it is host data)."""
        if key is not None and len(key) > MAX_LABEL_LENGTH:
            if not (declarations and declarations.get(key) is _FORBIDDEN):
                self.drop(path, "[*]", None, "the key is longer than a label")
            return None
        if key is not None and not is_digest(key):
            return key
        self.drop(path, "[*]", None, f"a {type(raw_key).__name__} key cannot be sent")
        return None

    def declared(
        self, value: object, conversion: AnonymityConversion, path: str, name: str
    ) -> JSONValue | _Dropped:
        try:
            return apply(value, conversion, self.policy, self.vocabulary)
        except ConversionRejected as rejected:
            return self.drop(path, name, conversion, str(rejected))
        except Exception as error:  # noqa: BLE001 - user objects may raise anything; fail closed
            return self.drop(path, name, conversion, describe_error(error))

    def free(self, value: object, path: str, name: str, depth: int) -> JSONValue | _Dropped:
        """An undeclared value: plain JSON data passes, containers and models are walked."""
        if type(value) is str:
            if self.policy.strict:
                return self.drop(path, name, None, "undeclared text is not sent in strict mode")
            if len(value) > self.policy.max_string_length:
                return self.drop(path, name, None, "the text is longer than the policy allows")
            if value.startswith(DIGEST_PREFIX) and is_digest(value):
                # Only HASH makes digests: one in a host's text is the host's data.
                return self.drop(path, name, None, "undeclared text in a digest's form")
            return value
        kind = type(value)
        if kind is bool or value is None:
            return value  # type: ignore[return-value]
        if kind is int or kind is float:
            if kind is float or -_INT_BOUND < value < _INT_BOUND:  # type: ignore[operator]
                return value  # type: ignore[return-value]  # (the wire check drops NaN)
            return self.number(value, path, name)
        if isinstance(value, enum.Enum):
            return self.enum_member(value, path, name)
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            return self.number(value, path, name)
        if isinstance(value, str):  # a str subclass: send the plain text, not its __str__
            if str.__len__(value) > self.policy.max_string_length:
                return self.drop(path, name, None, "the text is longer than the policy allows")
            return self.free("".join([value]), path, name, depth)
        try:
            return self.nested(value, path, name, depth)
        except ModelRejected as rejected:
            return self.drop(path, name, None, str(rejected))
        except Exception as error:  # noqa: BLE001 - user objects may raise anything; fail closed
            return self.drop(path, name, None, describe_error(error))

    def number(self, value: object, path: str, name: str) -> int | float | _Dropped:
        try:
            return as_json_number(value)
        except ConversionRejected as rejected:
            return self.drop(path, name, None, str(rejected))

    def enum_member(self, member: enum.Enum, path: str, name: str) -> JSONValue | _Dropped:
        inner = member.value
        if isinstance(inner, str) and str.__len__(inner) > self.policy.max_string_length:
            return self.drop(path, name, None, "the text is longer than the policy allows")
        if isinstance(inner, str):
            text = "".join([inner])
            if text.startswith(DIGEST_PREFIX) and is_digest(text):  # (as free() drops it)
                return self.drop(path, name, None, "undeclared text in a digest's form")
            return text
        if isinstance(inner, bool) or inner is None:
            return inner
        if isinstance(inner, int | float):
            return self.number(inner, path, name)
        return member.name

    def nested(self, value: object, path: str, name: str, depth: int) -> JSONValue | _Dropped:
        kind = type(value)
        is_container = (
            kind is dict
            or kind is list
            or isinstance(value, Mapping | list | tuple | set | frozenset)
        )
        if not is_container and not is_model(value):
            return self.scalar_object(value, path, name)
        if depth >= self.policy.max_depth:
            return self.drop(path, name, None, "nested deeper than the policy allows")
        if self.values > self.policy.max_event_values:  # over already: nothing more is read
            return self.drop(path, name, None, _OVER_EVENT_VALUES)
        identity = id(value)
        if identity in self.active:
            return self.drop(path, name, None, "the value contains itself")
        self.active.add(identity)
        try:
            return self.container(value, _join(path, name), depth + 1)
        finally:
            self.active.discard(identity)

    def container(self, value: object, path: str, depth: int) -> JSONValue | _Dropped:
        kind = type(value)
        if kind is dict or (kind is not list and isinstance(value, Mapping)):
            return self.mapping(value, path, depth)  # type: ignore[arg-type]
        # A NamedTuple or a list subclass that declares its keys is a model too.
        if kind is not list and is_model(value):
            declarations = declared_keys(value)
            fields = self.bounded(model_fields(value))
            if fields is None:
                return self.drop(path, "", None, "the model has more fields than allowed")
            if not self.admits(len(fields)):
                return self.drop(path, "", None, _OVER_EVENT_VALUES)
            return self.fields(fields, declarations, path, depth, reveal_names=True)
        if not isinstance(value, list | tuple | set | frozenset):
            return self.drop(path, "", None, f"a {type(value).__name__} cannot be walked")
        if type(value) in _PLAIN_CONTAINERS:  # its length is its number of items
            members: Collection[object] | None = (
                None if len(value) > self.policy.max_list_length else value
            )
        else:  # a subclass's __len__ and __iter__ may disagree
            members = self.bounded(value)
        if members is None:
            return self.drop(path, "", None, "the collection has more items than allowed")
        if not self.admits(len(members)):
            return self.drop(path, "", None, _OVER_EVENT_VALUES)
        items: list[JSONValue] = []
        for index, item in enumerate(members):
            result = self.free(item, path, f"[{index}]", depth)
            if not isinstance(result, _Dropped):
                items.append(result)
        if kind is not list and isinstance(value, set | frozenset):
            items.sort(key=_order_key)  # set iteration order varies between processes
        return items

    def mapping(
        self, value: Mapping[object, object], path: str, depth: int
    ) -> JSONValue | _Dropped:
        # A mapping that declares its keys is a model; any other one has free-text keys.
        # (A plain dict cannot: it has no attributes.)
        declarations = _NO_DECLARATIONS if type(value) is dict else declared_keys(value)
        if self.policy.strict and not declarations:
            return self.drop(path, "", None, "undeclared mappings are not sent in strict mode")
        if type(value) is dict:  # its length is its number of items
            fields = None if len(value) > self.policy.max_list_length else list(value.items())
        else:  # a subclass's or another mapping's __len__ and items() may disagree
            fields = self.bounded(value.items())
        if fields is None:
            return self.drop(path, "", None, "the mapping has more items than allowed")
        if not self.admits(len(fields)):
            return self.drop(path, "", None, _OVER_EVENT_VALUES)
        return self.fields(fields, declarations, path, depth, reveal_names=False)

    def scalar_object(self, value: object, path: str, name: str) -> JSONValue | _Dropped:
        # The types' own methods, not a subclass's (whose isoformat could return anything).
        if isinstance(value, datetime.date | datetime.time) and not self.policy.strict:
            if isinstance(value, datetime.datetime):
                return datetime.datetime.isoformat(value)
            if isinstance(value, datetime.date):
                return datetime.date.isoformat(value)
            return datetime.time.isoformat(value)
        if isinstance(value, datetime.timedelta):
            return self.number(datetime.timedelta.total_seconds(value), path, name)
        return self.drop(path, name, None, f"a {type(value).__name__} cannot be sent as it is")


def _json_key(key: object) -> str | None:
    """The text JSON would give a mapping key, or None for keys it cannot carry."""
    if type(key) is str:
        return key
    if isinstance(key, enum.Enum):
        key = key.value
    if isinstance(key, bool):
        return "true" if key else "false"
    if key is None:
        return "null"
    if isinstance(key, str):
        return "".join([key]) if str.__len__(key) <= MAX_LABEL_LENGTH else None
    if isinstance(key, int):
        # int's own text and size, not a subclass's __str__ or comparisons (any text, any answer)
        return int.__repr__(key) if int.bit_length(key) < 64 else None
    if isinstance(key, float) and math.isfinite(key):
        return repr(key)
    return None


def _join(parent: str, name: str) -> str:
    """A path for drop notes, such as ``matches[3].file_path``."""
    if not name:
        return parent
    if not parent:
        return name
    return f"{parent}{name}" if name.startswith("[") else f"{parent}.{name}"


def _order_key(item: JSONValue) -> tuple[str, str]:
    return (type(item).__name__, str(item))


def _reported_drops(report: object) -> int | None:
    """The drops an earlier pass reported in its ``privacy_filter`` entry; None when the entry
    is not of the library's form."""
    dropped = report.get("dropped") if type(report) is dict else None
    return dropped if type(dropped) is int and 0 <= dropped < 2**63 else None
