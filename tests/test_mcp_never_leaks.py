"""No canary planted in an MCP session reaches a sink: not from the tools' arguments, their
results, their errors, nor the client's name and version; in either mode, through the kept
events and the stdout sink's exact lines. The real SDK, a server and a client in memory.

The bare canary is a label (a label may be sent), so it is planted inside a shape: a path,
code, a token, an e-mail address, a sentence; and the machine's user name as it is.
"""

from __future__ import annotations

import io
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp.client import Client
from mcp.server.mcpserver import MCPServer
from mcp_servers import kept_events_client, run_session, stdout_client

from codeweaver_telemetry.adapters.mcp import instrument
from codeweaver_telemetry.core.testing import canary_for
from codeweaver_telemetry.core.testing.text import CARELESS_KINDS, canary_shapes

pytestmark = pytest.mark.slow

CANARY = canary_for(12)
USER = "alicecarter"
SHAPES = tuple(kind for kind in CARELESS_KINDS if kind != "unicode")
carriers = st.sampled_from(SHAPES).flatmap(lambda kind: canary_shapes(CANARY, kind)) | st.just(
    f"/home/{USER}/notes.txt"
)


def planted_server(carrier: str) -> MCPServer:
    server = MCPServer("planted")

    @server.tool()
    def echo(text: str) -> str:
        """Returns what it was given."""
        return f"{text} {carrier}"

    @server.tool()
    def fail(text: str) -> str:
        """Fails with what it was given in the message."""
        raise ValueError(f"{text} {carrier}")

    return server


def output_of(carrier: str, *, per_call: bool) -> str:
    """Everything both sinks were given in one planted session, as text."""
    stream = io.StringIO()
    literals = frozenset({USER})
    kept, sink = kept_events_client(literals=literals)
    printed = stdout_client(stream, literals=literals)
    server = planted_server(carrier)
    instrument(server, kept, per_call=per_call)
    instrument(server, printed, per_call=per_call)

    async def planted_calls(session: Client) -> None:
        await session.list_tools()
        await session.call_tool("echo", {"text": carrier})
        await session.call_tool("fail", {"text": carrier})
        await session.call_tool(carrier, {"text": carrier})

    run_session(server, planted_calls, client_name=carrier, client_version=carrier)
    kept.end_session()
    printed.end_session()
    events = [{"event": event.event, "properties": event.properties} for event in sink.events]
    assert events, "nothing was sent: the property would prove nothing"
    return json.dumps(events, ensure_ascii=False) + stream.getvalue()


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(carriers, st.booleans())
def test_no_canary_of_an_mcp_session_reaches_a_sink(carrier: str, per_call: bool) -> None:
    output = output_of(carrier, per_call=per_call)
    assert CANARY not in output
    assert USER not in output
