"""Issue 11, "Host values read without a bound hang the caller" and "Calls that raise into the
host": each failure as a regression test.

A value that would be read for ever is made finite here: it raises :class:`ReadTooFar` (a
``BaseException``, which the library lets through, as it must let interrupts through) once
more of it is read than any bound of the library allows. So a regression fails fast instead
of hanging the suite. A 50 MB string is read by nothing that copies, splits or encodes it:
what a call allocates is measured with ``tracemalloc``, which a copy of it would exceed fifty
times over.
"""

from __future__ import annotations

import dataclasses
import errno
import itertools
import logging
import os
import stat
import threading
import tracemalloc
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import NoReturn, TypeVar

import pytest
from domain_samples import empty_summary

from codeweaver_telemetry.adapters import (
    NullSink,
    TelemetryClient,
    build_client,
    get_telemetry_client,
)
from codeweaver_telemetry.adapters.identity import KEY_FILE_NAME, installation_hash_key
from codeweaver_telemetry.adapters.log import LOGGER_NAME
from codeweaver_telemetry.adapters.registry import reset_telemetry_client
from codeweaver_telemetry.adapters.user_config_file import write_user_settings
from codeweaver_telemetry.core import (
    AnonymityConversion,
    FindCodeResponseSummary,
    PrivacyPolicy,
    SessionStatistics,
)
from codeweaver_telemetry.core.app import DEFAULT_APP
from codeweaver_telemetry.core.domain import ToolCallOutcome
from codeweaver_telemetry.core.mcp_event import ToolCall
from codeweaver_telemetry.core.settings import RawSources, resolve_settings
from codeweaver_telemetry.core.sink import OutboundEvent

_T = TypeVar("_T")

READ_LIMIT = 1_000_000
"""More items than any of the library's bounds reads (its largest is 100,001)."""

FIFTY_MB = 50_000_000
ALLOCATION_BOUND = 2_000_000
"""What handling a 50 MB string may allocate: a copy, a split or an encoding is 25 times it."""

NOT_A_HANG = 10.0
"""Seconds within which a call that must not wait returns (a generous bound)."""


class ReadTooFar(BaseException):
    """A host value was read further than any bound of the library allows."""


def endless(item: Callable[[int], _T]) -> Iterator[_T]:
    """An endless iterator, as far as any bounded reader can tell."""
    for index in itertools.count():
        if index >= READ_LIMIT:
            raise ReadTooFar
        yield item(index)


class EndlessMapping(Mapping[str, object]):
    """A mapping that says it has one item and never ends."""

    def __getitem__(self, key: str) -> object:
        return 1

    def __len__(self) -> int:
        return 1

    def __iter__(self) -> Iterator[str]:
        return endless(lambda i: f"k{i}")


class LyingList(list[int]):
    """A list whose ``__len__`` says 1 and whose items never end."""

    def __len__(self) -> int:
        return 1

    def __iter__(self) -> Iterator[int]:
        return endless(int)


class LyingDict(dict[str, int]):
    """A dict whose ``__len__`` says 1 and whose items never end."""

    def __len__(self) -> int:
        return 1

    def __iter__(self) -> Iterator[str]:
        return endless(lambda i: f"k{i}")

    def items(self) -> Iterator[tuple[str, int]]:  # type: ignore[override]
        return endless(lambda i: (f"k{i}", i))


class Text(str):
    """A str subclass, whose methods a reader must not trust."""


class OddInt(int):
    """An int subclass whose methods all raise but the ones an int needs to exist."""

    def _raise(self, *args: object) -> NoReturn:
        raise RuntimeError("an odd int")

    __index__ = __int__ = __float__ = __str__ = __repr__ = __format__ = _raise
    __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = _raise
    __hash__ = int.__hash__


def settings(**arguments: object):  # type: ignore[no-untyped-def]
    environment = {"CODEWEAVER__TELEMETRY__TOOLS_OVER_PRIVACY": "true"}
    return resolve_settings(RawSources(arguments=arguments, environment=environment)).unwrap()


def opted_in_client(sink: NullSink) -> TelemetryClient:
    policy = PrivacyPolicy(hash_key=b"k" * 32, tools_over_privacy=True)
    return TelemetryClient(settings(), policy=policy, sink=sink)


@pytest.fixture
def sink() -> NullSink:
    return NullSink(keep=True)


@pytest.fixture
def client(sink: NullSink) -> Iterator[TelemetryClient]:
    client = opted_in_client(sink)
    yield client
    client.shutdown()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A user whose directories are all under ``tmp_path``, events printed to a file there."""
    for key in list(os.environ):
        if "CODEWEAVER" in key.upper() or key.upper() == "DO_NOT_TRACK":
            monkeypatch.delenv(key)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("CODEWEAVER__TELEMETRY__SINK", "stdout")
    monkeypatch.setenv("CODEWEAVER__TELEMETRY__STDOUT_TARGET", str(tmp_path / "events.jsonl"))
    (tmp_path / "project").mkdir()
    monkeypatch.chdir(tmp_path / "project")
    yield tmp_path
    reset_telemetry_client()


def printed(home: Path) -> list[str]:
    path = home / "events.jsonl"
    return path.read_text().splitlines() if path.exists() else []


def allocated_while(call: Callable[[], object]) -> int:
    """The most memory ``call`` held at once beyond what was held before it."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        call()
        return tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()


def returns_in_time(call: Callable[[], object], seconds: float = NOT_A_HANG) -> bool:
    """Whether ``call`` returns within ``seconds`` (run on a daemon thread, which a call that
    blocks for ever does not keep alive)."""
    done = threading.Event()

    def run() -> None:
        call()
        done.set()

    threading.Thread(target=run, daemon=True).start()
    return done.wait(seconds)


def search(client: TelemetryClient, response: FindCodeResponseSummary, **overrides: object) -> None:
    arguments: dict[str, object] = {
        "query": "find the auth handler",
        "intent_type": None,
        "strategies": [],
        "execution_time_ms": 3.0,
        **overrides,
    }
    client.capture_search_event(response, **arguments)  # type: ignore[arg-type]


def with_matches(matches: object) -> FindCodeResponseSummary:
    return FindCodeResponseSummary(
        matches=matches,  # type: ignore[arg-type]
        summary="",
        query_intent=None,
        total_matches=0,
        total_results=0,
        token_count=0,
        execution_time_ms=1.0,
    )


def only_event(sink: NullSink) -> OutboundEvent:
    assert len(sink.events) == 1
    return sink.events[0]


def dropped_by_filter(event: OutboundEvent) -> int:
    report = event.properties["privacy_filter"]
    assert isinstance(report, dict)
    dropped = report["dropped"]
    assert isinstance(dropped, int)
    return dropped


# --- Host values read without a bound -------------------------------------------------------


def test_an_endless_mapping_of_properties_is_refused_not_read_for_ever(
    client: TelemetryClient, sink: NullSink
) -> None:
    client.capture("tool_used", EndlessMapping())
    assert sink.events == []
    assert client.dropped == 1


@pytest.mark.parametrize(
    "value",
    [EndlessMapping(), LyingList(), LyingDict()],
    ids=["an endless mapping", "a list whose __len__ lies", "a dict whose __len__ lies"],
)
def test_an_endless_value_is_dropped_and_counted_and_the_rest_sent(
    client: TelemetryClient, sink: NullSink, value: object
) -> None:
    client.capture("tool_used", {"endless": value, "hits": 3})
    event = only_event(sink)
    assert "endless" not in event.properties
    assert event.properties["hits"] == 3
    assert dropped_by_filter(event) == 1


def test_endless_session_metadata_is_refused_and_capture_goes_on(
    client: TelemetryClient, sink: NullSink
) -> None:
    client.start_session(EndlessMapping())
    client.capture("tool_used", {"hits": 3})
    assert only_event(sink).properties["hits"] == 3


def test_a_model_with_an_endless_list_is_serialized_without_it(
    client: TelemetryClient, sink: NullSink
) -> None:
    client.capture_with_serialization("search_done", with_matches(LyingList()))
    event = only_event(sink)
    assert "matches" not in event.properties
    assert event.properties["total_matches"] == 0


@pytest.mark.parametrize(
    "matches",
    [endless(int), LyingList(), range(10**12), endless(lambda i: None)],
    ids=["an endless iterator", "a list whose __len__ lies", "range(10**12)", "endless None"],
)
def test_endless_matches_are_refused_and_the_search_event_sent(
    client: TelemetryClient, sink: NullSink, matches: object
) -> None:
    search(client, with_matches(matches))
    event = only_event(sink)
    assert "result_returned" not in event.properties
    assert dropped_by_filter(event) >= 1


@pytest.mark.parametrize(
    "config_errors",
    [endless(int), endless(lambda i: ValueError()), range(10**12), LyingList()],
    ids=["an endless iterator", "endless errors", "range(10**12)", "a list whose len lies"],
)
def test_endless_config_errors_do_not_hang_the_session_event(
    client: TelemetryClient, sink: NullSink, config_errors: object
) -> None:
    client.capture_session_event(config_errors=config_errors)  # type: ignore[arg-type]
    assert len(sink.events) == 1


@pytest.mark.parametrize(
    "stats",
    [
        SessionStatistics(languages=EndlessMapping()),  # type: ignore[arg-type]
        SessionStatistics(setup_error_kinds=endless(str)),  # type: ignore[arg-type]
        SessionStatistics(tool_latencies_ms={"search": endless(float)}),  # type: ignore[dict-item]
        SessionStatistics(config_flags=EndlessMapping()),  # type: ignore[arg-type]
    ],
    ids=["languages", "setup error kinds", "latencies", "config flags"],
)
def test_endless_session_statistics_do_not_hang_the_session_event(
    client: TelemetryClient, sink: NullSink, stats: SessionStatistics
) -> None:
    client.capture_session_event(stats)
    assert len(sink.events) == 1


@pytest.mark.parametrize(
    "overrides",
    [
        {"strategies": endless(int)},
        {"strategies": range(10**12)},
        {"feature_flags": EndlessMapping()},
        {"response": dataclasses.replace(empty_summary(), languages_found=endless(str))},  # type: ignore[arg-type]
    ],
    ids=["endless strategies", "range(10**12) strategies", "endless flags", "endless languages"],
)
def test_endless_search_arguments_do_not_hang_the_search_event(
    client: TelemetryClient, sink: NullSink, overrides: dict[str, object]
) -> None:
    response = overrides.pop("response", empty_summary())
    search(client, response, **overrides)  # type: ignore[arg-type]
    assert len(sink.events) == 1


def big_text(cls: type[str] = str) -> str:
    """50 MB of words and path fragments: costly to split, encode or scan."""
    return cls("auth /x " * (FIFTY_MB // 8))


@pytest.mark.parametrize("cls", [str, Text], ids=["a str", "a str subclass"])
def test_a_50_mb_opted_in_query_is_refused_by_its_length_not_read(
    client: TelemetryClient, sink: NullSink, cls: type[str]
) -> None:
    query = big_text(cls)
    assert allocated_while(lambda: search(client, empty_summary(), query=query)) < ALLOCATION_BOUND
    event = only_event(sink)
    assert not {"query_tokens", "query_chars", "query_hash", "query_text"} & set(event.properties)


def test_an_opted_in_query_of_ordinary_length_is_still_sent(
    client: TelemetryClient, sink: NullSink
) -> None:
    search(client, empty_summary(), query="find the auth handler")
    assert only_event(sink).properties["query_tokens"] == 4


@pytest.mark.parametrize(
    "properties",
    [
        lambda big: {big: 1},
        lambda big: {Text(big): 1},
        lambda big: {"nested": {Text(big): 1}},
        lambda big: {"note": Text(big)},
        lambda big: {"notes": [Text(big)]},
    ],
    ids=["a key", "a str-subclass key", "a nested key", "a str-subclass value", "in a list"],
)
def test_a_50_mb_property_string_is_dropped_without_being_copied(
    client: TelemetryClient, sink: NullSink, properties: Callable[[str], dict[str, object]]
) -> None:
    given = properties(big_text())
    client.capture("tool_used", {"warm": 1})  # the first capture sets the client up
    assert allocated_while(lambda: client.capture("tool_used", given)) < ALLOCATION_BOUND
    assert dropped_by_filter(sink.events[-1]) == 1


def test_a_50_mb_hashed_field_is_refused_without_being_encoded(
    client: TelemetryClient, sink: NullSink
) -> None:
    @dataclasses.dataclass
    class Opened:
        file_path: str

        def _telemetry_keys(self) -> dict[str, AnonymityConversion]:
            return {"file_path": AnonymityConversion.HASH}

    opened = Opened(big_text())
    client.capture("tool_used", {"warm": 1})
    assert allocated_while(lambda: client.capture_with_serialization("opened", opened)) < (
        ALLOCATION_BOUND
    )
    assert "file_path" not in sink.events[-1].properties


def test_a_50_mb_feature_flag_name_or_category_is_not_copied(
    client: TelemetryClient, sink: NullSink
) -> None:
    big = big_text(Text)
    response = dataclasses.replace(empty_summary(), languages_found=(big, "python"))
    client.capture("tool_used", {"warm": 1})
    assert allocated_while(lambda: search(client, response, feature_flags={big: True})) < (
        ALLOCATION_BOUND
    )
    event = sink.events[-1]
    assert event.properties["languages_found"] == {"python": 1, "__other__": 1}
    assert not any(key.startswith("$feature/") for key in event.properties)


def test_a_50_mb_mcp_client_name_is_other_without_being_read(
    client: TelemetryClient, sink: NullSink
) -> None:
    from codeweaver_telemetry.core.mcp_event import mcp_client_label

    big = big_text()
    assert allocated_while(lambda: mcp_client_label(big)) < ALLOCATION_BOUND
    assert mcp_client_label(big) == "other"
    call = ToolCall("search", ToolCallOutcome.OK, 1.0, 1, 10, big, big, big)
    client.capture_mcp_tool_call(call, sample_rate=1.0)
    assert only_event(sink).properties["mcp_client"] == "__other__"


@pytest.mark.parametrize("key", ["sink", "posthog_host", "stdout_target", "batch_size"])
def test_a_50_mb_argument_is_refused_by_its_length(home: Path, key: str) -> None:
    big = big_text()
    made: list[TelemetryClient] = []
    assert allocated_while(lambda: made.append(build_client({key: big}))) < ALLOCATION_BOUND
    assert not made[0].enabled
    assert made[0].config_error is not None
    assert "characters" in made[0].config_error.problem


def test_a_50_mb_argument_name_is_refused_without_being_shown(home: Path) -> None:
    client = build_client({big_text(): True})
    assert client.config_error is not None
    assert len(str(client.config_error)) < 1000


def test_endless_host_arguments_give_an_inert_client(home: Path) -> None:
    client = build_client(EndlessMapping())
    assert not client.enabled
    assert client.config_error is not None
    assert "more than 64 arguments" in client.config_error.problem


class EndlessFlags(EndlessMapping):
    def __getitem__(self, key: str) -> object:
        return "on"


def test_endless_flag_overrides_give_an_inert_client(home: Path) -> None:
    client = build_client({"flag_overrides": EndlessFlags()})
    assert not client.enabled
    assert client.config_error is not None
    assert client.config_error.key == "flag_overrides"


# --- Calls that raise into the host ---------------------------------------------------------


class RaisingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        raise RuntimeError("the host's filter")


@pytest.fixture
def raising_host_logging() -> Iterator[None]:
    """A host whose logging raises on every record: a filter on its root handler."""
    handler = logging.StreamHandler()
    handler.addFilter(RaisingFilter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield
    root.removeHandler(handler)
    root.setLevel(level)


@pytest.mark.usefixtures("raising_host_logging")
@pytest.mark.parametrize(
    "call",
    [
        lambda: build_client(5),  # type: ignore[arg-type]
        lambda: build_client(config_path=5),  # type: ignore[arg-type]
        lambda: build_client(config_path="codeweaver\0.toml"),
        lambda: build_client({"batch_size": OddInt(5)}),
        lambda: build_client({"unknown": 1}),
        lambda: build_client(app="My Tool"),
        lambda: get_telemetry_client(app=5),  # type: ignore[arg-type]
    ],
    ids=["5", "config_path=5", "a NUL", "an odd int", "an unknown key", "a bad app", "app=5"],
)
def test_set_up_returns_whatever_the_hosts_logging_does(
    home: Path, call: Callable[[], object]
) -> None:
    assert isinstance(call(), TelemetryClient)


@pytest.mark.usefixtures("raising_host_logging")
def test_a_dropped_capture_returns_whatever_the_hosts_logging_does(
    client: TelemetryClient,
) -> None:
    client.capture("not a label", {})
    client.capture("tool_used", 5)  # type: ignore[arg-type]
    assert client.dropped == 2


def test_a_filter_on_the_librarys_logger_that_raises_stays_the_hosts(
    client: TelemetryClient,
) -> None:
    logger = logging.getLogger(LOGGER_NAME)
    raising = RaisingFilter()
    logger.addFilter(raising)
    try:
        with _debug_logging():
            client.capture("not a label", {})
    finally:
        logger.removeFilter(raising)
    assert client.dropped == 1


class _debug_logging:
    def __enter__(self) -> None:
        self.level = logging.getLogger().level
        logging.getLogger().setLevel(logging.DEBUG)

    def __exit__(self, *exc: object) -> None:
        logging.getLogger().setLevel(self.level)


def test_a_host_handler_that_forwards_records_to_capture_returns(client: TelemetryClient) -> None:
    forwarded: list[str] = []

    class Forwarding(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            forwarded.append(record.getMessage())
            client.capture(record.getMessage(), {})  # a log line is no event name: dropped

    handler = Forwarding()
    logging.getLogger().addHandler(handler)
    try:
        with _debug_logging():
            # (On e70ee05 each forwarded line failed and was logged again, down to the
            # recursion limit and back, for ever: the capture runs where it cannot hang this.)
            assert returns_in_time(lambda: client.capture("tool_used", 5))  # type: ignore[arg-type]
    finally:
        logging.getLogger().removeHandler(handler)
    assert len(forwarded) == 1
    assert client.dropped == 2  # the host's capture, and the handler's


def test_the_librarys_lines_still_reach_a_host_that_listens(
    client: TelemetryClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger=LOGGER_NAME):
        client.capture("not a label", {})
    assert any("dropped an event" in record.getMessage() for record in caplog.records)


def frames_left() -> int:
    """How many more frames the interpreter allows below the caller's."""

    def probe(depth: int) -> int:
        try:
            return probe(depth + 1)
        except RecursionError:
            return depth

    return probe(0)


def at_depth(margin: int, call: Callable[[], _T]) -> _T:
    """``call()`` made with ``margin`` frames left before the interpreter's recursion limit."""

    def down(levels: int) -> _T:
        return call() if levels <= 0 else down(levels - 1)

    return down(frames_left() - margin)


@pytest.mark.parametrize("margin", [3, 5, 10, 20, 40])
def test_build_client_returns_near_the_recursion_limit(home: Path, margin: int) -> None:
    client = at_depth(margin, build_client)
    assert isinstance(client, TelemetryClient)


def test_the_client_of_a_deeply_nested_configuration_file_is_inert(home: Path) -> None:
    (home / "project" / "codeweaver.toml").write_text(
        "[telemetry]\nflag_overrides = " + "[" * 100_000 + "]" * 100_000 + "\n"
    )
    client = get_telemetry_client()
    assert not client.enabled
    assert client.config_error is not None


def test_an_int_subclass_as_a_setting_is_the_plain_int_it_is(home: Path) -> None:
    client = build_client({"batch_size": OddInt(5), "max_buffered_events": OddInt(7)})
    assert client.settings is not None
    for setting in (client.settings.batch_size, client.settings.max_buffered_events):
        assert type(setting.value) is int
    assert (client.settings.batch_size.value, client.settings.max_buffered_events.value) == (5, 7)


def test_disable_edits_around_a_user_file_nested_too_deeply_to_parse(home: Path) -> None:
    path = home / "config" / "codeweaver" / "codeweaver.toml"
    path.parent.mkdir(parents=True)
    path.write_text("[other]\nx = " + "[" * 100_000 + "]" * 100_000 + "\n")
    written = write_user_settings(DEFAULT_APP, {"disable_telemetry": True}, os.environ)
    assert "fix it first" in written.failure()


# Files that are not regular files, and a full disk. (These return on e70ee05 already; they
# stay here so that they keep returning.)


def test_a_fifo_as_configuration_path_is_refused_without_blocking(home: Path) -> None:
    fifo = home / "project" / "fifo.toml"
    os.mkfifo(fifo)
    made: list[TelemetryClient] = []
    assert returns_in_time(lambda: made.append(build_client(config_path=str(fifo))))
    assert made[0].config_error is not None


def key_path(home: Path) -> Path:
    return home / "state" / "codeweaver" / KEY_FILE_NAME


def planted(home: Path, make: Callable[[Path], object]) -> Path:
    path = key_path(home)
    path.parent.mkdir(parents=True, mode=0o700)
    make(path)
    return path


@pytest.mark.parametrize(
    "plant",
    [
        lambda path: os.mkfifo(path, 0o600),
        lambda path: os.symlink("/dev/zero", path),
        lambda path: os.mknod(path, 0o600 | stat.S_IFCHR, os.makedev(1, 5)),
    ],
    ids=["a FIFO", "a link to /dev/zero", "a /dev/zero device node"],
)
def test_a_key_file_that_is_not_a_regular_file_is_replaced_and_events_still_sent(
    home: Path, plant: Callable[[Path], object]
) -> None:
    try:
        planted(home, plant)
    except PermissionError:
        pytest.skip("making a device node needs privileges")
    client = build_client()
    assert returns_in_time(lambda: client.capture("tool_used", {"hits": 1}))
    client.shutdown()
    assert len(printed(home)) == 1
    assert key_path(home).is_file()
    assert key_path(home).stat().st_size == 32


def test_a_full_disk_at_key_creation_loses_no_event_and_leaves_no_empty_key(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(descriptor: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    client = build_client()
    for hits in range(3):
        client.capture("tool_used", {"hits": hits})
    client.shutdown()
    monkeypatch.undo()
    assert len(printed(home)) == 3
    assert not key_path(home).exists()
    assert installation_hash_key(key_path(home).parent).how == "a new key, stored"


def test_an_empty_key_file_is_repaired(home: Path) -> None:
    def empty(path: Path) -> None:
        path.touch(mode=0o600)
        path.chmod(0o600)

    planted(home, empty)
    key = installation_hash_key(key_path(home).parent)
    assert key.how.startswith("a new key, stored in place of one that had the wrong length")
    assert key_path(home).read_bytes() == key.key


# --- In client.py -----------------------------------------------------------------------------


def test_shutdown_with_a_timeout_beyond_any_float_returns(
    client: TelemetryClient, sink: NullSink
) -> None:
    client.capture("tool_used", {"hits": 1})
    client.shutdown(timeout=10**400)


def test_a_first_capture_near_the_recursion_limit_does_not_fail_set_up_for_good(
    sink: NullSink,
) -> None:
    client = opted_in_client(sink)
    for margin in range(4, 40, 2):  # somewhere in there, making the parts runs out of frames
        at_depth(margin, lambda: client.capture("tool_used", {"hits": 1}))
    client.capture("tool_used", {"hits": 2})
    assert sink.events
    assert sink.events[-1].properties["hits"] == 2


def test_declaring_endless_labels_does_not_hang(client: TelemetryClient) -> None:
    client.declare_labels("mcp_tool", endless(str))


def test_every_vocabulary_word_is_a_label_so_measuring_first_loses_none() -> None:
    # The wire check measures a string before it looks it up in a vocabulary: a vocabulary
    # word longer than a label would no longer be sent. There is none.
    from codeweaver_telemetry.core.mcp_event import MCP_TOOL_CALL_SCHEMA
    from codeweaver_telemetry.core.search_event import SEARCH_SCHEMA
    from codeweaver_telemetry.core.session_event import SESSION_SCHEMA
    from codeweaver_telemetry.core.vocabulary import LABEL_PATTERN

    for schema in (SEARCH_SCHEMA, SESSION_SCHEMA, MCP_TOOL_CALL_SCHEMA):
        for words in schema.vocabularies.values():
            assert all(LABEL_PATTERN.fullmatch(word) for word in words)
