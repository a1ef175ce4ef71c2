"""Benchmarks of the pure core, printed as a table of medians and side-by-side ratios.

    python tests/benchmarks/bench_core.py            # the full run (about a minute)
    python tests/benchmarks/bench_core.py --quick    # a smoke run, for CI

Each figure is the median per call over repeated timing runs; each ratio to a floor is the median
of the ratios of runs that alternate with the floor's. No figure here is asserted anywhere:
timings flake on shared machines.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from host_process import seconds_in_fresh_processes

from codeweaver_telemetry.core import (
    CodeMatch,
    FindCodeResponseSummary,
    IndexState,
    IntentType,
    MatchType,
    PrivacyPolicy,
    SearchMode,
    SearchStrategy,
    SessionStatistics,
    build_search_event,
    build_session_event,
    guard_payload,
    serialize_for_telemetry,
)
from codeweaver_telemetry.core.conversions import to_hash
from codeweaver_telemetry.core.session_tally import (
    MAX_SEARCH_LATENCY_SAMPLES,
    SEARCH_TOOL,
    with_search,
)
from codeweaver_telemetry.core.wire import checked_properties, forget_label_verdicts

POLICY = PrivacyPolicy(
    hash_key=os.urandom(32),
    sensitive_literals=frozenset({"alice", "alice-laptop", "/home/alice", "acme-repo", "work"}),
)


def per_call_median(function: Callable[[], object], *, number: int, repeat: int) -> float:
    """Median seconds per call of ``function`` over ``repeat`` runs of ``number`` calls."""
    runs = timeit.repeat(function, number=number, repeat=repeat)
    return statistics.median(runs) / number


def side_by_side(
    function: Callable[[], object], floor: Callable[[], object], *, number: int, repeat: int
) -> tuple[float, float, float]:
    """Median seconds per call of ``function`` and of ``floor``, timed in alternating runs of
    ``number`` calls, and the median of each pair's ratio: a machine that slows down for a
    while slows both sides of the pairs it touches, not one side of the comparison."""
    pairs = [
        (timeit.timeit(function, number=number), timeit.timeit(floor, number=number))
        for _ in range(repeat)
    ]
    return (
        statistics.median(run for run, _ in pairs) / number,
        statistics.median(floor_run for _, floor_run in pairs) / number,
        statistics.median(run / floor_run for run, floor_run in pairs),
    )


def search_response() -> FindCodeResponseSummary:
    """A summary with 10 matches, as a real search returns."""
    matches = tuple(
        CodeMatch(
            file_path=f"/home/alice/acme-repo/src/module_{i}.py",
            content=f"def function_{i}(x):\n    return x * {i}\n",
            span=(i * 10, i * 10 + 8),
            relevance_score=0.5 + i / 40,
            match_type=MatchType.SEMANTIC if i % 3 else MatchType.KEYWORD,
            related_symbols=("helper", "other"),
        )
        for i in range(10)
    )
    return FindCodeResponseSummary(
        matches=matches,
        summary="Authentication is handled by the login module.",
        query_intent=IntentType.UNDERSTAND,
        total_matches=50,
        total_results=10,
        token_count=2400,
        execution_time_ms=125.5,
        warnings=(),
        indexing_state=IndexState.READY,
        index_coverage=0.98,
        search_mode=SearchMode.BALANCED,
        search_strategy=(SearchStrategy.HYBRID,),
        languages_found=("python",) * 10,
    )


def session_statistics() -> SessionStatistics:
    """The statistics of a typical hour-long session."""
    return SessionStatistics(
        total_requests=42,
        successful_requests=40,
        failed_requests=2,
        tool_latencies_ms={
            "find_code": tuple(float(10 + i) for i in range(40)),
            "index": (1500.0, 1800.0),
        },
        embedding_tokens=120_000,
        tokens_delivered=48_000,
        tokens_saved=900_000,
        estimated_savings_usd=2.7,
        languages={"python": 420, "typescript": 130, "rust": 12, "markdown": 40},
        file_categories={"code": 560, "docs": 40, "config": 2},
        operations={"index": 1, "search": 42, "reindex": 2},
        failover_occurred=False,
        active_store="primary",
        config_flags={"reranking": True, "sparse": True, "telemetry_opt_in": False},
    )


def search_event_json(response: FindCodeResponseSummary) -> str:
    event = build_search_event(
        response,
        query="how does authentication work",
        intent_type=IntentType.UNDERSTAND,
        strategies=[SearchStrategy.HYBRID],
        execution_time_ms=125.5,
        policy=POLICY,
        feature_flags={"new_reranker": "control"},
    ).unwrap()
    return json.dumps(event.to_posthog_event()[1])


def search_floor() -> str:
    """The floor: the same output as a hand-written dict literal, plus json.dumps."""
    return json.dumps(
        {
            "intent": "understand",
            "strategies": ["hybrid"],
            "execution_time_ms": 125.5,
            "result_candidates": 50,
            "result_returned": 10,
            "result_total": 10,
            "result_tokens": 2400,
            "relevance_min": 0.5,
            "relevance_max": 0.725,
            "relevance_mean": 0.6125,
            "relevance_median": 0.6125,
            "match_types": {"semantic": 6, "keyword": 4},
            "response_status": "success",
            "search_mode": "balanced",
            "index_state": "ready",
            "index_coverage": 0.98,
            "languages_found": {"python": 10},
            "warning_count": 0,
            "$feature/new_reranker": "control",
            "$process_person_profile": False,
            "privacy_filter": {"dropped": 0, "redacted": 0},
        }
    )


def session_event_json(stats: SessionStatistics) -> str:
    event = build_session_event(
        stats, version="0.5.0", duration_seconds=3600.0, policy=POLICY
    ).unwrap()
    return json.dumps(event.to_posthog_event()[1])


def session_floor() -> str:
    """The floor: the same output as a hand-written dict literal, plus json.dumps."""
    return json.dumps(
        {
            "version": "0.5.0",
            "duration_seconds": 3600.0,
            "setup_success": True,
            "setup_attempts": 1,
            "setup_error_kinds": {},
            "config_error_count": 0,
            "requests_total": 42,
            "requests_successful": 40,
            "requests_failed": 2,
            "request_success_rate": 0.9523809523809523,
            "requests_by_status": {},
            "requests_by_intent": {},
            "tool_latency_ms": {
                "find_code": {"count": 40, "mean": 29.5, "p50": 29.0, "p95": 47.0, "max": 49.0},
                "index": {"count": 2, "mean": 1650.0, "p50": 1500.0, "p95": 1800.0, "max": 1800.0},
            },
            "tokens_embedding": 120000,
            "tokens_delivered": 48000,
            "tokens_saved": 900000,
            "estimated_savings_usd": 2.7,
            "languages": {"python": 420, "typescript": 130, "markdown": 40, "rust": 12},
            "file_categories": {"code": 560, "docs": 40, "config": 2},
            "operations": {"search": 42, "reindex": 2, "index": 1},
            "files_total": 602,
            "failover_occurred": False,
            "failover_count": 0,
            "failover_time_ms": 0.0,
            "active_store": "primary",
            "config_flags": {"reranking": True, "sparse": True, "telemetry_opt_in": False},
            "telemetry_events_lost": {},
            "telemetry_events_lost_total": 0,
            "$process_person_profile": False,
            "privacy_filter": {"dropped": 0, "redacted": 0},
        }
    )


GUARD_PAYLOAD: dict[str, Any] = {
    "intent": "UNDERSTAND",
    "strategy": "hybrid",
    "store": "qdrant",
    "version": "0.5.0",
    "language": "python",
    "when": "2026-11-28T01:04:35Z",
    "mime": "text/plain",
    "note": "searched the index twice before answering",
    "where": "/home/alice/acme-repo/src/auth.py",
    "who": "alice",
}


def versus_floor(floor_seconds: float, ratio: float) -> str:
    """A ratio to the hand-written floor, with the floor's own figure."""
    return f"{ratio:.2f}x the dict-literal floor ({floor_seconds * 1e6:.1f} µs)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run with few repetitions")
    arguments = parser.parse_args()
    number, repeat, imports = (50, 3, 2) if arguments.quick else (2000, 15, 21)

    response, stats = search_response(), session_statistics()
    assert json.loads(search_event_json(response)) == json.loads(search_floor())
    assert json.loads(session_event_json(stats)) == json.loads(session_floor())

    def time(function: Callable[[], object]) -> float:
        return per_call_median(function, number=number, repeat=repeat)

    rows: list[tuple[str, str, str]] = []
    events: list[tuple[str, Callable[[], object], Callable[[], object]]] = [
        (
            "SearchEvent build + json (10 matches)",
            lambda: search_event_json(response),
            search_floor,
        ),
        ("SessionEvent build + json", lambda: session_event_json(stats), session_floor),
    ]
    for name, event_json, floor in events:
        seconds, floor_seconds, ratio = side_by_side(
            event_json, floor, number=number, repeat=repeat
        )
        rows.append((name, f"{seconds * 1e6:.1f} µs", versus_floor(floor_seconds, ratio)))
    wire_s = time(lambda: checked_properties(dict(GUARD_PAYLOAD), POLICY))

    def unremembered() -> object:
        forget_label_verdicts()  # every label decided afresh: what remembering saves
        return checked_properties(dict(GUARD_PAYLOAD), POLICY)

    fresh_s = time(unremembered)
    rows.append(
        (
            "wire check, 10-string payload",
            f"{wire_s * 1e6:.2f} µs",
            f"{fresh_s * 1e6:.1f} µs with no label verdict remembered ({fresh_s / wire_s:.1f}x)",
        )
    )
    guard_s = time(lambda: guard_payload(GUARD_PAYLOAD, POLICY.literal_tokens))
    rows.append(
        (
            "leak guard, 10-string payload",
            f"{guard_s * 1e6:.2f} µs",
            f"{guard_s / len(GUARD_PAYLOAD) * 1e9:.0f} ns per string",
        )
    )
    event_properties = json.loads(search_event_json(response))
    dumps_s = time(lambda: json.dumps(event_properties, separators=(",", ":")))
    rows.append(
        (
            "  JSON size of the search event",
            f"{dumps_s * 1e6:.2f} µs",
            "what the check's own size bound spares it (it measures only past the bound)",
        )
    )
    search_event = build_search_event(
        response,
        query="how does authentication work",
        intent_type=IntentType.UNDERSTAND,
        strategies=[SearchStrategy.HYBRID],
        execution_time_ms=125.5,
        policy=POLICY,
    ).unwrap()
    fresh_tally, full_tally = SessionStatistics(), with_search(SessionStatistics(), search_event)
    for _ in range(MAX_SEARCH_LATENCY_SAMPLES // 2):  # half full: the costliest copies but one
        full_tally = with_search(full_tally, search_event)
    empty_fold_s = time(lambda: with_search(fresh_tally, search_event))
    half_fold_s = time(lambda: with_search(full_tally, search_event))
    rows.append(
        (
            "session tally: fold one search event",
            f"{empty_fold_s * 1e6:.2f} µs",
            f"{half_fold_s * 1e6:.1f} µs with "
            f"{len(full_tally.tool_latencies_ms[SEARCH_TOOL]):,} latency samples kept",
        )
    )
    hash_s = time(lambda: to_hash("/home/alice/acme-repo/src/auth.py", POLICY))
    rows.append(("HASH of a 33-character path", f"{hash_s * 1e6:.2f} µs", ""))
    generic_s = time(lambda: serialize_for_telemetry(response, POLICY))
    rows.append(("serialize_for_telemetry(summary, 10 matches)", f"{generic_s * 1e6:.1f} µs", ""))
    with tempfile.TemporaryDirectory(prefix="codeweaver-bench-") as directory:

        def import_ms(statement: str) -> str:
            return f"{seconds_in_fresh_processes(statement, imports, Path(directory)) * 1e3:.1f} ms"

        returns_import = import_ms("import returns.result")
        rows.append(
            (
                "import codeweaver_telemetry.core",
                import_ms("import codeweaver_telemetry.core"),
                "its names load on first use",
            )
        )
        rows.append(
            (
                "  + serialize_for_telemetry",
                import_ms("from codeweaver_telemetry.core import serialize_for_telemetry"),
                f"what a host pays to serialize its models (returns.result: {returns_import})",
            )
        )
        rows.append(
            (
                "  + both event schemas",
                import_ms(
                    "import codeweaver_telemetry.core.search_event, "
                    "codeweaver_telemetry.core.session_event"
                ),
                "what a host pays once it builds an event",
            )
        )

    print(f"# codeweaver-telemetry core benchmarks ({'quick' if arguments.quick else 'full'})")
    print(f"# Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cores")
    width = max(len(row[0]) for row in rows)
    for name, figure, comparison in rows:
        print(f"{name:<{width}}  {figure:>10}  {comparison}")


if __name__ == "__main__":
    main()
