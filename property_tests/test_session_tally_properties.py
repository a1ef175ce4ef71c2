"""Folding any sequence of searches adds up, and the session event made from it is clean.

The searches are what a careless host hands over (canaries of every shape in the query, the
summary, the matches, the warnings, the languages, the metadata, numbers that are not numbers
of anything), built into search events as the client builds them, and hand-made search events
of any JSON properties besides. The counts must add up whatever they were; and the session event
made from the tally passes the wire check unchanged and carries none of the canaries.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codeweaver_telemetry.core import (
    CodeMatch,
    FindCodeResponseSummary,
    IntentType,
    MatchType,
    PrivacyPolicy,
    SearchEvent,
    SessionStatistics,
    build_search_event,
    build_session_event,
)
from codeweaver_telemetry.core.conversions import MAX_SAFE_INT
from codeweaver_telemetry.core.domain import SearchStatus
from codeweaver_telemetry.core.payload import FilterReport
from codeweaver_telemetry.core.session_event import SESSION_SCHEMA
from codeweaver_telemetry.core.session_tally import (
    INTENT_LABELS,
    MAX_SEARCH_LATENCY_SAMPLES,
    SEARCH_TOOL,
    STATUS_LABELS,
    joined,
    with_search,
)
from codeweaver_telemetry.core.sink import LossReason
from codeweaver_telemetry.core.testing import canary_for
from codeweaver_telemetry.core.testing.text import CARELESS_KINDS, canary_shapes
from codeweaver_telemetry.core.vocabulary import JSONValue
from codeweaver_telemetry.core.wire import OTHER_LABEL, checked_properties

pytestmark = pytest.mark.slow

CANARY = canary_for(11)
SHAPES = tuple(kind for kind in CARELESS_KINDS if kind != "unicode")
"""As in ``test_no_leak_of_any_shape``: the bare canary is a label, so it is only ever planted
inside a shape."""

carriers = st.sampled_from(SHAPES).flatmap(lambda kind: canary_shapes(CANARY, kind))
query_carriers = st.sampled_from(
    tuple(kind for kind in SHAPES if kind not in {"sentence", "code"})
).flatmap(lambda kind: canary_shapes(CANARY, kind))
"""With the opt-in, a query's plain words are sent by design (in the search event, never in
the session's): the shapes whose canary is not a word."""

POLICY = PrivacyPolicy(hash_key=b"tally-key-0123456789abcdef")
OPTED_IN = PrivacyPolicy(hash_key=b"tally-key-0123456789abcdef", tools_over_privacy=True)

numbers = st.integers(min_value=-(2**70), max_value=2**70) | st.floats()
"""Numbers of every kind a host may pass: negative, beyond 64 bits, NaN, infinite."""

matches = st.builds(
    CodeMatch,
    file_path=carriers,
    content=carriers,
    span=st.tuples(st.integers(), st.integers()),
    relevance_score=st.floats(),
    match_type=st.sampled_from(MatchType),
    related_symbols=st.tuples(carriers),
)

responses = st.builds(
    FindCodeResponseSummary,
    matches=st.lists(matches, max_size=3).map(tuple),
    summary=carriers,
    query_intent=st.none() | st.sampled_from(IntentType),
    total_matches=st.integers(min_value=-1, max_value=2**70),
    total_results=st.integers(min_value=-1, max_value=2**70),
    token_count=st.integers(min_value=-(2**70), max_value=2**70),
    execution_time_ms=st.floats(),
    status=st.sampled_from(SearchStatus),
    warnings=st.tuples(carriers),
    languages_found=st.tuples(carriers, st.just("python")),
    metadata=st.dictionaries(carriers, carriers, max_size=2),
)


@st.composite
def built_searches(draw: st.DrawFn) -> SearchEvent | None:
    """A search event as the client builds it (None when the build refuses it)."""
    result = build_search_event(
        draw(responses),
        query=f"where {draw(query_carriers)} is",
        intent_type=draw(st.none() | st.sampled_from(IntentType)),
        strategies=[],
        execution_time_ms=draw(numbers),
        policy=draw(st.sampled_from([POLICY, OPTED_IN])),
        feature_flags=draw(st.none() | st.dictionaries(carriers, carriers, max_size=2)),
    )
    return result.value_or(None)


json_values: st.SearchStrategy[JSONValue] = st.recursive(
    st.none() | st.booleans() | numbers | carriers | st.sampled_from(sorted(INTENT_LABELS)),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(carriers, inner, max_size=3),
    max_leaves=6,
)
read_keys = st.sampled_from(["intent", "response_status", "execution_time_ms", "result_tokens"])
hand_made = st.dictionaries(read_keys | carriers, json_values, max_size=5).map(
    lambda properties: SearchEvent(properties, FilterReport())
)
"""A search event of any properties, as a host could make one."""

searches = st.lists(built_searches() | hand_made, max_size=12)

losses = st.dictionaries(
    st.sampled_from(LossReason), st.integers(min_value=0, max_value=2**70), max_size=8
)


def tally_of(events: list[SearchEvent | None]) -> SessionStatistics:
    tally = SessionStatistics()
    for event in events:
        if event is not None:
            tally = with_search(tally, event)
    return tally


@given(searches)
def test_the_counts_of_any_sequence_of_searches_add_up(events: list[SearchEvent | None]) -> None:
    tally = tally_of(events)
    total = sum(event is not None for event in events)
    assert tally.total_requests == total
    assert tally.successful_requests + tally.failed_requests == total
    assert sum(tally.requests_by_intent.values()) == total
    assert sum(tally.requests_by_status.values()) == total
    assert set(tally.requests_by_intent) <= INTENT_LABELS | {OTHER_LABEL}
    assert set(tally.requests_by_status) <= STATUS_LABELS | {OTHER_LABEL}
    samples = tally.tool_latencies_ms.get(SEARCH_TOOL, ())
    assert len(samples) <= min(total, MAX_SEARCH_LATENCY_SAMPLES)
    assert all(type(sample) is float and 0.0 <= sample < float("inf") for sample in samples)
    assert 0 <= tally.tokens_delivered <= MAX_SAFE_INT


@settings(max_examples=100)  # (each example builds up to 8 search events; 50 s at CI's 500)
@given(st.lists(built_searches(), max_size=4), st.lists(built_searches(), max_size=4))
def test_two_tallies_joined_are_the_tally_of_both_sequences(
    earlier: list[SearchEvent | None], later: list[SearchEvent | None]
) -> None:
    assert joined(tally_of(earlier), tally_of(later)) == tally_of(earlier + later)


@given(searches, losses, carriers, st.lists(carriers | st.builds(ValueError, carriers)))
def test_the_session_event_of_any_tally_passes_the_wire_check_and_leaks_no_canary(
    events: list[SearchEvent | None],
    lost: dict[LossReason, int],
    version: str,
    config_errors: list[object],
) -> None:
    tally = tally_of(events)
    event = build_session_event(
        tally,
        version=version,
        duration_seconds=1.0,
        policy=POLICY,
        config_errors=config_errors,
        events_lost=lost,
    ).unwrap()
    properties = event.properties
    by_intent, by_reason = properties["requests_by_intent"], properties["telemetry_events_lost"]
    assert isinstance(by_intent, dict)
    assert isinstance(by_reason, dict)
    assert properties["requests_total"] == tally.total_requests
    assert sum(by_intent.values()) == tally.total_requests  # type: ignore[arg-type]
    assert properties["telemetry_events_lost_total"] == min(sum(lost.values()), MAX_SAFE_INT)
    assert set(by_reason) == {reason.value for reason, count in lost.items() if count}
    assert properties["privacy_filter"] == {"dropped": 0, "redacted": 0}
    checked = checked_properties(properties, POLICY, SESSION_SCHEMA.vocabularies).unwrap()
    assert checked.dropped == 0
    assert checked.properties == properties
    assert CANARY not in json.dumps(properties, ensure_ascii=False)
