"""The process-wide client as a host uses it: from the environment, with the seed's functions."""

from __future__ import annotations

import json
from pathlib import Path

from fake_posthog import FakePostHog
from host_process import host_environment, run_program

HOST_PROGRAM = """
import json, sys, time
from codeweaver_telemetry.adapters import (
    capture_search_event, capture_session_event, get_telemetry_client,
)
from codeweaver_telemetry.core import (
    FindCodeResponseSummary, IntentType, SearchStrategy, SessionStatistics,
)

client = get_telemetry_client()
client.start_session({"version": "0.5.0"})
imported_at_start = "posthog" in sys.modules
summary = FindCodeResponseSummary(matches=(), summary="s", query_intent=None, total_matches=1,
                                  total_results=1, token_count=10, execution_time_ms=5.0)
capture_search_event(summary, query="how does auth work", intent_type=IntentType.UNDERSTAND,
                     strategies=[SearchStrategy.HYBRID], execution_time_ms=5.0)
capture_session_event(SessionStatistics(total_requests=1), version="0.5.0", setup_success=True,
                      setup_attempts=1, config_errors=[], duration_seconds=2.0)
client.end_session()
print(json.dumps({"enabled": client.enabled, "imported_at_start": imported_at_start}))
"""


def run_host(tmp_path: Path, **variables: str) -> dict[str, object]:
    stdout = run_program(HOST_PROGRAM, tmp_path, host_environment(tmp_path, **variables))
    last_line = stdout.strip().splitlines()[-1]
    outcome: dict[str, object] = json.loads(last_line)
    outcome["stdout"] = stdout
    return outcome


def test_a_host_on_the_posthog_sink_delivers_both_events_before_exit(tmp_path: Path) -> None:
    with FakePostHog(lifetime_seconds=60) as server:
        outcome = run_host(
            tmp_path,
            CODEWEAVER__TELEMETRY__POSTHOG_API_KEY="phc_test",
            CODEWEAVER__TELEMETRY__POSTHOG_HOST=server.host,
        )
        assert server.wait_for_events(2, timeout=5)
        names = sorted(str(event["event"]) for event in server.events())
    assert outcome["enabled"] is True
    assert outcome["imported_at_start"] is False  # posthog loads on the delivery thread
    assert names == ["codeweaver_search", "codeweaver_session"]
    assert (tmp_path / "state" / "codeweaver" / "telemetry-hash-key").exists()


def test_a_host_on_the_stdout_sink_prints_what_would_be_sent(tmp_path: Path) -> None:
    outcome = run_host(tmp_path, CODEWEAVER__TELEMETRY__SINK="stdout")
    lines = [json.loads(line) for line in str(outcome["stdout"]).splitlines()[:-1]]
    assert [line["event"] for line in lines] == ["codeweaver_search", "codeweaver_session"]
    assert "query_text" not in lines[0]["properties"]
    assert "how does auth work" not in str(outcome["stdout"])
