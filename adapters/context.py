"""Context tags: properties attached to every event captured inside a ``with`` block.

Tags live in a :class:`contextvars.ContextVar`, so they follow the code that set them: nested
blocks add to (and may override) the outer tags, asyncio tasks inherit the tags of the code
that created them, and a new thread starts without any, unless the host runs it in a copy of
the context (``contextvars.copy_context().run(...)``).
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Final

_NO_TAGS: Final[Mapping[str, object]] = MappingProxyType({})
_TAGS: Final[contextvars.ContextVar[Mapping[str, object]]] = contextvars.ContextVar(
    "codeweaver_telemetry_tags", default=_NO_TAGS
)


def current_tags() -> Mapping[str, object]:
    """The tags in effect here (raw: the client filters them like any other property)."""
    return _TAGS.get()


@contextlib.contextmanager
def tags_applied(tags: Mapping[str, object]) -> Iterator[None]:
    """Add ``tags`` for the duration of the block; the outer tags come back after it."""
    token = _TAGS.set(MappingProxyType({**_TAGS.get(), **tags}))
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):  # left in another context: nothing to restore
            _TAGS.reset(token)
