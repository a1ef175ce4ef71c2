"""The per-search event: intent, strategies, timing, result quality and index state.

Without the user's opt-in (``tools_over_privacy``) it carries no value derived from the query
at all. With it, it adds the query's word and character counts, its keyed hash (to see
repeated query patterns) and its plain words (see ``wire.plain_words``). It never carries
code, file paths or repository names, in either mode.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import ClassVar, Final

from returns.result import Result

from .conversions import (
    ConversionRejected,
    as_json_number,
    category_label,
    to_count,
    to_distribution,
    to_hash,
    to_text_count,
)
from .domain import (
    CodeMatch,
    FindCodeResponseSummary,
    IndexState,
    IntentType,
    MatchType,
    SearchMode,
    SearchStatus,
    SearchStrategy,
)
from .event_schema import (
    FILTER_REPORT,
    NO_PERSON_PROFILE,
    AnonymizedEvent,
    EventSchema,
    Property,
    build_event,
)
from .known_labels import LANGUAGES, values_of
from .policy import PrivacyPolicy
from .vocabulary import AnonymityConversion, JSONObject, JSONValue, PrivacyError
from .wire import FEATURE_FLAGS, FEATURE_PREFIX, MAX_LABEL_LENGTH, OTHER_LABEL, plain_words

_C = AnonymityConversion


@dataclass(frozen=True)  # no slots: ``scores`` is cached on the instance
class SearchInputs:
    """What the search event is computed from."""

    response: FindCodeResponseSummary
    query: str
    intent_type: IntentType | None
    strategies: Iterable[SearchStrategy]
    execution_time_ms: float
    feature_flags: Mapping[str, object] | None
    max_matches: int

    @functools.cached_property
    def matches(self) -> tuple[CodeMatch, ...]:
        """The response's matches, read once (a one-shot iterator counts as it should) and at
        most the policy's ``max_scan_items`` (an endless one is refused, not read for ever);
        if reading raises, each property of the matches is dropped with its note."""
        matches = tuple(itertools.islice(self.response.matches, self.max_matches + 1))
        if len(matches) > self.max_matches:
            raise ConversionRejected("more matches than the policy reads")
        return matches

    @functools.cached_property
    def scores(self) -> list[float]:
        """The matches' finite relevance scores, in order, read once for the four statistics."""
        return _finite_scores(self.matches)


def _label(value: object, policy: PrivacyPolicy, vocabulary: frozenset[str]) -> str | None:
    return None if value is None else category_label(value, policy, vocabulary)


_INTENTS: Final = values_of(IntentType)
_STRATEGIES: Final = values_of(SearchStrategy)
_MATCH_TYPES: Final = values_of(MatchType)
_STATUSES: Final = values_of(SearchStatus)
_MODES: Final = values_of(SearchMode)
_INDEX_STATES: Final = values_of(IndexState)


def _strategies(inputs: SearchInputs, policy: PrivacyPolicy) -> list[JSONValue]:
    bounded = itertools.islice(inputs.strategies, policy.max_list_length)
    return [_label(strategy, policy, _STRATEGIES) for strategy in bounded]


def _finite_scores(matches: Iterable[CodeMatch]) -> list[float]:
    """The matches' relevance scores that are finite numbers, in order; others are left out
    of the statistics."""
    scores: list[float] = []
    for match in matches:
        try:
            score = float(match.relevance_score)
        except Exception:  # noqa: BLE001 - host objects may raise anything; fail closed
            continue
        if math.isfinite(score):
            scores.append(score)
    return sorted(scores)


def _relevance_min(inputs: SearchInputs, policy: PrivacyPolicy) -> float | None:
    scores = inputs.scores
    return scores[0] if scores else None


def _relevance_max(inputs: SearchInputs, policy: PrivacyPolicy) -> float | None:
    scores = inputs.scores
    return scores[-1] if scores else None


def _relevance_mean(inputs: SearchInputs, policy: PrivacyPolicy) -> float | None:
    scores = inputs.scores
    return as_json_number(math.fsum(scores) / len(scores)) if scores else None


def _relevance_median(inputs: SearchInputs, policy: PrivacyPolicy) -> float | None:
    scores = inputs.scores
    if not scores:
        return None
    middle = len(scores) // 2
    if len(scores) % 2:
        return scores[middle]
    # Two huge scores can sum to infinity: as_json_number refuses that rather than send it.
    return as_json_number((scores[middle - 1] + scores[middle]) / 2)


def _match_types(inputs: SearchInputs, policy: PrivacyPolicy) -> JSONObject:
    kinds = [match.match_type for match in inputs.matches]
    return to_distribution(kinds, policy, _MATCH_TYPES)


def _feature_flags(inputs: SearchInputs, policy: PrivacyPolicy) -> JSONObject:
    """``$feature/<flag>`` for each flag; a name or a value the wire grammar refuses is left
    for the wire check to drop, and count, alone."""
    flags = inputs.feature_flags
    if flags is None:
        return {}
    spliced: JSONObject = {}
    for name, value in itertools.islice(flags.items(), policy.max_list_length):
        # An exact str, whatever a subclass overrides; a name that is not text, or too long to
        # be a label (never copied), gets one the check refuses (brackets), so that it is
        # dropped and counted like any bad name.
        if isinstance(name, str) and str.__len__(name) <= MAX_LABEL_LENGTH:
            text = name
        else:
            text = f"[{type(name).__name__}]"
        spliced["".join((FEATURE_PREFIX, text))] = _flag_value(value, policy)
    return spliced


def _flag_value(value: object, policy: PrivacyPolicy) -> JSONValue:
    """A flag's value as sent: None, a bool, a label; ``__other__`` for anything else."""
    if value is None or type(value) is bool:
        return value
    try:
        return category_label(value, policy)
    except ConversionRejected:
        return OTHER_LABEL


def _query(inputs: SearchInputs, policy: PrivacyPolicy) -> str:
    """The opted-in query, if it is a ``str`` of at most the policy's ``max_scan_items``
    characters: a longer one is not read (split, hashed, scanned) at all, and each query
    property is dropped and counted instead."""
    if type(inputs.query) is not str:
        raise ConversionRejected(f"the query is a {type(inputs.query).__name__}, not a str")
    if len(inputs.query) > policy.max_scan_items:
        raise ConversionRejected("the query is longer than the policy reads")
    return inputs.query


SEARCH_SCHEMA: Final[EventSchema[SearchInputs]] = EventSchema(
    "codeweaver_search",
    (
        Property(
            "intent",
            "string | null",
            "The intent the search was run with.",
            lambda i, p: _label(i.intent_type, p, _INTENTS),
            vocabulary=_INTENTS,
        ),
        Property(
            "strategies",
            "list[string]",
            "The search strategies used, in order.",
            _strategies,
            vocabulary=_STRATEGIES,
        ),
        Property(
            "execution_time_ms",
            "number",
            "Time the search took, in milliseconds.",
            lambda i, p: as_json_number(i.execution_time_ms),
        ),
        Property(
            "result_candidates",
            "integer",
            "Candidate matches considered.",
            lambda i, p: as_json_number(i.response.total_matches),
        ),
        Property(
            "result_returned",
            "integer",
            "Matches returned.",
            lambda i, p: len(i.matches),
            _C.COUNT,
        ),
        Property(
            "result_total",
            "integer",
            "Total results reported by the search.",
            lambda i, p: as_json_number(i.response.total_results),
        ),
        Property(
            "result_tokens",
            "integer",
            "Tokens of the returned results.",
            lambda i, p: as_json_number(i.response.token_count),
        ),
        Property(
            "relevance_min",
            "number | null",
            "Lowest relevance score.",
            _relevance_min,
            _C.AGGREGATE,
        ),
        Property(
            "relevance_max",
            "number | null",
            "Highest relevance score.",
            _relevance_max,
            _C.AGGREGATE,
        ),
        Property(
            "relevance_mean",
            "number | null",
            "Mean relevance score.",
            _relevance_mean,
            _C.AGGREGATE,
        ),
        Property(
            "relevance_median",
            "number | null",
            "Median relevance score.",
            _relevance_median,
            _C.AGGREGATE,
        ),
        Property(
            "match_types",
            "object",
            "Matches per match type.",
            _match_types,
            _C.DISTRIBUTION,
            vocabulary=_MATCH_TYPES,
        ),
        Property(
            "response_status",
            "string",
            "How the search ended.",
            lambda i, p: _label(i.response.status, p, _STATUSES),
            vocabulary=_STATUSES,
        ),
        Property(
            "search_mode",
            "string",
            "The speed/quality mode of the search.",
            lambda i, p: _label(i.response.search_mode, p, _MODES),
            vocabulary=_MODES,
        ),
        Property(
            "index_state",
            "string",
            "The index's state during the search.",
            lambda i, p: _label(i.response.indexing_state, p, _INDEX_STATES),
            vocabulary=_INDEX_STATES,
        ),
        Property(
            "index_coverage",
            "number",
            "Share of the code base indexed, 0 to 1.",
            lambda i, p: as_json_number(i.response.index_coverage),
        ),
        Property(
            "languages_found",
            "object",
            "Matches per language.",
            lambda i, p: to_distribution(i.response.languages_found, p, LANGUAGES),
            _C.DISTRIBUTION,
            vocabulary=LANGUAGES,
        ),
        Property(
            "warning_count",
            "integer",
            "Warnings the search produced.",
            lambda i, p: to_count(i.response.warnings, p),
            _C.COUNT,
        ),
        Property(
            FEATURE_FLAGS,
            "string | boolean",
            "Each feature flag's value.",
            _feature_flags,
            spliced=True,
        ),
        Property(
            "query_tokens",
            "integer",
            "Words in the query.",
            lambda i, p: len(_query(i, p).split()),
            _C.COUNT,
            opt_in=True,
        ),
        Property(
            "query_chars",
            "integer",
            "Characters in the query.",
            lambda i, p: to_text_count(_query(i, p), p),
            _C.TEXT_COUNT,
            opt_in=True,
        ),
        Property(
            "query_hash",
            "string",
            "Keyed hash of the query.",
            lambda i, p: to_hash(_query(i, p), p),
            _C.HASH,
            opt_in=True,
        ),
        Property(
            "query_text",
            "string",
            "The query's plain words: every other token one marker, cut at a word.",
            lambda i, p: plain_words(_query(i, p), p),
            opt_in=True,
        ),
        NO_PERSON_PROFILE,
        FILTER_REPORT,
    ),
)
"""The search event's properties, in the order they are sent and listed."""


@dataclass(frozen=True, slots=True)
class SearchEvent(AnonymizedEvent):
    """One search, anonymized; build it with :func:`build_search_event`."""

    EVENT_NAME: ClassVar[str] = SEARCH_SCHEMA.event_name
    SCHEMA: ClassVar[EventSchema[SearchInputs]] = SEARCH_SCHEMA  # type: ignore[assignment]


def build_search_event(
    response: FindCodeResponseSummary,
    *,
    query: str,
    intent_type: IntentType | None,
    strategies: Iterable[SearchStrategy],
    execution_time_ms: float,
    policy: PrivacyPolicy,
    feature_flags: Mapping[str, object] | None = None,
) -> Result[SearchEvent, PrivacyError]:
    """Build the search event; a property whose value cannot be computed is dropped and
    counted, and so is whatever the wire check refuses.

    >>> from codeweaver_telemetry.core import default_policy
    >>> from codeweaver_telemetry.core.domain import FindCodeResponseSummary as R
    >>> summary = R(matches=(), summary="…", query_intent=None, total_matches=0,
    ...             total_results=0, token_count=0, execution_time_ms=3.0)
    >>> event = build_search_event(summary, query="auth", intent_type=None, strategies=[],
    ...                            execution_time_ms=3.0, policy=default_policy()).unwrap()
    >>> "query_text" in event.properties
    False
    """
    inputs = SearchInputs(
        response,
        query,
        intent_type,
        strategies,
        execution_time_ms,
        feature_flags,
        policy.max_scan_items,
    )
    return build_event(SearchEvent, SEARCH_SCHEMA, inputs, policy)
