"""The last step of every payload: leak guard, filter report, size bound.

Both the generic serializer and the event builders end here, so that nothing reaches a sink
without passing the same guard and the same bound.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Collection, Iterable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Final

from returns.result import Failure, Result, Success

from .leak_guard import guard_payload
from .policy import PrivacyPolicy
from .vocabulary import AnonymityConversion, JSONObject, JSONValue, PrivacyError

MAX_NOTES: Final = 32
"""Drops explained per report: enough to debug a model, bounded for hostile inputs (beyond
these, drops are counted only)."""

PRIVACY_FILTER_KEY: Final = "privacy_filter"
"""The reserved top-level key that reports what the filter did: ``{"dropped", "redacted"}``."""


@dataclass(frozen=True, slots=True)
class DropNote:
    """Why one field was left out: where, under which conversion, and the reason (no value)."""

    path: str
    conversion: AnonymityConversion | None
    reason: str

    def __str__(self) -> str:
        return str(PrivacyError(self.path, self.conversion, self.reason))


@dataclass(frozen=True, slots=True)
class FilterReport:
    """What the filter did to one payload.

    ``dropped`` counts fields left out because a conversion could not apply or a bound was hit
    (FORBIDDEN fields are left out by design and not counted); ``redacted`` counts strings the
    leak guard replaced; ``hashed`` counts HASH conversions; ``notes`` explains the first drops.
    """

    dropped: int = 0
    redacted: int = 0
    hashed: int = 0
    notes: tuple[DropNote, ...] = ()
    digests: tuple[str, ...] = ()
    """The keyed digests an event's builder put in it (the opted-in query's hash), so that a
    guard run again on the event knows them for the core's own (see ``hashed_labels`` of
    ``PrivacyPolicy`` for hashed labels)."""


@dataclass(frozen=True, slots=True)
class Filtered:
    """A finished payload and the report of how it was made."""

    payload: JSONObject
    report: FilterReport


def finish_payload(
    properties: JSONObject,
    policy: PrivacyPolicy,
    *,
    vetted: Iterable[str] = (),
    report: FilterReport = FilterReport(),
) -> Result[Filtered, PrivacyError]:
    """Guard every string and key, add the filter report, and refuse an oversized payload.

    ``vetted`` holds strings the guard need not check again: the core's own digests, labels
    that already passed it with the same literals, and the event schemas' constant names.

    >>> from codeweaver_telemetry.core.policy import default_policy
    >>> finish_payload({"path": "/home/alice/x.py"}, default_policy()).unwrap().payload
    {'path': '[REDACTED]', 'privacy_filter': {'dropped': 0, 'redacted': 1}}
    """
    vetted = vetted if isinstance(vetted, AbstractSet) else frozenset(vetted)
    bound = vetted_size_bound(properties, vetted)
    if bound is not None and bound + _REPORT_BOUND <= policy.max_payload_bytes:
        # Every string is one the guard would pass, and the size cannot exceed the bound:
        # the guard's walk and the exact measure would change nothing.
        properties[PRIVACY_FILTER_KEY] = {"dropped": report.dropped, "redacted": 0}
        return Success(Filtered(properties, _with_redacted(report, 0)))
    checked, redacted = guard_payload(
        properties, policy.literal_tokens, vetted, policy.hashed_labels
    )
    if not isinstance(checked, dict):  # guard_payload keeps the shape it is given
        return Failure(PrivacyError("", None, "the payload is not a JSON object"))
    checked[PRIVACY_FILTER_KEY] = {"dropped": report.dropped, "redacted": redacted}
    bound = vetted_size_bound(checked, None)
    error = _size_error(checked, policy, bound)
    if error is not None:
        return Failure(error)
    return Success(Filtered(checked, _with_redacted(report, redacted)))


def vouch_for_payload(
    properties: JSONObject, policy: PrivacyPolicy, report: FilterReport, bound: int
) -> PrivacyError | None:
    """Add the filter report's entry to a payload whose maker vouches for it, and say why it
    cannot be sent (None: it can). The maker made every string in it a vetted one (so the
    guard would change nothing: it is not run) and every number a plain finite one, and
    ``bound`` is room it counted, as it made them, for all of them: an upper bound of the
    compact JSON size. The report's counts are the maker's own.

    >>> from codeweaver_telemetry.core.policy import default_policy
    >>> payload = {"n": 1}
    >>> vouch_for_payload(payload, default_policy(), FilterReport(), 30) is None, payload
    (True, {'n': 1, 'privacy_filter': {'dropped': 0, 'redacted': 0}})
    """
    properties[PRIVACY_FILTER_KEY] = {"dropped": report.dropped, "redacted": report.redacted}
    return _size_error(properties, policy, bound + _REPORT_BOUND)


def plain_copy(payload: JSONObject, max_depth: int) -> JSONObject | None:
    """A private copy of ``payload`` if everything in it is plain JSON, with containers
    nested at most ``max_depth`` below it; None otherwise.

    Plain means of these exact types: ``dict`` with ``str`` keys, ``list``, ``str``, an ``int``
    within 64 bits, a finite ``float``, ``bool``, None. A subclass is refused: its methods
    could lie to the guard that runs on the copy. Each container is read once, in one call,
    so a payload that another thread changes meanwhile is copied as each container was at one
    moment, never half-read.

    >>> plain_copy({"a": [1, "b", None]}, 4)
    {'a': [1, 'b', None]}
    >>> plain_copy({"a": float("nan")}, 4) is None
    True
    """
    try:
        copy = _plain(payload, max_depth + 1)
    except (_NotPlainError, RuntimeError):  # RuntimeError: a RecursionError, or a dict resized
        return None
    return copy if type(copy) is dict else None


class _NotPlainError(Exception):
    """A value that is not plain JSON, or is nested too deep."""


def _plain(value: object, depth: int) -> JSONValue:
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return value  # type: ignore[return-value]
    if kind is int and -(2**63) <= value < 2**63:  # type: ignore[operator]
        return value  # type: ignore[return-value]
    if kind is float and math.isfinite(value):  # type: ignore[arg-type]
        return value  # type: ignore[return-value]
    if depth <= 0:
        raise _NotPlainError
    if kind is dict:
        copy: JSONObject = {}
        for key, item in list(value.items()):  # type: ignore[attr-defined]
            if type(key) is not str:
                raise _NotPlainError
            copy[key] = _plain(item, depth - 1)
        return copy
    if kind is list:
        return [_plain(item, depth - 1) for item in list(value)]  # type: ignore[call-overload]
    raise _NotPlainError


def _with_redacted(report: FilterReport, redacted: int) -> FilterReport:
    if report.redacted == redacted:
        return report
    return dataclasses.replace(report, redacted=redacted)


def _size_error(
    payload: JSONObject, policy: PrivacyPolicy, bound: int | None
) -> PrivacyError | None:
    """Why ``payload`` cannot be sent (not JSON, or oversized), measuring it only when its
    size ``bound`` (None: unknown) does not settle that it fits."""
    if bound is not None and bound <= policy.max_payload_bytes:
        return None
    size = payload_size(payload)
    if size is None:
        return PrivacyError("", None, "the payload is not JSON")
    if size > policy.max_payload_bytes:
        reason = f"the payload is {size} bytes, over the policy's {policy.max_payload_bytes}"
        return PrivacyError("", None, reason)
    return None


_REPORT_BOUND: Final = 64
"""Room for the filter report's own entry, added after the bound is taken."""

_INT_BOUND: Final = 21
"""The longest JSON text of a 64-bit int, and its comma."""

_FLOAT_BOUND: Final = 25
"""The longest JSON text of a finite float (``-2.2250738585072014e-308``), and its comma."""

CONSTANT_BOUND: Final = 5
"""The longest of ``true``, ``false`` and ``null``, and its comma."""


def vetted_size_bound(value: JSONValue, vetted: AbstractSet[str] | None) -> int | None:
    """An upper bound of the compact JSON size, if every string and key is vetted (any string
    will do when ``vetted`` is None) and every leaf is a plain JSON scalar; None otherwise
    (then the guard and the exact size decide).

    >>> vetted_size_bound({"a": ["b", 1, None]}, {"a", "b"})
    51
    >>> vetted_size_bound({"a": "unvetted"}, {"a"}) is None
    True
    """
    kind = type(value)
    if kind is dict:
        total = 2
        for key, item in value.items():  # type: ignore[union-attr]
            if type(key) is not str or (vetted is not None and key not in vetted):
                return None
            inner = _leaf_bound(item, vetted)
            if inner is None:
                return None
            total += text_bound(key) + 2 + inner
        return total
    if kind is list:
        total = 2
        for item in value:  # type: ignore[union-attr]
            inner = _leaf_bound(item, vetted)
            if inner is None:
                return None
            total += inner + 1
        return total
    return _leaf_bound(value, vetted)


def _leaf_bound(value: JSONValue, vetted: AbstractSet[str] | None) -> int | None:
    # Scalars inline, containers by recursion: most of a payload is scalars.
    kind = type(value)
    if kind is str:
        if vetted is None or value in vetted:
            return text_bound(value)  # type: ignore[arg-type]
        return None
    if kind is int:
        return _INT_BOUND if -(2**63) <= value < 2**63 else None  # type: ignore[operator]
    if kind is float:
        return _FLOAT_BOUND if math.isfinite(value) else None  # type: ignore[arg-type]
    if kind is bool or value is None:
        return CONSTANT_BOUND
    if kind is dict or kind is list:
        return vetted_size_bound(value, vetted)
    return None


def text_bound(text: str) -> int:
    """The longest JSON text of ``text``: ASCII escapes take up to 6 characters each
    (``\\u001f``), and a character beyond the BMP takes a surrogate pair of them (12).

    >>> text_bound("ab"), text_bound("\U0001f600")
    (14, 14)
    """
    return (6 if text.isascii() else 12) * len(text) + 2


def longest_entry(length: int) -> int:
    """The longest JSON text of an entry ``"key": scalar,`` whose key has at most ``length``
    characters (each of which may take 12 in the text, see :func:`text_bound`).

    >>> longest_entry(1) >= entry_bound("\U0001f600")
    True
    """
    return 12 * length + 3 + _FLOAT_BOUND


def entries_bound(keys: Collection[str]) -> int:
    """The longest JSON text of an entry ``"key": scalar,`` for each of ``keys``.

    >>> entries_bound(["count", "mean"]) == entry_bound("count") + entry_bound("mean")
    True
    """
    return text_bound("".join(keys)) + (2 + 1 + _FLOAT_BOUND) * len(keys) - 2


def entry_bound(key: str) -> int:
    """The longest JSON text of an entry ``"key": scalar,`` (a number, a bool or null).

    >>> entry_bound("count")
    58
    """
    return (6 if key.isascii() else 12) * len(key) + 3 + _FLOAT_BOUND  # text_bound's, inline


def payload_size(payload: JSONObject) -> int | None:
    """Bytes of the compact JSON text, or None when it is not JSON (a bug: fail closed).

    ASCII escaping makes this an upper bound of the UTF-8 size a sink sends.
    """
    try:
        return len(json.dumps(payload, allow_nan=False, separators=(",", ":")))
    except (TypeError, ValueError):
        return None
