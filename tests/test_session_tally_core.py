"""The session tally: each search event the client built, added to the session's statistics."""

from __future__ import annotations

import dataclasses

import pytest
from domain_samples import empty_summary

from codeweaver_telemetry.core import (
    IntentType,
    PrivacyPolicy,
    SearchEvent,
    SessionStatistics,
    build_search_event,
    build_session_event,
)
from codeweaver_telemetry.core.conversions import MAX_SAFE_INT
from codeweaver_telemetry.core.domain import SearchStatus
from codeweaver_telemetry.core.payload import FilterReport
from codeweaver_telemetry.core.search_event import SEARCH_SCHEMA
from codeweaver_telemetry.core.session_tally import (
    MAX_SEARCH_LATENCY_SAMPLES,
    NO_INTENT,
    SEARCH_TOOL,
    with_search,
)
from codeweaver_telemetry.core.vocabulary import JSONObject

POLICY = PrivacyPolicy(hash_key=b"k" * 32)


def search(
    status: SearchStatus = SearchStatus.SUCCESS,
    intent: IntentType | None = IntentType.UNDERSTAND,
    execution_time_ms: float = 12.5,
    token_count: int = 100,
) -> SearchEvent:
    response = dataclasses.replace(empty_summary(), status=status, token_count=token_count)
    return build_search_event(
        response,
        query="q",
        intent_type=intent,
        strategies=[],
        execution_time_ms=execution_time_ms,
        policy=POLICY,
    ).unwrap()


def folded(*events: SearchEvent, stats: SessionStatistics | None = None) -> SessionStatistics:
    tally = SessionStatistics() if stats is None else stats
    for event in events:
        tally = with_search(tally, event)
    return tally


def hand_made(properties: JSONObject) -> SearchEvent:
    """A search event with exactly these properties (as a host could build one)."""
    return SearchEvent(properties, FilterReport())


def test_each_search_is_counted_in_all_by_status_and_by_intent() -> None:
    tally = folded(
        search(SearchStatus.SUCCESS, IntentType.DEBUG),
        search(SearchStatus.PARTIAL, IntentType.DEBUG),
        search(SearchStatus.ERROR, IntentType.IMPLEMENT),
        search(SearchStatus.SUCCESS, None),
    )
    assert (tally.total_requests, tally.successful_requests, tally.failed_requests) == (4, 3, 1)
    assert tally.requests_by_status == {"success": 2, "partial": 1, "error": 1}
    assert tally.requests_by_intent == {"debug": 2, "implement": 1, NO_INTENT: 1}


def test_latencies_and_tokens_are_added() -> None:
    tally = folded(search(execution_time_ms=10.0, token_count=5), search(execution_time_ms=30))
    assert tally.tool_latencies_ms == {SEARCH_TOOL: (10.0, 30.0)}
    assert tally.tokens_delivered == 105


@pytest.mark.parametrize("latency", [float("nan"), float("inf"), -1.0])
def test_a_latency_that_is_not_a_duration_is_no_sample_but_the_search_counts(
    latency: float,
) -> None:
    tally = folded(search(execution_time_ms=latency))
    assert tally.total_requests == 1
    assert tally.tool_latencies_ms == {}


def test_latency_samples_are_bounded_and_every_search_still_counted() -> None:
    full = SessionStatistics(tool_latencies_ms={SEARCH_TOOL: (1.0,) * MAX_SEARCH_LATENCY_SAMPLES})
    tally = folded(search(), search(), stats=full)
    assert len(tally.tool_latencies_ms[SEARCH_TOOL]) == MAX_SEARCH_LATENCY_SAMPLES
    assert tally.total_requests == 2


def test_the_fold_leaves_its_input_and_the_hosts_other_statistics_alone() -> None:
    host = SessionStatistics(
        languages={"python": 3},
        tool_latencies_ms={"index": (900.0,)},
        requests_by_intent={"debug": 1},
    )
    tally = folded(search(), stats=host)
    assert host.requests_by_intent == {"debug": 1}
    assert host.tool_latencies_ms == {"index": (900.0,)}
    assert tally.languages == {"python": 3}
    assert tally.tool_latencies_ms == {"index": (900.0,), SEARCH_TOOL: (12.5,)}
    assert tally.requests_by_intent == {"debug": 1, "understand": 1}


def test_counts_saturate_at_the_wires_bound() -> None:
    near = SessionStatistics(total_requests=MAX_SAFE_INT, successful_requests=MAX_SAFE_INT)
    tally = folded(search(token_count=MAX_SAFE_INT), search(token_count=MAX_SAFE_INT), stats=near)
    assert tally.total_requests == MAX_SAFE_INT
    assert tally.successful_requests == MAX_SAFE_INT
    assert tally.tokens_delivered == MAX_SAFE_INT


def test_an_event_of_any_properties_is_counted_under_vocabulary_labels_only() -> None:
    odd = hand_made(
        {
            "intent": "/home/alice/secret",
            "response_status": 7,
            "execution_time_ms": True,
            "result_tokens": -4,
        }
    )
    tally = folded(odd, hand_made({}))
    assert (tally.total_requests, tally.successful_requests, tally.failed_requests) == (2, 0, 2)
    assert tally.requests_by_intent == {"__other__": 1, NO_INTENT: 1}
    assert tally.requests_by_status == {"__other__": 2}
    assert tally.tool_latencies_ms == {}
    assert tally.tokens_delivered == 0


def test_the_properties_the_fold_reads_are_the_search_events() -> None:
    sent = {prop.name for prop in SEARCH_SCHEMA.properties}
    assert {"intent", "response_status", "execution_time_ms", "result_tokens"} <= sent


def test_the_session_event_reports_the_tally() -> None:
    tally = folded(search(SearchStatus.SUCCESS), search(SearchStatus.ERROR, IntentType.TEST))
    # A machine whose names include the tool's keeps it: it is the property's own word.
    policy = PrivacyPolicy(hash_key=b"k" * 32, sensitive_literals=frozenset({SEARCH_TOOL}))
    properties = build_session_event(
        tally, version="1.0", duration_seconds=1.0, policy=policy
    ).unwrap()
    properties_sent = properties.properties
    assert properties_sent["requests_total"] == 2
    assert properties_sent["requests_successful"] == 1
    assert properties_sent["request_success_rate"] == 0.5
    assert properties_sent["requests_by_status"] == {"error": 1, "success": 1}
    assert properties_sent["requests_by_intent"] == {"test": 1, "understand": 1}
    assert properties_sent["tool_latency_ms"] == {
        SEARCH_TOOL: {"count": 2, "mean": 12.5, "p50": 12.5, "p95": 12.5, "max": 12.5}
    }
    assert properties_sent["tokens_delivered"] == 200
    assert properties_sent["privacy_filter"] == {"dropped": 0, "redacted": 0}
