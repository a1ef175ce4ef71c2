"""The durable spool: what one process could not deliver waits on disk, bounded and private,
for the next one, which sends each event exactly once."""

from __future__ import annotations

import collections
import errno
import json
import os
import stat
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import ClassVar

import pytest

from codeweaver_telemetry.adapters import spool as spool_module
from codeweaver_telemetry.adapters.cli import main
from codeweaver_telemetry.adapters.directories import spool_directory
from codeweaver_telemetry.adapters.spool import (
    ClaimedBatch,
    Spool,
    SpoolLimits,
    SpoolStatus,
)
from codeweaver_telemetry.core.app import App
from codeweaver_telemetry.core.sink import LossReason, OutboundEvent
from codeweaver_telemetry.core.vocabulary import JSONObject

NOW = 1_800_000_000.0
DAY = 86400.0
ROOT = Path(__file__).resolve().parent.parent


def wire_items(count: int, *, at: float = NOW, name: str = "codeweaver_search") -> list[JSONObject]:
    return [
        OutboundEvent(name, f"d{index}", {"n": index, "tags": ["a"]}, at + index / 1000).to_json(
            str(uuid.uuid4())
        )
        for index in range(count)
    ]


def uuids(items: list[JSONObject]) -> list[object]:
    return [item["uuid"] for item in items]


def drain(spool: Spool, batch: int = 100, *, limit: int = 1000) -> list[JSONObject]:
    """Claim and deliver until nothing waits (bounded)."""
    got: list[JSONObject] = []
    for _ in range(limit):
        claimed = spool.claim(batch)
        if claimed is None:
            return got
        got += claimed.items
        claimed.delivered()
    raise AssertionError("the spool never ran dry")


def segment_files(directory: Path) -> list[Path]:
    return sorted(path for path in directory.iterdir() if path.name.startswith("v1."))


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    return tmp_path / "state" / "codeweaver" / "spool"


def spool_at(directory: Path, **limits: float) -> Spool:
    return Spool(str(directory), limits=SpoolLimits(**limits), clock=lambda: NOW)  # type: ignore[arg-type]


# --- what goes in comes out, once ----------------------------------------------------------


def test_items_come_back_whole_with_their_uuids_in_batches(directory: Path) -> None:
    items = wire_items(25)
    writer = spool_at(directory)
    assert writer.append(items[:10]) == {}
    assert writer.append(items[10:]) == {}
    assert writer.status().waiting == 25
    assert spool_at(directory).claim(7) is None  # the writer lives and holds its segment
    writer.close()  # as its exit would

    reader = spool_at(directory)  # the next process
    sizes = []
    got: list[JSONObject] = []
    while (claimed := reader.claim(7)) is not None:
        sizes.append(len(claimed.items))
        got += claimed.items
        claimed.delivered()
        assert len(sizes) < 10
    assert sorted(sizes, reverse=True) == [7, 7, 7, 4]
    assert sorted(got, key=lambda item: str(item["uuid"])) == sorted(
        items, key=lambda item: str(item["uuid"])
    )
    assert reader.status() == SpoolStatus(0, None)
    assert segment_files(directory) == []


def test_a_returned_batch_waits_for_a_later_attempt(directory: Path) -> None:
    items = wire_items(5)
    writer = spool_at(directory)
    writer.append(items)
    writer.close()
    first = spool_at(directory)
    claimed = first.claim(10)
    assert claimed is not None
    assert spool_at(directory).claim(10) is None  # held: no one else takes it meanwhile
    claimed.returned()
    claimed.returned()  # a second call changes nothing
    assert uuids(drain(spool_at(directory))) == uuids(items)


def test_a_process_delivers_what_it_spooled_itself_once_the_host_is_back(directory: Path) -> None:
    spool = spool_at(directory)
    items = wire_items(3)
    spool.append(items)
    assert uuids(drain(spool)) == uuids(items)
    spool.append(wire_items(2))  # and it keeps spooling afterwards
    assert spool.status().waiting == 2


def test_nothing_is_created_or_read_until_something_is_spooled(directory: Path) -> None:
    spool = spool_at(directory)
    assert spool.status() == SpoolStatus(0, None)
    assert spool.claim(10) is None
    spool.delete_all()
    assert not directory.parent.exists()


def test_spool_directory_is_per_app(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert spool_directory(App("codeweaver")) == str(tmp_path / "state" / "codeweaver" / "spool")
    assert spool_directory(App("mytool")) == str(tmp_path / "state" / "mytool" / "spool")


# --- crash safety ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tail",
    [b'{"event":"codeweaver_search","distinct_id":"d","prop', b"\x00" * 300],
    ids=["torn line", "zeroed tail after a power cut"],
)
def test_a_torn_write_loses_only_the_event_being_written(directory: Path, tail: bytes) -> None:
    items = wire_items(4)
    spool_at(directory).append(items)
    (segment,) = segment_files(directory)
    with segment.open("ab") as file:
        file.write(tail)
    claimed = spool_at(directory).claim(10)
    assert claimed is not None
    assert uuids(claimed.items) == uuids(items)
    assert claimed.losses == {LossReason.WRITE_FAILED: 1}


def test_a_process_that_died_while_appending_leaves_its_events_to_the_next(
    directory: Path,
) -> None:
    program = f"""
import os, sys
sys.path.insert(0, {str(ROOT / "tests")!r})
from test_spool import spool_at, wire_items
from pathlib import Path
spool = spool_at(Path({str(directory)!r}))
spool.append(wire_items(6))
os._exit(0)  # as multiprocessing ends a child: no clean-up at all
"""
    subprocess.run([sys.executable, "-c", program], check=True, timeout=60)
    assert [path.name.rsplit(".", 1)[1] for path in segment_files(directory)] == ["open"]
    assert len(drain(spool_at(directory))) == 6


def test_a_claim_whose_process_died_is_claimed_again(directory: Path) -> None:
    items = wire_items(6)
    spool_at(directory).append(items)
    program = f"""
import os, sys
sys.path.insert(0, {str(ROOT / "tests")!r})
from test_spool import spool_at
from pathlib import Path
claimed = spool_at(Path({str(directory)!r})).claim(4)
print(len(claimed.items), flush=True)
os._exit(0)  # dies before delivering
"""
    done = subprocess.run(
        [sys.executable, "-c", program], check=True, timeout=60, capture_output=True, text=True
    )
    assert done.stdout.split() == ["4"]
    assert any(path.name.endswith(".claimed") for path in segment_files(directory))
    assert sorted(map(str, uuids(drain(spool_at(directory))))) == sorted(map(str, uuids(items)))


_CLAIMER = """
import json, sys, time
from pathlib import Path
sys.path.insert(0, {tests!r})
from test_spool import spool_at
start = Path({start!r})
for _ in range(2000):
    if start.exists():
        break
    time.sleep(0.005)
spool = spool_at(Path({directory!r}))
got = []
for _ in range(1000):
    claimed = spool.claim(3)
    if claimed is None:
        break
    got += [item["uuid"] for item in claimed.items]
    claimed.delivered()
    time.sleep(0.005)  # an export takes time: on a loaded machine, one must not take it all
print(json.dumps(got))
"""


@pytest.mark.slow
def test_processes_starting_together_send_each_event_exactly_once(
    directory: Path, tmp_path: Path
) -> None:
    writer = spool_at(directory, max_events=400)  # segments of 25 events
    items: list[JSONObject] = []
    for _ in range(40):
        batch = wire_items(5)
        items += batch
        writer.append(batch)
    start = tmp_path / "start"
    program = _CLAIMER.format(tests=str(ROOT / "tests"), start=str(start), directory=str(directory))
    claimers = [
        subprocess.Popen([sys.executable, "-c", program], stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    time.sleep(0.5)  # let them all import and wait at the start line
    start.touch()
    outputs = [claimer.communicate(timeout=60)[0] for claimer in claimers]
    assert all(claimer.returncode == 0 for claimer in claimers)
    got = [uuid for output in outputs for uuid in json.loads(output)]
    # The writer still holds its open segment (it lives): those wait, the rest went once.
    left = drain(writer)
    assert sorted(got + uuids(left)) == sorted(uuids(items))  # type: ignore[type-var]
    assert len(set(got)) == len(got)
    assert sum(1 for output in outputs if json.loads(output)) >= 2  # they did share the work


# --- bounds and expiry ----------------------------------------------------------------------


def test_the_oldest_events_make_room_and_are_counted(directory: Path) -> None:
    spool = spool_at(directory, max_events=50)
    items = wire_items(80)
    losses: dict[LossReason, int] = {}
    for start in range(0, 80, 10):
        for reason, count in spool.append(items[start : start + 10]).items():
            losses[reason] = losses.get(reason, 0) + count
    spool.close()
    assert losses == {LossReason.SPOOL_FULL: 30}
    assert spool.status().waiting == 50
    assert sorted(map(str, uuids(drain(spool_at(directory))))) == sorted(
        map(str, uuids(items[30:]))
    )


def test_the_byte_bound_holds_and_keeps_the_newest(directory: Path) -> None:
    line = len(json.dumps(wire_items(1)[0], separators=(",", ":"))) + 1
    spool = spool_at(directory, max_bytes=line * 20 + 10)
    items = wire_items(60)
    dropped = sum(
        spool.append(items[start : start + 7]).get(LossReason.SPOOL_FULL, 0)
        for start in range(0, 60, 7)
    )
    spool.close()
    on_disk = sum(path.stat().st_size for path in segment_files(directory))
    assert on_disk <= line * 20 + 10
    kept = drain(spool_at(directory))
    assert dropped + len(kept) == 60
    assert set(map(str, uuids(kept))) <= set(map(str, uuids(items[60 - 21 :])))


def test_one_append_larger_than_the_bound_keeps_its_newest(directory: Path) -> None:
    spool = spool_at(directory, max_events=10)
    items = wire_items(25)
    assert spool.append(items) == {LossReason.SPOOL_FULL: 15}
    assert uuids(drain(spool)) == uuids(items[15:])


def test_what_a_live_process_holds_is_not_dropped_the_newcomers_are(directory: Path) -> None:
    holder = spool_at(directory, max_events=10)
    held = wire_items(8)
    holder.append(held)  # its open segment: locked while it lives
    other = spool_at(directory, max_events=10)
    assert other.append(wire_items(5)) == {LossReason.SPOOL_FULL: 3}
    assert sorted(map(str, uuids(held))) <= sorted(map(str, uuids(drain(holder))))


def test_bounds_are_enforced_from_names_and_sizes_without_reading(
    directory: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = spool_at(directory, max_events=1000)
    spool.append(wire_items(10))
    reads: list[int] = []
    real_read = os.read

    def counted_read(descriptor: int, size: int) -> bytes:
        reads.append(size)
        return real_read(descriptor, size)

    monkeypatch.setattr(os, "read", counted_read)
    spool.append(wire_items(10))
    assert spool_at(directory).status().waiting == 20
    assert reads == []


def test_events_older_than_the_maximum_age_are_dropped_and_counted(directory: Path) -> None:
    now = [NOW]
    spool = Spool(str(directory), clock=lambda: now[0])
    spool.append(wire_items(3, at=NOW))
    spool.close()
    now[0] = NOW + 8 * DAY
    assert spool.status() == SpoolStatus(0, None)
    later = Spool(str(directory), clock=lambda: now[0])
    assert later.claim(10) is None
    assert later.take_losses() == {LossReason.EXPIRED: 3}
    assert later.take_losses() == {}
    assert segment_files(directory) == []


def test_expired_lines_are_dropped_from_a_segment_that_still_has_fresh_ones(
    directory: Path,
) -> None:
    spool = spool_at(directory)
    old, fresh = wire_items(2, at=NOW - 8 * DAY), wire_items(2)
    assert spool.append(old) == {LossReason.EXPIRED: 2}  # already too old to keep
    spool.append(fresh)
    spool.close()
    (segment,) = segment_files(directory)
    with segment.open("ab") as file:  # an older writer's lines in the same file
        for item in wire_items(2, at=NOW - 9 * DAY):
            file.write(json.dumps(item).encode() + b"\n")
    claimed = spool_at(directory).claim(10)
    assert claimed is not None
    assert uuids(claimed.items) == uuids(fresh)
    assert claimed.losses == {LossReason.EXPIRED: 2}


def test_status_says_how_many_wait_and_how_old_the_oldest_is(directory: Path) -> None:
    spool = Spool(str(directory), clock=lambda: NOW + 3600)
    spool.append(wire_items(4))
    status = spool_at(directory).status()
    assert status.waiting == 4
    spool_later = Spool(str(directory), clock=lambda: NOW + 3600)
    assert spool_later.status().oldest_age_seconds == pytest.approx(3600, abs=1)


# --- permissions and what is planted in the directory ---------------------------------------


@pytest.mark.parametrize("umask", [0o000, 0o022, 0o277])
def test_the_directory_is_0700_and_files_0600_whatever_the_umask(
    directory: Path, umask: int
) -> None:
    previous = os.umask(umask)
    try:
        spool = spool_at(directory)
        spool.append(wire_items(3))
        spool.claim(1)  # a claim that splits writes new files too
    finally:
        os.umask(previous)
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    files = list(directory.iterdir())
    assert files
    assert {stat.S_IMODE(path.stat().st_mode) for path in files} == {0o600}


def test_a_directory_made_wider_is_made_private_again(directory: Path) -> None:
    directory.mkdir(parents=True)
    directory.chmod(0o777)
    spool_at(directory).append(wire_items(1))
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700


def test_a_link_in_place_of_the_directory_is_not_followed(directory: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o755)
    directory.parent.mkdir(parents=True)
    directory.symlink_to(elsewhere)
    spool = spool_at(directory)
    assert spool.append(wire_items(2)) == {LossReason.OUTAGE: 2}
    assert spool.status() == SpoolStatus(0, None)
    assert list(elsewhere.iterdir()) == []
    assert stat.S_IMODE(elsewhere.stat().st_mode) == 0o755


def test_a_link_named_like_a_segment_is_removed_never_followed(
    directory: Path, tmp_path: Path
) -> None:
    spool = spool_at(directory)
    items = wire_items(2)
    spool.append(items)
    spool.close()
    target = tmp_path / "secret.txt"
    target.write_text(json.dumps(wire_items(1)[0]) + "\n")
    link = directory / f"v1.1.1.1.{os.getpid()}-{'0' * 16}.ready"
    link.symlink_to(target)
    assert uuids(drain(spool_at(directory))) == uuids(items)
    assert not link.is_symlink()
    assert target.exists()


def _in_thread(call: Callable[[], object], seconds: float = 5.0) -> object:
    result: list[object] = []
    worker = threading.Thread(target=lambda: result.append(call()), daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), "blocked"
    return result[0]


def test_a_fifo_a_directory_a_hard_link_and_a_huge_file_planted_as_segments_are_never_read(
    directory: Path,
) -> None:
    spool = spool_at(directory, max_bytes=64 * 1024)
    items = wire_items(3)
    spool.append(items)
    spool.close()
    token = f"{os.getpid()}-{'a' * 16}"
    fifo = directory / f"v1.2.2.5.{token}.ready"
    os.mkfifo(fifo)
    planted_directory = directory / f"v1.3.3.5.{token}.ready"
    planted_directory.mkdir()
    huge = directory / f"v1.4.4.5.{token}.ready"
    with huge.open("wb") as file:
        file.truncate(10 * 1024 * 1024 * 1024)  # sparse: 10 GiB that cost nothing
    outside = directory.parent / "outside.jsonl"
    outside.write_text(json.dumps(wire_items(1)[0]) + "\n")
    hard_link = directory / f"v1.5.5.1.{token}.ready"
    os.link(outside, hard_link)
    reader = spool_at(directory, max_bytes=64 * 1024)
    claimed = _in_thread(lambda: reader.claim(10))
    assert isinstance(claimed, ClaimedBatch)
    assert uuids(claimed.items) == uuids(items)
    claimed.delivered()
    assert not fifo.exists()
    assert not huge.exists()
    assert not hard_link.exists()
    assert outside.exists()  # only the second name went
    assert planted_directory.is_dir()  # left alone
    assert _in_thread(lambda: reader.claim(10)) is None


def test_names_of_other_versions_and_other_files_are_left_alone(directory: Path) -> None:
    spool = spool_at(directory)
    spool.append(wire_items(1))
    spool.close()
    other = directory / "v2.future-format"
    other.write_text("whatever a later version keeps")
    notes = directory / "README"
    notes.write_text("hello")
    drain(spool_at(directory))
    assert other.exists()
    assert notes.exists()


@pytest.mark.parametrize(
    "line",
    [
        {"event": "e", "distinct_id": "d", "properties": {}, "timestamp": "x", "uuid": "u"},
        {
            "event": "e",
            "distinct_id": "d",
            "properties": [],
            "timestamp": "2027-01-15T08:00:00+00:00",
            "uuid": str(uuid.uuid4()),
        },
        {
            "event": "",
            "distinct_id": "d",
            "properties": {},
            "timestamp": "2027-01-15T08:00:00+00:00",
            "uuid": str(uuid.uuid4()),
        },
        {
            "event": "e",
            "distinct_id": 5,
            "properties": {},
            "timestamp": "2027-01-15T08:00:00+00:00",
            "uuid": str(uuid.uuid4()),
        },
        {
            "event": "e",
            "distinct_id": "d",
            "properties": {},
            "timestamp": "2027-01-15T08:00:00",
            "uuid": str(uuid.uuid4()),
        },
        {
            "event": "e",
            "distinct_id": "d",
            "properties": {},
            "timestamp": "2027-01-15T08:00:00+00:00",
            "uuid": str(uuid.uuid4()).upper(),
        },
        {
            "event": "e",
            "distinct_id": "d",
            "properties": {},
            "timestamp": "2027-01-15T08:00:00+00:00",
            "uuid": str(uuid.uuid4()),
            "extra": 1,
        },
        {
            "event": "e",
            "distinct_id": "d",
            "properties": {},
            "timestamp": "2027-01-15T08:00:00+00:00",
        },
        "a string",
        [1, 2],
    ],
    ids=lambda line: "-",
)
def test_lines_that_are_not_wire_items_are_dropped_and_counted(
    directory: Path, line: object
) -> None:
    spool = spool_at(directory)
    items = wire_items(2)
    spool.append(items)
    spool.close()
    (segment,) = segment_files(directory)
    with segment.open("ab") as file:
        file.write(json.dumps(line).encode() + b"\n")
    claimed = spool_at(directory).claim(10)
    assert claimed is not None
    assert uuids(claimed.items) == uuids(items)
    assert claimed.losses == {LossReason.WRITE_FAILED: 1}


@pytest.mark.parametrize(
    "raw",
    [
        b'{"event":"e","distinct_id":"d","properties":{"x":NaN},"timestamp":"2027-01-15T08:00:00+00:00","uuid":"00000000-0000-4000-8000-000000000000"}',
        b'{"event":"e","distinct_id":"d","properties":{"x":'
        + b"[" * 100_000
        + b"]" * 100_000
        + b'},"timestamp":"2027-01-15T08:00:00+00:00","uuid":"00000000-0000-4000-8000-000000000000"}',  # noqa: E501
        b'{"event":"e","distinct_id":"d","properties":{"x":'
        + b"[" * 70
        + b"]" * 70
        + b'},"timestamp":"2027-01-15T08:00:00+00:00","uuid":"00000000-0000-4000-8000-000000000000"}',  # noqa: E501
        b"\xff\xfe not utf-8",
    ],
    ids=["NaN", "nested past the recursion limit", "nested past the bound", "not UTF-8"],
)
def test_hostile_lines_read_back_are_dropped(directory: Path, raw: bytes) -> None:
    spool = spool_at(directory, max_bytes=1024 * 1024)
    items = wire_items(1)
    spool.append(items)
    spool.close()
    (segment,) = segment_files(directory)
    with segment.open("ab") as file:
        file.write(raw + b"\n")
    claimed = spool_at(directory, max_bytes=1024 * 1024).claim(10)
    assert claimed is not None
    assert uuids(claimed.items) == uuids(items)
    assert claimed.losses == {LossReason.WRITE_FAILED: 1}


# --- never raises ---------------------------------------------------------------------------


def test_a_full_disk_is_a_counted_outage_never_an_exception(
    directory: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = spool_at(directory)
    spool.append(wire_items(2))

    def full(fd: int, data: object) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", full)
    assert spool.append(wire_items(3)) == {LossReason.OUTAGE: 3}
    assert spool_at(directory).append(wire_items(4)) == {LossReason.OUTAGE: 4}
    monkeypatch.undo()
    assert len(drain(spool)) == 2


def test_a_short_write_keeps_the_whole_lines_and_cuts_the_torn_one(
    directory: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = spool_at(directory)
    spool.append(wire_items(1))  # the segment exists: the next write is the append itself
    items = wire_items(3)
    line = len(json.dumps(items[0], separators=(",", ":"))) + 1
    real_write = os.write
    calls = []

    def half_then_full(fd: int, data: bytes) -> int:
        calls.append(len(data))
        if len(calls) == 1:
            return real_write(fd, bytes(data)[: line + line // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", half_then_full)
    assert spool.append(items) == {LossReason.OUTAGE: 2}
    monkeypatch.undo()
    spool.append(wire_items(1))  # starts on a fresh line
    claimed = spool.claim(10)
    assert claimed is not None
    assert len(claimed.items) == 3
    assert claimed.losses == {}


@pytest.mark.parametrize("call", ["open", "rename", "unlink", "scandir", "fstat", "mkdir"])
def test_any_os_error_anywhere_is_a_result_never_an_exception(
    directory: Path, monkeypatch: pytest.MonkeyPatch, call: str
) -> None:
    spool_at(directory).append(wire_items(3))
    spool = spool_at(directory, max_events=4)

    def failing(*arguments: object, **keywords: object) -> object:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, call, failing)
    losses = spool.append(wire_items(2))
    assert set(losses) <= {LossReason.OUTAGE, LossReason.SPOOL_FULL}
    assert sum(losses.values()) <= 3
    batch = spool.claim(10)
    if batch is not None:
        batch.delivered()
        batch.returned()
    spool.status()
    spool.delete_all()
    monkeypatch.undo()


@pytest.mark.parametrize(
    "items",
    [[1, "x", None], [{"event": "e"}], [{**wire_items(1)[0], "properties": {"x": float("nan")}}]],
)
def test_items_that_are_not_wire_items_are_not_written(
    directory: Path, items: list[JSONObject]
) -> None:
    spool = spool_at(directory)
    assert spool.append(items) == {LossReason.NOT_BUILT: len(items)}
    assert spool.status().waiting == 0


def test_odd_arguments_return_normally(directory: Path) -> None:
    spool = spool_at(directory)
    assert spool.append(None) == {LossReason.NOT_BUILT: 1}  # type: ignore[arg-type]
    assert spool.claim(-1) is None
    assert spool.claim("5") is None  # type: ignore[arg-type]
    assert spool.claim(10**100) is None


def test_a_forked_child_writes_its_own_segment(directory: Path) -> None:
    spool = spool_at(directory)
    spool.append(wire_items(2))
    pid = os.fork()
    if pid == 0:  # the child: no pytest machinery, just the result as an exit code
        try:
            code = 0 if spool.append(wire_items(3)) == {} else 1
        finally:
            os._exit(locals().get("code", 2))
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert len(segment_files(directory)) == 2
    assert spool.append(wire_items(1)) == {}
    assert len(drain(spool)) == 6


# --- the command line -----------------------------------------------------------------------


@pytest.fixture
def user(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in ("DO_NOT_TRACK", "POSTHOG_CAPTURE_MODE", "CODEWEAVER_POSTHOG_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    for name in list(os.environ):
        if name.startswith("CODEWEAVER__TELEMETRY__"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.chdir(tmp_path)
    return tmp_path / "state" / "codeweaver" / "spool"


def test_status_shows_how_many_events_wait(user: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status"]) == 0
    assert f"spool: {user} (no undelivered events)" in capsys.readouterr().out
    Spool(str(user)).append(wire_items(5, at=time.time() - 7200))
    assert main(["status"]) == 0
    assert "(5 undelivered events wait for the next run, the oldest 2.0 hours old)" in (
        capsys.readouterr().out
    )
    assert main(["status", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)["spool"]
    assert report["directory"] == str(user)
    assert report["waiting"] == 5
    assert report["oldest_age_seconds"] == pytest.approx(7200, abs=60)


def test_disable_deletes_the_spool(user: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Spool(str(user)).append(wire_items(5, at=time.time()))
    assert main(["disable"]) == 0
    assert f"deleted 5 undelivered events waiting in {user}" in capsys.readouterr().out
    assert not user.exists()
    assert main(["disable"]) == 0  # nothing left to delete: nothing said
    assert "deleted" not in capsys.readouterr().out


def test_withdrawing_only_the_query_opt_in_keeps_the_spool(
    user: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    Spool(str(user)).append(wire_items(2, at=time.time()))
    assert main(["disable", "--tools-over-privacy"]) == 0
    assert Spool(str(user)).status().waiting == 2


def test_the_module_does_no_io_at_import(tmp_path: Path) -> None:
    program = (
        "import codeweaver_telemetry.adapters.spool as s, os; "
        "s.Spool(os.environ['XDG_STATE_HOME'] + '/x/spool'); "
        "print(os.path.exists(os.environ['XDG_STATE_HOME']))"
    )
    environment = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")}
    done = subprocess.run(
        [sys.executable, "-c", program],
        env=environment,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert done.stdout.strip() == "False"
    assert spool_module.FORMAT == "v1"


def test_a_process_own_older_events_make_room_before_its_newer_ones(directory: Path) -> None:
    spool = spool_at(directory, max_events=32)  # segments of 2 events
    older = wire_items(1, at=NOW - 60)
    spool.append(older)  # its open segment holds the oldest event
    newer = wire_items(32)
    assert spool.append(newer) == {LossReason.SPOOL_FULL: 1}
    assert uuids(drain(spool)) == uuids(newer)


def test_a_batch_of_one_does_not_make_a_file_per_event(directory: Path) -> None:
    writer = spool_at(directory)
    writer.append(wire_items(100))
    writer.close()
    reader = spool_at(directory)
    claimed = reader.claim(1)
    assert claimed is not None
    assert len(list(directory.iterdir())) <= 1 + spool_module.MAX_PIECES
    claimed.delivered()
    assert len(drain(reader, 1)) == 99


def test_without_file_locks_ready_files_are_still_claimed_once(
    directory: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import fcntl

    def unsupported(descriptor: int, operation: int) -> None:
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", unsupported)
    items = wire_items(4)
    writer = spool_at(directory)
    assert writer.append(items) == {}
    assert spool_at(directory).claim(10) is None  # open, fresh: its writer may live
    writer.close()
    first = spool_at(directory).claim(10)
    assert first is not None
    assert spool_at(directory).claim(10) is None  # claimed, fresh: its claimer may live
    first.delivered()
    assert uuids(first.items) == uuids(items)


def test_room_is_made_by_cutting_the_oldest_lines_of_a_segment_not_all_of_it(
    directory: Path,
) -> None:
    first = spool_at(directory, max_events=100)
    older = wire_items(100, at=NOW - 60)
    first.append(older)  # one append: one segment of 100
    first.close()
    newer = wire_items(10)
    assert spool_at(directory, max_events=100).append(newer) == {LossReason.SPOOL_FULL: 10}
    kept = drain(spool_at(directory))
    assert uuids(kept) == uuids(older[10:] + newer)


class _OneFailure:
    """Makes the n-th call from now of the file-system calls the spool uses fail with EIO."""

    CALLS = ("write", "rename", "unlink", "open", "ftruncate", "read")

    def __init__(self) -> None:
        self.left = 0

    def arm(self, calls: int) -> None:
        self.left = calls

    def wrap(self, call: Callable[..., object]) -> Callable[..., object]:
        def failing(*arguments: object, **keywords: object) -> object:
            if self.left > 0:
                self.left -= 1
                if self.left == 0:
                    raise OSError(errno.EIO, "Input/output error")
            return call(*arguments, **keywords)

        return failing


class _Scenario:
    """Three spools on one directory (each holds its own locks, as three processes would)
    and the books: what was appended, delivered, and counted lost."""

    LIMITS: ClassVar[dict[str, float]] = {"max_events": 30, "max_bytes": 12_000}

    def __init__(self, directory: Path, failures: _OneFailure) -> None:
        self.directory = directory
        self.failures = failures
        self.spools = [spool_at(directory, **self.LIMITS) for _ in range(3)]
        self.held: list[list[ClaimedBatch]] = [[], [], []]
        self.appended: set[object] = set()
        self.delivered: list[object] = []
        self.may_repeat: set[object] = set()
        self.lost = 0

    def count(self, losses: Mapping[LossReason, int]) -> None:
        self.lost += sum(losses.values())

    def step(self, which: int, name: str, size: int) -> None:
        spool = self.spools[which]
        if name == "append":
            items = wire_items(size)
            self.appended |= set(uuids(items))
            self.count(spool.append(items))
        elif name == "claim":
            batch = spool.claim(size)
            if batch is not None:
                assert 0 < len(batch.items) <= size
                self.count(batch.losses)
                self.held[which].append(batch)
        elif name in ("deliver", "return") and self.held[which]:
            batch = self.held[which].pop(0)
            if name == "deliver":
                self.delivered += uuids(batch.items)
                armed = self.failures.left
                batch.delivered()
                if armed and not self.failures.left:  # it failed to remove them: they come
                    self.may_repeat |= set(uuids(batch.items))  # back (their uuids dedupe)
            else:
                batch.returned()
        elif name == "close":
            spool.close()
        elif name == "fail":
            self.failures.arm(size)
        elif name == "die":  # its locks go with it, unsealed and unfinished, as at a kill -9
            self.held[which] = []
            self.spools[which] = spool_at(self.directory, **self.LIMITS)

    def finish(self) -> None:
        self.failures.arm(0)
        for which, spool in enumerate(self.spools):
            for batch in self.held[which]:
                batch.returned()
            spool.close()
            self.count(spool.take_losses())
        final = spool_at(self.directory, **self.LIMITS)
        for _ in range(200):
            left = final.claim(50)
            if left is None:
                break
            self.count(left.losses)
            self.delivered += uuids(left.items)
            left.delivered()
        self.count(final.take_losses())


@pytest.mark.slow
def test_any_sequence_of_operations_delivers_each_event_once_or_counts_it(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Random appends, claims, deliveries, returns, closes, deaths and one failing file-system
    call at a time, under tight bounds: every event appended is delivered or counted lost, and none
    twice unless removing it after its delivery failed (then its uuid makes it once)."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    operation = st.tuples(
        st.integers(0, 2),
        st.sampled_from(["append", "claim", "deliver", "return", "close", "fail", "die"]),
        st.integers(1, 12),
    )
    failures = _OneFailure()

    @settings(max_examples=60, deadline=None)
    @given(st.lists(operation, max_size=40))
    def run(operations: list[tuple[int, str, int]]) -> None:
        failures.arm(0)
        scenario = _Scenario(tmp_path_factory.mktemp("spool") / "spool", failures)
        for operation in operations:
            scenario.step(*operation)
        scenario.finish()
        repeated = [u for u, n in collections.Counter(scenario.delivered).items() if n > 1]
        assert set(repeated) <= scenario.may_repeat
        assert set(scenario.delivered) <= scenario.appended
        assert len(set(scenario.delivered)) + scenario.lost == len(scenario.appended)

    with pytest.MonkeyPatch.context() as patch:
        for call in _OneFailure.CALLS:
            patch.setattr(os, call, failures.wrap(getattr(os, call)))
        run()


def test_a_forked_child_does_not_keep_the_parent_claim_alive(directory: Path) -> None:
    writer = spool_at(directory)
    writer.append(wire_items(3))
    writer.close()
    parent = spool_at(directory)
    claimed = parent.claim(10)
    assert claimed is not None
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child lives on while the parent "dies"; then it claims
        try:
            os.close(write)
            os.read(read, 1)
            batch = spool_at(directory).claim(10)
            code = 0 if batch is not None and len(batch.items) == 3 else 1
        finally:
            os._exit(locals().get("code", 2))
    os.close(read)
    del claimed  # the parent lets go unfinished, as its death would
    os.write(write, b"x")
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
