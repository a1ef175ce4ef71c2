"""The privacy proofs: no canary ever leaks, every function is total, every output is bounded JSON.

Run with more examples in CI (the ``codeweaver-ci`` profile, see conftest.py).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from returns.pipeline import is_successful
from returns.result import Result

from codeweaver_telemetry.adapters import NullSink, StdoutSink, TelemetryClient
from codeweaver_telemetry.core import (
    AnonymityConversion,
    CodeMatch,
    FindCodeResponseSummary,
    JSONObject,
    MatchType,
    PrivacyError,
    PrivacyPolicy,
    SessionEvent,
    SessionStatistics,
    build_search_event,
    build_session_event,
    serialize_for_telemetry,
)
from codeweaver_telemetry.core.settings import RawSources, resolve_settings
from codeweaver_telemetry.core.testing import Planted
from codeweaver_telemetry.core.testing.models import hostile_values, planted_models

pytestmark = pytest.mark.slow  # each proof runs hundreds of generated models

KEY = b"property-tests-key-0123456789abcdef"


def output_text(result: Result[JSONObject, PrivacyError]) -> str:
    """Everything a caller could see: the payload, or the failure's message."""
    return json.dumps(result.unwrap()) if is_successful(result) else str(result.failure())


def assert_bounded_json(payload: JSONObject, policy: PrivacyPolicy) -> None:
    size = len(json.dumps(payload, allow_nan=False, separators=(",", ":")))
    assert size <= policy.max_payload_bytes


@given(planted=planted_models(), opted_in=st.booleans())
def test_no_canary_leaks_from_declared_fields_or_guarded_text(
    planted: Planted, opted_in: bool
) -> None:
    policy = PrivacyPolicy(
        hash_key=KEY, tools_over_privacy=opted_in, sensitive_literals=planted.literals
    )
    assert planted.leaks(output_text(serialize_for_telemetry(planted.value, policy))) == []


@given(planted=planted_models(strict=True), opted_in=st.booleans())
def test_no_canary_leaks_in_strict_mode_whatever_the_text(planted: Planted, opted_in: bool) -> None:
    policy = PrivacyPolicy(
        hash_key=KEY, tools_over_privacy=opted_in, strict=True, sensitive_literals=planted.literals
    )
    assert planted.leaks(output_text(serialize_for_telemetry(planted.value, policy))) == []


@given(
    value=hostile_values(),
    conversion=st.none() | st.sampled_from(AnonymityConversion),
    strict=st.booleans(),
)
def test_serialization_is_total_and_bounded_for_hostile_values(
    value: object, conversion: AnonymityConversion | None, strict: bool
) -> None:
    policy = PrivacyPolicy(hash_key=KEY, strict=strict, max_payload_bytes=4096)
    keys = {} if conversion is None else {"value": conversion}
    result = serialize_for_telemetry({"value": value, "n": 1}, policy, keys=keys)
    assert "CANARY" not in output_text(result)
    if is_successful(result):
        assert_bounded_json(result.unwrap(), policy)


@given(value=hostile_values())
def test_a_hostile_root_gives_a_result_never_an_exception(value: object) -> None:
    result = serialize_for_telemetry(value, PrivacyPolicy(hash_key=KEY))
    assert "CANARY" not in output_text(result)


@given(values=st.lists(hostile_values(), min_size=9, max_size=9), opted_in=st.booleans())
def test_event_builders_are_total_for_hostile_domain_objects(
    values: list[Any], opted_in: bool
) -> None:
    # Deliberately ill-typed: each field of the domain objects gets a hostile value.
    policy = PrivacyPolicy(hash_key=KEY, tools_over_privacy=opted_in)
    match = CodeMatch(*values[:6])
    summary = FindCodeResponseSummary(
        matches=(match,),
        summary=values[6],
        query_intent=values[7],
        total_matches=values[8],
        total_results=values[0],
        token_count=values[1],
        execution_time_ms=values[2],
        warnings=values[3],
        languages_found=values[4],
    )
    search = build_search_event(
        summary,
        query=values[5],
        intent_type=values[6],
        strategies=values[7],
        execution_time_ms=values[8],
        policy=policy,
        feature_flags=values[0],
    )
    stats = SessionStatistics(*values)
    session = build_session_event(
        stats,
        version=values[0],
        duration_seconds=values[1],
        policy=policy,
        config_errors=values[2],
    )
    for result in (search, session):
        text = (
            str(result.failure())
            if not is_successful(result)
            else json.dumps(result.unwrap().properties, allow_nan=False)
        )
        assert "CANARY" not in text
        if is_successful(result):
            assert_bounded_json(result.unwrap().properties, policy)


canary_words = st.integers(0, 9999).map(lambda n: f"CANARY{n:04d}EV")


@given(
    secret=canary_words,
    label_secret=canary_words.map(lambda canary: f"/srv/{canary}/x.py"),
    opted_in=st.booleans(),
    scores=st.lists(st.floats(0, 1), min_size=0, max_size=5),
)
def test_search_and_session_events_never_carry_free_text(
    secret: str, label_secret: str, opted_in: bool, scores: list[float]
) -> None:
    # Free-text fields hold a bare canary that no guard rule knows (the builders alone must
    # keep it out); label fields (sent as categories by design) hold one inside a path, which
    # must come out hashed; the query holds one that the policy lists as a sensitive literal,
    # which the opted-in query text must redact.
    query_secret = secret.replace("EV", "QY")
    policy = PrivacyPolicy(
        hash_key=KEY, tools_over_privacy=opted_in, sensitive_literals=frozenset({query_secret})
    )
    matches = tuple(
        CodeMatch(
            f"/home/{secret}/a.py",
            f"def {secret}(): ...",
            (1, 2),
            score,
            MatchType.SEMANTIC,
            (secret,),
        )
        for score in scores
    )
    summary = FindCodeResponseSummary(
        matches=matches,
        summary=secret,
        query_intent=None,
        total_matches=len(matches),
        total_results=len(matches),
        token_count=1,
        execution_time_ms=1.0,
        warnings=(secret,),
        languages_found=(label_secret,),
        metadata={secret: secret},
    )
    search = build_search_event(
        summary,
        query=f"where is {query_secret} used",
        intent_type=None,
        strategies=[label_secret],  # type: ignore[list-item]  # a host may pass any label
        execution_time_ms=1.0,
        policy=policy,
        feature_flags={"flag": label_secret},
    )
    stats = SessionStatistics(
        tool_latencies_ms={label_secret: (1.0,)},
        languages={label_secret: 1},
        active_store=label_secret,
        setup_error_kinds=(label_secret,),
        config_flags={label_secret: True},
    )
    session = build_session_event(stats, version=label_secret, duration_seconds=1.0, policy=policy)
    text = json.dumps([search.unwrap().properties, session.unwrap().properties])
    assert secret not in text
    assert query_secret not in text


def built_event_written_into(policy: PrivacyPolicy, secrets: Iterable[str]) -> SessionEvent:
    """A session event the core built, into which the host then wrote each secret: as a
    property, as a category of a distribution, and as a property's name."""
    event = build_session_event(
        SessionStatistics(languages={"python": 3}), version="1", duration_seconds=1.0, policy=policy
    ).unwrap()
    languages = event.properties["languages"]
    assert isinstance(languages, dict)
    for number, secret in enumerate(secrets):
        event.properties[f"note_{number}"] = f"written by {secret}"
        event.properties[secret] = 1
        languages[secret] = 1
    return event


@given(planted=planted_models(), opted_in=st.booleans())
def test_no_canary_reaches_a_sink_through_any_way_the_client_takes_data(
    planted: Planted, opted_in: bool
) -> None:
    # As session metadata, as context tags, as a raw property, as a model, and written into
    # an event the core built (which the guard must check again): whatever the
    # client's own steps add (library properties, session id, merging), nothing planted may
    # reach the sinks' output, the exact lines the stdout sink writes included.
    policy = PrivacyPolicy(
        hash_key=KEY, tools_over_privacy=opted_in, sensitive_literals=planted.literals
    )
    settings = resolve_settings(RawSources(arguments={}, environment={})).unwrap()
    kept, lines = NullSink(keep=True), io.StringIO()
    for sink in (kept, StdoutSink(stream=lines)):
        client = TelemetryClient(settings, policy=policy, sink=sink)
        client.start_session({"meta": planted.value})
        with client.context(tag=planted.value):
            client.capture("raw", {"value": planted.value})
            client.capture_with_serialization("model", planted.value)
            client.capture_from_event(built_event_written_into(policy, planted.literals))
        client.end_session(version="1")
        client.shutdown()
    sent = json.dumps([event.properties for event in kept.events]) + lines.getvalue()
    assert len(kept.events) == lines.getvalue().count("\n")
    assert planted.leaks(sent) == []
