"""The domain objects a code-search tool hands to telemetry: searches and sessions.

They are plain frozen dataclasses that declare their own sensitive fields, so that serializing
one directly (``serialize_for_telemetry``) is as safe as building an event from it.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from .mixin import TelemetrySerializable
from .vocabulary import AnonymityConversion, FilteredKey, TelemetryKeys


class IntentType(enum.Enum):
    """What the agent was trying to do when it searched."""

    UNDERSTAND = "understand"
    IMPLEMENT = "implement"
    DEBUG = "debug"
    OPTIMIZE = "optimize"
    TEST = "test"
    CONFIGURE = "configure"
    DOCUMENT = "document"


class SearchStrategy(enum.Enum):
    """How candidates were found and ordered."""

    HYBRID = "hybrid"
    DENSE = "dense"
    SPARSE = "sparse"
    KEYWORD = "keyword"
    RERANK = "rerank"


class MatchType(enum.Enum):
    """Why a code match was returned."""

    SEMANTIC = "semantic"
    KEYWORD = "keyword"
    SYMBOL = "symbol"
    HYBRID = "hybrid"


class SearchStatus(enum.Enum):
    """How a search request ended."""

    SUCCESS = "success"
    PARTIAL = "partial"
    ERROR = "error"


class IndexState(enum.Enum):
    """The state of the index when the search ran."""

    READY = "ready"
    INDEXING = "indexing"
    STALE = "stale"
    MISSING = "missing"


class ToolCallOutcome(enum.Enum):
    """How an MCP tool call ended, as the server saw it."""

    OK = "ok"
    TOOL_ERROR = "tool_error"
    """The tool returned an error result (``isError``) or raised."""
    PROTOCOL_ERROR = "protocol_error"
    """The request was refused before or around the tool: an MCP error, invalid params."""
    CANCELLED = "cancelled"
    """The client cancelled the request, or the connection closed under it."""
    TIMEOUT = "timeout"
    """A deadline inside the server ran out (the handling raised ``TimeoutError``)."""


class SearchMode(enum.Enum):
    """The speed/quality trade-off the search ran with."""

    FAST = "fast"
    BALANCED = "balanced"
    THOROUGH = "thorough"


@dataclass(frozen=True, slots=True)
class CodeMatch(TelemetrySerializable):
    """One result of a search: where it is, what it says, and how relevant it was."""

    file_path: str
    content: str
    span: tuple[int, int]
    relevance_score: float
    match_type: MatchType
    related_symbols: tuple[str, ...] = ()

    def _telemetry_keys(self) -> TelemetryKeys:
        return {
            FilteredKey("file_path"): AnonymityConversion.HASH,
            FilteredKey("content"): AnonymityConversion.FORBIDDEN,
            FilteredKey("related_symbols"): AnonymityConversion.COUNT,
        }


@dataclass(frozen=True, slots=True)
class FindCodeResponseSummary(TelemetrySerializable):
    """What a ``find_code`` request returned, as the search tool reports it."""

    matches: tuple[CodeMatch, ...]
    summary: str
    query_intent: IntentType | None
    total_matches: int
    total_results: int
    token_count: int
    execution_time_ms: float
    status: SearchStatus = SearchStatus.SUCCESS
    warnings: tuple[str, ...] = ()
    indexing_state: IndexState = IndexState.READY
    index_coverage: float = 1.0
    search_mode: SearchMode = SearchMode.BALANCED
    search_strategy: tuple[SearchStrategy, ...] = ()
    languages_found: tuple[str, ...] = ()
    metadata: Mapping[str, object] = field(default_factory=dict)

    def _telemetry_keys(self) -> TelemetryKeys:
        return {
            FilteredKey("summary"): AnonymityConversion.FORBIDDEN,
            FilteredKey("warnings"): AnonymityConversion.COUNT,
            FilteredKey("languages_found"): AnonymityConversion.DISTRIBUTION,
            FilteredKey("metadata"): AnonymityConversion.FORBIDDEN,
        }


@dataclass(frozen=True, slots=True)
class ToolUsage:
    """One MCP tool's calls in a session: calls by outcome, and one sample per call (up to
    the recorder's bound) of its duration and of its response's text size."""

    outcomes: Mapping[str, int] = field(default_factory=dict)
    durations_ms: tuple[float, ...] = ()
    content_items: int = 0
    text_chars: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class McpUsage:
    """What an MCP server's tool calls were in a session, as the instrumentation records
    them: per tool (a name the server registered, else ``__other__``), and the tool calls per
    client (a known client's label, else ``other``), client version and protocol version."""

    tools: Mapping[str, ToolUsage] = field(default_factory=dict)
    clients: Mapping[str, int] = field(default_factory=dict)
    client_versions: Mapping[str, int] = field(default_factory=dict)
    protocol_versions: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SessionStatistics(TelemetrySerializable):
    """What one session of the tool did, accumulated by the host while it ran (or, when the
    host keeps none, by the client from the search events it built: see ``session_tally``).

    Setup error kinds are exception class names, never messages. Configuration flags are
    sent as True/False under their names, never with the settings' values.
    """

    total_requests: int = 0
    successful_requests: int = 0
    failed_requests: int = 0
    tool_latencies_ms: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    embedding_tokens: int = 0
    tokens_delivered: int = 0
    tokens_saved: int = 0
    estimated_savings_usd: float = 0.0
    languages: Mapping[str, int] = field(default_factory=dict)
    file_categories: Mapping[str, int] = field(default_factory=dict)
    operations: Mapping[str, int] = field(default_factory=dict)
    failover_occurred: bool = False
    failover_count: int = 0
    failover_time_ms: float = 0.0
    active_store: str | None = None
    setup_success: bool = True
    setup_attempts: int = 1
    setup_error_kinds: tuple[str, ...] = ()
    config_flags: Mapping[str, bool] = field(default_factory=dict)
    mcp: McpUsage | None = None
    """An instrumented MCP server's tool calls (see ``adapters.mcp``), when there is one."""
    requests_by_intent: Mapping[str, int] = field(default_factory=dict)
    """Requests per intent label (``unspecified`` when the host gave none)."""
    requests_by_status: Mapping[str, int] = field(default_factory=dict)
    """Requests per status label (``success``, ``partial``, ``error``)."""

    def _telemetry_keys(self) -> TelemetryKeys:
        # Mapping keys are free text to a generic serializer: tool and flag names are sent
        # only by the session event, which runs each name through the category rules.
        return {
            FilteredKey("tool_latencies_ms"): AnonymityConversion.COUNT,
            FilteredKey("languages"): AnonymityConversion.DISTRIBUTION,
            FilteredKey("file_categories"): AnonymityConversion.DISTRIBUTION,
            FilteredKey("operations"): AnonymityConversion.DISTRIBUTION,
            FilteredKey("active_store"): AnonymityConversion.DISTRIBUTION,
            FilteredKey("setup_error_kinds"): AnonymityConversion.DISTRIBUTION,
            FilteredKey("config_flags"): AnonymityConversion.COUNT,
            FilteredKey("mcp"): AnonymityConversion.COUNT,
            FilteredKey("requests_by_intent"): AnonymityConversion.DISTRIBUTION,
            FilteredKey("requests_by_status"): AnonymityConversion.DISTRIBUTION,
        }
