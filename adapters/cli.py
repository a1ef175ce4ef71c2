"""The ``codeweaver-telemetry`` command: demo, status, enable, disable, manifest, check.

Errors in arguments or configuration are one line on standard error and exit code 2; ``check``
exits 1 when a model leaks. Events go to standard output; summaries to standard error, so that
``demo`` output stays JSON lines. A closed pipe (``status | head -1``) ends a command quietly.

A host mounts ``status``, ``enable`` and ``disable`` under its own command line with
:func:`add_telemetry_commands`, or runs this whole command under its app's names with
``main(argv, app="mytool")``.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import importlib.util
import io
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Final, Never, NoReturn, TextIO

from returns.result import Success

from codeweaver_telemetry.core import PrivacyPolicy, __version__
from codeweaver_telemetry.core.app import APP_NAME_ACCEPTED, DEFAULT_APP, App
from codeweaver_telemetry.core.event_schema import Property
from codeweaver_telemetry.core.mcp_event import MCP_TOOL_CALL_SCHEMA
from codeweaver_telemetry.core.search_event import SEARCH_SCHEMA
from codeweaver_telemetry.core.session_event import SESSION_SCHEMA
from codeweaver_telemetry.core.settings import (
    DO_NOT_TRACK,
    RawSources,
    Secret,
    SinkName,
    TelemetrySettings,
    resolve_settings,
    verdict,
)
from codeweaver_telemetry.core.wire import is_digest

from .client import TelemetryClient
from .config import LoadedConfig, checked_app, load_config, user_config_file
from .directories import spool_directory, user_state_directory
from .identity import describe_key_file, sensitive_literals
from .library import LIBRARY_PROPERTIES
from .local_sinks import StdoutSink
from .notice import notice_was_shown
from .registry import build_client
from .simulation import session_statistics, simulated_searches
from .spool import Spool
from .user_config_file import write_user_settings

EVENT_SCHEMAS: Final = (SEARCH_SCHEMA, SESSION_SCHEMA, MCP_TOOL_CALL_SCHEMA)
"""The library's own events, as the manifest lists them."""

Command = Callable[[argparse.Namespace], int]


def main(argv: Sequence[str] | None = None, *, app: str | App = DEFAULT_APP) -> int:
    """Run one command; the return value is the process's exit code. ``app`` is the default
    of ``--app``: whose names (variables, files, key) the commands use."""
    name = app.name if isinstance(app, App) else str(app)
    prog = "codeweaver-telemetry" if name == DEFAULT_APP.name else f"{name} telemetry"
    arguments = _parser(prog, app).parse_args(argv)
    command: int = arguments.run(arguments)
    return command


def add_telemetry_commands(
    subparsers: argparse._SubParsersAction,  # type: ignore[type-arg]
    app: str | App = DEFAULT_APP,
    *,
    name: str = "telemetry",
) -> argparse.ArgumentParser:
    """Mount ``status``, ``enable`` and ``disable`` under a host's command line, as
    ``mytool telemetry status`` (``name`` is the group's name), using ``app``'s names.

    The parsed arguments carry ``run``, which runs the command and returns its exit code::

        commands = parser.add_subparsers()
        add_telemetry_commands(commands, app="mytool")
        arguments = parser.parse_args()
        sys.exit(arguments.run(arguments))
    """
    group: argparse.ArgumentParser = subparsers.add_parser(
        name,
        help="telemetry: whether it is on, and turning it on or off",
        description="Whether telemetry is on and why, and turning it on or off for you.",
    )
    group.set_defaults(telemetry_app=app)
    _add_consent_commands(group.add_subparsers(required=True, metavar="COMMAND"))
    return group


class _OneLineErrors(argparse.ArgumentParser):
    """Argument errors as one line naming what was wrong and where help is, exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _parser(prog: str, app: str | App) -> argparse.ArgumentParser:
    parser = _OneLineErrors(
        prog=prog,
        description="Privacy-preserving telemetry: see what is sent, whether it is on, and why.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--app",
        dest="telemetry_app",
        default=app,
        metavar="NAME",
        help="the tool whose telemetry settings to use (default: %(default)s)",
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    demo = _command(
        commands,
        "demo",
        "simulate a code-search session and show its events",
        "Simulate a code-search session and print each event exactly as PostHog would receive "
        "it, then a summary on standard error. Nothing leaves the machine on the stdout sink.",
        _demo,
    )
    demo.add_argument("--searches", type=_positive, default=8, help="searches to simulate")
    demo.add_argument("--seed", type=_whole, default=7, help="the same seed gives the same session")
    demo.add_argument(
        "--tools-over-privacy", action="store_true", help="show what the user's opt-in adds"
    )
    demo.add_argument(
        "--mcp",
        action="store_true",
        help="run a small MCP session in memory instead (needs the mcp extra)",
    )
    demo.add_argument(
        "--per-call",
        action="store_true",
        help="with --mcp: one event per tool call instead of the session's summary",
    )
    demo.add_argument(
        "--sink",
        choices=("stdout", "posthog"),
        default="stdout",
        help="stdout (default) prints the events; posthog sends them for real",
    )
    _add_consent_commands(commands)
    manifest = _command(
        commands,
        "manifest",
        "every event and property that is sent",
        "Print the inventory of every event and property that can be sent, as Markdown tables.",
        _manifest,
    )
    manifest.add_argument("--json", action="store_true", help="machine-readable output")
    check = _command(
        commands,
        "check",
        "prove a model class never leaks (for CI)",
        "Run the testing kit's leak proof against MODULE:CLASS (the working directory is on the "
        "import path, as with python -m); exit 1 naming each leaking field.",
        _check,
    )
    check.add_argument("target", metavar="MODULE:CLASS", help="for example myapp.models:Search")
    check.add_argument("--examples", type=_positive, default=100, help="Hypothesis examples")
    return parser


def _add_consent_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    status = _command(
        commands,
        "status",
        "whether telemetry is on, and why",
        "Say whether telemetry is on and whether anything is actually sent, each setting and "
        "who set it, any opt-in that was ignored and why, the files read, the hash key's state "
        "and how many undelivered events wait in the spool.",
        _status,
    )
    status.add_argument("--json", action="store_true", help="machine-readable output")
    enable = _command(
        commands,
        "enable",
        "turn telemetry on for you (your configuration file)",
        "Turn telemetry on in your user-level configuration file; with --tools-over-privacy, "
        "also opt in to query statistics. An opt-out elsewhere (DO_NOT_TRACK, a variable, a "
        "project file, the host) still wins.",
        _enable,
    )
    enable.add_argument(
        "--tools-over-privacy", action="store_true", help="also opt in to query statistics"
    )
    disable = _command(
        commands,
        "disable",
        "turn telemetry off for you (your configuration file)",
        "Turn telemetry off in your user-level configuration file, wherever you run the tool, "
        "and delete the events that wait undelivered in the spool; with --tools-over-privacy, "
        "withdraw only the opt-in to query statistics.",
        _disable,
    )
    disable.add_argument(
        "--tools-over-privacy",
        action="store_true",
        help="withdraw only the opt-in to query statistics",
    )


def _command(
    commands: argparse._SubParsersAction,  # type: ignore[type-arg]
    name: str,
    summary: str,
    description: str,
    run: Command,
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = commands.add_parser(
        name, help=summary, description=description
    )
    parser.set_defaults(run=_quiet_when_the_pipe_closes(run))
    return parser


def _silence_standard_output() -> None:
    """Python would report the failed flush at exit: point standard output at nothing."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, io.UnsupportedOperation):
        pass


def _quiet_when_the_pipe_closes(run: Command) -> Command:
    """A reader that stops early (``status | head -1``) ends the command quietly, exit 0."""

    @functools.wraps(run)
    def quiet(arguments: argparse.Namespace) -> int:
        try:
            code = run(arguments)
            sys.stdout.flush()
        except BrokenPipeError:
            _silence_standard_output()
            return 0
        except (OSError, ValueError) as error:  # a full disk, a closed standard output
            _silence_standard_output()
            reason = getattr(error, "strerror", None) or type(error).__name__
            print(f"codeweaver-telemetry: cannot write the output ({reason})", file=sys.stderr)
            return 1
        return code

    return quiet


def _positive(text: str) -> int:
    value = _whole(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def _app_of(arguments: argparse.Namespace) -> App | None:
    """The commands' app, or None (and the reason printed) when its name is not valid."""
    named = checked_app(getattr(arguments, "telemetry_app", DEFAULT_APP))
    if isinstance(named, Success):
        app: App = named.unwrap()
        return app
    print(f"error: {named.failure()}; accepted: {APP_NAME_ACCEPTED}", file=sys.stderr)
    return None


# --- demo -----------------------------------------------------------------------------------


class _CountingStream(io.TextIOBase):
    """Standard output that also counts what was written through it."""

    def __init__(self, target: TextIO) -> None:
        self._target = target
        self.lines: list[str] = []

    def write(self, text: str) -> int:
        self.lines.append(text)
        return self._target.write(text)

    def flush(self) -> None:
        self._target.flush()


def _demo(arguments: argparse.Namespace) -> int:
    if arguments.mcp and importlib.util.find_spec("mcp") is None:
        print(
            "codeweaver-telemetry: demo --mcp needs the MCP SDK: "
            'pip install "codeweaver-telemetry[mcp]"',
            file=sys.stderr,
        )
        return 2
    if arguments.sink == "posthog":
        client = build_client(app=arguments.telemetry_app)
        refusal = _posthog_refusal(client)
        if refusal:
            print(f"codeweaver-telemetry: {refusal}", file=sys.stderr)
            return 2
        stream = None
    else:
        # Nothing leaves the machine on the stdout sink, so the opt-out settings do not apply.
        stream = _CountingStream(sys.stdout)
        raw = RawSources(arguments={"sink": "stdout"}, environment={})
        policy = PrivacyPolicy(
            hash_key=os.urandom(32),
            tools_over_privacy=arguments.tools_over_privacy,
            sensitive_literals=sensitive_literals(),
        )
        client = TelemetryClient(
            resolve_settings(raw).unwrap(), policy=policy, sink=StdoutSink(stream=stream)
        )
    _run_session(client, arguments)
    report = client.shutdown(timeout=30 if arguments.sink == "posthog" else None)
    lines = stream.lines if stream is not None else []
    print(_summary(lines, client, report.delivered), file=sys.stderr)
    return 0


def _posthog_refusal(client: TelemetryClient) -> str:
    if client.config_error is not None:
        return f"invalid configuration: {client.config_error}"
    settings = client.settings
    if settings is None or not client.enabled:
        deciding = settings.deciding.who if settings else "the configuration"
        return f"telemetry is off ({deciding}); nothing was sent"
    if settings.sink.value is not SinkName.POSTHOG:
        return "no PostHog key is configured (CODEWEAVER__TELEMETRY__POSTHOG_API_KEY)"
    return ""


def _run_session(client: TelemetryClient, arguments: argparse.Namespace) -> None:
    if arguments.mcp:
        _run_mcp_session(client, per_call=arguments.per_call)
        return
    searches = list(simulated_searches(arguments.searches, arguments.seed))
    client.start_session({"version": "0.5.0", "backend": "qdrant", "demo": True})
    flags = {"new_reranker": "control"}
    for search in searches:
        with client.context(tool="find_code"):
            client.capture_search_event(
                search.response,
                query=search.query,
                intent_type=search.intent,
                strategies=search.strategies,
                execution_time_ms=search.execution_time_ms,
                feature_flags=flags,
            )
    duration = round(sum(search.execution_time_ms for search in searches) / 1000 + 30.0, 3)
    client.capture_session_event(
        session_statistics(searches, arguments.seed),
        version="0.5.0",
        setup_success=True,
        setup_attempts=1,
        config_errors=(),
        duration_seconds=duration,
    )


def _run_mcp_session(client: TelemetryClient, *, per_call: bool) -> None:
    from .mcp_demo import run_mcp_session  # noqa: PLC0415 - the mcp extra, on demand only

    client.start_session({"version": "0.5.0", "demo": True})
    run_mcp_session(client, per_call=per_call)
    client.end_session(version="0.5.0")


def _summary(lines: list[str], client: TelemetryClient, delivered: int) -> str:
    events = [json.loads(line) for line in "".join(lines).splitlines() if line.strip()]
    reports = [event["properties"]["privacy_filter"] for event in events]
    redacted = sum(report["redacted"] for report in reports)
    dropped = sum(report["dropped"] for report in reports)
    hashed = sum(
        1 for event in events for value in _strings(event["properties"]) if is_digest(value)
    )
    sent = (
        f"{len(events)} events, {sum(map(len, lines)):,} bytes"
        if events
        else (f"{delivered} events delivered")
    )
    return (
        f"# {sent}; {hashed} values hashed, {dropped} values dropped, {redacted} query words "
        f"redacted, {client.dropped} events dropped"
    )


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [text for item in value.values() for text in _strings(item)]
    if isinstance(value, list):
        return [text for item in value for text in _strings(item)]
    return []


# --- status, enable, disable ----------------------------------------------------------------


def _status(arguments: argparse.Namespace) -> int:
    app = _app_of(arguments)
    if app is None:
        return 2
    loaded = load_config(app=app)
    if not isinstance(loaded.settings, Success):
        error = str(loaded.settings.failure())
        if arguments.json:
            print(
                json.dumps(
                    {"enabled": False, "verdict": "off: invalid configuration", "error": error}
                )
            )
        else:
            print("telemetry: off: invalid configuration (it stays off until this is fixed)")
            print(f"error: {error}")
        return 2
    settings = loaded.settings.unwrap()
    report = status_report(settings, loaded)
    if arguments.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"telemetry: {report['verdict']}")
    for key, entry in report["settings"].items():  # type: ignore[attr-defined]
        print(f"  {key:<24} {entry['value']!s:<28} {entry['origin']}")
    for ignored in settings.ignored:
        print(f"ignored: {ignored}")
    user_file = report["user_config_file"] or "none (no home directory)"
    exists = "" if loaded.user_file else " (not created yet; enable and disable write it)"
    print(f"user configuration file: {user_file}{exists}")
    print(f"project configuration file: {report['project_config_file'] or 'none found'}")
    do_not_track = report["do_not_track"]
    print(f"{DO_NOT_TRACK}: {'unset' if do_not_track is None else do_not_track}")
    debugging = "on" if settings.debug.value else "off"
    print(
        f"debug: {debugging} ({app.env_prefix}DEBUG=1 prints each event to standard error, "
        "and sends nothing)"
    )
    shown = "shown" if report["notice_shown"] else "not shown yet"
    print(f"first-run notice: {shown}")
    print(f"hash key: {report['hash_key']}")
    print(f"spool: {_spool_line(report['spool'])}")  # type: ignore[arg-type]
    return 0


def _spool_line(spool: Mapping[str, object]) -> str:
    where = spool["directory"] or "none (no home directory)"
    waiting = spool["waiting"]
    if not waiting:
        return f"{where} (no undelivered events)"
    age = spool["oldest_age_seconds"]
    oldest = f", the oldest {_duration(age)} old" if isinstance(age, float) else ""
    return f"{where} ({waiting} undelivered events wait for the next run{oldest})"


def _duration(seconds: float) -> str:
    for unit, length in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if seconds >= length:
            return f"{seconds / length:.1f} {unit}"
    return f"{seconds:.0f} seconds"


def spool_report(app: App) -> dict[str, object]:
    """Where the app's undelivered events wait, how many and how old the oldest is (from the
    file names: nothing is read, nothing is created)."""
    directory = spool_directory(app)
    status = Spool(directory).status() if directory else None
    return {
        "directory": directory or "",
        "waiting": status.waiting if status else 0,
        "oldest_age_seconds": status.oldest_age_seconds if status else None,
    }


def status_report(settings: TelemetrySettings, loaded: LoadedConfig) -> dict[str, object]:
    """What ``status --json`` prints: every secret masked, the hash key never shown."""
    app = settings.app
    notice_shown = notice_was_shown(app)
    entries: dict[str, object] = {}
    for key, setting in settings.settings().items():
        entries[key] = {
            "value": _shown(setting.value),
            "source": setting.origin.source.value,
            "where": setting.origin.where,
            "speaker": setting.origin.speaker.name.lower(),
            "origin": setting.origin.who,
        }
    return {
        "app": app.name,
        "enabled": settings.enabled,
        "verdict": verdict(settings, notice_shown=notice_shown),
        "deciding": {
            "source": settings.deciding.source.value,
            "where": settings.deciding.where,
            "speaker": settings.deciding.speaker.name.lower(),
        },
        "settings": entries,
        "ignored": [
            {"key": ignored.key, "origin": ignored.origin.who, "reason": ignored.reason}
            for ignored in settings.ignored
        ],
        "user_config_file": user_config_file(app, os.environ) or "",
        "project_config_file": loaded.project_file or "",
        "do_not_track": os.environ.get(DO_NOT_TRACK),
        "notice_shown": notice_shown,
        "hash_key": describe_key_file(user_state_directory(app=app)),
        "spool": spool_report(app),
    }


def _shown(value: object) -> object:
    """A setting's value as status shows it: secrets masked, enums by value."""
    if isinstance(value, Secret):
        return value.masked
    if isinstance(value, SinkName):
        return value.value
    if isinstance(value, Mapping):
        return dict(value)
    return value


def _enable(arguments: argparse.Namespace) -> int:
    values = {"disable_telemetry": False}
    if arguments.tools_over_privacy:
        values["tools_over_privacy"] = True
    return _write(arguments, values)


def _disable(arguments: argparse.Namespace) -> int:
    if arguments.tools_over_privacy:
        return _write(arguments, {"tools_over_privacy": False})
    app = _app_of(arguments)
    if app is None:
        return 2
    # Even if the file cannot be written: what waits undelivered is not sent after an opt-out.
    _delete_spool(app)
    return _write(arguments, {"disable_telemetry": True})


def _delete_spool(app: App) -> None:
    directory = spool_directory(app)
    if directory is None:
        return
    spool = Spool(directory)
    waiting = spool.status().waiting
    spool.delete_all()
    if waiting:
        print(f"deleted {waiting} undelivered events waiting in {directory}")


def _write(arguments: argparse.Namespace, values: Mapping[str, bool]) -> int:
    """Write the user's settings, say what changed, then what is now true."""
    app = _app_of(arguments)
    if app is None:
        return 2
    written = write_user_settings(app, values)
    if not isinstance(written, Success):
        print(f"error: {written.failure()}", file=sys.stderr)
        return 2
    print(f"wrote {written.unwrap().path}")
    for change in written.unwrap().changes:
        print(f"  {change}")
    settings = load_config(app=app).settings
    if not isinstance(settings, Success):
        print(f"telemetry: off: invalid configuration: {settings.failure()}")
        return 2
    print(f"telemetry: {verdict(settings.unwrap(), notice_shown=notice_was_shown(app))}")
    for ignored in settings.unwrap().ignored:
        print(f"ignored: {ignored}")
    return 0


# --- manifest -------------------------------------------------------------------------------


def manifest_markdown() -> str:
    """The data inventory, generated from the event schemas (README's "What is sent")."""
    sections = ["### Every event", "", *_table(LIBRARY_PROPERTIES)]
    for schema in EVENT_SCHEMAS:
        sections += ["", f"### `{schema.event_name}`", "", *_table(schema.properties)]
    return "\n".join(sections) + "\n"


def manifest_json() -> dict[str, object]:
    """The same inventory as data."""

    def rows(specs: Sequence[Property[Never]]) -> list[dict[str, object]]:
        return [
            {
                "name": spec.name,
                "type": spec.json_type,
                "description": spec.description,
                "conversion": spec.conversion.name if spec.conversion else None,
                "opt_in_only": spec.opt_in,
            }
            for spec in specs
        ]

    return {
        "every_event": rows(LIBRARY_PROPERTIES),
        "events": {schema.event_name: rows(schema.properties) for schema in EVENT_SCHEMAS},
    }


def _table(specs: Sequence[Property[Never]]) -> list[str]:
    lines = ["| property | type | conversion | opt-in only | meaning |", "|---|---|---|---|---|"]
    for spec in specs:
        conversion = spec.conversion.name if spec.conversion else ""
        opt_in = "yes" if spec.opt_in else ""
        cells = (f"`{spec.name}`", spec.json_type, conversion, opt_in, spec.description)
        lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    return lines


def _cell(text: str) -> str:
    """A Markdown table cell: a ``|`` inside would end it."""
    return text.replace("|", "\\|")


def _manifest(arguments: argparse.Namespace) -> int:
    if arguments.json:
        print(json.dumps(manifest_json(), indent=2))
    else:
        print(manifest_markdown(), end="")
    return 0


# --- check ----------------------------------------------------------------------------------


def _check(arguments: argparse.Namespace) -> int:
    if os.getcwd() not in sys.path:  # as ``python -m`` does: the user's own modules import
        sys.path.insert(0, os.getcwd())
    module_name, _, class_name = arguments.target.partition(":")
    if not module_name or not class_name:
        print(
            "codeweaver-telemetry: check needs MODULE:CLASS, e.g. myapp.models:Search",
            file=sys.stderr,
        )
        return 2
    try:
        from codeweaver_telemetry.core.testing import (  # noqa: PLC0415
            NotSerializable,
            assert_never_leaks,
        )
    except ImportError:
        print(
            "codeweaver-telemetry: check needs Hypothesis: pip install "
            '"codeweaver-telemetry[testing]"',
            file=sys.stderr,
        )
        return 2
    try:
        model = getattr(importlib.import_module(module_name), class_name)
    except Exception as error:  # noqa: BLE001 - the module may raise anything, or not compile
        print(
            f"codeweaver-telemetry: cannot load {arguments.target} ({type(error).__name__})",
            file=sys.stderr,
        )
        return 2
    try:
        assert_never_leaks(model, max_examples=arguments.examples)
    except NotSerializable as failure:  # nothing of it would be sent: not "ok" either
        print(f"FAIL {str(failure).splitlines()[0]}")
        return 1
    except AssertionError as leak:
        print(f"LEAK {str(leak).splitlines()[0]}")
        return 1
    print(f"ok: no canary of {arguments.target} reached the output")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
