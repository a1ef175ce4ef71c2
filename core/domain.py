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
class SessionStatistics(TelemetrySerializable):
    """What one session of the tool did, accumulated by the host while it ran.

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
        }
