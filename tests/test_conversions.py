"""Each anonymity conversion, pinned to exact outputs, including the ways it must fail closed."""

from __future__ import annotations

import enum
import math
from collections import OrderedDict
from collections.abc import Iterator

import pytest
from returns.result import Failure, Success

from codeweaver_telemetry.core import (
    AnonymityConversion,
    PrivacyPolicy,
    convert,
)
from codeweaver_telemetry.core.hashing import DIGEST_LENGTH
from codeweaver_telemetry.core.leak_guard import find_leak
from codeweaver_telemetry.core.wire import OTHER_LABEL, checked_properties

C = AnonymityConversion
POLICY = PrivacyPolicy(hash_key=b"k" * 32, sensitive_literals=frozenset({"alice"}))


class Colour(enum.Enum):
    RED = "red"
    BLUE = 2


class Hostile:
    """A value whose every protocol method raises, carrying a secret in the message."""

    def __bool__(self) -> bool:
        raise ValueError("secret-in-bool")

    def __len__(self) -> int:
        raise ValueError("secret-in-len")

    def __iter__(self) -> Iterator[object]:
        raise ValueError("secret-in-iter")

    def __str__(self) -> str:
        raise ValueError("secret-in-str")


def ok(value: object, conversion: C, policy: PrivacyPolicy = POLICY) -> object:
    result = convert(value, conversion, policy)
    assert isinstance(result, Success), result
    return result.unwrap()


def failed(value: object, conversion: C) -> str:
    result = convert(value, conversion, POLICY)
    assert isinstance(result, Failure), result
    reason = str(result.failure())
    assert "secret" not in reason
    return reason


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, False), (0, False), ("", False), ([], False), ("x", True), ([0], True), (3, True)],
)
def test_boolean_is_truthiness(value: object, expected: bool) -> None:
    assert ok(value, C.BOOLEAN) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, 0),
        ("a string", 1),
        (b"bytes", 1),
        (7, 1),
        (3.5, 1),
        ([1, 2, 3], 3),
        ((1, 2), 2),
        ({1, 2, 3, 4}, 4),
        (frozenset({1}), 1),
        ({"a": 1, "b": 2}, 2),
        (OrderedDict(a=1), 1),
        (range(10), 10),
    ],
)
def test_count(value: object, expected: int) -> None:
    assert ok(value, C.COUNT) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, 0), ("héllo", 5), ("", 0), (b"ab", 2), (1234, 4), (3.5, 3), ([1, 2], 6)],
)
def test_text_count(value: object, expected: int) -> None:
    assert ok(value, C.TEXT_COUNT) == expected


def test_hash_is_prefixed_fixed_length_lowercase_hex_and_keyed() -> None:
    digest = ok("/home/alice/auth.py", C.HASH)
    assert isinstance(digest, str)
    assert len(digest) == DIGEST_LENGTH
    assert digest.startswith("h:")
    assert digest == digest.lower()
    int(digest[2:], 16)
    assert ok("/home/alice/auth.py", C.HASH) == digest
    other_key = PrivacyPolicy(hash_key=b"j" * 32)
    assert ok("/home/alice/auth.py", C.HASH, other_key) != digest


def test_a_digest_is_known_by_its_form_so_a_check_run_again_keeps_it() -> None:
    policy = PrivacyPolicy(hash_key=b"k" * 32)
    digest = ok("/home/alice/auth.py", C.HASH, policy)
    assert isinstance(digest, str)
    assert find_leak(digest, ()) is not None  # alone, the hex looks like a credential
    once = checked_properties({"file": digest, "key": "0123456789abcdef0123456789abcdef"}, policy)
    assert once.unwrap().properties == {
        "file": digest,
        "privacy_filter": {"dropped": 1, "redacted": 0},
    }
    again = checked_properties(dict(once.unwrap().properties), policy)
    assert again.unwrap().properties == once.unwrap().properties


def test_hash_distinguishes_types_and_boundaries() -> None:
    digests = {ok(value, C.HASH) for value in ("1", 1, 1.0, True, ["ab", "c"], ["a", "bc"])}
    assert len(digests) == 6


def test_hash_ignores_set_and_mapping_order() -> None:
    assert ok({"b", "a", "c"}, C.HASH) == ok({"c", "a", "b"}, C.HASH)
    assert ok({"x": 1, "y": 2}, C.HASH) == ok({"y": 2, "x": 1}, C.HASH)


def test_hash_refuses_objects_without_a_canonical_form() -> None:
    assert failed(object(), C.HASH) == "cannot hash a value of type object"


def test_hash_of_a_self_containing_list_fails_closed() -> None:
    loop: list[object] = []
    loop.append(loop)
    assert "too deeply nested" in failed(loop, C.HASH)


def test_distribution_of_a_collection_counts_categories() -> None:
    assert ok(["python", "rust", "python", Colour.RED, Colour.BLUE, True, 3], C.DISTRIBUTION) == {
        "python": 2,
        "2": 1,
        "3": 1,
        "red": 1,
        "rust": 1,
        "true": 1,
    }


def test_distribution_of_a_single_value_and_none() -> None:
    assert ok("python", C.DISTRIBUTION) == {"python": 1}
    assert ok(Colour.RED, C.DISTRIBUTION) == {"red": 1}
    assert ok(None, C.DISTRIBUTION) == {}


def test_distribution_takes_a_mapping_as_counts() -> None:
    assert ok({"python": 10, "rust": 2.5}, C.DISTRIBUTION) == {"python": 10, "rust": 2.5}


def test_distribution_counts_what_is_not_a_label_under_other() -> None:
    policy = PrivacyPolicy(hash_key=b"k" * 32, sensitive_literals=frozenset({"alice"}))
    values = ["/home/x/a.py", "has spaces", "x" * 65, "ALICE", "password=hunter2", "python"]
    assert ok(values, C.DISTRIBUTION, policy) == {"python": 1, OTHER_LABEL: 5}


def test_distribution_keeps_vocabulary_labels_even_when_they_are_machine_literals() -> None:
    policy = PrivacyPolicy(hash_key=b"k" * 32, sensitive_literals=frozenset({"python"}))
    assert ok(["python", "rust"], C.DISTRIBUTION, policy) == {"rust": 1, OTHER_LABEL: 1}
    kept = convert(["python", "rust"], C.DISTRIBUTION, policy, frozenset({"python"})).unwrap()
    assert kept == {"python": 1, "rust": 1}


def test_distribution_caps_dynamic_labels_under_other_but_keeps_its_vocabulary() -> None:
    policy = PrivacyPolicy(hash_key=b"k" * 32, max_dynamic_labels=2)
    values = ["a"] * 5 + ["b"] * 4 + ["c"] * 3 + ["d"]
    assert ok(values, C.DISTRIBUTION, policy) == {"a": 5, "b": 4, OTHER_LABEL: 4}
    vocabulary = frozenset({"d"})
    kept = convert(values, C.DISTRIBUTION, policy, vocabulary).unwrap()
    assert kept == {"a": 5, "b": 4, "d": 1, OTHER_LABEL: 3}


def test_a_label_map_keeps_at_most_sixteen_dynamic_labels_by_default() -> None:
    values = [f"tool{n}" for n in range(40) for _ in range(n + 1)]
    out = ok(values, C.DISTRIBUTION)
    assert isinstance(out, dict)
    assert len(out) == 17
    assert out[OTHER_LABEL] == sum(range(1, 25))  # tools 0 to 23, the least frequent


def test_distribution_says_nothing_of_the_order_its_values_came_in() -> None:
    # The order of first occurrence (which result came first, say) is not a count: categories
    # come out in label order, and the ones summed under the cap come last.
    values = ["rust", "go", "python", "rust", "rust", Colour.RED, "go"]
    for ordering in (values, values[::-1], sorted(values, key=str)):
        out = ok(ordering, C.DISTRIBUTION)
        assert isinstance(out, dict)
        assert list(out.items()) == [("go", 2), ("python", 1), ("red", 1), ("rust", 3)]
    capped = PrivacyPolicy(hash_key=b"k" * 32, max_dynamic_labels=2)
    out = ok(["d", "b", "b", "a", "a", "a", "c"], C.DISTRIBUTION, capped)
    assert isinstance(out, dict)
    assert list(out.items()) == [("a", 3), ("b", 2), (OTHER_LABEL, 2)]


def test_distribution_merges_an_existing_other_category() -> None:
    policy = PrivacyPolicy(hash_key=b"k" * 32, max_dynamic_labels=1)
    out = ok({"a": 5, OTHER_LABEL: 2, "b": 1}, C.DISTRIBUTION, policy)
    assert out == {"a": 5, OTHER_LABEL: 3}


@pytest.mark.parametrize("value", [[1.5], [None], [b"x"], {"a": "x"}, {"a": True}, b"raw"])
def test_distribution_refuses_non_categories(value: object) -> None:
    failed(value, C.DISTRIBUTION)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(5, 5), (2.5, 2.5), ([1, 2, 3], 6), ((1, 2.5), 3.5), ({"a": 1, "b": 2}, 3), ([], 0)],
)
def test_aggregate_sums(value: object, expected: float) -> None:
    assert ok(value, C.AGGREGATE) == expected


@pytest.mark.parametrize(
    "value", [True, [True], "12", None, [math.nan], [math.inf], [2**64], {"a": "x"}, object()]
)
def test_aggregate_refuses_what_is_not_a_finite_number(value: object) -> None:
    failed(value, C.AGGREGATE)


def test_forbidden_has_no_value() -> None:
    assert failed("anything", C.FORBIDDEN) == "a FORBIDDEN field is never sent"


@pytest.mark.parametrize(
    "conversion", [C.BOOLEAN, C.COUNT, C.TEXT_COUNT, C.AGGREGATE, C.DISTRIBUTION]
)
def test_a_hostile_value_fails_closed_without_its_message(conversion: C) -> None:
    assert failed(Hostile(), conversion)
