"""Running a host program in a fresh interpreter, with a clean, private environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def host_environment(home: Path, **variables: str) -> dict[str, str]:
    """This process's environment without any telemetry setting, with ``home`` as the user's
    home, state and configuration directories, plus ``variables``."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if "CODEWEAVER" not in key and key not in {"POSTHOG_CAPTURE_MODE", "DO_NOT_TRACK"}
    }
    environment.update(
        HOME=str(home),
        XDG_STATE_HOME=str(home / "state"),
        XDG_CONFIG_HOME=str(home / "config"),
        **variables,
    )
    return environment


def run_program(program: str, cwd: Path, environment: dict[str, str]) -> str:
    """Run ``program`` with ``python -c`` and return what it printed (it must succeed)."""
    completed = subprocess.run(
        [sys.executable, "-c", program],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return completed.stdout
