"""What every capture goes through: the core's privacy steps bound to one policy, and the
properties every event carries.

A host's properties, session metadata and context tags are *reduced* (declarations applied,
made JSON, the host's ``$`` keys dropped); the event they make, with the library's properties,
then passes the wire check once, right before the sink, whoever built it.

The client loads this module on its first capture, not at start-up: a host that creates the
client early (a command line, a server starting) does not pay for the privacy core until it
sends something, and one that never sends never pays for it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Final, NamedTuple

from returns.result import Result

from codeweaver_telemetry.core.app import DEFAULT_APP, App
from codeweaver_telemetry.core.event_schema import AnonymizedEvent
from codeweaver_telemetry.core.mcp_event import MCP_TOOL_CALL_SCHEMA
from codeweaver_telemetry.core.policy import PrivacyPolicy
from codeweaver_telemetry.core.search_event import SEARCH_SCHEMA
from codeweaver_telemetry.core.serializer import reduced_payload, serialize_for_telemetry
from codeweaver_telemetry.core.session_event import SESSION_SCHEMA
from codeweaver_telemetry.core.vocabulary import JSONObject, PrivacyError
from codeweaver_telemetry.core.wire import (
    OPT_IN_KEYS,
    PRIVACY_FILTER_KEY,
    Checked,
    checked_event,
)

from .event_names import library_event_names
from .library import library_properties


class Reduced(NamedTuple):
    """Host properties reduced to JSON, and how many fields that dropped."""

    properties: JSONObject
    dropped: int


NOTHING: Final = Reduced({}, 0)


class CaptureSteps:
    """The policy (and its opted-out twin), the core's steps, and the library's properties."""

    __slots__ = ("event_names", "opted_out", "policy", "schemas")

    def __init__(self, policy: PrivacyPolicy, app: App = DEFAULT_APP) -> None:
        self.policy = policy
        self.event_names = library_event_names(app)
        """The library's own events' names for the app (``mytool_search``)."""
        self.schemas = {
            self.event_names[schema.event_name]: schema
            for schema in (SEARCH_SCHEMA, SESSION_SCHEMA, MCP_TOOL_CALL_SCHEMA)
        }
        """The library's event schemas by the names they are sent under."""
        # The search event's opt-in is a policy field: the opted-out variant is made once.
        self.opted_out = dataclasses.replace(policy, tools_over_privacy=False)

    def declare_labels(self, declared: Mapping[str, frozenset[str]]) -> None:
        """Add words to the policy's vocabularies (both policies): a host's static names,
        such as an MCP server's tool names, always kept under those properties."""
        vocabularies = dict(self.policy.vocabularies)
        for name, words in declared.items():
            vocabularies[name] = vocabularies.get(name, frozenset()) | words
        self.policy = dataclasses.replace(self.policy, vocabularies=vocabularies)
        self.opted_out = dataclasses.replace(self.opted_out, vocabularies=vocabularies)

    def reduced(self, properties: object) -> Reduced | str:
        """A host's properties (or any model), reduced under its declarations; or the reason
        they cannot be."""
        result = reduced_payload(properties, self.policy)
        filtered = result.value_or(None)
        if filtered is None:
            return str(result.failure())
        return Reduced(filtered.payload, filtered.report.dropped)

    def serialized(self, obj: object) -> Result[JSONObject, PrivacyError]:
        """A model's ``serialize_for_telemetry`` form."""
        return serialize_for_telemetry(obj, self.policy)

    def sent_name(self, event: str) -> str:
        """The name an event is sent under: the library's own under the app's names."""
        return self.event_names.get(event, event)

    @staticmethod
    def is_built(event: object) -> bool:
        """Whether the core built the event (its properties are JSON in the wire grammar)."""
        return isinstance(event, AnonymizedEvent)

    @staticmethod
    def own(reduced: Reduced) -> JSONObject:
        """A host's reduced properties as an event's own, their drops in its filter report."""
        own = reduced.properties
        own[PRIVACY_FILTER_KEY] = {"dropped": reduced.dropped, "redacted": 0}
        return own

    @staticmethod
    def context(metadata: Reduced | None, tags: Reduced | None) -> Reduced:
        """The session's metadata and the context's tags, reduced; a tag wins over metadata."""
        if metadata is None or tags is None:
            return metadata or tags or NOTHING
        return Reduced({**metadata.properties, **tags.properties}, metadata.dropped + tags.dropped)

    def checked(
        self, event: str, session_id: str, context: Reduced, own: JSONObject, *, built: bool
    ) -> Result[Checked, PrivacyError]:
        """The event that goes to the sink, through the wire check: the session's metadata and
        the context's tags (``context``, reduced), the event's own properties, then the
        library's (which no host value overrides) and the session id. ``own`` may carry a
        ``privacy_filter`` report; the context's drops are added to it. Only a ``built``
        search event carries the opted-in query's plain words."""
        library = library_properties(session_id, self.policy)
        merged: JSONObject = {**context.properties, **own, **library}
        if context.dropped:
            report = own.get(PRIVACY_FILTER_KEY)
            dropped = report.get("dropped", 0) if isinstance(report, dict) else 0
            merged[PRIVACY_FILTER_KEY] = {
                "dropped": (dropped if type(dropped) is int else 0) + context.dropped,
                "redacted": 0,
            }
        schema = self.schemas.get(event) if built else None
        if schema is None:  # a host's event: its own words only (the policy's vocabularies)
            return checked_event(event, merged, self.policy)
        if schema.query_words:  # the query's statistics are the event's, never a tag's
            for key in OPT_IN_KEYS.intersection(context.properties).difference(own):
                del merged[key]
        return checked_event(
            event,
            merged,
            self.policy,
            schema.vocabularies,
            query_words=schema.query_words,
            names=self.schemas.keys(),
        )
