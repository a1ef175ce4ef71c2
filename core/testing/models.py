"""The library's own model strategies: canaries planted in random models, and hostile values.

- :func:`planted_models`: random nested dataclass models with a canary in every field that
  could leak, for the no-leak proofs; :func:`secret_carriers` and :func:`categorical_carriers`
  hold a canary in the shapes a field may have.
- :func:`hostile_values` and :class:`Hostile`: anything a careless or hostile host could hand
  over, for the totality proofs.

Imports Hypothesis, an optional extra (``codeweaver-telemetry[testing]``).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterator, Mapping
from typing import Final

from hypothesis import strategies as st

from ..vocabulary import AnonymityConversion
from . import CANARY_PREFIX, Planted, canary_for

__all__ = [
    "HOSTILE_METHODS",
    "Hostile",
    "categorical_carriers",
    "hostile_values",
    "huge_text",
    "planted_models",
    "secret_carriers",
]


# --- Canaries in random models ----------------------------------------------------------------


_SLOT: Final = "<canary>"
"""Where a carrier's shape holds its canary: the shapes are strategies made once, and each
draw fills the slots (a strategy made for every canary cost most of a no-leak property's time:
Hypothesis validates a recursive strategy anew each time one is made)."""


def _filled(shape: object, canary: str) -> object:
    """A drawn shape with ``canary`` in each of its slots."""
    if isinstance(shape, str):
        return shape.replace(_SLOT, canary)
    if isinstance(shape, bytes):
        return shape.replace(_SLOT.encode(), canary.encode())
    if isinstance(shape, list):
        return [_filled(item, canary) for item in shape]
    if isinstance(shape, tuple):
        return tuple(_filled(item, canary) for item in shape)
    if isinstance(shape, frozenset):
        return frozenset(_filled(item, canary) for item in shape)
    if isinstance(shape, dict):
        return {_filled(key, canary): _filled(value, canary) for key, value in shape.items()}
    return shape


# The bare canary comes first, so that Hypothesis draws it often and shrinks towards it.
_SECRET_SHAPES: Final = st.just(_SLOT) | st.recursive(
    st.sampled_from(
        [_SLOT, _SLOT.encode(), f"see {_SLOT} here", f"/home/{_SLOT}/x.py", f"{_SLOT}-2"]
    ),
    lambda children: (
        st.lists(children, min_size=1, max_size=3)
        | st.tuples(st.sampled_from(["a", "b"]), children)
        | st.dictionaries(st.sampled_from([_SLOT, "k"]), children, min_size=1, max_size=2)
        | st.frozensets(st.sampled_from([_SLOT, f"{_SLOT} x"]), min_size=1)
    ),
    max_leaves=4,
)

_CATEGORY_LABELS: Final = st.sampled_from(
    [_SLOT, f"/srv/{_SLOT}/a.py", f"{_SLOT} and more", f"{_SLOT}.py"]
)
_OTHER_CATEGORIES: Final = st.sampled_from(["python", "rust", "docs"])
_CATEGORY_SHAPES: Final = (
    _CATEGORY_LABELS
    | st.lists(_CATEGORY_LABELS | _OTHER_CATEGORIES, min_size=1, max_size=4)
    | st.tuples(_OTHER_CATEGORIES, _CATEGORY_LABELS)
    | st.dictionaries(_CATEGORY_LABELS, st.integers(0, 100), min_size=1, max_size=3)
)


@st.composite
def secret_carriers(draw: st.DrawFn, canary: str) -> object:
    """A value that holds ``canary`` as a whole word somewhere: text, bytes, list, dict, set.

    Draws values such as ``'CANARY0001QZ'``, ``b'CANARY0001QZ'``, ``['x', 'see CANARY0001QZ']``,
    ``{'CANARY0001QZ': 1}``, ``('a', {'k': ['/home/CANARY0001QZ/x.py']})``.
    """
    return _filled(draw(_SECRET_SHAPES), canary)


@st.composite
def categorical_carriers(draw: st.DrawFn, canary: str) -> object:
    """A DISTRIBUTION input with ``canary`` where a label would be: bare, in a path or a phrase.

    Draws values such as ``'CANARY0002QZ'``, ``['python', '/srv/CANARY0002QZ/a.py']``,
    ``{'CANARY0002QZ': 3}``, ``('rust', 'CANARY0002QZ and more')``.
    """
    return _filled(draw(_CATEGORY_SHAPES), canary)


_PLANTED_CONVERSIONS: Final = tuple(AnonymityConversion)
_PLAIN_VALUES: Final = st.integers() | st.booleans() | st.none() | st.floats()


@st.composite
def planted_models(draw: st.DrawFn, *, strict: bool = False, max_depth: int = 3) -> Planted:
    """A random dataclass instance, nested up to ``max_depth``, with a canary in every field
    that could leak: each declared field (any conversion) and each undeclared text field.

    Undeclared text is planted as a whole word that the policy lists as a sensitive literal, or,
    with ``strict``, as any text at all (strict mode must drop it). Fields hold nested models
    directly, in lists or tuples, or as mapping values. Draws instances such as
    ``Model_1(f0='see CANARY0000QZ here', f1=Model_2(f0=b'CANARY0001QZ'), f2=3)`` with
    ``Model_1._telemetry_keys() == {'f1': ...}``.
    """
    counter = iter(range(10_000))
    return _planted_model(draw, counter, strict, max_depth)


def _planted_model(draw: st.DrawFn, counter: Iterator[int], strict: bool, depth: int) -> Planted:
    values: dict[str, object] = {}
    declarations: dict[str, AnonymityConversion] = {}
    canaries: dict[str, str] = {}
    literals: set[str] = set()
    kinds = ["declared", "text", "plain"] + (["nested"] if depth > 0 else [])
    for index in range(draw(st.integers(1, 8))):
        name = f"f{index}"
        kind = draw(st.sampled_from(kinds))
        if kind == "nested":
            child = _planted_model(draw, counter, strict, depth - 1)
            values[name] = draw(
                st.sampled_from([child.value, [child.value], (1, child.value), {"k": child.value}])
            )
            canaries.update({f"{name}.{path}": canary for path, canary in child.canaries.items()})
            literals |= child.literals
        elif kind == "plain":
            values[name] = draw(_PLAIN_VALUES)
        else:
            canary = canary_for(next(counter))
            canaries[name] = canary
            if kind == "declared":
                conversion = draw(st.sampled_from(_PLANTED_CONVERSIONS))
                declarations[name] = conversion
                if conversion is AnonymityConversion.DISTRIBUTION:
                    values[name] = draw(categorical_carriers(canary))
                    literals.add(canary)
                else:
                    values[name] = draw(secret_carriers(canary))
            else:
                values[name] = draw(secret_carriers(canary))
                if not strict:
                    literals.add(canary)
    model_type = _model_type(tuple(values), declarations, next(counter))
    return Planted(model_type(**values), canaries, frozenset(literals))


def _model_type(
    names: tuple[str, ...], declarations: Mapping[str, AnonymityConversion], serial: int
) -> type:
    def telemetry_keys(self: object) -> Mapping[str, AnonymityConversion]:
        return declarations

    return dataclasses.make_dataclass(
        f"Model_{serial}",
        [(name, object) for name in names],
        namespace={"_telemetry_keys": telemetry_keys},
    )


# --- Hostile inputs: for the totality proofs -------------------------------------------------

HOSTILE_METHODS: Final = ("__str__", "__repr__", "__len__", "__iter__", "__eq__", "__bool__")


class Hostile:
    """An object whose chosen protocol methods raise, with a secret in the message."""

    def __init__(self, raising: frozenset[str]) -> None:
        self.raising = raising

    def _maybe_raise(self, method: str) -> None:
        if method in self.raising:
            raise RuntimeError(f"{CANARY_PREFIX}-hostile-{method}")

    def __str__(self) -> str:
        self._maybe_raise("__str__")
        return "hostile"

    def __repr__(self) -> str:
        self._maybe_raise("__repr__")
        return "Hostile()"

    def __len__(self) -> int:
        self._maybe_raise("__len__")
        return 1

    def __iter__(self) -> Iterator[object]:
        self._maybe_raise("__iter__")
        return iter((1,))

    def __eq__(self, other: object) -> bool:
        self._maybe_raise("__eq__")
        return self is other

    __hash__ = object.__hash__

    def __bool__(self) -> bool:
        self._maybe_raise("__bool__")
        return True


@functools.cache
def huge_text() -> str:
    """A 10 MB string, made once, on first use."""
    return "x" * 10_000_000


_hostile_leaves = (
    st.floats()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.text(max_size=20)
    | st.binary(max_size=8)
    | st.none()
    | st.booleans()
    | st.builds(Hostile, st.frozensets(st.sampled_from(HOSTILE_METHODS)))
    | st.builds(object)
    | st.sampled_from(AnonymityConversion)
    | st.datetimes()
)
_hostile_keys = (
    st.text(max_size=8) | st.integers() | st.floats() | st.tuples(st.integers(), st.integers())
)


def _hostile_trees(leaves: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    return st.recursive(
        leaves,
        lambda children: (
            st.lists(children, max_size=4)
            | st.tuples(children, children)
            | st.dictionaries(_hostile_keys, children, max_size=4)
            | st.frozensets(st.integers() | st.text(max_size=4), max_size=4)
        ),
        max_leaves=12,
    )


# Made once: a strategy made in every draw costs its construction each time, and one holding
# the 10 MB text as ``just(...)`` has that text in its repr, which Hypothesis writes into its
# statistics whenever a draw is retried (most of a property's time went there).
_HOSTILE_TREES: Final = _hostile_trees(_hostile_leaves)
_HOSTILE_TREES_WITH_HUGE_TEXT: Final = _hostile_trees(_hostile_leaves | st.builds(huge_text))


@st.composite
def hostile_values(draw: st.DrawFn) -> object:
    """Anything a careless or hostile host could hand over: NaN and infinities, huge and tiny
    integers, 10 MB strings, bytes, tuple and float keys, custom objects, objects whose
    ``__str__``, ``__len__``, ``__iter__``, ``__eq__`` or ``__bool__`` raise, self-containing
    lists and dicts, and nesting thousands of levels deep.

    Draws values such as ``[nan, b'\\x00', Hostile({'__len__'})]``, ``{(1, 2): inf}``, or a list
    that contains itself.
    """
    # One value in ten may hold a 10 MB string.
    trees = _HOSTILE_TREES_WITH_HUGE_TEXT if draw(st.integers(0, 9)) == 0 else _HOSTILE_TREES
    value = draw(trees)
    shape = draw(st.sampled_from(["as is", "cycle", "deep"]))
    if shape == "cycle":
        loop: list[object] = [value]
        loop.append({"again": loop})
        return loop
    if shape == "deep":
        for _ in range(draw(st.integers(20, 3_000))):
            value = [value]
    return value
