"""Reading the configuration from files and the environment; the hash key and sensitive names."""

from __future__ import annotations

import getpass
import os
import platform
import stat
from pathlib import Path

import pytest
from returns.pipeline import is_successful

from codeweaver_telemetry.adapters.config import find_project_file, load_config
from codeweaver_telemetry.adapters.identity import (
    GENERIC_ACCOUNTS,
    GENERIC_DIRECTORIES,
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
        tmp_path / "codeweaver.toml",
        "[telemetry]\nbatch_size = 4\nsink = 'stdout'\ntools_above_privacy = true\n",
    )
    loaded = load_config(environment={}, working_directory=tmp_path)
    settings = loaded.settings.unwrap()
    assert loaded.project_file == str(tmp_path / "codeweaver.toml")
    assert settings.batch_size.value == 4
    assert settings.batch_size.origin.source is Source.PROJECT_FILE
    # A project cannot opt its user in, nor choose where the user's events go.
    assert settings.tools_over_privacy.value is False
    assert settings.sink.value is SinkName.NULL
    assert sorted(ignored.key for ignored in settings.ignored) == ["sink", "tools_over_privacy"]


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
    write(tmp_path / "project" / "codeweaver.toml", "[telemetry]\nflag_budget_seconds = 0.2\n")
    loaded = load_config(environment=environment, working_directory=tmp_path / "project")
    settings = loaded.settings.unwrap()
    assert loaded.user_file == str(user_file)
    assert (settings.batch_size.value, settings.batch_size.origin.source) == (3, Source.USER_FILE)
    assert settings.flag_budget_seconds.origin.source is Source.PROJECT_FILE


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


# --- Sensitive literals: git remotes, the short host name, generic names (issue 9) -------------


def git_repository(root: Path, config: str) -> Path:
    (root / ".git").mkdir(parents=True)
    (root / ".git" / "config").write_text(config)
    return root


@pytest.fixture
def machine(monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine whose user and host names are known: ``bob`` on ``bobs-laptop.corp.acme.com``."""
    monkeypatch.setattr(getpass, "getuser", lambda: "bob")
    monkeypatch.setattr(platform, "node", lambda: "bobs-laptop.corp.acme.com")


@pytest.mark.parametrize(
    "url",
    [
        "git@github.com:acme-corp/payments-internal.git",
        "https://github.com/acme-corp/payments-internal",
        "https://github.com/acme-corp/payments-internal.git/",
        "ssh://git@github.com:22/acme-corp/payments-internal.git",
        "https://bob@git.example.com/acme-corp/payments-internal.git",
    ],
)
@pytest.mark.usefixtures("machine")
def test_the_remote_owner_and_repository_are_literals(tmp_path: Path, url: str) -> None:
    config = f'[core]\n\tbare = false\n[remote "origin"]\n\turl = {url}\n\tfetch = +refs/*\n'
    repository = git_repository(tmp_path / "checkout", config)
    literals = sensitive_literals(repository)
    assert {"acme-corp", "payments-internal", "acme-corp/payments-internal"} <= literals
    assert "git" not in literals


@pytest.mark.usefixtures("machine")
def test_every_remote_and_every_group_of_a_nested_path_count(tmp_path: Path) -> None:
    config = (
        '[remote "origin"]\n    url = git@gitlab.com:acme/billing/ledger.git\n'
        '[remote "fork"]\n    url = https://github.com/bob-smith/ledger-fork\n'
        "    pushurl = git@github.com:bob-smith/ledger-push.git\n"
    )
    literals = sensitive_literals(git_repository(tmp_path / "ledger", config))
    assert {"acme", "billing", "ledger", "acme/billing/ledger", "billing/ledger"} <= literals
    assert {"bob-smith", "ledger-fork", "ledger-push", "bob-smith/ledger-fork"} <= literals


@pytest.mark.usefixtures("machine")
def test_a_worktree_git_file_leads_to_the_common_config(tmp_path: Path) -> None:
    main = git_repository(
        tmp_path / "main-checkout", '[remote "origin"]\n\turl = git@h:acme/pay.git\n'
    )
    worktree_dir = main / ".git" / "worktrees" / "feature"
    worktree_dir.mkdir(parents=True)
    (worktree_dir / "commondir").write_text("../..\n")
    feature = tmp_path / "feature"
    feature.mkdir()
    (feature / ".git").write_text(f"gitdir: {worktree_dir}\n")
    assert {"acme", "pay", "acme/pay"} <= sensitive_literals(feature)


@pytest.mark.parametrize("kind", ["missing", "fifo", "directory", "too large", "binary"])
@pytest.mark.usefixtures("machine")
def test_an_unreadable_git_config_gives_no_remote_names_and_never_raises(
    tmp_path: Path, kind: str
) -> None:
    repository = tmp_path / "acme-repo"
    (repository / ".git").mkdir(parents=True)
    config = repository / ".git" / "config"
    if kind == "fifo":
        os.mkfifo(config)  # reading it would block for ever
    elif kind == "directory":
        config.mkdir()
    elif kind == "too large":
        config.write_text('[remote "o"]\n\turl = git@h:acme/pay.git\n' + "#" * (1 << 20))
    elif kind == "binary":
        config.write_bytes(b"\xff\xfe\x00url = \xff\n")
    literals = sensitive_literals(repository)
    assert "acme-repo" in literals
    assert "pay" not in literals


@pytest.mark.usefixtures("machine")
def test_the_short_host_name_is_a_literal(tmp_path: Path) -> None:
    literals = sensitive_literals(tmp_path)
    assert {"bob", "bobs-laptop", "bobs-laptop.corp.acme.com"} <= literals


@pytest.mark.parametrize("account", sorted(GENERIC_ACCOUNTS))
def test_generic_account_and_host_names_are_not_literals(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, account: str
) -> None:
    monkeypatch.setattr(getpass, "getuser", lambda: account)
    monkeypatch.setattr(platform, "node", lambda: f"{account}.local")
    home = tmp_path / "home" / account
    home.mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    literals = sensitive_literals(tmp_path)
    assert account not in literals
    assert account.upper() not in {literal.upper() for literal in literals}
    assert str(home) in literals  # the full path stays


@pytest.mark.usefixtures("machine")
def test_generic_directory_names_are_not_literals(tmp_path: Path) -> None:
    config = '[remote "origin"]\n\turl = https://github.com/acme-corp/app.git\n'
    repository = git_repository(tmp_path / "work" / "main", config)
    inside = repository / "src"
    inside.mkdir()
    literals = sensitive_literals(inside)
    assert not {"work", "main", "src", "app"} & literals
    assert {str(repository), str(inside), "acme-corp", "acme-corp/app"} <= literals
    assert {"work", "src", "main", "home", "tmp", "project", "repo", "code"} <= GENERIC_DIRECTORIES
