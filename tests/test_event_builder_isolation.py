"""The event builders' isolation of each property, and the size they vouch for.

A value that raises costs its own property (or group of properties) and a note that says why,
never the event; and the room the builder counts as it goes must bound the payload's JSON size,
since no walk measures it when it fits.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator

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
    event_schema,
    session_event,
)
from codeweaver_telemetry.core.conversions import to_distribution, to_hash
from codeweaver_telemetry.core.event_schema import (
    NO_PERSON_PROFILE,
    PropertyBuilder,
    build_event,
    schema_room,
)
from codeweaver_telemetry.core.payload import (
    MAX_NOTES,
    FilterReport,
    payload_size,
    plain_copy,
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


def test_ordinary_inputs_drop_nothing() -> None:
    event = search()
    assert event.report.dropped == 0
    assert event.report.notes == ()
    assert event.properties["privacy_filter"] == {"dropped": 0, "redacted": 0}


def test_a_raising_value_costs_only_its_property() -> None:
    event = search(response=summary(total_matches=math.inf))
    assert "result_candidates" not in event.properties
    assert event.properties["result_total"] == 4
    assert notes_of(event) == ["result_candidates: the number is not finite"]


@pytest.mark.parametrize(
    ("overrides", "dropped", "notes"),
    [
        (
            {"intent_type": Exploding()},
            {"intent"},
            ["intent: a Exploding is not a category"],
        ),
        (
            {"intent_type": LoudInt(3)},
            {"intent"},
            ["intent: the value raised RuntimeError"],
        ),
        (
            {"response": summary(warnings=Exploding(), languages_found=Exploding())},
            {"warning_count", "languages_found"},
            [
                "languages_found: the value raised RuntimeError",
                "warning_count: the value raised RuntimeError",
            ],
        ),
        (
            {"response": summary(matches=Exploding())},
            {
                "result_returned",
                "relevance_min",
                "relevance_max",
                "relevance_mean",
                "relevance_median",
                "match_types",
            },
            [
                "result_returned: the value raised RuntimeError",
                "relevance: the value raised RuntimeError",
                "match_types: the value raised RuntimeError",
            ],
        ),
        (
            {"feature_flags": {"ok": 1.5, 3: "x", "/home/alice": "y"}},
            {"$feature/beta", "$feature/dark", "$feature/off"},  # given flags replace these
            [
                "$feature/ok: a float is not a category",
                "feature_flags: a flag name is a int, not a str",
                "[*]: a property name made from host data looks sensitive",
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
    strategies: list[object] = []
    strategies.append(Grower(7, strategies, [100]))
    event = search(strategies=strategies)
    assert event.properties["strategies"] == ["7"]
    languages: list[object] = ["rust"]
    languages.append(Grower(7, languages, [100]))
    event = search(response=summary(languages_found=languages))
    assert event.properties["languages_found"] == {"7": 1, "rust": 1}


class Replacer(int):
    """A category whose text form frees the list's first item and puts a new one in its
    place: the freed item's id may be reused."""

    def __new__(cls, value: int, into: list[object]) -> Replacer:
        replacer = super().__new__(cls, value)
        replacer.into = into
        return replacer

    into: list[object]

    def __str__(self) -> str:
        self.into[0] = None
        self.into[2] = LabelledInt(7)
        return "9"


class LabelledInt(int):
    """An int subclass: labelled by its text form (which the host may change)."""


def test_a_freed_item_does_not_lend_its_label_to_an_item_that_takes_its_id() -> None:
    values: list[object] = [LabelledInt(5)]
    values.extend([Replacer(9, values), LabelledInt(3)])
    assert to_distribution(values, POLICY) == {"3": 1, "5": 1, "9": 1}


def test_notes_are_bounded_while_every_drop_is_counted() -> None:
    matches = tuple(
        CodeMatch("/a.py", "x", (0, 1), math.nan, MatchType.SEMANTIC) for _ in range(100)
    )
    event = search(response=summary(matches=matches))
    assert event.report.dropped == 100
    assert notes_of(event) == ["relevance: a relevance score is not a finite number"] * MAX_NOTES


def test_strategies_beyond_the_category_cap_are_counted_not_sent() -> None:
    event = search(strategies=[SearchStrategy.DENSE] * 60)
    assert event.properties["strategies"] == ["dense"] * POLICY.max_categories
    assert notes_of(event) == ["strategies: more items than the policy's category cap"]


class Unreadable:
    """A response whose every field raises when read: a host's broken duck type."""

    def __getattr__(self, name: str) -> object:
        raise RuntimeError("secret")


def test_a_domain_object_whose_fields_cannot_be_read_fails_the_event_without_raising() -> None:
    result = build_search_event(
        Unreadable(),  # type: ignore[arg-type]
        query="q",
        intent_type=None,
        strategies=[],
        execution_time_ms=1.0,
        policy=POLICY,
    )
    assert str(result.failure()) == "<root>: the value raised RuntimeError"
    session = build_session_event(
        Unreadable(),  # type: ignore[arg-type]
        version="1",
        duration_seconds=1.0,
        policy=POLICY,
    )
    assert str(session.failure()) == "<root>: the value raised RuntimeError"


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


WIDE = [f"ключ{i}😀" for i in range(40)]
"""Labels that pass the category rules and take 12 characters each in JSON (``\\uXXXX``)."""


LONGEST = [f"{i:02d}{'😀' * 62}" for i in range(40)]
"""Labels of the policy's longest, each character of which takes 12 in JSON: no room spare."""

LETTERS = [chr(code) for code in (*range(65, 91), *range(97, 123))]
"""Names whose schema room (an entry with a number) is less than a digest's."""


def put_digests(build: PropertyBuilder) -> None:
    for name in LETTERS:
        build.put_digest(name, to_hash, name, POLICY)


def checked_names(build: PropertyBuilder) -> None:
    for name in WIDE:
        if build.checked_name(name):
            build.properties[name] = True


ROOM_CASES: dict[str, tuple[list[str], Callable[[PropertyBuilder], None]]] = {
    "a label": (["l"], lambda build: build.put_label("l", "😀" * 64)),
    "labels": (["l"], lambda build: build.put("l", lambda: [build.label(w) for w in WIDE])),
    "nulls among labels": (
        ["l"],
        lambda build: build.put("l", lambda: [build.label(None) for _ in range(50)]),
    ),
    "key labels": (
        ["k"],
        lambda build: build.put("k", lambda: {build.key_label(w): -1.5e-300 for w in WIDE}),
    ),
    "a distribution": (["d"], lambda build: build.put("d", build.distribution, WIDE)),
    "checked names": ([], checked_names),
    "latency statistics": (
        ["t"],
        lambda build: build.put(
            "t", session_event._latencies, build, dict.fromkeys(LONGEST, (1.5e-300, -2.5e300))
        ),
    ),
    "guarded text": (["t"], lambda build: build.put_text("t", lambda: "😀" * 500)),
    "digests": (LETTERS, put_digests),
}


@pytest.mark.parametrize("case", ROOM_CASES)
def test_each_way_of_making_a_string_counts_its_room(
    case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One way at a time, so that no other property's slack can hide a missing count.
    names, put = ROOM_CASES[case]
    sizes = vouched_sizes(monkeypatch)
    build = PropertyBuilder(POLICY)
    put(build)
    assert not isinstance(build.finished(schema_room([*names, NO_PERSON_PROFILE])), PrivacyError)
    [(bound, size)] = sizes
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
        build.put("intent", build.label, IntentType.TEST)

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


class Text(str):
    """A str subclass: its methods could lie to a guard."""


@pytest.mark.parametrize(
    "payload",
    [
        {"a": Text("x")},
        {"a": [1, {"b": 2**63}]},
        {"a": math.inf},
        {"a": (1, 2)},
        {"a": {1: "x"}},
        {"a": [[[[["too deep"]]]]]},  # five containers below the top, beyond 4
    ],
)
def test_a_plain_copy_refuses_anything_but_plain_json_within_depth(payload: JSONObject) -> None:
    assert plain_copy(payload, 4) is None


def test_a_plain_copy_is_private_all_the_way_down() -> None:
    payload: JSONObject = {"a": [1, 2.5, {"b": None, "c": True}], "d": "text", "e": [[[1]]]}
    copy = plain_copy(payload, 4)
    assert copy == payload
    inner = payload["a"]
    assert isinstance(inner, list)
    inner.append("/home/alice/x.py")
    nested = inner[2]
    assert isinstance(nested, dict)
    nested["/home/alice"] = 1
    assert copy == {"a": [1, 2.5, {"b": None, "c": True}], "d": "text", "e": [[[1]]]}
