"""The last step of every payload: leak guard, filter report, size bound.

Both the generic serializer and the event builders end here, so that nothing reaches a sink
without passing the same guard and the same bound.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Final

from returns.result import Failure, Result, Success

from .leak_guard import guard_payload
from .policy import PrivacyPolicy
from .vocabulary import AnonymityConversion, JSONObject, JSONValue, PrivacyError

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
        guarded: JSONObject = properties
        redacted = 0
        guarded[PRIVACY_FILTER_KEY] = {"dropped": report.dropped, "redacted": 0}
    else:
        checked, redacted = guard_payload(properties, policy.literal_tokens, frozenset(vetted))
        if not isinstance(checked, dict):  # guard_payload keeps the shape it is given
            return Failure(PrivacyError("", None, "the payload is not a JSON object"))
        guarded = checked
        guarded[PRIVACY_FILTER_KEY] = {"dropped": report.dropped, "redacted": redacted}
        bound = vetted_size_bound(guarded, None)
        size = bound if bound is not None and bound <= policy.max_payload_bytes else None
        size = size if size is not None else payload_size(guarded)
        if size is None:
            return Failure(PrivacyError("", None, "the payload is not JSON"))
        if size > policy.max_payload_bytes:
            reason = f"the payload is {size} bytes, over the policy's {policy.max_payload_bytes}"
            return Failure(PrivacyError("", None, reason))
    final_report = FilterReport(report.dropped, redacted, report.hashed, report.notes)
    return Success(Filtered(guarded, final_report))


_REPORT_BOUND: Final = 64
"""Room for the filter report's own entry, added after the bound is taken."""


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
            total += 6 * len(key) + 4 + inner
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
            return 6 * len(value) + 2  # type: ignore[arg-type]
        return None
    if kind is int:
        return 21 if -(2**63) <= value < 2**63 else None  # type: ignore[operator]
    if kind is float:
        return 25 if math.isfinite(value) else None  # type: ignore[arg-type]
    if kind is bool or value is None:
        return 5
    if kind is dict or kind is list:
        return vetted_size_bound(value, vetted)
    return None


def payload_size(payload: JSONObject) -> int | None:
    """Bytes of the compact JSON text, or None when it is not JSON (a bug: fail closed).

    ASCII escaping makes this an upper bound of the UTF-8 size a sink sends.
    """
    try:
        return len(json.dumps(payload, allow_nan=False, separators=(",", ":")))
    except (TypeError, ValueError):
        return None
