"""The client facade on the null and stdout sinks: filtering, sessions, contexts, never throwing."""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import io
import json
import math
import socket
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import pytest
from domain_samples import empty_summary

from codeweaver_telemetry.adapters import NullSink, StdoutSink, TelemetryClient
from codeweaver_telemetry.adapters.library import library_properties
from codeweaver_telemetry.core import (
    CodeMatch,
    IntentType,
    JSONObject,
    MatchType,
    PrivacyPolicy,
    SearchEvent,
    SearchStrategy,
    SessionStatistics,
    build_search_event,
)
from codeweaver_telemetry.core.settings import RawSources, TelemetrySettings, resolve_settings
from codeweaver_telemetry.core.sink import OutboundEvent
from codeweaver_telemetry.core.wire import is_digest

LITERALS = frozenset({"alice", "acme-repo"})
POLICY = PrivacyPolicy(hash_key=b"k" * 32, sensitive_literals=LITERALS)


def settings(environment: dict[str, str] | None = None, **arguments: object) -> TelemetrySettings:
    return resolve_settings(RawSources(arguments=arguments, environment=environment or {})).unwrap()


def client_with(
    sink: NullSink | StdoutSink, environment: dict[str, str] | None = None, **arguments: object
) -> TelemetryClient:
    resolved = settings(environment, **arguments)
    policy = PrivacyPolicy(
        hash_key=b"k" * 32,
        sensitive_literals=LITERALS,
        tools_over_privacy=resolved.tools_over_privacy.value,
    )
    return TelemetryClient(resolved, policy=policy, sink=sink)


@pytest.fixture
def sink() -> NullSink:
    return NullSink(keep=True)


@pytest.fixture
def client(sink: NullSink) -> Iterator[TelemetryClient]:
    client = client_with(sink)
    client.start_session({"version": "0.5.0", "backend": "qdrant", "home": "/home/alice"})
    yield client
    client.shutdown()


def only_event(sink: NullSink) -> OutboundEvent:
    assert len(sink.events) == 1
    return sink.events[0]


def test_capture_filters_and_guards_properties_before_returning(
    client: TelemetryClient, sink: NullSink
) -> None:
    properties: dict[str, object] = {"intent": "UNDERSTAND", "where": "/home/alice/x.py", "n": 3}
    client.capture("codeweaver_search", properties)
    properties["n"] = 99  # the caller may change its dict right after
    event = only_event(sink)
    assert event.event == "codeweaver_search"
    assert event.properties == {
        "version": "0.5.0",
        "backend": "qdrant",
        "intent": "UNDERSTAND",
        "n": 3,
        "privacy_filter": {"dropped": 2, "redacted": 0},  # "home" (metadata) and "where"
        **library_properties(event.distinct_id, POLICY),
    }
    assert properties == {"intent": "UNDERSTAND", "where": "/home/alice/x.py", "n": 99}


def test_each_session_has_a_new_random_distinct_id(client: TelemetryClient, sink: NullSink) -> None:
    client.capture("a")
    client.start_session()
    client.capture("b")
    first, second = sink.events
    assert first.distinct_id != second.distinct_id
    assert len(first.distinct_id) == 36


def test_context_tags_apply_inside_and_nest(client: TelemetryClient, sink: NullSink) -> None:
    with client.context(tool="find_code"), client.context(tool="index", phase="warm"):
        client.capture("inner")
    client.capture("outer")
    inner, outer = sink.events
    assert inner.properties["tool"] == "index"
    assert inner.properties["phase"] == "warm"
    assert "tool" not in outer.properties


def test_asyncio_tasks_inherit_tags_and_new_threads_do_not(
    client: TelemetryClient, sink: NullSink
) -> None:
    async def in_task() -> None:
        client.capture("task")

    async def main() -> None:
        with client.context(request="r1"):
            await asyncio.create_task(in_task())

    asyncio.run(main())
    with client.context(request="r2"):
        plain = threading.Thread(target=client.capture, args=("thread",))
        plain.start()
        plain.join()
        context = contextvars.copy_context()
        copied = threading.Thread(target=context.run, args=(client.capture, "copied"))
        copied.start()
        copied.join()
    by_name = {event.event: event.properties for event in sink.events}
    assert by_name["task"]["request"] == "r1"
    assert "request" not in by_name["thread"]
    assert by_name["copied"]["request"] == "r2"


class Hostile(Mapping[str, object]):
    def __getitem__(self, key: str) -> object:
        raise RuntimeError("secret")

    def __iter__(self) -> Iterator[str]:
        raise RuntimeError("secret")

    def __len__(self) -> int:
        raise RuntimeError("secret")


def test_nothing_the_host_passes_makes_capture_raise(
    client: TelemetryClient, sink: NullSink
) -> None:
    client.capture("hostile", Hostile())
    hostile_keys: dict[object, object] = {"x": object(), (1, 2): "k"}
    client.capture("bad", hostile_keys)  # type: ignore[arg-type]
    client.capture_with_serialization("not a model", 42)
    client.capture_from_event(object())  # type: ignore[arg-type]
    assert [event.event for event in sink.events] == ["bad"]
    assert sink.events[0].properties["privacy_filter"] == {"dropped": 3, "redacted": 0}
    assert client.dropped == 3


class CustomEvent:
    EVENT_NAME: ClassVar[str] = "my_custom_event"

    def __init__(self, path: str) -> None:
        self.path = path

    def to_posthog_event(self) -> tuple[str, JSONObject]:
        return self.EVENT_NAME, {"path": self.path, "my_metric": 10}


def test_a_custom_event_is_filtered_like_a_raw_dict(
    client: TelemetryClient, sink: NullSink
) -> None:
    client.capture_from_event(CustomEvent("/srv/acme-repo/main.py"))
    properties = only_event(sink).properties
    assert "path" not in properties
    assert properties["my_metric"] == 10
    assert properties["privacy_filter"] == {"dropped": 2, "redacted": 0}  # and "home"


def test_capture_with_serialization_applies_declarations(
    client: TelemetryClient, sink: NullSink
) -> None:
    match = CodeMatch("/a/b.py", "def secret(): ...", (1, 2), 0.5, MatchType.SEMANTIC)
    client.capture_with_serialization("match", match)
    properties = only_event(sink).properties
    assert "content" not in properties
    assert isinstance(properties["file_path"], str)
    assert is_digest(properties["file_path"])


@pytest.mark.parametrize(
    ("user_opted_in", "argument", "has_query"),
    [(False, None, False), (False, True, False), (True, None, True), (True, False, False)],
)
def test_query_statistics_need_the_users_own_opt_in(
    user_opted_in: bool, argument: bool | None, has_query: bool
) -> None:
    sink = NullSink(keep=True)
    user = {"CODEWEAVER__TELEMETRY__TOOLS_OVER_PRIVACY": str(user_opted_in)}
    client = client_with(sink, environment=user)
    client.capture_search_event(
        empty_summary(),
        query="where is auth",
        intent_type=IntentType.DEBUG,
        strategies=[SearchStrategy.HYBRID],
        execution_time_ms=3.0,
        tools_over_privacy=argument,
    )
    properties = only_event(sink).properties
    assert ("query_chars" in properties) is has_query
    assert properties["intent"] == "debug"


def test_end_session_sends_one_session_event_with_delivery_counts(
    client: TelemetryClient, sink: NullSink
) -> None:
    client.capture("bad", Hostile())
    client.end_session(version="0.5.0")
    client.end_session(version="0.5.0")
    sessions = [event for event in sink.events if event.event == "codeweaver_session"]
    assert len(sessions) == 1
    assert sessions[0].properties["telemetry_events_lost_total"] == 1
    assert sessions[0].properties["version"] == "0.5.0"


def test_a_session_event_from_the_host_is_not_sent_twice(
    client: TelemetryClient, sink: NullSink
) -> None:
    client.capture_session_event(SessionStatistics(total_requests=3), version="1.0")
    client.end_session()
    assert [event.event for event in sink.events] == ["codeweaver_session"]
    assert sink.events[0].properties["requests_total"] == 3


def test_the_context_manager_never_suppresses_the_hosts_exception(sink: NullSink) -> None:
    client = client_with(sink)

    def host_code() -> None:
        with client:
            client.capture("before")
            raise KeyError("host")

    with pytest.raises(KeyError, match="host"):
        host_code()
    assert [event.event for event in sink.events] == ["before", "codeweaver_session"]


def test_flags_use_local_overrides_then_the_default() -> None:
    client = client_with(NullSink(), flag_overrides={"new_reranker": "test"})
    assert client.get_feature_flag("new_reranker") == "test"
    assert client.get_feature_flag("unknown", default="control") == "control"
    assert client.get_all_feature_flags() == {"new_reranker": "test"}


def test_a_disabled_client_is_inert() -> None:
    sink = NullSink(keep=True)
    resolved = settings(disable_telemetry=True)
    client = TelemetryClient(resolved, policy=PrivacyPolicy(hash_key=b"k" * 32), sink=sink)
    client.start_session({"a": 1})
    client.capture("x", {"a": 1})
    client.capture_session_event(SessionStatistics())
    assert client.get_feature_flag("f", default="d") == "d"
    assert client.get_all_feature_flags() == {}
    client.end_session()
    client.shutdown()
    assert not client.enabled
    assert sink.received == 0


def test_enabled_does_not_change_after_shutdown(client: TelemetryClient) -> None:
    client.shutdown()
    assert client.enabled
    client.capture("after")  # a closed sink drops it, counted, silently
    assert client.dropped == 1


def test_the_stdout_sink_writes_exactly_the_posthog_batch_item() -> None:
    stream = io.StringIO()
    client = client_with(StdoutSink(stream=stream))
    client.capture("codeweaver_search", {"intent": "DEBUG"})
    (line,) = stream.getvalue().splitlines()
    item = json.loads(line)
    assert sorted(item) == ["distinct_id", "event", "properties", "timestamp", "uuid"]
    assert item["event"] == "codeweaver_search"
    assert item["properties"]["intent"] == "DEBUG"
    assert item["properties"]["$session_id"] == item["distinct_id"]
    assert item["timestamp"].endswith("+00:00")


def test_the_stdout_sink_can_append_to_a_file(tmp_path: Path) -> None:
    target = tmp_path / "events.jsonl"
    sink = StdoutSink(str(target))
    client = client_with(sink)
    client.capture("one")
    client.capture("two")
    client.shutdown()
    assert [json.loads(line)["event"] for line in target.read_text().splitlines()] == [
        "one",
        "two",
    ]


def test_a_broken_stream_is_counted_not_raised() -> None:
    stream = io.StringIO()
    stream.close()
    client = client_with(StdoutSink(stream=stream))
    client.capture("lost")
    client.capture("lost_again")
    assert client.failed == 2
    client.shutdown()
    assert client.failed == 2  # the sink's own totals are not added a second time


def test_drops_before_the_first_session_are_reported_in_its_session_event() -> None:
    sink = NullSink(keep=True)
    client = client_with(sink)
    client.capture("not a plain label")  # dropped before any session exists
    client.capture("ok")  # starts the session implicitly
    client.end_session(version="1")
    client.capture("later", Hostile())
    sessions = [event for event in sink.events if event.event == "codeweaver_session"]
    assert sessions[0].properties["telemetry_events_lost_total"] == 1
    assert client.dropped == 1  # the one after the session event counts afresh


def test_unusable_arguments_never_raise_into_the_host() -> None:
    client = client_with(NullSink(keep=True))
    assert client.get_feature_flag(["not", "hashable"], default="d") == "d"  # type: ignore[arg-type]
    client.capture("e")
    report = client.shutdown(timeout="1")  # type: ignore[arg-type]
    assert report.delivered == 0


def test_library_properties_are_coarse_platform_facts_only() -> None:
    properties = library_properties("a-session", POLICY)
    assert set(properties) == {
        "$session_id",
        "$lib",
        "$lib_version",
        "$os",
        "$python_version",
        "$geoip_disable",
        "$process_person_profile",
    }
    assert properties["$geoip_disable"] is True
    assert properties["$process_person_profile"] is False
    assert str(properties["$python_version"]).count(".") == 1


def test_the_session_event_takes_its_version_from_the_session_metadata(
    client: TelemetryClient, sink: NullSink
) -> None:
    client.end_session()
    assert only_event(sink).properties["version"] == "0.5.0"


def test_the_stdout_sink_never_opens_a_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a socket was opened")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    stream = io.StringIO()
    client = client_with(StdoutSink(stream=stream))
    client.start_session({"v": 1})
    client.capture("e")
    client.end_session()
    client.shutdown()
    assert len(stream.getvalue().splitlines()) == 2


def test_a_handed_over_session_event_does_not_take_the_clients_counts(
    client: TelemetryClient, sink: NullSink
) -> None:
    from codeweaver_telemetry.core import build_session_event, default_policy

    client.capture("not a label")  # one drop the session event must report
    handed = build_session_event(
        SessionStatistics(), version="1", duration_seconds=1.0, policy=default_policy()
    ).unwrap()
    client.capture_from_event(handed)
    client.end_session()
    sessions = [event for event in sink.events if event.event == "codeweaver_session"]
    assert [event.properties["telemetry_events_lost_total"] for event in sessions] == [0, 1]


def test_a_forged_built_event_is_checked_like_any_other(
    client: TelemetryClient, sink: NullSink
) -> None:
    from codeweaver_telemetry.core import FilterReport, SearchEvent

    forged = SearchEvent({"where": "/home/alice/secret.py", "n": 1}, FilterReport())
    client.capture_from_event(forged)
    properties = only_event(sink).properties
    assert "where" not in properties
    assert properties["n"] == 1


def test_a_built_event_changed_by_replace_is_checked_like_any_other(
    client: TelemetryClient, sink: NullSink
) -> None:
    from codeweaver_telemetry.core import build_session_event, default_policy

    built = build_session_event(
        SessionStatistics(), version="1", duration_seconds=1.0, policy=default_policy()
    ).unwrap()
    changed = dataclasses.replace(built, properties={"where": "/home/alice/secret.py"})
    client.capture_from_event(changed)
    assert "where" not in only_event(sink).properties


def built_search(policy: PrivacyPolicy) -> SearchEvent:
    """A search event built under ``policy``, with a label folded into __other__ and (opted
    in) a digest."""
    response = dataclasses.replace(empty_summary(), languages_found=("/srv/x.py", "python"))
    return build_search_event(
        response,
        query="how is login done",
        intent_type=IntentType.DEBUG,
        strategies=[SearchStrategy.HYBRID],
        execution_time_ms=5.0,
        policy=policy,
    ).unwrap()


def with_client_properties(event: OutboundEvent, own: Mapping[str, object]) -> JSONObject:
    """What the client sends for an event whose own properties are ``own``."""
    return {**own, **library_properties(event.distinct_id, POLICY)}  # type: ignore[dict-item]


@pytest.fixture
def opted_in() -> PrivacyPolicy:
    return PrivacyPolicy(hash_key=b"k" * 32, tools_over_privacy=True, sensitive_literals=LITERALS)


@pytest.mark.parametrize("tools_over_privacy", [False, True])
def test_a_built_event_handed_over_unchanged_is_sent_as_built(
    sink: NullSink, tools_over_privacy: bool
) -> None:
    # Checked again, since the host held it; the check knows a digest by its form, so
    # nothing in it changes.
    policy = PrivacyPolicy(
        hash_key=b"k" * 32, tools_over_privacy=tools_over_privacy, sensitive_literals=LITERALS
    )
    client = TelemetryClient(settings(), policy=policy, sink=sink)
    event = built_search(policy)
    assert event.properties["languages_found"] == {"python": 1, "__other__": 1}
    assert ("query_hash" in event.properties) is tools_over_privacy
    client.capture_from_event(event)
    client.shutdown()
    sent = only_event(sink)
    assert sent.properties == with_client_properties(sent, event.properties)


def test_a_built_event_from_another_key_keeps_its_digests(sink: NullSink) -> None:
    # No registry of known digests: a digest is known by its form, whatever key made it.
    policy = PrivacyPolicy(hash_key=b"k" * 32, tools_over_privacy=True)
    client = TelemetryClient(settings(), policy=policy, sink=sink)
    other = PrivacyPolicy(hash_key=b"j" * 32, tools_over_privacy=True)
    event = built_search(other)
    client.capture_from_event(event)
    client.shutdown()
    sent = only_event(sink)
    assert sent.properties["query_hash"] == event.properties["query_hash"]
    assert sent.properties == with_client_properties(sent, event.properties)


class LyingText(str):
    """Text that tells the leak guard it is something else."""

    __slots__ = ()

    def lower(self) -> str:
        return "nothing to see"

    def isascii(self) -> bool:
        return True


def test_values_of_other_types_written_into_a_built_event_are_dropped(sink: NullSink) -> None:
    policy = PrivacyPolicy(hash_key=b"k" * 32, sensitive_literals=LITERALS)
    client = TelemetryClient(settings(), policy=policy, sink=sink)
    event = built_search(policy)
    event.properties["lying"] = LyingText("acme-repo")
    event.properties["nan"] = math.nan
    event.properties["tuple"] = ("python",)  # type: ignore[assignment]
    client.capture_from_event(event)
    client.shutdown()
    properties = only_event(sink).properties
    assert "lying" not in properties
    assert "nan" not in properties
    assert "tuple" not in properties
    assert properties["privacy_filter"] == {"dropped": 3, "redacted": 0}
    assert properties["intent"] == "debug"


def test_what_a_host_writes_into_a_built_event_is_dropped_and_counted(
    sink: NullSink, opted_in: PrivacyPolicy
) -> None:
    client = TelemetryClient(settings(), policy=opted_in, sink=sink)
    event = built_search(opted_in)
    built: dict[str, Any] = json.loads(json.dumps(event.properties))
    event.properties["repository"] = "/srv/acme-repo"
    event.properties["$set"] = {"name": "Bob"}
    event.properties["$process_person_profile"] = True
    languages = event.properties["languages_found"]
    strategies = event.properties["strategies"]
    assert isinstance(languages, dict)
    assert isinstance(strategies, list)
    languages["/home/alice/y.py"] = 1
    strategies.append("alice@example.com")
    client.capture_from_event(event)
    languages["/home/alice/z.py"] = 1  # after the capture: what was taken is a copy
    client.shutdown()
    sent = only_event(sink)
    assert sent.properties == with_client_properties(
        sent,
        {
            **built,
            "privacy_filter": {"dropped": 4, "redacted": 0},
        },  # the library sets $process_person_profile
    )


@pytest.mark.parametrize("name", ["/home/alice/notes.md", "user alice searched", "x" * 65, 42])
def test_an_event_whose_name_is_not_a_plain_label_is_not_sent(
    client: TelemetryClient, sink: NullSink, name: object
) -> None:
    client.capture(name, {"n": 1})  # type: ignore[arg-type]
    assert sink.events == []
    assert client.dropped == 1
