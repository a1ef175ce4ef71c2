"""Where the user's configuration and the installation's state live, per platform.

As platformdirs finds them, from the environment alone and as plain strings (the
configuration is read at the host's start-up, which should not pay for more than ``os``):

- Linux and other Unix systems, and macOS: ``$XDG_CONFIG_HOME`` and ``$XDG_STATE_HOME`` when
  set to an absolute path; otherwise ``~/.config`` and ``~/.local/state``, or on macOS
  ``~/Library/Application Support`` for both;
- Windows: ``%LOCALAPPDATA%`` for both (``~\\AppData\\Local`` when it is not set).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from codeweaver_telemetry.core.app import DEFAULT_APP, App


def user_config_directory(
    environment: Mapping[str, str] = os.environ,
    platform: str = sys.platform,
    *,
    app: App = DEFAULT_APP,
) -> str | None:
    """Where the user's ``codeweaver.toml`` is looked for (and written): ``~/.config/codeweaver``
    on Linux (see above for the others), the app's own directory for another app; None when
    there is no home directory to put it in."""
    return _user_directory("XDG_CONFIG_HOME", ".config", environment, platform, app)


def user_state_directory(
    environment: Mapping[str, str] = os.environ,
    platform: str = sys.platform,
    *,
    app: App = DEFAULT_APP,
) -> str | None:
    """Where the app's hash key and first-run notice marker are kept:
    ``~/.local/state/codeweaver`` on Linux (see above for the others); None when there is no
    home directory to put it in."""
    return _user_directory(
        "XDG_STATE_HOME", os.path.join(".local", "state"), environment, platform, app
    )


def spool_directory(app: App = DEFAULT_APP) -> str | None:
    """Where what could not be delivered waits for the next run (see ``spool.py``):
    ``<user_state_directory(app)>/spool``; None when there is no home directory."""
    state = user_state_directory(app=app)
    return None if state is None else os.path.join(state, "spool")


def _user_directory(
    variable: str, default: str, environment: Mapping[str, str], platform: str, app: App
) -> str | None:
    name = app.directory_name
    home = os.path.expanduser("~")
    if not os.path.isabs(home):  # no HOME and no password-database entry
        return None
    if platform == "win32":
        local = environment.get("LOCALAPPDATA", "")
        base = local if os.path.isabs(local) else os.path.join(home, "AppData", "Local")
        return os.path.join(base, name)
    # The XDG specification: a relative path in the variable is invalid and is ignored.
    chosen = environment.get(variable, "").strip()
    if os.path.isabs(chosen):
        return os.path.join(chosen, name)
    if platform == "darwin":
        return os.path.join(home, "Library", "Application Support", name)
    return os.path.join(home, default, name)


def current_directory() -> str | None:
    """The working directory, or None when it was removed."""
    try:
        return os.getcwd()
    except OSError:
        return None
