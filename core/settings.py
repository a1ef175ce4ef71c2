"""Telemetry settings: parsing, validation, precedence and consent, as pure functions.

The adapters read the sources; this module decides. Each source has a speaker:

- the **user**: their environment variables, their user-level configuration file (which the
  ``enable`` and ``disable`` commands write) and ``DO_NOT_TRACK``;
- the **project**: a configuration file in the working directory, or named by a variable or by
  the host;
- the **host** (the tool's code): the arguments it gives ``build_client``.

Precedence is argument > environment > project file > user file > default, with two rules of
consent above it: an **opt-out from any speaker wins**, and an **opt-in** (``tools_over_privacy``,
or turning on telemetry that the tool has off by default) **counts only from the user**; a
project or a host can only turn things off. Every resolved setting remembers where it came from,
every opt-in that was ignored is kept with the reason, and an invalid configuration is an error
value that names the source, the key, what was wrong and what is accepted, never a secret.
"""

from __future__ import annotations

import enum
import itertools
import math
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Final, Generic, NamedTuple, TypeVar
from urllib.parse import urlsplit, urlunsplit

from returns.pipeline import is_successful
from returns.result import Failure, Result, Success

from .app import DEFAULT_APP, App

ENV_PREFIX: Final = DEFAULT_APP.env_prefix
"""CodeWeaver's variables are this prefix and the key in upper case (note the double ``__``);
another tool's are its own (:attr:`App.env_prefix`)."""

DO_NOT_TRACK: Final = "DO_NOT_TRACK"
"""The global opt-out (https://consoledonottrack.com), no tool's own."""

DEFAULT_HOST: Final = "https://us.i.posthog.com"

POSTHOG_EXTRA_MISSING: Final = (
    'the posthog extra is not installed (pip install "codeweaver-telemetry[posthog]")'
)

_TRUE: Final = frozenset({"true", "1", "yes", "on"})
_FALSE: Final = frozenset({"false", "0", "no", "off"})

_T = TypeVar("_T")

# The records here are NamedTuples, not frozen dataclasses: this module loads at the host's
# start-up, and creating a NamedTuple class costs about a fifth of a frozen dataclass.


class Speaker(enum.Enum):
    """Whose word a value is."""

    DEFAULT = "the tool's default"
    USER = "the user"
    PROJECT = "the project"
    HOST = "the host"


class Source(enum.Enum):
    """Where a setting's value came from, in increasing precedence."""

    DEFAULT = "default"
    USER_FILE = "user file"
    PROJECT_FILE = "project file"
    ENVIRONMENT = "environment"
    ARGUMENT = "argument"

    @property
    def speaker(self) -> Speaker:
        """Who speaks through this source."""
        return _SPEAKERS[self]


_SPEAKERS: Final = {
    Source.DEFAULT: Speaker.DEFAULT,
    Source.USER_FILE: Speaker.USER,
    Source.PROJECT_FILE: Speaker.PROJECT,
    Source.ENVIRONMENT: Speaker.USER,
    Source.ARGUMENT: Speaker.HOST,
}


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

    @property
    def speaker(self) -> Speaker:
        """Whose word this is."""
        return self.source.speaker

    @property
    def who(self) -> str:
        """Who said it and through what: ``the user (environment DO_NOT_TRACK)``."""
        if self.source is Source.DEFAULT:
            return self.speaker.value
        label = (
            "file" if self.source in (Source.USER_FILE, Source.PROJECT_FILE) else self.source.value
        )
        through = f"{label} {self.where}" if self.where else label
        return f"{self.speaker.value} ({through})"


class Setting(NamedTuple, Generic[_T]):
    """A resolved value and where it came from."""

    value: _T
    origin: Origin


class Secret:
    """A value that is used but never shown: ``str``, ``repr`` and formatting give its masked
    form, so a log line, a traceback or ``repr(settings)`` cannot reveal it."""

    __slots__ = ("_text", "masked")

    def __init__(self, text: str, masked: str) -> None:
        self._text = text
        self.masked = masked
        """What may be shown instead."""

    def reveal(self) -> str:
        """The value itself, for the one place that sends it."""
        return self._text

    def __str__(self) -> str:
        return self.masked

    def __repr__(self) -> str:
        return repr(self.masked)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._text == self._text

    def __hash__(self) -> int:
        return hash(self._text)


def masked_api_key(key: str) -> str:
    """A project key's prefix and, for a key long enough to keep the rest secret, its last four.

    >>> masked_api_key("phc_0123456789abcdefWXYZ"), masked_api_key("phc_short")
    ('phc_…WXYZ', 'phc_…')
    """
    underscore = key.find("_", 0, 8)
    prefix = key[: underscore + 1] if underscore >= 0 else ""
    return f"{prefix}…{key[-4:]}" if len(key) >= 16 else f"{prefix}…"


def masked_url(url: str) -> str:
    """A URL without its credentials or query: ``https://user:***@proxy/``.

    >>> masked_url("https://alice:hunter2@proxy.example:8080/ingest?token=abc")
    'https://alice:***@proxy.example:8080/ingest?***'
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(an unreadable URL)"
    credentials, at, address = parts.netloc.rpartition("@")
    if at:
        user, colon, _ = credentials.partition(":")
        address = f"{user}:***@{address}" if colon else f"***@{address}"
    query = "***" if parts.query else ""
    fragment = "***" if parts.fragment else ""
    return urlunsplit((parts.scheme, address, parts.path, query, fragment))


class ConfigError(NamedTuple):
    """One clear message about a bad value: source, key, problem, what is accepted."""

    origin: Origin
    key: str
    problem: str
    accepted: str

    def __str__(self) -> str:
        return f"{self.origin}: {self.key}: {self.problem}; accepted: {self.accepted}"


class IgnoredOptIn(NamedTuple):
    """An opt-in that did not count, and why."""

    key: str
    origin: Origin
    reason: str

    def __str__(self) -> str:
        return f"{self.key} from {self.origin.who}: {self.reason}"


class RawSources(NamedTuple):
    """Everything the adapters read, before any decision.

    A file's table is its ``[telemetry]`` table, or None when there is no such file.
    """

    arguments: Mapping[str, object]
    environment: Mapping[str, str]
    project_file_table: Mapping[str, object] | None = None
    project_file_path: str = ""
    posthog_installed: bool = False
    user_file_table: Mapping[str, object] | None = None
    user_file_path: str = ""
    app: App = DEFAULT_APP


class TelemetrySettings(NamedTuple):
    """The resolved configuration; ``enabled`` and ``deciding`` say whether telemetry is on and
    which source decided it, ``ignored`` which opt-ins did not count."""

    disable_telemetry: Setting[bool]
    tools_over_privacy: Setting[bool]
    posthog_api_key: Setting[Secret | None]
    posthog_host: Setting[Secret]
    batch_size: Setting[int]
    batch_interval_seconds: Setting[float]
    sink: Setting[SinkName]
    stdout_target: Setting[str]
    shutdown_budget_seconds: Setting[float]
    flag_budget_seconds: Setting[float]
    max_buffered_events: Setting[int]
    flag_overrides: Setting[Mapping[str, str | bool]]
    require_notice: Setting[bool]
    debug: Setting[bool]
    do_not_track: Setting[bool]
    enabled: bool
    deciding: Origin
    ignored: tuple[IgnoredOptIn, ...] = ()
    posthog_installed: bool = False
    app: App = DEFAULT_APP

    def settings(self) -> dict[str, Setting[object]]:
        """Every setting by key, in declaration order (for ``status``)."""
        return {key: getattr(self, key) for key in KEYS}


class KeySpec(NamedTuple):
    """One configuration key: how to parse it, its default, what it means.

    ``restrictive`` is set for a key of consent: the value that shares less, which any speaker
    may choose and which wins; its other value counts only from the user. A ``destination``
    key says where events go: a project (a cloned repository's file) cannot choose it, or it
    could send a user's events to a server of its own, or append them to any file. A
    ``project_may_lower`` key (a wait, a buffer) a project may lower but not raise past its
    default: a cloned repository must not make its user's tool wait minutes at exit.
    """

    parse: Callable[[object], object]
    default: object
    accepted: str
    description: str
    restrictive: bool | None = None
    destination: bool = False
    project_may_lower: bool = False


class _Rejected(ValueError):
    """A raw value does not parse; the message says what is wrong, never the value."""


MAX_TEXT_CHARS: Final = 4096
"""The longest text a setting takes (a path, a URL, a key); a longer one is refused by its
length, before it is read."""

MAX_NUMBER_CHARS: Final = 64
"""The longest text read as a number or a boolean."""

MAX_WHOLE_NUMBER: Final = 2**63 - 1
"""The largest whole number a setting takes (a count the sink keeps in a machine word)."""

MAX_FLAG_OVERRIDES: Final = 1000
"""The most local flag values; more are refused (an endless mapping is not read for ever)."""

MAX_FLAG_OVERRIDES_CHARS: Final = 65_536
"""The longest ``name=value,...`` text of local flag values."""


def _plain_text(raw: str, max_chars: int = MAX_TEXT_CHARS) -> str:
    """``raw``'s text as a plain ``str`` (a subclass's own methods are never called), or
    _Rejected when it is longer than ``max_chars``; its length is measured before it is read."""
    if str.__len__(raw) > max_chars:
        raise _Rejected(f"longer than {max_chars:,} characters")
    return raw if type(raw) is str else "".join([raw])


def parse_bool(raw: object) -> bool:
    """``true/false/1/0/yes/no/on/off`` in any case, or a real bool."""
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str):
        word = _plain_text(raw, MAX_NUMBER_CHARS).strip().lower()
        if word in _TRUE | _FALSE:
            return word in _TRUE
    raise _Rejected("not a boolean")


def _positive_int(raw: object) -> int:
    # A host's int subclass is read as the int it is: its methods, which may say anything or
    # raise (a comparison, __index__), never reach the comparisons here or the sink later.
    if isinstance(raw, bool):
        raise _Rejected("not a whole number")
    if isinstance(raw, str):
        text = _plain_text(raw, MAX_NUMBER_CHARS).strip()
        try:
            number = int(text)
        except ValueError:
            raise _Rejected("not a whole number") from None
    elif isinstance(raw, int):
        number = int.__int__(raw)
    else:
        raise _Rejected("not a whole number of at least 1")
    if number < 1:
        raise _Rejected("not a whole number of at least 1")
    if number > MAX_WHOLE_NUMBER:
        raise _Rejected(f"larger than {MAX_WHOLE_NUMBER:,}")
    return number


def _positive_seconds(raw: object) -> float:
    if isinstance(raw, bool):
        raise _Rejected("not a number of seconds")
    text = _plain_text(raw, MAX_NUMBER_CHARS) if isinstance(raw, str) else None
    try:
        if text is not None:
            number = float(text.strip())
        elif isinstance(raw, int):
            number = float(int.__int__(raw))  # 10**400 does not fit a float: OverflowError
        elif isinstance(raw, float):
            number = float.__float__(raw)
        else:
            number = float(raw)  # type: ignore[arg-type]
    except Exception:  # noqa: BLE001 - a host's number type may raise anything
        raise _Rejected("not a number of seconds") from None
    if not math.isfinite(number) or number <= 0:
        raise _Rejected("not a positive number of seconds")
    return number


def _text(raw: object) -> str:
    if not isinstance(raw, str):
        raise _Rejected("empty or not text")
    text = _plain_text(raw).strip()
    if not text:
        raise _Rejected("empty or not text")
    return text


def _api_key(raw: object) -> Secret | None:
    if raw is None:
        return None
    key = _text(raw)
    return Secret(key, masked_api_key(key))


def _host(raw: object) -> Secret:
    text = _text(raw).rstrip("/")
    if not text.startswith(("https://", "http://")):
        raise _Rejected("not an http(s) URL")
    if "?" in text or "#" in text:
        raise _Rejected("a URL with a query or a fragment (the batch path goes after it)")
    return Secret(text, masked_url(text))


def _sink(raw: object) -> SinkName:
    name = _text(raw).lower()
    try:
        return SinkName(name)
    except ValueError:
        raise _Rejected("not a known sink") from None


def _flag_overrides(raw: object) -> Mapping[str, str | bool]:
    """``name=value,name=true`` from a variable, or a TOML table of names to values."""
    if isinstance(raw, str):
        text = _plain_text(raw, MAX_FLAG_OVERRIDES_CHARS)
        pairs = [item.partition("=") for item in text.split(",") if item.strip()]
        if any(not separator or not name.strip() for name, separator, _ in pairs):
            raise _Rejected("not a list of name=value pairs")
        raw = {name.strip(): value.strip() for name, _, value in pairs}
    if not isinstance(raw, Mapping):
        raise _Rejected("not a table of flag names to values")
    items = list(itertools.islice(raw.items(), MAX_FLAG_OVERRIDES + 1))
    if len(items) > MAX_FLAG_OVERRIDES:
        raise _Rejected(f"more than {MAX_FLAG_OVERRIDES:,} flag overrides")
    overrides: dict[str, str | bool] = {}
    for name, value in items:
        if not isinstance(name, str) or not isinstance(value, str | bool):
            raise _Rejected("a flag override is not a name with a text or boolean value")
        if isinstance(value, bool):
            overrides[_plain_text(name)] = value
            continue
        text = _plain_text(value)
        lowered = text.lower()
        overrides[_plain_text(name)] = lowered in _TRUE if lowered in _TRUE | _FALSE else text
    return overrides


_BOOLEANS: Final = "true/false, 1/0, yes/no, on/off (any case)"

KEYS: Final[Mapping[str, KeySpec]] = {
    "disable_telemetry": KeySpec(
        parse_bool, False, _BOOLEANS, "Turn all telemetry off.", restrictive=True
    ),
    "tools_over_privacy": KeySpec(
        parse_bool,
        False,
        _BOOLEANS,
        "Opt in to query statistics and guarded query text (counts only from the user).",
        restrictive=False,
    ),
    "posthog_api_key": KeySpec(
        _api_key,
        None,
        "a PostHog project key",
        "PostHog project API key (never shown).",
        destination=True,
    ),
    "posthog_host": KeySpec(
        _host,
        _host(DEFAULT_HOST),
        "an http(s) URL",
        "PostHog host (credentials never shown).",
        destination=True,
    ),
    "batch_size": KeySpec(
        _positive_int,
        10,
        "a whole number >= 1",
        "Events that make a request due (it carries what waits, up to 100, or batch_size).",
    ),
    "batch_interval_seconds": KeySpec(
        _positive_seconds, 60.0, "seconds > 0", "Longest wait before a partial batch is sent."
    ),
    "sink": KeySpec(_sink, None, "posthog, stdout, null", "Where events go.", destination=True),
    "stdout_target": KeySpec(
        _text,
        "stdout",
        "stdout, stderr or a file path",
        "Where the stdout sink writes.",
        destination=True,
    ),
    "shutdown_budget_seconds": KeySpec(
        _positive_seconds,
        2.0,
        "seconds > 0",
        "Longest total wait at session end and exit.",
        project_may_lower=True,
    ),
    "flag_budget_seconds": KeySpec(
        _positive_seconds,
        0.5,
        "seconds > 0",
        "Longest wait for feature flags.",
        project_may_lower=True,
    ),
    "max_buffered_events": KeySpec(
        _positive_int,
        25_000,
        "a whole number >= 1",
        "Events kept while the host is down.",
        project_may_lower=True,
    ),
    "flag_overrides": KeySpec(
        _flag_overrides, {}, "name=value pairs, or a table", "Local feature-flag values."
    ),
    "require_notice": KeySpec(
        parse_bool,
        False,
        _BOOLEANS,
        "Send nothing before the first-run notice has been shown once.",
        restrictive=True,
    ),
    "debug": KeySpec(
        parse_bool,
        False,
        _BOOLEANS,
        "Print each event to standard error as it would be sent, and send nothing.",
        restrictive=True,
    ),
}
"""Every key, as it is spelled in a TOML ``[telemetry]`` table (upper case after the prefix
in the environment)."""

ALIASES: Final[Mapping[str, str]] = {
    "tools_above_privacy": "tools_over_privacy",
    "posthog_project_key": "posthog_api_key",
}
"""CodeWeaver's own names for two keys, accepted wherever a key is (file, variable, argument)."""

_Layer = tuple[Origin, Mapping[str, object]]


def resolve_settings(raw: RawSources) -> Result[TelemetrySettings, ConfigError]:
    """Decide every setting from the raw sources; the first bad value is the error.

    >>> settings = resolve_settings(RawSources(arguments={}, environment={"DO_NOT_TRACK": "1"}))
    >>> settings.unwrap().enabled, settings.unwrap().deciding.who
    (False, 'the user (environment DO_NOT_TRACK)')
    """
    layers: list[_Layer] = []
    for table, origin in (
        (raw.user_file_table, Origin(Source.USER_FILE, raw.user_file_path)),
        (raw.project_file_table, Origin(Source.PROJECT_FILE, raw.project_file_path)),
    ):
        if table is not None:
            canonical = _canonical_layer(table, origin, "unknown key in [telemetry]")
            if not is_successful(canonical):
                return Failure(canonical.failure())
            layers.append((origin, canonical.unwrap()))
    environment = _environment_layers(raw.environment, raw.app)
    if not is_successful(environment):
        return Failure(environment.failure())
    layers.extend(environment.unwrap())
    arguments = _canonical_layer(raw.arguments, Origin(Source.ARGUMENT), "unknown key")
    if not is_successful(arguments):
        return Failure(arguments.failure())
    layers.append((Origin(Source.ARGUMENT), arguments.unwrap()))
    do_not_track = _do_not_track(raw.environment)
    if do_not_track.value:
        layers.append((do_not_track.origin, {"disable_telemetry": True}))
    resolved: dict[str, Setting[object]] = {}
    ignored: list[IgnoredOptIn] = []
    for key, spec in KEYS.items():
        said: list[tuple[Origin, object]] = []
        for origin, layer in layers:
            if key in layer:
                try:
                    said.append((origin, spec.parse(layer[key])))
                except _Rejected as rejected:
                    return Failure(ConfigError(origin, key, str(rejected), spec.accepted))
                except Exception as error:  # noqa: BLE001 - a file's value may be anything at all
                    problem = f"cannot be read ({type(error).__name__})"
                    return Failure(ConfigError(origin, key, problem, spec.accepted))
        if spec.destination or spec.project_may_lower:
            refused = [
                origin
                for origin, value in said
                if origin.speaker is Speaker.PROJECT and (spec.destination or value > spec.default)  # type: ignore[operator]
            ]
            reason = (
                "a project's file cannot choose where events go"
                if spec.destination
                else "a project's file can lower it, not raise it past its default"
            )
            ignored.extend(IgnoredOptIn(key, origin, reason) for origin in refused)
            said = [(origin, value) for origin, value in said if origin not in refused]
        default = (not raw.app.on_by_default) if key == "disable_telemetry" else spec.default
        if spec.restrictive is None:
            resolved[key] = Setting(said[-1][1], said[-1][0]) if said else _default(default)
        else:
            resolved[key], ignored_here = _consented(key, spec.restrictive, default, said)
            ignored.extend(ignored_here)
    return Success(_decided(resolved, do_not_track, tuple(ignored), raw))


def _consented(
    key: str, restrictive: bool, default: object, said: Iterable[tuple[Origin, object]]
) -> tuple[Setting[object], list[IgnoredOptIn]]:
    """A key of consent: any speaker's restrictive value wins; the other value, where it is not
    the default (an opt-in), counts only from the user."""
    opt_outs = [origin for origin, value in said if value == restrictive]
    opt_ins = [origin for origin, value in said if value not in (restrictive, default)]
    if opt_outs:
        # The user's own word first, when they said off too: it is theirs to undo.
        by_user = [origin for origin in opt_outs if origin.speaker is Speaker.USER]
        winner = (by_user or opt_outs)[0]
        reason = f"an opt-out wins, and {winner.who} said {str(restrictive).lower()}"
        return Setting(restrictive, winner), [IgnoredOptIn(key, o, reason) for o in opt_ins]
    from_user = [origin for origin in opt_ins if origin.speaker is Speaker.USER]
    ignored = [
        IgnoredOptIn(
            key, origin, f"only the user can opt in; {origin.speaker.value} can only turn it off"
        )
        for origin in opt_ins
        if origin.speaker is not Speaker.USER
    ]
    if from_user:
        return Setting(not restrictive, from_user[-1]), ignored
    agreeing = [origin for origin, value in said if value == default]
    return (Setting(default, agreeing[-1]) if agreeing else _default(default)), ignored


def _default(value: object) -> Setting[object]:
    return Setting(value, Origin(Source.DEFAULT))


def _decided(
    resolved: dict[str, Setting[object]],
    do_not_track: Setting[bool],
    ignored: tuple[IgnoredOptIn, ...],
    raw: RawSources,
) -> TelemetrySettings:
    debug = resolved["debug"]
    if debug.value:
        # Debugging prints each event as it would be sent, and sends nothing.
        resolved["sink"] = Setting(SinkName.STDOUT, debug.origin)
        resolved["stdout_target"] = Setting("stderr", debug.origin)
    elif resolved["sink"].value is None:
        key = resolved["posthog_api_key"]
        chosen = SinkName.POSTHOG if key.value and raw.posthog_installed else SinkName.NULL
        resolved["sink"] = _default(chosen)
    return TelemetrySettings(
        **resolved,  # type: ignore[arg-type]
        do_not_track=do_not_track,
        enabled=not resolved["disable_telemetry"].value,
        deciding=resolved["disable_telemetry"].origin,
        ignored=ignored,
        posthog_installed=raw.posthog_installed,
        app=raw.app,
    )


def verdict(settings: TelemetrySettings, *, notice_shown: bool = True) -> str:
    """One true sentence: whether telemetry is on, and whether anything is actually sent.

    >>> verdict(resolve_settings(RawSources(arguments={}, environment={})).unwrap())
    'on, but nothing is sent: no API key configured'
    """
    if not settings.enabled:
        return f"off: {settings.deciding.who} said so"
    if settings.require_notice.value and not notice_shown:
        return "on, but nothing is sent: the first-run notice has not been shown yet"
    sink = settings.sink
    if settings.debug.value:
        return "on, debugging: each event is printed to standard error, and nothing is sent"
    if sink.value is SinkName.STDOUT:
        return f"on: events are printed to {settings.stdout_target.value}, and nothing is sent"
    if sink.value is SinkName.NULL and sink.origin.source is not Source.DEFAULT:
        return f"on, but nothing is sent: {sink.origin.who} chose the null sink"
    if settings.posthog_api_key.value is None:
        return "on, but nothing is sent: no API key configured"
    if not settings.posthog_installed:
        return f"on, but nothing is sent: {POSTHOG_EXTRA_MISSING}"
    return f"on: sending to {settings.posthog_host.value}"


def _canonical_layer(
    table: Mapping[str, object], origin: Origin, problem: str
) -> Result[Mapping[str, object], ConfigError]:
    layer: dict[str, object] = {}
    for key, value in table.items():
        name = ALIASES.get(key, key)
        if name not in KEYS:
            return Failure(ConfigError(origin, str(key), problem, _known()))
        layer[name] = value
    return Success(layer)


def _environment_layers(
    environment: Mapping[str, str], app: App
) -> Result[list[_Layer], ConfigError]:
    """One layer per variable of the app's prefix (and its API key variable), in key order.

    A misspelt variable would otherwise be ignored: a typo in DISABLE_TELEMETRY would leave
    telemetry on. It fails closed instead.
    """
    prefix = app.env_prefix
    # Per key, in increasing precedence: the app's API key variable, an alias, the key's own.
    ranked: list[tuple[int, int, str, str]] = []
    if app.api_key_variable in environment:
        ranked.append(
            (list(KEYS).index("posthog_api_key"), 0, app.api_key_variable, "posthog_api_key")
        )
    near_miss = re.compile(rf"{re.escape(app.variable_stem)}_+TELEMETRY_+", re.IGNORECASE)
    exempt = {app.config_file_variable, app.api_key_variable}
    for variable in environment:
        if variable.upper().startswith(prefix):
            suffix = variable[len(prefix) :].lower()
            key = ALIASES.get(suffix, suffix)
            if key not in KEYS:
                origin = Origin(Source.ENVIRONMENT, variable)
                return Failure(ConfigError(origin, variable, "unknown variable", _known()))
            ranked.append((list(KEYS).index(key), 2 if suffix == key else 1, variable, key))
        elif variable not in exempt and near_miss.match(variable):
            # CODEWEAVER__TELEMETRY_DISABLE_TELEMETRY: an opt-out would be lost. Fail closed.
            origin = Origin(Source.ENVIRONMENT, variable)
            problem = f"not a variable of this tool (they begin {prefix})"
            return Failure(ConfigError(origin, variable, problem, _known()))
    return Success(
        [
            (Origin(Source.ENVIRONMENT, variable), {key: environment[variable]})
            for _, _, variable, key in sorted(ranked)
        ]
    )


def _do_not_track(environment: Mapping[str, str]) -> Setting[bool]:
    """``DO_NOT_TRACK`` set to any true value (or any non-empty value but a false one)."""
    raw = environment.get(DO_NOT_TRACK, environment.get(DO_NOT_TRACK.lower()))
    if raw is None:
        return Setting(False, Origin(Source.DEFAULT))
    lowered = raw.strip().lower()
    return Setting(
        bool(lowered) and lowered not in _FALSE, Origin(Source.ENVIRONMENT, DO_NOT_TRACK)
    )


def _known() -> str:
    return ", ".join(KEYS)
