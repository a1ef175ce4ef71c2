"""The event builders' two ways (direct, then isolating on an error) and the size they vouch for.

A builder builds an event first without isolating each property; only if a value raises does it
build it again, isolating each. Both ways must give the same properties and the same notes, and
the room the builder counts as it goes must bound the payload's JSON size, since no walk
measures it when it fits.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator

import pytest
from returns.result import Failure, Result

from codeweaver_telemetry.core import (
    CodeMatch,
    FindCodeResponseSummary,
    IntentType,
    MatchType,
    PrivacyPolicy,
    SearchEvent,
    SearchStrategy,
    SessionStatistics,
    build_search_event,
    build_session_event,
    event_schema,
    search_event,
)
from codeweaver_telemetry.core.conversions import to_distribution
from codeweaver_telemetry.core.event_schema import PropertyBuilder, build_event, schema_room
from codeweaver_telemetry.core.payload import (
    FilterReport,
    payload_size,
    vetted_size_bound,
    vouch_for_payload,
)
from codeweaver_telemetry.core.vocabulary import JSONObject, PrivacyError

POLICY = PrivacyPolicy(hash_key=b"k" * 32, sensitive_literals=frozenset({"alice"}))
OPTED_IN = PrivacyPolicy(
    hash_key=b"k" * 32, tools_over_privacy=True, sensitive_literals=frozenset({"alice"})
)


def summary(**overrides: object) -> FindCodeResponseSummary:
    fields: dict[str, object] = {
        "matches": tuple(
            CodeMatch(f"/home/alice/m{i}.py", "x", (0, 1), i / 10, MatchType.SEMANTIC)
            for i in range(4)
        ),
        "summary": "",
        "query_intent": IntentType.DEBUG,
        "total_matches": 9,
        "total_results": 4,
        "token_count": 100,
        "execution_time_ms": 5.0,
        "languages_found": ("python", "rust", "python", "日本語", "/home/alice/x.py"),
    }
    fields.update(overrides)
    return FindCodeResponseSummary(**fields)  # type: ignore[arg-type]


def search(policy: PrivacyPolicy = POLICY, **arguments: object) -> SearchEvent:
    options: dict[str, object] = {
        "query": "where is the login handled",
        "intent_type": IntentType.DEBUG,
        "strategies": [SearchStrategy.DENSE, "ünïcode-strategy"],
        "execution_time_ms": 5.0,
        "feature_flags": {"beta": "on", "dark": True, "off": None},
    }
    options.update(arguments)
    response = options.pop("response", summary())
    return build_search_event(response, policy=policy, **options).unwrap()  # type: ignore[arg-type]


def without_isolation_fallback(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Record, for each builder made, whether it isolated its properties."""
    made: list[bool] = []
    original = event_schema.PropertyBuilder.__init__

    def recording(self: PropertyBuilder, policy: PrivacyPolicy, *, isolating: bool = True) -> None:
        made.append(isolating)
        original(self, policy, isolating=isolating)

    monkeypatch.setattr(event_schema.PropertyBuilder, "__init__", recording)
    return made


def test_ordinary_inputs_are_built_once_directly(monkeypatch: pytest.MonkeyPatch) -> None:
    made = without_isolation_fallback(monkeypatch)
    search()
    build_session_event(SessionStatistics(), version="1", duration_seconds=1.0, policy=POLICY)
    assert made == [False, False]


def test_a_raising_value_builds_again_isolating_and_costs_only_its_property(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made = without_isolation_fallback(monkeypatch)
    event = search(response=summary(total_matches=math.inf))
    assert made == [False, True]
    assert "result_candidates" not in event.properties
    assert event.properties["result_total"] == 4
    assert [str(note) for note in event.report.notes] == [
        "result_candidates: the number is not finite"
    ]


def test_a_one_shot_iterator_of_strategies_is_read_once(monkeypatch: pytest.MonkeyPatch) -> None:
    made = without_isolation_fallback(monkeypatch)
    strategies = iter([SearchStrategy.HYBRID, SearchStrategy.RERANK])
    event = search(strategies=strategies, response=summary(total_matches=math.nan))
    assert made == [True]
    assert event.properties["strategies"] == ["hybrid", "rerank"]


class Exploding:
    """A value that raises wherever it is read."""

    def __len__(self) -> int:
        raise RuntimeError("secret")

    def __iter__(self) -> Iterator[object]:
        raise RuntimeError("secret")

    def __float__(self) -> float:
        raise RuntimeError("secret")


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"execution_time_ms": math.nan},
        {"feature_flags": {"ok": 1.5, 3: "x", "/home/alice": "y"}},
        {"strategies": [SearchStrategy.DENSE] * 60},
        {"intent_type": Exploding()},
        {"response": summary(warnings=Exploding(), languages_found=Exploding())},
    ],
)
def test_both_ways_give_the_same_properties_and_notes(
    overrides: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    for policy in (POLICY, OPTED_IN):
        direct = search_built(monkeypatch, policy, overrides, isolating=False)
        isolating = search_built(monkeypatch, policy, overrides, isolating=True)
        assert isinstance(isolating, tuple)
        if isinstance(direct, Exception):  # the direct way lets an error escape
            continue
        assert direct == isolating  # the same payload and the same report


def search_built(
    monkeypatch: pytest.MonkeyPatch,
    policy: PrivacyPolicy,
    overrides: dict[str, object],
    *,
    isolating: bool,
) -> tuple[JSONObject, FilterReport] | PrivacyError | Exception:
    """What one way of building makes of a search (payload and report), before sealing."""
    made: list[tuple[JSONObject, FilterReport] | PrivacyError | Exception] = []

    def one_way(
        event_type: type[SearchEvent],
        put_properties: Callable[[PropertyBuilder], None],
        policy: PrivacyPolicy,
        room: int,
        *,
        direct: bool = True,
    ) -> Result[SearchEvent, PrivacyError]:
        try:
            made.append(event_schema._built(put_properties, policy, room, isolating=isolating))
        except Exception as error:  # noqa: BLE001 - the direct way lets errors escape
            made.append(error)
        return Failure(PrivacyError("", None, "only recorded"))

    monkeypatch.setattr(search_event, "build_event", one_way)
    options: dict[str, object] = {
        "query": "how is /home/alice/x.py loaded",
        "intent_type": IntentType.DEBUG,
        "strategies": [SearchStrategy.DENSE],
        "execution_time_ms": 5.0,
        "feature_flags": {"beta": "on"},
    }
    options.update(overrides)
    response = options.pop("response", summary())
    build_search_event(response, policy=policy, **options)  # type: ignore[arg-type]
    monkeypatch.undo()
    return made[0]


def vouched_sizes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int | None]]:
    """Record, for each vouched payload, the bound its builder counted and its real size."""
    sizes: list[tuple[int, int | None]] = []

    def measuring(
        properties: JSONObject, policy: PrivacyPolicy, report: FilterReport, bound: int
    ) -> PrivacyError | None:
        sizes.append((bound, payload_size(properties)))
        return vouch_for_payload(properties, policy, report, bound)

    monkeypatch.setattr(event_schema, "vouch_for_payload", measuring)
    return sizes


def test_the_room_a_builder_counts_bounds_the_payload(monkeypatch: pytest.MonkeyPatch) -> None:
    sizes = vouched_sizes(monkeypatch)
    wide = {f"ключ{i}😀": i for i in range(40)}  # non-ASCII labels take up to 12 per character
    for policy in (POLICY, OPTED_IN):
        search(policy, query="😀 " * 300, feature_flags={f"f{i}": "é" * 60 for i in range(50)})
        search(policy, response=summary(languages_found=tuple(wide)))
        stats = SessionStatistics(
            tool_latencies_ms=dict.fromkeys(wide, (1.5e300, -2.5e-300)),
            languages=wide,
            file_categories=wide,
            operations=wide,
            config_flags=dict.fromkeys(wide, True),
            active_store="😀" * 64,
            setup_error_kinds=tuple(wide),
        )
        build_session_event(stats, version="é" * 64, duration_seconds=1.0, policy=policy)
    assert len(sizes) == 6
    for bound, size in sizes:  # measured before the filter report, whose room comes on top
        assert size is not None
        assert size <= bound


def test_a_payload_beyond_its_room_is_measured_and_refused_when_oversized() -> None:
    small = PrivacyPolicy(hash_key=b"k" * 32, max_payload_bytes=700)
    result = build_session_event(
        SessionStatistics(languages={f"l{i}": i for i in range(40)}),
        version="1",
        duration_seconds=1.0,
        policy=small,
    )
    assert "over the policy's 700" in str(result.failure())
    fits = build_session_event(SessionStatistics(), version="1", duration_seconds=1.0, policy=small)
    assert payload_size(fits.unwrap().properties) is not None


def test_build_event_seals_what_it_builds() -> None:
    def put_properties(build: PropertyBuilder) -> None:
        build.put("intent", lambda: build.label(IntentType.TEST))

    event = build_event(SearchEvent, put_properties, POLICY, schema_room(["intent"])).unwrap()
    assert event.sealed
    assert event.properties == {
        "intent": "test",
        "$process_person_profile": False,
        "privacy_filter": {"dropped": 0, "redacted": 0},
    }


def test_opted_in_query_text_is_guarded_where_it_is_put() -> None:
    event = search(OPTED_IN, query="/home/alice/secret.py")
    assert event.properties["query_text"] == "[REDACTED]"
    assert event.properties["privacy_filter"] == {"dropped": 0, "redacted": 0}
    cut = PrivacyPolicy(hash_key=b"k" * 32, tools_over_privacy=True, max_query_chars=8)
    event = search(cut, query="notes.mdxz")  # clean, but cut to "notes.md", a file name
    assert event.properties["query_text"] == "[REDACTED]"
    assert event.properties["privacy_filter"] == {"dropped": 0, "redacted": 1}


def test_text_bound_covers_characters_beyond_the_bmp() -> None:
    payload: JSONObject = {"k": "😀" * 10, "é": "\x01"}
    bound = vetted_size_bound(payload, None)
    assert bound is not None
    assert bound >= len(json.dumps(payload, separators=(",", ":")))


def test_a_distribution_whose_merged_count_overflows_is_refused() -> None:
    with pytest.raises(ValueError, match="not finite"):
        to_distribution({"a": 1e308, IntentType.TEST: 1e308, "test": 1e308}, POLICY)
