"""What an adversarial review of consent and configuration found: each as a regression test.

A cloned repository's file must not crash its user's tool, make it wait, or send anything; an
opt-out must never be lost to a near-miss name or an unreadable file; a host's odd arguments
never raise.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import pytest
from fake_posthog import FakePostHog

from codeweaver_telemetry.adapters import build_client, get_telemetry_client
from codeweaver_telemetry.adapters.config import load_config
from codeweaver_telemetry.adapters.registry import make_flags, make_sink, reset_telemetry_client
from codeweaver_telemetry.core.settings import RawSources, resolve_settings


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user whose directories are all under ``tmp_path``, and a project directory."""
    for key in list(os.environ):
        if "CODEWEAVER" in key.upper() or key.upper() == "DO_NOT_TRACK":
            monkeypatch.delenv(key)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    (tmp_path / "project").mkdir()
    monkeypatch.chdir(tmp_path / "project")
    return tmp_path


@pytest.mark.parametrize(
    "table",
    [
        "[telemetry]\nbatch_interval_seconds = 1" + "0" * 400 + "\n",
        "[index]\nx = 1" + "0" * 5000 + "\n",
        "[index]\nx = " + "[" * 5000 + "]" * 5000 + "\n",
    ],
    ids=["an int too large for a float", "an int of 5,000 digits", "arrays 5,000 deep"],
)
def test_a_project_file_that_tomllib_or_a_float_cannot_take_turns_telemetry_off(
    home: Path, table: str
) -> None:
    (home / "project" / "codeweaver.toml").write_text(table)
    client = build_client()
    assert not client.enabled
    assert client.config_error is not None
    reset_telemetry_client()
    assert not get_telemetry_client().enabled
    reset_telemetry_client()


@pytest.mark.parametrize(
    ("arguments", "config_path"),
    [
        (["x"], None),
        ("abc", None),
        (42, None),
        ({"flag_budget_seconds": 10**400}, None),
        (None, 42),
        (None, "a\0b"),
    ],
)
def test_odd_host_arguments_give_an_inert_client_and_a_reason(
    home: Path, arguments: object, config_path: object
) -> None:
    client = build_client(arguments, config_path=config_path)  # type: ignore[arg-type]
    assert not client.enabled
    assert client.config_error is not None


def test_one_process_wide_client_per_app_whatever_names_it(home: Path) -> None:
    from codeweaver_telemetry.core.app import App

    try:
        assert get_telemetry_client() is get_telemetry_client("codeweaver")
        assert get_telemetry_client() is get_telemetry_client(App("codeweaver"))
        assert not get_telemetry_client(App(["x"])).enabled  # type: ignore[arg-type]
    finally:
        reset_telemetry_client()


def settings_from(environment: Mapping[str, str]) -> object:
    return resolve_settings(RawSources(arguments={}, environment=environment)).unwrap()


def test_posthog_chosen_with_no_key_sends_nothing_and_asks_for_no_flags() -> None:
    from codeweaver_telemetry.adapters.flags import NoFlags
    from codeweaver_telemetry.adapters.local_sinks import NullSink

    with FakePostHog(lifetime_seconds=30) as server:
        settings = resolve_settings(
            RawSources(
                arguments={"sink": "posthog", "posthog_host": server.host},
                environment={},
                posthog_installed=True,
            )
        ).unwrap()
        assert isinstance(make_sink(settings), NullSink)
        assert isinstance(make_flags(settings), NoFlags)


@pytest.mark.parametrize(
    "variable",
    [
        "CODEWEAVER__TELEMETRY_DISABLE_TELEMETRY",
        "CODEWEAVER_TELEMETRY_DISABLE_TELEMETRY",
        "codeweaver__telemetry__disable_telemetry",
        "Codeweaver__Telemetry__Disable_Telemetry",
    ],
)
def test_a_near_miss_of_the_variable_names_never_loses_an_opt_out(variable: str) -> None:
    result = resolve_settings(RawSources(arguments={}, environment={variable: "1"}))
    settings = result.value_or(None)
    assert settings is None or not settings.enabled  # an error (off), or read as the opt-out


def test_do_not_track_in_lower_case_is_an_opt_out() -> None:
    settings = resolve_settings(RawSources(arguments={}, environment={"do_not_track": "1"}))
    assert not settings.unwrap().enabled


@pytest.mark.parametrize(
    ("key", "value", "lower"),
    [
        ("shutdown_budget_seconds", "1e9", "1"),
        ("flag_budget_seconds", "1e9", "0.25"),
        ("max_buffered_events", "100000000", "100"),
    ],
)
def test_a_project_file_can_lower_a_wait_or_a_buffer_but_not_raise_it(
    home: Path, key: str, value: str, lower: str
) -> None:
    (home / "project" / "codeweaver.toml").write_text(f"[telemetry]\n{key} = {value}\n")
    settings = load_config().settings.unwrap()
    assert getattr(settings, key).value < float(value)
    assert [ignored.key for ignored in settings.ignored] == [key]
    (home / "project" / "codeweaver.toml").write_text(f"[telemetry]\n{key} = {lower}\n")
    assert getattr(load_config().settings.unwrap(), key).value == float(lower)


@pytest.mark.parametrize("shape", ["dangling link", "fifo", "directory"])
def test_a_user_file_that_cannot_be_read_turns_telemetry_off(home: Path, shape: str) -> None:
    path = home / "config" / "codeweaver" / "codeweaver.toml"
    path.parent.mkdir(parents=True)
    if shape == "dangling link":
        path.symlink_to(home / "unmounted" / "codeweaver.toml")
    elif shape == "fifo":
        os.mkfifo(path)
    else:
        path.mkdir()
    loaded = load_config()
    assert loaded.settings.value_or(None) is None  # an error: the user's word is unknown


def test_a_user_file_with_a_byte_order_mark_is_read(home: Path) -> None:
    path = home / "config" / "codeweaver" / "codeweaver.toml"
    path.parent.mkdir(parents=True)
    path.write_bytes("\ufeff[telemetry]\ndisable_telemetry = true\n".encode())
    assert not load_config().settings.unwrap().enabled


def test_a_hard_linked_key_or_one_in_a_directory_others_can_write_is_not_used(
    tmp_path: Path,
) -> None:
    from codeweaver_telemetry.adapters.identity import KEY_FILE_NAME, installation_hash_key

    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    first = installation_hash_key(state)
    assert first.how == "a new key, stored"
    os.link(state / KEY_FILE_NAME, tmp_path / "copy-in-the-project")
    second = installation_hash_key(state)
    assert second.key != first.key
    assert "hard link" in second.how
    (tmp_path / "copy-in-the-project").unlink()
    state.chmod(0o777)
    shared = installation_hash_key(state)
    assert shared.how.startswith("a key for this process only")
    assert installation_hash_key(state).key != shared.key  # never the same key twice


def test_status_names_the_users_own_opt_out_first() -> None:
    settings = resolve_settings(
        RawSources(
            arguments={},
            environment={"DO_NOT_TRACK": "1"},
            project_file_table={"disable_telemetry": True},
            project_file_path="./codeweaver.toml",
        )
    ).unwrap()
    assert settings.deciding.speaker.value == "the user"


@pytest.mark.parametrize("name", ["my__tool", "tool_", "codeweaver__telemetry_", "-x"])
def test_an_app_name_whose_variables_would_run_into_anothers_is_refused(name: str) -> None:
    from codeweaver_telemetry.core.app import app_named

    assert app_named(name).value_or(None) is None


def test_a_full_disk_or_a_module_that_raises_is_one_line_not_a_traceback(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import subprocess
    import sys

    if os.path.exists("/dev/full"):
        with open("/dev/full", "w") as full:
            completed = subprocess.run(
                [sys.executable, "-m", "codeweaver_telemetry.adapters", "status"],
                stdout=full,
                stderr=subprocess.PIPE,
                text=True,
                timeout=60,
                check=False,
            )
        assert completed.returncode == 1
        assert completed.stderr.strip().splitlines() == [
            "codeweaver-telemetry: cannot write the output (No space left on device)"
        ]
    (home / "project" / "raising_models.py").write_text("raise RuntimeError('boom')\n")
    monkeypatch.syspath_prepend(str(home / "project"))
    from codeweaver_telemetry.adapters.cli import main

    assert main(["check", "raising_models:Model"]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [
        "codeweaver-telemetry: cannot load raising_models:Model (RuntimeError)"
    ]
