"""Domain objects shared by several tests."""

from __future__ import annotations

from codeweaver_telemetry.core import FindCodeResponseSummary


def empty_summary() -> FindCodeResponseSummary:
    """A search that found nothing."""
    return FindCodeResponseSummary(
        matches=(),
        summary="",
        query_intent=None,
        total_matches=0,
        total_results=0,
        token_count=0,
        execution_time_ms=1.0,
    )
