"""The pytest plugin as a host's test suite meets it: loaded by its entry point from the
installed package, in a separate pytest process (pytester), with the host's own files.

Regression for the issue's bullet "a host cannot test its own telemetry without undocumented
internals: ... no fixture": on e70ee05 the host's suite below fails with "fixture
'telemetry_events' not found".
"""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

PLUGIN = "codeweaver_telemetry"
PLUGIN_MODULE = "codeweaver_telemetry.adapters.pytest_plugin"
HOST_RUN_TIMEOUT = 120
# The development environment's other plugins (Hypothesis's above all) cost about a second per
# pytest process, and the host's suite needs none of them.
WITHOUT_OTHER_PLUGINS = ("-p", "no:hypothesispytest", "-p", "no:anyio", "-p", "no:returns")

HOST_TOOL = """
from codeweaver_telemetry.adapters import get_telemetry_client


def search(hits):
    get_telemetry_client().capture("search", {"intent": "UNDERSTAND", "hits": hits})


def index(app):
    get_telemetry_client(app).capture_session_event()
"""

HOST_CONFTEST = """
import pytest

from codeweaver_telemetry.adapters import TelemetryClient, set_telemetry_client

# The host's own process client, as its application would have installed it.
HOSTS_OWN = TelemetryClient(None)
set_telemetry_client(HOSTS_OWN)


@pytest.fixture
def hosts_own():
    return HOSTS_OWN
"""

HOST_TESTS = """
from codeweaver_telemetry.adapters import get_telemetry_client

import tool


def test_a_search_sends_one_event(telemetry_events, hosts_own):
    assert get_telemetry_client() is not hosts_own
    tool.search(3)
    assert [event["event"] for event in telemetry_events] == ["search"]
    assert telemetry_events[0]["properties"]["intent"] == "UNDERSTAND"
    assert telemetry_events[0]["properties"]["hits"] == 3


def test_the_hosts_client_is_back_after_a_test(hosts_own):
    assert get_telemetry_client() is hosts_own


def test_that_fails(telemetry_events):
    tool.search(5)
    assert telemetry_events == []


def test_the_hosts_client_is_back_after_a_failed_test(hosts_own):
    assert get_telemetry_client() is hosts_own


def test_each_test_starts_with_no_events(telemetry_events):
    assert telemetry_events == []
    tool.search(1)
    telemetry_events.clear()
    assert len(telemetry_events) == 0
"""

# A tool with its own app name overrides telemetry_app, in a directory of its own here.
OWN_APP_CONFTEST = """
import pytest


@pytest.fixture
def telemetry_app():
    return "mytool"
"""

OWN_APP_TESTS = """
from codeweaver_telemetry.adapters import get_telemetry_client

import tool


def test_the_tools_own_app_is_replaced(telemetry_events, hosts_own):
    tool.index("mytool")
    assert [event["event"] for event in telemetry_events] == ["mytool_session"]
    assert get_telemetry_client() is hosts_own
"""

# Asks for nothing: the plugin must have loaded its own module and nothing else.
UNTOUCHED_TEST = f"""
import json
import sys


def test_untouched(request):
    loaded = sorted(name for name in sys.modules if name.startswith("codeweaver_telemetry"))
    plugin = request.config.pluginmanager.get_plugin({PLUGIN!r})
    print("LOADED", json.dumps([loaded, plugin.__name__]))
"""


@pytest.fixture
def host_suite(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.delenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    pytester.makepyfile(tool=HOST_TOOL, conftest=HOST_CONFTEST, test_tool=HOST_TESTS)
    own = pytester.mkpydir("own_app")
    (own / "conftest.py").write_text(OWN_APP_CONFTEST)
    (own / "test_own_app.py").write_text(OWN_APP_TESTS)
    return pytester


def test_the_plugin_is_registered_by_its_entry_point() -> None:
    (entry,) = [e for e in entry_points(group="pytest11") if e.name == PLUGIN]
    assert entry.value == PLUGIN_MODULE


def test_a_hosts_suite_captures_and_gets_its_client_back(host_suite: pytest.Pytester) -> None:
    # pytester's own directory is first on sys.path in the child: the host's `tool` imports.
    result = host_suite.runpytest_subprocess(*WITHOUT_OTHER_PLUGINS, timeout=HOST_RUN_TIMEOUT)
    result.assert_outcomes(passed=5, failed=1)
    result.stdout.fnmatch_lines(["*test_that_fails*", "*CapturedEvents(*'event': 'search'*"])


def test_without_the_plugin_the_fixture_is_missing(host_suite: pytest.Pytester) -> None:
    result = host_suite.runpytest_subprocess(
        *WITHOUT_OTHER_PLUGINS, "-p", f"no:{PLUGIN}", "test_tool.py", timeout=HOST_RUN_TIMEOUT
    )
    result.assert_outcomes(passed=2, errors=3)
    result.stdout.fnmatch_lines(["*fixture 'telemetry_events' not found*"])


def test_a_test_without_the_fixture_loads_nothing_of_the_library(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    pytester.makepyfile(test_untouched=UNTOUCHED_TEST)
    result = pytester.runpytest_subprocess(*WITHOUT_OTHER_PLUGINS, "-s", timeout=HOST_RUN_TIMEOUT)
    result.assert_outcomes(passed=1)
    (line,) = [line for line in result.outlines if "LOADED " in line]
    loaded, plugin = json.loads(line.partition("LOADED ")[2])
    assert plugin == PLUGIN_MODULE
    assert loaded == [
        "codeweaver_telemetry",
        "codeweaver_telemetry.adapters",
        PLUGIN_MODULE,
        "codeweaver_telemetry.core",
        "codeweaver_telemetry.core.lazy_exports",
    ]


def test_a_hosts_runtime_never_loads_the_plugin_or_pytest(tmp_path: Path) -> None:
    code = (
        "import json, sys; from codeweaver_telemetry.adapters import get_telemetry_client; "
        "get_telemetry_client().capture('x'); "
        f"print(json.dumps(['pytest' in sys.modules, {PLUGIN_MODULE!r} in sys.modules]))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
        timeout=HOST_RUN_TIMEOUT,
        env={"HOME": str(tmp_path), "DO_NOT_TRACK": "1"},
    )
    assert json.loads(completed.stdout) == [False, False]
