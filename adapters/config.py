"""Reading the configuration: environment, a TOML ``[telemetry]`` table, ``DO_NOT_TRACK``.

Only the reading happens here; :func:`codeweaver_telemetry.core.settings.resolve_settings`
decides. A file that cannot be read or parsed is a configuration error like any other bad
value: telemetry stays off and the reason is kept for the caller.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from typing import Final, NamedTuple

from returns.result import Failure, Result

from codeweaver_telemetry.core.settings import (
    ConfigError,
    Origin,
    RawSources,
    Source,
    TelemetrySettings,
    resolve_settings,
)

from .directories import current_directory, user_config_directory

# Paths are plain strings here (os.path, not pathlib): this module runs at the host's start-up.

CONFIG_FILE_VARIABLE: Final = "CODEWEAVER_TELEMETRY_CONFIG"
"""Names a configuration file, looked up after an explicit path and before ``./codeweaver.toml``."""

FILE_NAME: Final = "codeweaver.toml"


class LoadedConfig(NamedTuple):
    """The resolved settings, or why there are none, and which file was read (if any)."""

    settings: Result[TelemetrySettings, ConfigError]
    file_path: str | None


def load_config(
    arguments: Mapping[str, object] | None = None,
    *,
    config_path: str | os.PathLike[str] | None = None,
    environment: Mapping[str, str] | None = None,
    working_directory: str | os.PathLike[str] | None = None,
) -> LoadedConfig:
    """Find and read the sources, then resolve them. Never raises."""
    environ = dict(os.environ if environment is None else environment)
    cwd = current_directory() if working_directory is None else os.fspath(working_directory)
    found = find_config_file(config_path, environ, cwd)
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
        file_path=found or "",
        posthog_installed=importlib.util.find_spec("posthog") is not None,
    )
    return LoadedConfig(resolve_settings(raw), found)


def find_config_file(
    explicit: str | os.PathLike[str] | None, environment: Mapping[str, str], cwd: str | None
) -> str | None:
    """The first of: the explicit path, the variable's file, ``./codeweaver.toml``, the user's
    configuration directory. An explicit or named file is returned even if it does not exist,
    so that reading it reports the problem instead of silently using another file."""
    if explicit is not None:
        return os.fspath(explicit)
    if environment.get(CONFIG_FILE_VARIABLE):
        return environment[CONFIG_FILE_VARIABLE]
    for directory in (cwd, user_config_directory()):
        if directory is not None and os.path.isfile(os.path.join(directory, FILE_NAME)):
            return os.path.join(directory, FILE_NAME)
    return None


def read_telemetry_table(path: str) -> Mapping[str, object] | ConfigError:
    """The file's ``[telemetry]`` table (empty when the file has none), or what went wrong."""
    import tomllib  # noqa: PLC0415 - only when there is a file to read

    origin = Origin(Source.FILE, path)
    try:
        with open(path, encoding="utf-8") as file:
            document = tomllib.loads(file.read())
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
