"""An MCP server's tool calls: the client's label, one call as the instrumentation records
it, and the event sent per call when a host asks for one (by default the calls are summed
into the session event instead: see ``mcp_tool_calls`` in ``session_event.py``).

Nothing here sees a tool's arguments or results: a call is its tool's name, its outcome, its
duration and its response's size as counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Final, NamedTuple

from returns.result import Result

from .conversions import as_json_number, category_label
from .domain import ToolCallOutcome
from .event_schema import (
    FILTER_REPORT,
    NO_PERSON_PROFILE,
    AnonymizedEvent,
    EventSchema,
    Property,
    build_event,
)
from .known_labels import MCP_CLIENT_NAMES, MCP_CLIENTS, MCP_PROTOCOL_VERSIONS, values_of
from .policy import PrivacyPolicy
from .vocabulary import PrivacyError
from .wire import NO_VOCABULARY

OTHER_CLIENT: Final = "other"
"""The label of every client that is not a well-known one."""

MAX_CLIENT_NAME_CHARS: Final = 256
"""A client name longer than this is no well-known client's: ``other``, without reading it."""

MCP_TOOL_KEY: Final = "mcp_tool"
"""The per-call event's tool name; a host declares its tools' names under it (the
instrumentation does) so that they are always kept."""


def mcp_client_label(name: object) -> str:
    """The label of a client's ``clientInfo.name``: a well-known client's, else ``other``
    (never the name itself, which is the client's free text).

    >>> mcp_client_label("claude-ai"), mcp_client_label("Zed"), mcp_client_label("acme-bot")
    ('claude-desktop', 'zed', 'other')
    """
    if type(name) is not str or len(name) > MAX_CLIENT_NAME_CHARS:
        return OTHER_CLIENT  # (a longer one is no known client's, and is not read)
    key = "-".join(name.lower().split())
    label = MCP_CLIENT_NAMES.get(key, key)
    return label if label in MCP_CLIENTS else OTHER_CLIENT


class ToolCall(NamedTuple):
    """One tool call as the instrumentation records it: the tool's name (one the server
    registered, else ``__other__``), how it ended, how long it took, its response's size
    (content items, characters of text), and the client's label, version and protocol
    version (the last two as the client sent them; the event keeps them only as labels)."""

    tool: str
    outcome: ToolCallOutcome
    duration_ms: float
    content_items: int
    text_chars: int
    client: str
    client_version: str
    protocol_version: str


class ToolCallInputs(NamedTuple):
    """What the per-call event is computed from: the call, and the rate it was sampled at."""

    call: ToolCall
    sample_rate: float


def _declared_tool(inputs: ToolCallInputs, policy: PrivacyPolicy) -> str:
    return category_label(
        inputs.call.tool, policy, policy.vocabularies.get(MCP_TOOL_KEY, NO_VOCABULARY)
    )


MCP_TOOL_CALL_SCHEMA: Final[EventSchema[ToolCallInputs]] = EventSchema(
    "codeweaver_mcp_tool_call",
    (
        Property(
            MCP_TOOL_KEY,
            "string",
            "The tool's name, one the server registered (else __other__).",
            _declared_tool,
        ),
        Property(
            "outcome",
            "string",
            "ok, tool_error, protocol_error, cancelled or timeout.",
            lambda i, p: category_label(i.call.outcome, p, values_of(ToolCallOutcome)),
            vocabulary=values_of(ToolCallOutcome),
        ),
        Property(
            "duration_ms",
            "number",
            "How long the call took, in milliseconds.",
            lambda i, p: as_json_number(i.call.duration_ms),
        ),
        Property(
            "content_items",
            "integer",
            "Content items in the response (never their content).",
            lambda i, p: as_json_number(i.call.content_items),
        ),
        Property(
            "text_chars",
            "integer",
            "Characters of the response's text content, as a number.",
            lambda i, p: as_json_number(i.call.text_chars),
        ),
        Property(
            "mcp_client",
            "string",
            "The client: a well-known client's label, else other.",
            lambda i, p: category_label(i.call.client, p, MCP_CLIENTS),
            vocabulary=MCP_CLIENTS,
        ),
        Property(
            "mcp_client_version",
            "string",
            "The client's version (a label, else __other__).",
            lambda i, p: category_label(i.call.client_version, p),
        ),
        Property(
            "mcp_protocol_version",
            "string",
            "The MCP protocol version of the connection (a label, else __other__).",
            lambda i, p: category_label(i.call.protocol_version, p, MCP_PROTOCOL_VERSIONS),
            vocabulary=MCP_PROTOCOL_VERSIONS,
        ),
        Property(
            "sample_rate",
            "number",
            "The share of calls sent as events (1 / sample_rate calls per event).",
            lambda i, p: as_json_number(i.sample_rate),
        ),
        NO_PERSON_PROFILE,
        FILTER_REPORT,
    ),
)
"""The per-call event's properties, in the order they are sent and listed."""


@dataclass(frozen=True, slots=True)
class McpToolCallEvent(AnonymizedEvent):
    """One MCP tool call; build it with :func:`build_mcp_tool_call_event`."""

    EVENT_NAME: ClassVar[str] = MCP_TOOL_CALL_SCHEMA.event_name
    SCHEMA: ClassVar[EventSchema[ToolCallInputs]] = MCP_TOOL_CALL_SCHEMA  # type: ignore[assignment]


def build_mcp_tool_call_event(
    call: ToolCall, *, sample_rate: float, policy: PrivacyPolicy
) -> Result[McpToolCallEvent, PrivacyError]:
    """Build the event of one tool call, sampled at ``sample_rate``.

    >>> from codeweaver_telemetry.core import default_policy
    >>> call = ToolCall("search", ToolCallOutcome.OK, 12.5, 1, 340, "zed", "0.190.2", "2025-06-18")
    >>> event = build_mcp_tool_call_event(call, sample_rate=1.0, policy=default_policy()).unwrap()
    >>> event.properties["mcp_tool"], event.properties["outcome"], event.properties["text_chars"]
    ('search', 'ok', 340)
    """
    inputs = ToolCallInputs(call, sample_rate)
    return build_event(McpToolCallEvent, MCP_TOOL_CALL_SCHEMA, inputs, policy)
