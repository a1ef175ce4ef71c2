"""Telemetry settings: parsing, validation and precedence, as pure functions over raw sources.

The adapters read the sources (arguments, environment variables, a TOML ``[telemetry]``
table, ``DO_NOT_TRACK``); this module decides. Precedence is argument > environment > file >
default, except that an opt-out from any source wins over an opt-in from any other. Every
resolved setting remembers where it came from, and an invalid configuration is an error value
that names the source, the key, what was wrong and what is accepted, never a secret.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Mapping
from typing import Final, Generic, NamedTuple, TypeVar

from returns.result import Failure, Result, Success

ENV_PREFIX: Final = "CODEWEAVER__TELEMETRY__"
"""Environment variables are this prefix and the key in upper case (note the double ``__``)."""

LEGACY_API_KEY_VARIABLE: Final = "CODEWEAVER_POSTHOG_API_KEY"
"""Also accepted for the PostHog project key, as CodeWeaver documents it."""

DEFAULT_HOST: Final = "https://us.i.posthog.com"

_TRUE: Final = frozenset({"true", "1", "yes", "on"})
_FALSE: Final = frozenset({"false", "0", "no", "off"})

_T = TypeVar("_T")

# The records here are NamedTuples, not frozen dataclasses: this module loads at the host's
# start-up, and creating a NamedTuple class costs about a fifth of a frozen dataclass.


class Source(enum.Enum):
    """Where a setting's value came from, in increasing precedence."""

    DEFAULT = "default"
    FILE = "file"
    ENVIRONMENT = "environment"
    ARGUMENT = "argument"


class SinkName(enum.Enum):
    """Where events go."""

    POSTHOG = "posthog"
    STDOUT = "stdout"
    NULL = "null"


class Origin(NamedTuple):
    """A setting's source and, for files and variables, which one (``where``)."""

    source: Source
    where: str = ""

    def __str__(self) -> str:
        return f"{self.source.value} ({self.where})" if self.where else self.source.value


class Setting(NamedTuple, Generic[_T]):
    """A resolved value and where it came from."""

    value: _T
    origin: Origin


class ConfigError(NamedTuple):
    """One clear message about a bad value: source, key, problem, what is accepted."""

    origin: Origin
    key: str
    problem: str
    accepted: str

    def __str__(self) -> str:
        return f"{self.origin}: {self.key}: {self.problem}; accepted: {self.accepted}"


class RawSources(NamedTuple):
    """Everything the adapters read, before any decision.

    ``file_table`` is the ``[telemetry]`` table of ``file_path``, or None when no file was found.
    """

    arguments: Mapping[str, object]
    environment: Mapping[str, str]
    file_table: Mapping[str, object] | None = None
    file_path: str = ""
    posthog_installed: bool = False


class TelemetrySettings(NamedTuple):
    """The resolved configuration; ``enabled`` and ``deciding`` say whether telemetry is on and
    which source decided it."""

    disable_telemetry: Setting[bool]
    tools_over_privacy: Setting[bool]
    posthog_api_key: Setting[str | None]
    posthog_host: Setting[str]
    batch_size: Setting[int]
    batch_interval_seconds: Setting[float]
    sink: Setting[SinkName]
    stdout_target: Setting[str]
    shutdown_budget_seconds: Setting[float]
    flag_budget_seconds: Setting[float]
    max_buffered_events: Setting[int]
    flag_overrides: Setting[Mapping[str, str | bool]]
    do_not_track: Setting[bool]
    enabled: bool
    deciding: Origin

    def settings(self) -> dict[str, Setting[object]]:
        """Every setting by key, in declaration order (for ``status``)."""
        return {key: getattr(self, key) for key in KEYS}


class KeySpec(NamedTuple):
    """One configuration key: how to parse it, its default, what it means."""

    parse: Callable[[object], object]
    default: object
    accepted: str
    description: str
    secret: bool = False


class _Rejected(ValueError):
    """A raw value does not parse; the message says what is wrong, never the value."""


def parse_bool(raw: object) -> bool:
    """``true/false/1/0/yes/no/on/off`` in any case, or a real bool."""
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in _TRUE | _FALSE:
        return raw.strip().lower() in _TRUE
    raise _Rejected("not a boolean")


def _positive_int(raw: object) -> int:
    if isinstance(raw, bool):
        raise _Rejected("not a whole number")
    try:
        number = int(raw.strip()) if isinstance(raw, str) else raw
    except ValueError:
        raise _Rejected("not a whole number") from None
    if not isinstance(number, int) or number < 1:
        raise _Rejected("not a whole number of at least 1")
    return number


def _positive_seconds(raw: object) -> float:
    if isinstance(raw, bool):
        raise _Rejected("not a number of seconds")
    try:
        number = float(raw.strip()) if isinstance(raw, str) else float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise _Rejected("not a number of seconds") from None
    if not math.isfinite(number) or number <= 0:
        raise _Rejected("not a positive number of seconds")
    return number


def _text(raw: object) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise _Rejected("empty or not text")
    return raw.strip()


def _optional_text(raw: object) -> str | None:
    return _text(raw) if raw is not None else None


def _host(raw: object) -> str:
    text = _text(raw).rstrip("/")
    if not text.startswith(("https://", "http://")):
        raise _Rejected("not an http(s) URL")
    return text


def _sink(raw: object) -> SinkName:
    try:
        return SinkName(_text(raw).lower())
    except ValueError:
        raise _Rejected("not a known sink") from None


def _flag_overrides(raw: object) -> Mapping[str, str | bool]:
    """``name=value,name=true`` from a variable, or a TOML table of names to values."""
    if isinstance(raw, str):
        pairs = [item.partition("=") for item in raw.split(",") if item.strip()]
        if any(not separator or not name.strip() for name, separator, _ in pairs):
            raise _Rejected("not a list of name=value pairs")
        raw = {name.strip(): value.strip() for name, _, value in pairs}
    if not isinstance(raw, Mapping):
        raise _Rejected("not a table of flag names to values")
    overrides: dict[str, str | bool] = {}
    for name, value in raw.items():
        if not isinstance(name, str) or not isinstance(value, str | bool):
            raise _Rejected("a flag override is not a name with a text or boolean value")
        lowered = value.lower() if isinstance(value, str) else ""
        overrides[name] = lowered in _TRUE if lowered in _TRUE | _FALSE else value
    return overrides


_BOOLEANS: Final = "true/false, 1/0, yes/no, on/off (any case)"

KEYS: Final[Mapping[str, KeySpec]] = {
    "disable_telemetry": KeySpec(parse_bool, False, _BOOLEANS, "Turn all telemetry off."),
    "tools_over_privacy": KeySpec(
        parse_bool, False, _BOOLEANS, "Opt in to query statistics and guarded query text."
    ),
    "posthog_api_key": KeySpec(
        _optional_text, None, "a PostHog project key", "PostHog project API key.", secret=True
    ),
    "posthog_host": KeySpec(_host, DEFAULT_HOST, "an http(s) URL", "PostHog host."),
    "batch_size": KeySpec(_positive_int, 10, "a whole number >= 1", "Events per request."),
    "batch_interval_seconds": KeySpec(
        _positive_seconds, 60.0, "seconds > 0", "Longest wait before a partial batch is sent."
    ),
    "sink": KeySpec(_sink, None, "posthog, stdout, null", "Where events go."),
    "stdout_target": KeySpec(
        _text, "stdout", "stdout, stderr or a file path", "Where the stdout sink writes."
    ),
    "shutdown_budget_seconds": KeySpec(
        _positive_seconds, 2.0, "seconds > 0", "Longest total wait at session end and exit."
    ),
    "flag_budget_seconds": KeySpec(
        _positive_seconds, 0.5, "seconds > 0", "Longest wait for feature flags."
    ),
    "max_buffered_events": KeySpec(
        _positive_int, 25_000, "a whole number >= 1", "Events kept while the host is down."
    ),
    "flag_overrides": KeySpec(
        _flag_overrides, {}, "name=value pairs, or a table", "Local feature-flag values."
    ),
}
"""Every key, as it is spelled in a TOML ``[telemetry]`` table (upper case after the prefix
in the environment)."""

FILE_ALIASES: Final[Mapping[str, str]] = {"tools_above_privacy": "tools_over_privacy"}
"""Accepted in a file for compatibility with CodeWeaver's documentation."""


def resolve_settings(raw: RawSources) -> Result[TelemetrySettings, ConfigError]:
    """Decide every setting from the raw sources; the first bad value is the error.

    >>> settings = resolve_settings(RawSources(arguments={}, environment={"DO_NOT_TRACK": "1"}))
    >>> settings.unwrap().enabled, str(settings.unwrap().deciding)
    (False, 'environment (DO_NOT_TRACK)')
    """
    layers: list[tuple[Origin, Mapping[str, object]]] = []
    if raw.file_table is not None:
        table = _file_layer(raw.file_table, Origin(Source.FILE, raw.file_path))
        if isinstance(table, ConfigError):
            return Failure(table)
        layers.append((Origin(Source.FILE, raw.file_path), table))
    layers.extend(_environment_layers(raw.environment))
    layers.append((Origin(Source.ARGUMENT), raw.arguments))
    unknown = [key for key in raw.arguments if key not in KEYS]
    if unknown:
        return Failure(ConfigError(Origin(Source.ARGUMENT), unknown[0], "unknown key", _known()))
    # A misspelt variable would otherwise be ignored: a typo in DISABLE_TELEMETRY would leave
    # telemetry on. Fail closed instead.
    misspelt = sorted(
        name
        for name in raw.environment
        if name.startswith(ENV_PREFIX) and name[len(ENV_PREFIX) :].lower() not in KEYS
    )
    if misspelt:
        origin = Origin(Source.ENVIRONMENT, misspelt[0])
        return Failure(ConfigError(origin, misspelt[0], "unknown variable", _known()))
    resolved: dict[str, Setting[object]] = {}
    opt_outs: list[Origin] = []
    for key, spec in KEYS.items():
        setting: Setting[object] = Setting(spec.default, Origin(Source.DEFAULT))
        for origin, layer in layers:
            if key not in layer:
                continue
            try:
                value = spec.parse(layer[key])
            except _Rejected as rejected:
                return Failure(ConfigError(origin, key, str(rejected), spec.accepted))
            setting = Setting(value, origin)
            if key == "disable_telemetry" and value is True:
                opt_outs.append(origin)
        resolved[key] = setting
    do_not_track = _do_not_track(raw.environment)
    if do_not_track.value:
        opt_outs.append(do_not_track.origin)
    return Success(_decided(resolved, do_not_track, opt_outs, raw.posthog_installed))


def _decided(
    resolved: dict[str, Setting[object]],
    do_not_track: Setting[bool],
    opt_outs: list[Origin],
    posthog_installed: bool,
) -> TelemetrySettings:
    if opt_outs:
        # An opt-out from any source wins, whatever a higher-precedence source says.
        resolved["disable_telemetry"] = Setting(True, opt_outs[0])
    if resolved["sink"].value is None:
        key = resolved["posthog_api_key"]
        chosen = SinkName.POSTHOG if key.value and posthog_installed else SinkName.NULL
        resolved["sink"] = Setting(chosen, Origin(Source.DEFAULT))
    enabled = not resolved["disable_telemetry"].value
    deciding = resolved["disable_telemetry"].origin
    return TelemetrySettings(
        **resolved,  # type: ignore[arg-type]
        do_not_track=do_not_track,
        enabled=enabled,
        deciding=deciding,
    )


def _file_layer(table: Mapping[str, object], origin: Origin) -> Mapping[str, object] | ConfigError:
    layer: dict[str, object] = {}
    for key, value in table.items():
        name = FILE_ALIASES.get(key, key)
        if name not in KEYS:
            return ConfigError(origin, str(key), "unknown key in [telemetry]", _known())
        layer[name] = value
    return layer


def _environment_layers(
    environment: Mapping[str, str],
) -> list[tuple[Origin, Mapping[str, object]]]:
    layers: list[tuple[Origin, Mapping[str, object]]] = []
    if LEGACY_API_KEY_VARIABLE in environment:
        origin = Origin(Source.ENVIRONMENT, LEGACY_API_KEY_VARIABLE)
        layers.append((origin, {"posthog_api_key": environment[LEGACY_API_KEY_VARIABLE]}))
    for key in KEYS:
        variable = ENV_PREFIX + key.upper()
        if variable in environment:
            layers.append((Origin(Source.ENVIRONMENT, variable), {key: environment[variable]}))
    return layers


def _do_not_track(environment: Mapping[str, str]) -> Setting[bool]:
    """``DO_NOT_TRACK`` set to any true value (or any non-empty value but a false one)."""
    raw = environment.get("DO_NOT_TRACK")
    if raw is None:
        return Setting(False, Origin(Source.DEFAULT))
    lowered = raw.strip().lower()
    return Setting(
        bool(lowered) and lowered not in _FALSE, Origin(Source.ENVIRONMENT, "DO_NOT_TRACK")
    )


def _known() -> str:
    return ", ".join(KEYS)
