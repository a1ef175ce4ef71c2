"""The seed's ``BasedModel``: a pydantic model that serializes itself for telemetry.

This is the one module of the core that imports pydantic, which the core does not depend on:
it loads only when ``BasedModel`` is asked for, and raises ImportError without pydantic.

>>> from codeweaver_telemetry.core import AnonymityConversion, FilteredKey
>>> class Search(BasedModel):
...     query: str
...     hits: int = 0
...     def _telemetry_keys(self):
...         return {FilteredKey("query"): AnonymityConversion.TEXT_COUNT}
>>> Search(query="where is auth", hits=3).serialize_for_telemetry().unwrap()["query"]
13
"""

from __future__ import annotations

from pydantic import BaseModel

from .mixin import TelemetrySerializable


class BasedModel(TelemetrySerializable, BaseModel):
    """A pydantic ``BaseModel`` with :meth:`serialize_for_telemetry`, as CodeWeaver's models have.

    Override ``_telemetry_keys()`` to declare the sensitive fields, and optionally
    ``_telemetry_handler(serialized_self, /)`` to give the model's own telemetry mapping.
    """
