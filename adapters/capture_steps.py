"""What every capture goes through: the core's privacy steps bound to one policy, and the
properties every event carries.

The client loads this module on its first capture, not at start-up: a host that creates the
client early (a command line, a server starting) does not pay for the privacy core until it
sends something, and one that never sends never pays for it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TypeGuard

from returns.result import Result

from codeweaver_telemetry.core.conversions import category_label
from codeweaver_telemetry.core.event_schema import AnonymizedEvent, TelemetryEvent
from codeweaver_telemetry.core.payload import (
    PRIVACY_FILTER_KEY,
    Filtered,
    finish_payload,
    plain_copy,
)
from codeweaver_telemetry.core.policy import PrivacyPolicy
from codeweaver_telemetry.core.serializer import filter_for_telemetry, serialize_for_telemetry
from codeweaver_telemetry.core.vocabulary import JSONObject, PrivacyError

from .library import SESSION_ID_PROPERTY, library_properties


class CaptureSteps:
    """The policy (and its opted-out twin), the core's filter, and the library's properties."""

    __slots__ = ("library", "opted_out", "policy")

    def __init__(self, policy: PrivacyPolicy) -> None:
        self.policy = policy
        # The search event's opt-in is a policy field: the opted-out variant is made once.
        self.opted_out = dataclasses.replace(policy, tools_over_privacy=False)
        self.library = library_properties()

    def filtered(self, properties: Mapping[str, object]) -> Result[Filtered, PrivacyError]:
        """A host's properties, normalized and guarded (with the filter's report)."""
        return filter_for_telemetry(properties, self.policy)

    def rechecked(self, event: AnonymizedEvent) -> Result[Filtered, PrivacyError]:
        """A built event's properties once a host has held the event, which it may have
        written into: a private copy, guarded again, with the builder's report. The guard
        knows the core's digests (the policy's hashed labels, the event's own), so an event
        built under this policy and left unchanged comes through unchanged. A copy that is
        not plain JSON (the host wrote other types in) is filtered like any host's dict."""
        copy = plain_copy(event.properties, self.policy.max_depth)
        if copy is None:
            return self.filtered(
                {
                    name: value
                    for name, value in event.properties.items()
                    if name != PRIVACY_FILTER_KEY
                }
            )
        copy.pop(PRIVACY_FILTER_KEY, None)  # the report's own entry is made again
        report = event.report
        return finish_payload(copy, self.policy, vetted=report.digests, report=report)

    def serialized(self, obj: object) -> Result[JSONObject, PrivacyError]:
        """A model's ``serialize_for_telemetry`` form."""
        return serialize_for_telemetry(obj, self.policy)

    def is_plain_label(self, name: object) -> bool:
        """Whether ``name`` may be sent as it is: it passes the rules of a category label
        (short, no spaces, nothing the leak guard flags), so no sensitive text is in it."""
        return isinstance(name, str) and category_label(name, self.policy) == name

    def event_properties(
        self, session_id: str, session: JSONObject, tags: JSONObject, own: JSONObject
    ) -> JSONObject:
        """An event's properties: the library's, then the session's metadata, the context's
        tags and the event's own (each already filtered; a later one wins), and the session."""
        merged: JSONObject = {**self.library, **session, **tags, **own}
        merged[SESSION_ID_PROPERTY] = session_id
        return merged

    @staticmethod
    def without_report(filtered: Filtered) -> JSONObject:
        """Filtered tags or metadata, which travel inside events, without their own report."""
        payload = filtered.payload
        payload.pop(PRIVACY_FILTER_KEY, None)
        return payload

    @staticmethod
    def is_sealed(event: TelemetryEvent) -> TypeGuard[AnonymizedEvent]:
        """Whether one of the core's builders made the event (its filter has already run)."""
        return isinstance(event, AnonymizedEvent) and event.sealed
