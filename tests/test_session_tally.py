"""The client adds up the session: the search events it built, and what it lost by reason.

Issue 11's "the session event does not count what went through the client": an MCP server that
sent four search events reported ``requests_total: 0``. Unless the host hands over its own
``SessionStatistics`` (which still wins), the session event now reports the client's tally.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from domain_samples import empty_summary
from mcp.client import Client
from mcp.server.mcpserver import MCPServer
from mcp_servers import kept_events_client, run_session

from codeweaver_telemetry.adapters import NullSink, TelemetryClient
from codeweaver_telemetry.adapters.mcp import instrument
from codeweaver_telemetry.core import IntentType, PrivacyPolicy, SessionStatistics
from codeweaver_telemetry.core.domain import SearchStatus
from codeweaver_telemetry.core.settings import RawSources, resolve_settings
from codeweaver_telemetry.core.sink import Accepted, LossReason, OutboundEvent

SESSION = "codeweaver_session"


def new_client(sink: NullSink) -> TelemetryClient:
    settings = resolve_settings(RawSources(arguments={}, environment={})).unwrap()
    return TelemetryClient(settings, policy=PrivacyPolicy(hash_key=b"k" * 32), sink=sink)


@pytest.fixture
def sink() -> NullSink:
    return NullSink(keep=True)


@pytest.fixture
def client(sink: NullSink) -> Iterator[TelemetryClient]:
    client = new_client(sink)
    client.start_session({"version": "0.5.0"})
    yield client
    client.shutdown()


def searched(
    client: TelemetryClient,
    status: SearchStatus = SearchStatus.SUCCESS,
    intent: IntentType | None = IntentType.UNDERSTAND,
    execution_time_ms: float = 20.0,
) -> None:
    response = dataclasses.replace(empty_summary(), status=status, token_count=50)
    client.capture_search_event(
        response,
        query="where is auth",
        intent_type=intent,
        strategies=[],
        execution_time_ms=execution_time_ms,
    )


def sessions(sink: NullSink) -> list[Mapping[str, Any]]:
    return [event.properties for event in sink.events if event.event == SESSION]


def test_four_search_events_make_a_session_of_four_requests(
    client: TelemetryClient, sink: NullSink
) -> None:
    searched(client, SearchStatus.SUCCESS, IntentType.DEBUG, 10.0)
    searched(client, SearchStatus.SUCCESS, IntentType.DEBUG, 20.0)
    searched(client, SearchStatus.PARTIAL, None, 30.0)
    searched(client, SearchStatus.ERROR, IntentType.IMPLEMENT, 40.0)
    client.end_session()
    (session,) = sessions(sink)
    assert session["requests_total"] == 4
    assert session["requests_successful"] == 3
    assert session["requests_failed"] == 1
    assert session["request_success_rate"] == 0.75
    assert session["requests_by_status"] == {"error": 1, "partial": 1, "success": 2}
    assert session["requests_by_intent"] == {"debug": 2, "implement": 1, "unspecified": 1}
    assert session["tool_latency_ms"]["find_code"] == {
        "count": 4,
        "mean": 25.0,
        "p50": 20.0,
        "p95": 40.0,
        "max": 40.0,
    }
    assert session["tokens_delivered"] == 200


def test_the_hosts_own_statistics_still_win(client: TelemetryClient, sink: NullSink) -> None:
    searched(client)
    searched(client)
    client.capture_session_event(SessionStatistics(total_requests=10, successful_requests=9))
    (session,) = sessions(sink)
    assert session["requests_total"] == 10
    assert session["requests_by_intent"] == {}
    assert "find_code" not in session["tool_latency_ms"]


def test_each_session_counts_its_own_searches(client: TelemetryClient, sink: NullSink) -> None:
    searched(client)
    searched(client)
    client.end_session()
    client.start_session({"version": "0.5.0"})
    searched(client)
    client.end_session()
    assert [session["requests_total"] for session in sessions(sink)] == [2, 1]


def test_the_hosts_statistics_end_the_tally_too(client: TelemetryClient, sink: NullSink) -> None:
    searched(client)
    client.capture_session_event(SessionStatistics(total_requests=7))
    client.start_session({"version": "0.5.0"})
    searched(client)
    client.end_session()
    assert [session["requests_total"] for session in sessions(sink)] == [7, 1]


class RefusingSink(NullSink):
    """Refuses what ``refuse`` names, as a full buffer does; reports ``loss_totals_so_far``."""

    def __init__(self) -> None:
        super().__init__(keep=True)
        self.refuse: set[str] = set()
        self.loss_totals_so_far: dict[LossReason, int] = {}

    def emit(self, event: OutboundEvent) -> Accepted:
        if event.event in self.refuse:
            return Accepted.DROPPED_FULL
        return super().emit(event)

    def loss_totals(self) -> Mapping[LossReason, int]:
        return dict(self.loss_totals_so_far)


def test_a_session_event_the_sink_refused_takes_its_tally_and_is_counted_lost() -> None:
    sink = RefusingSink()
    client = new_client(sink)
    searched(client)
    sink.refuse = {SESSION}
    client.end_session()
    sink.refuse = set()
    client.start_session({"version": "0.5.0"})
    searched(client)
    client.end_session()
    client.shutdown()
    (session,) = sessions(sink)
    assert session["requests_total"] == 1  # the next session's, not the lost one's too
    assert session["telemetry_events_lost"] == {"buffer_full": 1}


def test_a_search_whose_event_was_lost_is_still_a_request() -> None:
    sink = RefusingSink()
    client = new_client(sink)
    sink.refuse = {"codeweaver_search"}
    searched(client)
    client.end_session()
    client.shutdown()
    (session,) = sessions(sink)
    assert session["requests_total"] == 1
    assert session["telemetry_events_lost"] == {"buffer_full": 1}
    assert session["telemetry_events_lost_total"] == 1


def test_losses_are_reported_by_reason_the_sinks_and_the_clients() -> None:
    sink = RefusingSink()
    client = new_client(sink)
    client.start_session({"version": "0.5.0"})
    client.capture("bad", Hostile())
    sink.loss_totals_so_far = {LossReason.OUTAGE: 3, LossReason.EXPIRED: 1}
    client.end_session()
    client.shutdown()
    (session,) = sessions(sink)
    assert session["telemetry_events_lost"] == {"expired": 1, "not_built": 1, "outage": 3}
    assert session["telemetry_events_lost_total"] == 5
    assert "telemetry_events_dropped" not in session


def test_the_losses_are_counted_afresh_after_a_session_event() -> None:
    sink = RefusingSink()
    client = new_client(sink)
    client.start_session({"version": "0.5.0"})
    client.capture("bad", Hostile())
    client.end_session()
    client.start_session({"version": "0.5.0"})
    client.end_session()
    client.shutdown()
    assert [session["telemetry_events_lost_total"] for session in sessions(sink)] == [1, 0]


def test_searches_from_many_threads_are_all_counted(
    client: TelemetryClient, sink: NullSink
) -> None:
    def worker() -> None:
        for _ in range(25):
            searched(client)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    client.end_session()
    (session,) = sessions(sink)
    assert session["requests_total"] == 200
    assert session["requests_by_intent"] == {"understand": 200}


def searching_server(client: TelemetryClient) -> MCPServer:
    """An MCP server whose search tool captures a search event per call, as CodeWeaver's does."""
    server = MCPServer("searching")

    @server.tool()
    def find_code(query: str) -> str:
        """Find code."""
        searched(client, intent=IntentType.UNDERSTAND, execution_time_ms=5.0)
        return f"3 matches for {query}"

    return server


def test_an_mcp_servers_search_events_and_its_tool_calls_join_in_one_session() -> None:
    client, sink = kept_events_client()
    server = searching_server(client)
    instrument(server, client)

    async def four_searches(mcp: Client) -> None:
        for query in ("auth", "retry", "cache", "index"):
            await mcp.call_tool("find_code", {"query": query})

    run_session(server, four_searches)
    client.end_session()
    client.shutdown()
    (session,) = sessions(sink)
    assert session["requests_total"] == 4
    assert session["requests_successful"] == 4
    assert session["tool_latency_ms"]["find_code"]["count"] == 4
    assert session["mcp_tool_calls"]["find_code"]["calls"] == 4
    assert session["mcp_tool_calls"]["find_code"]["outcomes"] == {"ok": 4}
    assert session["mcp_clients"] == {"claude-code": 4}


class Hostile(Mapping[str, object]):
    """Properties that cannot be read: the event is not built."""

    def __getitem__(self, key: str) -> object:
        raise RuntimeError("secret")

    def __iter__(self) -> Iterator[str]:
        raise RuntimeError("secret")

    def __len__(self) -> int:
        raise RuntimeError("secret")


class SearchingWhileSentSink(NullSink):
    """Counts a search (as another thread of the host would) while a session event is being
    handed to it; refuses the session event when ``refuse`` says so."""

    def __init__(self) -> None:
        super().__init__(keep=True)
        self.client: TelemetryClient | None = None
        self.refuse = False

    def emit(self, event: OutboundEvent) -> Accepted:
        if event.event == SESSION and self.client is not None:
            client, self.client = self.client, None
            searched(client)
            if self.refuse:
                return Accepted.DROPPED_FULL
        return super().emit(event)


def test_a_search_counted_while_the_session_event_is_sent_is_counted_once() -> None:
    sink = SearchingWhileSentSink()
    client = new_client(sink)
    client.start_session({"version": "0.5.0"})
    searched(client)
    sink.client = client
    client.capture_session_event()
    client.capture_session_event()
    client.shutdown()
    assert [session["requests_total"] for session in sessions(sink)] == [1, 1]


def test_a_session_event_not_sent_gives_its_tally_back_with_what_came_meanwhile() -> None:
    sink = SearchingWhileSentSink()
    client = new_client(sink)
    client.start_session({"version": "0.5.0"})
    searched(client, execution_time_ms=10.0)
    sink.client, sink.refuse = client, True
    client.capture_session_event()
    client.capture_session_event()
    client.shutdown()
    (session,) = sessions(sink)
    assert session["requests_total"] == 2
    assert session["requests_by_intent"] == {"understand": 2}
    assert session["tool_latency_ms"]["find_code"]["count"] == 2
    assert session["tokens_delivered"] == 100
