"""The wire grammar, proved over the output: whatever a careless host hands over, every string
that leaves is a label, a digest, a library constant or (opted-in query only) plain words.

The grammar is restated here on its own (not by calling the check's predicates), so that a
bug in the check cannot prove itself; the leak guard is asked only about labels, as its role is
in the grammar.
"""

from __future__ import annotations

import dataclasses
import io
import json
import re
from collections.abc import Iterator
from typing import NamedTuple

import pytest
from hypothesis import given
from hypothesis import strategies as st

from codeweaver_telemetry.adapters import NullSink, StdoutSink, TelemetryClient
from codeweaver_telemetry.core import (
    AnonymityConversion,
    CodeMatch,
    FilteredKey,
    FindCodeResponseSummary,
    MatchType,
    PrivacyPolicy,
    SessionStatistics,
    TelemetryKeys,
    build_search_event,
    build_session_event,
    find_leak,
    serialize_for_telemetry,
)
from codeweaver_telemetry.core.settings import RawSources, resolve_settings
from codeweaver_telemetry.core.testing.text import careless_text

pytestmark = pytest.mark.slow

LITERALS = frozenset({"alice", "acme-corp", "payments-internal", "build-host-7"})
"""The machine's names in these proofs: none is a word of the library's vocabularies."""

_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:+#-]{0,63}")
_DIGEST = re.compile(r"h:[0-9a-f]{32}")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_QUERY_WORD = re.compile(r"[^\W_]+(?:['\u2019-][^\W_]+)*")
_LIBRARY_KEYS = frozenset(
    {
        "$lib",
        "$lib_version",
        "$os",
        "$python_version",
        "$geoip_disable",
        "$process_person_profile",
        "$session_id",
    }
)
_MARKER = "[REDACTED]"


def is_label(text: str) -> bool:
    return _LABEL.fullmatch(text) is not None and find_leak(text, tuple(LITERALS)) is None


def is_plain_words(text: str) -> bool:
    words = text.split(" ")
    if text and "" in words:
        return False
    for word, following in zip(words, [*words[1:], None], strict=True):
        if word == _MARKER:
            if following == _MARKER:
                return False
        elif not (
            len(word) <= 24
            and _QUERY_WORD.fullmatch(word)
            and find_leak(word, tuple(LITERALS)) is None
        ):
            return False
    return True


def grammar_errors(properties: object, *, opted_in: bool) -> list[str]:
    """Every string of ``properties`` (an event's) outside the grammar, with where it is."""
    errors: list[str] = []
    assert isinstance(properties, dict)
    for key, value in properties.items():
        if key.startswith("$"):
            feature = key.removeprefix("$feature/")
            if key not in _LIBRARY_KEYS and not (feature != key and is_label(feature)):
                errors.append(f"a $ key the library does not set: {key!r}")
            if key == "$session_id":
                if not (isinstance(value, str) and _UUID.fullmatch(value)):
                    errors.append(f"$session_id is not a uuid: {value!r}")
                continue
        elif key == "query_text" and opted_in and isinstance(value, str):
            if not is_plain_words(value):
                errors.append(f"query_text is not plain words: {value!r}")
            continue
        elif not is_label(key):
            errors.append(f"a key that is not a label: {key!r}")
        errors.extend(f"{key}: {text!r}" for text in strings_in(value) if not is_wire_text(text))
    return errors


def is_wire_text(text: str) -> bool:
    return text == "__other__" or _DIGEST.fullmatch(text) is not None or is_label(text)


def strings_in(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)
    else:
        assert value is None or type(value) in (bool, int, float), type(value)


# --- What a careless host hands over ----------------------------------------------------------

ordinary = st.sampled_from(["hybrid", "find_code", "0.5.0", "python", "UNDERSTAND", "2026-12-01"])
texts = careless_text() | st.text(max_size=30) | ordinary
leaves = texts | st.integers() | st.floats() | st.booleans() | st.none()


class Point(NamedTuple):
    """A NamedTuple model: its path is hashed, its note is undeclared."""

    note: object
    path: object

    def _telemetry_keys(self) -> TelemetryKeys:
        return {FilteredKey("path"): AnonymityConversion.HASH}


@dataclasses.dataclass
class Holder:
    """A dataclass that declares nothing: everything in it is undeclared."""

    first: object
    second: object


def _containers(children: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    return (
        st.lists(children, max_size=4)
        | st.lists(children, max_size=3).map(tuple)
        | st.dictionaries(texts, children, max_size=4)
        | st.builds(Holder, children, children)
        | st.builds(Point, children, children)
    )


nested = st.recursive(leaves, _containers, max_leaves=16)
properties = st.dictionaries(texts, nested, max_size=6)


def policy_for(opted_in: bool) -> PrivacyPolicy:
    return PrivacyPolicy(
        hash_key=b"grammar-key-0123456789abcdef",
        tools_over_privacy=opted_in,
        sensitive_literals=LITERALS,
    )


def settings(opted_in: bool) -> object:
    arguments = {"tools_over_privacy": opted_in}
    return resolve_settings(RawSources(arguments=arguments, environment={})).unwrap()


# --- The proofs -------------------------------------------------------------------------------


@given(properties, st.booleans())
def test_the_serializer_emits_only_the_grammar(value: dict[str, object], opted_in: bool) -> None:
    result = serialize_for_telemetry(value, policy_for(opted_in))
    assert grammar_errors(result.unwrap(), opted_in=opted_in) == []


summaries = st.builds(
    FindCodeResponseSummary,
    matches=st.lists(
        st.builds(
            CodeMatch, texts, texts, st.just((0, 1)), st.floats(), st.sampled_from(MatchType)
        ),
        max_size=3,
    ).map(tuple),
    summary=texts,
    query_intent=st.none(),
    total_matches=st.integers(0, 100),
    total_results=st.integers(0, 100),
    token_count=st.integers(0, 10_000),
    execution_time_ms=st.floats(0, 1e4),
    warnings=st.lists(texts, max_size=3).map(tuple),
    languages_found=st.lists(texts, max_size=5).map(tuple),
    metadata=st.dictionaries(texts, texts, max_size=2),
)


@given(
    summaries,
    texts,
    st.lists(texts, max_size=4),
    st.dictionaries(texts, texts | st.booleans() | st.none(), max_size=4),
    st.booleans(),
)
def test_the_search_event_emits_only_the_grammar(
    response: FindCodeResponseSummary,
    query: str,
    strategies: list[object],
    flags: dict[str, object],
    opted_in: bool,
) -> None:
    event = build_search_event(
        response,
        query=query,
        intent_type=None,
        strategies=strategies,  # type: ignore[arg-type]
        execution_time_ms=1.0,
        policy=policy_for(opted_in),
        feature_flags=flags,
    ).unwrap()
    assert grammar_errors(event.properties, opted_in=opted_in) == []


label_maps = st.dictionaries(texts, st.integers(0, 1000), max_size=20)
statistics = st.builds(
    SessionStatistics,
    tool_latencies_ms=st.dictionaries(
        texts, st.lists(st.floats(0, 1e4), min_size=1, max_size=3).map(tuple), max_size=20
    ),
    languages=label_maps,
    file_categories=label_maps,
    operations=label_maps,
    active_store=texts | st.none(),
    setup_error_kinds=st.lists(texts, max_size=3).map(tuple),
    config_flags=st.dictionaries(texts, st.booleans(), max_size=20),
)


@given(statistics, texts)
def test_the_session_event_emits_only_the_grammar(stats: SessionStatistics, version: str) -> None:
    event = build_session_event(
        stats, version=version, duration_seconds=1.0, policy=policy_for(False)
    ).unwrap()
    assert grammar_errors(event.properties, opted_in=False) == []


def stdout_lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


@given(
    st.dictionaries(texts, nested, max_size=4),
    st.dictionaries(texts, leaves, max_size=3),
    st.dictionaries(texts, leaves, max_size=3),
    texts,
    summaries,
    st.booleans(),
)
def test_the_client_emits_only_the_grammar_to_every_sink(  # noqa: PLR0917 - one per input
    own: dict[str, object],
    metadata: dict[str, object],
    tags: dict[str, object],
    name: str,
    response: FindCodeResponseSummary,
    opted_in: bool,
) -> None:
    stream = io.StringIO()
    kept = NullSink(keep=True)
    for sink in (kept, StdoutSink(stream=stream)):
        policy = policy_for(opted_in)
        client = TelemetryClient(settings(opted_in), policy=policy, sink=sink)  # type: ignore[arg-type]
        client.start_session(metadata)
        with client.context(**tags):
            client.capture("codeweaver_search", own)
            client.capture(name, own)
            client.capture_with_serialization("model", Holder(own, metadata))
            client.capture_search_event(
                response, query=name, intent_type=None, strategies=[], execution_time_ms=1.0
            )
        client.end_session()
        client.shutdown()
    events: list[tuple[str, object]] = [(event.event, event.properties) for event in kept.events]
    lines = stdout_lines(stream)
    events += [(str(line["event"]), line["properties"]) for line in lines]
    for event_name, event_properties in events:
        assert is_label(event_name)
        assert grammar_errors(event_properties, opted_in=opted_in) == []
    for line in lines:
        assert set(line) == {"event", "distinct_id", "properties", "timestamp", "uuid"}
        assert _UUID.fullmatch(str(line["distinct_id"]))
        assert _UUID.fullmatch(str(line["uuid"]))
        assert is_label(str(line["timestamp"]))


@given(summaries, texts, st.booleans(), st.dictionaries(texts, nested, max_size=3))
def test_a_built_event_comes_back_unchanged_and_a_tampered_one_in_the_grammar(
    response: FindCodeResponseSummary,
    query: str,
    opted_in: bool,
    writes: dict[str, object],
) -> None:
    policy = policy_for(opted_in)
    sink = NullSink(keep=True)
    client = TelemetryClient(settings(opted_in), policy=policy, sink=sink)  # type: ignore[arg-type]
    event = build_search_event(
        response,
        query=query,
        intent_type=None,
        strategies=[],
        execution_time_ms=1.0,
        policy=policy,
    ).unwrap()
    built = json.loads(json.dumps(event.properties))
    client.capture_from_event(event)
    event.properties.update(writes)  # type: ignore[arg-type]
    client.capture_from_event(event)
    client.shutdown()
    untouched, tampered = sink.events
    assert {key: untouched.properties[key] for key in built} == built
    assert grammar_errors(tampered.properties, opted_in=opted_in) == []
