"""What identifies this installation and this machine, gathered so that it is never sent.

- The HASH key: a random secret created once per installation and app in the user's state
  directory (file mode 0600), never sent and never logged; replaced when the stored one cannot
  be trusted, and a per-process key if none can be stored.
- The sensitive literals: user name, home and working directories, host name (and its short
  form, before the first dot), the repository's name, and the owner and name of each of its git
  remotes (``acme-corp``, ``payments-internal``, ``acme-corp/payments-internal``). The core's leak
  guard redacts them wherever they appear. Generic names (``root``, ``runner``, ``ubuntu``,
  ``work``, ``src``, ...: :data:`GENERIC_NAMES`) are left out: every container has them, and
  redacting them would only hide ordinary words.

(The distinct id is random per session, derived from nothing here: see ``client.py``.)
"""

from __future__ import annotations

import errno
import getpass
import os
import platform
import re
import stat
from collections.abc import Iterator
from typing import Final, NamedTuple

from .directories import current_directory
from .files import owned_by_user, read_regular_file, write_private_file
from .log import debug

KEY_FILE_NAME: Final = "telemetry-hash-key"
KEY_BYTES: Final = 32
MAX_PARENTS_SEARCHED: Final = 32
"""How far up from the working directory a ``.git`` is looked for."""
MAX_GIT_FILE_BYTES: Final = 256 * 1024
"""The largest ``.git/config`` (or ``.git`` file, or ``commondir``) that is read; a larger one
is not read at all, and gives no remote names."""


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


GENERIC_ACCOUNTS: Final = _names(
    """
    root admin administrator user runner ubuntu debian ec2-user centos fedora vagrant docker ci
    build builder jenkins circleci travis gitlab-runner buildkite codespace codespaces vscode
    node app www-data nobody guest test dev pi git oauth2 x-access-token x-oauth-basic localhost
    """
)
"""Account and host names that every container, CI runner or cloud image has."""

GENERIC_DIRECTORIES: Final = _names(
    """
    work workspace workspaces src source sources main master home tmp temp app apps project
    projects repo repos repository code git dev build dist lib opt srv var mnt users data
    """
)
"""Directory names that say nothing about who or where: ``/work/main``, ``~/src/app``."""

GENERIC_NAMES: Final = GENERIC_ACCOUNTS | GENERIC_DIRECTORIES
"""Names never taken for literals, in any case: they would only redact ordinary words."""


class HashKey(NamedTuple):
    """The HASH key and how it was had (what ``status`` and the debug log say)."""

    key: bytes
    how: str


def installation_hash_key(state_directory: str | os.PathLike[str] | None) -> HashKey:
    """The installation's HASH key: the stored one if it can be trusted, else a new one
    stored in its place (mode 0600), else a random key for this process only.

    A stored key is trusted only as a regular file (not a link, a FIFO or a device) of exactly
    its size, owned by the user, with mode 0600 and no other name (hard link), in a directory the
    user owns and no one else can write to: a key others can read or write is a known key, and
    a HASH made with it is reversed with a dictionary. A
    process key makes hashes link within the process, never across runs, which fails towards
    privacy.
    """
    if state_directory is None:
        return HashKey(os.urandom(KEY_BYTES), "a key for this process only (no home directory)")
    path = os.path.join(os.fspath(state_directory), KEY_FILE_NAME)
    distrust = key_file_distrust(path)
    if isinstance(distrust, bytes):
        return HashKey(distrust, "the stored key")
    key = os.urandom(KEY_BYTES)
    try:
        if not _directory_owned(os.path.dirname(path)):
            raise PermissionError(errno.EPERM, "the directory is not the user's")
        if os.name == "posix" and _writable_by_others(os.path.dirname(path)):
            raise PermissionError(errno.EPERM, "others can write to the directory")
        write_private_file(path, key, replace=distrust is not None)
    except FileExistsError:  # another process stored one first: use it if it can be trusted
        theirs = key_file_distrust(path)
        if isinstance(theirs, bytes):
            return HashKey(theirs, "the stored key")
    except OSError as error:
        debug("telemetry: cannot store a hash key (%s); using a process key", error.strerror)
        return HashKey(key, f"a key for this process only (cannot store one: {error.strerror})")
    else:
        if distrust is None:
            return HashKey(key, "a new key, stored")
        debug("telemetry: the stored hash key was not trusted (%s); replaced it", distrust)
        return HashKey(key, f"a new key, stored in place of one that {distrust}")
    return HashKey(key, "a key for this process only (the stored key is not trusted)")


def key_file_distrust(path: str) -> bytes | str | None:
    """The stored key if it can be trusted; else why not (a phrase: "is not a regular file");
    None when there is none."""
    try:
        file = read_regular_file(path, max_bytes=KEY_BYTES, follow_symlinks=False)
    except FileNotFoundError:
        return None
    except OSError as error:
        return f"could not be read as a regular file ({error.strerror})"
    mode = stat.S_IMODE(file.status.st_mode)
    if not owned_by_user(file.status):
        return "belongs to someone else"
    if os.name == "posix" and mode != 0o600:
        return f"had mode {mode:04o}, not 0600"
    if file.status.st_nlink != 1:
        return "had another name (a hard link), which others may read"
    if not _directory_owned(os.path.dirname(path)):
        return "is in a directory that belongs to someone else"
    if os.name == "posix" and _writable_by_others(os.path.dirname(path)):
        return "is in a directory others can write to (and so replace it)"
    if len(file.content) != KEY_BYTES:
        return "had the wrong length"
    return file.content


def describe_key_file(state_directory: str | None) -> str:
    """What the next capture will hash with, for ``status`` (never the key)."""
    if state_directory is None:
        return "none stored (no home directory): each process uses its own key"
    path = os.path.join(state_directory, KEY_FILE_NAME)
    distrust = key_file_distrust(path)
    if isinstance(distrust, bytes):
        return f"{path} (the stored key is used; the key itself is never shown or sent)"
    if not _directory_owned(state_directory):
        return f"{path} (its directory belongs to someone else: each process uses its own key)"
    if distrust is None:
        return f"{path} (not created yet: made at the first capture)"
    return f"{path} (not trusted, it {distrust}: a new key replaces it at the first capture)"


def _writable_by_others(directory: str) -> bool:
    try:
        return bool(os.stat(directory).st_mode & (stat.S_IWGRP | stat.S_IWOTH))
    except FileNotFoundError:
        return False  # it is created, 0700, with the key
    except OSError:
        return True


def _directory_owned(directory: str) -> bool:
    try:
        return owned_by_user(os.stat(directory))
    except FileNotFoundError:
        return True  # it is created, the user's, with the key
    except OSError:
        return False


def sensitive_literals(*working_directories: str | os.PathLike[str] | None) -> frozenset[str]:
    """This machine's names that must never appear in telemetry: the user name, the host name
    and its short form, the home directory, each working directory given (the current one if
    none is), their names, the names of the git repositories they are in, and the owner and
    repository names of those repositories' remotes. Generic names are left out."""
    literals: set[str] = set()
    try:
        literals.add(getpass.getuser())
    except Exception:  # noqa: BLE001 - getuser raises OSError, KeyError or ImportError by platform
        debug("telemetry: no user name to protect")
    host = platform.node()
    literals.update((host, host.split(".", 1)[0]))
    given = working_directories or (current_directory(),)
    # Usually the same directory twice (at start-up and now): walk up from it once.
    directories = list(dict.fromkeys(os.fspath(d) for d in given if d is not None))
    for directory in (os.path.expanduser("~"), *directories):
        if os.path.isabs(directory):
            literals.update((directory, os.path.basename(directory)))
    for directory in dict.fromkeys(filter(None, map(_repository_root, directories))):
        literals.update((directory, os.path.basename(directory)))
        literals.update(remote_names(directory))
    return frozenset(
        literal
        for literal in literals
        if literal and literal != os.sep and literal.strip().lower() not in GENERIC_NAMES
    )


def _repository_root(start: str) -> str | None:
    directory = start
    for _ in range(MAX_PARENTS_SEARCHED):
        if os.path.exists(os.path.join(directory, ".git")):
            return directory
        parent = os.path.dirname(directory)
        if parent == directory:
            break
        directory = parent
    return None


_REMOTE_URL: Final = re.compile(r"^\s*(?:push)?url\s*=\s*(\S+)\s*$", re.MULTILINE | re.IGNORECASE)
_GITDIR: Final = re.compile(r"^gitdir:\s*(.+?)\s*$", re.MULTILINE)


def remote_names(repository: str | os.PathLike[str]) -> frozenset[str]:
    """The owner and repository names in the remote URLs of the git repository at
    ``repository``: ``git@github.com:acme-corp/payments-internal.git`` gives ``acme-corp``,
    ``payments-internal`` and ``acme-corp/payments-internal`` (every path segment, and the path;
    a user name in the URL too). Nothing if there is no readable config: this never raises.

    >>> sorted(_names_in_url("https://github.com/acme-corp/payments-internal.git"))
    ['acme-corp', 'acme-corp/payments-internal', 'payments-internal']
    """
    try:
        text = _git_config_text(os.fspath(repository))
    except (OSError, ValueError):
        return frozenset()
    names: set[str] = set()
    for url in _REMOTE_URL.findall(text):
        names.update(_names_in_url(url))
    return frozenset(names)


def _git_config_text(repository: str) -> str:
    """The text of the repository's ``config``, following a ``.git`` file (a worktree or a
    submodule) to its git directory and a worktree to the common one."""
    git = os.path.join(repository, ".git")
    if not os.path.isdir(git):
        pointer = _GITDIR.search(_read_small_text(git))
        if pointer is None:
            return ""
        git = os.path.join(repository, pointer.group(1))
        common = os.path.join(git, "commondir")
        if os.path.isfile(common):
            git = os.path.join(git, _read_small_text(common).strip())
    return _read_small_text(os.path.join(git, "config"))


def _read_small_text(path: str) -> str:
    """A small regular file, as text; OSError if it is not one, or too large (a FIFO or a
    device would block or never end)."""
    return read_regular_file(path, max_bytes=MAX_GIT_FILE_BYTES).content.decode("utf-8", "replace")


def _names_in_url(url: str) -> Iterator[str]:
    """The user, the path segments and the path of a remote URL, without ``.git``."""
    user, path = _split_remote(url)
    if user:
        yield user
    path = path.strip("/")
    path = path.removesuffix(".git").rstrip("/")
    if not path:
        return
    segments = [segment for segment in path.split("/") if segment not in ("", ".", "..")]
    yield from segments
    if len(segments) > 1:
        yield "/".join(segments)
    if len(segments) > 2:  # a group's subgroup: acme/billing/ledger gives billing/ledger too
        yield "/".join(segments[-2:])


def _split_remote(url: str) -> tuple[str, str]:
    """The user name (empty if none) and the path of a remote URL, in either of git's forms:
    ``scheme://[user[:secret]@]host[:port]/path`` or ``[user@]host:path``."""
    if "://" in url:
        rest = url.split("://", 1)[1]
        authority, _, path = rest.partition("/")
        userinfo = authority.rpartition("@")[0]
        return userinfo.partition(":")[0], path
    if ":" in url and not os.path.isabs(url):  # scp-like: git@github.com:acme-corp/x.git
        authority, _, path = url.partition(":")
        return authority.rpartition("@")[0], path
    return "", url  # a local path
