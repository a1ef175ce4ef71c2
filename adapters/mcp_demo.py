"""The ``demo --mcp`` session: a small MCP server (a search tool, a failing tool, a slow one)
and a client connected in memory, instrumented with the demo's telemetry client."""

from __future__ import annotations

from typing import Final

import anyio
import mcp_types as types
from mcp.client import Client
from mcp.server.mcpserver import MCPServer

from .client import TelemetryClient
from .mcp import instrument

SLOW_SECONDS: Final = 0.25
SESSION_TIMEOUT_SECONDS: Final = 30.0


def demo_server() -> MCPServer:
    """``find_code`` finds code, ``reindex`` fails, ``summarize_repository`` takes its time."""
    server = MCPServer("codeweaver-demo", log_level="CRITICAL")  # the failing tool logs a trace

    @server.tool()
    def find_code(query: str) -> str:
        """Find code matching a query."""
        return f"src/auth/session.py:42 matches {query!r}"

    @server.tool()
    def reindex(path: str) -> str:
        """Rebuild the index of a directory."""
        raise PermissionError(f"cannot read {path}")

    @server.tool()
    async def summarize_repository() -> str:
        """Summarise the repository (slowly)."""
        await anyio.sleep(SLOW_SECONDS)
        return "A payments service in Python."

    return server


def run_mcp_session(client: TelemetryClient, *, per_call: bool = False) -> None:
    """Instrument the demo server with ``client`` and run one short session against it."""
    server = demo_server()
    instrument(server, client, per_call=per_call)

    async def session() -> None:
        info = types.Implementation(name="claude-code", version="2.0.14")
        with anyio.fail_after(SESSION_TIMEOUT_SECONDS):
            async with Client(server, client_info=info) as mcp_client:
                await mcp_client.list_tools()
                for query in ("where is the session token checked", "retry with backoff"):
                    await mcp_client.call_tool("find_code", {"query": query})
                await mcp_client.call_tool("reindex", {"path": "/home/alice/payroll"})
                await mcp_client.call_tool("summarize_repository", {})
                with anyio.move_on_after(SLOW_SECONDS / 5):  # the agent gives up on one
                    await mcp_client.call_tool("summarize_repository", {})

    anyio.run(session)
