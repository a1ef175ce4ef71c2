"""What identifies this installation and this machine, gathered so that it is never sent.

- The HASH key: a random secret created once per installation in the user's state directory
  (file mode 0600), never sent and never logged; a per-process key if it cannot be stored.
- The sensitive literals: user name, home and working directories, host name, the repository's
  name. The core's leak guard redacts them wherever they appear.

(The distinct id is random per session, derived from nothing here: see ``client.py``.)
"""

from __future__ import annotations

import getpass
import os
import platform
from typing import Final

from .directories import current_directory
from .log import debug

KEY_FILE_NAME: Final = "telemetry-hash-key"
KEY_BYTES: Final = 32
MAX_PARENTS_SEARCHED: Final = 32
"""How far up from the working directory a ``.git`` is looked for."""


def installation_hash_key(state_directory: str | os.PathLike[str] | None) -> bytes:
    """The installation's HASH key: read, or created once with mode 0600.

    If it cannot be read or stored (or there is no state directory), a random key for this
    process only: hashes then link within the process, never across runs, which fails
    towards privacy.
    """
    if state_directory is None:
        return os.urandom(KEY_BYTES)
    path = os.path.join(state_directory, KEY_FILE_NAME)
    try:
        key = _read_bytes(path)
        if len(key) == KEY_BYTES:
            return key
        debug("telemetry: the stored hash key has the wrong length; using a process key")
    except FileNotFoundError:
        stored = _store_new_key(path)
        if stored is not None:
            return stored
    except OSError as error:
        debug("telemetry: cannot read the hash key (%s); using a process key", error.strerror)
    return os.urandom(KEY_BYTES)


def _store_new_key(path: str) -> bytes | None:
    key = os.urandom(KEY_BYTES)
    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        # O_EXCL: if two processes race, one creates the key and the other reads it.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        try:
            existing = _read_bytes(path)
        except OSError:
            return None
        return existing if len(existing) == KEY_BYTES else None
    except OSError as error:
        debug("telemetry: cannot store a hash key (%s); using a process key", error.strerror)
        return None
    with os.fdopen(descriptor, "wb") as file:
        file.write(key)
    return key


def _read_bytes(path: str) -> bytes:
    with open(path, "rb") as file:
        return file.read()


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
