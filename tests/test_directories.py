"""The per-user configuration and state directories, on each platform."""

from __future__ import annotations

import os

import pytest

from codeweaver_telemetry.adapters.directories import user_config_directory, user_state_directory

HOME = os.path.expanduser("~")


def test_linux_follows_the_xdg_variables() -> None:
    environment = {"XDG_CONFIG_HOME": "/cfg", "XDG_STATE_HOME": " /state "}
    assert user_config_directory(environment, "linux") == "/cfg/codeweaver"
    assert user_state_directory(environment, "linux") == "/state/codeweaver"


@pytest.mark.parametrize("value", ["", "relative/dir"])
def test_linux_ignores_an_empty_or_relative_xdg_variable(value: str) -> None:
    environment = {"XDG_CONFIG_HOME": value, "XDG_STATE_HOME": value}
    assert user_config_directory(environment, "linux") == f"{HOME}/.config/codeweaver"
    assert user_state_directory(environment, "linux") == f"{HOME}/.local/state/codeweaver"


def test_macos_uses_application_support_for_both() -> None:
    expected = f"{HOME}/Library/Application Support/codeweaver"
    assert user_config_directory({"XDG_CONFIG_HOME": "/cfg"}, "darwin") == expected
    assert user_state_directory({}, "darwin") == expected


def test_windows_uses_local_app_data_or_nothing() -> None:
    environment = {"LOCALAPPDATA": "/AppData/Local"}
    assert user_config_directory(environment, "win32") == "/AppData/Local/codeweaver"
    assert user_state_directory(environment, "win32") == "/AppData/Local/codeweaver"
    assert user_config_directory({}, "win32") is None


def test_no_home_directory_means_no_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os.path, "expanduser", lambda path: path)
    assert user_config_directory({}, "linux") is None
    assert user_state_directory({}, "darwin") is None
