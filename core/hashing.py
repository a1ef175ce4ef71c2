"""Keyed hashing of values: the HASH conversion.

A value is first given a canonical, type-tagged, length-prefixed byte encoding (so that ``"1"``,
``1``, ``1.0`` and ``True`` never collide, and neither do ``["ab", "c"]`` and ``["a", "bc"]``),
then digested with BLAKE2b keyed with the installation's secret. An unkeyed hash of a path or a
repository name is reversed with a dictionary; a keyed one is not, and another key gives
unlinkable output.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from typing import Final

try:
    # hashlib.blake2b is this same C type; importing hashlib also loads OpenSSL (~2 ms).
    from _blake2 import blake2b
except ImportError:  # pragma: no cover - interpreters without the private module
    from hashlib import blake2b

DIGEST_BYTES: Final = 16
"""128-bit digests: 32 lowercase hex characters in the output."""

DIGEST_PREFIX: Final = "h:"
"""What starts every digest, so that the wire check knows one by its form alone: a bare run
of 32 hex characters is also a credential's form (a Datadog API key)."""

DIGEST_LENGTH: Final = len(DIGEST_PREFIX) + 2 * DIGEST_BYTES
"""The length of a digest's text."""


class EncodingRejected(ValueError):
    """The value has no canonical encoding (an unsupported type, too deep, or too large).

    Private to the core: the public functions turn it into a ``Failure``.
    """


def keyed_digest(data: bytes, key: bytes) -> str:
    """The keyed BLAKE2b digest of ``data``: ``h:`` and 32 lowercase hex characters.

    >>> digest = keyed_digest(b"x", b"k" * 16)
    >>> digest[:2], len(digest)
    ('h:', 34)
    """
    return DIGEST_PREFIX + blake2b(data, key=key, digest_size=DIGEST_BYTES).hexdigest()


def hash_value(value: object, key: bytes, *, max_depth: int, max_items: int) -> str:
    """The keyed digest of ``value``'s canonical encoding; raises :class:`EncodingRejected`.

    >>> hash_value("a", b"k" * 16, max_depth=4, max_items=10) == hash_value(
    ...     "a", b"k" * 16, max_depth=4, max_items=10)
    True
    """
    if type(value) is str:  # the common case, without the general encoder's bookkeeping
        return keyed_digest(_sized(b"s", value.encode("utf-8", "surrogatepass")), key)
    return keyed_digest(canonical_encoding(value, max_depth=max_depth, max_items=max_items), key)


def canonical_encoding(value: object, *, max_depth: int, max_items: int) -> bytes:
    """A type-tagged byte encoding, equal for equal values of the same JSON-like type.

    Sets and mappings are encoded in sorted order, so their iteration order never matters.
    Raises :class:`EncodingRejected` beyond ``max_depth`` nesting or ``max_items`` items in all.

    >>> canonical_encoding(["ab", "c"], max_depth=4, max_items=10)
    b'l2:s2:abs1:c'
    """
    budget = [max_items]
    return _encode(value, max_depth, budget)


def _encode(value: object, depth: int, budget: list[int]) -> bytes:
    budget[0] -= 1
    if budget[0] < 0:
        raise EncodingRejected("too many items to hash")
    if value is None:
        return b"n"
    if isinstance(value, bool):
        return b"b1" if value else b"b0"
    if isinstance(value, enum.Enum):
        return b"e" + _encode(value.value, depth, budget)
    if isinstance(value, int):
        # Hex, not decimal: decimal conversion of a huge int raises on CPython 3.11+.
        return b"i" + format(value, "x").encode("ascii") + b";"
    if isinstance(value, float):
        if math.isnan(value):
            return b"fnan;"
        return b"f" + value.hex().encode("ascii") + b";"
    if isinstance(value, str):
        return _sized(b"s", value.encode("utf-8", "surrogatepass"))
    if isinstance(value, bytes | bytearray | memoryview):
        return _sized(b"y", bytes(value))
    if depth <= 0:
        raise EncodingRejected("too deeply nested to hash")
    if isinstance(value, Mapping):
        pairs = sorted(
            _encode(k, depth - 1, budget) + _encode(v, depth - 1, budget) for k, v in value.items()
        )
        return b"d" + str(len(pairs)).encode("ascii") + b":" + b"".join(pairs)
    if isinstance(value, list | tuple):
        items = [_encode(item, depth - 1, budget) for item in value]
        return b"l" + str(len(items)).encode("ascii") + b":" + b"".join(items)
    if isinstance(value, set | frozenset):
        members = sorted(_encode(item, depth - 1, budget) for item in value)
        return b"t" + str(len(members)).encode("ascii") + b":" + b"".join(members)
    raise EncodingRejected(f"cannot hash a value of type {type(value).__name__}")


def _sized(tag: bytes, payload: bytes) -> bytes:
    return tag + str(len(payload)).encode("ascii") + b":" + payload
