"""MCP server instrumentation, on the real SDK with a client connected in memory: every field
of each outcome, names the server registered (and only those), the tools' schemas untouched,
and a server instrumented with telemetry off exactly as it was.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from typing import Any

import pytest
from mcp.client import Client
from mcp.shared.exceptions import MCPError
from mcp_servers import (
    SLOW_SECONDS,
    cancelled_call,
    kept_events_client,
    low_level_server,
    off_client,
    run_session,
    search_server,
)

from codeweaver_telemetry.adapters import NullSink, TelemetryClient
from codeweaver_telemetry.adapters.cli import main
from codeweaver_telemetry.adapters.mcp import ToolCallRecorder, instrument
from codeweaver_telemetry.core import SessionStatistics
from codeweaver_telemetry.core.mcp_event import mcp_client_label


def sent(sink: NullSink, name: str = "codeweaver_mcp_tool_call") -> list[dict[str, Any]]:
    """The properties of each event of that name the sink was given."""
    return [dict(event.properties) for event in sink.events if event.event == name]


def session_event(client: TelemetryClient, sink: NullSink) -> dict[str, Any]:
    client.end_session()
    (properties,) = sent(sink, "codeweaver_session")
    return properties


async def one_of_each(client: Client) -> None:
    await client.list_tools()
    await client.call_tool("search", {"query": "where is auth"})
    await client.call_tool("search", {"query": "retry logic"})
    await client.call_tool("fail", {"reason": "no index"})
    await client.call_tool("slow", {"seconds": SLOW_SECONDS})
    await cancelled_call(client, "slow", {"seconds": 5})


def test_each_outcome_is_summed_into_the_session_event() -> None:
    server = search_server()
    client, sink = kept_events_client()
    instrument(server, client)
    run_session(server, one_of_each)
    properties = session_event(client, sink)
    calls = properties["mcp_tool_calls"]
    assert set(calls) == {"search", "fail", "slow"}
    search = calls["search"]
    assert search["calls"] == 2
    assert search["outcomes"] == {"ok": 2}
    assert search["content_items"] == 2
    assert search["text_chars"]["count"] == 2
    assert search["text_chars"]["max"] == len("3 matches for where is auth")
    assert search["latency_ms"]["count"] == 2
    assert calls["fail"]["outcomes"] == {"tool_error": 1}
    slow = calls["slow"]
    assert slow["outcomes"] == {"cancelled": 1, "ok": 1}
    assert slow["latency_ms"]["count"] == 2
    assert slow["latency_ms"]["max"] >= SLOW_SECONDS * 1000 / 2
    assert slow["text_chars"]["count"] == 1  # the cancelled call had no response to measure
    assert properties["mcp_clients"] == {"claude-code": 5}
    assert properties["mcp_client_versions"] == {"2.0.14": 5}
    assert list(properties["mcp_protocol_versions"].values()) == [5]
    assert properties["privacy_filter"] == {"dropped": 0, "redacted": 0}
    assert [event.event for event in sink.events] == ["codeweaver_session"]


def test_a_slow_call_takes_at_least_its_time() -> None:
    server = search_server()
    client, sink = kept_events_client()
    instrument(server, client, per_call=True)

    async def slow(session: Client) -> None:
        await session.call_tool("slow", {"seconds": SLOW_SECONDS})

    run_session(server, slow)
    (event,) = sent(sink)
    assert event["outcome"] == "ok"
    assert SLOW_SECONDS * 1000 <= event["duration_ms"] < 5000


def test_per_call_events_carry_every_field() -> None:
    server = search_server()
    client, sink = kept_events_client()
    instrument(server, client, per_call=True)
    run_session(server, one_of_each, client_name="Visual Studio Code", client_version="1.101.0")
    events = sent(sink)
    outcomes = [(event["mcp_tool"], event["outcome"]) for event in events]
    assert outcomes == [
        ("search", "ok"),
        ("search", "ok"),
        ("fail", "tool_error"),
        ("slow", "ok"),
        ("slow", "cancelled"),
    ]
    first = events[0]
    assert first["content_items"] == 1
    assert first["text_chars"] == len("3 matches for where is auth")
    assert first["mcp_client"] == "vscode"
    assert first["mcp_client_version"] == "1.101.0"
    assert first["sample_rate"] == 1.0
    assert first["duration_ms"] > 0
    assert events[-1]["content_items"] == 0
    client.end_session()  # per call: the session event carries no MCP summary
    (session,) = sent(sink, "codeweaver_session")
    assert not any(key.startswith("mcp_") for key in session)


def test_a_sample_rate_of_zero_sends_no_call() -> None:
    server = search_server()
    client, sink = kept_events_client()
    instrument(server, client, per_call=True, sample_rate=0.0)
    run_session(server, one_of_each)
    assert sink.events == []


def test_the_low_level_server_reports_every_outcome() -> None:
    server = low_level_server()
    client, sink = kept_events_client()
    instrument(server, client, per_call=True)

    async def each(session: Client) -> None:
        await session.list_tools()
        for name in ("ok", "error_result", "raises", "refuses", "deadline", "unlisted"):
            with contextlib.suppress(MCPError):  # a refusal reaches the client as an error
                await session.call_tool(name, {})

    run_session(server, each)
    outcomes = {event["mcp_tool"]: event for event in sent(sink)}
    assert {name: props["outcome"] for name, props in outcomes.items()} == {
        "ok": "ok",
        "error_result": "tool_error",
        "raises": "tool_error",
        "refuses": "protocol_error",
        "deadline": "timeout",
        "__other__": "ok",
    }
    assert outcomes["ok"]["content_items"] == 2
    assert outcomes["ok"]["text_chars"] == 10


def test_a_tool_named_like_the_machine_is_kept_and_an_unregistered_one_is_other() -> None:
    server = search_server()
    client, sink = kept_events_client(literals=frozenset({"search", "alicecarter"}))
    instrument(server, client)

    async def calls(session: Client) -> None:
        await session.call_tool("search", {"query": "x"})
        await session.call_tool("alicecarter", {})

    run_session(server, calls)
    calls_made = session_event(client, sink)["mcp_tool_calls"]
    assert set(calls_made) == {"search", "__other__"}
    assert calls_made["__other__"]["outcomes"] == {"tool_error": 1}


def test_an_unknown_client_is_other_and_its_free_text_is_never_sent() -> None:
    server = search_server()
    client, sink = kept_events_client(literals=frozenset({"alicecarter"}))
    instrument(server, client)

    async def one(session: Client) -> None:
        await session.call_tool("search", {"query": "x"})

    run_session(server, one, client_name="alicecarter's bot", client_version="1.0-alicecarter")
    properties = session_event(client, sink)
    assert properties["mcp_clients"] == {"other": 1}
    assert properties["mcp_client_versions"] == {"__other__": 1}
    assert "alicecarter" not in json.dumps(properties)


@pytest.mark.parametrize(
    ("sent", "label"),
    [
        ("claude-code", "claude-code"),
        ("claude-ai", "claude-desktop"),
        ("cursor-vscode", "cursor"),
        ("Visual Studio Code - Insiders", "vscode"),
        ("Zed", "zed"),
        ("gemini-cli-mcp-client", "gemini-cli"),
        ("codex-mcp-client", "codex"),
        ("my-company-agent", "other"),
        ("", "other"),
    ],
)
def test_client_names_map_to_well_known_labels(sent: str, label: str) -> None:
    assert mcp_client_label(sent) == label


def listed_tools(server: Any) -> str:
    async def listing(session: Client) -> str:
        listed = await session.list_tools()
        return listed.model_dump_json(by_alias=True, exclude={"meta"})

    result = run_session(server, listing)
    assert isinstance(result, str)
    return result


def test_the_listed_tool_schemas_are_byte_identical() -> None:
    plain = listed_tools(search_server())
    instrumented = search_server()
    client, _ = kept_events_client()
    instrument(instrumented, client)
    assert listed_tools(instrumented) == plain
    low, low_instrumented = low_level_server(), low_level_server()
    instrument(low_instrumented, client)
    assert listed_tools(low_instrumented) == listed_tools(low)


def test_results_reach_the_client_unchanged() -> None:
    async def results(session: Client) -> list[str]:
        return [
            (await session.call_tool(name, arguments)).model_dump_json(exclude={"meta"})
            for name, arguments in (("search", {"query": "q"}), ("fail", {"reason": "r"}))
        ]

    plain = run_session(search_server(), results)
    instrumented = search_server()
    client, _ = kept_events_client()
    instrument(instrumented, client)
    assert run_session(instrumented, results) == plain


def test_a_failing_recorder_never_changes_the_call(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("telemetry bug")

    monkeypatch.setattr(ToolCallRecorder, "_add", broken)
    server = search_server()
    client, _ = kept_events_client()
    instrument(server, client)

    async def one(session: Client) -> str:
        result = await session.call_tool("search", {"query": "q"})
        return result.model_dump_json(exclude={"meta"})

    assert run_session(server, one) == run_session(search_server(), one)


def test_with_telemetry_off_the_server_is_untouched() -> None:
    server = search_server()
    before = list(server.middleware)
    instrument(server, off_client())
    assert server.middleware == before


OFF_SCRIPT = """
import sys
from mcp.server.mcpserver import MCPServer
from mcp.server import Server
from codeweaver_telemetry.adapters.mcp import instrument
from codeweaver_telemetry.core.settings import RawSources, resolve_settings
from codeweaver_telemetry.adapters import TelemetryClient
raw = RawSources(arguments={"disable_telemetry": True}, environment={})
client = TelemetryClient(resolve_settings(raw).unwrap(), policy=None, sink=None)
servers = [MCPServer("demo"), Server("low")]
before = set(sys.modules)
for server in servers:
    instrument(server, client)
print(sorted(set(sys.modules) - before))
"""


def test_with_telemetry_off_instrumenting_imports_nothing() -> None:
    done = subprocess.run(
        [sys.executable, "-c", OFF_SCRIPT], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"


def test_importing_the_adapters_does_not_import_mcp() -> None:
    script = (
        "import sys, codeweaver_telemetry.adapters as a; a.TelemetryClient; a.NullSink;"
        "print('mcp' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "False"


@pytest.mark.parametrize("per_call", [False, True])
def test_the_mcp_demo_prints_what_would_be_sent(
    per_call: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--mcp", *(["--per-call"] if per_call else [])]) == 0
    output = capsys.readouterr().out
    events = [json.loads(line) for line in output.splitlines()]
    if per_call:
        tools = {event["properties"].get("mcp_tool") for event in events[:-1]}
        assert tools == {"find_code", "reindex", "summarize_repository"}
    else:
        (session,) = events
        calls = session["properties"]["mcp_tool_calls"]
        assert calls["summarize_repository"]["outcomes"] == {"cancelled": 1, "ok": 1}
        assert calls["reindex"]["outcomes"] == {"tool_error": 1}
    for secret in ("alice", "payroll", "session token", "payments", "src/auth"):
        assert secret not in output


def test_the_calls_join_the_hosts_own_statistics_and_the_next_session_starts_afresh() -> None:
    server = search_server()
    client, sink = kept_events_client()
    instrument(server, client)

    async def one(session: Client) -> None:
        await session.call_tool("search", {"query": "q"})

    run_session(server, one)
    client.capture_session_event(SessionStatistics(total_requests=3))
    client.start_session()
    client.end_session()
    first, second = sent(sink, "codeweaver_session")
    assert first["requests_total"] == 3
    assert first["mcp_tool_calls"]["search"]["calls"] == 1
    assert "mcp_tool_calls" not in second
