"""A mixin that gives a model ``obj.serialize_for_telemetry()``, as CodeWeaver's models have.

It is also importable as ``DataclassSerializationMixin``, the seed's name for it; the seed's
pydantic base class, ``BasedModel``, lives in :mod:`codeweaver_telemetry.core.based_model`.
"""

from __future__ import annotations

from returns.result import Result

from .policy import PrivacyPolicy
from .serializer import serialize_for_telemetry
from .vocabulary import JSONObject, PrivacyError, TelemetryKeys


class TelemetrySerializable:
    """Mix into a dataclass, a pydantic model or an attrs class to serialize it for telemetry.

    Override :meth:`_telemetry_keys` to declare the sensitive fields.

    >>> from dataclasses import dataclass
    >>> from codeweaver_telemetry.core import AnonymityConversion, FilteredKey
    >>> @dataclass
    ... class Search(TelemetrySerializable):
    ...     query: str
    ...     hits: int
    ...     def _telemetry_keys(self):
    ...         return {FilteredKey("query"): AnonymityConversion.TEXT_COUNT}
    >>> Search("where is auth", 3).serialize_for_telemetry().unwrap()["query"]
    13
    """

    __slots__ = ()

    def _telemetry_keys(self) -> TelemetryKeys | None:
        """The model's sensitive fields and their conversions; None declares none."""
        return None

    def serialize_for_telemetry(
        self, policy: PrivacyPolicy | None = None
    ) -> Result[JSONObject, PrivacyError]:
        """This model's anonymized JSON form; see :func:`serialize_for_telemetry`."""
        return serialize_for_telemetry(self, policy)


DataclassSerializationMixin = TelemetrySerializable
"""The seed's name for :class:`TelemetrySerializable`: the same class, under CodeWeaver's name."""
