"""A host's tests of its own telemetry: the in-memory sink, the client made for tests and
capture_telemetry (the pytest fixture over it is tested in test_pytest_plugin.py).

Regression for the issue's bullet "a host cannot test its own telemetry without undocumented
internals": on e70ee05 there is no ``adapters.testing`` to import.
"""

from __future__ import annotations

import json
import math
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from domain_samples import empty_summary

from codeweaver_telemetry.adapters import (
    TelemetryClient,
    get_telemetry_client,
    set_telemetry_client,
)
from codeweaver_telemetry.adapters.testing import (
    TEST_HASH_KEY,
    CapturedEvents,
    InMemorySink,
    capture_telemetry,
    telemetry_client_for_tests,
)
from codeweaver_telemetry.core.app import App
from codeweaver_telemetry.core.sink import (
    Accepted,
    DeliveryReport,
    LossReason,
    OutboundEvent,
    Sink,
)
from codeweaver_telemetry.core.vocabulary import JSONObject
from codeweaver_telemetry.core.wire import is_digest


def event(name: str = "e", properties: dict[str, object] | None = None) -> OutboundEvent:
    # (Not JSONObject: some tests hand over what the wire cannot carry.)
    return OutboundEvent(name, "session", properties or {}, 1_700_000_000.0)  # type: ignore[arg-type]


def properties_of(item: JSONObject) -> dict[str, Any]:
    properties = item["properties"]
    assert isinstance(properties, dict)
    return properties


@pytest.fixture
def sink() -> InMemorySink:
    return InMemorySink()


# --- the in-memory sink -------------------------------------------------------------------


def test_it_is_a_sink() -> None:
    as_sink: Sink = InMemorySink()  # (mypy checks the protocol)
    assert as_sink.emit(event()) is Accepted.QUEUED


def test_each_wire_item_is_the_event_as_the_posthog_sink_sends_it(sink: InMemorySink) -> None:
    sink.emit(event("first", {"hits": 3}))
    sink.emit(event("second"))
    first, second = sink.wire_items
    assert first == sink.events[0].to_json(str(first["uuid"]))
    assert set(first) == {"event", "distinct_id", "properties", "timestamp", "uuid"}
    assert first["timestamp"] == "2023-11-14T22:13:20+00:00"
    # A uuid per event, made once: reading again gives the same one.
    assert uuid.UUID(str(first["uuid"])) != uuid.UUID(str(second["uuid"]))
    assert sink.wire_items[0]["uuid"] == first["uuid"]


def test_wire_items_are_json_as_the_wire_carries_it(sink: InMemorySink) -> None:
    properties: dict[str, object] = {"pair": (1, 2), "nested": {"n": 1}}
    sink.emit(event("e", properties))
    (item,) = sink.wire_items
    assert properties_of(item) == {"pair": [1, 2], "nested": {"n": 1}}
    properties_of(item)["nested"]["n"] = 99
    assert properties["nested"] == {"n": 1}
    assert sink.events[0].properties["nested"] == {"n": 1}


def test_an_event_the_wire_cannot_carry_is_refused_and_not_kept(sink: InMemorySink) -> None:
    assert sink.emit(event("e", {"ratio": math.nan})) is Accepted.FAILED
    assert sink.emit(event("e", {"thing": object()})) is Accepted.FAILED
    assert sink.events == ()
    assert sink.flush(0.0) == DeliveryReport(delivered=0, failed=2)


def test_after_close_events_are_refused_and_the_kept_ones_stay(sink: InMemorySink) -> None:
    sink.emit(event("kept"))
    assert sink.close(0.0) == DeliveryReport(delivered=1)
    assert sink.closed
    assert sink.emit(event("late")) is Accepted.DROPPED_CLOSED
    assert [item["event"] for item in sink.wire_items] == ["kept"]
    assert sink.flush(0.0) == DeliveryReport(delivered=1)


def test_the_view_is_live_and_clear_forgets_what_was_kept(sink: InMemorySink) -> None:
    view = sink.captured
    assert view == []
    sink.emit(event("a"))
    sink.emit(event("b"))
    assert len(view) == 2
    assert [item["event"] for item in view] == ["a", "b"]
    assert [item["event"] for item in view[1:]] == ["b"]
    assert view == sink.wire_items
    view.clear()
    assert view == []
    assert sink.events == ()
    sink.emit(event("c"))
    assert [item["event"] for item in view] == ["c"]
    assert sink.flush(0.0).delivered == 3  # the totals since the sink was made


def test_the_view_is_not_hashable_and_shows_its_items(sink: InMemorySink) -> None:
    sink.emit(event("a"))
    with pytest.raises(TypeError):
        hash(sink.captured)
    assert repr(sink.captured).startswith("CapturedEvents([{'event': 'a'")
    assert isinstance(sink.captured, CapturedEvents)
    assert sink.captured != "a"


def test_losses_are_totals_by_reason(sink: InMemorySink) -> None:
    assert sink.loss_totals() == {}
    sink.record_loss(LossReason.OUTAGE, 3)
    sink.record_loss(LossReason.OUTAGE)
    sink.record_loss(LossReason.SPOOL_FULL, 2)
    assert sink.loss_totals() == {LossReason.OUTAGE: 4, LossReason.SPOOL_FULL: 2}
    assert sink.loss_totals() == {LossReason.OUTAGE: 4, LossReason.SPOOL_FULL: 2}


def test_events_from_many_threads_are_all_kept(sink: InMemorySink) -> None:
    def emit_many(thread: int) -> None:
        for n in range(200):
            sink.emit(event(f"t{thread}", {"n": n}))

    threads = [threading.Thread(target=emit_many, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert len(sink.captured) == 8 * 200
    assert len({item["uuid"] for item in sink.captured}) == 8 * 200


# --- the client made for tests ------------------------------------------------------------


def test_the_client_sends_what_the_host_captures_to_the_sink(sink: InMemorySink) -> None:
    client = telemetry_client_for_tests(sink)
    client.capture("search", {"intent": "UNDERSTAND", "where": "/home/someone/x.py"})
    (item,) = sink.captured
    assert item["event"] == "search"
    properties = properties_of(item)
    assert properties["intent"] == "UNDERSTAND"
    assert "where" not in properties
    assert properties["privacy_filter"] == {"dropped": 1, "redacted": 0}


def test_the_client_is_on_even_for_an_app_off_by_default(sink: InMemorySink) -> None:
    client = telemetry_client_for_tests(sink, app=App("quiet-tool", on_by_default=False))
    assert client.enabled
    client.capture_session_event()
    assert [item["event"] for item in sink.captured] == ["quiet_tool_session"]


def test_the_client_reads_no_environment_file_or_network(
    sink: InMemorySink, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in ("HOME", "XDG_STATE_HOME", "XDG_CONFIG_HOME"):
        monkeypatch.setenv(variable, str(tmp_path))
    monkeypatch.setenv("DO_NOT_TRACK", "1")
    monkeypatch.setenv("CODEWEAVER__TELEMETRY__DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("CODEWEAVER_TELEMETRY_CONFIG", str(tmp_path / "absent.toml"))
    monkeypatch.chdir(tmp_path)

    def no_socket(*args: object, **kwargs: object) -> None:
        raise AssertionError("a client made for tests opened a socket")

    monkeypatch.setattr(socket, "socket", no_socket)
    client = telemetry_client_for_tests(sink)
    assert client.enabled
    client.start_session({"version": "1.0"})
    client.capture("search")
    assert client.get_feature_flag("new_ranker", "control") == "control"
    client.end_session()
    client.shutdown()
    assert [item["event"] for item in sink.captured] == ["search", "codeweaver_session"]
    assert os.listdir(tmp_path) == []


def test_digests_are_the_same_in_every_test(sink: InMemorySink) -> None:
    other = InMemorySink()
    for each in (sink, other):
        telemetry_client_for_tests(each, tools_over_privacy=True).capture_search_event(
            empty_summary(),
            query="how does login work",
            intent_type=None,
            strategies=(),
            execution_time_ms=3.0,
        )
    digests = [properties_of(each.captured[0])["query_hash"] for each in (sink, other)]
    assert digests[0] == digests[1]
    assert is_digest(digests[0])
    assert len(TEST_HASH_KEY) == 32


def test_query_statistics_need_the_opt_in(sink: InMemorySink) -> None:
    client = telemetry_client_for_tests(sink)
    assert client.settings is not None
    assert not client.settings.tools_over_privacy.value
    client.capture_search_event(
        empty_summary(), query="q", intent_type=None, strategies=(), execution_time_ms=1.0
    )
    assert "query_hash" not in properties_of(sink.captured[0])


def test_flag_overrides_and_sensitive_literals_are_the_tests_own(sink: InMemorySink) -> None:
    client = telemetry_client_for_tests(
        sink, flag_overrides={"new_ranker": "test"}, sensitive_literals={"acme-repo"}
    )
    assert client.get_feature_flag("new_ranker", "control") == "test"
    client.capture("indexed", {"repository": "acme-repo", "files": 3})
    properties = properties_of(sink.captured[0])
    assert "acme-repo" not in json.dumps(properties)
    assert properties["files"] == 3


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"app": "My Tool"}, "not a valid app name"),
        ({"flag_overrides": {"x": 3}}, "flag_overrides"),
    ],
)
def test_a_test_client_that_cannot_be_made_fails_the_test(
    sink: InMemorySink, arguments: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        telemetry_client_for_tests(sink, **arguments)  # type: ignore[arg-type]


# --- capture_telemetry --------------------------------------------------------------------


@pytest.fixture
def process_client() -> Iterator[TelemetryClient]:
    """A process client of the test's own, put back as it was after the test."""
    sentinel = TelemetryClient(None)
    previous = set_telemetry_client(sentinel)
    yield sentinel
    set_telemetry_client(previous)


def test_the_block_replaces_the_process_client_and_puts_it_back(process_client: object) -> None:
    with capture_telemetry() as events:
        client = get_telemetry_client()
        assert client is not process_client
        client.capture("inside")
    assert get_telemetry_client() is process_client
    assert [item["event"] for item in events] == ["inside"]


def test_the_process_client_is_back_when_the_block_raises(process_client: object) -> None:
    with pytest.raises(KeyError), capture_telemetry():
        raise KeyError("the host's test failed")
    assert get_telemetry_client() is process_client


def test_after_the_block_the_test_client_is_shut_down(process_client: object) -> None:
    with capture_telemetry() as events:
        client = get_telemetry_client()
    client.capture("after")
    assert events == []


def test_with_no_process_client_before_there_is_none_after() -> None:
    previous = set_telemetry_client(None)
    try:
        with capture_telemetry():
            pass
        assert set_telemetry_client(None) is None
    finally:
        set_telemetry_client(previous)


def test_only_the_apps_own_client_is_replaced(process_client: object) -> None:
    with capture_telemetry(app="mytool") as events:
        assert get_telemetry_client() is process_client
        get_telemetry_client("mytool").capture_session_event()
    assert [item["event"] for item in events] == ["mytool_session"]
