"""The words the privacy core is written in: JSON values, field names, conversions, errors.

Every other module of ``codeweaver_telemetry.core`` speaks in these types, and so does an
integrator who declares which fields of a model are sensitive.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, NewType, TypeAlias

from .hashing import DIGEST_PREFIX

JSONScalar: TypeAlias = str | int | float | bool | None
"""A JSON leaf. Floats are always finite in anything the core returns."""

JSONValue: TypeAlias = JSONScalar | list["JSONValue"] | dict[str, "JSONValue"]
"""Anything ``json.dumps(value, allow_nan=False)`` accepts: the only shape the core emits."""

JSONObject: TypeAlias = dict[str, JSONValue]
"""An event's properties, or any other serialized model."""

LABEL_PATTERN: Final = re.compile(
    f"(?!{re.escape(DIGEST_PREFIX)})"
    r"[A-Za-z0-9](?:[A-Za-z0-9_.+#-]|(?<=[0-9]):|:(?=[0-9])){0,63}"
)
"""The alphabet of a label (with ``fullmatch``): the only free-form string the wire carries.

A colon stands next to a digit (``08:37:52``, ``llama3:8b``, ``host:5432``), never between two
letters: ``password:hunter2`` is a ``key:value`` secret, not a label. No label begins with the
digests' prefix (``h:0123`` is not one): the check tells a digest by its form alone."""

FilteredKey = NewType("FilteredKey", str)
"""The name of a model field (or of a mapping key) that carries a privacy declaration."""


class AnonymityConversion(enum.Enum):
    """How a declared field is reduced before it may leave the process.

    >>> AnonymityConversion.COUNT.name
    'COUNT'
    """

    FORBIDDEN = "forbidden"
    """The field is left out of the output entirely (the key is absent, not null)."""

    BOOLEAN = "boolean"
    """Only the value's truthiness is sent."""

    COUNT = "count"
    """Only the number of items is sent (1 for a single value, 0 for None)."""

    HASH = "hash"
    """A keyed BLAKE2b digest of the value is sent: linkable within one key, never reversible."""

    DISTRIBUTION = "distribution"
    """``{category: count}`` for categorical values; free-text categories are hashed."""

    AGGREGATE = "aggregate"
    """The sum of the numbers in a collection, or of a mapping's values."""

    TEXT_COUNT = "text_count"
    """Only the number of characters of the text is sent."""


TelemetryKeys: TypeAlias = Mapping[FilteredKey, AnonymityConversion]
"""What a model's ``_telemetry_keys()`` returns: its sensitive fields and how to reduce them."""


@dataclass(frozen=True, slots=True)
class PrivacyError:
    """Why the core refused to produce a payload.

    It names the field, the conversion and the reason, and never the value: an error message
    must not leak what the filter protects.

    >>> str(PrivacyError("matches[0].file_path", AnonymityConversion.HASH, "unsupported type"))
    'matches[0].file_path (HASH): unsupported type'
    """

    field: str
    conversion: AnonymityConversion | None
    reason: str

    def __str__(self) -> str:
        conversion = f" ({self.conversion.name})" if self.conversion is not None else ""
        return f"{self.field or '<root>'}{conversion}: {self.reason}"
