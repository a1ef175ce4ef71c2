"""serialize_for_telemetry on every supported kind of model, pinned to exact outputs."""

from __future__ import annotations

import dataclasses
import datetime
import enum
import json
import math
from collections.abc import Mapping

import attrs
import pydantic
import pytest
from returns.result import Failure

from codeweaver_telemetry.core import (
    AnonymityConversion,
    FilteredKey,
    JSONObject,
    PrivacyPolicy,
    TelemetryKeys,
    TelemetrySerializable,
    filter_for_telemetry,
    serialize_for_telemetry,
)
from codeweaver_telemetry.core.hashing import DIGEST_LENGTH

C = AnonymityConversion
POLICY = PrivacyPolicy(hash_key=b"k" * 32, sensitive_literals=frozenset({"alice"}))
CLEAN = {"dropped": 0, "redacted": 0}


class Kind(enum.Enum):
    ALPHA = "alpha"
    BETA = 2


@dataclasses.dataclass(frozen=True, slots=True)
class Match(TelemetrySerializable):
    path: str
    code: str
    score: float

    def _telemetry_keys(self) -> TelemetryKeys:
        return {FilteredKey("path"): C.HASH, FilteredKey("code"): C.FORBIDDEN}


@dataclasses.dataclass
class Search(TelemetrySerializable):
    query: str
    matches: list[Match]
    kind: Kind = Kind.ALPHA
    tags: tuple[str, ...] = ()
    note: str = "plain"

    def _telemetry_keys(self) -> TelemetryKeys:
        return {FilteredKey("query"): C.TEXT_COUNT, FilteredKey("tags"): C.DISTRIBUTION}


def ok(
    obj: object, policy: PrivacyPolicy = POLICY, keys: Mapping[str, object] | None = None
) -> JSONObject:
    payload = serialize_for_telemetry(obj, policy, keys=keys).unwrap()
    json.dumps(payload, allow_nan=False)
    return payload


def failure_text(obj: object, policy: PrivacyPolicy = POLICY) -> str:
    result = serialize_for_telemetry(obj, policy)
    assert isinstance(result, Failure), result
    return str(result.failure())


def digest(value: str) -> str:
    payload = ok({"v": value}, keys={"v": C.HASH})
    result = payload["v"]
    assert isinstance(result, str)
    return result


def test_a_dataclass_with_nested_models_is_converted_at_every_depth() -> None:
    search = Search(
        query="where is auth",
        matches=[Match("/home/alice/auth.py", "def login(): ...", 0.9)],
        tags=("python", "python", "rust"),
    )
    assert ok(search) == {
        "query": 13,
        "matches": [{"path": digest("/home/alice/auth.py"), "score": 0.9}],
        "kind": "alpha",
        "tags": {"python": 2, "rust": 1},
        "note": "plain",
        "privacy_filter": CLEAN,
    }


def test_the_mixin_method_gives_the_same_result() -> None:
    match = Match("/srv/app/main.py", "print()", 0.5)
    assert match.serialize_for_telemetry(POLICY).unwrap() == ok(match)


def test_models_inside_mappings_tuples_and_sets_keep_their_declarations() -> None:
    match = Match("/a/b.py", "secret code", 1.0)
    payload = ok({"by_name": {"first": match}, "pair": (match,), "set": frozenset({match})})
    expected = {"path": digest("/a/b.py"), "score": 1.0}
    assert payload["by_name"] == {"first": expected}
    assert payload["pair"] == [expected]
    assert payload["set"] == [expected]
    assert "secret code" not in json.dumps(payload)


def test_a_plain_mapping_takes_its_declarations_from_keys() -> None:
    payload = ok(
        {"query": "auth flow", "hits": 3, "secret": "x"},
        keys={"query": C.COUNT, "secret": C.FORBIDDEN},
    )
    assert payload == {"query": 1, "hits": 3, "privacy_filter": CLEAN}


class PydanticSearch(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(populate_by_name=True)

    query_text: str = pydantic.Field(alias="queryText")
    file_path: str = pydantic.Field(serialization_alias="filePath")
    hits: int = 0

    def _telemetry_keys(self) -> TelemetryKeys:
        # Declared once by alias and once by field name: both must apply.
        return {FilteredKey("queryText"): C.TEXT_COUNT, FilteredKey("file_path"): C.FORBIDDEN}


def test_a_pydantic_model_is_converted_by_field_name_whatever_the_alias() -> None:
    model = PydanticSearch(queryText="find auth", file_path="/etc/passwd", hits=2)
    opted_in = dataclasses.replace(POLICY, tools_over_privacy=True)
    assert ok(model, policy=opted_in) == {"query_text": 9, "hits": 2, "privacy_filter": CLEAN}
    # Without the user's opt-in nothing derived from a query is sent, whoever declared it.
    dropped = {"dropped": 1, "redacted": 0}
    assert ok(model) == {"hits": 2, "privacy_filter": dropped}


class PydanticExtra(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="allow")
    name: str = "n"

    def _telemetry_keys(self) -> TelemetryKeys:
        return {FilteredKey("token"): C.FORBIDDEN}


def test_pydantic_extra_fields_are_walked_and_may_be_declared() -> None:
    model = PydanticExtra(token="sk-live-secret", count=4)  # type: ignore[call-arg]
    assert ok(model) == {"name": "n", "count": 4, "privacy_filter": CLEAN}


@attrs.frozen
class AttrsMatch:
    path: str
    score: float

    def _telemetry_keys(self) -> TelemetryKeys:
        return {FilteredKey("path"): C.TEXT_COUNT}


def test_an_attrs_class_is_supported() -> None:
    assert ok(AttrsMatch("/x/y.py", 0.1)) == {"path": 7, "score": 0.1, "privacy_filter": CLEAN}


class PlainObject:
    def __init__(self) -> None:
        self.visible = 1
        self.secret = "hunter2"
        self._private = "never read"

    def _telemetry_keys(self) -> TelemetryKeys:
        return {FilteredKey("secret"): C.BOOLEAN}


def test_any_object_with_telemetry_keys_is_read_by_its_public_attributes() -> None:
    assert ok(PlainObject()) == {"visible": 1, "secret": True, "privacy_filter": CLEAN}


def test_undeclared_text_is_sent_only_as_a_label_of_the_wire_grammar() -> None:
    payload = ok(
        {
            "where": "/home/bob/x.py",
            "who": "Alice",
            "what": "hybrid",
            "/etc/k": 1,
            "snippet": "def charge(card): return stripe.Charge.create(amount=100)",
        }
    )
    assert payload == {"what": "hybrid", "privacy_filter": {"dropped": 4, "redacted": 0}}


def test_hash_output_is_not_taken_for_a_secret_by_the_guard() -> None:
    payload = ok({"path": "/x/y.py"}, keys={"path": C.HASH})
    path = payload["path"]
    assert isinstance(path, str)
    assert len(path) == DIGEST_LENGTH


def test_a_conversion_that_cannot_apply_drops_the_field_and_counts_it() -> None:
    result = filter_for_telemetry({"n": "not a number", "m": 1}, POLICY, keys={"n": C.AGGREGATE})
    filtered = result.unwrap()
    assert filtered.payload == {"m": 1, "privacy_filter": {"dropped": 1, "redacted": 0}}
    assert [str(note) for note in filtered.report.notes] == [
        "n (AGGREGATE): a str is not a number or a collection of numbers"
    ]


def test_values_json_cannot_carry_are_dropped_and_counted() -> None:
    payload = ok(
        {
            "nan": math.nan,
            "inf": -math.inf,
            "big": 2**70,
            "raw": b"\x00",
            "obj": object(),
            "fine": 1.5,
            (1, 2): "tuple key",
        }
    )
    assert payload == {"fine": 1.5, "privacy_filter": {"dropped": 6, "redacted": 0}}


def test_mapping_keys_become_json_text() -> None:
    payload = ok({"d": {1: "a", False: "b", None: "c", Kind.ALPHA: "d", 2.5: "e"}})
    assert payload["d"] == {"1": "a", "false": "b", "null": "c", "alpha": "d", "2.5": "e"}


def test_enum_members_are_sent_by_value_and_dates_as_iso_text() -> None:
    when = datetime.datetime(2026, 11, 28, 1, 4, 35, tzinfo=datetime.UTC)
    payload = ok({"k": Kind.BETA, "when": when, "took": datetime.timedelta(seconds=1.5)})
    assert payload == {
        "k": 2,
        "when": "2026-11-28T01:04:35+00:00",
        "took": 1.5,
        "privacy_filter": CLEAN,
    }


def test_sets_are_sent_in_a_stable_order() -> None:
    assert ok({"s": {"b", "c", "a"}})["s"] == ["a", "b", "c"]


def test_strict_mode_drops_undeclared_free_text_everywhere() -> None:
    strict = PrivacyPolicy(hash_key=b"k" * 32, strict=True)
    search = Search(query="q", matches=[Match("/p.py", "c", 0.5)], note="free text")
    payload = ok(search, strict)
    assert payload == {
        "query": 1,
        "matches": [{"path": digest("/p.py"), "score": 0.5}],
        "kind": "alpha",
        "tags": {},
        "privacy_filter": {"dropped": 1, "redacted": 0},
    }
    assert ok({"m": {"k": 1}, "l": ["x", 1]}, strict) == {
        "l": [1],
        "privacy_filter": {"dropped": 2, "redacted": 0},
    }


def test_cycles_are_dropped_not_followed() -> None:
    loop: dict[str, object] = {"n": 1}
    loop["self"] = loop
    items: list[object] = [1]
    items.append(items)
    assert ok({"loop": loop, "items": items}) == {
        "loop": {"n": 1},
        "items": [1],
        "privacy_filter": {"dropped": 2, "redacted": 0},
    }


def test_nesting_deeper_than_the_policy_is_dropped_without_recursion_error() -> None:
    deep: object = 1
    for _ in range(10_000):
        deep = [deep]
    payload = ok({"deep": deep}, PrivacyPolicy(hash_key=b"k" * 32, max_depth=4))
    assert payload == {"deep": [[[]]], "privacy_filter": {"dropped": 1, "redacted": 0}}


def test_over_long_strings_and_lists_are_dropped_not_cut() -> None:
    policy = PrivacyPolicy(hash_key=b"k" * 32, max_string_length=5, max_list_length=2)
    payload = ok({"s": "abcdef", "t": "abc", "l": [1, 2, 3], "m": [1]}, policy)
    assert payload == {"t": "abc", "m": [1], "privacy_filter": {"dropped": 2, "redacted": 0}}


def test_an_oversized_payload_is_refused() -> None:
    policy = PrivacyPolicy(hash_key=b"k" * 32, max_payload_bytes=100)
    reason = failure_text({f"k{i}": i for i in range(50)}, policy)
    assert "over the policy's 100" in reason


def test_the_reserved_report_key_cannot_be_overwritten() -> None:
    payload = ok({"privacy_filter": "fake", "x": 1})
    assert payload == {"x": 1, "privacy_filter": {"dropped": 1, "redacted": 0}}


@dataclasses.dataclass
class Typo:
    file_path: str

    def _telemetry_keys(self) -> TelemetryKeys:
        return {FilteredKey("file_pth"): C.FORBIDDEN}


@dataclasses.dataclass
class Broken:
    secret: str

    def _telemetry_keys(self) -> Mapping[str, object]:
        raise RuntimeError(self.secret)


@dataclasses.dataclass
class NotAConversion:
    secret: str

    def _telemetry_keys(self) -> Mapping[str, object]:
        return {"secret": "HASH"}


def test_declarations_that_cannot_be_trusted_refuse_the_whole_model() -> None:
    assert (
        failure_text(Typo("/etc/x")) == "<root>: declares 'file_pth', which is not a field of Typo"
    )
    assert failure_text(Broken("hunter2")) == "<root>: _telemetry_keys() raised RuntimeError"
    assert failure_text(NotAConversion("x")) == "<root>: 'secret' is declared with a str"


def test_a_nested_untrusted_model_is_dropped_and_counted() -> None:
    assert ok({"inner": Broken("hunter2"), "x": 1}) == {
        "x": 1,
        "privacy_filter": {"dropped": 1, "redacted": 0},
    }


def test_what_is_not_a_model_is_refused_without_its_value() -> None:
    assert failure_text("/home/alice/secret") == "<root>: a str is not a model or a mapping"


class OtherConversion(enum.Enum):
    HASH = 1


def test_members_of_another_conversion_enum_are_accepted_by_name() -> None:
    payload = ok({"p": "/x/y.py"}, keys={"p": OtherConversion.HASH})
    assert payload["p"] == digest("/x/y.py")


def test_forbidden_fields_are_absent_not_null() -> None:
    payload = ok(Match("/x.py", "code", 1.0))
    assert "code" not in payload


def test_the_callers_object_is_not_mutated() -> None:
    data = {"where": "/home/bob/x.py", "inner": {"who": "alice"}}
    snapshot = json.dumps(data)
    ok(data)
    assert json.dumps(data) == snapshot


@pytest.mark.parametrize("bad", [{"s": "\ud800"}, {"s": "tab\there"}])
def test_unusual_text_still_gives_json(bad: dict[str, object]) -> None:
    ok(bad)
