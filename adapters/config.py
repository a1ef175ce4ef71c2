"""Reading the configuration: environment, the user's and the project's ``[telemetry]`` tables,
``DO_NOT_TRACK``.

Only the reading happens here; :func:`codeweaver_telemetry.core.settings.resolve_settings`
decides. Every source is read, always: the user's own file too when a project has one (the
user's opt-out must not be lost by changing directory). A file that cannot be read or parsed is
a configuration error like any other bad value: telemetry stays off and the reason is kept.
"""

from __future__ import annotations

import importlib.util
import itertools
import os
from collections.abc import Mapping
from typing import Final, NamedTuple

from returns.result import Failure, Result, Success

from codeweaver_telemetry.core.app import DEFAULT_APP, App, app_named
from codeweaver_telemetry.core.settings import (
    ConfigError,
    Origin,
    RawSources,
    Source,
    TelemetrySettings,
    resolve_settings,
)

from .directories import current_directory, user_config_directory
from .files import read_regular_file

# Paths are plain strings here (os.path, not pathlib): this module runs at the host's start-up.

MAX_CONFIG_BYTES: Final = 1 << 20
"""A configuration file larger than this (1 MiB) is refused, not read."""

MAX_ARGUMENTS: Final = 64
"""A host's arguments are read up to this many (there are fewer settings): more are refused,
and an endless mapping is not read for ever."""

MAX_ARGUMENT_NAME_CHARS: Final = 64
"""A longer argument name is no setting's: it is reported by its length, never copied."""

MAX_PATH_CHARS: Final = 4096
"""A longer configuration path (Linux's ``PATH_MAX``) is refused before it is looked at."""


class LoadedConfig(NamedTuple):
    """The resolved settings, or why there are none, and the files that were read (if any)."""

    settings: Result[TelemetrySettings, ConfigError]
    user_file: str | None
    project_file: str | None


def load_config(
    arguments: Mapping[str, object] | None = None,
    *,
    app: App = DEFAULT_APP,
    config_path: str | os.PathLike[str] | None = None,
    environment: Mapping[str, str] | None = None,
    working_directory: str | os.PathLike[str] | None = None,
) -> LoadedConfig:
    """Find and read the sources, then resolve them. Never raises."""
    given = checked_arguments(arguments).bind(
        lambda read: checked_config_path(config_path).map(lambda path: (read, path))
    )
    if not isinstance(given, Success):
        return LoadedConfig(Failure(given.failure()), None, None)
    host_arguments, explicit_path = given.unwrap()
    environ = dict(os.environ if environment is None else environment)
    cwd = current_directory() if working_directory is None else os.fspath(working_directory)
    user_file = user_config_file(app, environ)
    project_file = find_project_file(explicit_path, environ, cwd, app)
    if user_file is not None and not os.path.isfile(user_file):
        if os.path.lexists(user_file):
            # A dangling link, a FIFO, a directory: whatever the user meant to say there (an
            # opt-out?) cannot be read, so nothing is decided without it.
            origin = Origin(Source.USER_FILE, user_file)
            problem = "not a regular file (a dangling link, a FIFO, a directory?)"
            error = ConfigError(origin, "[telemetry]", problem, "a readable TOML file")
            return LoadedConfig(Failure(error), user_file, project_file)
        user_file = None
    if project_file is not None and user_file is not None and _same_file(project_file, user_file):
        project_file = None  # the working directory is the user's configuration directory
    tables: list[Mapping[str, object] | None] = []
    for path, source in ((user_file, Source.USER_FILE), (project_file, Source.PROJECT_FILE)):
        table = None if path is None else read_telemetry_table(path, source)
        if isinstance(table, ConfigError):
            return LoadedConfig(Failure(table), user_file, project_file)
        tables.append(table)
    raw = RawSources(
        arguments=host_arguments,
        environment=environ,
        user_file_table=tables[0],
        user_file_path=user_file or "",
        project_file_table=tables[1],
        project_file_path=project_file or "",
        posthog_installed=posthog_installed(),
        app=app,
    )
    return LoadedConfig(resolve_settings(raw), user_file, project_file)


def checked_arguments(arguments: object) -> Result[dict[str, object], ConfigError]:
    """A host's arguments as a plain dict of at most :data:`MAX_ARGUMENTS` items, read once;
    a name that is not a short ``str`` becomes a placeholder that no setting has (so it is
    refused as an unknown key, without its text or its methods being used)."""
    origin = Origin(Source.ARGUMENT)
    if arguments is None:
        return Success({})
    if not isinstance(arguments, Mapping):
        problem = f"the arguments are a {type(arguments).__name__}, not a mapping"
        return Failure(ConfigError(origin, "arguments", problem, "a dict"))
    try:
        items = list(itertools.islice(arguments.items(), MAX_ARGUMENTS + 1))
    except Exception as error:  # noqa: BLE001 - a host's mapping may raise anything
        problem = f"the arguments cannot be read ({type(error).__name__})"
        return Failure(ConfigError(origin, "arguments", problem, "a dict"))
    if len(items) > MAX_ARGUMENTS:
        problem = f"more than {MAX_ARGUMENTS} arguments"
        return Failure(ConfigError(origin, "arguments", problem, "a dict of settings"))
    return Success({_argument_name(name): value for name, value in items})


def _argument_name(name: object) -> str:
    if not isinstance(name, str):
        return f"<a {type(name).__name__}>"
    length = str.__len__(name)  # (a subclass's __len__ may say anything)
    if length > MAX_ARGUMENT_NAME_CHARS:
        return f"<a name of {length:,} characters>"
    return name if type(name) is str else "".join([name])


def checked_config_path(path: object) -> Result[str | None, ConfigError]:
    """The host's configuration path as a plain ``str`` (None for none), or why it is not one
    that can be opened: not text, too long, or with a NUL in it."""
    if path is None:
        return Success(None)
    origin = Origin(Source.ARGUMENT)
    try:
        text = os.fspath(path) if isinstance(path, str | os.PathLike) else None
        length = str.__len__(text) if isinstance(text, str) else 0
        if isinstance(text, str) and 0 < length <= MAX_PATH_CHARS:
            text = text if type(text) is str else "".join([text])
            if "\0" not in text:
                return Success(text)
    except Exception as error:  # noqa: BLE001 - a host's PathLike may raise anything
        problem = f"the path cannot be read ({type(error).__name__})"
        return Failure(ConfigError(origin, "config_path", problem, "a path"))
    problem = f"a {type(path).__name__} that is not a path this can open"
    accepted = f"a path as text, at most {MAX_PATH_CHARS} characters, without NUL"
    return Failure(ConfigError(origin, "config_path", problem, accepted))


def checked_app(app: object) -> Result[App, str]:
    """A host's app (a name or an :class:`App`), its name checked whatever it was handed;
    never raises, and the app's name is a plain ``str``."""
    try:
        if isinstance(app, App):
            name, on_by_default = tuple.__getitem__(app, 0), tuple.__getitem__(app, 1)
            return app_named(_plain_name(name), on_by_default=on_by_default is True)
        return app_named(_plain_name(app))
    except Exception as error:  # noqa: BLE001 - whatever the host handed over
        return Failure(f"the app cannot be read ({type(error).__name__})")


def _plain_name(name: object) -> object:
    """A ``str`` subclass's text as a plain ``str`` when it is short enough to be a name; any
    other value as it is (``app_named`` refuses it)."""
    if type(name) is str or not isinstance(name, str):
        return name
    return "".join([name]) if str.__len__(name) <= MAX_ARGUMENT_NAME_CHARS else None


def posthog_installed() -> bool:
    """Whether the ``posthog`` extra is installed (without importing it)."""
    return importlib.util.find_spec("posthog") is not None


def user_config_file(app: App, environment: Mapping[str, str]) -> str | None:
    """Where the user's own file is (whether or not it exists yet): the one ``enable`` and
    ``disable`` write; None when there is no home directory."""
    directory = user_config_directory(environment, app=app)
    return None if directory is None else os.path.join(directory, app.config_file_name)


def find_project_file(
    explicit: str | os.PathLike[str] | None,
    environment: Mapping[str, str],
    cwd: str | None,
    app: App = DEFAULT_APP,
) -> str | None:
    """The first of: the host's explicit path, the variable's file, ``./codeweaver.toml``. An
    explicit or named file is returned even if it does not exist, so that reading it reports
    the problem instead of silently using none."""
    if explicit is not None:
        return os.fspath(explicit)
    if environment.get(app.config_file_variable):
        return environment[app.config_file_variable]
    if cwd is not None and os.path.isfile(os.path.join(cwd, app.config_file_name)):
        return os.path.join(cwd, app.config_file_name)
    return None


def read_telemetry_table(path: str, source: Source) -> Mapping[str, object] | ConfigError:
    """The file's ``[telemetry]`` table (empty when the file has none), or what went wrong."""
    import tomllib  # noqa: PLC0415 - only when there is a file to read

    origin = Origin(source, path)
    try:
        text = read_regular_file(path, max_bytes=MAX_CONFIG_BYTES).content.decode("utf-8-sig")
        document = tomllib.loads(text)
    except OSError as error:
        return ConfigError(
            origin,
            "[telemetry]",
            f"cannot read the file ({error.strerror})",
            "a readable TOML file",
        )
    except UnicodeDecodeError:
        return ConfigError(origin, "[telemetry]", "not UTF-8 text", "a TOML file in UTF-8")
    except tomllib.TOMLDecodeError as error:
        # tomllib's message names the problem, the line and the column, never a value.
        return ConfigError(origin, "[telemetry]", f"not valid TOML: {error}", "a TOML file")
    except (RecursionError, ValueError) as error:  # nested too deep; an int of 5,000 digits
        problem = f"not a TOML file this reads ({type(error).__name__})"
        return ConfigError(origin, "[telemetry]", problem, "a TOML file of ordinary size")
    table = document.get("telemetry", {})
    if not isinstance(table, dict):
        return ConfigError(origin, "telemetry", "not a table", "a [telemetry] table")
    return table


def _same_file(first: str, second: str) -> bool:
    try:
        return os.path.samefile(first, second)
    except OSError:
        return False
