"""Reading the configuration from files and the environment; the hash key and sensitive names."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from returns.pipeline import is_successful

from codeweaver_telemetry.adapters.config import (
    CONFIG_FILE_VARIABLE,
    find_config_file,
    load_config,
)
from codeweaver_telemetry.adapters.identity import (
    KEY_BYTES,
    KEY_FILE_NAME,
    installation_hash_key,
    sensitive_literals,
)
from codeweaver_telemetry.core.settings import SinkName, Source


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_a_local_file_is_read_and_remembered_as_the_source(tmp_path: Path) -> None:
    write(
        tmp_path / "codeweaver.toml", "[telemetry]\nsink = 'stdout'\ntools_above_privacy = true\n"
    )
    loaded = load_config(environment={}, working_directory=tmp_path)
    settings = loaded.settings.unwrap()
    assert loaded.file_path == str(tmp_path / "codeweaver.toml")
    assert settings.sink.value is SinkName.STDOUT
    assert settings.sink.origin.source is Source.FILE
    assert settings.tools_over_privacy.value is True


def test_lookup_order_is_explicit_variable_local_then_user(tmp_path: Path) -> None:
    local = write(tmp_path / "codeweaver.toml", "")
    named = write(tmp_path / "named.toml", "")
    explicit = tmp_path / "explicit.toml"
    environment = {CONFIG_FILE_VARIABLE: str(named)}
    assert find_config_file(explicit, environment, str(tmp_path)) == str(explicit)
    assert find_config_file(None, environment, str(tmp_path)) == str(named)
    assert find_config_file(None, {}, str(tmp_path)) == str(local)


def test_the_user_config_directory_is_last(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    user_file = write(tmp_path / "config" / "codeweaver" / "codeweaver.toml", "")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert find_config_file(None, {}, str(empty)) == str(user_file)


@pytest.mark.parametrize(
    ("content", "problem"),
    [("[telemetry\n", "not valid TOML"), ("telemetry = 3\n", "not a table")],
)
def test_a_broken_file_is_a_configuration_error(tmp_path: Path, content: str, problem: str) -> None:
    path = write(tmp_path / "codeweaver.toml", content)
    loaded = load_config(config_path=path, environment={})
    assert not is_successful(loaded.settings)
    assert problem in str(loaded.settings.failure())


def test_a_missing_explicit_file_is_reported_not_replaced(tmp_path: Path) -> None:
    write(tmp_path / "codeweaver.toml", "[telemetry]\n")
    loaded = load_config(
        config_path=tmp_path / "missing.toml", environment={}, working_directory=tmp_path
    )
    assert "cannot read the file" in str(loaded.settings.failure())


def test_the_hash_key_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    state = tmp_path / "state"
    first = installation_hash_key(state)
    second = installation_hash_key(state)
    assert first == second
    assert len(first) == KEY_BYTES
    mode = stat.S_IMODE(os.stat(state / KEY_FILE_NAME).st_mode)
    assert mode == 0o600


def test_an_unusable_state_directory_gives_a_process_key(tmp_path: Path) -> None:
    blocker = write(tmp_path / "file", "not a directory")
    first = installation_hash_key(blocker / "state")
    second = installation_hash_key(blocker / "state")
    assert len(first) == KEY_BYTES
    assert first != second  # per call here; the client keeps its own for the process


def test_a_corrupt_key_file_is_not_used(tmp_path: Path) -> None:
    write(tmp_path / KEY_FILE_NAME, "short")
    assert installation_hash_key(tmp_path) != b"short"


def test_sensitive_literals_name_the_user_the_directories_and_the_repository(
    tmp_path: Path,
) -> None:
    repository = tmp_path / "acme-repo"
    (repository / ".git").mkdir(parents=True)
    inside = repository / "src" / "pkg"
    inside.mkdir(parents=True)
    literals = sensitive_literals(inside)
    assert {"acme-repo", str(repository), "pkg", str(inside), str(Path.home())} <= literals
    assert "/" not in literals
