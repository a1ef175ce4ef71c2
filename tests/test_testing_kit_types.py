"""The integrator's kit plants canaries in free text however the field's type spells it.

Regression for the red team's kit false negative: before the fix, ``assert_never_leaks`` planted
a canary only in fields hinted exactly ``str`` or ``bytes`` (and in a tuple's first slot), so it
passed models whose NewType, str-subclass or later-tuple-slot fields sent the user's text.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Sequence
from typing import Annotated, NewType

import pydantic
import pytest
from hypothesis import given, settings

from codeweaver_telemetry.core import AnonymityConversion, FilteredKey, TelemetryKeys
from codeweaver_telemetry.core.testing import Planted, assert_never_leaks, canary_instances

C = AnonymityConversion

RepoName = NewType("RepoName", str)
OwnerName = NewType("OwnerName", RepoName)


class Slug(str):
    """A host's own string type."""


class Tagged(str):
    """A string type that cannot be built from the text alone."""

    def __new__(cls, value: str, tag: str) -> Tagged:
        return super().__new__(cls, f"{tag}:{value}")


class Blob(bytes):
    """A host's own bytes type."""


class Colour(enum.StrEnum):
    RED = "red"


@dataclasses.dataclass
class Note:
    text: str


WrappedNote = NewType("WrappedNote", Note)


def model_of(name: str, hint: object, *, declared: AnonymityConversion | None = None) -> type:
    """A dataclass with a number and a ``field`` of type ``hint``, declared or not."""
    namespace: dict[str, object] = {}
    if declared is not None:
        keys: TelemetryKeys = {FilteredKey("field"): declared}
        namespace["_telemetry_keys"] = lambda self: keys
    return dataclasses.make_dataclass(name, [("hits", int), ("field", hint)], namespace=namespace)


FREE_TEXT_HINTS = {
    "NewTypeOfStr": (RepoName, "field"),
    "StrSubclass": (Slug, "field"),
    "StrSubclassNotBuiltFromText": (Tagged, "field"),
    "SecondSlotOfTuple": (tuple[int, str], "field"),
    "OptionalNewType": (RepoName | None, "field"),
    "NewTypeOfNewType": (OwnerName, "field"),
    "SequenceOfNewType": (Sequence[RepoName], "field"),
    "MappingToNewType": (dict[int, RepoName], "field"),
    "NewTypeOfModel": (WrappedNote, "field.text"),
    # Worked before the fix; kept so the tuple change cannot lose it.
    "TupleOfStr": (tuple[str, ...], "field"),
}


@pytest.mark.parametrize(("name", "hint", "path"), [(n, *v) for n, v in FREE_TEXT_HINTS.items()])
def test_an_undeclared_free_text_field_of_any_spelling_is_caught(
    name: str, hint: object, path: str
) -> None:
    with pytest.raises(AssertionError, match=rf"{name}: the canary of '{re.escape(path)}' reached"):
        assert_never_leaks(model_of(name, hint), max_examples=30)


@pytest.mark.parametrize(("name", "hint"), [(n, hint) for n, (hint, _) in FREE_TEXT_HINTS.items()])
def test_the_same_field_declared_passes(name: str, hint: object) -> None:
    assert_never_leaks(model_of(name, hint, declared=C.HASH), max_examples=30)


class AnnotatedLeaky(pydantic.BaseModel):
    # pydantic keeps an Annotated nested in a generic (a dataclass's hints lose it).
    labels: list[Annotated[str, pydantic.Field(min_length=1)]]


class AnnotatedSafe(AnnotatedLeaky):
    def _telemetry_keys(self) -> TelemetryKeys:
        return {FilteredKey("labels"): C.FORBIDDEN}


def test_an_annotated_text_field_is_caught_and_passes_declared() -> None:
    with pytest.raises(AssertionError, match=r"AnnotatedLeaky: the canary of 'labels' reached"):
        assert_never_leaks(AnnotatedLeaky, max_examples=30)
    assert_never_leaks(AnnotatedSafe, max_examples=30)


@dataclasses.dataclass
class HostTypes:
    slug: Slug
    tagged: Tagged
    blob: Blob
    colour: Colour


@settings(max_examples=20)
@given(canary_instances(HostTypes))
def test_the_canary_is_a_value_of_the_hosts_own_type_when_it_can_be(planted: Planted) -> None:
    instance = planted.value
    assert isinstance(instance, HostTypes)
    assert set(planted.canaries) == {"slug", "tagged", "blob"}  # a str Enum's are its own words
    assert type(instance.slug) is Slug
    assert instance.slug == planted.canaries["slug"]
    assert type(instance.tagged) is str  # Tagged needs a tag: the plain canary, still checked
    assert instance.tagged == planted.canaries["tagged"]
    assert type(instance.blob) is Blob
    assert instance.blob == planted.canaries["blob"].encode()
    assert isinstance(instance.colour, Colour)
