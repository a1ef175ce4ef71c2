"""Whose word counts, through the real command line and host processes in clean environments:
every opt-out wins, only the user opts in, any tool under its own name, a truthful status."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from host_process import host_environment, run_program

from codeweaver_telemetry.adapters import build_client
from codeweaver_telemetry.adapters.cli import main
from codeweaver_telemetry.adapters.notice import first_run_notice
from codeweaver_telemetry.core.app import App

QUERY_PROPERTIES = {"query_tokens", "query_chars", "query_hash", "query_text"}

SEARCH_PROGRAM = """
import json, sys
from codeweaver_telemetry.adapters import build_client
from codeweaver_telemetry.adapters.simulation import simulated_searches

client = build_client({arguments!r}, app={app!r})
search = next(iter(simulated_searches(1, 1)))
client.capture_search_event(
    search.response,
    query=search.query,
    intent_type=search.intent,
    strategies=search.strategies,
    execution_time_ms=search.execution_time_ms,
)
client.shutdown()
"""


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """In-process calls see what a host process would: ``host_environment`` only."""
    clean = host_environment(tmp_path)
    for name in set(os.environ) - set(clean):
        monkeypatch.delenv(name)
    for name, value in clean.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)


def cli(home: Path, /, *argv: str, **variables: str) -> subprocess.CompletedProcess[str]:
    """``python -m codeweaver_telemetry.adapters ARGV`` in a clean environment, in ``home``."""
    return cli_in(home, home, *argv, **variables)


def cli_in(
    cwd: Path, home: Path, /, *argv: str, **variables: str
) -> subprocess.CompletedProcess[str]:
    """``python -m codeweaver_telemetry.adapters ARGV`` in a clean environment, in ``cwd``."""
    return subprocess.run(
        [sys.executable, "-m", "codeweaver_telemetry.adapters", *argv],
        cwd=cwd,
        env=host_environment(home, **variables),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def searched(
    home: Path,
    cwd: Path,
    arguments: dict[str, object] | None = None,
    app: str = "codeweaver",
    /,
    **variables: str,
) -> list[dict[str, object]]:
    """The events a host process printed on the stdout sink after one search."""
    program = SEARCH_PROGRAM.format(arguments=arguments or {}, app=app)
    out = run_program(program, cwd, host_environment(home, **variables))
    return [json.loads(line) for line in out.splitlines()]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def user_file(home: Path, app: str = "codeweaver") -> Path:
    return home / "config" / app / f"{app}.toml"


# --- a user's opt-out is never lost ----------------------------------------------------------


def test_a_users_opt_out_holds_in_a_folder_with_a_project_file(tmp_path: Path) -> None:
    write(user_file(tmp_path), "[telemetry]\ndisable_telemetry = true\n")
    project = tmp_path / "project"
    write(project / "codeweaver.toml", "[index]\nbackend = 'qdrant'\n")
    status = cli_in(project, tmp_path, "status")
    first_line = status.stdout.splitlines()[0]
    assert first_line == f"telemetry: off: the user (file {user_file(tmp_path)}) said so"
    assert f"project configuration file: {project / 'codeweaver.toml'}" in status.stdout


def test_an_opt_out_from_a_project_or_the_host_wins_over_the_users_opt_in(
    tmp_path: Path,
) -> None:
    write(user_file(tmp_path), "[telemetry]\ndisable_telemetry = false\n")
    write(tmp_path / "codeweaver.toml", "[telemetry]\ndisable_telemetry = true\n")
    assert cli(tmp_path, "status").stdout.startswith("telemetry: off: the project (file ")
    (tmp_path / "codeweaver.toml").unlink()
    client = build_client({"disable_telemetry": True})
    assert not client.enabled


# --- only the user can opt in ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("project_file", "arguments", "variables", "opted_in"),
    [
        ("[telemetry]\ntools_over_privacy = true\n", {}, {}, False),
        ("", {"tools_over_privacy": True}, {}, False),
        ("", {}, {"CODEWEAVER__TELEMETRY__TOOLS_OVER_PRIVACY": "1"}, True),
        (
            "[telemetry]\ntools_over_privacy = false\n",
            {},
            {"CODEWEAVER__TELEMETRY__TOOLS_OVER_PRIVACY": "1"},
            False,
        ),
        (
            "",
            {"tools_over_privacy": False},
            {"CODEWEAVER__TELEMETRY__TOOLS_OVER_PRIVACY": "1"},
            False,
        ),
    ],
)
def test_only_the_user_can_opt_in_to_query_statistics(
    tmp_path: Path,
    project_file: str,
    arguments: dict[str, object],
    variables: dict[str, str],
    opted_in: bool,
) -> None:
    if project_file:
        write(tmp_path / "codeweaver.toml", project_file)
    (event,) = searched(
        tmp_path, tmp_path, arguments, CODEWEAVER__TELEMETRY__SINK="stdout", **variables
    )
    properties = event["properties"]
    assert isinstance(properties, dict)
    assert (set(properties) >= QUERY_PROPERTIES) is opted_in
    assert not (QUERY_PROPERTIES & set(properties)) or opted_in


def test_status_names_an_ignored_opt_in_and_why(tmp_path: Path) -> None:
    write(tmp_path / "codeweaver.toml", "[telemetry]\ntools_over_privacy = true\n")
    report = json.loads(cli(tmp_path, "status", "--json").stdout)
    assert report["settings"]["tools_over_privacy"]["value"] is False
    (ignored,) = report["ignored"]
    assert ignored["key"] == "tools_over_privacy"
    assert ignored["origin"] == f"the project (file {tmp_path / 'codeweaver.toml'})"
    assert "only the user can opt in" in ignored["reason"]


def test_a_tool_that_defaults_off_is_turned_on_by_its_user_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    off_by_default = App("quiet-tool", on_by_default=False)
    assert not build_client(app=off_by_default).enabled
    host_says_on = build_client({"disable_telemetry": False}, app=off_by_default)
    assert not host_says_on.enabled
    assert host_says_on.settings is not None
    assert [ignored.key for ignored in host_says_on.settings.ignored] == ["disable_telemetry"]
    write(tmp_path / "quiet-tool.toml", "[telemetry]\ndisable_telemetry = false\n")
    assert not build_client(app=off_by_default).enabled
    monkeypatch.setenv("QUIET_TOOL__TELEMETRY__DISABLE_TELEMETRY", "false")
    assert build_client(app=off_by_default).enabled


# --- status tells the truth ---------------------------------------------------------------------


def test_status_says_nothing_is_sent_without_a_key(tmp_path: Path) -> None:
    first_line = cli(tmp_path, "status").stdout.splitlines()[0]
    assert first_line == "telemetry: on, but nothing is sent: no API key configured"


@pytest.mark.parametrize(
    "variables",
    [
        {"CODEWEAVER__TELEMETRY__POSTHOG_API_KEY": "phc_test"},
        {"CODEWEAVER__TELEMETRY__SINK": "posthog", "CODEWEAVER__TELEMETRY__POSTHOG_API_KEY": "k"},
    ],
)
def test_status_says_nothing_is_sent_without_the_posthog_extra(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    variables: dict[str, str],
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr("codeweaver_telemetry.adapters.config.posthog_installed", lambda: False)
    assert main(["status"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == (
        "telemetry: on, but nothing is sent: the posthog extra is not installed "
        '(pip install "codeweaver-telemetry[posthog]")'
    )


def test_status_names_the_host_it_sends_to_without_its_credentials(tmp_path: Path) -> None:
    status = cli(
        tmp_path,
        "status",
        "--json",
        CODEWEAVER__TELEMETRY__POSTHOG_API_KEY="phc_0123456789abcdefWXYZ",
        CODEWEAVER__TELEMETRY__POSTHOG_HOST="https://alice:hunter2@proxy.example:8080",
    )
    report = json.loads(status.stdout)
    assert report["verdict"] == "on: sending to https://alice:***@proxy.example:8080"
    assert "hunter2" not in status.stdout
    assert "0123456789" not in status.stdout
    assert report["settings"]["posthog_api_key"]["value"] == "phc_…WXYZ"


def test_the_debug_switch_prints_each_event_to_standard_error_and_sends_nothing(
    tmp_path: Path,
) -> None:
    variables = {"CODEWEAVER__TELEMETRY__DEBUG": "1", "CODEWEAVER__TELEMETRY__POSTHOG_API_KEY": "k"}
    completed = subprocess.run(
        [sys.executable, "-c", SEARCH_PROGRAM.format(arguments={}, app="codeweaver")],
        cwd=tmp_path,
        env=host_environment(tmp_path, **variables),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert completed.stdout == ""
    (event,) = [json.loads(line) for line in completed.stderr.splitlines()]
    assert event["event"] == "codeweaver_search"
    status = cli(tmp_path, "status", **variables).stdout
    assert status.startswith("telemetry: on, debugging: each event is printed to standard error")


# --- secrets stay local -----------------------------------------------------------------------


def test_repr_and_str_of_the_settings_mask_the_key_and_the_hosts_credentials(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CODEWEAVER__TELEMETRY__POSTHOG_API_KEY", "phc_0123456789abcdefWXYZ")
    monkeypatch.setenv("CODEWEAVER__TELEMETRY__POSTHOG_HOST", "https://u:secretpass@proxy.example")
    settings = build_client().settings
    for shown in (repr(settings), str(settings), f"{settings}"):
        assert "0123456789" not in shown
        assert "secretpass" not in shown
        assert "phc_…WXYZ" in shown
        assert "https://u:***@proxy.example" in shown


# --- any tool, its own name -----------------------------------------------------------------------


def test_a_tool_has_its_own_variables_files_key_and_event_names(tmp_path: Path) -> None:
    codeweaver_off = {"CODEWEAVER__TELEMETRY__DISABLE_TELEMETRY": "1"}
    (event,) = searched(
        tmp_path, tmp_path, {}, "mytool", MYTOOL__TELEMETRY__SINK="stdout", **codeweaver_off
    )
    assert event["event"] == "mytool_search"
    write(tmp_path / "mytool.toml", "[telemetry]\ndisable_telemetry = true\n")
    assert searched(tmp_path, tmp_path, {}, "mytool", MYTOOL__TELEMETRY__SINK="stdout") == []
    (tmp_path / "mytool.toml").unlink()
    write(user_file(tmp_path, "mytool"), "[telemetry]\ndisable_telemetry = true\n")
    assert searched(tmp_path, tmp_path, {}, "mytool", MYTOOL__TELEMETRY__SINK="stdout") == []
    searched(tmp_path, tmp_path, CODEWEAVER__TELEMETRY__SINK="stdout")
    keys = {
        app: (tmp_path / "state" / app / "telemetry-hash-key").read_bytes()
        for app in ("mytool", "codeweaver")
    }
    assert keys["mytool"] != keys["codeweaver"]  # two tools' digests cannot be linked


def test_do_not_track_is_every_tools(tmp_path: Path) -> None:
    sink = {"MYTOOL__TELEMETRY__SINK": "stdout"}
    assert len(searched(tmp_path, tmp_path, {}, "mytool", **sink)) == 1
    assert searched(tmp_path, tmp_path, {}, "mytool", DO_NOT_TRACK="1", **sink) == []


@pytest.mark.parametrize("name", ["My Tool", "mytool!", "", "../etc", "x" * 41, 5])
def test_an_invalid_app_name_is_refused_clearly_and_telemetry_is_off(name: object) -> None:
    client = build_client(app=name)  # type: ignore[arg-type]
    assert not client.enabled
    assert "is not a valid app name" in str(client.config_error)
    assert "lowercase letters" in str(client.config_error)


def test_codeweavers_own_key_names_are_accepted(tmp_path: Path) -> None:
    write(user_file(tmp_path), "[telemetry]\nposthog_project_key = 'phc_fromthefile1234'\n")
    report = json.loads(cli(tmp_path, "status", "--json").stdout)
    assert report["enabled"] is True
    assert report["settings"]["posthog_api_key"]["value"] == "phc_…1234"
    user_file(tmp_path).unlink()
    variable = {"CODEWEAVER__TELEMETRY__POSTHOG_PROJECT_KEY": "phc_fromthevariable"}
    report = json.loads(cli(tmp_path, "status", "--json", **variable).stdout)
    assert report["enabled"] is True
    assert report["settings"]["posthog_api_key"]["where"] == (
        "CODEWEAVER__TELEMETRY__POSTHOG_PROJECT_KEY"
    )


# --- the commands --------------------------------------------------------------------------


def test_disable_and_enable_write_the_users_file_and_keep_the_rest(tmp_path: Path) -> None:
    path = write(
        user_file(tmp_path),
        """\
        # my settings
        [index]
        backend = "qdrant"

        [telemetry]
        tools_above_privacy = true  # CodeWeaver's spelling
        batch_size = 5
        """,
    )
    path.chmod(0o644)
    disabled = cli(tmp_path, "disable")
    assert disabled.returncode == 0, disabled.stderr
    assert disabled.stdout.splitlines() == [
        f"wrote {path}",
        "  disable_telemetry: unset -> true",
        f"telemetry: off: the user (file {path}) said so",
    ]
    text = path.read_text()
    assert text.startswith('# my settings\n[index]\nbackend = "qdrant"\n')
    assert "batch_size = 5" in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    enabled = cli(tmp_path, "enable", "--tools-over-privacy")
    assert enabled.stdout.splitlines()[1:3] == [
        "  disable_telemetry: true -> false",
        "  tools_over_privacy: already true",
    ]
    assert "tools_above_privacy" not in path.read_text()
    report = json.loads(cli(tmp_path, "status", "--json").stdout)
    assert report["settings"]["tools_over_privacy"] == {
        "value": True,
        "source": "user file",
        "where": str(path),
        "speaker": "user",
        "origin": f"the user (file {path})",
    }
    withdrawn = cli(tmp_path, "disable", "--tools-over-privacy")
    assert "  tools_over_privacy: true -> false" in withdrawn.stdout.splitlines()


def test_enable_creates_a_private_file_and_says_what_still_decides(tmp_path: Path) -> None:
    enabled = cli(tmp_path, "enable", DO_NOT_TRACK="1")
    path = user_file(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert path.read_text() == "[telemetry]\ndisable_telemetry = false\n"
    assert enabled.stdout.splitlines()[-1] == (
        "telemetry: off: the user (environment DO_NOT_TRACK) said so"
    )


def test_a_file_that_cannot_be_edited_safely_is_left_alone(tmp_path: Path) -> None:
    path = write(user_file(tmp_path), "telemetry.disable_telemetry = false\n")
    refused = cli(tmp_path, "disable")
    assert refused.returncode == 2
    assert refused.stderr.count("\n") == 1
    assert "set disable_telemetry = true in its telemetry table by hand" in refused.stderr
    assert "DO_NOT_TRACK=1" in refused.stderr
    assert path.read_text() == "telemetry.disable_telemetry = false\n"


HOST_CLI = """
import argparse, sys
from codeweaver_telemetry.adapters.cli import add_telemetry_commands

parser = argparse.ArgumentParser(prog="mytool")
commands = parser.add_subparsers(required=True)
commands.add_parser("index")
add_telemetry_commands(commands, app="mytool")
arguments = parser.parse_args(sys.argv[1:])
sys.exit(arguments.run(arguments))
"""


def test_a_host_mounts_the_commands_under_its_own_name(tmp_path: Path) -> None:
    def mytool(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", HOST_CLI, *argv],
            cwd=tmp_path,
            env=host_environment(tmp_path),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    assert mytool("telemetry", "disable").returncode == 0
    assert user_file(tmp_path, "mytool").is_file()
    assert not user_file(tmp_path).exists()
    status = mytool("telemetry", "status")
    assert status.stdout.startswith(
        f"telemetry: off: the user (file {user_file(tmp_path, 'mytool')}) said so"
    )
    assert "MYTOOL__TELEMETRY__DEBUG=1" in status.stdout
    assert "description" not in mytool("telemetry", "--help").stdout
    assert "turning it on or off" in mytool("telemetry", "--help").stdout


def test_main_runs_under_a_hosts_app_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["disable"], app="mytool") == 0
    path = user_file(tmp_path, "mytool")
    assert (
        capsys.readouterr().out.splitlines()[-1]
        == f"telemetry: off: the user (file {path}) said so"
    )
    with pytest.raises(SystemExit):
        main(["--version"], app="mytool")
    assert capsys.readouterr().out.startswith("mytool telemetry ")


# --- the first-run notice ------------------------------------------------------------------------


def test_the_notice_is_given_once_per_user_and_app(tmp_path: Path) -> None:
    notice = first_run_notice(app="mytool", command="mytool telemetry")
    assert notice is not None
    assert "`mytool telemetry disable`" in notice
    assert "DO_NOT_TRACK=1" in notice
    assert "MYTOOL__TELEMETRY__DEBUG=1" in notice
    assert "never sends code" in notice
    assert first_run_notice(app="mytool") is None
    assert first_run_notice(app="othertool") is not None
    assert (tmp_path / "state" / "mytool" / "telemetry-notice-shown").is_file()


def test_nothing_is_sent_before_a_required_notice_is_shown(tmp_path: Path) -> None:
    variables = {"MYTOOL__TELEMETRY__SINK": "stdout", "MYTOOL__TELEMETRY__REQUIRE_NOTICE": "1"}
    assert searched(tmp_path, tmp_path, {}, "mytool", **variables) == []
    status = cli(tmp_path, "--app", "mytool", "status", **variables).stdout
    assert status.startswith("telemetry: on, but nothing is sent: the first-run notice has not")
    run_program(
        "from codeweaver_telemetry.adapters.notice import first_run_notice as n; "
        "print(n(app='mytool'))",
        tmp_path,
        host_environment(tmp_path, **variables),
    )
    (event,) = searched(tmp_path, tmp_path, {}, "mytool", **variables)
    assert event["event"] == "mytool_search"
