"""What identifies this installation and this machine, gathered so that it is never sent.

- The HASH key: a random secret created once per installation in the user's state directory
  (file mode 0600), never sent and never logged; a per-process key if it cannot be stored.
- The sensitive literals: user name, home and working directories, host name, the repository's
  name. The core's leak guard redacts them wherever they appear.
- The distinct id: random per session, derived from nothing on the machine.
"""

from __future__ import annotations

import getpass
import logging
import os
import platform
import uuid
from pathlib import Path
from typing import Final

KEY_FILE_NAME: Final = "telemetry-hash-key"
KEY_BYTES: Final = 32
MAX_PARENTS_SEARCHED: Final = 32
"""How far up from the working directory a ``.git`` is looked for."""

logger = logging.getLogger("codeweaver_telemetry")


def new_distinct_id() -> str:
    """A random id for one session: nothing derived from the machine or the user."""
    return str(uuid.uuid4())


def installation_hash_key(state_directory: Path) -> bytes:
    """The installation's HASH key: read, or created once with mode 0600.

    If it cannot be read or stored, a random key for this process only: hashes then link
    within the process, never across runs, which fails towards privacy.
    """
    path = state_directory / KEY_FILE_NAME
    try:
        key = path.read_bytes()
        if len(key) == KEY_BYTES:
            return key
        logger.debug("telemetry: the stored hash key has the wrong length; using a process key")
    except FileNotFoundError:
        stored = _store_new_key(path)
        if stored is not None:
            return stored
    except OSError as error:
        logger.debug(
            "telemetry: cannot read the hash key (%s); using a process key", error.strerror
        )
    return os.urandom(KEY_BYTES)


def _store_new_key(path: Path) -> bytes | None:
    key = os.urandom(KEY_BYTES)
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # O_EXCL: if two processes race, one creates the key and the other reads it.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        try:
            existing = path.read_bytes()
        except OSError:
            return None
        return existing if len(existing) == KEY_BYTES else None
    except OSError as error:
        logger.debug("telemetry: cannot store a hash key (%s); using a process key", error.strerror)
        return None
    with os.fdopen(descriptor, "wb") as file:
        file.write(key)
    return key


def sensitive_literals(working_directory: Path | None = None) -> frozenset[str]:
    """This machine's names that must never appear in telemetry: user, host, home and
    working directories (and their names), and the enclosing git repository's name."""
    literals: set[str] = set()
    try:
        literals.add(getpass.getuser())
    except Exception:  # noqa: BLE001 - getuser raises OSError, KeyError or ImportError by platform
        logger.debug("telemetry: no user name to protect")
    literals.add(platform.node())
    cwd = working_directory or _cwd()
    for directory in (Path.home(), cwd):
        if directory is not None:
            literals.update((str(directory), directory.name))
    repository = _repository_root(cwd) if cwd is not None else None
    if repository is not None:
        literals.update((str(repository), repository.name))
    return frozenset(literal for literal in literals if literal and literal != "/")


def _cwd() -> Path | None:
    try:
        return Path.cwd()
    except OSError:  # the working directory was removed
        return None


def _repository_root(start: Path) -> Path | None:
    for index, directory in enumerate((start, *start.parents)):
        if index >= MAX_PARENTS_SEARCHED:
            break
        if (directory / ".git").exists():
            return directory
    return None
