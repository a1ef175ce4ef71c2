"""The integrator's kit: canary instances of a user's model type, and assert_never_leaks."""

from __future__ import annotations

import dataclasses

import attrs
import pydantic
import pytest
from hypothesis import given, settings

from codeweaver_telemetry.core import (
    AnonymityConversion,
    CodeMatch,
    FilteredKey,
    FindCodeResponseSummary,
    IntentType,
    SessionStatistics,
    TelemetryKeys,
)
from codeweaver_telemetry.core.testing import (
    CANARY_PREFIX,
    Planted,
    assert_never_leaks,
    canary_instances,
)

C = AnonymityConversion


@dataclasses.dataclass
class Leaky:
    query: str
    note: str
    intent: IntentType
    hits: int

    def _telemetry_keys(self) -> TelemetryKeys:
        return {FilteredKey("query"): C.HASH}


@dataclasses.dataclass
class Outer:
    inner: Leaky
    tags: list[str]

    def _telemetry_keys(self) -> TelemetryKeys:
        return {FilteredKey("tags"): C.COUNT}


class PydanticLeaky(pydantic.BaseModel):
    path: str
    labels: dict[str, int] = {}

    def _telemetry_keys(self) -> TelemetryKeys:
        return {FilteredKey("path"): C.FORBIDDEN}


@attrs.define
class AttrsSafe:
    secret: bytes
    names: tuple[str, ...]
    ratio: float

    def _telemetry_keys(self) -> TelemetryKeys:
        return {FilteredKey("secret"): C.FORBIDDEN, FilteredKey("names"): C.DISTRIBUTION}


@pytest.mark.parametrize("model", [CodeMatch, FindCodeResponseSummary, SessionStatistics])
def test_the_library_domain_objects_never_leak(model: type) -> None:
    assert_never_leaks(model, max_examples=30)


def test_an_undeclared_text_field_is_caught_and_named() -> None:
    with pytest.raises(AssertionError, match=r"Leaky: the canary of 'note' reached"):
        assert_never_leaks(Leaky, max_examples=30)


def test_a_leak_in_a_nested_model_is_named_by_its_path() -> None:
    with pytest.raises(AssertionError, match=r"'inner\.note'"):
        assert_never_leaks(Outer, max_examples=30)


def test_pydantic_mapping_keys_are_free_text_too() -> None:
    with pytest.raises(AssertionError, match=r"'labels'"):
        assert_never_leaks(PydanticLeaky, max_examples=30)


def test_an_attrs_model_with_every_text_field_declared_passes() -> None:
    assert_never_leaks(AttrsSafe, max_examples=30)


@settings(max_examples=20)
@given(canary_instances(Leaky))
def test_canaries_go_in_text_fields_and_typed_fields_are_left_alone(planted: Planted) -> None:
    instance = planted.value
    assert isinstance(instance, Leaky)
    assert set(planted.canaries) == {"query", "note"}
    assert instance.query.startswith(CANARY_PREFIX)
    assert isinstance(instance.intent, IntentType)
    assert isinstance(instance.hits, int)
