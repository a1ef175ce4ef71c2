"""Reading the configuration from files and the environment; the hash key and sensitive names."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from returns.pipeline import is_successful

from codeweaver_telemetry.adapters.config import find_project_file, load_config
from codeweaver_telemetry.adapters.identity import (
    KEY_BYTES,
    KEY_FILE_NAME,
    describe_key_file,
    installation_hash_key,
    sensitive_literals,
)
from codeweaver_telemetry.core.app import DEFAULT_APP
from codeweaver_telemetry.core.settings import SinkName, Source

CONFIG_FILE_VARIABLE = DEFAULT_APP.config_file_variable


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
    assert loaded.project_file == str(tmp_path / "codeweaver.toml")
    assert settings.sink.value is SinkName.STDOUT
    assert settings.sink.origin.source is Source.PROJECT_FILE
    # A project cannot opt its user in.
    assert settings.tools_over_privacy.value is False
    assert [ignored.key for ignored in settings.ignored] == ["tools_over_privacy"]


def test_the_project_file_is_explicit_then_named_then_local(tmp_path: Path) -> None:
    local = write(tmp_path / "codeweaver.toml", "")
    named = write(tmp_path / "named.toml", "")
    explicit = tmp_path / "explicit.toml"
    environment = {CONFIG_FILE_VARIABLE: str(named)}
    assert find_project_file(explicit, environment, str(tmp_path)) == str(explicit)
    assert find_project_file(None, environment, str(tmp_path)) == str(named)
    assert find_project_file(None, {}, str(tmp_path)) == str(local)
    assert find_project_file(None, {}, str(tmp_path / "elsewhere")) is None


def test_the_user_file_is_read_as_well_as_the_project_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    environment = {"XDG_CONFIG_HOME": str(tmp_path / "config")}
    monkeypatch.setenv("XDG_CONFIG_HOME", environment["XDG_CONFIG_HOME"])
    user_file = write(
        tmp_path / "config" / "codeweaver" / "codeweaver.toml", "[telemetry]\nbatch_size = 3\n"
    )
    write(tmp_path / "project" / "codeweaver.toml", "[telemetry]\nsink = 'stdout'\n")
    loaded = load_config(environment=environment, working_directory=tmp_path / "project")
    settings = loaded.settings.unwrap()
    assert loaded.user_file == str(user_file)
    assert (settings.batch_size.value, settings.batch_size.origin.source) == (3, Source.USER_FILE)
    assert settings.sink.origin.source is Source.PROJECT_FILE


def test_the_user_directory_as_working_directory_is_read_once_as_the_users(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    directory = tmp_path / "config" / "codeweaver"
    write(directory / "codeweaver.toml", "[telemetry]\ntools_over_privacy = true\n")
    loaded = load_config(environment=dict(os.environ), working_directory=directory)
    assert loaded.project_file is None
    assert loaded.settings.unwrap().tools_over_privacy.value is True


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("[telemetry\n", "not valid TOML: Expected ']' at the end of a table declaration"),
        ("[index]\nx = \n", "not valid TOML: Invalid value (at line 2, column 5)"),
        ("telemetry = 3\n", "not a table"),
    ],
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
    assert first.key == second.key
    assert (first.how, second.how) == ("a new key, stored", "the stored key")
    assert len(first.key) == KEY_BYTES
    mode = stat.S_IMODE(os.stat(state / KEY_FILE_NAME).st_mode)
    assert mode == 0o600


def test_an_unusable_state_directory_gives_a_process_key(tmp_path: Path) -> None:
    blocker = write(tmp_path / "file", "not a directory")
    first = installation_hash_key(blocker / "state")
    second = installation_hash_key(blocker / "state")
    assert len(first.key) == KEY_BYTES
    assert first.how.startswith("a key for this process only")
    assert first.key != second.key  # per call here; the client keeps its own for the process


def test_a_corrupt_key_file_is_not_used(tmp_path: Path) -> None:
    write(tmp_path / KEY_FILE_NAME, "short")
    assert installation_hash_key(tmp_path).key != b"short"


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


def stored_key(state: Path) -> bytes:
    return (state / KEY_FILE_NAME).read_bytes()


def test_a_key_file_others_can_read_is_replaced(tmp_path: Path) -> None:
    known = os.urandom(KEY_BYTES)
    (tmp_path / KEY_FILE_NAME).write_bytes(known)
    (tmp_path / KEY_FILE_NAME).chmod(0o644)
    assert describe_key_file(str(tmp_path)).endswith(
        "(not trusted, it had mode 0644, not 0600: a new key replaces it at the first capture)"
    )
    hash_key = installation_hash_key(tmp_path)
    assert hash_key.key != known
    assert hash_key.how == "a new key, stored in place of one that had mode 0644, not 0600"
    assert stored_key(tmp_path) == hash_key.key
    assert stat.S_IMODE(os.stat(tmp_path / KEY_FILE_NAME).st_mode) == 0o600
    assert installation_hash_key(tmp_path) == (hash_key.key, "the stored key")
    assert "(the stored key is used;" in describe_key_file(str(tmp_path))


@pytest.mark.skipif(not hasattr(os, "getuid") or os.getuid() != 0, reason="needs root to chown")
def test_a_key_file_owned_by_someone_else_is_replaced(tmp_path: Path) -> None:
    known = os.urandom(KEY_BYTES)
    path = tmp_path / KEY_FILE_NAME
    path.write_bytes(known)
    path.chmod(0o600)
    os.chown(path, 12345, 12345)
    hash_key = installation_hash_key(tmp_path)
    assert hash_key.key != known
    assert "belongs to someone else" in hash_key.how
    assert os.stat(path).st_uid == os.getuid()


@pytest.mark.skipif(not hasattr(os, "getuid") or os.getuid() != 0, reason="needs root to chown")
def test_a_state_directory_owned_by_someone_else_gives_a_process_key(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    os.chown(state, 12345, 12345)
    hash_key = installation_hash_key(state)
    assert hash_key.how.startswith("a key for this process only")
    assert not (state / KEY_FILE_NAME).exists()
    assert "each process uses its own key" in describe_key_file(str(state))


@pytest.mark.parametrize("kind", ["symlink", "fifo", "device", "directory"])
def test_a_key_path_that_is_not_a_regular_file_is_never_read(tmp_path: Path, kind: str) -> None:
    path = tmp_path / KEY_FILE_NAME
    target = write(tmp_path / "elsewhere", "k" * KEY_BYTES)
    target.chmod(0o600)
    if kind == "symlink":
        path.symlink_to(target)
    elif kind == "fifo":
        os.mkfifo(path, 0o600)  # opening it to read would block for ever
    elif kind == "device":
        path.symlink_to("/dev/zero")  # reading it would never end
    else:
        path.mkdir()
    hash_key = installation_hash_key(tmp_path)
    assert hash_key.key != b"k" * KEY_BYTES
    assert target.read_text() == "k" * KEY_BYTES  # a linked file is never written through
    if kind != "directory":
        assert stored_key(tmp_path) == hash_key.key
        assert not path.is_symlink()


def test_a_configuration_path_that_is_a_fifo_is_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "config.toml"
    os.mkfifo(fifo)
    loaded = load_config(config_path=fifo, environment={})
    assert "cannot read the file (not a regular file)" in str(loaded.settings.failure())
