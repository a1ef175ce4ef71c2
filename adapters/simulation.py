"""A realistic code-search session, simulated from a seed: what the ``demo`` command sends.

It drives the real domain objects, event builders and client, so that a new user sees exactly
what the library would send for a session of their own tool.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

from codeweaver_telemetry.core import (
    CodeMatch,
    FindCodeResponseSummary,
    IndexState,
    IntentType,
    MatchType,
    SearchMode,
    SearchStatus,
    SearchStrategy,
    SessionStatistics,
)

_QUERIES = (
    "how does authentication work",
    "where is the retry policy for /home/dev/acme/src/http_client.py",
    "find the function that parses config.toml",
    "why does the indexer fail on large files",
    "show me tests for the session manager",
    "what calls refresh_token",
    "optimize the embedding batch size",
    "document the public API of the search module",
)
_FILES = ("src/auth/login.py", "src/http/retry.py", "src/index/walker.rs", "web/app.tsx")
_LANGUAGES = ("python", "rust", "typescript", "markdown")


@dataclass(frozen=True, slots=True)
class SimulatedSearch:
    """One simulated search: what the tool returned, and how it was asked."""

    response: FindCodeResponseSummary
    query: str
    intent: IntentType
    strategies: tuple[SearchStrategy, ...]
    execution_time_ms: float


def simulated_searches(count: int, seed: int) -> Iterator[SimulatedSearch]:
    """``count`` searches with varied intents, strategies, scores and timings, one or two of
    them failed; the same seed gives the same searches."""
    rng = random.Random(seed)
    failed = set(rng.sample(range(count), k=min(count, rng.choice((1, 2)))))
    for index in range(count):
        intent = rng.choice(tuple(IntentType))
        strategies = tuple(rng.sample(tuple(SearchStrategy), k=rng.randint(1, 2)))
        took = round(rng.uniform(40.0, 900.0), 1)
        matches = () if index in failed else _matches(rng)
        yield SimulatedSearch(
            response=FindCodeResponseSummary(
                matches=matches,
                summary=f"Found {len(matches)} places for the request.",
                query_intent=intent,
                total_matches=len(matches) * rng.randint(2, 6),
                total_results=len(matches),
                token_count=sum(len(match.content) // 4 for match in matches),
                execution_time_ms=took,
                status=SearchStatus.ERROR if index in failed else SearchStatus.SUCCESS,
                warnings=("the index is stale",) if index in failed else (),
                indexing_state=IndexState.STALE if index in failed else IndexState.READY,
                index_coverage=round(rng.uniform(0.85, 1.0), 3),
                search_mode=rng.choice(tuple(SearchMode)),
                search_strategy=strategies,
                languages_found=tuple(rng.choice(_LANGUAGES) for _ in matches),
                metadata={"repository": "acme"},
            ),
            query=rng.choice(_QUERIES),
            intent=intent,
            strategies=strategies,
            execution_time_ms=took,
        )


def _matches(rng: random.Random) -> tuple[CodeMatch, ...]:
    return tuple(
        CodeMatch(
            file_path=f"/home/dev/acme/{rng.choice(_FILES)}",
            content="def handler(request):\n    return authorize(request)\n",
            span=(line, line + rng.randint(3, 40)),
            relevance_score=round(rng.uniform(0.3, 0.98), 3),
            match_type=rng.choice(tuple(MatchType)),
            related_symbols=("authorize", "request"),
        )
        for line in sorted(rng.sample(range(1, 400), k=rng.randint(2, 8)))
    )


def session_statistics(searches: list[SimulatedSearch], seed: int) -> SessionStatistics:
    """What the tool would have accumulated over these searches, with one failover."""
    rng = random.Random(seed + 1)
    failed = sum(search.response.status is SearchStatus.ERROR for search in searches)
    return SessionStatistics(
        total_requests=len(searches),
        successful_requests=len(searches) - failed,
        failed_requests=failed,
        tool_latencies_ms={"find_code": tuple(search.execution_time_ms for search in searches)},
        embedding_tokens=rng.randint(50_000, 200_000),
        tokens_delivered=sum(search.response.token_count for search in searches),
        tokens_saved=rng.randint(200_000, 900_000),
        estimated_savings_usd=round(rng.uniform(0.5, 4.0), 2),
        languages={language: rng.randint(5, 400) for language in _LANGUAGES},
        file_categories={"code": rng.randint(200, 600), "docs": rng.randint(10, 80)},
        operations={"index": 1, "search": len(searches), "reindex": rng.randint(0, 2)},
        failover_occurred=True,
        failover_count=1,
        failover_time_ms=round(rng.uniform(200.0, 2_000.0), 1),
        active_store="backup",
        setup_success=True,
        setup_attempts=1,
        config_flags={"reranking": True, "sparse_vectors": rng.random() < 0.5},
    )
