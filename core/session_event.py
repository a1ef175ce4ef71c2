"""The end-of-session event: setup, requests, latency, token economics, repository, failover.

Everything in it is a count, a number, a True/False or a label; repository characteristics
are languages and file counts, never names. Each label map (languages, file categories,
operations, setup error kinds, tools, settings) keeps its declared vocabulary and at most the
policy's ``max_dynamic_labels`` other labels; the rest are merged under ``__other__``. The
library's own losses are reported by reason (``core.sink.LossReason``), so that a session
that lost events says why.
"""

from __future__ import annotations

import itertools
import math
import types
from collections.abc import Callable, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import ClassVar, Final, NamedTuple

from returns.result import Failure, Result, Success

from .conversions import (
    MAX_SAFE_INT,
    ConversionRejected,
    as_json_number,
    category_label,
    describe_error,
    kept_labels,
    to_aggregate,
    to_boolean,
    to_count,
    to_distribution,
)
from .domain import McpUsage, SessionStatistics, ToolCallOutcome, ToolUsage
from .event_schema import (
    FILTER_REPORT,
    NO_PERSON_PROFILE,
    AnonymizedEvent,
    EventSchema,
    Property,
    build_event,
)
from .known_labels import (
    FILE_CATEGORIES,
    LANGUAGES,
    MCP_CLIENTS,
    MCP_PROTOCOL_VERSIONS,
    VECTOR_STORES,
    values_of,
)
from .policy import PrivacyPolicy
from .session_tally import INTENT_LABELS, SEARCH_TOOL, STATUS_LABELS
from .sink import LossReason
from .vocabulary import AnonymityConversion, JSONObject, PrivacyError
from .wire import NO_VOCABULARY, OTHER_LABEL

_C = AnonymityConversion

LATENCY_STATISTICS: Final = ("count", "mean", "p50", "p95", "max")
"""The statistics of each tool's latency samples, in ``tool_latency_ms``."""

MAX_CONFIG_ERRORS: Final = 1_000
"""Configuration errors read (and counted) at most: an endless iterable counts this many."""

LOSS_REASONS: Final = values_of(LossReason)

NO_LOSSES: Final[Mapping[LossReason, int]] = types.MappingProxyType({})


class SessionInputs(NamedTuple):
    """What the session event is computed from. The configuration errors are read once,
    before any property is computed, so that a one-shot iterable counts what it names."""

    stats: SessionStatistics
    version: str
    duration_seconds: float
    setup_success: bool | None
    setup_attempts: int | None
    config_errors: Result[tuple[object, ...], str]
    events_lost: Mapping[LossReason, int]


def _read_config_errors(errors: object, limit: int) -> Result[tuple[object, ...], str]:
    """At most ``limit`` of the host's configuration errors; a single value (an exception, a
    message) is one error, None none. ``Failure`` holds why they could not be read."""
    if errors is None:
        return Success(())
    if isinstance(errors, str | bytes | bytearray | BaseException) or not isinstance(
        errors, Iterable
    ):
        return Success((errors,))
    try:
        return Success(tuple(itertools.islice(errors, limit)))
    except Exception as error:  # noqa: BLE001 - the host's iterable may raise anything
        return Failure(describe_error(error))


def _config_errors(inputs: SessionInputs) -> tuple[object, ...]:
    read = inputs.config_errors.value_or(None)
    if read is None:
        raise ConversionRejected(inputs.config_errors.failure())
    return read


def _error_kinds(inputs: SessionInputs, policy: PrivacyPolicy) -> JSONObject:
    kinds: list[object] = list(
        itertools.islice(inputs.stats.setup_error_kinds, policy.max_scan_items)
    )
    errors = _config_errors(inputs)
    kinds.extend(type(error).__name__ for error in errors if isinstance(error, BaseException))
    return to_distribution(kinds, policy)


def _losses(inputs: SessionInputs, policy: PrivacyPolicy) -> JSONObject:
    """Events lost per reason, each count clamped to the wire's bound; only reasons with
    losses. A key that is not a :class:`LossReason` is counted as ``__other__``."""
    lost = _lost_counts(inputs, policy)
    return {label: lost[label] for label in sorted(lost) if lost[label]}


def _lost_counts(inputs: SessionInputs, policy: PrivacyPolicy) -> dict[str, int]:
    lost: dict[str, int] = {}
    for reason, count in itertools.islice(inputs.events_lost.items(), policy.max_list_length):
        label = reason.value if isinstance(reason, LossReason) else OTHER_LABEL
        lost[label] = min(lost.get(label, 0) + _count_of(count), MAX_SAFE_INT)
    return lost


def _losses_total(inputs: SessionInputs, policy: PrivacyPolicy) -> int:
    return min(sum(_lost_counts(inputs, policy).values()), MAX_SAFE_INT)


def _rate(inputs: SessionInputs, policy: PrivacyPolicy) -> float | None:
    stats = inputs.stats
    successful, total = (
        as_json_number(stats.successful_requests),
        as_json_number(stats.total_requests),
    )
    return None if total <= 0 else as_json_number(successful / total)


def _config_flags(inputs: SessionInputs, policy: PrivacyPolicy) -> JSONObject:
    """Each setting's label and whether it is on; the settings beyond the cap, and those
    whose name is not a label, are one ``__other__``: on if any of them is."""
    flags: dict[str, bool] = {}
    for name, value in itertools.islice(inputs.stats.config_flags.items(), policy.max_list_length):
        label = category_label(name, policy)
        flags[label] = flags.get(label, False) or to_boolean(value, policy)
    kept = kept_labels(dict.fromkeys(flags, 1), policy.max_dynamic_labels, NO_VOCABULARY)
    merged: JSONObject = {label: flags[label] for label in sorted(kept)}
    if len(kept) < len(flags):
        merged[OTHER_LABEL] = any(on for label, on in flags.items() if label not in kept)
    return merged


TOOL_LATENCY_KEY: Final = "tool_latency_ms"

TOOL_LATENCY_WORDS: Final = frozenset((SEARCH_TOOL, *LATENCY_STATISTICS))
"""The words of ``tool_latency_ms`` kept whatever the machine's names: the tool the client's
own tally times, and the statistics' names."""


def _latencies(inputs: SessionInputs, policy: PrivacyPolicy) -> JSONObject:
    """Per tool: count, mean, p50, p95 and max; the samples of the tools beyond the cap, and
    of those whose name is not a label, are summarised together under ``__other__``."""
    samples: dict[str, list[int | float]] = {}
    declared = policy.vocabularies.get(TOOL_LATENCY_KEY, NO_VOCABULARY) | TOOL_LATENCY_WORDS
    left = policy.max_scan_items  # in all, not per tool: 1,000 tools x 100,000 is too many
    for tool, values in itertools.islice(
        inputs.stats.tool_latencies_ms.items(), policy.max_list_length
    ):
        label = category_label(tool, policy, declared)
        bounded = tuple(itertools.islice(values, left + 1))
        left -= len(bounded)
        if left < 0:
            raise ConversionRejected("more latency samples than the policy reads")
        samples.setdefault(label, []).extend(map(as_json_number, bounded))
    weights = {label: len(values) for label, values in samples.items() if values}
    kept = kept_labels(weights, policy.max_dynamic_labels, declared)
    summary: JSONObject = {label: _statistics(samples[label]) for label in sorted(kept)}
    rest = [sample for label, values in samples.items() if label not in kept for sample in values]
    if rest:
        summary[OTHER_LABEL] = _statistics(rest)
    return summary


MCP_TOOL_CALLS_KEY: Final = "mcp_tool_calls"
"""The session event's per-tool summary of an MCP server's calls; a host declares its tools'
names under it (the instrumentation does) so that they are always kept."""

MCP_OUTCOMES: Final = values_of(ToolCallOutcome)

MCP_TOOL_SUMMARY_WORDS: Final = MCP_OUTCOMES | frozenset(
    ("calls", "outcomes", "latency_ms", "content_items", "text_chars", *LATENCY_STATISTICS)
)
"""The words of each tool's summary in ``mcp_tool_calls``: kept whatever the machine's names."""


def _only_with_mcp(
    name: str, compute: Callable[[McpUsage, PrivacyPolicy], JSONObject]
) -> Callable[[SessionInputs, PrivacyPolicy], JSONObject]:
    """A spliced MCP property: itself in the session of an instrumented MCP server, absent
    from any other session's event."""

    def spliced(inputs: SessionInputs, policy: PrivacyPolicy) -> JSONObject:
        usage = inputs.stats.mcp
        return {} if usage is None else {name: compute(usage, policy)}

    return spliced


def _mcp_tool_calls(usage: McpUsage, policy: PrivacyPolicy) -> JSONObject:
    """Per MCP tool: calls in all and by outcome, latency statistics, content items and the
    statistics of the response's text characters; tools beyond the cap are one ``__other__``."""
    declared = policy.vocabularies.get(MCP_TOOL_CALLS_KEY, NO_VOCABULARY)
    merged: dict[str, list[ToolUsage]] = {}
    for tool, calls in itertools.islice(usage.tools.items(), policy.max_list_length):
        merged.setdefault(category_label(tool, policy, declared), []).append(calls)
    weights = {label: sum(_calls(part) for part in parts) for label, parts in merged.items()}
    kept = kept_labels(weights, policy.max_dynamic_labels, declared)
    summary: JSONObject = {label: _tool_summary(merged[label], policy) for label in sorted(kept)}
    rest = [part for label, parts in merged.items() if label not in kept for part in parts]
    if rest:
        summary[OTHER_LABEL] = _tool_summary(rest, policy)
    return summary


def _calls(usage: ToolUsage) -> int:
    return sum(_count_of(count) for count in usage.outcomes.values())


def _tool_summary(parts: list[ToolUsage], policy: PrivacyPolicy) -> JSONObject:
    outcomes: dict[str, int] = {}
    durations: list[int | float] = []
    chars: list[int | float] = []
    items = 0
    for part in parts:
        for outcome, count in part.outcomes.items():
            label = category_label(outcome, policy, MCP_OUTCOMES)
            outcomes[label] = outcomes.get(label, 0) + _count_of(count)
        durations.extend(map(as_json_number, part.durations_ms[: policy.max_scan_items]))
        chars.extend(map(as_json_number, part.text_chars[: policy.max_scan_items]))
        items += _count_of(part.content_items)
    summary: JSONObject = {
        "calls": sum(outcomes.values()),
        "outcomes": dict(sorted(outcomes.items())),
    }
    if durations:
        summary["latency_ms"] = _statistics(durations)
    summary["content_items"] = items
    if chars:
        summary["text_chars"] = _statistics(chars)
    return summary


def _count_of(value: object) -> int:
    """A count the instrumentation recorded: a non-negative int, else refused."""
    if type(value) is not int or value < 0:
        raise ConversionRejected("a count is not a non-negative integer")
    return value


def _mcp_distribution(
    pick: Callable[[McpUsage], Mapping[str, int]], vocabulary: AbstractSet[str] = NO_VOCABULARY
) -> Callable[[McpUsage, PrivacyPolicy], JSONObject]:
    def compute(usage: McpUsage, policy: PrivacyPolicy) -> JSONObject:
        return to_distribution(pick(usage), policy, vocabulary)

    return compute


def _statistics(samples: list[int | float]) -> JSONObject:
    ordered = sorted(samples)
    return {
        "count": len(ordered),
        "mean": as_json_number(math.fsum(ordered) / len(ordered)),
        "p50": _nearest_rank(ordered, 0.50),
        "p95": _nearest_rank(ordered, 0.95),
        "max": ordered[-1],
    }


def _nearest_rank(ordered: list[int | float], quantile: float) -> int | float:
    return ordered[max(0, math.ceil(quantile * len(ordered)) - 1)]


def _setup_success(inputs: SessionInputs, policy: PrivacyPolicy) -> bool:
    given = inputs.setup_success
    return to_boolean(inputs.stats.setup_success if given is None else given, policy)


def _setup_attempts(inputs: SessionInputs, policy: PrivacyPolicy) -> int | float:
    given = inputs.setup_attempts
    return as_json_number(inputs.stats.setup_attempts if given is None else given)


def _active_store(inputs: SessionInputs, policy: PrivacyPolicy) -> str | None:
    store = inputs.stats.active_store
    return None if store is None else category_label(store, policy, VECTOR_STORES)


SESSION_SCHEMA: Final[EventSchema[SessionInputs]] = EventSchema(
    "codeweaver_session",
    (
        Property(
            "version",
            "string",
            "Version of the host tool (a label; otherwise __other__).",
            lambda i, p: category_label(i.version, p),
        ),
        Property(
            "duration_seconds",
            "number",
            "How long the session lasted.",
            lambda i, p: as_json_number(i.duration_seconds),
        ),
        Property(
            "setup_success", "boolean", "Whether setup succeeded.", _setup_success, _C.BOOLEAN
        ),
        Property("setup_attempts", "integer", "Setup attempts made.", _setup_attempts),
        Property(
            "setup_error_kinds",
            "object",
            "Setup errors per exception class name.",
            _error_kinds,
            _C.DISTRIBUTION,
        ),
        Property(
            "config_error_count",
            "integer",
            f"Configuration errors seen (at most {MAX_CONFIG_ERRORS:,} are counted).",
            lambda i, p: to_count(_config_errors(i), p),
            _C.COUNT,
        ),
        Property(
            "requests_total",
            "integer",
            "Requests handled: the host's count, else the searches the client captured.",
            lambda i, p: as_json_number(i.stats.total_requests),
        ),
        Property(
            "requests_successful",
            "integer",
            "Requests that succeeded.",
            lambda i, p: as_json_number(i.stats.successful_requests),
        ),
        Property(
            "requests_failed",
            "integer",
            "Requests that failed.",
            lambda i, p: as_json_number(i.stats.failed_requests),
        ),
        Property("request_success_rate", "number | null", "Successful / total, 0 to 1.", _rate),
        Property(
            "requests_by_status",
            "object",
            "Requests per status: success, partial (counted as successful), error.",
            lambda i, p: to_distribution(i.stats.requests_by_status, p, STATUS_LABELS),
            _C.DISTRIBUTION,
            vocabulary=STATUS_LABELS,
        ),
        Property(
            "requests_by_intent",
            "object",
            "Requests per intent (understand, implement, debug, ...; unspecified when none).",
            lambda i, p: to_distribution(i.stats.requests_by_intent, p, INTENT_LABELS),
            _C.DISTRIBUTION,
            vocabulary=INTENT_LABELS,
        ),
        Property(
            TOOL_LATENCY_KEY,
            "object",
            f"Per tool ({SEARCH_TOOL} for the searches): count, mean, p50, p95 and max "
            "latency in milliseconds.",
            _latencies,
            _C.AGGREGATE,
            vocabulary=TOOL_LATENCY_WORDS,
        ),
        Property(
            "tokens_embedding",
            "integer",
            "Tokens sent for embedding.",
            lambda i, p: as_json_number(i.stats.embedding_tokens),
        ),
        Property(
            "tokens_delivered",
            "integer",
            "Tokens delivered to the agent.",
            lambda i, p: as_json_number(i.stats.tokens_delivered),
        ),
        Property(
            "tokens_saved",
            "integer",
            "Tokens the agent did not have to read.",
            lambda i, p: as_json_number(i.stats.tokens_saved),
        ),
        Property(
            "estimated_savings_usd",
            "number",
            "Estimated cost saved, in US dollars.",
            lambda i, p: as_json_number(i.stats.estimated_savings_usd),
        ),
        Property(
            "languages",
            "object",
            "Indexed files per language.",
            lambda i, p: to_distribution(i.stats.languages, p, LANGUAGES),
            _C.DISTRIBUTION,
            vocabulary=LANGUAGES,
        ),
        Property(
            "file_categories",
            "object",
            "Indexed files per category.",
            lambda i, p: to_distribution(i.stats.file_categories, p, FILE_CATEGORIES),
            _C.DISTRIBUTION,
            vocabulary=FILE_CATEGORIES,
        ),
        Property(
            "operations",
            "object",
            "Operations run, per kind.",
            lambda i, p: to_distribution(i.stats.operations, p),
            _C.DISTRIBUTION,
        ),
        Property(
            "files_total",
            "integer",
            "Indexed files in all.",
            lambda i, p: to_aggregate(i.stats.languages, p),
            _C.AGGREGATE,
        ),
        Property(
            "failover_occurred",
            "boolean",
            "Whether the backup store was used.",
            lambda i, p: to_boolean(i.stats.failover_occurred, p),
            _C.BOOLEAN,
        ),
        Property(
            "failover_count",
            "integer",
            "Failovers during the session.",
            lambda i, p: as_json_number(i.stats.failover_count),
        ),
        Property(
            "failover_time_ms",
            "number",
            "Time spent failed over, in milliseconds.",
            lambda i, p: as_json_number(i.stats.failover_time_ms),
        ),
        Property(
            "active_store",
            "string | null",
            "Label of the store in use at the end.",
            _active_store,
            vocabulary=VECTOR_STORES,
        ),
        Property(
            "config_flags",
            "object",
            "Each setting's name, and whether it is on.",
            _config_flags,
            _C.BOOLEAN,
        ),
        Property(
            MCP_TOOL_CALLS_KEY,
            "object",
            "Per MCP tool (a name the server registered, else __other__): calls, calls per "
            "outcome (ok, tool_error, protocol_error, cancelled, timeout), latency_ms and "
            "text_chars (count, mean, p50, p95, max), content_items. Never arguments or results.",
            _only_with_mcp(MCP_TOOL_CALLS_KEY, _mcp_tool_calls),
            _C.AGGREGATE,
            vocabulary=MCP_TOOL_SUMMARY_WORDS,
            spliced=True,
        ),
        Property(
            "mcp_clients",
            "object",
            "MCP tool calls per client (a well-known client's label, else other).",
            _only_with_mcp(
                "mcp_clients", _mcp_distribution(lambda usage: usage.clients, MCP_CLIENTS)
            ),
            _C.DISTRIBUTION,
            vocabulary=MCP_CLIENTS,
            spliced=True,
        ),
        Property(
            "mcp_client_versions",
            "object",
            "MCP tool calls per client version (a label, else __other__).",
            _only_with_mcp(
                "mcp_client_versions", _mcp_distribution(lambda usage: usage.client_versions)
            ),
            _C.DISTRIBUTION,
            spliced=True,
        ),
        Property(
            "mcp_protocol_versions",
            "object",
            "MCP tool calls per protocol version.",
            _only_with_mcp(
                "mcp_protocol_versions",
                _mcp_distribution(lambda usage: usage.protocol_versions, MCP_PROTOCOL_VERSIONS),
            ),
            _C.DISTRIBUTION,
            vocabulary=MCP_PROTOCOL_VERSIONS,
            spliced=True,
        ),
        Property(
            "telemetry_events_lost",
            "object",
            "Events this library lost in the session, per reason ("
            + ", ".join(reason.value for reason in LossReason)
            + "); only reasons with losses. An event spooled for a later run is not lost.",
            _losses,
            _C.DISTRIBUTION,
            vocabulary=LOSS_REASONS,
        ),
        Property(
            "telemetry_events_lost_total",
            "integer",
            "Events this library lost in the session, in all.",
            _losses_total,
            _C.AGGREGATE,
        ),
        NO_PERSON_PROFILE,
        FILTER_REPORT,
    ),
)
"""The session event's properties, in the order they are sent and listed."""


@dataclass(frozen=True, slots=True)
class SessionEvent(AnonymizedEvent):
    """One session, aggregated and anonymized; build it with :func:`build_session_event`."""

    EVENT_NAME: ClassVar[str] = SESSION_SCHEMA.event_name
    SCHEMA: ClassVar[EventSchema[SessionInputs]] = SESSION_SCHEMA  # type: ignore[assignment]


def build_session_event(
    stats: SessionStatistics,
    *,
    version: str,
    duration_seconds: float,
    policy: PrivacyPolicy,
    setup_success: bool | None = None,
    setup_attempts: int | None = None,
    config_errors: Sequence[object] = (),
    events_lost: Mapping[LossReason, int] = NO_LOSSES,
) -> Result[SessionEvent, PrivacyError]:
    """Build the session event; a property whose value cannot be computed is dropped and
    counted, and so is whatever the wire check refuses.

    ``setup_success`` and ``setup_attempts``, when given, override the statistics' own.
    Configuration errors are counted (at most :data:`MAX_CONFIG_ERRORS` are read), and
    exceptions among them add their class names to the setup error kinds; their messages are
    never read. ``events_lost`` is the library's own losses by reason, which the client
    reports.

    >>> from codeweaver_telemetry.core import default_policy
    >>> event = build_session_event(SessionStatistics(total_requests=4, successful_requests=3),
    ...                             version="0.5.0", duration_seconds=60.0,
    ...                             policy=default_policy()).unwrap()
    >>> event.properties["request_success_rate"]
    0.75
    """
    inputs = SessionInputs(
        stats,
        version,
        duration_seconds,
        setup_success,
        setup_attempts,
        _read_config_errors(config_errors, min(MAX_CONFIG_ERRORS, policy.max_scan_items)),
        events_lost,
    )
    return build_event(SessionEvent, SESSION_SCHEMA, inputs, policy)
