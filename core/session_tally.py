"""The session's statistics as the client adds them up, one search event at a time.

A host that keeps no :class:`SessionStatistics` of its own still gets the seed's "session
summaries (search counts, success rates, averages)": the client folds each search event it
built into a tally with :func:`with_search`, and the session event reports the tally.

The fold reads the search event, never the host's response: what it adds up is exactly what
the search events said (already reduced and checked, so nothing of the host's runs here, and
a one-shot or lying value cannot make the two disagree), and it is cheap enough to run on the
host's thread under the client's lock. Every label it keeps is a word of a vocabulary, so the
tally's maps stay a few entries whatever it is given.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Final

from .conversions import MAX_SAFE_INT
from .domain import IntentType, SearchStatus, SessionStatistics
from .known_labels import values_of
from .search_event import SearchEvent
from .vocabulary import JSONValue
from .wire import OTHER_LABEL

SEARCH_TOOL: Final = "find_code"
"""The tool a search event times, under ``tool_latency_ms``."""

MAX_SEARCH_LATENCY_SAMPLES: Final = 10_000
"""Search latencies kept per session: the first ones (every search is still counted). Far
below the session event's reading bound, and each fold copies the samples once."""

NO_INTENT: Final = "unspecified"
"""The intent label of a search the host gave no intent for."""

INTENT_LABELS: Final = values_of(IntentType) | {NO_INTENT}
STATUS_LABELS: Final = values_of(SearchStatus)

SUCCEEDED: Final = frozenset({SearchStatus.SUCCESS.value, SearchStatus.PARTIAL.value})
"""The statuses counted as successful requests: a partial answer is an answer (and
``requests_by_status`` tells it apart)."""

# The search event's properties the fold reads (wire names, which do not change).
_INTENT: Final = "intent"
_STATUS: Final = "response_status"
_LATENCY: Final = "execution_time_ms"
_TOKENS: Final = "result_tokens"


def with_search(stats: SessionStatistics, event: SearchEvent) -> SessionStatistics:
    """``stats`` with one more search: counted in all, as a success or a failure, by status
    and by intent; its latency a sample under :data:`SEARCH_TOOL` (the first
    :data:`MAX_SEARCH_LATENCY_SAMPLES`); its result tokens added to the tokens delivered.
    A property the event lacks adds nothing (but the search is counted); counts saturate at
    the wire's 64-bit bound. Never raises, and never changes ``stats``.

    >>> from codeweaver_telemetry.core import default_policy, build_search_event
    >>> from codeweaver_telemetry.core.domain import FindCodeResponseSummary as R
    >>> found = R((), "…", None, 0, 0, token_count=120, execution_time_ms=9.0)
    >>> event = build_search_event(found, query="q", intent_type=IntentType.DEBUG,
    ...     strategies=[], execution_time_ms=9.0, policy=default_policy()).unwrap()
    >>> tally = with_search(with_search(SessionStatistics(), event), event)
    >>> tally.total_requests, tally.successful_requests, dict(tally.requests_by_intent)
    (2, 2, {'debug': 2})
    >>> tally.tool_latencies_ms[SEARCH_TOOL], tally.tokens_delivered
    ((9.0, 9.0), 240)
    """
    properties = event.properties
    status = _label(properties.get(_STATUS), STATUS_LABELS, OTHER_LABEL)
    intent = _label(properties.get(_INTENT), INTENT_LABELS, NO_INTENT)
    succeeded = status in SUCCEEDED
    return dataclasses.replace(
        stats,
        total_requests=_plus(stats.total_requests, 1),
        successful_requests=_plus(stats.successful_requests, int(succeeded)),
        failed_requests=_plus(stats.failed_requests, int(not succeeded)),
        requests_by_status=_counted(stats.requests_by_status, status),
        requests_by_intent=_counted(stats.requests_by_intent, intent),
        tool_latencies_ms=_sampled(stats.tool_latencies_ms, properties.get(_LATENCY)),
        tokens_delivered=_plus(stats.tokens_delivered, _count(properties.get(_TOKENS))),
    )


def joined(earlier: SessionStatistics, later: SessionStatistics) -> SessionStatistics:
    """Two tallies of one session as one: ``later``'s searches added onto ``earlier``'s (the
    tally a session event took and gives back unsent, with what was counted meanwhile).
    Only what :func:`with_search` counts is added; the rest is ``earlier``'s.

    >>> one = SessionStatistics(total_requests=1, requests_by_intent={"debug": 1})
    >>> both = joined(one, SessionStatistics(total_requests=2, requests_by_intent={"debug": 2}))
    >>> both.total_requests, dict(both.requests_by_intent)
    (3, {'debug': 3})
    """
    latencies = dict(earlier.tool_latencies_ms)
    samples = tuple(latencies.get(SEARCH_TOOL, ())) + tuple(
        later.tool_latencies_ms.get(SEARCH_TOOL, ())
    )
    if samples:
        latencies[SEARCH_TOOL] = samples[:MAX_SEARCH_LATENCY_SAMPLES]
    return dataclasses.replace(
        earlier,
        total_requests=_plus(earlier.total_requests, _count(later.total_requests)),
        successful_requests=_plus(earlier.successful_requests, _count(later.successful_requests)),
        failed_requests=_plus(earlier.failed_requests, _count(later.failed_requests)),
        requests_by_status=_summed(earlier.requests_by_status, later.requests_by_status),
        requests_by_intent=_summed(earlier.requests_by_intent, later.requests_by_intent),
        tool_latencies_ms=latencies,
        tokens_delivered=_plus(earlier.tokens_delivered, _count(later.tokens_delivered)),
    )


def _summed(counts: Mapping[str, int], more: Mapping[str, int]) -> dict[str, int]:
    summed = dict(counts)
    for label, count in more.items():
        summed[label] = _plus(summed.get(label, 0), _count(count))
    return summed


def _label(value: JSONValue | None, vocabulary: frozenset[str], absent: str) -> str:
    """The value if it is a word of the vocabulary; ``absent`` for None (the host gave none,
    or the property was dropped); ``__other__`` for anything else."""
    if value is None:
        return absent
    return value if type(value) is str and value in vocabulary else OTHER_LABEL


def _plus(count: object, added: int) -> int:
    """A count plus ``added``, saturating at the wire's bound; a count that is not a
    non-negative int (a host's own statistics folded into) starts again from 0."""
    base = count if type(count) is int and count >= 0 else 0
    return min(base + added, MAX_SAFE_INT)


def _count(value: JSONValue | None) -> int:
    """A non-negative int property as a count; 0 for anything else."""
    return value if type(value) is int and value >= 0 else 0


def _counted(counts: Mapping[str, int], label: str) -> dict[str, int]:
    tallied = dict(counts)
    tallied[label] = _plus(tallied.get(label, 0), 1)
    return tallied


def _sampled(
    latencies: Mapping[str, tuple[float, ...]], sample: JSONValue | None
) -> Mapping[str, tuple[float, ...]]:
    """The latencies with the search's sample added under the search tool, while there is
    room; unchanged for a sample that is not a finite, non-negative number."""
    if type(sample) is not int and type(sample) is not float:
        return latencies
    if not math.isfinite(sample) or sample < 0:  # (an int is always finite)
        return latencies
    samples = tuple(latencies.get(SEARCH_TOOL, ()))
    if len(samples) >= MAX_SEARCH_LATENCY_SAMPLES:
        return latencies
    # Concatenation copies the samples in C, twice as fast as unpacking them.
    return {**latencies, SEARCH_TOOL: samples + (float(sample),)}  # noqa: RUF005
