"""The per-search event: intent, strategies, timing, result quality and index state.

Without the user's opt-in (``tools_over_privacy``) it carries no value derived from the query
at all. With it, it adds the query's token and character counts, its keyed hash (to see
repeated query patterns) and its text after the leak guard, cut to a bounded length. It never
carries code, file paths or repository names, in either mode.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import ClassVar, Final

from returns.result import Result

from .conversions import as_json_number, to_count, to_hash, to_text_count
from .domain import CodeMatch, FindCodeResponseSummary, IntentType, SearchStrategy
from .event_schema import (
    FEATURE_PREFIX,
    NO_PERSON_PROFILE,
    AnonymizedEvent,
    PropertyBuilder,
    PropertySpec,
    build_event,
    schema_room,
)
from .leak_guard import REDACTED, find_leak
from .payload import PRIVACY_FILTER_KEY
from .policy import PrivacyPolicy
from .vocabulary import AnonymityConversion, JSONObject, JSONValue, PrivacyError

_C = AnonymityConversion

SEARCH_PROPERTIES: Final[tuple[PropertySpec, ...]] = (
    PropertySpec("intent", "string | null", "The intent the search was run with."),
    PropertySpec("strategies", "list[string]", "The search strategies used, in order."),
    PropertySpec("execution_time_ms", "number", "Time the search took, in milliseconds."),
    PropertySpec("result_candidates", "integer", "Candidate matches considered."),
    PropertySpec("result_returned", "integer", "Matches returned.", _C.COUNT),
    PropertySpec("result_total", "integer", "Total results reported by the search."),
    PropertySpec("result_tokens", "integer", "Tokens of the returned results."),
    PropertySpec("relevance_min", "number | null", "Lowest relevance score.", _C.AGGREGATE),
    PropertySpec("relevance_max", "number | null", "Highest relevance score.", _C.AGGREGATE),
    PropertySpec("relevance_mean", "number | null", "Mean relevance score.", _C.AGGREGATE),
    PropertySpec("relevance_median", "number | null", "Median relevance score.", _C.AGGREGATE),
    PropertySpec("match_types", "object", "Matches per match type.", _C.DISTRIBUTION),
    PropertySpec("response_status", "string", "How the search ended."),
    PropertySpec("search_mode", "string", "The speed/quality mode of the search."),
    PropertySpec("index_state", "string", "The index's state during the search."),
    PropertySpec("index_coverage", "number", "Share of the code base indexed, 0 to 1."),
    PropertySpec("languages_found", "object", "Matches per language.", _C.DISTRIBUTION),
    PropertySpec("warning_count", "integer", "Warnings the search produced.", _C.COUNT),
    PropertySpec(f"{FEATURE_PREFIX}<flag>", "string | boolean", "Each feature flag's value."),
    PropertySpec("query_tokens", "integer", "Words in the query.", _C.COUNT, opt_in=True),
    PropertySpec("query_chars", "integer", "Characters in the query.", _C.TEXT_COUNT, True),
    PropertySpec("query_hash", "string", "Keyed hash of the query.", _C.HASH, opt_in=True),
    PropertySpec(
        "query_text",
        "string",
        "The query after the leak guard, cut to the policy's length.",
        opt_in=True,
    ),
    PropertySpec(NO_PERSON_PROFILE, "boolean", "Always false: no person profile is made."),
    PropertySpec(PRIVACY_FILTER_KEY, "object", "What the privacy filter dropped and redacted."),
)


_SCHEMA_ROOM: Final = schema_room(spec.name for spec in SEARCH_PROPERTIES if "<" not in spec.name)


@dataclass(frozen=True, slots=True)
class SearchEvent(AnonymizedEvent):
    """One search, anonymized; build it with :func:`build_search_event`."""

    EVENT_NAME: ClassVar[str] = "codeweaver_search"
    PROPERTIES: ClassVar[tuple[PropertySpec, ...]] = SEARCH_PROPERTIES


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
    counted. A response whose fields cannot be read at all (a host object that is not a
    ``FindCodeResponseSummary``) fails the event as a whole, naming only the error's type.

    >>> from codeweaver_telemetry.core import default_policy
    >>> from codeweaver_telemetry.core.domain import FindCodeResponseSummary as R
    >>> summary = R(matches=(), summary="…", query_intent=None, total_matches=0,
    ...             total_results=0, token_count=0, execution_time_ms=3.0)
    >>> event = build_search_event(summary, query="auth", intent_type=None, strategies=[],
    ...                            execution_time_ms=3.0, policy=default_policy()).unwrap()
    >>> "query_text" in event.properties
    False
    """

    def put_properties(build: PropertyBuilder) -> None:
        # What the search was asked to do, how long it took, and how many results it had
        build.put_label("intent", intent_type)
        build.put("strategies", _labels, build, strategies)
        build.put_number("execution_time_ms", execution_time_ms)
        build.put_number("result_candidates", response.total_matches)
        build.put("result_returned", to_count, response.matches, policy)
        build.put_number("result_total", response.total_results)
        build.put_number("result_tokens", response.token_count)
        # What the results were, and the state of the index they came from
        build.put_many("relevance", _relevance, build, response.matches)
        build.put("match_types", _match_types, build, response.matches)
        build.put_label("response_status", response.status)
        build.put_label("search_mode", response.search_mode)
        build.put_label("index_state", response.indexing_state)
        build.put_number("index_coverage", response.index_coverage)
        build.put("languages_found", build.distribution, response.languages_found)
        build.put("warning_count", to_count, response.warnings, policy)
        _put_flags(build, feature_flags)
        if policy.tools_over_privacy:
            _put_query(build, query)

    return build_event(SearchEvent, put_properties, policy, _SCHEMA_ROOM)


def _put_flags(build: PropertyBuilder, flags: Mapping[str, object] | None) -> None:
    for key, value in build.bounded(() if flags is None else flags.items(), "feature_flags"):
        if not isinstance(key, str):
            build.drop("feature_flags", f"a flag name is a {type(key).__name__}, not a str")
            continue
        name = "".join((FEATURE_PREFIX, key))  # an exact str, whatever a str subclass overrides
        if not build.checked_name(name):
            continue
        if value is None or type(value) is bool:  # bool has no subclasses
            build.properties[name] = value
        else:
            build.put_label(name, value)


def _put_query(build: PropertyBuilder, query: str) -> None:
    if not isinstance(query, str):
        build.drop("query", f"the query is a {type(query).__name__}, not a str")
        return
    build.put("query_tokens", _word_count, query)
    build.put("query_chars", to_text_count, query, build.policy)
    build.put_digest("query_hash", to_hash, query, build.policy)
    build.put_text("query_text", _cut_redacted_text, query, build.policy)


def redacted_text(text: str, policy: PrivacyPolicy) -> str:
    """``text`` with every word the leak guard flags replaced by the marker.

    If the whole still trips the guard (a secret that spans words), the whole is replaced.

    >>> from codeweaver_telemetry.core import default_policy
    >>> redacted_text("where is /home/alice/auth.py used", default_policy())
    'where is [REDACTED] used'
    """
    words = [
        REDACTED if find_leak(word, policy.literal_tokens) is not None else word
        for word in text.split()
    ]
    joined = " ".join(words)
    return REDACTED if find_leak(joined, policy.literal_tokens) is not None else joined


def _word_count(text: str) -> int:
    return len(text.split())


def _cut_redacted_text(text: str, policy: PrivacyPolicy) -> str:
    return redacted_text(text, policy)[: policy.max_query_chars]


def _relevance(build: PropertyBuilder, matches: Iterable[CodeMatch]) -> JSONObject:
    return _score_statistics(_finite_scores(build, matches))


def _finite_scores(build: PropertyBuilder, matches: Iterable[CodeMatch]) -> list[float]:
    scores: list[float] = []
    for match in matches:
        try:
            score = float(match.relevance_score)
        except Exception:  # noqa: BLE001 - host objects may raise anything; fail closed
            score = math.nan
        if math.isfinite(score):
            scores.append(score)
        else:
            build.drop("relevance", "a relevance score is not a finite number")
    return scores


def _match_types(build: PropertyBuilder, matches: Iterable[CodeMatch]) -> JSONObject:
    return build.distribution([match.match_type for match in matches])


def _score_statistics(scores: list[float]) -> JSONObject:
    if not scores:
        return dict.fromkeys(
            ("relevance_min", "relevance_max", "relevance_mean", "relevance_median")
        )
    ordered = sorted(scores)
    middle = len(ordered) // 2
    # Two huge scores can sum to infinity: as_json_number refuses that rather than send it.
    median = (
        ordered[middle]
        if len(ordered) % 2
        else as_json_number((ordered[middle - 1] + ordered[middle]) / 2)
    )
    return {
        "relevance_min": ordered[0],
        "relevance_max": ordered[-1],
        "relevance_mean": math.fsum(ordered) / len(ordered),
        "relevance_median": median,
    }


def _labels(build: PropertyBuilder, values: Iterable[object]) -> list[JSONValue]:
    return [build.label(value) for value in build.bounded(values, "strategies")]
