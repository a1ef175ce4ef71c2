"""How the core reads a model: its fields, in order, and its privacy declarations.

Supported without importing any of their libraries: dataclasses (frozen and slotted too),
pydantic v2 models (by field name, whatever the alias), attrs classes, and any other object with
a ``_telemetry_keys()`` method: a ``typing.NamedTuple`` (its ``_fields``), another tuple or list
subclass (its items, named ``"0"``, ``"1"``, ...) or a plain object (its public instance
attributes). Plain mappings are read with declarations given by the caller.

A model may also define CodeWeaver's ``_telemetry_handler(serialized_self, /)`` hook: it
receives the model's fields as a dict (without its FORBIDDEN ones) and returns a mapping whose
entries replace or add fields; an entry whose value is a function is applied to that field's
value. ``_telemetry_handler`` may also be a mapping of field names to such functions. What it
gives still goes through the model's declarations, the conversions and the leak guard.
"""

from __future__ import annotations

import dataclasses
import enum
import itertools
from collections.abc import Iterable, Iterator, Mapping
from typing import Final, TypeVar

from .leak_guard import find_leak
from .vocabulary import LABEL_PATTERN, AnonymityConversion

MISSING: Final = object()
"""Stands for a field whose value could not be read; the serializer drops it."""

MAX_MODEL_ITEMS: Final = 4096
"""Most fields, declarations or ``_telemetry_handler`` entries of one model that are read (a
model has a few dozen): more, an endless mapping's or attribute dict's, is refused, not read
for ever."""

_T = TypeVar("_T")

Declarations = Mapping[str, AnonymityConversion]


class ModelRejected(ValueError):
    """The model cannot be read safely; nothing of it may be sent."""


def is_model(value: object) -> bool:
    """Whether the serializer should walk ``value`` field by field under its declarations."""
    return is_model_type(type(value)) or (
        hasattr(value, "_telemetry_keys") and not isinstance(value, type | Mapping)
    )


def is_model_type(cls: type) -> bool:
    """Whether instances of ``cls`` are dataclasses, pydantic models or attrs classes."""
    return (
        hasattr(cls, "__dataclass_fields__")
        or isinstance(getattr(cls, "__pydantic_fields__", None), dict)
        or hasattr(cls, "__attrs_attrs__")
    )


def is_model_class(cls: type) -> bool:
    """Whether :func:`is_model` says True of the instances of ``cls``.

    >>> from typing import NamedTuple
    >>> class Point(NamedTuple):
    ...     x: int
    ...     def _telemetry_keys(self):
    ...         return None
    >>> is_model_class(Point), is_model_class(tuple), is_model_class(int)
    (True, False, False)
    """
    return is_model_type(cls) or (
        hasattr(cls, "_telemetry_keys") and not issubclass(cls, type | Mapping)
    )


def is_named_tuple_type(cls: type) -> bool:
    """Whether ``cls`` is a ``typing.NamedTuple`` or ``collections.namedtuple`` class."""
    return issubclass(cls, tuple) and isinstance(getattr(cls, "_fields", None), tuple)


def model_fields(value: object) -> Iterator[tuple[str, object]]:
    """The model's fields as ``(name, value)`` pairs, in declaration order.

    A field that cannot be read yields :data:`MISSING` rather than stopping the iteration.
    When the model has a ``_telemetry_handler``, the pairs are what it makes of the fields.
    Raises :class:`ModelRejected` when the fields cannot be read, or the handler fails.
    """
    handler = getattr(value, "_telemetry_handler", None)
    if handler is None:
        return _own_fields(value)
    return iter(_handled_fields(value, handler, dict(_read(_own_fields(value), "the model"))))


def _own_fields(value: object) -> Iterator[tuple[str, object]]:
    cls = type(value)
    if hasattr(cls, "__dataclass_fields__"):
        names: Iterator[str] = (field.name for field in dataclasses.fields(value))  # type: ignore[arg-type]
    elif isinstance(pydantic_fields := getattr(cls, "__pydantic_fields__", None), dict):
        names = iter(pydantic_fields)
    elif attrs_fields := getattr(cls, "__attrs_attrs__", None):
        names = (attribute.name for attribute in attrs_fields)
    elif is_named_tuple_type(cls):
        names = iter(cls._fields)  # type: ignore[attr-defined]
    elif isinstance(value, tuple | list):
        yield from ((str(index), item) for index, item in enumerate(value))
        return
    else:
        names = (name for name in _public_attributes(value))
    for name in names:
        yield name, getattr(value, name, MISSING)
    extra = getattr(value, "__pydantic_extra__", None)
    if isinstance(extra, dict):
        yield from extra.items()


def _handled_fields(
    value: object, handler: object, fields: dict[str, object]
) -> list[tuple[str, object]]:
    """The fields as CodeWeaver's ``_telemetry_handler`` hook makes them, or ModelRejected."""
    if isinstance(handler, Mapping):
        returned: object = handler
    elif callable(handler):
        forbidden = {
            name
            for name, conversion in declared_keys(value).items()
            if conversion is AnonymityConversion.FORBIDDEN
        }
        visible = {
            name: item
            for name, item in fields.items()
            if item is not MISSING and name not in forbidden
        }
        try:
            returned = handler(visible)
        except Exception as error:  # noqa: BLE001 - the model cannot be trusted
            raise ModelRejected(f"_telemetry_handler() raised {type(error).__name__}") from None
    else:
        raise ModelRejected(f"_telemetry_handler is a {type(handler).__name__}")
    if not isinstance(returned, Mapping):
        raise ModelRejected(
            f"_telemetry_handler() returned a {type(returned).__name__}, not a mapping"
        )
    try:
        entries = _read(returned.items(), "_telemetry_handler()'s mapping")
    except ModelRejected:
        raise
    except Exception as error:  # noqa: BLE001 - a mapping that cannot be read is rejected
        raise ModelRejected(
            f"_telemetry_handler()'s mapping raised {type(error).__name__}"
        ) from None
    handled = dict(fields)
    for key, entry in entries:
        if not isinstance(key, str):
            raise ModelRejected(f"_telemetry_handler() gave a {type(key).__name__} key")
        handled[key] = _handled_value(type(value), fields, key, entry)
    return list(handled.items())


def _handled_value(cls: type, fields: Mapping[str, object], key: str, entry: object) -> object:
    """``entry``, or what it makes of the field ``key`` when it is a function (or a class:
    ``{"tags": bool}`` sends whether there are any, as no class itself could be sent)."""
    if not callable(entry):
        return entry
    if key not in fields:
        raise ModelRejected(
            f"_telemetry_handler() maps {_shown(key)} to a function; "
            f"it is not a field of {cls.__name__}"
        )
    if fields[key] is MISSING:
        return MISSING  # unreadable: the serializer drops it and counts it
    try:
        return entry(fields[key])
    except Exception as error:  # noqa: BLE001 - the model cannot be trusted
        raise ModelRejected(
            f"_telemetry_handler()'s function for {_shown(key)} raised {type(error).__name__}"
        ) from None


def declared_keys(value: object, *, explicit: Mapping[str, object] | None = None) -> Declarations:
    """The model's declarations (``_telemetry_keys()``), or ``explicit`` for a plain mapping.

    Raises :class:`ModelRejected` when they cannot be trusted: the method raises, returns
    something other than a mapping of names to conversions, or names a field the model does
    not have (a typo there would send the real field raw).
    """
    if explicit is not None:
        return _validated(explicit)
    method = getattr(value, "_telemetry_keys", None)
    if method is None:
        return {}
    try:
        declared = method()
    except Exception as error:  # noqa: BLE001 - any failure here means the model cannot be trusted
        raise ModelRejected(f"_telemetry_keys() raised {type(error).__name__}") from None
    if declared is None:
        return {}
    declarations = _validated(declared)
    return _by_field_name(value, declarations)


def _validated(declared: object) -> dict[str, AnonymityConversion]:
    if not isinstance(declared, Mapping):
        raise ModelRejected(
            f"_telemetry_keys() returned a {type(declared).__name__}, not a mapping"
        )
    validated: dict[str, AnonymityConversion] = {}
    for key, conversion in _read(declared.items(), "_telemetry_keys()'s mapping"):
        if not isinstance(key, str):
            raise ModelRejected(f"a declared key is a {type(key).__name__}, not a str")
        validated[key] = _as_conversion(key, conversion)
    return validated


def _as_conversion(key: str, conversion: object) -> AnonymityConversion:
    if isinstance(conversion, AnonymityConversion):
        return conversion
    # A member of another AnonymityConversion enum (CodeWeaver's own) is accepted by its name.
    if isinstance(conversion, enum.Enum) and conversion.name in AnonymityConversion.__members__:
        return AnonymityConversion[conversion.name]
    raise ModelRejected(f"{_shown(key)} is declared with a {type(conversion).__name__}")


def _by_field_name(value: object, declarations: Declarations) -> Declarations:
    """Map pydantic aliases to field names, and refuse declarations of unknown fields."""
    cls = type(value)
    if isinstance(value, tuple | list) and not is_named_tuple_type(cls):
        for key in declarations:  # items are named by their index; any index may be absent
            if not (key.isascii() and key.isdigit() and str(int(key)) == key):
                raise ModelRejected(
                    f"declares {_shown(key)}, which is not an index of {cls.__name__}"
                )
        return declarations
    known = _field_names(value)
    if known is None:
        return declarations
    aliases = _pydantic_aliases(cls)
    by_name: dict[str, AnonymityConversion] = {}
    extra = getattr(value, "__pydantic_extra__", None)
    for key, conversion in declarations.items():
        name = aliases.get(key, key)
        if name not in known and not (isinstance(extra, dict) and name in extra):
            raise ModelRejected(f"declares {_shown(key)}, which is not a field of {cls.__name__}")
        by_name[name] = conversion
    return by_name


def _field_names(value: object) -> frozenset[str] | None:
    cls = type(value)
    if hasattr(cls, "__dataclass_fields__"):
        return frozenset(field.name for field in dataclasses.fields(value))  # type: ignore[arg-type]
    if isinstance(pydantic_fields := getattr(cls, "__pydantic_fields__", None), dict):
        return frozenset(pydantic_fields)
    if attrs_fields := getattr(cls, "__attrs_attrs__", None):
        return frozenset(attribute.name for attribute in attrs_fields)
    if is_named_tuple_type(cls):
        return frozenset(cls._fields)  # type: ignore[attr-defined]
    return None  # plain objects: their attributes may legitimately come and go


def _pydantic_aliases(cls: type) -> dict[str, str]:
    fields = getattr(cls, "__pydantic_fields__", None)
    if not isinstance(fields, dict):
        return {}
    aliases: dict[str, str] = {}
    for name, info in fields.items():
        for attribute in ("alias", "serialization_alias", "validation_alias"):
            alias = getattr(info, attribute, None)
            if isinstance(alias, str) and alias != name:
                aliases[alias] = name
    return aliases


def _public_attributes(value: object) -> list[str]:
    try:
        attributes = vars(value)
    except TypeError:
        raise ModelRejected(f"a {type(value).__name__} has no readable fields") from None
    names = _read(attributes, f"a {type(value).__name__}'s attributes")
    return [name for name in names if not name.startswith("_")]


def _read(items: Iterable[_T], what: str) -> list[_T]:
    """At most :data:`MAX_MODEL_ITEMS` of ``items``, read once; ModelRejected beyond."""
    read = list(itertools.islice(items, MAX_MODEL_ITEMS + 1))
    if len(read) > MAX_MODEL_ITEMS:
        raise ModelRejected(f"{what} has more than {MAX_MODEL_ITEMS} items")
    return read


def _shown(key: str) -> str:
    """A host's key as a reason may name it (reasons reach logs): quoted when it is a Python
    identifier of the label alphabet that the leak guard passes, as a field's name is (a
    misspelt declaration is named), else only as a key that is not (its text may be data: a
    path, a host, a repository's hyphenated name, which this machine's literals, not known
    here, would catch)."""
    if key.isidentifier() and LABEL_PATTERN.fullmatch(key) and find_leak(key, ()) is None:
        return repr(key)
    return "a key that is not a field's name"
