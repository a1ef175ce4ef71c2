"""SessionEvent and SearchEvent builders, pinned to exact property dicts."""

from __future__ import annotations

import json
import math

from domain_samples import empty_summary

from codeweaver_telemetry.core import (
    CodeMatch,
    FindCodeResponseSummary,
    IndexState,
    IntentType,
    MatchType,
    PrivacyPolicy,
    SearchEvent,
    SearchMode,
    SearchStatus,
    SearchStrategy,
    SessionEvent,
    SessionStatistics,
    TelemetryEvent,
    build_search_event,
    build_session_event,
    find_leak,
)
from codeweaver_telemetry.core.conversions import to_hash
from codeweaver_telemetry.core.search_event import SEARCH_SCHEMA
from codeweaver_telemetry.core.session_event import SESSION_SCHEMA
from codeweaver_telemetry.core.vocabulary import LABEL_PATTERN

POLICY = PrivacyPolicy(hash_key=b"k" * 32, sensitive_literals=frozenset({"alice", "acme-repo"}))
OPTED_IN = PrivacyPolicy(
    hash_key=b"k" * 32,
    tools_over_privacy=True,
    sensitive_literals=frozenset({"alice", "acme-repo"}),
)


def response() -> FindCodeResponseSummary:
    return FindCodeResponseSummary(
        matches=(
            CodeMatch(
                "/home/alice/acme-repo/auth.py",
                "def login(): ...",
                (1, 9),
                0.9,
                MatchType.SEMANTIC,
                ("login",),
            ),
            CodeMatch("src/session.py", "class Session: ...", (3, 30), 0.5, MatchType.KEYWORD),
            CodeMatch("src/tokens.py", "SECRET = 1", (1, 1), 0.7, MatchType.SEMANTIC),
        ),
        summary="Authentication happens in /home/alice/acme-repo/auth.py",
        query_intent=IntentType.UNDERSTAND,
        total_matches=50,
        total_results=3,
        token_count=1200,
        execution_time_ms=125.5,
        status=SearchStatus.SUCCESS,
        warnings=("index is 2 days old at /home/alice",),
        indexing_state=IndexState.READY,
        index_coverage=0.98,
        search_mode=SearchMode.BALANCED,
        search_strategy=(SearchStrategy.HYBRID,),
        languages_found=("python", "python", "python"),
        metadata={"repo": "acme-repo"},
    )


def search(policy: PrivacyPolicy = POLICY, **overrides: object) -> SearchEvent:
    arguments: dict[str, object] = {
        "query": "how does authentication work in acme-repo",
        "intent_type": IntentType.UNDERSTAND,
        "strategies": [SearchStrategy.HYBRID, SearchStrategy.RERANK],
        "execution_time_ms": 125.5,
        "feature_flags": {"new_reranker": "control", "fast_path": True},
    }
    arguments.update(overrides)
    return build_search_event(response(), policy=policy, **arguments).unwrap()  # type: ignore[arg-type]


SEARCH_BASE = {
    "intent": "understand",
    "strategies": ["hybrid", "rerank"],
    "execution_time_ms": 125.5,
    "result_candidates": 50,
    "result_returned": 3,
    "result_total": 3,
    "result_tokens": 1200,
    "relevance_min": 0.5,
    "relevance_max": 0.9,
    "relevance_mean": math.fsum((0.9, 0.5, 0.7)) / 3,
    "relevance_median": 0.7,
    "match_types": {"semantic": 2, "keyword": 1},
    "response_status": "success",
    "search_mode": "balanced",
    "index_state": "ready",
    "index_coverage": 0.98,
    "languages_found": {"python": 3},
    "warning_count": 1,
    "$feature/new_reranker": "control",
    "$feature/fast_path": True,
    "$process_person_profile": False,
    "privacy_filter": {"dropped": 0, "redacted": 0},
}


def test_search_event_without_opt_in_has_no_query_derived_value() -> None:
    event = search()
    name, properties = event.to_posthog_event()
    assert name == "codeweaver_search"
    assert properties == SEARCH_BASE
    assert not any(key.startswith("query") for key in properties)


def test_search_event_with_opt_in_adds_only_query_statistics_and_guarded_text() -> None:
    query = "why does /home/alice/x.py fail for alice"
    event = search(OPTED_IN, query=query)
    extra = {key: value for key, value in event.properties.items() if key not in SEARCH_BASE}
    assert extra == {
        "query_tokens": 6,
        "query_chars": len(query),
        "query_hash": to_hash(query, OPTED_IN),
        "query_text": "why does [REDACTED] fail for [REDACTED]",
    }


def test_opt_in_query_text_is_cut_at_a_word() -> None:
    policy = PrivacyPolicy(hash_key=b"k" * 32, tools_over_privacy=True, max_query_chars=10)
    event = search(policy, query="a very long query about many things")
    assert event.properties["query_text"] == "a very"


def test_search_event_never_carries_code_paths_or_repository_names() -> None:
    for policy in (POLICY, OPTED_IN):
        text = json.dumps(search(policy).properties)
        for secret in ("def login", "auth.py", "/home/alice", "acme-repo", "SECRET = 1"):
            assert secret not in text


def test_search_event_drops_what_it_cannot_compute_and_counts_it() -> None:
    flags = {"ok": 1.5, "fine": "on", "password=hunter2": True, "x": "db.internal.acme.com"}
    event = search(execution_time_ms=math.nan, feature_flags=flags)
    assert "execution_time_ms" not in event.properties
    assert event.properties["$feature/ok"] == "__other__"
    assert event.properties["$feature/fine"] == "on"
    assert event.properties["$feature/x"] == "__other__"
    assert "$feature/password=hunter2" not in event.properties
    assert event.properties["privacy_filter"] == {"dropped": 2, "redacted": 0}
    assert [str(note) for note in event.report.notes] == [
        "execution_time_ms: the number is not finite",
    ]


def test_search_event_with_no_matches_reports_null_relevance() -> None:
    empty = empty_summary()
    event = build_search_event(
        empty, query="q", intent_type=None, strategies=[], execution_time_ms=1.0, policy=POLICY
    ).unwrap()
    assert event.properties["intent"] is None
    assert event.properties["relevance_mean"] is None
    assert event.properties["match_types"] == {}


def stats() -> SessionStatistics:
    return SessionStatistics(
        total_requests=10,
        successful_requests=9,
        failed_requests=1,
        tool_latencies_ms={"find_code": (10.0, 20.0, 30.0, 40.0), "/home/alice/tool": (5.0,)},
        embedding_tokens=5000,
        tokens_delivered=1200,
        tokens_saved=40000,
        estimated_savings_usd=0.12,
        languages={"python": 120, "rust": 30},
        file_categories={"code": 140, "docs": 10},
        operations={"index": 1, "search": 10},
        failover_occurred=True,
        failover_count=1,
        failover_time_ms=250.0,
        active_store="backup",
        setup_success=True,
        setup_attempts=2,
        setup_error_kinds=("TimeoutError",),
        config_flags={"reranking": True, "sparse": False},
    )


def test_session_event_properties() -> None:
    event = build_session_event(
        stats(),
        version="0.5.0",
        duration_seconds=3600.0,
        policy=POLICY,
        config_errors=[ValueError("bad value at /home/alice/.config"), "missing key"],
    ).unwrap()
    name, properties = event.to_posthog_event()
    assert name == "codeweaver_session"
    tool_label = "__other__"
    assert properties == {
        "version": "0.5.0",
        "duration_seconds": 3600.0,
        "setup_success": True,
        "setup_attempts": 2,
        "setup_error_kinds": {"TimeoutError": 1, "ValueError": 1},
        "config_error_count": 2,
        "requests_total": 10,
        "requests_successful": 9,
        "requests_failed": 1,
        "request_success_rate": 0.9,
        "requests_by_status": {},
        "requests_by_intent": {},
        "tool_latency_ms": {
            "find_code": {"count": 4, "mean": 25.0, "p50": 20.0, "p95": 40.0, "max": 40.0},
            tool_label: {"count": 1, "mean": 5.0, "p50": 5.0, "p95": 5.0, "max": 5.0},
        },
        "tokens_embedding": 5000,
        "tokens_delivered": 1200,
        "tokens_saved": 40000,
        "estimated_savings_usd": 0.12,
        "languages": {"python": 120, "rust": 30},
        "file_categories": {"code": 140, "docs": 10},
        "operations": {"search": 10, "index": 1},
        "files_total": 150,
        "failover_occurred": True,
        "failover_count": 1,
        "failover_time_ms": 250.0,
        "active_store": "backup",
        "config_flags": {"reranking": True, "sparse": False},
        "telemetry_events_lost": {},
        "telemetry_events_lost_total": 0,
        "$process_person_profile": False,
        "privacy_filter": {"dropped": 0, "redacted": 0},
    }


def test_session_event_arguments_override_the_statistics_setup() -> None:
    event = build_session_event(
        stats(),
        version="1",
        duration_seconds=1.0,
        policy=POLICY,
        setup_success=False,
        setup_attempts=3,
    ).unwrap()
    assert event.properties["setup_success"] is False
    assert event.properties["setup_attempts"] == 3


def test_session_event_with_no_requests_has_a_null_rate() -> None:
    event = build_session_event(
        SessionStatistics(), version="1", duration_seconds=0.0, policy=POLICY
    ).unwrap()
    assert event.properties["request_success_rate"] is None


def test_events_satisfy_the_event_protocol() -> None:
    session = build_session_event(
        SessionStatistics(), version="1", duration_seconds=0.0, policy=POLICY
    ).unwrap()
    assert isinstance(session, TelemetryEvent)
    assert isinstance(search(), TelemetryEvent)
    assert SessionEvent.EVENT_NAME == "codeweaver_session"
    assert SearchEvent.EVENT_NAME == "codeweaver_search"


def test_every_property_a_builder_emits_is_declared_in_its_schema() -> None:
    declared_search = {spec.name for spec in SearchEvent.SCHEMA.properties}
    for key in search(OPTED_IN).properties:
        assert key in declared_search or key.startswith("$feature/"), key
    declared_session = {spec.name for spec in SessionEvent.SCHEMA.properties}
    session = build_session_event(stats(), version="1", duration_seconds=1.0, policy=POLICY)
    only_with_mcp = {name for name in declared_session if name.startswith("mcp_")}
    assert set(session.unwrap().properties) == declared_session - only_with_mcp


def test_to_posthog_event_returns_a_copy() -> None:
    event = search()
    _, properties = event.to_posthog_event()
    properties["intent"] = "tampered"
    assert event.properties["intent"] == "understand"


def test_schema_names_are_labels_the_guard_passes() -> None:
    names = [prop.name for prop in SEARCH_SCHEMA.properties]
    names += [prop.name for prop in SESSION_SCHEMA.properties]
    names = [name for name in names if name != "$feature/<flag>"]
    assert all(LABEL_PATTERN.fullmatch(name.lstrip("$")) for name in names)
    names += ["count", "mean", "p50", "p95", "max", "dropped", "redacted"]
    assert [name for name in names if find_leak(name) is not None] == []


def test_a_user_named_like_a_property_does_not_cost_the_property() -> None:
    policy = PrivacyPolicy(hash_key=b"k" * 32, sensitive_literals=frozenset({"version"}))
    event = build_session_event(stats(), version="0.5.0", duration_seconds=1.0, policy=policy)
    assert event.unwrap().properties["version"] == "0.5.0"
