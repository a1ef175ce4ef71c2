"""The wire grammar, and the one check every outgoing event passes right before a sink.

Every string the library sends, as a value or as a key, at any depth, is exactly one of:

1. a **label**: 1 to 64 characters of ASCII letters, digits and ``_ . - : + #``, starting
   with a letter or a digit (never with the digests' ``h:``), which the leak guard does not
   flag and which is not one of the machine's sensitive literals; or a word of the property's
   declared vocabulary, which is always kept (a repository named ``python`` does not cost the
   language ``python``);
2. a **digest** made by HASH: ``h:`` and 32 lowercase hex characters, recognised by its form
   alone (no registry of known digests; no common credential has that form);
3. one of the library's own keys and constants: ``$lib``, ``$lib_version``, ``$os``,
   ``$python_version``, ``$geoip_disable`` (always true), ``$process_person_profile``
   (always false), ``$session_id`` (a random uuid), ``$feature/`` followed by a label, and
   ``__other__``;
4. with the user's opt-in only, the search event's top-level ``query_text`` reduced to
   **plain words** (see :func:`plain_words`); and without the opt-in, none of the search
   event's query properties, whoever set them.

Nothing else can be written: no white space, no ``/ \\ @ = % ? &``, quotes, brackets or
non-ASCII in a label, so sentences, code, paths, URLs, e-mail addresses, ``key=value``
secrets and percent-encodings are not sendable at all, whatever a pattern knows. What fails is
dropped (the field, the list item, or the map entry whose key fails) and counted, never cut;
numbers must be finite and within 64 bits, and only exact JSON types pass (a ``str`` subclass
could lie about itself). The check is a pure function of the event and the policy, and it is
idempotent: an event it has passed comes through it again unchanged, so a built event handed
back by a host needs no seal, and a tampered one is checked like any other.

>>> from codeweaver_telemetry.core.policy import PrivacyPolicy
>>> policy = PrivacyPolicy(hash_key=bytes(32))
>>> checked_properties({"mode": "hybrid", "note": "see /home/bob/x.py", "n": 3}, policy).unwrap()[0]
{'mode': 'hybrid', 'n': 3, 'privacy_filter': {'dropped': 1, 'redacted': 0}}
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from typing import Final, NamedTuple

from returns.result import Failure, Result, Success

from .hashing import DIGEST_PREFIX
from .leak_guard import REDACTED, find_leak
from .policy import PrivacyPolicy
from .vocabulary import LABEL_PATTERN, JSONObject, JSONValue, PrivacyError

MAX_LABEL_LENGTH: Final = 64

LABEL_VERDICTS_KEPT: Final = 4096
"""Label verdicts remembered (least recently used first out)."""

_DIGEST: Final = re.compile(re.escape(DIGEST_PREFIX) + "[0-9a-f]{32}")
_UUID: Final = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

OTHER_LABEL: Final = "__other__"
"""Where a label map sums what is beyond its cap, and what a failing label stands for."""

PRIVACY_FILTER_KEY: Final = "privacy_filter"
"""The top-level key that reports what the filter did: ``{"dropped": n, "redacted": m}``."""

QUERY_TEXT_KEY: Final = "query_text"
"""The one property that may carry plain words, and only with the user's opt-in."""

OPT_IN_KEYS: Final = frozenset({"query_tokens", "query_chars", "query_hash", QUERY_TEXT_KEY})
"""The properties only the user's opt-in sends (the search event's query statistics): without
it they are dropped, whoever set them and whatever they hold."""

FEATURE_PREFIX: Final = "$feature/"
"""PostHog's prefix for the feature-flag values an event was produced under."""

FEATURE_FLAGS: Final = f"{FEATURE_PREFIX}<flag>"
"""How an event schema declares that it carries feature flags (the search event does): only
such an event may, so that a flag a host writes into another is not sent."""

SESSION_ID_KEY: Final = "$session_id"
NO_PERSON_PROFILE_KEY: Final = "$process_person_profile"
NO_GEOIP_KEY: Final = "$geoip_disable"
LIBRARY_NAME: Final = "codeweaver-telemetry"

MAX_QUERY_WORD_LENGTH: Final = 24
"""The longest word plain words keep; a longer one is not a word a person types."""

_QUERY_WORD: Final = re.compile(r"[^\W_]+(?:['\u2019-][^\W_]+)*")
"""Letters and digits (any script), with inner apostrophes or hyphens (``don't``, ``e-mail``)."""

_INT_BOUND: Final = 2**63

_MAX_KEY_LENGTH: Final = len(FEATURE_PREFIX) + MAX_LABEL_LENGTH
"""The longest key the grammar has (``$feature/`` and a label): a longer one is dropped by its
length, before it is looked up (which would hash it whole)."""

NO_VOCABULARY: Final[AbstractSet[str]] = frozenset()


class Checked(NamedTuple):
    """What the check let through, and what it did: drops, and markers in the query text."""

    properties: JSONObject
    dropped: int
    redacted: int


def is_label(
    text: str, policy: PrivacyPolicy, vocabulary: AbstractSet[str] = NO_VOCABULARY
) -> bool:
    """Whether ``text`` (a plain ``str``) may be sent as a label: a vocabulary word, or of the
    label alphabet, not flagged by the leak guard and not a sensitive literal.

    >>> from codeweaver_telemetry.core.policy import PrivacyPolicy
    >>> policy = PrivacyPolicy(hash_key=bytes(32), sensitive_literals=frozenset({"python"}))
    >>> is_label("hybrid", policy), is_label("python", policy)
    (True, False)
    >>> is_label("python", policy, vocabulary={"python"})
    True
    >>> is_label("acme-corp/payments", policy), is_label("password=hunter2", policy)
    (False, False)
    """
    if type(text) is not str:  # a subclass could lie to the pattern, the guard or the cache
        return False
    # The length first: it costs nothing, and no vocabulary word is longer (they are labels),
    # while a lookup hashes the whole text.
    if len(text) > MAX_LABEL_LENGTH:
        return False
    tokens = policy.literal_tokens
    return text in vocabulary or _label_verdict(text, tokens, label_verdicts(tokens))


def _label_verdict(text: str, literal_tokens: tuple[str, ...], verdicts: dict[str, bool]) -> bool:
    """Whether ``text`` is of the label alphabet, unflagged and no literal: a pure function
    of ``text`` and ``literal_tokens``, remembered in ``verdicts`` (theirs, from
    :func:`label_verdicts`)."""
    verdict = verdicts.get(text)
    if verdict is None:
        of_alphabet = LABEL_PATTERN.fullmatch(text) is not None
        verdict = of_alphabet and find_leak(text, literal_tokens) is None
        if len(verdicts) >= LABEL_VERDICTS_KEPT:
            verdicts.clear()  # a host that sends ever new labels starts the table afresh
        verdicts[text] = verdict
    return verdict


_VERDICTS_BY_LITERALS: Final[dict[tuple[str, ...], dict[str, bool]]] = {}
_LITERAL_SETS_KEPT: Final = 16


def label_verdicts(literal_tokens: tuple[str, ...]) -> dict[str, bool]:
    """The remembered label verdicts under one set of machine literals (the same few labels
    recur in every event, and the leak guard costs microseconds a label: see the benchmarks'
    wire-check rows). A plain dict read once per event, then one lookup a label: what
    ``functools.lru_cache`` would cost in hashing the literals with every label, it does not.
    Bounded: each table holds at most ``LABEL_VERDICTS_KEPT`` verdicts, and at most
    ``_LITERAL_SETS_KEPT`` tables are kept (a test that makes many policies)."""
    verdicts = _VERDICTS_BY_LITERALS.get(literal_tokens)
    if verdicts is None:
        if len(_VERDICTS_BY_LITERALS) >= _LITERAL_SETS_KEPT:
            _VERDICTS_BY_LITERALS.clear()
        verdicts = _VERDICTS_BY_LITERALS[literal_tokens] = {}
    return verdicts


def forget_label_verdicts() -> None:
    """Forget every remembered verdict (the benchmarks' measure of what remembering saves)."""
    _VERDICTS_BY_LITERALS.clear()


def is_digest(text: str) -> bool:
    """Whether ``text`` has the form of a digest the core makes (``h:`` and 32 hex).

    >>> is_digest("h:" + "0" * 32), is_digest("0" * 32)
    (True, False)
    """
    return _DIGEST.fullmatch(text) is not None


def is_session_id(text: str) -> bool:
    """Whether ``text`` is a random session id, as the client makes them (a uuid's text)."""
    return _UUID.fullmatch(text) is not None


def plain_words(text: str, policy: PrivacyPolicy) -> str:
    """The opted-in query reduced to plain words, cut at a word to the policy's length.

    Every white-space separated token that is not a word of letters and digits (inner
    apostrophes and hyphens allowed, at most 24 characters), or that the leak guard flags,
    becomes one marker; a run of markers is one marker. So ``charge(card)`` and ``amount=100``
    are gone. A token that opens something, a path (a separator, or ``~``) that does not end in
    a file name, or a quote or bracket it does not close, hides the tokens after it up to the
    one that ends it (a file name, the closing quote), or to the end: so every part of a path
    or a quoted string with spaces in it is gone too.

    >>> from codeweaver_telemetry.core.policy import PrivacyPolicy
    >>> policy = PrivacyPolicy(hash_key=bytes(32))
    >>> plain_words(r"open C:\\Users\\bob\\My Documents\\Q3 Payroll\\x.xlsx now", policy)
    'open [REDACTED] now'
    >>> plain_words('log("charging card for Jane Doe") fails when ~/My Docs is full', policy)
    '[REDACTED] fails when [REDACTED]'
    """
    words: list[str] = []
    length = -1
    pending: frozenset[str] = frozenset()  # what ends the path or quote a token opened
    tokens = text[: _QUERY_READ_FACTOR * policy.max_query_chars + 1].split()
    if len(text) > _QUERY_READ_FACTOR * policy.max_query_chars:
        tokens = tokens[:-1]  # the last one may be cut: a cut token is never sent
    for token in tokens:
        if pending:
            if _ends(token, pending):
                pending = frozenset()
            word = REDACTED
        elif _is_query_word(token, policy):
            word = token
        else:
            word = REDACTED
            pending = _opened(token)
        if word is REDACTED and words and words[-1] is REDACTED:
            continue
        length += len(word) + 1
        if length > policy.max_query_chars:
            break
        words.append(word)
    return " ".join(words)


_QUERY_READ_FACTOR: Final = 8
"""Of a long query, at most this many times the policy's length is read: what is sent is
shorter than that, and a host's 50 MB string is not split whole on its thread."""

_PATH_END: Final = re.compile(r"\.[A-Za-z0-9]{1,10}[\]\)}>\"'.,;:!?]*\Z")
"""A token that ends in a file name's extension (and closing punctuation): a path ends there."""

_CLOSERS: Final = {'"': '"', "'": "'", "(": ")", "[": "]", "{": "}", "`": "`"}


def _opened(token: str) -> frozenset[str]:
    """What a token that is not a word leaves open: a path (``"/"``), quotes or brackets."""
    opened = set()
    for opener, closer in _CLOSERS.items():
        if opener == closer:
            unbalanced = token.count(opener) % 2 == 1
        else:
            unbalanced = token.count(opener) > token.count(closer)
        if unbalanced:
            opened.add(closer)
    if ("/" in token or "\\" in token or token.startswith("~")) and not _PATH_END.search(token):
        opened.add("/")
    return frozenset(opened)


def _ends(token: str, pending: frozenset[str]) -> bool:
    """Whether ``token`` ends what was left open: a file name ends a path, a closer a quote."""
    if "/" in pending and _PATH_END.search(token):
        return True
    return any(closer in token for closer in pending if closer != "/")


def _is_query_word(token: str, policy: PrivacyPolicy) -> bool:
    return (
        len(token) <= MAX_QUERY_WORD_LENGTH
        and _QUERY_WORD.fullmatch(token) is not None
        and find_leak(token, policy.literal_tokens) is None
    )


def _is_plain_words(text: str, policy: PrivacyPolicy) -> bool:
    """One or more words or markers, as :func:`plain_words` makes them (an empty query says
    nothing, and is not sent)."""
    return bool(text) and plain_words(text, policy) == text


def checked_event(
    name: object,
    properties: object,
    policy: PrivacyPolicy,
    vocabularies: Mapping[str, AbstractSet[str]] | None = None,
    *,
    query_words: bool = False,
    names: AbstractSet[str] = NO_VOCABULARY,
) -> Result[Checked, PrivacyError]:
    """:func:`checked_properties` of an event whose ``name`` must itself be a label; a word
    of ``names`` (the library's own events' names) is always one, whatever the machine's
    literals (a checkout named ``codeweaver-mcp`` does not cost ``codeweaver_mcp_tool_call``)."""
    if type(name) is not str or not is_label(name, policy, names):
        return Failure(PrivacyError("", None, "the event name is not a label"))
    return checked_properties(properties, policy, vocabularies, query_words=query_words)


def checked_properties(
    properties: object,
    policy: PrivacyPolicy,
    vocabularies: Mapping[str, AbstractSet[str]] | None = None,
    *,
    query_words: bool = False,
) -> Result[Checked, PrivacyError]:
    """The properties in the wire grammar, with the ``privacy_filter`` report brought up to
    date: what fails is dropped and counted; a Failure only when ``properties`` is not a JSON
    object or is larger than the policy's payload bound once checked.

    ``vocabularies`` are the declared words of each top-level property (at any depth under
    it), always kept, and its name is taken as declared; the policy's declared vocabularies
    apply too. ``query_words``: the event is one that carries the opted-in query's plain words
    in ``query_text`` (the library's search event); in any other, ``query_text`` is a label.
    """
    if type(properties) is not dict:
        return Failure(PrivacyError("", None, "the properties are not a JSON object"))
    if len(properties) - (PRIVACY_FILTER_KEY in properties) > policy.max_event_values:
        return Failure(PrivacyError("", None, "the event has more properties than allowed"))
    check = _Check(policy, vocabularies, query_words)
    checked = check.top(properties)
    if check.size > policy.max_payload_bytes:
        size = _json_size(checked)
        if size > policy.max_payload_bytes:
            reason = f"the payload is {size} bytes, over the policy's {policy.max_payload_bytes}"
            return Failure(PrivacyError("", None, reason))
    return Success(Checked(checked, check.dropped, check.redacted))


# Room in the JSON text: a key or string takes its length and two quotes; punctuation one.
_NUMBER_ROOM: Final = 25  # the longest finite float, ``-2.2250738585072014e-308``
_CONSTANT_ROOM: Final = 6  # ``false,``


class _Drop:
    """The marker of a value the check leaves out."""


_DROP: Final = _Drop()


class _Check:
    """One walk over an event: the policy, the vocabularies, what was dropped, the size."""

    __slots__ = (
        "dropped",
        "literal_tokens",
        "policy",
        "query_words",
        "redacted",
        "size",
        "values",
        "verdicts",
        "vocabularies",
        "words",
    )

    def __init__(
        self,
        policy: PrivacyPolicy,
        vocabularies: Mapping[str, AbstractSet[str]] | None,
        query_words: bool,
    ) -> None:
        self.policy = policy
        self.vocabularies = vocabularies
        self.words = _merged(vocabularies, policy.vocabularies)
        """The declared vocabulary of each top-level property: a declared name is a label,
        whatever the machine's literals, and its words are always kept."""
        self.query_words = query_words and policy.tools_over_privacy
        self.literal_tokens = policy.literal_tokens
        self.verdicts = label_verdicts(policy.literal_tokens)
        self.dropped = 0
        self.redacted = 0
        self.size = 2
        self.values = 0  # read so far, against the policy's max_event_values

    def is_label(self, text: str) -> bool:
        """:func:`is_label` with no vocabulary, of a plain ``str`` no longer than a label."""
        return _label_verdict(text, self.literal_tokens, self.verdicts)

    def top(self, properties: dict[object, object]) -> JSONObject:
        self.values = len(properties) - (PRIVACY_FILTER_KEY in properties)  # (as it comes out)
        out: JSONObject = {}
        report: object = None
        words_of = self.words.get
        for key, value in list(properties.items()):
            if type(key) is not str or len(key) > _MAX_KEY_LENGTH:
                self.dropped += 1
                continue
            checked: JSONValue | _Drop
            if key[:1] == "$":
                checked = self.library_value(key, value)
            elif key in _RESERVED_KEYS:
                if key == PRIVACY_FILTER_KEY:
                    report = value
                    continue
                checked = self.reserved(key, value)
            elif (words := words_of(key)) is not None or self.is_label(key):
                checked = self.value(value, 1, words or NO_VOCABULARY)
            else:
                checked = _DROP
            if checked is _DROP:
                self.dropped += 1
                continue
            self.size += len(key) + 4
            out[key] = checked  # type: ignore[assignment]
        dropped = min(self.dropped + _count(report, "dropped"), _INT_BOUND - 1)
        out[PRIVACY_FILTER_KEY] = {"dropped": dropped, "redacted": self.redacted}
        self.size += 60
        return out

    def reserved(self, key: str, value: object) -> JSONValue | _Drop:
        """A property whose name the library reserves (besides the ``$`` ones): an opt-in
        one, or the query text (as plain words only in the event that carries them), whoever
        set it."""
        if key in OPT_IN_KEYS and not self.policy.tools_over_privacy:
            return _DROP
        if key == QUERY_TEXT_KEY and self.query_words and type(value) is str:
            return self.query_text(value)
        words = self.words.get(key)
        if words is None and not self.is_label(key):
            return _DROP
        return self.value(value, 1, words or NO_VOCABULARY)

    def library_value(self, key: str, value: object) -> JSONValue | _Drop:
        """The library's own ``$`` properties, each of its fixed form; any other ``$`` key is
        a host's, and is dropped."""
        self.size += _CONSTANT_ROOM
        constant = _LIBRARY_CONSTANTS.get(key, _DROP)
        if constant is not _DROP:  # (the type too: ``1 == True``)
            if type(value) is not type(constant) or value != constant:  # (no host __ne__)
                return _DROP
            if type(value) is str:
                self.size += len(value) + 3
            return value
        if key == SESSION_ID_KEY:
            if type(value) is not str or not is_session_id(value):
                return _DROP
            self.size += len(value) + 3
            return value
        if key in _LIBRARY_LABEL_KEYS or (
            key.startswith(FEATURE_PREFIX)
            and self.vocabularies is not None
            and FEATURE_FLAGS in self.vocabularies
            and self.is_label(key[len(FEATURE_PREFIX) :])
        ):
            if type(value) is bool or value is None:
                return value
            return self.string(value, NO_VOCABULARY) if type(value) is str else _DROP
        return _DROP

    def query_text(self, text: str) -> JSONValue | _Drop:
        if not _is_plain_words(text, self.policy):
            return _DROP
        self.redacted = text.split().count(REDACTED)
        self.size += 12 * len(text) + 2
        return text

    def string(self, text: str, vocabulary: AbstractSet[str]) -> str | _Drop:
        # The length first: a lookup hashes the whole text. A label seen before is most of
        # what an event holds: one lookup. The digests' prefix is theirs alone (no label has
        # it): a digest is never asked of the guard, to which its hex looks like a secret.
        if len(text) <= MAX_LABEL_LENGTH and (
            self.verdicts.get(text)
            or (
                is_digest(text)
                if text.startswith(DIGEST_PREFIX)
                else text in vocabulary or text == OTHER_LABEL or self.is_label(text)
            )
        ):
            self.size += len(text) + 3
            return text
        return _DROP

    def value(self, value: object, depth: int, vocabulary: AbstractSet[str]) -> JSONValue | _Drop:
        """Any value: a string of the grammar; a bool or null; a number, finite and within 64
        bits; a list or an object of them, within the policy's bounds."""
        kind = type(value)
        if kind is str:
            return self.string(value, vocabulary)  # type: ignore[arg-type]
        if kind is bool or value is None:
            self.size += _CONSTANT_ROOM
            return value  # type: ignore[return-value]
        if kind is int:
            if -_INT_BOUND < value < _INT_BOUND:  # type: ignore[operator]
                self.size += _NUMBER_ROOM
                return value  # type: ignore[return-value]
            return _DROP
        if kind is float:
            if math.isfinite(value):  # type: ignore[arg-type]
                self.size += _NUMBER_ROOM
                return value  # type: ignore[return-value]
            return _DROP
        if kind is dict:
            return self.mapping(value, depth, vocabulary)  # type: ignore[arg-type]
        if kind is list:
            return self.items(value, depth, vocabulary)  # type: ignore[arg-type]
        return _DROP

    def admits(self, value: dict[object, object] | list[object]) -> bool:
        """Whether a container's items fit in the event (``max_event_values``) with what was
        read before them (once one does not, no later one does)."""
        self.values += len(value)
        return self.values <= self.policy.max_event_values

    def mapping(
        self, value: dict[object, object], depth: int, vocabulary: AbstractSet[str]
    ) -> JSONValue | _Drop:
        if (
            depth >= self.policy.max_depth
            or len(value) > self.policy.max_list_length
            or not self.admits(value)
        ):
            return _DROP
        out: JSONObject = {}
        for key, item in list(value.items()):
            if type(key) is not str or self.string(key, vocabulary) is _DROP:
                self.dropped += 1
                continue
            checked = self.value(item, depth + 1, vocabulary)
            if checked is _DROP:
                self.dropped += 1
                continue
            out[key] = checked  # type: ignore[assignment]
        self.size += 3  # its brackets, and the comma after it
        return out

    def items(
        self, value: list[object], depth: int, vocabulary: AbstractSet[str]
    ) -> JSONValue | _Drop:
        if (
            depth >= self.policy.max_depth
            or len(value) > self.policy.max_list_length
            or not self.admits(value)
        ):
            return _DROP
        out: list[JSONValue] = []
        for item in list(value):
            checked = self.value(item, depth + 1, vocabulary)
            if checked is _DROP:
                self.dropped += 1
                continue
            out.append(checked)  # type: ignore[arg-type]
        self.size += 3  # its brackets, and the comma after it
        return out


_LIBRARY_LABEL_KEYS: Final = frozenset({"$lib_version", "$os", "$python_version"})
"""The library's ``$`` properties whose value is a label."""

_LIBRARY_CONSTANTS: Final[Mapping[str, str | bool]] = {
    "$lib": LIBRARY_NAME,
    NO_GEOIP_KEY: True,
    NO_PERSON_PROFILE_KEY: False,
}
"""The library's ``$`` properties that have one value: its name, no location lookup, no
person profile."""

_RESERVED_KEYS: Final = OPT_IN_KEYS | {PRIVACY_FILTER_KEY}
"""The top-level names (besides ``$`` ones) whose value the check treats apart."""


def _merged(
    given: Mapping[str, AbstractSet[str]] | None, declared: Mapping[str, frozenset[str]]
) -> Mapping[str, AbstractSet[str]]:
    """The vocabularies of an event's schema and of the policy, a name's words joined."""
    if not given:
        return declared
    if not declared:
        return given
    merged = {**declared, **given}
    for name in given.keys() & declared.keys():
        merged[name] = given[name] | declared[name]
    return merged


def _count(report: object, name: str) -> int:
    """A count from an earlier ``privacy_filter`` report (a builder's or an earlier check's)."""
    if type(report) is not dict:
        return 0
    count = report.get(name)
    return count if type(count) is int and 0 <= count < _INT_BOUND else 0


def _json_size(payload: JSONObject) -> int:
    """Bytes of the compact JSON text (ASCII-escaped: an upper bound of what a sink sends)."""
    return len(json.dumps(payload, allow_nan=False, separators=(",", ":")))
