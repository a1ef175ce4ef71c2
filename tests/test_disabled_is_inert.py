"""Disabled means inert: no posthog import, no thread, no socket, no file written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from host_process import host_environment, run_program

PROBE = """
import json, socket, sys, threading

def refuse(*args, **kwargs):
    raise AssertionError("a socket was opened")

socket.socket = refuse
socket.create_connection = refuse

from codeweaver_telemetry.adapters import get_telemetry_client

client = get_telemetry_client()
client.start_session({"version": "1"})
client.capture("e", {"a": 1})
with client.context(x=1):
    client.capture("e2")
flag = client.get_feature_flag("f", default="d")
client.end_session()
client.shutdown()
print(json.dumps({
    "enabled": client.enabled,
    "posthog": "posthog" in sys.modules,
    "requests": "requests" in sys.modules,
    "threads": [t.name for t in threading.enumerate()],
    "flag": flag,
}))
"""


@pytest.mark.parametrize(
    "opt_out",
    [
        {"DO_NOT_TRACK": "1"},
        {"CODEWEAVER__TELEMETRY__DISABLE_TELEMETRY": "true"},
        {"CODEWEAVER__TELEMETRY__DISABLE_TELEMTRY": "true"},  # a typo fails closed
        {"CODEWEAVER__TELEMETRY__BATCH_SIZE": "ten"},  # so does any bad value
    ],
)
def test_an_opted_out_process_imports_nothing_starts_nothing_writes_nothing(
    tmp_path: Path, opt_out: dict[str, str]
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    environment = host_environment(
        home,
        CODEWEAVER__TELEMETRY__POSTHOG_API_KEY="phc_test",
        CODEWEAVER__TELEMETRY__POSTHOG_HOST="http://127.0.0.1:9",
        **opt_out,
    )
    output = run_program(PROBE, tmp_path, environment)
    outcome = json.loads(output)
    assert outcome == {
        "enabled": False,
        "posthog": False,
        "requests": False,
        "threads": ["MainThread"],
        "flag": "d",
    }
    assert list(home.iterdir()) == []
    assert sorted(path.name for path in tmp_path.iterdir()) == ["home"]
