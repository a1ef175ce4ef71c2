"""What an adversarial review of the MCP instrumentation found, each as a regression test, on
the real SDK in memory: an untrusted client's text, and tools a server adds from a client's
arguments, never reach a sink; a gateway's hundreds of tools cannot cost the session event."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from mcp.client import Client
from mcp.server.mcpserver import MCPServer
from mcp_servers import kept_events_client, run_session

from codeweaver_telemetry.adapters.local_sinks import NullSink
from codeweaver_telemetry.adapters.mcp import instrument


def sent(sink: NullSink) -> str:
    return json.dumps([{"e": event.event, "p": event.properties} for event in sink.events])


def workspace_server() -> MCPServer:
    """A careless server: opening a workspace adds tools named from the client's argument."""
    server = MCPServer("workspaces", log_level="CRITICAL")

    @server.tool()
    def open_workspace(name: str) -> str:
        """Open a workspace and add a tool for it."""
        server.add_tool(lambda: "ok", name=name)
        return "opened"

    return server


@pytest.mark.parametrize("per_call", [False, True])
def test_a_tool_added_from_a_clients_arguments_is_counted_as_other(per_call: bool) -> None:
    server = workspace_server()
    client, sink = kept_events_client(literals=frozenset({"alicecarter"}))
    instrument(server, client, per_call=per_call)

    async def session(connected: Client) -> None:
        for name in ("acme-layoffs-2026", "alicecarter"):
            await connected.call_tool("open_workspace", {"name": name})
            await connected.call_tool(name, {})

    run_session(server, session)
    client.end_session()
    assert "acme-layoffs-2026" not in sent(sink)
    assert "alicecarter" not in sent(sink)
    assert "open_workspace" in sent(sink)


@pytest.mark.parametrize(
    "version", ["acme-layoffs-2026-q3", "JIRA-4711.fix-auth-bypass", "where-is-the-token-checked"]
)
def test_a_clients_version_is_sent_only_when_it_is_a_version(version: str) -> None:
    server = workspace_server()
    client, sink = kept_events_client()
    instrument(server, client)

    async def session(connected: Client) -> None:
        await connected.call_tool("open_workspace", {"name": "x"})

    run_session(server, session, client_version=version)
    run_session(server, session, client_version="2.0.14")
    client.end_session()
    (event,) = sink.events
    assert version not in sent(sink)
    assert event.properties["mcp_client_versions"] == {"2.0.14": 1, "__other__": 1}


def test_a_server_of_hundreds_of_tools_keeps_its_session_event() -> None:
    server = MCPServer("gateway", log_level="CRITICAL")
    for index in range(300):
        server.add_tool(lambda: "ok", name=f"tool_{index:03d}")
    client, sink = kept_events_client()
    instrument(server, client)

    async def session(connected: Client) -> None:
        for index in range(300):
            await connected.call_tool(f"tool_{index:03d}", {})

    run_session(server, session)
    client.end_session()
    (event,) = sink.events
    tools: Any = event.properties["mcp_tool_calls"]
    assert len(tools) <= 65
    assert sum(tool["calls"] for tool in tools.values()) == 300


def test_instrumenting_twice_counts_each_call_once() -> None:
    server = workspace_server()
    client, sink = kept_events_client()
    instrument(server, client, per_call=True)
    instrument(server, client, per_call=True)

    async def session(connected: Client) -> None:
        for _ in range(3):
            await connected.call_tool("open_workspace", {"name": "x"})

    run_session(server, session)
    assert len([e for e in sink.events if e.event == "codeweaver_mcp_tool_call"]) == 3


def test_sampling_leaves_the_hosts_seeded_random_sequence_alone() -> None:
    def draws(instrumented: bool) -> list[float]:
        server = MCPServer("seeded", log_level="CRITICAL")

        @server.tool()
        def roll() -> str:
            """A tool whose result comes from the global generator."""
            return str(random.random())

        if instrumented:
            client, _ = kept_events_client()
            instrument(server, client, per_call=True, sample_rate=0.5)
        random.seed(7)
        results: list[float] = []

        async def session(connected: Client) -> None:
            for _ in range(3):
                result = await connected.call_tool("roll", {})
                results.append(float(result.content[0].text))  # type: ignore[union-attr]

        run_session(server, session)
        return results

    assert draws(instrumented=True) == draws(instrumented=False)
