"""The seed's convenience functions: build an event and capture it on the process-wide client."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from .registry import get_telemetry_client

if TYPE_CHECKING:  # the domain objects load when the host builds one, not with this module
    from codeweaver_telemetry.core import (
        FindCodeResponseSummary,
        IntentType,
        SearchStrategy,
        SessionStatistics,
    )


def capture_session_event(
    stats: SessionStatistics | None = None,
    *,
    version: str | None = None,
    setup_success: bool | None = None,
    setup_attempts: int | None = None,
    config_errors: Sequence[object] = (),
    duration_seconds: float | None = None,
) -> None:
    """Capture the aggregated session event; see ``TelemetryClient.capture_session_event``
    (the same parameters and defaults)."""
    get_telemetry_client().capture_session_event(
        stats,
        version=version,
        setup_success=setup_success,
        setup_attempts=setup_attempts,
        config_errors=config_errors,
        duration_seconds=duration_seconds,
    )


def capture_search_event(
    response: FindCodeResponseSummary,
    *,
    query: str,
    intent_type: IntentType | None,
    strategies: Iterable[SearchStrategy],
    execution_time_ms: float,
    tools_over_privacy: bool | None = None,
    feature_flags: Mapping[str, object] | None = None,
) -> None:
    """Capture one search event; the query statistics also need the user's own opt-in."""
    get_telemetry_client().capture_search_event(
        response,
        query=query,
        intent_type=intent_type,
        strategies=strategies,
        execution_time_ms=execution_time_ms,
        tools_over_privacy=tools_over_privacy,
        feature_flags=feature_flags,
    )
