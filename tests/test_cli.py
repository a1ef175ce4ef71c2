"""The command line: demo, status, manifest, check, as a user runs them."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from fake_posthog import FakePostHog
from host_process import host_environment

from codeweaver_telemetry.adapters.cli import main, manifest_markdown
from codeweaver_telemetry.core import __version__

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("DO_NOT_TRACK", "POSTHOG_CAPTURE_MODE", "CODEWEAVER_POSTHOG_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    for name in list(__import__("os").environ):
        if name.startswith("CODEWEAVER__TELEMETRY__"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.chdir(tmp_path)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def demo_events(out: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.splitlines()]


def properties_of(event: dict[str, object]) -> dict[str, object]:
    properties = event["properties"]
    assert isinstance(properties, dict)
    return properties


def comparable(event: dict[str, object]) -> dict[str, object]:
    properties = dict(properties_of(event))
    properties.pop("$session_id")  # random per session, by design
    return {"event": event["event"], "properties": properties}


def test_demo_prints_one_event_per_line_and_a_summary(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "demo", "--searches", "5", "--seed", "3")
    events = demo_events(out)
    assert code == 0
    assert [event["event"] for event in events] == ["codeweaver_search"] * 5 + [
        "codeweaver_session"
    ]
    assert err.startswith("# 6 events, ")
    assert "/home/dev" not in out
    assert "def handler" not in out
    assert not any(str(event["properties"]).count("query") for event in events[:5])


def test_the_same_seed_gives_the_same_events(capsys: pytest.CaptureFixture[str]) -> None:
    _, first, _ = run(capsys, "demo", "--seed", "11")
    _, second, _ = run(capsys, "demo", "--seed", "11")
    _, other, _ = run(capsys, "demo", "--seed", "12")
    assert list(map(comparable, demo_events(first))) == list(map(comparable, demo_events(second)))
    assert list(map(comparable, demo_events(first))) != list(map(comparable, demo_events(other)))


def test_the_opt_in_adds_only_query_statistics(capsys: pytest.CaptureFixture[str]) -> None:
    _, plain, _ = run(capsys, "demo", "--seed", "5")
    _, opted, err = run(capsys, "demo", "--seed", "5", "--tools-over-privacy")
    plain_keys = set(properties_of(demo_events(plain)[0]))
    opted_keys = set(properties_of(demo_events(opted)[0]))
    assert opted_keys - plain_keys == {"query_tokens", "query_chars", "query_hash", "query_text"}
    assert "values hashed" in err
    assert "/home/dev/acme" not in opted


def test_the_stdout_demo_runs_whatever_the_opt_out(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DO_NOT_TRACK", "1")
    code, out, _ = run(capsys, "demo", "--searches", "2")
    assert code == 0
    assert len(demo_events(out)) == 3


@pytest.mark.parametrize(
    ("variable", "value", "reason"),
    [
        ("DO_NOT_TRACK", "1", "DO_NOT_TRACK"),
        ("CODEWEAVER__TELEMETRY__DISABLE_TELEMETRY", "yes", "DISABLE_TELEMETRY"),
    ],
)
def test_the_posthog_demo_honours_every_opt_out(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    value: str,
    reason: str,
) -> None:
    monkeypatch.setenv("CODEWEAVER__TELEMETRY__POSTHOG_API_KEY", "phc_test")
    monkeypatch.setenv(variable, value)
    code, out, err = run(capsys, "demo", "--sink", "posthog")
    assert code == 2
    assert out == ""
    assert "telemetry is off" in err
    assert reason in err


def test_the_posthog_demo_sends_the_session_for_real(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakePostHog(lifetime_seconds=60) as server:
        monkeypatch.setenv("CODEWEAVER__TELEMETRY__POSTHOG_API_KEY", "phc_test")
        monkeypatch.setenv("CODEWEAVER__TELEMETRY__POSTHOG_HOST", server.host)
        code, _, err = run(capsys, "demo", "--sink", "posthog", "--searches", "4")
        assert code == 0
        assert len(server.events()) == 5
    assert "5 events delivered" in err


def test_status_explains_an_opt_out_from_each_source(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _, out, _ = run(capsys, "status")
    assert out.startswith("telemetry: on, but nothing is sent: no API key configured\n")
    (tmp_path / "codeweaver.toml").write_text("[telemetry]\ndisable_telemetry = true\n")
    _, out, _ = run(capsys, "status", "--json")
    report = json.loads(out)
    assert report["enabled"] is False
    assert report["deciding"] == {
        "source": "project file",
        "where": str(tmp_path / "codeweaver.toml"),
        "speaker": "project",
    }
    assert report["verdict"] == f"off: the project (file {tmp_path}/codeweaver.toml) said so"
    (tmp_path / "codeweaver.toml").unlink()
    monkeypatch.setenv("CODEWEAVER__TELEMETRY__DISABLE_TELEMETRY", "1")
    _, out, _ = run(capsys, "status")
    assert out.startswith(
        "telemetry: off: the user (environment CODEWEAVER__TELEMETRY__DISABLE_TELEMETRY) said so"
    )
    monkeypatch.delenv("CODEWEAVER__TELEMETRY__DISABLE_TELEMETRY")
    monkeypatch.setenv("DO_NOT_TRACK", "true")
    _, out, _ = run(capsys, "status")
    assert out.startswith("telemetry: off: the user (environment DO_NOT_TRACK) said so")


def test_status_masks_the_key_and_never_shows_the_hash_key(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CODEWEAVER__TELEMETRY__POSTHOG_API_KEY", "phc_secretvalue123")
    _, out, _ = run(capsys, "status", "--json")
    report = json.loads(out)
    key = report["settings"]["posthog_api_key"]
    assert key["value"] == "phc_…e123"
    assert key["where"] == "CODEWEAVER__TELEMETRY__POSTHOG_API_KEY"
    assert "secretvalue" not in out
    assert "telemetry-hash-key" in report["hash_key"]


def test_a_bad_configuration_is_one_line_and_exit_code_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CODEWEAVER__TELEMETRY__SINK", "kafka")
    code, out, _ = run(capsys, "status")
    assert code == 2
    assert "sink: not a known sink; accepted: posthog, stdout, null" in out


def test_bad_arguments_exit_with_code_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--searches", "0"])
    assert exit_info.value.code == 2
    assert "must be at least 1" in capsys.readouterr().err


def test_the_readme_section_is_the_manifest() -> None:
    readme = (ROOT / "README.md").read_text()
    assert manifest_markdown() in readme


def test_the_manifest_as_json_lists_every_property(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "manifest", "--json")
    inventory = json.loads(out)
    search = {row["name"]: row for row in inventory["events"]["codeweaver_search"]}
    assert search["query_hash"]["opt_in_only"] is True
    assert search["query_hash"]["conversion"] == "HASH"
    assert {row["name"] for row in inventory["every_event"]} >= {"$lib", "$session_id"}


@pytest.mark.slow
def test_check_catches_a_leaky_model_and_passes_a_safe_one(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "user_models.py").write_text(
        textwrap.dedent("""
        from dataclasses import dataclass
        from codeweaver_telemetry.core import AnonymityConversion, FilteredKey

        @dataclass
        class Leaky:
            query: str
            note: str

            def _telemetry_keys(self):
                return {FilteredKey("query"): AnonymityConversion.HASH}

        @dataclass
        class Safe:
            query: str
            hits: int

            def _telemetry_keys(self):
                return {FilteredKey("query"): AnonymityConversion.TEXT_COUNT}
    """)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    code, out, _ = run(capsys, "check", "user_models:Leaky", "--examples", "20")
    assert code == 1
    assert "'note'" in out
    code, out, _ = run(capsys, "check", "user_models:Safe", "--examples", "20")
    assert code == 0
    code, _, err = run(capsys, "check", "user_models:Missing")
    assert code == 2
    assert "cannot load" in err


@pytest.fixture
def depth_models(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """A module of models the check must fail or pass, importable as the returned name."""
    (tmp_path / "depth_models.py").write_text(
        textwrap.dedent("""
        from dataclasses import dataclass
        from typing import NamedTuple, NewType
        from codeweaver_telemetry.core import AnonymityConversion, FilteredKey

        RepoName = NewType("RepoName", str)

        @dataclass
        class LeakyRepo:
            repository: RepoName

        @dataclass
        class SafeRepo:
            repository: RepoName

            def _telemetry_keys(self):
                return {FilteredKey("repository"): AnonymityConversion.HASH}

        class LeakySpan(NamedTuple):
            repository: str
            note: str

            def _telemetry_keys(self):
                return {FilteredKey("repository"): AnonymityConversion.HASH}

        class SafeSpan(NamedTuple):
            repository: str
            token: str

            def _telemetry_keys(self):
                return {
                    FilteredKey("repository"): AnonymityConversion.HASH,
                    FilteredKey("token"): AnonymityConversion.FORBIDDEN,
                }

        @dataclass
        class HoldsSpan:
            span: SafeSpan

        @dataclass
        class HoldsLeakySpan:
            span: LeakySpan

        @dataclass
        class Misspelt:
            query: str

            def _telemetry_keys(self):
                return {FilteredKey("qeury"): AnonymityConversion.HASH}

        @dataclass
        class RaisingKeys:
            query: str

            def _telemetry_keys(self):
                raise RuntimeError("no")

        class NoFields:
            pass
    """)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    return "depth_models"


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("Misspelt", "'qeury', which is not a field of Misspelt"),
        ("RaisingKeys", "_telemetry_keys() raised RuntimeError"),
        ("NoFields", "NoFields: not a model"),
    ],
)
def test_check_fails_naming_why_a_model_cannot_be_serialized(
    capsys: pytest.CaptureFixture[str], depth_models: str, target: str, reason: str
) -> None:
    code, out, _ = run(capsys, "check", f"{depth_models}:{target}", "--examples", "10")
    assert code == 1
    assert out.startswith("FAIL ")
    assert reason in out
    assert "ok" not in out


def test_check_fails_on_a_class_that_is_not_a_model(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "check", "builtins:int", "--examples", "10")
    assert code == 1
    assert out.startswith("FAIL int: not a model")


def test_check_reads_named_tuple_models(
    capsys: pytest.CaptureFixture[str], depth_models: str
) -> None:
    code, out, _ = run(capsys, "check", f"{depth_models}:LeakySpan", "--examples", "20")
    assert code == 1
    assert out.startswith("LEAK ")
    assert "'note'" in out
    code, out, _ = run(capsys, "check", f"{depth_models}:SafeSpan", "--examples", "20")
    assert (code, out.split(":")[0]) == (0, "ok")


def test_check_reads_a_named_tuple_model_nested_in_a_dataclass(
    capsys: pytest.CaptureFixture[str], depth_models: str
) -> None:
    # Needs the serializer's walk to ask is_model() before it reads a tuple as plain data.
    code, out, _ = run(capsys, "check", f"{depth_models}:HoldsLeakySpan", "--examples", "20")
    assert code == 1
    assert "'span.note'" in out  # a canary is planted in the nested NamedTuple's field
    assert "'span.repository'" not in out  # and its declarations are honoured there
    code, out, _ = run(capsys, "check", f"{depth_models}:HoldsSpan", "--examples", "20")
    assert (code, out.split(":")[0]) == (0, "ok")


def test_check_plants_canaries_in_new_type_fields(
    capsys: pytest.CaptureFixture[str], depth_models: str
) -> None:
    code, out, _ = run(capsys, "check", f"{depth_models}:LeakyRepo", "--examples", "20")
    assert code == 1
    assert out.startswith("LEAK ")
    assert "'repository'" in out
    code, out, _ = run(capsys, "check", f"{depth_models}:SafeRepo", "--examples", "20")
    assert (code, out.split(":")[0]) == (0, "ok")


# --- command-line rough edges -----------------------------------------------------------------

CONSOLE_SCRIPT = Path(sys.executable).parent / "codeweaver-telemetry"


def run_closed_pipe(home: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    """Run the command with its standard output a pipe whose reader has already gone (as
    ``| head -1`` does once it has its line), in a clean environment."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run(
            [sys.executable, "-m", "codeweaver_telemetry.adapters", *argv],
            stdout=write_end,
            stderr=subprocess.PIPE,
            env=host_environment(home),
            cwd=home,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write_end)


@pytest.mark.parametrize("argv", [("status",), ("manifest", "--json"), ("manifest",)])
def test_a_closed_pipe_ends_the_command_quietly(tmp_path: Path, argv: tuple[str, ...]) -> None:
    completed = run_closed_pipe(tmp_path, *argv)
    assert (completed.returncode, completed.stderr) == (0, "")


def test_a_bad_number_says_what_is_wrong_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--searches", "abc"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert err == (
        "codeweaver-telemetry demo: argument --searches: 'abc' is not a whole number "
        "(see codeweaver-telemetry demo --help)\n"
    )


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out == f"codeweaver-telemetry {__version__}\n"


@pytest.mark.parametrize("command", ["demo", "status", "enable", "disable", "manifest", "check"])
def test_every_command_has_a_description(capsys: pytest.CaptureFixture[str], command: str) -> None:
    with pytest.raises(SystemExit):
        main([command, "--help"])
    help_text = capsys.readouterr().out
    paragraphs = help_text.split("\n\n")
    assert paragraphs[0].startswith(f"usage: codeweaver-telemetry {command}")
    assert len(paragraphs[1].split()) >= 8  # a sentence, before the options


def test_a_bad_toml_file_keeps_its_line_and_column(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "codeweaver.toml").write_text("[telemetry]\nbatch_size = \n")
    code, out, _ = run(capsys, "status")
    assert code == 2
    assert "not valid TOML: Invalid value (at line 2, column 14)" in out


@pytest.mark.parametrize(
    "module", ["codeweaver_telemetry.adapters", "codeweaver_telemetry.adapters.cli"]
)
def test_python_dash_m_runs_the_command(tmp_path: Path, module: str) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", module, "status"],
        env=host_environment(tmp_path),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0
    assert completed.stdout.startswith("telemetry: on")


def test_check_imports_a_model_from_the_working_directory(tmp_path: Path) -> None:
    (tmp_path / "local_models.py").write_text(
        textwrap.dedent("""
        from dataclasses import dataclass

        @dataclass
        class Counted:
            hits: int
        """)
    )
    completed = subprocess.run(
        [str(CONSOLE_SCRIPT), "check", "local_models:Counted", "--examples", "5"],
        env=host_environment(tmp_path),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.startswith("ok:")


def table_rows_without_their_columns(markdown: str) -> list[str]:
    """Each table row (as a Markdown parser finds them) whose cells, split where the parser
    splits them (at every ``|`` not escaped), are more or fewer than its table's header has:
    a parser drops the extra cells of such a row, or pads it, and the table reads wrongly."""
    from markdown_it import MarkdownIt

    lines = markdown.splitlines()
    broken: list[str] = []
    header_cells, in_header = 0, False
    for token in MarkdownIt("commonmark").enable("table").parse(markdown):
        in_header = {"thead_open": True, "thead_close": False}.get(token.type, in_header)
        if token.type == "tr_open" and token.map is not None:
            line = lines[token.map[0]]
            cells = len(re.split(r"(?<!\\)\|", line.strip())) - 2
            if in_header:
                header_cells = cells
            elif cells != header_cells:
                broken.append(line)
    return broken


def test_every_table_row_of_the_readme_has_its_columns() -> None:
    readme = (ROOT / "README.md").read_text()
    assert readme.count("|---|") >= 8
    assert table_rows_without_their_columns(readme) == []
    assert (
        len(
            table_rows_without_their_columns(
                "| a | b |\n|---|---|\n| x | y \\| z |\n| p | q | r |\n"
            )
        )
        == 1
    )
