"""The ``codeweaver-telemetry`` command: demo, status, manifest, check.

Errors in arguments or configuration are one line on standard error and exit code 2; ``check``
exits 1 when a model leaks. Events go to standard output; summaries to standard error, so that
``demo`` output stays JSON lines.
"""

from __future__ import annotations

import argparse
import importlib
import io
import json
import os
import sys
from collections.abc import Sequence
from typing import Final, Never, TextIO

from returns.result import Success

from codeweaver_telemetry.core import PrivacyPolicy
from codeweaver_telemetry.core.event_schema import Property
from codeweaver_telemetry.core.search_event import SEARCH_SCHEMA
from codeweaver_telemetry.core.session_event import SESSION_SCHEMA
from codeweaver_telemetry.core.settings import (
    KEYS,
    RawSources,
    SinkName,
    TelemetrySettings,
    resolve_settings,
)
from codeweaver_telemetry.core.wire import is_digest

from .client import TelemetryClient
from .config import load_config
from .directories import user_state_directory
from .identity import KEY_FILE_NAME, sensitive_literals
from .library import LIBRARY_PROPERTIES
from .local_sinks import StdoutSink
from .registry import build_client
from .simulation import session_statistics, simulated_searches

EVENT_SCHEMAS: Final = (SEARCH_SCHEMA, SESSION_SCHEMA)
"""The library's own events, as the manifest lists them."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; the return value is the process's exit code."""
    parser = _parser()
    arguments = parser.parse_args(argv)
    command: int = arguments.run(arguments)
    return command


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="codeweaver-telemetry",
        description="Privacy-preserving telemetry: see what is sent, whether it is on, and why.",
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    demo = commands.add_parser("demo", help="simulate a code-search session and show its events")
    demo.add_argument("--searches", type=_positive, default=8, help="searches to simulate")
    demo.add_argument("--seed", type=int, default=7, help="the same seed gives the same session")
    demo.add_argument(
        "--tools-over-privacy", action="store_true", help="show what the user's opt-in adds"
    )
    demo.add_argument(
        "--sink",
        choices=("stdout", "posthog"),
        default="stdout",
        help="stdout (default) prints the events; posthog sends them for real",
    )
    demo.set_defaults(run=_demo)
    status = commands.add_parser("status", help="whether telemetry is on, and why")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(run=_status)
    manifest = commands.add_parser("manifest", help="every event and property that is sent")
    manifest.add_argument("--json", action="store_true", help="machine-readable output")
    manifest.set_defaults(run=_manifest)
    check = commands.add_parser("check", help="prove a model class never leaks (for CI)")
    check.add_argument("target", metavar="MODULE:CLASS", help="for example myapp.models:Search")
    check.add_argument("--examples", type=_positive, default=100, help="Hypothesis examples")
    check.set_defaults(run=_check)
    return parser


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


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
    if arguments.sink == "posthog":
        client = build_client()
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
        deciding = settings.deciding if settings else "the configuration"
        return f"telemetry is off ({deciding}); nothing was sent"
    if settings.sink.value is not SinkName.POSTHOG:
        return "no PostHog key is configured (CODEWEAVER__TELEMETRY__POSTHOG_API_KEY)"
    return ""


def _run_session(client: TelemetryClient, arguments: argparse.Namespace) -> None:
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


# --- status ---------------------------------------------------------------------------------


def _status(arguments: argparse.Namespace) -> int:
    loaded = load_config()
    state_directory = user_state_directory()
    key_path = os.path.join(state_directory, KEY_FILE_NAME) if state_directory else None
    do_not_track = os.environ.get("DO_NOT_TRACK")
    if not isinstance(loaded.settings, Success):
        error = str(loaded.settings.failure())
        if arguments.json:
            print(
                json.dumps({"enabled": False, "deciding": "invalid configuration", "error": error})
            )
        else:
            print("telemetry: off (invalid configuration; it stays off until this is fixed)")
            print(f"error: {error}")
        return 2
    settings = loaded.settings.unwrap()
    config_file = str(loaded.file_path or "")
    report = _status_report(settings, config_file, str(key_path or ""), do_not_track)
    if arguments.json:
        print(json.dumps(report, indent=2))
        return 0
    state = "on" if settings.enabled else "off"
    print(f"telemetry: {state} (decided by {settings.deciding})")
    for key, entry in report["settings"].items():  # type: ignore[attr-defined]
        print(f"  {key:<24} {entry['value']!s:<28} {entry['origin']}")
    print(f"configuration file: {report['config_file'] or 'none found'}")
    print(f"DO_NOT_TRACK: {do_not_track if do_not_track is not None else 'unset'}")
    if key_path is None:
        print("hash key: none stored (no home directory); each process uses its own")
    else:
        exists = "exists" if os.path.exists(key_path) else "not created yet"
        print(f"hash key: {key_path} ({exists}; the key itself is never shown or sent)")
    return 0


def _status_report(
    settings: TelemetrySettings, config_file: str, key_path: str, do_not_track: str | None
) -> dict[str, object]:
    entries: dict[str, object] = {}
    for key, setting in settings.settings().items():
        value = setting.value
        if KEYS[key].secret and value:
            value = f"{str(value)[:4]}…(masked)"
        elif hasattr(value, "value"):
            value = value.value  # an enum
        entries[key] = {
            "value": value,
            "source": setting.origin.source.value,
            "where": setting.origin.where,
            "origin": str(setting.origin),
        }
    return {
        "enabled": settings.enabled,
        "deciding": {"source": settings.deciding.source.value, "where": settings.deciding.where},
        "settings": entries,
        "config_file": config_file,
        "do_not_track": do_not_track,
        "hash_key_path": key_path,
    }


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
        lines.append(
            f"| `{spec.name}` | {spec.json_type} | {conversion} | {opt_in} | {spec.description} |"
        )
    return lines


def _manifest(arguments: argparse.Namespace) -> int:
    if arguments.json:
        print(json.dumps(manifest_json(), indent=2))
    else:
        print(manifest_markdown(), end="")
    return 0


# --- check ----------------------------------------------------------------------------------


def _check(arguments: argparse.Namespace) -> int:
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
    except (ImportError, AttributeError) as error:
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
