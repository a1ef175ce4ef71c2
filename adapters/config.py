"""Reading the configuration: environment, a TOML ``[telemetry]`` table, ``DO_NOT_TRACK``.

Only the reading happens here; :func:`codeweaver_telemetry.core.settings.resolve_settings`
decides. A file that cannot be read or parsed is a configuration error like any other bad
value: telemetry stays off and the reason is kept for the caller.
"""

from __future__ import annotations

import importlib.util
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from returns.result import Failure, Result

from codeweaver_telemetry.core.settings import (
    ConfigError,
    Origin,
    RawSources,
    Source,
    TelemetrySettings,
    resolve_settings,
)

CONFIG_FILE_VARIABLE: Final = "CODEWEAVER_TELEMETRY_CONFIG"
"""Names a configuration file, looked up after an explicit path and before ``./codeweaver.toml``."""

FILE_NAME: Final = "codeweaver.toml"
APP_NAME: Final = "codeweaver"


@dataclass(frozen=True, slots=True)
class LoadedConfig:
    """The resolved settings, or why there are none, and which file was read (if any)."""

    settings: Result[TelemetrySettings, ConfigError]
    file_path: Path | None


def load_config(
    arguments: Mapping[str, object] | None = None,
    *,
    config_path: str | os.PathLike[str] | None = None,
    environment: Mapping[str, str] | None = None,
    working_directory: Path | None = None,
) -> LoadedConfig:
    """Find and read the sources, then resolve them. Never raises."""
    environ = dict(os.environ if environment is None else environment)
    found = find_config_file(config_path, environ, working_directory or Path.cwd())
    table: Mapping[str, object] | None = None
    if found is not None:
        read = read_telemetry_table(found)
        if isinstance(read, ConfigError):
            return LoadedConfig(Failure(read), found)
        table = read
    raw = RawSources(
        arguments=dict(arguments or {}),
        environment=environ,
        file_table=table,
        file_path=str(found) if found else "",
        posthog_installed=importlib.util.find_spec("posthog") is not None,
    )
    return LoadedConfig(resolve_settings(raw), found)


def find_config_file(
    explicit: str | os.PathLike[str] | None, environment: Mapping[str, str], cwd: Path
) -> Path | None:
    """The first of: the explicit path, the variable's file, ``./codeweaver.toml``, the user's
    configuration directory. An explicit or named file is returned even if it does not exist,
    so that reading it reports the problem instead of silently using another file."""
    if explicit is not None:
        return Path(explicit)
    if environment.get(CONFIG_FILE_VARIABLE):
        return Path(environment[CONFIG_FILE_VARIABLE])
    for candidate in (cwd / FILE_NAME, user_config_directory() / FILE_NAME):
        if candidate.is_file():
            return candidate
    return None


def user_config_directory() -> Path:
    """Where the user's configuration lives (``~/.config/codeweaver`` on Linux)."""
    import platformdirs  # noqa: PLC0415 - only when there is no explicit or local file

    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def read_telemetry_table(path: Path) -> Mapping[str, object] | ConfigError:
    """The file's ``[telemetry]`` table (empty when the file has none), or what went wrong."""
    origin = Origin(Source.FILE, str(path))
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        return ConfigError(
            origin,
            "[telemetry]",
            f"cannot read the file ({error.strerror})",
            "a readable TOML file",
        )
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):
        return ConfigError(origin, "[telemetry]", "not valid TOML", "a TOML file")
    table = document.get("telemetry", {})
    if not isinstance(table, dict):
        return ConfigError(origin, "telemetry", "not a table", "a [telemetry] table")
    return table
