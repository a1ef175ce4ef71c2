"""Reading and writing the library's small files: regular files only, bounded, replaced whole.

A FIFO, a device (``/dev/zero``) or a directory where a configuration or key file is expected
is refused before a byte is read (opening does not block: ``O_NONBLOCK``), and a file larger
than the caller's bound is refused, not read. A file is written to a private temporary file
beside it (mode 0600) and moved over the old one, so a reader never sees half of it.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from typing import NamedTuple


class RegularFile(NamedTuple):
    """A file's status (from the open descriptor) and its content."""

    status: os.stat_result
    content: bytes


def read_regular_file(path: str, *, max_bytes: int, follow_symlinks: bool = True) -> RegularFile:
    """The file's status and content; OSError when it cannot be read, is not a regular file
    or its path has a NUL (``EINVAL``), is larger than ``max_bytes`` (``EFBIG``) or, without
    ``follow_symlinks``, is a symbolic link (``ELOOP``)."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    if not follow_symlinks:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        descriptor = os.open(path, flags)
    except ValueError:  # a NUL in the path: no file has that name
        raise OSError(errno.EINVAL, "a path with a NUL character") from None
    try:
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        if status.st_size > max_bytes:
            raise OSError(errno.EFBIG, f"larger than {max_bytes:,} bytes")
        chunks: list[bytes] = []
        left = max_bytes + 1
        while left > 0:
            chunk = os.read(descriptor, left)
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        content = b"".join(chunks)
        if len(content) > max_bytes:  # it grew while being read
            raise OSError(errno.EFBIG, f"larger than {max_bytes:,} bytes")
        return RegularFile(status, content)
    finally:
        os.close(descriptor)


def write_private_file(path: str, content: bytes, *, replace: bool = True) -> None:
    """Write ``path`` whole, mode 0600, creating its directory with mode 0700 if needed.

    With ``replace`` the new file takes the old one's place atomically; without, it is created
    only if there is none (``FileExistsError`` otherwise: another process was first). OSError
    when it cannot be written; the temporary file is never left behind.
    """
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, mode=0o700, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=directory, prefix=".tmp-")
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
        if replace:
            os.replace(temporary, path)
        else:
            os.link(temporary, path)  # fails if the path exists: never a half-made file
    finally:
        if os.path.lexists(temporary):
            os.unlink(temporary)


def owned_by_user(status: os.stat_result) -> bool:
    """Whether the current user owns what ``status`` describes (always, where there are no
    POSIX owners)."""
    getuid = getattr(os, "getuid", None)
    return getuid is None or status.st_uid == getuid()
