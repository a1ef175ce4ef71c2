"""Running a host program in a fresh interpreter, with a clean, private environment."""

from __future__ import annotations

import os
import statistics
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


def seconds_in_fresh_processes(statement: str, runs: int, home: Path, **variables: str) -> float:
    """Median seconds that ``statement`` takes in a fresh interpreter, start-up excluded, in
    ``host_environment(home, **variables)`` and with ``home`` as the working directory.

    Bytecode is cached first (one discarded run with PYTHONDONTWRITEBYTECODE unset), as it is
    after ``pip install``: otherwise this package, installed in editable mode, would be timed
    compiling its sources while its dependencies load from their caches.
    """
    probe = f"import time; start = time.perf_counter(); {statement}; "
    probe += "print(time.perf_counter() - start)"
    environment = host_environment(home, **variables)
    environment.pop("PYTHONDONTWRITEBYTECODE", None)

    def once() -> float:
        return float(run_program(probe, home, environment).split()[-1])

    once()
    return statistics.median(once() for _ in range(runs))
