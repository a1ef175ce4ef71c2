"""The MCP properties of the session event and the per-call event, from the core alone."""

from __future__ import annotations

from typing import Any

from codeweaver_telemetry.core import PrivacyPolicy, SessionStatistics
from codeweaver_telemetry.core.domain import McpUsage, ToolCallOutcome, ToolUsage
from codeweaver_telemetry.core.mcp_event import ToolCall, build_mcp_tool_call_event
from codeweaver_telemetry.core.session_event import build_session_event


def session_properties(usage: McpUsage, policy: PrivacyPolicy) -> dict[str, Any]:
    stats = SessionStatistics(mcp=usage)
    event = build_session_event(stats, version="1", duration_seconds=1.0, policy=policy)
    return dict(event.unwrap().properties)


def many_tools(count: int) -> McpUsage:
    return McpUsage(
        tools={
            f"tool_{index:02}": ToolUsage({"ok": index + 1}, (1.0,), 1, (3,))
            for index in range(count)
        }
    )


def test_tools_beyond_the_cap_are_summed_under_other_unless_declared() -> None:
    names = {f"tool_{index:02}" for index in range(20)}
    plain = session_properties(many_tools(20), PrivacyPolicy(hash_key=b"k" * 32))
    calls = plain["mcp_tool_calls"]
    assert len(calls) == 17
    assert calls["__other__"]["calls"] == 1 + 2 + 3 + 4  # the four least called
    assert calls["__other__"]["latency_ms"]["count"] == 4
    declared = PrivacyPolicy(hash_key=b"k" * 32, vocabularies={"mcp_tool_calls": frozenset(names)})
    assert set(session_properties(many_tools(20), declared)["mcp_tool_calls"]) == names


def test_a_count_that_is_not_a_count_costs_the_summary_not_the_event() -> None:
    usage = McpUsage(tools={"search": ToolUsage({"ok": -1})}, clients={"zed": 1})
    properties = session_properties(usage, PrivacyPolicy(hash_key=b"k" * 32))
    assert "mcp_tool_calls" not in properties
    assert properties["mcp_clients"] == {"zed": 1}
    assert properties["privacy_filter"]["dropped"] == 1


def test_a_tool_name_that_is_not_a_label_is_other() -> None:
    usage = McpUsage(tools={"/home/alice/run.sh": ToolUsage({"ok": 1})})
    properties = session_properties(usage, PrivacyPolicy(hash_key=b"k" * 32))
    assert list(properties["mcp_tool_calls"]) == ["__other__"]


def test_the_per_call_event_keeps_a_declared_tool_named_like_the_machine() -> None:
    call = ToolCall("alice", ToolCallOutcome.OK, 1.5, 1, 10, "zed", "0.1", "2025-06-18")
    literals = frozenset({"alice"})
    plain = PrivacyPolicy(hash_key=b"k" * 32, sensitive_literals=literals)
    declared = PrivacyPolicy(
        hash_key=b"k" * 32,
        sensitive_literals=literals,
        vocabularies={"mcp_tool": frozenset({"alice"})},
    )
    built = build_mcp_tool_call_event(call, sample_rate=0.5, policy=plain).unwrap()
    assert built.properties["mcp_tool"] == "__other__"
    kept = build_mcp_tool_call_event(call, sample_rate=0.5, policy=declared).unwrap()
    assert kept.properties["mcp_tool"] == "alice"
    assert kept.properties["sample_rate"] == 0.5
