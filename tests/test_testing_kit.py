"""The integrator's kit: canary instances of a user's model type, and assert_never_leaks."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import attrs
import pydantic
import pytest
from hypothesis import find, given, settings
from hypothesis import strategies as st

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
    NotSerializable,
    Planted,
    assert_never_leaks,
    canary_for,
    canary_instances,
)
from codeweaver_telemetry.core.testing.text import CARELESS_KINDS, canary_shapes, careless_text

ROOT = Path(__file__).resolve().parent.parent

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


# --- NamedTuple models, and models that cannot be serialized at all ------------------------


class Span(NamedTuple):
    repository: str
    note: str
    lines: int

    def _telemetry_keys(self) -> TelemetryKeys:
        return {FilteredKey("repository"): C.HASH}


class SafeSpan(NamedTuple):
    repository: str
    token: str
    lines: int

    def _telemetry_keys(self) -> TelemetryKeys:
        return {FilteredKey("repository"): C.HASH, FilteredKey("token"): C.FORBIDDEN}


@dataclasses.dataclass
class HoldsSpan:
    span: SafeSpan
    spans: list[SafeSpan]


@dataclasses.dataclass
class HoldsLeakySpan:
    span: Span


class Misspelt(NamedTuple):
    token: str

    def _telemetry_keys(self) -> TelemetryKeys:
        return {FilteredKey("tokne"): C.FORBIDDEN}


@dataclasses.dataclass
class MisspeltDataclass:
    query: str

    def _telemetry_keys(self) -> TelemetryKeys:
        return {FilteredKey("qeury"): C.HASH}


class NoFields:
    pass


@dataclasses.dataclass
class RaisingKeys:
    query: str

    def _telemetry_keys(self) -> TelemetryKeys:
        raise RuntimeError("not today")


@settings(max_examples=20)
@given(canary_instances(Span))
def test_canaries_are_planted_in_named_tuple_fields(planted: Planted) -> None:
    assert isinstance(planted.value, Span)
    assert set(planted.canaries) == {"repository", "note"}
    assert planted.value.note == planted.canaries["note"]
    assert isinstance(planted.value.lines, int)


@settings(max_examples=20)
@given(canary_instances(HoldsSpan))
def test_canaries_are_planted_in_nested_named_tuple_models(planted: Planted) -> None:
    assert isinstance(planted.value, HoldsSpan)
    assert isinstance(planted.value.span, SafeSpan)
    assert {"span.repository", "span.token", "spans.repository", "spans.token"} <= set(
        planted.canaries
    )
    assert planted.value.span.token == planted.canaries["span.token"]
    assert planted.value.spans[0].repository == planted.canaries["spans.repository"]


def test_an_undeclared_named_tuple_field_is_caught_and_named() -> None:
    with pytest.raises(AssertionError, match=r"Span: the canary of 'note' reached"):
        assert_never_leaks(Span, max_examples=30)


def test_a_named_tuple_model_with_every_text_field_declared_passes() -> None:
    assert_never_leaks(SafeSpan, max_examples=30)


def test_a_nested_named_tuple_model_is_checked_under_its_declarations() -> None:
    # Needs the serializer's walk to ask is_model() before it reads a tuple as plain data.
    assert_never_leaks(HoldsSpan, max_examples=30)
    with pytest.raises(AssertionError, match=r"the canary of 'span\.note' reached"):
        assert_never_leaks(HoldsLeakySpan, max_examples=30)


@pytest.mark.parametrize(
    ("model", "reason"),
    [
        (Misspelt, r"Misspelt: cannot be serialized .*'tokne', which is not a field"),
        (MisspeltDataclass, r"MisspeltDataclass: cannot be serialized .*'qeury'"),
        (RaisingKeys, r"RaisingKeys: cannot be serialized .*_telemetry_keys\(\) raised"),
        (int, r"int: not a model"),
        (NoFields, r"NoFields: not a model"),
        (tuple, r"tuple: not a model"),
    ],
)
def test_a_model_that_cannot_be_serialized_fails_naming_why(model: type, reason: str) -> None:
    with pytest.raises(NotSerializable, match=reason):
        assert_never_leaks(model, max_examples=10)


def test_not_serializable_is_an_assertion_error() -> None:
    assert issubclass(NotSerializable, AssertionError)
    with pytest.raises(AssertionError):
        assert_never_leaks(len, max_examples=10)  # type: ignore[arg-type]


# --- The package's layout --------------------------------------------------------------------


def test_the_kit_is_the_package_and_the_library_strategies_live_beside_it() -> None:
    import codeweaver_telemetry.core.testing as kit
    from codeweaver_telemetry.core.testing import models, text

    assert set(kit.__all__) == {
        "CANARY_PREFIX",
        "NotSerializable",
        "Planted",
        "assert_never_leaks",
        "canary_for",
        "canary_instances",
    }
    assert {"careless_text", "canary_shapes", "sensitive_text", "embedded_in_text"} <= set(
        text.__all__
    )
    assert {"planted_models", "hostile_values", "Hostile"} <= set(models.__all__)
    for module in (kit, text, models):
        assert all(getattr(module, name) is not None for name in module.__all__)


@pytest.mark.slow
def test_the_wheel_ships_the_testing_package_and_no_top_level_module(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    assert {
        "codeweaver_telemetry/core/testing/__init__.py",
        "codeweaver_telemetry/core/testing/text.py",
        "codeweaver_telemetry/core/testing/models.py",
    } <= names
    assert "codeweaver_telemetry/core/testing.py" not in names
    assert {name.split("/")[0] for name in names if ".dist-info" not in name} == {
        "codeweaver_telemetry"
    }


# --- Careless text and canaries of every shape -----------------------------------------------

FIND = settings(database=None, max_examples=5_000)
"""``find`` stops at the first example that matches; a rare shape may take a few hundred."""

SHAPE_EXAMPLES: dict[str, Callable[[str], bool]] = {
    "code": lambda s: any(mark in s for mark in "(;|"),
    "sentence": lambda s: s.count(" ") >= 4,
    "path with spaces": lambda s: " " in s and ("\\" in s or "/" in s),
    "percent-encoded path": lambda s: s.startswith("%2F") or s.startswith("C%3A"),
    "one-separator path": lambda s: (s.count("/") + s.count("\\")) == 1,
    "repository slug": lambda s: s.count("/") == 1 and " " not in s,
    "host name": lambda s: s.count(".") >= 2 and " " not in s,
    "non-ascii e-mail": lambda s: "@" in s and not s.isascii(),
    "mac address": lambda s: len(s) == 17 and s.count(":") + s.count("-") == 5,
    "url": lambda s: "://" in s,
    "key=value secret": lambda s: "=" in s or ": " in s,
    "vendor token": lambda s: s.startswith(
        ("hf_", "AIza", "npm_", "pypi-", "ghp_", "sk-", "xoxb-", "AKIA", "eyJ")
    ),
    "file name": lambda s: "." in s and " " not in s,
}
"""What each shape looks like; arbitrary unicode (the last kind) looks like anything."""


def test_every_careless_kind_is_named_and_described() -> None:
    assert set(CARELESS_KINDS) == {*SHAPE_EXAMPLES, "unicode"}


@pytest.mark.parametrize("kind", sorted(SHAPE_EXAMPLES))
@settings(max_examples=25)
@given(data=st.data())
def test_careless_text_draws_each_shape(kind: str, data: st.DataObject) -> None:
    assert SHAPE_EXAMPLES[kind](data.draw(careless_text(kind)))


@pytest.mark.parametrize(
    ("kind", "example"),
    [
        ("vendor token", lambda s: s.startswith("hf_") and len(s) == 37 and s[3:].isalpha()),
        ("path with spaces", lambda s: s == "C:\\Users\\bob\\My Documents\\Q3 Payroll\\x.xlsx"),
        ("key=value secret", lambda s: s.startswith("host=db user=admin password=")),
        ("key=value secret", lambda s: s.startswith("Server=db;User Id=sa;Password=")),
        ("percent-encoded path", lambda s: s.startswith("%2Fhome%2F")),
        ("non-ascii e-mail", lambda s: s == "jöran.åberg@exämple.se"),
        ("file name", lambda s: s == "terraform.tfstate"),
        ("unicode", lambda s: not s.isascii()),
    ],
)
def test_careless_text_holds_the_issue_examples(kind: str, example: Callable[[str], bool]) -> None:
    assert example(find(careless_text(kind), example, settings=FIND))


@settings(max_examples=200)
@given(data=st.data(), index=st.integers(0, 9999))
def test_every_canary_shape_holds_the_canary_unchanged(data: st.DataObject, index: int) -> None:
    canary = canary_for(index)
    kind = data.draw(st.sampled_from(CARELESS_KINDS))
    shaped = data.draw(canary_shapes(canary, kind))
    assert canary in shaped
    if kind != "unicode":
        assert shaped != canary
    assert Planted(shaped, {"f": canary}).leaks(json.dumps(shaped)) == ["f"]


@pytest.mark.parametrize("kind", sorted(SHAPE_EXAMPLES))
def test_careless_text_of_any_kind_draws_every_kind(kind: str) -> None:
    assert SHAPE_EXAMPLES[kind](find(careless_text(), SHAPE_EXAMPLES[kind], settings=FIND))
