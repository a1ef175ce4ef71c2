"""What identifies this installation and this machine, gathered so that it is never sent.

- The HASH key: a random secret created once per installation and app in the user's state
  directory (file mode 0600), never sent and never logged; replaced when the stored one cannot
  be trusted, and a per-process key if none can be stored.
- The sensitive literals: user name, home and working directories, host name, the repository's
  name. The core's leak guard redacts them wherever they appear.

(The distinct id is random per session, derived from nothing here: see ``client.py``.)
"""

from __future__ import annotations

import errno
import getpass
import os
import platform
import stat
from typing import Final, NamedTuple

from .directories import current_directory
from .files import owned_by_user, read_regular_file, write_private_file
from .log import debug

KEY_FILE_NAME: Final = "telemetry-hash-key"
KEY_BYTES: Final = 32
MAX_PARENTS_SEARCHED: Final = 32
"""How far up from the working directory a ``.git`` is looked for."""


class HashKey(NamedTuple):
    """The HASH key and how it was had (what ``status`` and the debug log say)."""

    key: bytes
    how: str


def installation_hash_key(state_directory: str | os.PathLike[str] | None) -> HashKey:
    """The installation's HASH key: the stored one if it can be trusted, else a new one
    stored in its place (mode 0600), else a random key for this process only.

    A stored key is trusted only as a regular file (not a link, a FIFO or a device) of exactly
    its size, owned by the user, with mode 0600, in a directory the user owns: a key others can
    read or write is a known key, and a HASH made with it is reversed with a dictionary. A
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
    if not _directory_owned(os.path.dirname(path)):
        return "is in a directory that belongs to someone else"
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


def _directory_owned(directory: str) -> bool:
    try:
        return owned_by_user(os.stat(directory))
    except FileNotFoundError:
        return True  # it is created, the user's, with the key
    except OSError:
        return False


def sensitive_literals(*working_directories: str | os.PathLike[str] | None) -> frozenset[str]:
    """This machine's names that must never appear in telemetry: the user and host names, the
    home directory, each working directory given (the current one if none is), their names,
    and the names of the git repositories they are in."""
    literals: set[str] = set()
    try:
        literals.add(getpass.getuser())
    except Exception:  # noqa: BLE001 - getuser raises OSError, KeyError or ImportError by platform
        debug("telemetry: no user name to protect")
    literals.add(platform.node())
    given = working_directories or (current_directory(),)
    # Usually the same directory twice (at start-up and now): walk up from it once.
    directories = list(dict.fromkeys(os.fspath(d) for d in given if d is not None))
    for directory in (os.path.expanduser("~"), *directories):
        if os.path.isabs(directory):
            literals.update((directory, os.path.basename(directory)))
    for directory in directories:
        repository = _repository_root(directory)
        if repository is not None:
            literals.update((repository, os.path.basename(repository)))
    return frozenset(literal for literal in literals if literal and literal != os.sep)


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
