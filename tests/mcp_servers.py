"""MCP servers and clients for the tests, on the real SDK connected in memory (never a mock).

A high-level ``MCPServer`` with a search tool, a failing tool and a slow one; a low-level
``Server`` whose handler ends each way the protocol allows; and a telemetry client that keeps
every event it sends.
"""

from __future__ import annotations

import io
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import mcp_types as types
from mcp.client import Client
from mcp.server import Server
from mcp.server.mcpserver import MCPServer
from mcp.shared.exceptions import MCPError

from codeweaver_telemetry.adapters import NullSink, StdoutSink, TelemetryClient
from codeweaver_telemetry.core import PrivacyPolicy
from codeweaver_telemetry.core.settings import RawSources, resolve_settings

SLOW_SECONDS = 0.06
CALL_TIMEOUT_SECONDS = 10.0
"""Every test's MCP session ends within this, whatever goes wrong."""


def search_server(name: str = "demo") -> MCPServer:
    """A search tool, a failing tool and a slow one."""
    server = MCPServer(name)

    @server.tool()
    def search(query: str) -> str:
        """Find code."""
        return f"3 matches for {query}"

    @server.tool()
    def fail(reason: str) -> str:
        """Always fails."""
        raise ValueError(reason)

    @server.tool()
    async def slow(seconds: float) -> str:
        """Takes its time."""
        await anyio.sleep(seconds)
        return "done"

    return server


async def _low_level_tools(ctx: Any, params: Any) -> types.ListToolsResult:
    schema = {"type": "object", "properties": {}}
    return types.ListToolsResult(
        tools=[
            types.Tool(name=name, input_schema=schema)
            for name in ("ok", "error_result", "raises", "refuses", "deadline")
        ]
    )


async def _low_level_call(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
    name = params.name
    if name == "error_result":
        text = types.TextContent(type="text", text="no such file")
        return types.CallToolResult(content=[text], is_error=True)
    if name == "raises":
        raise RuntimeError("tool crashed")
    if name == "refuses":
        raise MCPError(code=-32602, message="refused")
    if name == "deadline":
        raise TimeoutError
    text = types.TextContent(type="text", text="hello")
    return types.CallToolResult(content=[text, text])


def low_level_server() -> Server[Any]:
    """A low-level server whose calls end ok, with an error result, raising, refused, or
    with a deadline run out."""
    return Server("low", on_list_tools=_low_level_tools, on_call_tool=_low_level_call)


def settings() -> Any:
    return resolve_settings(RawSources(arguments={}, environment={})).unwrap()


def kept_events_client(
    *, literals: frozenset[str] = frozenset()
) -> tuple[TelemetryClient, NullSink]:
    sink = NullSink(keep=True)
    policy = PrivacyPolicy(hash_key=b"k" * 32, sensitive_literals=literals)
    return TelemetryClient(settings(), policy=policy, sink=sink), sink


def stdout_client(
    stream: io.StringIO, *, literals: frozenset[str] = frozenset()
) -> TelemetryClient:
    policy = PrivacyPolicy(hash_key=b"k" * 32, sensitive_literals=literals)
    return TelemetryClient(settings(), policy=policy, sink=StdoutSink(stream=stream))


def off_client() -> TelemetryClient:
    raw = RawSources(arguments={"disable_telemetry": True}, environment={})
    return TelemetryClient(resolve_settings(raw).unwrap(), policy=None, sink=None)


Session = Callable[[Client], Awaitable[object]]


def run_session(
    server: MCPServer | Server[Any],
    session: Session,
    *,
    client_name: str = "claude-code",
    client_version: str = "2.0.14",
) -> object:
    """Connect a client to ``server`` in memory, run ``session`` with it, and return what it
    returned; the whole session is bounded by :data:`CALL_TIMEOUT_SECONDS`."""

    async def main() -> object:
        info = types.Implementation(name=client_name, version=client_version)
        with anyio.fail_after(CALL_TIMEOUT_SECONDS):
            async with Client(server, client_info=info) as client:
                return await session(client)

    return anyio.run(main)


async def cancelled_call(client: Client, tool: str, arguments: dict[str, Any]) -> None:
    """Call a tool and give up on it after a moment (the client cancels the request)."""
    with anyio.move_on_after(SLOW_SECONDS / 2):
        await client.call_tool(tool, arguments)
