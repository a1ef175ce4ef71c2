"""The per-user configuration and state directories, on each platform (as platformdirs has
them), whatever platform the tests run on."""

from __future__ import annotations

import os

import pytest

from codeweaver_telemetry.adapters.directories import (
    current_directory,
    user_config_directory,
    user_state_directory,
)

HOME = os.path.expanduser("~")
ROOT = os.path.abspath(os.sep)


def under(*parts: str) -> str:
    return os.path.join(*parts, "codeweaver")


@pytest.mark.parametrize("platform", ["linux", "darwin", "freebsd14"])
def test_an_absolute_xdg_variable_wins_outside_windows(platform: str) -> None:
    config, state = os.path.join(ROOT, "cfg"), os.path.join(ROOT, "state")
    environment = {"XDG_CONFIG_HOME": config, "XDG_STATE_HOME": f" {state} "}
    assert user_config_directory(environment, platform) == under(config)
    assert user_state_directory(environment, platform) == under(state)


@pytest.mark.parametrize("value", ["", "relative/dir"])
def test_an_empty_or_relative_xdg_variable_is_ignored(value: str) -> None:
    environment = {"XDG_CONFIG_HOME": value, "XDG_STATE_HOME": value}
    assert user_config_directory(environment, "linux") == under(HOME, ".config")
    assert user_state_directory(environment, "linux") == under(
        HOME, os.path.join(".local", "state")
    )
    support = under(HOME, "Library", "Application Support")
    assert user_config_directory(environment, "darwin") == support
    assert user_state_directory(environment, "darwin") == support


def test_windows_uses_local_app_data_or_its_usual_place() -> None:
    local = os.path.join(ROOT, "AppData", "Local")
    environment = {"LOCALAPPDATA": local, "XDG_CONFIG_HOME": os.path.join(ROOT, "cfg")}
    assert user_config_directory(environment, "win32") == under(local)
    assert user_state_directory(environment, "win32") == under(local)
    assert user_config_directory({}, "win32") == under(HOME, "AppData", "Local")


def test_no_home_directory_means_no_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os.path, "expanduser", lambda path: path)
    assert user_config_directory({}, "linux") is None
    assert user_state_directory({}, "darwin") is None
    assert user_state_directory({}, "win32") is None


def test_a_removed_working_directory_is_none(
    tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    gone = os.path.join(tmp_path, "gone")
    os.mkdir(gone)
    monkeypatch.chdir(gone)
    os.rmdir(gone)
    assert current_directory() is None
