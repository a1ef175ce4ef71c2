"""What the filter did to a payload, and the last step of every payload the core makes.

The serializer and the event builders both end in :func:`finish_payload`, which hands the
payload to the wire check (see ``wire.py``) and adds what it dropped to the report.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Final

from returns.result import Result

from .policy import PrivacyPolicy
from .vocabulary import AnonymityConversion, JSONObject, PrivacyError
from .wire import PRIVACY_FILTER_KEY, Checked, checked_properties

__all__ = ["MAX_NOTES", "PRIVACY_FILTER_KEY", "DropNote", "FilterReport", "Filtered"]

MAX_NOTES: Final = 32
"""Drops explained per report: enough to debug a model, bounded for hostile inputs (beyond
these, drops are counted only)."""


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

    ``dropped`` counts what was left out because a conversion could not apply, a bound was
    hit or the wire grammar refused it (FORBIDDEN fields are left out by design and not
    counted); ``redacted`` counts the markers in the opted-in query's plain words; ``notes``
    explains the first drops made before the wire check (which counts its own).
    """

    dropped: int = 0
    redacted: int = 0
    notes: tuple[DropNote, ...] = ()


@dataclass(frozen=True, slots=True)
class Filtered:
    """A finished payload and the report of how it was made."""

    payload: JSONObject
    report: FilterReport


def finish_payload(
    properties: JSONObject,
    policy: PrivacyPolicy,
    report: FilterReport = FilterReport(),
    vocabularies: Mapping[str, AbstractSet[str]] | None = None,
    *,
    query_words: bool = False,
) -> Result[Filtered, PrivacyError]:
    """``properties`` through the wire check, with ``report``'s drops (made before it) in the
    payload's ``privacy_filter`` entry and the check's added to them (``query_words``: see
    :func:`~codeweaver_telemetry.core.wire.checked_properties`).

    >>> from codeweaver_telemetry.core.policy import default_policy
    >>> finish_payload({"path": "/home/alice/x.py", "n": 1}, default_policy()).unwrap().payload
    {'n': 1, 'privacy_filter': {'dropped': 1, 'redacted': 0}}
    """
    properties[PRIVACY_FILTER_KEY] = {"dropped": report.dropped, "redacted": 0}

    def reported(checked: Checked) -> Filtered:
        dropped = report.dropped + checked.dropped
        return Filtered(checked.properties, FilterReport(dropped, checked.redacted, report.notes))

    checked = checked_properties(properties, policy, vocabularies, query_words=query_words)
    return checked.map(reported)
