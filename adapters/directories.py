"""Where the user's configuration and the installation's state live, per platform.

The usual per-user directories (the XDG base directories on Linux and other Unix systems,
``~/Library/Application Support`` on macOS, ``%LOCALAPPDATA%`` on Windows), found from the
environment alone, as plain strings: the configuration is read at the host's start-up, which
should not pay for more than ``os``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Final

APP_NAME: Final = "codeweaver"


def user_config_directory(
    environment: Mapping[str, str] = os.environ, platform: str = sys.platform
) -> str | None:
    """``$XDG_CONFIG_HOME/codeweaver`` (default ``~/.config/codeweaver``) on Linux; None when
    there is no home directory to put it in."""
    return _user_directory("XDG_CONFIG_HOME", ".config", environment, platform)


def user_state_directory(
    environment: Mapping[str, str] = os.environ, platform: str = sys.platform
) -> str | None:
    """``$XDG_STATE_HOME/codeweaver`` (default ``~/.local/state/codeweaver``) on Linux; None
    when there is no home directory to put it in."""
    return _user_directory("XDG_STATE_HOME", os.path.join(".local", "state"), environment, platform)


def _user_directory(
    variable: str, default: str, environment: Mapping[str, str], platform: str
) -> str | None:
    if platform == "win32":
        local = environment.get("LOCALAPPDATA", "")
        return os.path.join(local, APP_NAME) if os.path.isabs(local) else None
    home = os.path.expanduser("~")
    if not os.path.isabs(home):  # no HOME and no password-database entry
        return None
    if platform == "darwin":
        return os.path.join(home, "Library", "Application Support", APP_NAME)
    # The XDG specification: a relative path in the variable is invalid and is ignored.
    chosen = environment.get(variable, "").strip()
    return os.path.join(chosen if os.path.isabs(chosen) else os.path.join(home, default), APP_NAME)
