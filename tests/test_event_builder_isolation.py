"""The event builders' isolation of each property.

A value that raises costs its own property and a note that says why, never the event; what the
wire grammar refuses is dropped and counted by the wire check.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator

import pytest

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
)
from codeweaver_telemetry.core.conversions import to_distribution
from codeweaver_telemetry.core.event_schema import (
    NO_PERSON_PROFILE,
    EventSchema,
    Property,
    build_event,
)
from codeweaver_telemetry.core.payload import MAX_NOTES

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


class Exploding:
    """A value that raises wherever it is read."""

    def __len__(self) -> int:
        raise RuntimeError("secret")

    def __iter__(self) -> Iterator[object]:
        raise RuntimeError("secret")

    def __float__(self) -> float:
        raise RuntimeError("secret")


class LoudInt(int):
    """A category (an int) whose text form raises: labelling it runs the host's code."""

    def __str__(self) -> str:
        raise RuntimeError("secret")


def notes_of(event: SearchEvent) -> list[str]:
    return [str(note) for note in event.report.notes]


def test_ordinary_inputs_drop_only_what_is_not_a_label() -> None:
    event = search()
    # "ünïcode-strategy" is not a label: it is counted under __other__ (a value, not a drop).
    assert event.properties["strategies"] == ["dense", "__other__"]
    assert event.properties["languages_found"] == {"python": 2, "rust": 1, "__other__": 2}
    assert event.report.dropped == 0
    assert event.report.notes == ()
    assert event.properties["privacy_filter"] == {"dropped": 0, "redacted": 0}


def test_a_raising_value_costs_only_its_property() -> None:
    event = search(response=summary(total_matches=math.inf))
    assert "result_candidates" not in event.properties
    assert event.properties["result_total"] == 4
    assert notes_of(event) == ["result_candidates: the number is not finite"]


RELEVANCE = ("relevance_min", "relevance_max", "relevance_mean", "relevance_median")


@pytest.mark.parametrize(
    ("overrides", "dropped", "notes"),
    [
        (
            {"intent_type": Exploding()},
            {"intent"},
            ["intent: a Exploding is not a category"],
        ),
        (
            {"response": summary(warnings=Exploding(), languages_found=Exploding())},
            {"warning_count", "languages_found"},
            [
                "languages_found (DISTRIBUTION): the value raised RuntimeError",
                "warning_count (COUNT): the value raised RuntimeError",
            ],
        ),
        (
            {"response": summary(matches=Exploding())},
            {"result_returned", *RELEVANCE, "match_types"},
            [
                "result_returned (COUNT): the value raised RuntimeError",
                *(f"{name} (AGGREGATE): the value raised RuntimeError" for name in RELEVANCE),
                "match_types (DISTRIBUTION): the value raised RuntimeError",
            ],
        ),
    ],
)
def test_a_hostile_value_costs_its_own_properties_and_says_why(
    overrides: dict[str, object], dropped: set[str], notes: list[str]
) -> None:
    event = search(POLICY, **overrides)
    assert set(event.properties) == set(search().properties) - dropped
    assert notes_of(event) == notes
    assert event.properties["privacy_filter"] == {"dropped": len(notes), "redacted": 0}
    assert "secret" not in json.dumps(event.properties) + " ".join(notes)


def test_an_int_subclass_is_labelled_by_ints_own_text_never_its_str() -> None:
    event = search(POLICY, intent_type=LoudInt(3))
    assert event.properties["intent"] == "3"
    assert notes_of(event) == []


def test_flags_the_grammar_refuses_are_dropped_and_counted_one_by_one() -> None:
    event = search(POLICY, feature_flags={"ok": 1.5, 3: "x", "/home/alice": "y", "beta": "on"})
    flags = {key: value for key, value in event.properties.items() if key.startswith("$feature/")}
    assert flags == {"$feature/ok": "__other__", "$feature/beta": "on"}
    assert event.properties["privacy_filter"] == {"dropped": 2, "redacted": 0}


def test_a_one_shot_iterator_of_strategies_is_labelled() -> None:
    strategies = iter([SearchStrategy.HYBRID, SearchStrategy.RERANK])
    event = search(strategies=strategies)
    assert event.properties["strategies"] == ["hybrid", "rerank"]
    assert notes_of(event) == []


class Grower(int):
    """A category whose text form appends another Grower to ``into`` (at most ``limit``
    times in all): host code that changes what is being read while it is labelled."""

    def __new__(cls, value: int, into: list[object], limit: list[int]) -> Grower:
        grower = super().__new__(cls, value)
        grower.into, grower.limit = into, limit
        return grower

    into: list[object]
    limit: list[int]

    def __str__(self) -> str:
        if self.limit[0] > 0:
            self.limit[0] -= 1
            self.into.append(Grower(int(self) + 1, self.into, self.limit))
        return str(int(self))


def test_values_that_grow_their_own_list_while_labelled_are_counted_as_they_were() -> None:
    languages: list[object] = ["rust"]
    languages.append(Grower(7, languages, [100]))
    event = search(response=summary(languages_found=languages))
    assert event.properties["languages_found"] == {"7": 1, "rust": 1}


def test_notes_are_bounded_while_every_drop_is_counted() -> None:
    def raising(inputs: object, policy: PrivacyPolicy) -> int:
        raise RuntimeError("secret")

    schema = EventSchema[object](
        "many", [Property[object](f"p{n}", "integer", "", raising) for n in range(100)]
    )
    event = build_event(SearchEvent, schema, None, POLICY).unwrap()
    assert event.report.dropped == 100
    assert len(event.report.notes) == MAX_NOTES
    assert event.properties["privacy_filter"] == {"dropped": 100, "redacted": 0}


def test_strategies_beyond_the_list_bound_are_not_read() -> None:
    bounded = PrivacyPolicy(hash_key=b"k" * 32, max_list_length=5)
    event = search(bounded, strategies=[SearchStrategy.DENSE] * 60)
    assert event.properties["strategies"] == ["dense"] * 5


class Unreadable:
    """A response whose every field raises when read: a host's broken duck type."""

    def __getattr__(self, name: str) -> object:
        raise RuntimeError("secret")


def test_a_domain_object_whose_fields_cannot_be_read_costs_its_properties_not_a_raise() -> None:
    result = build_search_event(
        Unreadable(),  # type: ignore[arg-type]
        query="q",
        intent_type=None,
        strategies=[],
        execution_time_ms=1.0,
        policy=POLICY,
    )
    properties = result.unwrap().properties
    assert "result_total" not in properties
    assert properties["execution_time_ms"] == 1.0
    session = build_session_event(
        Unreadable(),  # type: ignore[arg-type]
        version="1",
        duration_seconds=1.0,
        policy=POLICY,
    ).unwrap()
    assert "requests_total" not in session.properties
    assert "secret" not in json.dumps(session.properties)


def test_an_event_larger_than_the_payload_bound_is_refused() -> None:
    small = PrivacyPolicy(hash_key=b"k" * 32, max_payload_bytes=700, max_dynamic_labels=100)
    result = build_session_event(
        SessionStatistics(languages={f"l{i}": i for i in range(40)}),
        version="1",
        duration_seconds=1.0,
        policy=small,
    )
    assert "over the policy's 700" in str(result.failure())
    fits = build_session_event(SessionStatistics(), version="1", duration_seconds=1.0, policy=small)
    size = len(json.dumps(fits.unwrap().properties, separators=(",", ":")))
    assert size <= 700


def test_build_event_computes_each_property_of_its_schema() -> None:
    schema = EventSchema[object](
        "e",
        [
            Property[object]("intent", "string", "", lambda i, p: "test"),
            NO_PERSON_PROFILE,
        ],
    )
    event = build_event(SearchEvent, schema, None, POLICY).unwrap()
    assert event.properties == {
        "intent": "test",
        "$process_person_profile": False,
        "privacy_filter": {"dropped": 0, "redacted": 0},
    }


def test_opted_in_query_text_is_plain_words() -> None:
    event = search(OPTED_IN, query="/home/alice/secret.py")
    assert event.properties["query_text"] == "[REDACTED]"
    assert event.properties["privacy_filter"] == {"dropped": 0, "redacted": 1}
    cut = PrivacyPolicy(hash_key=b"k" * 32, tools_over_privacy=True, max_query_chars=8)
    event = search(cut, query="notes mdxz")  # cut at a word, never inside one
    assert event.properties["query_text"] == "notes"


def test_a_distribution_whose_merged_count_overflows_is_refused() -> None:
    with pytest.raises(ValueError, match="not finite"):
        to_distribution({"a": 1e308, IntentType.TEST: 1e308, "test": 1e308}, POLICY)
