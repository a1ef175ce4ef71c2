"""The durable spool: events not delivered by the end of a process wait on disk for the next one.

What the delivery worker could not deliver (the host down, refused, silent, or the process
exiting) is appended here; the next process of the same app, with telemetry on, claims it from
its delivery thread and sends it with the uuids it was captured with (PostHog deduplicates on
them). The design follows Mozilla Glean's pending-pings directory (one file per unit, a scan at
start, quotas in bytes and count enforced oldest first, unreadable files deleted) and
golang.org/x/telemetry's local directory (plain files in a per-user, per-program directory,
named so that a listing says what they hold).

**Layout.** ``<user_state_directory(app)>/spool/`` (mode 0700) holds segment files (mode 0600)
of JSON lines, one wire item per line. A name says everything the bounds and ``status`` need,
so neither reads a file::

    v1.<oldest ms>.<newest ms>.<events>.<pid>-<random>.<state>      state: open | ready | claimed

``v1`` is the format version: a later version ignores or migrates these, and this one leaves
any other name alone. Each process appends to its own ``open`` segment (``O_APPEND``, one
``write`` per append) and renames it after each append so that its name stays true; it seals
it (``ready``) when it reaches a sixteenth of a bound, before claiming, and at :meth:`Spool.close`
(else its lock goes with the process, and the next one takes it as it is). A line is written
whole or is the file's torn last line: a reader skips a line that does not parse (counted
``WRITE_FAILED``), so a crash loses at most what was being written, never the file. A short
write (a full disk) is cut back to the last whole line at once. Files are not fsynced: a crash
or ``kill -9`` keeps what the kernel has; only a power cut can lose the last seconds, and
then as a torn tail, which is skipped. Temporary files (``.tmp.*``) never hold the only copy of
anything, and are removed once an hour old.

**Exactly once across processes.** A file is someone's while they hold an exclusive
``flock`` on it: a writer on its ``open`` segment, a claimer on its ``claimed`` file. The
kernel releases the lock when its process dies, however it dies, and pid reuse cannot fool it
(a pid check can be). To claim, a process opens the file, takes the lock without waiting
(``LOCK_NB``: held means alive, so the file is skipped), renames it to ``claimed`` and checks
that the name still leads to the inode it locked; of two processes starting together one
gets the lock or the rename, the other a refusal or ``ENOENT``, and skips. A dead claimer's or
writer's file is taken the same way, since its lock is gone. Every file is created under a
temporary name, locked, and only then renamed into view, so no one sees it unlocked. A claim
larger than the batch is split: the rest is written as at most :data:`MAX_PIECES` new
``ready`` files first, then the claimed file is replaced by the batch (already locked); a crash
or an error between the two sends the rest twice, which the uuids make once, rather than never.
Delivered, the claimed file is removed (a crash between the export and the removal also
resends, once more deduplicated); returned, it is renamed ``ready`` under its old order. Where
there is no ``flock`` (Windows, a network or FUSE file system without it), a file not ``ready``
is taken only when untouched for an hour.

**Bounds, cheaply.** Sizes come from one directory listing (``lstat`` per entry) and event
counts from the names; nothing is read to enforce a bound. An append that would pass a bound
first drops the oldest events, counted ``SPOOL_FULL``: a segment wholly over is removed unread,
one partly over loses its first lines, cut by bytes without parsing them, and the rest is
written back as it was. What live processes hold cannot be dropped; then the newcomers' oldest
go.
Two processes appending at the same instant can pass a bound by one append each; the next
append puts it right. Entries older than the maximum age are dropped unread when a whole
segment is (its newest time is in its name), else one by one when read (``EXPIRED``).

**Trust nothing on disk.** The directory is opened with ``O_NOFOLLOW`` and must be a directory
the user owns (its mode is set to 0700 through the descriptor); every other call is relative
to that descriptor, so a path swapped for a link meanwhile leads nowhere. Files are created
with ``os.open(..., 0o600)`` and ``fchmod`` (no umask can widen them), opened with
``O_NOFOLLOW | O_NONBLOCK`` and checked with ``fstat``: a link, a FIFO, a device, a file with a
second name (hard link) or one larger than the byte bound is removed unread (its name's count
as ``WRITE_FAILED``); a directory is left alone. A name's count is believed only as far as the
entry can hold it (none for anything but a regular file, at most one per
:data:`MIN_LINE_BYTES` bytes of one), so that no planted name fills the bounds for good or
inflates ``status`` and the losses. A listing looks at most at :data:`MAX_ENTRIES` of the
spool's own names, among at most :data:`MAX_LISTED_FACTOR` times as many of any name (files
of other names neither hide the segments nor make a listing long); an opt-out lists them all.
Every line read back, and every item appended, is checked for shape
(exactly the five keys, a canonical lowercase uuid, a non-empty string event and distinct id,
an object of properties nested at most :data:`MAX_DEPTH` deep, a time-zoned ISO timestamp, no
NaN, a capture time the names can hold) and must pass the wire check unchanged (the event name
a label, the distinct id a session id or a label, nothing of the properties dropped): what the
spool hands out is sent, and a file on disk, or an item handed over by mistake, may carry a
path or a secret. Anything else is dropped and counted: an item handed
to :meth:`Spool.append` as ``NOT_BUILT``, a line read back as ``WRITE_FAILED``.

**Never raises.** Every ``OSError`` (``ENOSPC`` included) and every other ``Exception`` becomes
a counted :class:`LossReason` (``OUTAGE`` for events that could not be written) or a no-op,
with one debug line. No I/O happens at import time, nor in the constructor. The delivery worker
calls a spool from its own thread (a lock makes a second thread safe, not fast). In a forked
child a spool forgets the parent's segment (per object: a weak at-fork registration and a pid
check) and starts its own.
"""

from __future__ import annotations

import collections
import contextlib
import datetime
import errno
import functools
import json
import math
import os
import re
import secrets
import stat
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, NamedTuple, TypeGuard

from codeweaver_telemetry.core.sink import LossReason

from .files import owned_by_user
from .forks import start_afresh_in_children
from .log import debug

try:
    import fcntl
except ImportError:  # Windows: no flock; ownership falls back to the files' age
    fcntl = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from codeweaver_telemetry.core.policy import PrivacyPolicy
    from codeweaver_telemetry.core.vocabulary import JSONObject

FORMAT: Final = "v1"
MAX_DEPTH: Final = 64
"""How deep the properties of an item read back may nest (the wire allows far less)."""
MAX_TEXT: Final = 1024
"""The longest event name or distinct id read back."""
MAX_ENTRIES: Final = 4096
"""How many directory entries one listing looks at (a directory stuffed with junk costs no
more than this)."""
MAX_LISTED_FACTOR: Final = 16
"""A listing stops after this many times :data:`MAX_ENTRIES` entries of any name."""
MAX_SEGMENTS_PER_CLAIM: Final = 64
"""How many files one claim opens before giving up for now (each may be junk)."""
STALE_SECONDS: Final = 3600.0
"""A temporary file older than this is left from a crash; without flock, so is an open or
claimed file."""
MAX_PIECES: Final = 8
"""Into how many files, at most, a claim splits what it leaves of a segment."""
WRITE_CHUNK: Final = 1 << 20
MIN_LINE_BYTES: Final = 64
"""Fewer bytes than any wire item's line takes (its uuid and timestamp alone take more)."""
ITEM_KEYS: Final = frozenset({"event", "distinct_id", "properties", "timestamp", "uuid"})

_NAME: Final = re.compile(
    r"v1\.(?P<oldest>\d{1,16})\.(?P<newest>\d{1,16})\.(?P<count>\d{1,9})"
    r"\.(?P<token>\d{1,10}-[0-9a-f]{16})\.(?P<state>open|ready|claimed)"
)
_TEMPORARY_PREFIX: Final = ".tmp."
_MAX_MS: Final = 10**16
"""A capture time in milliseconds must fit the names' 16 digits (year 2286 and before)."""
_UUID: Final = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

_READ_FLAGS: Final = (
    os.O_RDONLY
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)
_CREATE_FLAGS: Final = (
    os.O_WRONLY
    | os.O_CREAT
    | os.O_EXCL
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)
_DIRECTORY_FLAGS: Final = (
    os.O_RDONLY
    | getattr(os, "O_DIRECTORY", 0)
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
)
_RELATIVE: Final = (
    os.open in os.supports_dir_fd
    and os.rename in os.supports_dir_fd
    and os.unlink in os.supports_dir_fd
    and os.stat in os.supports_dir_fd
    and os.scandir in os.supports_fd
)
"""Whether every call can be made relative to the directory's descriptor (not on Windows)."""


@dataclass(frozen=True)
class SpoolLimits:
    """The spool's bounds: bytes on disk, events, and how long an event may wait."""

    max_bytes: int = 4 * 1024 * 1024
    max_events: int = 10_000
    max_age_seconds: float = 7 * 24 * 3600.0

    @property
    def segment_bytes(self) -> int:
        """A segment is sealed past this size: dropping one costs a sixteenth of the bound."""
        return max(4096, self.max_bytes // 16)

    @property
    def segment_events(self) -> int:
        """A segment is sealed past this many events."""
        return max(1, self.max_events // 16)


@dataclass(frozen=True)
class SpoolStatus:
    """What ``status`` shows: how many events wait, and how old the oldest is."""

    waiting: int
    oldest_age_seconds: float | None


class _Entry(NamedTuple):
    """A segment as the listing shows it."""

    name: str
    oldest_ms: int
    newest_ms: int
    events: int
    token: str
    state: str
    size: int
    mtime: float


class _Line(NamedTuple):
    item: JSONObject
    captured_ms: int
    data: bytes


class _Place:
    """The spool directory, opened without following a link, as the user's own and 0700;
    every call is relative to its descriptor where the platform allows."""

    def __init__(self, path: str, descriptor: int | None) -> None:
        self.path = path
        self.descriptor = descriptor

    @classmethod
    def open(cls, path: str, *, create: bool) -> _Place | None:
        """The directory (made if ``create``), or None when it does not exist."""
        if create:
            os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
            with contextlib.suppress(FileExistsError):
                os.mkdir(path, 0o700)
        try:
            if not _RELATIVE:
                _check_directory(os.lstat(path))
                return cls(path, None)
            descriptor = os.open(path, _DIRECTORY_FLAGS)
        except FileNotFoundError:
            return None
        try:
            status = os.fstat(descriptor)
            _check_directory(status)
            if os.name == "posix" and stat.S_IMODE(status.st_mode) != 0o700:
                os.fchmod(descriptor, 0o700)
        except BaseException:
            os.close(descriptor)
            raise
        return cls(path, descriptor)

    def close(self) -> None:
        if self.descriptor is not None:
            os.close(self.descriptor)
            self.descriptor = None

    def __enter__(self) -> _Place:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _where(self, name: str) -> tuple[str, dict[str, int]]:
        if self.descriptor is None:
            return os.path.join(self.path, name), {}
        return name, {"dir_fd": self.descriptor}

    def open_file(self, name: str, flags: int, mode: int = 0o600) -> int:
        where, relative = self._where(name)
        return os.open(where, flags, mode, **relative)

    def rename(self, old: str, new: str) -> None:
        if self.descriptor is None:
            os.replace(os.path.join(self.path, old), os.path.join(self.path, new))
        else:
            os.rename(old, new, src_dir_fd=self.descriptor, dst_dir_fd=self.descriptor)

    def unlink(self, name: str) -> None:
        where, relative = self._where(name)
        os.unlink(where, **relative)

    def lstat(self, name: str) -> os.stat_result:
        where, relative = self._where(name)
        return os.stat(where, follow_symlinks=False, **relative)

    def entries(self, *, bounded: bool = True) -> Iterator[os.DirEntry[str]]:
        """The directory's entries: at most :data:`MAX_ENTRIES` of the spool's own names
        (segments, temporary files) among at most :data:`MAX_LISTED` of any name, so that
        files of other names (another version's, junk) neither hide the segments nor make a
        listing long; every entry when not ``bounded`` (an opt-out deletes them all)."""
        target: int | str = self.path if self.descriptor is None else self.descriptor
        own = 0
        with os.scandir(target) as listing:
            for index, entry in enumerate(listing):
                if bounded and (own >= MAX_ENTRIES or index >= MAX_LISTED_FACTOR * MAX_ENTRIES):
                    debug("telemetry: the spool directory has too many entries")
                    return
                if _is_own_name(entry.name):
                    own += 1
                yield entry


def _check_directory(status: os.stat_result) -> None:
    if not stat.S_ISDIR(status.st_mode):
        raise NotADirectoryError(errno.ENOTDIR, "the spool is not a directory")
    if not owned_by_user(status):
        raise PermissionError(errno.EPERM, "the spool directory is not the user's")


class _Held(NamedTuple):
    """A file this process holds the lock of, under ``name``."""

    descriptor: int
    name: str
    entry: _Entry


class _Open:
    """This process's open segment: what its name says, kept true after each append."""

    def __init__(self, descriptor: int, token: str, name: str, captured_ms: int) -> None:
        self.descriptor = descriptor
        self.token = token
        self.name = name
        self.oldest_ms = captured_ms
        self.newest_ms = captured_ms
        self.count = 0
        self.size = 0

    def close(self) -> None:
        descriptor, self.descriptor = self.descriptor, -1
        if descriptor >= 0:
            _quietly(os.close, descriptor)

    def __del__(self) -> None:
        # A spool dropped without close(): its segment is freed for others, as at exit.
        try:
            self.close()
        except Exception:  # noqa: BLE001 - at interpreter exit, modules may be torn down
            return


class Spool:
    """A bounded, crash-safe, multi-process spool of wire items in one directory.

    No method raises or blocks on another process; each returns the events it lost, by
    reason. Meant for one thread (the delivery worker's); a lock keeps a second one safe.
    """

    def __init__(
        self,
        directory: str,
        *,
        limits: SpoolLimits = SpoolLimits(),
        clock: Callable[[], float] = time.time,
        query_opt_in: bool = False,
    ) -> None:
        """``query_opt_in``: whether the user's opt-in to the search event's query properties
        holds now (the ``tools_over_privacy`` setting; off unless said): without it, an item
        that carries them is neither written nor handed out, so that withdrawing the opt-in
        stops what waits in the spool too."""
        self.directory = directory
        self.limits = limits
        self._clock = clock
        self._query_opt_in = query_opt_in
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._segment: _Open | None = None
        self._unwritten = 0
        """During an append: the lines neither written nor counted yet."""
        self._pending: collections.Counter[LossReason] = collections.Counter()
        self._claims: weakref.WeakSet[ClaimedBatch] = weakref.WeakSet()
        # Through the shared weak registry: an at-fork hook of its own per spool could never
        # be removed, so a host making a client (and a spool) per task would add one per
        # spool for ever, each run at every fork.
        start_afresh_in_children(self)

    # --- the interface ----------------------------------------------------------------------

    def append(self, items: Sequence[JSONObject]) -> Mapping[LossReason, int]:
        """Write ``items`` (wire items) to the spool; what could not be kept, by reason."""
        if not isinstance(items, Sequence) or isinstance(items, str | bytes):
            return {LossReason.NOT_BUILT: 1}
        losses: collections.Counter[LossReason] = collections.Counter()
        self._unwritten = 0
        try:
            with self._lock:
                self._check_pid()
                losses.update(self._pending)
                self._pending.clear()
                lines = self._encode(items, losses)
                self._unwritten = len(lines)
                self._append(lines, losses)
        except Exception as error:  # noqa: BLE001 - never raise into the worker
            _log_failure("append to", error)
            losses[LossReason.OUTAGE] += self._unwritten
        return _counted(losses)

    def claim(self, max_items: int) -> ClaimedBatch | None:
        """The oldest waiting items (at most ``max_items``), claimed for this process until
        :meth:`ClaimedBatch.delivered` or :meth:`ClaimedBatch.returned`; None when nothing
        waits (or the spool cannot be read). Losses found on the way ride on the batch, or,
        when there is none, on the next result (or :meth:`take_losses`)."""
        losses: collections.Counter[LossReason] = collections.Counter()
        try:
            with self._lock:
                self._check_pid()
                if not isinstance(max_items, int) or max_items < 1:
                    return None
                batch = self._claim(max_items, losses)
                if batch is not None:
                    losses.update(self._pending)
                    self._pending.clear()
                    batch.losses = _counted(losses)
                    self._claims.add(batch)
                    return batch
                self._pending.update(losses)
        except Exception as error:  # noqa: BLE001 - never raise into the worker
            _log_failure("claim from", error)
            with self._lock:
                self._pending.update(losses)
        return None

    def status(self) -> SpoolStatus:
        """How many events wait and how old the oldest is (from the names: nothing is read)."""
        try:
            place = _Place.open(self.directory, create=False)
            if place is None:
                return SpoolStatus(0, None)
            with place:
                now_ms = self._now_ms()
                live = [
                    entry for entry in _segments(place) if not self._expired_whole(entry, now_ms)
                ]
        except Exception as error:  # noqa: BLE001 - status never fails for the spool's sake
            _log_failure("read the status of", error)
            return SpoolStatus(0, None)
        if not live:
            return SpoolStatus(0, None)
        oldest = min(entry.oldest_ms for entry in live)
        return SpoolStatus(sum(entry.events for entry in live), max(0.0, (now_ms - oldest) / 1000))

    def delete_all(self) -> None:
        """Remove every file of the spool and the directory itself (an opt-out): never
        following a link, never descending into a directory planted in it."""
        try:
            with self._lock:
                self._close_segment()
                place = _Place.open(self.directory, create=False)
                if place is None:
                    return
                with place:
                    for entry in list(place.entries(bounded=False)):
                        if not entry.is_dir(follow_symlinks=False):
                            _quietly(place.unlink, entry.name)
                os.rmdir(self.directory)
        except FileNotFoundError:
            return
        except Exception as error:  # noqa: BLE001 - an opt-out never fails loudly
            _log_failure("delete", error)

    def close(self) -> None:
        """Seal this process's open segment, so that any spool (another client's in this
        process too) can claim it now rather than after this process exits. The spool stays
        usable: a later append starts a new segment."""
        try:
            with self._lock:
                self._check_pid()
                place = _Place.open(self.directory, create=False)
                if place is None:
                    self._close_segment()
                    return
                with place:
                    self._seal(place)
        except Exception as error:  # noqa: BLE001 - never raise into the worker
            _log_failure("close", error)
            self._close_segment()

    def take_losses(self) -> Mapping[LossReason, int]:
        """Losses found by a claim that had no batch to carry them (and count afresh)."""
        with self._lock:
            losses = _counted(self._pending)
            self._pending.clear()
        return losses

    # --- forks ------------------------------------------------------------------------------

    def _check_pid(self) -> None:
        if self._pid != os.getpid():
            self._forget_inherited()

    def after_fork_in_child(self) -> None:
        """In a forked child: forget the parent's segment and claims (see below)."""
        self._forget_inherited()

    def _forget_inherited(self) -> None:
        """In a forked child: the parent's segment and locks are the parent's."""
        self._lock = threading.Lock()
        self._pid = os.getpid()
        segment, self._segment = self._segment, None
        if segment is not None:
            segment.close()  # the parent's own descriptor keeps its lock
        for claim in list(self._claims):  # the parent's to finish; kept alive here, its
            claim._forget()  # lock would outlive the parent
        self._claims = weakref.WeakSet()
        self._pending = collections.Counter()

    # --- appending --------------------------------------------------------------------------

    def _encode(
        self, items: Sequence[JSONObject], losses: collections.Counter[LossReason]
    ) -> list[_Line]:
        """The items as lines, the ones not to keep counted; of more than the bounds alone,
        the newest."""
        now_ms = self._now_ms()
        lines: list[_Line] = []
        for item in items:
            line = _encoded(item, query_opt_in=self._query_opt_in)
            if line is None:
                losses[LossReason.NOT_BUILT] += 1
            elif self._expired(line.captured_ms, now_ms):
                losses[LossReason.EXPIRED] += 1
            else:
                lines.append(line)
        kept = size = 0
        for line in reversed(lines):
            if kept >= self.limits.max_events or size + len(line.data) > self.limits.max_bytes:
                break
            kept += 1
            size += len(line.data)
        losses[LossReason.SPOOL_FULL] += len(lines) - kept
        return lines[len(lines) - kept :]

    def _append(self, lines: list[_Line], losses: collections.Counter[LossReason]) -> None:
        if not lines:
            return
        place = _Place.open(self.directory, create=True)
        if place is None:
            raise FileNotFoundError(errno.ENOENT, "the spool directory vanished")
        with place:
            entries = self._tidy(place, losses)
            lines = self._make_room(place, entries, lines, losses)
            self._unwritten = len(lines)
            if lines:
                self._write(place, self._segment_for(place, lines), lines, losses)
            self._unwritten = 0

    def _tidy(self, place: _Place, losses: collections.Counter[LossReason]) -> list[_Entry]:
        """The segments, after removing left-over temporary files and wholly expired segments."""
        now_ms = self._now_ms()
        entries: list[_Entry] = []
        for entry in _segments(place, temporaries=True):
            if entry.state == "tmp":
                if _untouched_for(entry) > STALE_SECONDS:
                    self._remove_if_free(place, entry)
                continue
            if self._expired_whole(entry, now_ms) and self._remove_if_free(place, entry):
                losses[LossReason.EXPIRED] += entry.events
                continue
            entries.append(entry)
        return entries

    def _make_room(
        self,
        place: _Place,
        entries: list[_Entry],
        lines: list[_Line],
        losses: collections.Counter[LossReason],
    ) -> list[_Line]:
        """Drop the oldest events until ``lines`` fit; the lines that still fit."""
        used_events = sum(entry.events for entry in entries)
        used_bytes = sum(entry.size for entry in entries)
        new_bytes = _bytes(lines)

        def over() -> tuple[int, int]:
            return (
                max(0, used_events + len(lines) - self.limits.max_events),
                max(0, used_bytes + new_bytes - self.limits.max_bytes),
            )

        if over() == (0, 0):
            return lines
        own = self._segment
        if own is not None and own.oldest_ms <= min((e.oldest_ms for e in entries), default=0):
            self._seal(place)  # this process's own events are the oldest: they go first
            entries = _segments(place)
        for entry in sorted(entries, key=_age_order):
            events_over, bytes_over = over()
            if (events_over, bytes_over) == (0, 0):
                return lines
            if own is not None and entry.token == own.token and self._segment is own:
                continue
            held = self._take(place, entry, losses)
            if held is None:
                continue
            try:
                dropped, rest = self._trimmed(place, held, events_over, bytes_over)
            finally:
                _quietly(os.close, held.descriptor)
            losses[LossReason.SPOOL_FULL] += dropped
            used_events += rest.events - entry.events
            used_bytes += rest.size - entry.size
        dropped = _covering(lines, *over())
        losses[LossReason.SPOOL_FULL] += dropped
        return lines[dropped:]

    def _trimmed(self, place: _Place, held: _Held, events: int, size: int) -> tuple[int, _Entry]:
        """Drop the first lines of a held file until ``events`` events and ``size`` bytes are
        gone, whole lines, parsing none but the new first (for its time): how many went, and
        what is left. A ``ready`` file's name is exact (written with it); any other's may say
        less than it holds (its writer died between a write and the rename), so it is counted."""
        entry = held.entry
        if entry.state == "ready" and (events >= entry.events or size >= entry.size):
            place.unlink(held.name)
            return entry.events, entry._replace(events=0, size=0)
        raw = [line + b"\n" for line in _read_bounded(held.descriptor, entry.size).split(b"\n")]
        raw = [line for line in raw if line != b"\n"]
        count = covered = 0
        while count < len(raw) and (count < events or covered < size):
            covered += len(raw[count])
            count += 1
        rest = raw[count:]
        if not rest:
            place.unlink(held.name)
            return count, entry._replace(events=0, size=0)
        first = _decoded(rest[0][:-1], query_opt_in=self._query_opt_in)
        oldest = first.captured_ms if first is not None else entry.oldest_ms
        name = _name(oldest, max(oldest, entry.newest_ms), len(rest), _token(), "ready")
        os.close(_create_locked(place, name, b"".join(rest)))  # before the old one goes
        try:
            place.unlink(held.name)
        except BaseException:  # two copies would send the rest twice: keep the old one
            _quietly(place.unlink, name)
            raise
        return count, entry._replace(events=len(rest), size=len(b"".join(rest)))

    def _segment_for(self, place: _Place, lines: list[_Line]) -> _Open:
        """This process's open segment, sealed and replaced when ``lines`` would overfill it,
        replaced when its name no longer leads to it (the spool was deleted meanwhile)."""
        segment = self._segment
        if segment is not None:
            try:
                same = place.lstat(segment.name).st_ino == os.fstat(segment.descriptor).st_ino
            except OSError:
                same = False
            if not same:
                self._close_segment()
            elif segment.count and (
                segment.count + len(lines) > self.limits.segment_events
                or segment.size + _bytes(lines) > self.limits.segment_bytes
            ):
                self._seal(place)
        if self._segment is None:
            token = _token()
            first = lines[0].captured_ms
            name = _name(first, first, 0, token, "open")
            descriptor = _create_locked(place, name, b"", append=True)
            self._segment = _Open(descriptor, token, name, first)
        return self._segment

    def _write(
        self,
        place: _Place,
        segment: _Open,
        lines: list[_Line],
        losses: collections.Counter[LossReason],
    ) -> None:
        written, error = _write_all(segment.descriptor, b"".join(line.data for line in lines))
        whole = len(lines)
        if error is not None:
            _log_failure("write to", error)
            whole, kept = _whole_lines(lines, written)
            losses[LossReason.OUTAGE] += len(lines) - whole
            if kept != written:
                try:  # cut the torn line now, so the next append starts on a fresh line
                    os.ftruncate(segment.descriptor, segment.size + kept)
                except OSError:
                    self._close_segment()  # its torn tail stays last: the reader skips it
            written = kept
        segment.size += written
        if whole:
            captured = [line.captured_ms for line in lines[:whole]]
            segment.count += whole
            segment.oldest_ms = min(segment.oldest_ms, *captured)
            segment.newest_ms = max(segment.newest_ms, *captured)
            self._rename_segment(place, segment, "open")

    def _rename_segment(self, place: _Place, segment: _Open, state: str) -> None:
        name = _name(segment.oldest_ms, segment.newest_ms, segment.count, segment.token, state)
        try:
            place.rename(segment.name, name)
            segment.name = name
        except OSError as error:
            _log_failure("rename a segment of", error)
            self._close_segment()

    def _seal(self, place: _Place) -> None:
        """Make this process's open segment ``ready``: claimable by anyone, this one too."""
        segment = self._segment
        if segment is None:
            return
        if segment.count:
            self._rename_segment(place, segment, "ready")
        else:
            _quietly(place.unlink, segment.name)
        self._close_segment()

    def _close_segment(self) -> None:
        segment, self._segment = self._segment, None
        if segment is not None:
            segment.close()

    # --- claiming ---------------------------------------------------------------------------

    def _claim(
        self, max_items: int, losses: collections.Counter[LossReason]
    ) -> ClaimedBatch | None:
        place = _Place.open(self.directory, create=False)
        if place is None:
            return None
        with place:
            self._seal(place)
            entries = sorted(self._tidy(place, losses), key=_age_order)
            for entry in entries[:MAX_SEGMENTS_PER_CLAIM]:
                held = self._take(place, entry, losses)
                if held is None:
                    continue
                try:
                    batch = self._claimed(place, held, max_items, losses)
                except BaseException:
                    # Released, it is claimed again whole (some of it twice if its rest was
                    # already written apart: uuids make that once, rather than never).
                    _quietly(os.close, held.descriptor)
                    raise
                if batch is not None:
                    return batch
        return None

    def _claimed(
        self,
        place: _Place,
        held: _Held,
        max_items: int,
        losses: collections.Counter[LossReason],
    ) -> ClaimedBatch | None:
        """The batch at the head of a held file: its rest written apart first, then the file
        replaced by the batch alone; None (the file removed) when nothing in it was valid."""
        lines = self._read(held, losses)
        if not lines:
            _quietly(place.unlink, held.name)
            _quietly(os.close, held.descriptor)
            return None
        head = lines[:max_items]
        # The rest in at most a few files: a batch of one must not make a file per event.
        size = max(max_items, -(-(len(lines) - max_items) // MAX_PIECES))
        pieces: list[str] = []
        try:
            for start in range(max_items, len(lines), size):
                # One by one: the names written so far are needed if a later piece fails.
                pieces.append(self._write_ready(place, lines[start : start + size]))  # noqa: PERF401
            if len(head) != held.entry.events or _bytes(head) != held.entry.size:
                held = self._replace(place, held, head)
        except BaseException:
            for piece in pieces:  # the held file still has them all: no second copy
                _quietly(place.unlink, piece)
            raise
        return ClaimedBatch(self, held, head)

    def _take(
        self, place: _Place, entry: _Entry, losses: collections.Counter[LossReason]
    ) -> _Held | None:
        """Lock ``entry`` and rename it ``claimed``; None when it is someone else's, gone,
        or not a regular file (then removed, its events counted)."""
        try:
            descriptor = place.open_file(entry.name, _READ_FLAGS)
        except FileNotFoundError:
            return None
        except OSError as error:
            if error.errno == errno.ELOOP:  # a symbolic link planted under a segment's name
                _quietly(place.unlink, entry.name)
                losses[LossReason.WRITE_FAILED] += entry.events
            else:
                _log_failure("open a segment of", error)
            return None
        try:
            status = os.fstat(descriptor)
            if stat.S_ISDIR(status.st_mode):
                os.close(descriptor)
                return None
            if (
                not stat.S_ISREG(status.st_mode)
                or status.st_nlink != 1  # a second name: a file of someone else's choosing
                or status.st_size > self.limits.max_bytes
            ):
                os.close(descriptor)
                _quietly(place.unlink, entry.name)
                losses[LossReason.WRITE_FAILED] += entry.events
                debug("telemetry: removed a spool file that was not a small regular file")
                return None
            if not _lock_now(descriptor, entry):
                os.close(descriptor)
                return None
            claimed = _name(entry.oldest_ms, entry.newest_ms, entry.events, entry.token, "claimed")
            if claimed != entry.name:
                place.rename(entry.name, claimed)
            if place.lstat(claimed).st_ino != status.st_ino:
                os.close(descriptor)
                return None
        except FileNotFoundError:  # another process took it first
            _quietly(os.close, descriptor)
            return None
        except BaseException:
            _quietly(os.close, descriptor)
            raise
        return _Held(descriptor, claimed, entry)

    def _read(self, held: _Held, losses: collections.Counter[LossReason]) -> list[_Line]:
        """The valid, unexpired lines of a held file, in order; the others counted (a torn
        or malformed line as WRITE_FAILED: it is a write that did not come back)."""
        content = _read_bounded(held.descriptor, self.limits.max_bytes)
        now_ms = self._now_ms()
        lines: list[_Line] = []
        for raw in content.split(b"\n"):
            if not raw:
                continue
            line = _decoded(raw, query_opt_in=self._query_opt_in)
            if line is None:
                losses[LossReason.WRITE_FAILED] += 1
            elif self._expired(line.captured_ms, now_ms):
                losses[LossReason.EXPIRED] += 1
            else:
                lines.append(line)
        return lines

    def _replace(self, place: _Place, held: _Held, lines: list[_Line]) -> _Held:
        """Replace a held file by ``lines`` (locked before it takes the name)."""
        entry = held.entry
        new_entry = entry._replace(
            oldest_ms=min(line.captured_ms for line in lines),
            newest_ms=max(line.captured_ms for line in lines),
            events=len(lines),
            size=_bytes(lines),
        )
        name = _name(new_entry.oldest_ms, new_entry.newest_ms, len(lines), entry.token, "claimed")
        descriptor = _create_locked(place, name, b"".join(line.data for line in lines))
        if name != held.name:
            try:
                place.unlink(held.name)
            except BaseException:  # two copies would send the batch twice: keep the old one
                _quietly(place.unlink, name)
                os.close(descriptor)
                raise
        _quietly(os.close, held.descriptor)
        return _Held(descriptor, name, new_entry)

    def _write_ready(self, place: _Place, lines: list[_Line]) -> str:
        """A new ``ready`` file of ``lines``; its name."""
        oldest = min(line.captured_ms for line in lines)
        newest = max(line.captured_ms for line in lines)
        name = _name(oldest, newest, len(lines), _token(), "ready")
        os.close(_create_locked(place, name, b"".join(line.data for line in lines)))
        return name

    def _finish(self, held: _Held, *, delivered: bool) -> None:
        """Remove a delivered claim, or rename a returned one ``ready``."""
        with self._lock:
            if self._pid != os.getpid():
                return
            try:
                place = _Place.open(self.directory, create=False)
                if place is None:
                    return
                with place:
                    if delivered:
                        place.unlink(held.name)
                    else:
                        entry = held.entry
                        ready = _name(
                            entry.oldest_ms, entry.newest_ms, entry.events, entry.token, "ready"
                        )
                        place.rename(held.name, ready)
            except FileNotFoundError:  # deleted by an opt-out meanwhile
                pass
            except OSError as error:
                _log_failure("finish a claim of", error)
            finally:
                _quietly(os.close, held.descriptor)

    # --- time -------------------------------------------------------------------------------

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def _expired(self, captured_ms: int, now_ms: int) -> bool:
        age = (now_ms - captured_ms) / 1000
        return age > self.limits.max_age_seconds or -age > self.limits.max_age_seconds

    def _expired_whole(self, entry: _Entry, now_ms: int) -> bool:
        return self._expired(entry.newest_ms, now_ms) and self._expired(entry.oldest_ms, now_ms)

    def _remove_if_free(self, place: _Place, entry: _Entry) -> bool:
        """Remove ``entry`` if no live process holds it."""
        try:
            descriptor = place.open_file(entry.name, _READ_FLAGS)
        except OSError as error:
            if error.errno == errno.ELOOP:
                _quietly(place.unlink, entry.name)
            return False
        try:
            if not _lock_now(descriptor, entry):
                return False
            if place.lstat(entry.name).st_ino != os.fstat(descriptor).st_ino:
                return False
            place.unlink(entry.name)
        except OSError:
            return False
        else:
            return True
        finally:
            os.close(descriptor)


class ClaimedBatch:
    """Items claimed from the spool by this process: deliver them, then say which it was.

    Until :meth:`delivered` or :meth:`returned`, no other process takes them; if this
    process dies first, the next one does.
    """

    def __init__(self, spool: Spool, held: _Held, lines: list[_Line]) -> None:
        self.items: list[JSONObject] = [line.item for line in lines]
        self.losses: Mapping[LossReason, int] = {}
        self._spool = spool
        self._held: _Held | None = held

    def delivered(self) -> None:
        """The items reached the destination: remove them for good."""
        self._finish(delivered=True)

    def returned(self) -> None:
        """The items were not delivered: give them back for a later attempt or process."""
        self._finish(delivered=False)

    def _forget(self) -> None:
        """In a forked child: close this copy of the parent's claim, leaving it the parent's."""
        held, self._held = self._held, None
        if held is not None:
            _quietly(os.close, held.descriptor)

    def __del__(self) -> None:
        # Dropped unfinished: unlocked, it is claimed again (as if this process had died).
        held, self._held = getattr(self, "_held", None), None
        if held is not None:
            try:
                os.close(held.descriptor)
            except Exception:  # noqa: BLE001 - at interpreter exit, modules may be torn down
                return

    def _finish(self, *, delivered: bool) -> None:
        held, self._held = self._held, None
        if held is None:
            return
        try:
            self._spool._finish(held, delivered=delivered)
        except Exception as error:  # noqa: BLE001 - never raise into the worker
            _log_failure("finish a claim of", error)


# --- files ----------------------------------------------------------------------------------


def _segments(place: _Place, *, temporaries: bool = False) -> list[_Entry]:
    """The listing's segments (and temporary files, as state ``tmp``), by name alone plus one
    ``lstat`` each; any other name is left alone."""
    found: list[_Entry] = []
    for entry in place.entries():
        name = entry.name
        if temporaries and name.startswith(_TEMPORARY_PREFIX):
            match = None
            state = "tmp"
        else:
            match = _NAME.fullmatch(name)
            if match is None:
                continue
            state = match["state"]
        try:
            status = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if match is None:
            found.append(_Entry(name, 0, 0, 0, "", state, status.st_size, status.st_mtime))
            continue
        regular = stat.S_ISREG(status.st_mode)
        size = status.st_size if regular else 0
        # A name's count is believed only as far as the file can hold it: a name chooses
        # nothing (a directory or a link named "999999999 events" would fill every bound).
        events = min(int(match["count"]), size // MIN_LINE_BYTES)
        found.append(
            _Entry(
                name,
                int(match["oldest"]),
                int(match["newest"]),
                events,
                match["token"],
                state,
                size,
                status.st_mtime,
            )
        )
    return found


def _is_own_name(name: str) -> bool:
    return name.startswith(_TEMPORARY_PREFIX) or _NAME.fullmatch(name) is not None


def _age_order(entry: _Entry) -> tuple[int, str]:
    return entry.oldest_ms, entry.name


def _name(oldest_ms: int, newest_ms: int, count: int, token: str, state: str) -> str:
    return f"{FORMAT}.{oldest_ms}.{newest_ms}.{count}.{token}.{state}"


def _token() -> str:
    return f"{os.getpid()}-{secrets.token_hex(8)}"


def _create_locked(place: _Place, name: str, content: bytes, *, append: bool = False) -> int:
    """A new file ``name`` holding ``content``, mode 0600, locked by this process before it
    is renamed into view; its descriptor (write-only)."""
    temporary = f"{_TEMPORARY_PREFIX}{_token()}"
    flags = _CREATE_FLAGS | (os.O_APPEND if append else 0)
    descriptor = place.open_file(temporary, flags, 0o600)
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(descriptor, 0o600)
        _flock(descriptor)  # no one can have it yet: only "unsupported" can fail it
        _write_or_raise(descriptor, content)
        place.rename(temporary, name)
    except BaseException:
        _quietly(place.unlink, temporary)
        os.close(descriptor)
        raise
    return descriptor


def _untouched_for(entry: _Entry) -> float:
    """Seconds since the file was last written, by the file system's clock (not the spool's,
    which a test may set)."""
    return time.time() - entry.mtime


def _lock_now(descriptor: int, entry: _Entry) -> bool:
    """Whether this process now holds ``entry`` (no one else did). Where there are no locks
    (Windows, a file system without flock), only a ``ready`` file or one untouched for
    :data:`STALE_SECONDS` is taken."""
    locked = _flock(descriptor)
    if locked is None:
        return entry.state == "ready" or _untouched_for(entry) > STALE_SECONDS
    return locked


def _flock(descriptor: int) -> bool | None:
    """Take the file's exclusive lock without waiting: True when taken, False when another
    open file holds it, None when there are no such locks here."""
    if fcntl is None:
        return None
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError as error:
        if error.errno in _NO_LOCKS:
            return None
        raise
    return True


_NO_LOCKS: Final = frozenset(
    {errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL, getattr(errno, "ENOTSUP", errno.EOPNOTSUPP)}
)
"""What flock answers on a file system that has no such locks (some network and FUSE ones)."""


def _write_all(descriptor: int, data: bytes) -> tuple[int, OSError | None]:
    """Bytes written and the error that stopped it, if any."""
    view = memoryview(data)
    written = 0
    while written < len(data):
        try:
            count = os.write(descriptor, view[written : written + WRITE_CHUNK])
        except OSError as error:
            # Without its traceback: kept, it holds this frame and, through it, the caller's,
            # which holds the error: a cycle that keeps the spool, its open segment and the
            # segment's lock alive until the garbage collector runs.
            return written, error.with_traceback(None)
        if count <= 0:
            return written, OSError(errno.ENOSPC, "no progress writing the spool")
        written += count
    return written, None


def _write_or_raise(descriptor: int, data: bytes) -> None:
    error = _write_all(descriptor, data)[1]
    if error is not None:
        raise error


def _whole_lines(lines: list[_Line], written: int) -> tuple[int, int]:
    """How many of ``lines`` fit whole in ``written`` bytes, and their size."""
    size = 0
    for index, line in enumerate(lines):
        if size + len(line.data) > written:
            return index, size
        size += len(line.data)
    return len(lines), size


def _read_bounded(descriptor: int, max_bytes: int) -> bytes:
    chunks: list[bytes] = []
    left = max_bytes
    while left > 0:
        chunk = os.read(descriptor, min(left, WRITE_CHUNK))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _covering(lines: Sequence[_Line], events: int, size: int) -> int:
    """How many of the first ``lines`` make at least ``events`` events and ``size`` bytes
    (all of them if they do not)."""
    count = covered = 0
    while count < len(lines) and (count < events or covered < size):
        covered += len(lines[count].data)
        count += 1
    return count


def _bytes(lines: Sequence[_Line]) -> int:
    return sum(len(line.data) for line in lines)


def _quietly(call: Callable[..., object], *arguments: object) -> None:
    with contextlib.suppress(OSError):
        call(*arguments)


def _counted(losses: Mapping[LossReason, int]) -> dict[LossReason, int]:
    return {reason: count for reason, count in losses.items() if count}


def _log_failure(doing: str, error: BaseException) -> None:
    reason = getattr(error, "strerror", None) or type(error).__name__
    debug("telemetry: cannot %s the spool (%s)", doing, reason)


# --- items ----------------------------------------------------------------------------------


def _encoded(item: object, *, query_opt_in: bool) -> _Line | None:
    """One wire item as a spool line, or None when it is not one."""
    if not isinstance(item, dict):
        return None
    captured_ms = _checked_item(item, query_opt_in=query_opt_in)
    if captured_ms is None:
        return None
    try:
        text = json.dumps(item, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        return None
    return _Line(item, captured_ms, text.encode("ascii") + b"\n")


def _decoded(raw: bytes, *, query_opt_in: bool) -> _Line | None:
    """A spool line read back, or None when it is torn, not JSON or not a wire item."""
    try:
        item = json.loads(raw, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        return None
    if not isinstance(item, dict):
        return None
    captured_ms = _checked_item(item, query_opt_in=query_opt_in)
    if captured_ms is None:
        return None
    return _Line(item, captured_ms, raw + b"\n")


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def _checked_item(item: dict[object, object], *, query_opt_in: bool) -> int | None:
    """The capture time (ms) of a well-shaped wire item that the wire check passes as it is;
    None for anything else."""
    if len(item) != len(ITEM_KEYS) or set(item) != ITEM_KEYS:
        return None
    event, distinct_id = item["event"], item["distinct_id"]
    uuid, timestamp, properties = item["uuid"], item["timestamp"], item["properties"]
    if not (_is_text(event) and _is_text(distinct_id)):
        return None
    if not (isinstance(uuid, str) and _UUID.fullmatch(uuid)):
        return None
    if not isinstance(properties, dict) or not _is_json(properties):
        return None
    if not isinstance(timestamp, str) or len(timestamp) > 64:
        return None
    try:
        moment = datetime.datetime.fromisoformat(timestamp)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    captured_ms = int(moment.timestamp() * 1000)
    if not 0 <= captured_ms < _MAX_MS:
        return None
    passes = _passes_wire_check(event, distinct_id, properties, query_opt_in=query_opt_in)
    return captured_ms if passes else None


def _passes_wire_check(
    event: str, distinct_id: str, properties: dict[str, object], *, query_opt_in: bool
) -> bool:
    """Whether the wire check would send the item as it is: nothing of it dropped or
    redacted, the event name a label, the distinct id a session id or a label. A shape is
    not enough: an item handed over by mistake, or planted on disk, may carry a path, an
    address or a secret, and what the spool returns is sent. (The machine's own names are
    not known here; the client's check, which knows them, passed every item it sends.)"""
    from codeweaver_telemetry.core.wire import (  # noqa: PLC0415 - loaded off the host's path
        PRIVACY_FILTER_KEY,
        QUERY_TEXT_KEY,
        checked_event,
        is_label,
        is_session_id,
    )

    policy = _neutral_policy(query_opt_in)
    if not (is_session_id(distinct_id) or is_label(distinct_id, policy)):
        return False
    plain = {key: value for key, value in properties.items() if key != PRIVACY_FILTER_KEY}
    # Only the search event carries plain words, in query_text; any other item is a label.
    for query_words in (False, True) if QUERY_TEXT_KEY in properties else (False,):
        try:
            checked = checked_event(event, properties, policy, query_words=query_words)
        except Exception:  # noqa: BLE001 - an item from disk the check cannot take is not sent
            return False
        result = checked.value_or(None)
        if result is not None and result.dropped == 0 and result.redacted == 0:
            kept = result.properties
            if {key: value for key, value in kept.items() if key != PRIVACY_FILTER_KEY} == plain:
                return True
    return False


@functools.cache
def _neutral_policy(query_opt_in: bool) -> PrivacyPolicy:
    from codeweaver_telemetry.core.policy import PrivacyPolicy  # noqa: PLC0415 - see above

    return PrivacyPolicy(hash_key=bytes(32), tools_over_privacy=query_opt_in)


def _is_text(value: object) -> TypeGuard[str]:
    return type(value) is str and 0 < len(value) <= MAX_TEXT


def _is_json(value: object) -> bool:
    """Whether ``value`` is plain JSON (string keys, finite numbers), at most MAX_DEPTH deep."""
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            return False
        kind = type(node)
        if kind is dict:
            for key, child in node.items():  # type: ignore[attr-defined]
                if type(key) is not str:
                    return False
                stack.append((child, depth + 1))
        elif kind is list:
            stack.extend((child, depth + 1) for child in node)  # type: ignore[attr-defined]
        elif kind is float:
            if not math.isfinite(node):  # type: ignore[arg-type]
                return False
        elif kind not in (str, int, bool) and node is not None:
            return False
    return True
