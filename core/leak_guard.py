"""The last check before a payload leaves the process: find what must never be sent, redact it.

Every conversion upstream already reduced the declared fields; this guard looks at what is
left, every string value and every key of the finished payload, and replaces whatever looks
sensitive with :data:`REDACTED`. It is a pure function of its inputs and it fails closed: when
in doubt a value is redacted, which costs a dashboard one value, never a user their privacy.

**Flagged** (anywhere in a string: inside a sentence, in parentheses or quotes, after ``key=``):

- ``PATH``: POSIX absolute paths (``/etc/x``), home paths (``~/x``, ``~user/x``), ``./x`` and
  ``../x``, Windows drive paths (``C:\\x``, ``c:/x``), UNC paths (``\\\\server\\share``),
  relative paths with two separators (``a/b/c``, ``a\\b\\c``) or with one separator and a file
  extension (``src/auth.py``).
- ``FILE_NAME``: a name with a source, script, config, data, notebook, document, key or archive
  extension (``auth.py``, ``settings.yaml``, ``Cargo.toml``, ``notes.md``), and well-known
  dotfiles (``.env``, ``.bashrc``, ``.netrc``).
- ``URL``: anything with a ``scheme://`` (``file:///x`` too).
- ``EMAIL``: ``local@domain.tld``.
- ``IP_ADDRESS``: four dot-separated groups of 1-3 digits, with or without a port (octets are
  not range-checked), and IPv6 addresses with ``::`` or eight groups (``::1``,
  ``fe80::1%eth0``, ``[::1]:8080``).
- ``CREDENTIAL``: PEM private-key blocks; AWS access key ids; GitHub, GitLab, Slack,
  OpenAI/Anthropic (``sk-``, ``sk-proj-``, ``sk-ant-``), Stripe and PostHog keys; JWTs; and
  runs of 20 or more ``[A-Za-z0-9+/_-]`` characters that mix letters and digits and read as
  noise rather than words (random hex, base64 and UUIDs; see :func:`_looks_random`).
- ``SENSITIVE_LITERAL``: one of the policy's literals (user, host, directory and repository
  names), case-insensitively, as a whole token: ``alice`` flags ``Alice`` and ``alice's`` but
  not ``malice`` or ``alice_b``.

**Left alone**: enum names (``UNDERSTAND``), language names (``python``, ``c++``, ``C#``),
versions (``0.5.0``, ``1.2.3-rc.1``, ``v2.0.0b1``), ISO dates, times and timestamps, numbers,
short identifiers (``find_code``, ``$process_person_profile``), PostHog flag names with one
slash (``$feature/new_reranker``), short slashed words (``n/a``, ``text/plain``, ``req/s``,
``I/O``), bare extensions (``.py``), host names without a scheme (``example.com``),
extension-less file names (``Makefile``), long identifiers made of words
(``codeweaver_session_v2``, ``claude-3-5-sonnet-20241022``), and ordinary sentences.

**Accepted false positives**, the price of failing closed:

- four-part dotted numbers (``1.2.3.4``) read as IPv4 addresses;
- slash-separated dates (``11/28/2026``) and three slashed words (``read/write/exec``) read as
  paths, and so do slash commands at the start of a token (``/help``);
- names whose last dotted part is an extension: ``Node.js``, ``console.log``, ``process.env``,
  and domains whose top-level domain is one (``docs.rs``, ``bun.sh``, ``example.pl``);
- words of hex letters joined by ``::`` (``cafe::bad``) read as IPv6 addresses;
- a long identifier of abbreviations and digits can read as noise (``cp311_manylinux2014``).

**Accepted false negatives**: random tokens with no digit at all (about 3% of random 20-character
base64 tokens, 0.03% of 48-character ones), the rare random token that happens to read as words
(about 0.3% at 20 characters, none measured at 40), ``user@localhost``, bare IPv6 ``::``, and
MAC addresses.

Cost: a string of letters, digits and underscores shorter than 20 characters, the bulk of any
payload, is settled by two C-level character tests and, with literals, one lookup. Any other
string runs only the rules whose trigger (``/``, ``@``, ``://``, ``.``, ...) it contains, each one
precompiled regex whose repetitions are bounded or cannot overlap, so a check is linear in the
length of the string whatever its shape.

>>> find_leak("saved to /home/alice/notes.md")
<LeakKind.PATH: 'path'>
>>> find_leak("UNDERSTAND") is None
True
"""

from __future__ import annotations

import enum
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable
from operator import add
from typing import Final

from .vocabulary import JSONValue

__all__ = ["REDACTED", "LeakKind", "find_leak", "guard_payload"]

REDACTED: Final = "[REDACTED]"
"""What replaces a flagged string or key. The guard itself never flags it."""


class LeakKind(enum.Enum):
    """The kind of sensitive content :func:`find_leak` found.

    >>> LeakKind.PATH.value
    'path'
    """

    PATH = "path"
    FILE_NAME = "file_name"
    URL = "url"
    EMAIL = "email"
    IP_ADDRESS = "ip_address"
    CREDENTIAL = "credential"
    SENSITIVE_LITERAL = "sensitive_literal"


# --- Vocabularies -----------------------------------------------------------------------------


def _word_set(words: str) -> frozenset[str]:
    """The white-space separated words of ``words``: long vocabularies stay readable."""
    return frozenset(words.split())


_EXTENSIONS: Final = _word_set(
    """
    py pyi pyx pxd pyw ipynb js mjs cjs jsx ts tsx mts cts vue svelte astro rs go java kt kts
    scala groovy gradle rb erb rake php pl lua swift cc cpp cxx hpp hh hxx ino cs csx fs fsi fsx
    vb dart ex exs erl hrl clj cljs cljc edn elm hs lhs ml mli jl nim zig sol sql psql graphql
    gql proto thrift wasm wat sh bash zsh fish ksh csh ps1 psm1 psd1 bat cmd awk vim el lisp scm
    rkt tcl asm vhd vhdl f90 f95 cob cbl nix dhall tf tfvars hcl rego bicep mk cmake bazel bzl
    md mdx markdown rst txt adoc asciidoc tex bib rmd qmd html htm xhtml css scss sass less styl
    pug hbs mustache jinja jinja2 j2 njk twig liquid ejs
    json jsonc json5 jsonl ndjson yaml yml toml ini cfg conf config cnf env properties plist xml
    xsd xsl lock dockerfile csv tsv parquet avro feather arrow db sqlite sqlite3 duckdb mdb pkl
    pickle joblib npy npz h5 hdf5 pt pth ckpt safetensors onnx gguf log dat
    pdf doc docx odt rtf xls xlsx ods ppt pptx
    pem key crt cer csr der p12 pfx jks keystore kdbx gpg pgp ovpn pub ppk
    zip tar gz tgz bz2 xz 7z rar whl egg jar exe dll so dylib bak swp tmp orig patch diff
    png jpg jpeg gif svg webp ico bmp tiff mp3 mp4 wav mov
    """
)
"""Extensions of two or more characters that make a word a file name (lower case)."""

_SHORT_EXTENSIONS: Final = "chmr"
"""One-letter extensions (C, headers, Objective-C, R), taken only after a two-character name:
``D.C.`` and ``a.m.`` are abbreviations, ``io.c`` is a file."""

_DOTFILES: Final = _word_set(
    """
    env envrc bashrc bash_profile bash_history bash_logout zshrc zshenv zprofile zsh_history
    profile netrc npmrc yarnrc pypirc pgpass gitconfig git-credentials gitignore gitmodules
    dockerignore editorconfig ssh aws kube gnupg docker git venv config htpasswd htaccess vimrc
    viminfo python_history node_repl_history psqlrc mysql_history boto s3cfg terraformrc
    """
)
"""Names that are a file or directory when written with a leading dot (``.env``)."""

_COMMON_PAIRS: Final = _word_set(
    """
    ab ac ad ag ai al am an ap ar as at ba be bj bl bo bu by ca ce ch ci ck cl co cr ct cu da de
    di do du ea ec ed ee ef el em en ep er es et ev ex ey fa ff fi fo fr fu ge gi gs ha he hi ho
    ia ib ic id ie if ig il im in io ip ir is it ke la ld le lf li ll lo ls lt lu ly ma me mi mo
    mp na nc nd ne nf ng ni no ns nt nu ob oc od of ol om on oo op or os ot ou ow pa pe pi pl po
    pp pr pt qu ra rc re rg ri rm rn ro rr rs rt ru ry sa sc se sh si sm so sp ss st su ta te th
    ti to tr ts tt tu ty ue ul um un up ur us ut va ve wa wh wi xc xt yp
    """
)
"""The letter pairs that make up 90% of the pairs in the words of Python's standard library.

Words are made of these; random text hits them about one time in four."""


def _alternation(words: Iterable[str]) -> str:
    """A regex alternation of ``words`` keyed by their first letter.

    The regex engine skips a branch whose first literal does not match in one test, so grouping
    by initial makes a failed match cost one test per initial instead of one per word.

    >>> _alternation(["py", "pyi", "rs"])
    '(?:p(?:yi|y)|r(?:s))'
    """
    by_initial: dict[str, list[str]] = {}
    for word in sorted(set(words), key=lambda word: (-len(word), word)):
        by_initial.setdefault(word[0], []).append(re.escape(word[1:]))
    branches = (f"{initial}(?:{'|'.join(rests)})" for initial, rests in sorted(by_initial.items()))
    return f"(?:{'|'.join(branches)})"


# --- Patterns ---------------------------------------------------------------------------------
# Linear time needs every pattern to either start on a rare character and repeat a bounded
# number of times, or to repeat a class that excludes what follows it, so that no stretch of
# the text is re-read from many starting points.

_BREAK: Final = r"\s\"'`()\[\]{}<>,;|="
"""Characters that end a token: white space, quotes, brackets and list punctuation."""

_TOKEN_START: Final = rf"(?<![^{_BREAK}:])"
"""At the start of the text, or after a break or a colon (``path:/etc/x``)."""

_PEM: Final = re.compile(r"-----BEGIN [A-Z0-9 ]{0,64}PRIVATE KEY(?: BLOCK)?-----")

_KEY: Final = re.compile(
    r"(?<![A-Za-z0-9])(?:"
    r"(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}"
    r"|gh[pousr]_[A-Za-z0-9]{20}|github_pat_[A-Za-z0-9_]{20}"
    r"|glpat-[A-Za-z0-9_-]{20}"
    r"|xox[abprs]-[A-Za-z0-9-]{10}|xapp-[A-Za-z0-9-]{10}"
    r"|sk-[A-Za-z0-9_-]{20}"  # also sk-proj- and sk-ant-
    r"|[rs]k_(?:live|test)_[A-Za-z0-9]{16}"
    r"|ph[cx]_[A-Za-z0-9]{20}"
    r")"
    # A JWT starts only where a base64url run starts, so each run is read from one place.
    r"|(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"
)
_MIN_KEY_LENGTH: Final = 15
"""The shortest text :data:`_KEY` can match (a Slack token)."""

_URL: Final = re.compile(r"[A-Za-z0-9+.-]://")

_EMAIL: Final = re.compile(r"[A-Za-z0-9._%+-]@[A-Za-z0-9-]+\.[A-Za-z]{2}")

_IPV4: Final = re.compile(r"(?<![0-9])[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}(?![0-9])")

# Each repeated group starts with a colon that the hex class excludes: one way to split, and
# at most eight groups to try.
_HEX_GROUP: Final = "[0-9A-Fa-f]{1,4}"
_IPV6: Final = re.compile(
    r"(?<![A-Za-z0-9_:])(?:"
    rf"(?:{_HEX_GROUP}:){{1,7}}:(?:{_HEX_GROUP}(?::{_HEX_GROUP}){{0,6}})?"
    rf"|::{_HEX_GROUP}(?::{_HEX_GROUP}){{0,6}}"
    rf"|{_HEX_GROUP}(?::{_HEX_GROUP}){{7}}"
    r")(?![A-Za-z0-9_:])"
)

_PATH: Final = re.compile(
    rf"{_TOKEN_START}(?:"
    r"/(?:[^\W\d]|[.~$])"  # /etc, /.ssh
    r"|~(?:[A-Za-z_][\w.-]{0,63})?[/\\]"  # ~/x, ~user/x
    r"|\.\.?[/\\]"  # ./x, ../x
    r"|\\\\[\w.$-]"  # \\server
    r")"
    r"|(?<![A-Za-z0-9])[A-Za-z]:[/\\]"  # C:\x, c:/x
    rf"|[/\\][^/\\{_BREAK}]+[/\\]"  # a/b/c: two separators around a segment
    rf"|[/\\][^/\\.{_BREAK}]*\.[A-Za-z][A-Za-z0-9]{{0,9}}(?![^.,:;!?{_BREAK}])"  # src/auth.py
)

_FILE_NAME: Final = re.compile(  # matched against lower-cased text
    rf"[\w-]\.{_alternation(_EXTENSIONS)}(?![a-z0-9])"
    rf"|[\w-]{{2}}\.[{_SHORT_EXTENSIONS}](?![a-z0-9])"
    rf"|(?<![\w.-])\.{_alternation(_DOTFILES)}(?![\w-])"
)

_RUN: Final = re.compile(r"[A-Za-z0-9+/_-]{20,}")

_NON_WORD: Final = re.compile(r"\W")

# --- High-entropy tokens ----------------------------------------------------------------------

_MIN_SECRET_LENGTH: Final = 20
_MIN_ENTROPY: Final = 3.0
"""Bits per character below which a run is too repetitive to be a secret."""
_MIN_HEX_ENTROPY: Final = 2.5
"""The same for hex, whose 16 symbols leave a random 20-character string near 3.4 bits."""

_DIGITS: Final = frozenset("0123456789")
_HEX_OR_DASH: Final = frozenset("0123456789abcdefABCDEF-")
_SHAPES: Final = str.maketrans(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-+/",
    "a" * 26 + "A" * 26 + "0" * 10 + "__++",
)

# Evidence, per adjacent pair of characters, that a run is made of words (positive) or of
# noise (negative). Calibrated on 90 model, platform and identifier names against random
# base64, alphanumeric and hex strings; a threshold of -2 misses 0.3% of random 20-character
# tokens and 0.05% of 32-character ones, and flagged 4 of 570 real identifiers with digits.
_COMMON_PAIR_WEIGHT: Final = 3
_RARE_PAIR_WEIGHT: Final = -3
_LETTER_DIGIT_WEIGHT: Final = -3
_HUMP_WEIGHT: Final = -2
_SEPARATOR_WEIGHT: Final = 2
_NOISE_THRESHOLD: Final = -2


def _entropy(counts: Counter[str], length: int) -> float:
    """Shannon entropy in bits per character.

    >>> _entropy(Counter("abab"), 4)
    1.0
    """
    return math.log2(length) - sum(n * math.log2(n) for n in counts.values()) / length


def _word_score(run: str) -> int:
    """How much ``run`` reads like words (positive) rather than noise (negative).

    >>> _word_score("codeweaver_session_v2") > _NOISE_THRESHOLD
    True
    >>> _word_score("k3J9dXq0Zm2pT7wL4nS8") > _NOISE_THRESHOLD
    False
    """
    lowered = run.lower()
    common = sum(map(_COMMON_PAIRS.__contains__, map(add, lowered, lowered[1:])))
    shape = run.translate(_SHAPES)
    pairs = Counter(map(add, shape, shape[1:]))
    letter_pairs = pairs["aa"] + pairs["aA"] + pairs["Aa"] + pairs["AA"]
    letter_digit = pairs["a0"] + pairs["0a"] + pairs["A0"] + pairs["0A"]
    return (
        _COMMON_PAIR_WEIGHT * common
        + _RARE_PAIR_WEIGHT * (letter_pairs - common)
        + _LETTER_DIGIT_WEIGHT * letter_digit
        + _HUMP_WEIGHT * pairs["aA"]
        + _SEPARATOR_WEIGHT * shape.count("_")
    )


def _looks_random(run: str) -> bool:
    """Whether a run of 20+ token characters is a random secret rather than a name.

    It must mix letters and digits and have high entropy; hex (UUIDs too) needs nothing more,
    since no word is spelled in ``0-9a-f`` alone; anything else must also read as noise.

    >>> _looks_random("9f86d081884c7d659a2feaa0c55ad015")
    True
    >>> _looks_random("claude-3-5-sonnet-20241022")
    False
    """
    if _DIGITS.isdisjoint(run):
        return False
    counts = Counter(run)
    letters = sum(n for char, n in counts.items() if char.isalpha())
    entropy = _entropy(counts, len(run))
    if _HEX_OR_DASH.issuperset(counts) and len(run) - counts["-"] >= _MIN_SECRET_LENGTH:
        return letters > 0 and entropy >= _MIN_HEX_ENTROPY
    # One letter among digits is a number's exponent (1.7976931348623157e+308), not a key.
    if letters < 2:
        return False
    return entropy >= _MIN_ENTROPY and _word_score(run) < _NOISE_THRESHOLD


# --- Literals ---------------------------------------------------------------------------------


def _is_word_char(text: str, index: int) -> bool:
    return 0 <= index < len(text) and (text[index].isalnum() or text[index] == "_")


def _has_whole_word(lowered: str, literal: str) -> bool:
    """Whether ``literal`` occurs in ``lowered`` with no letter, digit or ``_`` on either side.

    >>> _has_whole_word("user alice's", "alice"), _has_whole_word("malice", "alice")
    (True, False)
    """
    start = lowered.find(literal)
    while start >= 0:
        if not _is_word_char(lowered, start - 1) and not _is_word_char(
            lowered, start + len(literal)
        ):
            return True
        if _is_word_char(literal, 0):
            # A match must follow a non-word character, so skip the rest of this word: each
            # character is then read once per literal, whatever the text.
            after = _NON_WORD.search(lowered, start + 1)
            start = lowered.find(literal, after.end()) if after else -1
        else:
            start = lowered.find(literal, start + 1)
    return False


def _has_literal(lowered: str, literal_tokens: tuple[str, ...]) -> bool:
    return any(
        literal in lowered and _has_whole_word(lowered, literal) for literal in literal_tokens
    )


# --- Classification ---------------------------------------------------------------------------


def _is_plain_word(text: str) -> bool:
    """ASCII letters, digits and underscores only: no path, address or file name can hide here."""
    return text.isascii() and (text.isalnum() or text.isidentifier())


def _word_leak(
    word: str, literal_tokens: tuple[str, ...], allow_high_entropy: bool
) -> LeakKind | None:
    if len(word) >= _MIN_SECRET_LENGTH and (
        _KEY.search(word) or (not allow_high_entropy and _looks_random(word))
    ):
        return LeakKind.CREDENTIAL
    # A plain word holds a literal as a whole token only if it is that literal.
    if literal_tokens and word.lower() in literal_tokens:
        return LeakKind.SENSITIVE_LITERAL
    return None


def _pattern_leak(text: str, allow_high_entropy: bool) -> LeakKind | None:
    # Each rule first tests for a substring its pattern cannot match without, one C-level pass
    # that ordinary values fail, so most strings never reach a regex.
    if ("-----BEGIN" in text and _PEM.search(text)) or (
        len(text) >= _MIN_KEY_LENGTH and _KEY.search(text)
    ):
        return LeakKind.CREDENTIAL
    if "://" in text and _URL.search(text):
        return LeakKind.URL
    if "@" in text and _EMAIL.search(text):
        return LeakKind.EMAIL
    if ("." in text and _IPV4.search(text)) or (
        ("::" in text or text.count(":") >= 7) and _IPV6.search(text)  # :: or eight groups
    ):
        return LeakKind.IP_ADDRESS
    if ("/" in text or "\\" in text) and _PATH.search(text):
        return LeakKind.PATH
    if "." in text and _FILE_NAME.search(text.lower()):
        return LeakKind.FILE_NAME
    if (
        not allow_high_entropy
        and len(text) >= _MIN_SECRET_LENGTH
        and any(_looks_random(run.group()) for run in _RUN.finditer(text))
    ):
        return LeakKind.CREDENTIAL
    return None


def find_leak(
    text: str, literal_tokens: tuple[str, ...] = (), *, allow_high_entropy: bool = False
) -> LeakKind | None:
    """The kind of sensitive content in ``text``, or None when it may be sent.

    ``literal_tokens`` are lower-cased literals of at least three characters (what
    :attr:`PrivacyPolicy.literal_tokens` holds), matched case-insensitively as whole tokens.
    ``allow_high_entropy`` skips the high-entropy-token rule alone, for the core's own digests.
    When a string holds several kinds, credentials come first, then URLs, e-mail and IP
    addresses, paths, file names, high-entropy tokens and literals.

    >>> find_leak("token=ghp_" + "a1B2" * 9)
    <LeakKind.CREDENTIAL: 'credential'>
    >>> find_leak("ask Alice (alice@example.com)")
    <LeakKind.EMAIL: 'email'>
    >>> find_leak("ask Alice", ("alice",))
    <LeakKind.SENSITIVE_LITERAL: 'sensitive_literal'>
    >>> find_leak("9f86d081884c7d659a2feaa0c55ad015", allow_high_entropy=True) is None
    True
    >>> [find_leak(value) for value in ("HYBRID", "0.5.0", "text/plain", "2026-11-28T01:04:35Z")]
    [None, None, None, None]
    """
    if _is_plain_word(text):
        return _word_leak(text, literal_tokens, allow_high_entropy)
    kind = _pattern_leak(text, allow_high_entropy)
    if kind is None and literal_tokens and _has_literal(text.lower(), literal_tokens):
        return LeakKind.SENSITIVE_LITERAL
    return kind


# --- Payloads ---------------------------------------------------------------------------------

_Leaks = Callable[[str], bool]


def _guard_value(value: JSONValue, leaks: _Leaks) -> tuple[JSONValue, int]:
    if isinstance(value, str):
        return (REDACTED, 1) if leaks(value) else (value, 0)
    if isinstance(value, dict):
        return _guard_object(value, leaks)
    if isinstance(value, list | tuple):
        guarded = [_guard_value(item, leaks) for item in value]
        return [item for item, _ in guarded], sum(count for _, count in guarded)
    return value, 0


def _free_key(taken: set[str], suffix: int) -> tuple[str, int]:
    """The first of ``[REDACTED]``, ``[REDACTED]#2``, ... from ``suffix`` on that is not taken.

    Suffixes only grow, so naming many flagged keys stays linear.

    >>> _free_key({"[REDACTED]", "[REDACTED]#2"}, 1)
    ('[REDACTED]#3', 3)
    """
    while (key := REDACTED if suffix == 1 else f"{REDACTED}#{suffix}") in taken:
        suffix += 1
    return key, suffix


def _guard_object(obj: dict[str, JSONValue], leaks: _Leaks) -> tuple[JSONValue, int]:
    flagged = [leaks(key) for key in obj]
    # Keys that stay are reserved first, so a renamed key never overwrites one that comes later.
    taken = {key for key, bad in zip(obj, flagged, strict=True) if not bad}
    guarded: dict[str, JSONValue] = {}
    count, suffix = 0, 1
    for (key, value), bad in zip(obj.items(), flagged, strict=True):
        name = key
        if bad:
            name, suffix = _free_key(taken, suffix)
            taken.add(name)
            count += 1
        guarded[name], inner = _guard_value(value, leaks)
        count += inner
    return guarded, count


def guard_payload(
    payload: JSONValue,
    literal_tokens: tuple[str, ...] = (),
    trusted: frozenset[str] = frozenset(),
) -> tuple[JSONValue, int]:
    """A copy of ``payload`` with every flagged string and key replaced, and how many were.

    A flagged key becomes ``[REDACTED]``, or ``[REDACTED]#2``, ``#3``, ... when that is taken.
    Strings in ``trusted`` (the core's own digests) are exempt from the high-entropy rule only.
    Tuples come back as lists; other scalars are returned as they are; the input is not changed.

    >>> guard_payload({"where": "/home/alice/x.py", "/etc/k": 1, "what": ["hybrid", "a@b.io"]})
    ({'where': '[REDACTED]', '[REDACTED]': 1, 'what': ['hybrid', '[REDACTED]']}, 3)
    """

    def leaks(text: str) -> bool:
        return find_leak(text, literal_tokens, allow_high_entropy=text in trusted) is not None

    return _guard_value(payload, leaks)
