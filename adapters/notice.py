"""The first-run notice: what is collected, how to see it, how to turn it off, shown once.

As Homebrew, .NET and Next.js do, a host shows it the first time its telemetry is on for a
user::

    from codeweaver_telemetry.adapters import first_run_notice

    notice = first_run_notice(app="mytool", command="mytool telemetry")
    if notice:
        print(notice, file=sys.stderr)

The helper records that it was shown (a marker file in the app's state directory), so it gives
the text once per user and app. With ``require_notice`` set, nothing is sent before then.
"""

from __future__ import annotations

import os
from typing import Final

from codeweaver_telemetry.core.app import DEFAULT_APP, App

from .config import checked_app, load_config
from .directories import user_state_directory
from .files import write_private_file
from .log import debug

NOTICE_MARKER_NAME: Final = "telemetry-notice-shown"
"""The marker file in the app's state directory; its presence means the notice was shown."""


def notice_text(app: App = DEFAULT_APP, command: str | None = None) -> str:
    """The notice for ``app``, naming ``command`` (the CLI that mounts the telemetry commands)."""
    command = command or default_command(app)
    return (
        f"{app.name} collects anonymous usage telemetry: aggregated counts and timings (searches,"
        " latency, tokens saved, languages as counts). It never sends code, queries, file paths,"
        " repository, user or host names.\n"
        f"  See what is sent: `{command} status`, or set {app.env_prefix}DEBUG=1 to print each"
        " event instead of sending it.\n"
        f"  Turn it off: `{command} disable`, or set DO_NOT_TRACK=1."
    )


def default_command(app: App) -> str:
    """How a user reaches the telemetry commands when the host mounts none of its own."""
    if app.name == DEFAULT_APP.name:
        return "codeweaver-telemetry"
    return f"codeweaver-telemetry --app {app.name}"


def first_run_notice(app: str | App = DEFAULT_APP, *, command: str | None = None) -> str | None:
    """The notice, the first time this is asked for this user and app while telemetry is on;
    None afterwards (and while telemetry is off: a user who turns it on later sees it then).
    Records that it was shown; if that cannot be recorded, gives it again next time. Never
    raises."""
    try:
        named = checked_app(app).value_or(None)
        if named is None:
            return None
        settings = load_config(app=named).settings.value_or(None)
        if settings is None or not settings.enabled or notice_was_shown(named):
            return None
        _record_shown(named)
        return notice_text(named, command)
    except Exception as error:  # noqa: BLE001 - telemetry never throws into its host
        debug("telemetry: the first-run notice failed (%s)", type(error).__name__)
        return None


def notice_was_shown(app: App) -> bool:
    """Whether the notice has been shown to this user for ``app``."""
    path = _marker_path(app)
    return path is not None and os.path.isfile(path)


def _marker_path(app: App) -> str | None:
    directory = user_state_directory(app=app)
    return None if directory is None else os.path.join(directory, NOTICE_MARKER_NAME)


def _record_shown(app: App) -> None:
    path = _marker_path(app)
    if path is None:
        return
    try:
        write_private_file(path, b"", replace=True)
    except OSError as error:
        debug("telemetry: cannot record that the notice was shown (%s)", error.strerror)
