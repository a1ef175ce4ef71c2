"""The end-of-session event: setup, requests, latency, token economics, repository, failover.

Everything in it is a count, a number, a True/False or a category label; repository
characteristics are languages and file counts, never names.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar, Final

from returns.result import Result

from .conversions import as_json_number, to_aggregate, to_boolean, to_count
from .domain import SessionStatistics
from .event_schema import (
    NO_PERSON_PROFILE,
    AnonymizedEvent,
    PropertyBuilder,
    PropertySpec,
    build_event,
    schema_room,
)
from .payload import PRIVACY_FILTER_KEY, entries_bound
from .policy import PrivacyPolicy
from .vocabulary import AnonymityConversion, JSONObject, PrivacyError

_C = AnonymityConversion

SESSION_PROPERTIES: Final[tuple[PropertySpec, ...]] = (
    PropertySpec("version", "string", "Version of the host tool."),
    PropertySpec("duration_seconds", "number", "How long the session lasted."),
    PropertySpec("setup_success", "boolean", "Whether setup succeeded.", _C.BOOLEAN),
    PropertySpec("setup_attempts", "integer", "Setup attempts made."),
    PropertySpec(
        "setup_error_kinds", "object", "Setup errors per exception class name.", _C.DISTRIBUTION
    ),
    PropertySpec("config_error_count", "integer", "Configuration errors seen.", _C.COUNT),
    PropertySpec("requests_total", "integer", "Requests handled."),
    PropertySpec("requests_successful", "integer", "Requests that succeeded."),
    PropertySpec("requests_failed", "integer", "Requests that failed."),
    PropertySpec("request_success_rate", "number | null", "Successful / total, 0 to 1."),
    PropertySpec(
        "tool_latency_ms",
        "object",
        "Per tool: count, mean, p50, p95 and max latency in milliseconds.",
        _C.AGGREGATE,
    ),
    PropertySpec("tokens_embedding", "integer", "Tokens sent for embedding."),
    PropertySpec("tokens_delivered", "integer", "Tokens delivered to the agent."),
    PropertySpec("tokens_saved", "integer", "Tokens the agent did not have to read."),
    PropertySpec("estimated_savings_usd", "number", "Estimated cost saved, in US dollars."),
    PropertySpec("languages", "object", "Indexed files per language.", _C.DISTRIBUTION),
    PropertySpec("file_categories", "object", "Indexed files per category.", _C.DISTRIBUTION),
    PropertySpec("operations", "object", "Operations run, per kind.", _C.DISTRIBUTION),
    PropertySpec("files_total", "integer", "Indexed files in all.", _C.AGGREGATE),
    PropertySpec("failover_occurred", "boolean", "Whether the backup store was used.", _C.BOOLEAN),
    PropertySpec("failover_count", "integer", "Failovers during the session."),
    PropertySpec("failover_time_ms", "number", "Time spent failed over, in milliseconds."),
    PropertySpec("active_store", "string | null", "Label of the store in use at the end."),
    PropertySpec(
        "config_flags", "object", "Each setting's name, and whether it is on.", _C.BOOLEAN
    ),
    PropertySpec(
        "telemetry_events_dropped",
        "integer",
        "Events this library dropped in the session (full buffer, closed sink, filter errors).",
    ),
    PropertySpec(
        "telemetry_events_failed", "integer", "Events whose delivery failed in the session."
    ),
    PropertySpec(NO_PERSON_PROFILE, "boolean", "Always false: no person profile is made."),
    PropertySpec(PRIVACY_FILTER_KEY, "object", "What the privacy filter dropped and redacted."),
)


LATENCY_STATISTICS: Final = ("count", "mean", "p50", "p95", "max")
"""The statistics of each tool's latency samples, in ``tool_latency_ms``."""

_SCHEMA_ROOM: Final = schema_room(spec.name for spec in SESSION_PROPERTIES)

_LATENCY_ROOM: Final = 2 + entries_bound(LATENCY_STATISTICS)
"""Room for one tool's latency statistics (the label's own room is the label's)."""


@dataclass(frozen=True, slots=True)
class SessionEvent(AnonymizedEvent):
    """One session, aggregated and anonymized; build it with :func:`build_session_event`."""

    EVENT_NAME: ClassVar[str] = "codeweaver_session"
    PROPERTIES: ClassVar[tuple[PropertySpec, ...]] = SESSION_PROPERTIES


def build_session_event(
    stats: SessionStatistics,
    *,
    version: str,
    duration_seconds: float,
    policy: PrivacyPolicy,
    setup_success: bool | None = None,
    setup_attempts: int | None = None,
    config_errors: Sequence[object] = (),
    events_dropped: int = 0,
    events_failed: int = 0,
) -> Result[SessionEvent, PrivacyError]:
    """Build the session event; a property whose value cannot be computed is dropped and
    counted. Statistics whose fields cannot be read at all (a host object that is not a
    ``SessionStatistics``) fail the event as a whole, naming only the error's type.

    ``setup_success`` and ``setup_attempts``, when given, override the statistics' own.
    Configuration errors are counted, and exceptions among them add their class names to the
    setup error kinds; their messages are never read. ``events_dropped`` and ``events_failed``
    are the library's own delivery counts, which the client reports.

    >>> from codeweaver_telemetry.core import default_policy
    >>> event = build_session_event(SessionStatistics(total_requests=4, successful_requests=3),
    ...                             version="0.5.0", duration_seconds=60.0,
    ...                             policy=default_policy()).unwrap()
    >>> event.properties["request_success_rate"]
    0.75
    """

    def put_properties(build: PropertyBuilder) -> None:
        success = stats.setup_success if setup_success is None else setup_success
        attempts = stats.setup_attempts if setup_attempts is None else setup_attempts
        build.put_label("version", version)
        build.put_number("duration_seconds", duration_seconds)
        # Setup
        build.put("setup_success", to_boolean, success, policy)
        build.put_number("setup_attempts", attempts)
        build.put("setup_error_kinds", _error_kinds, build, stats, config_errors)
        build.put("config_error_count", to_count, config_errors, policy)
        # Requests and their performance
        build.put_number("requests_total", stats.total_requests)
        build.put_number("requests_successful", stats.successful_requests)
        build.put_number("requests_failed", stats.failed_requests)
        build.put("request_success_rate", _rate, stats.successful_requests, stats.total_requests)
        build.put("tool_latency_ms", _latencies, build, stats.tool_latencies_ms)
        # Token economics
        build.put_number("tokens_embedding", stats.embedding_tokens)
        build.put_number("tokens_delivered", stats.tokens_delivered)
        build.put_number("tokens_saved", stats.tokens_saved)
        build.put_number("estimated_savings_usd", stats.estimated_savings_usd)
        # Repository characteristics
        build.put("languages", build.distribution, stats.languages)
        build.put("file_categories", build.distribution, stats.file_categories)
        build.put("operations", build.distribution, stats.operations)
        build.put("files_total", to_aggregate, stats.languages, policy)
        # Failover
        build.put("failover_occurred", to_boolean, stats.failover_occurred, policy)
        build.put_number("failover_count", stats.failover_count)
        build.put_number("failover_time_ms", stats.failover_time_ms)
        build.put_label("active_store", stats.active_store)
        # Settings, as True/False
        build.put("config_flags", _flags, build, stats.config_flags)
        # The library's own delivery
        build.put_number("telemetry_events_dropped", events_dropped)
        build.put_number("telemetry_events_failed", events_failed)

    return build_event(SessionEvent, put_properties, policy, _SCHEMA_ROOM)


def _error_kinds(
    build: PropertyBuilder, stats: SessionStatistics, config_errors: Sequence[object]
) -> JSONObject:
    kinds: list[object] = list(stats.setup_error_kinds)
    kinds.extend(
        type(error).__name__ for error in config_errors if isinstance(error, BaseException)
    )
    return build.distribution(kinds)


def _rate(part: object, whole: object) -> float | None:
    numerator, denominator = as_json_number(part), as_json_number(whole)
    return None if denominator <= 0 else as_json_number(numerator / denominator)


def _flags(build: PropertyBuilder, flags: Mapping[str, object]) -> JSONObject:
    return {
        build.key_label(name): to_boolean(value, build.policy)
        for name, value in build.bounded(flags.items(), "config_flags")
    }


def _latencies(build: PropertyBuilder, samples: Mapping[str, Sequence[float]]) -> JSONObject:
    summary: JSONObject = {}
    for tool, values in build.bounded(samples.items(), "tool_latency_ms"):
        ordered = sorted(map(as_json_number, values[: build.policy.max_scan_items]))
        if not ordered:
            continue
        build.reserve(_LATENCY_ROOM)
        summary[build.key_label(tool)] = {
            "count": len(ordered),
            "mean": as_json_number(math.fsum(ordered) / len(ordered)),
            "p50": _nearest_rank(ordered, 0.50),
            "p95": _nearest_rank(ordered, 0.95),
            "max": ordered[-1],
        }
    return summary


def _nearest_rank(ordered: list[int | float], quantile: float) -> int | float:
    return ordered[max(0, math.ceil(quantile * len(ordered)) - 1)]
