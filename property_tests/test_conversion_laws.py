"""The algebraic laws the conversions obey, for arbitrary inputs."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from codeweaver_telemetry.core import AnonymityConversion, PrivacyPolicy, convert
from codeweaver_telemetry.core.conversions import category_label
from codeweaver_telemetry.core.wire import OTHER_LABEL

C = AnonymityConversion
POLICY = PrivacyPolicy(hash_key=b"laws-key-0123456789abcdef")
UNCAPPED = PrivacyPolicy(hash_key=b"laws-key-0123456789abcdef", max_dynamic_labels=10_000)

scalars = st.one_of(st.integers(-1000, 1000), st.text(max_size=6), st.booleans(), st.none())
categories = st.one_of(
    st.text(max_size=8), st.integers(-50, 50), st.booleans(), st.sampled_from(AnonymityConversion)
)
numbers = st.one_of(
    st.integers(-(2**40), 2**40), st.floats(allow_nan=False, allow_infinity=False, width=32)
)
collections = st.one_of(
    st.lists(scalars, max_size=20),
    st.lists(scalars, max_size=20).map(tuple),
    st.frozensets(scalars, max_size=20),
    st.dictionaries(st.text(max_size=4), scalars, max_size=20),
)


def unwrap(value: object, conversion: C, policy: PrivacyPolicy = POLICY) -> object:
    return convert(value, conversion, policy).unwrap()


@given(collections)
def test_count_equals_len_for_collections(value: object) -> None:
    assert unwrap(value, C.COUNT) == len(value)  # type: ignore[arg-type]


@given(st.lists(categories, max_size=60), st.sampled_from([POLICY, UNCAPPED]))
def test_distribution_counts_sum_to_count(values: list[object], policy: PrivacyPolicy) -> None:
    distribution = unwrap(values, C.DISTRIBUTION, policy)
    assert isinstance(distribution, dict)
    assert sum(distribution.values()) == unwrap(values, C.COUNT)
    assert len(distribution) <= policy.max_dynamic_labels + 1
    if (
        len({category_label(value, policy) for value in values} - {OTHER_LABEL})
        > policy.max_dynamic_labels
    ):
        assert OTHER_LABEL in distribution


@given(st.dictionaries(st.text(max_size=8), st.integers(0, 10**6), max_size=80))
def test_distribution_of_counts_sums_to_aggregate(counts: dict[str, int]) -> None:
    distribution = unwrap(counts, C.DISTRIBUTION)
    assert isinstance(distribution, dict)
    assert sum(distribution.values()) == unwrap(counts, C.AGGREGATE)


@given(st.lists(numbers, max_size=30))
def test_aggregate_equals_sum(values: list[float]) -> None:
    total = unwrap(values, C.AGGREGATE)
    assert isinstance(total, int | float)
    assert math.isclose(total, sum(values), rel_tol=1e-9, abs_tol=1e-6)


@given(st.one_of(scalars, collections), st.binary(min_size=16, max_size=64))
def test_hash_is_deterministic_per_key_and_differs_across_keys(value: object, key: bytes) -> None:
    policy = PrivacyPolicy(hash_key=key)
    other = PrivacyPolicy(hash_key=bytes(byte ^ 0xFF for byte in key))
    digest = unwrap(value, C.HASH, policy)
    assert digest == unwrap(value, C.HASH, policy)
    assert digest != unwrap(value, C.HASH, other)


@given(st.one_of(scalars, collections, numbers))
def test_boolean_matches_truthiness(value: object) -> None:
    assert unwrap(value, C.BOOLEAN) is bool(value)


@given(st.text())
def test_text_count_is_the_number_of_characters(value: str) -> None:
    assert unwrap(value, C.TEXT_COUNT) == len(value)
