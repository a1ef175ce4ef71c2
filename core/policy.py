"""The immutable inputs of every privacy decision the core makes.

A :class:`PrivacyPolicy` is a plain value: the adapters build one from configuration (the
installation's hash key, the opt-in, the sensitive literals of this machine) and pass it to the
pure functions. Nothing in the core reads the environment.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from .vocabulary import LABEL_PATTERN

MIN_KEY_BYTES = 16
"""Shorter hash keys are refused: a short key can be brute-forced, making HASH reversible."""

MAX_KEY_BYTES = 64
"""BLAKE2b's largest key."""

MIN_LITERAL_LENGTH = 3
"""Sensitive literals shorter than this are ignored: they would redact ordinary words."""


@dataclass(frozen=True)
class PrivacyPolicy:
    """What to hash with, what to allow, and how much of anything may be sent.

    >>> policy = PrivacyPolicy(hash_key=b"k" * 32, sensitive_literals=frozenset({"Alice", "x"}))
    >>> policy.literal_tokens
    ('alice',)
    """

    hash_key: bytes
    """The secret that keys every HASH; never sent, never logged."""

    tools_over_privacy: bool = False
    """The user's opt-in to richer, still anonymized, search telemetry."""

    strict: bool = False
    """Drop every undeclared field that is not a bool, number, Enum member, None or model."""

    max_depth: int = 16
    """Deepest nesting of models and containers that is walked; deeper values are dropped."""

    max_string_length: int = 1024
    """Longest string sent as it is; a longer one is dropped, never cut."""

    max_list_length: int = 1000
    """Most items of a list or mapping sent as they are; a longer one is dropped, never cut."""

    max_scan_items: int = 100_000
    """Most items a conversion (HASH, DISTRIBUTION, AGGREGATE) reads before it gives up."""

    max_event_values: int = 4096
    """Most values an event holds in all: its properties, and every item, entry and field
    beneath them. Where a container would go over, it is dropped (an event of more properties
    is refused), so that no shape of input (one list shared a thousand times, a wide grid)
    makes a capture read more: each value costs the walks at most one label's check."""

    max_dynamic_labels: int = 16
    """Most labels of a label map (a distribution, the latency per tool) kept as they are,
    beyond the property's vocabulary; the rest are summed under ``"__other__"``."""

    max_payload_bytes: int = 65_536
    """Largest serialized payload (compact JSON, UTF-8) that is returned at all."""

    max_query_chars: int = 200
    """With the opt-in, the query's plain words are cut, at a word, to this many characters."""

    sensitive_literals: frozenset[str] = frozenset()
    """This machine's user name, host name, directories and repository names: never sent."""

    literal_tokens: tuple[str, ...] = field(init=False, repr=False, compare=False)
    """The sensitive literals that are matched: lower-cased, long enough, longest first."""

    vocabularies: Mapping[str, frozenset[str]] = field(default_factory=dict, hash=False)
    """Declared words per property (``{"languages": {"python", ...}}``): a label among them is
    always kept, even when it equals one of the machine's literals."""

    def __post_init__(self) -> None:
        if not MIN_KEY_BYTES <= len(self.hash_key) <= MAX_KEY_BYTES:
            raise ValueError(f"hash_key must be {MIN_KEY_BYTES} to {MAX_KEY_BYTES} bytes")
        bounds = (
            self.max_depth,
            self.max_string_length,
            self.max_list_length,
            self.max_scan_items,
            self.max_event_values,
            self.max_dynamic_labels,
            self.max_payload_bytes,
            self.max_query_chars,
        )
        if min(bounds) < 1:
            raise ValueError("every bound of a PrivacyPolicy must be at least 1")
        tokens = {
            literal.strip().lower()
            for literal in self.sensitive_literals
            if len(literal.strip()) >= MIN_LITERAL_LENGTH
        }
        object.__setattr__(
            self, "literal_tokens", tuple(sorted(tokens, key=lambda t: (-len(t), t)))
        )
        vocabularies = {name: frozenset(words) for name, words in self.vocabularies.items()}
        for name, words in vocabularies.items():
            labels = (name, *words)
            if not all(type(word) is str and LABEL_PATTERN.fullmatch(word) for word in labels):
                raise ValueError("every vocabulary and its words must be labels (the wire grammar)")
        object.__setattr__(self, "vocabularies", vocabularies)

    def __repr__(self) -> str:
        # The dataclass repr would print the key and the literals; neither may reach a log.
        return (
            f"PrivacyPolicy(tools_over_privacy={self.tools_over_privacy}, strict={self.strict}, "
            f"literals={len(self.literal_tokens)})"
        )


@functools.cache
def default_policy() -> PrivacyPolicy:
    """A policy with a random key that lives as long as this process: for tests and quick use.

    >>> default_policy() is default_policy()
    True
    """
    return PrivacyPolicy(hash_key=os.urandom(32))
