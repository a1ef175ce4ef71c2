"""Hypothesis strategies for privacy property tests: the library's own, and yours.

- Sensitive material (paths, file names, URLs, addresses, credentials) that the leak guard must
  always flag, the ordinary values it must always leave alone, and a way to hide the former in
  arbitrary text.
- Canaries: random nested models with a marker planted in every field that could leak
  (:func:`planted_models`), and hostile values for the totality proofs (:func:`hostile_values`).
- The integrator's kit: :func:`canary_instances` builds instances of *your* model type with a
  canary in every free-text field, and :func:`assert_never_leaks` fails naming each field whose
  canary reaches the output, so an undeclared free-text field is caught the day it is added.

This module imports Hypothesis, an optional extra (``codeweaver-telemetry[testing]``): nothing
else in the core imports it.
"""

from __future__ import annotations

import base64
import collections.abc
import dataclasses
import functools
import json
import random
import string
import types
import typing
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta, timezone
from typing import Final

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy
from returns.pipeline import is_successful

from .introspection import declared_keys, is_model_type
from .policy import PrivacyPolicy
from .serializer import serialize_for_telemetry
from .vocabulary import AnonymityConversion

__all__ = [
    "CANARY_PREFIX",
    "Hostile",
    "Planted",
    "assert_never_leaks",
    "canary_for",
    "canary_instances",
    "categorical_carriers",
    "credentials",
    "emails",
    "embedded_in_text",
    "home_paths",
    "hostile_values",
    "huge_text",
    "ipv4_addresses",
    "ipv6_addresses",
    "ordinary_values",
    "planted_models",
    "posix_paths",
    "relative_source_paths",
    "secret_carriers",
    "sensitive_text",
    "source_file_names",
    "urls",
    "windows_paths",
]


def _words(text: str) -> list[str]:
    """The white-space separated words of ``text``: long vocabularies stay readable."""
    return text.split()


_ALNUM = string.ascii_letters + string.digits
_NAME_CHARS = _ALNUM + "_-"
_BASE64URL = _ALNUM + "_-"

_SOURCE_EXTENSIONS = _words(
    "py pyi ipynb js mjs ts tsx jsx vue svelte rs go java kt swift rb php pl lua c h cpp hpp cs "
    "sh bash zsh ps1 sql graphql proto tf nix md rst txt tex html css scss json jsonl yaml yml "
    "toml ini cfg conf env properties xml lock csv parquet db sqlite3 pkl npy log pem key crt "
    "pub pdf docx xlsx zip tar gz whl"
)
"""A sample of the extensions a file name is recognised by."""

_DOTFILES = _words(
    ".env .env.local .env.production .envrc .bashrc .bash_profile .zshrc .profile .netrc .npmrc "
    ".pypirc .pgpass .gitconfig .git-credentials .ssh .aws .kube .docker .htpasswd .vimrc"
)

_SEPARATORS = (" ", "  ", "\t", "\n", "(", ")", '"', "'", "=", ",", ";", "[", "]", "<", ">")
"""What stands between a secret and the text around it: white space or list punctuation."""


def _text_of(alphabet: str, min_size: int, max_size: int) -> SearchStrategy[str]:
    return st.text(alphabet=alphabet, min_size=min_size, max_size=max_size)


def _segment() -> SearchStrategy[str]:
    """One path segment: ``src``, ``x_1``, ``my-dir``."""
    return _text_of(_NAME_CHARS, 1, 12)


def _named_segment() -> SearchStrategy[str]:
    """A segment that starts with a letter, as the first one of an absolute path does."""
    return st.builds(
        str.__add__, st.sampled_from(string.ascii_letters), _text_of(_NAME_CHARS, 0, 11)
    )


def posix_paths() -> SearchStrategy[str]:
    """Absolute POSIX paths: ``/etc``, ``/home/alice``, ``/var/lib/x-1/.env``, ``/srv/a/b.py``."""
    file = st.one_of(st.just(""), source_file_names().map("/".__add__))
    return st.builds(
        lambda first, rest, name: "/".join(["", first, *rest]) + name,
        _named_segment(),
        st.lists(_segment(), max_size=4),
        file,
    )


def windows_paths() -> SearchStrategy[str]:
    """Drive and UNC paths: ``C:\\Users\\alice``, ``d:/work/repo``, ``\\\\server\\share\\x``."""
    drive = st.builds(
        lambda letter, separator, parts: f"{letter}:{separator}" + separator.join(parts),
        st.sampled_from(string.ascii_letters),
        st.sampled_from(["\\", "/"]),
        st.lists(_segment(), max_size=4),
    )
    unc = st.builds(
        lambda server, parts: "\\\\" + server + "".join("\\" + part for part in parts),
        _named_segment(),
        st.lists(_segment(), min_size=1, max_size=3),
    )
    return st.one_of(drive, unc)


def home_paths() -> SearchStrategy[str]:
    """Paths from a home directory: ``~/notes``, ``~alice/.ssh/id_rsa``, ``~\\x``."""
    user = st.one_of(
        st.just(""),
        st.builds(str.__add__, st.sampled_from(string.ascii_letters + "_"), _segment()),
    )
    return st.builds(
        lambda owner, separator, parts: f"~{owner}{separator}" + separator.join(parts),
        user,
        st.sampled_from(["/", "\\"]),
        st.lists(_segment(), max_size=3),
    )


def relative_source_paths() -> SearchStrategy[str]:
    """Relative paths: ``./x``, ``../lib/y``, ``a/b/c``, ``pkg\\mod\\z``, ``src/auth.py``."""
    dotted = st.builds(
        lambda prefix, parts: prefix + "/".join(parts),
        st.sampled_from(["./", "../", ".\\", "..\\", "../../"]),
        st.lists(_segment(), min_size=1, max_size=3),
    )
    nested = st.builds(
        lambda separator, parts: separator.join(parts),
        st.sampled_from(["/", "\\"]),
        st.lists(_segment(), min_size=3, max_size=5),
    )
    sourced = st.builds(
        lambda directory, separator, name: f"{directory}{separator}{name}",
        _segment(),
        st.sampled_from(["/", "\\"]),
        _file_with_extension(),
    )
    return st.one_of(dotted, nested, sourced)


def _file_with_extension() -> SearchStrategy[str]:
    """``auth.py``, ``Settings.YAML``: two or more name characters, then a known extension."""
    extension = st.sampled_from(_SOURCE_EXTENSIONS).flatmap(
        lambda ext: st.sampled_from([ext, ext.upper()])
    )
    return st.builds(lambda name, ext: f"{name}.{ext}", _text_of(_NAME_CHARS, 2, 16), extension)


def source_file_names() -> SearchStrategy[str]:
    """File names with a source or config extension, and dotfiles: ``auth.py``, ``.env``."""
    return st.one_of(_file_with_extension(), st.sampled_from(_DOTFILES))


def _host() -> SearchStrategy[str]:
    """``example.com``, ``a-1.b.io``: one to three labels and a top-level domain."""
    label = st.builds(str.__add__, st.sampled_from(_ALNUM), _text_of(_ALNUM + "-", 0, 10))
    return st.builds(
        lambda labels, tld: ".".join([*labels, tld]),
        st.lists(label, min_size=1, max_size=3),
        _text_of(string.ascii_lowercase, 2, 6),
    )


def urls() -> SearchStrategy[str]:
    """URLs with a scheme: ``https://example.com/x?y=1``, ``file:///etc/x``, ``s3://b/k``."""
    scheme = st.sampled_from(
        ["http", "https", "ftp", "ssh", "git", "git+ssh", "s3", "postgres", "redis", "wss"]
    )
    path = st.lists(_segment(), max_size=3).map(lambda parts: "".join("/" + p for p in parts))
    query = st.one_of(st.just(""), _segment().map(lambda value: f"?q={value}"))
    networked = st.builds(lambda s, h, p, q: f"{s}://{h}{p}{q}", scheme, _host(), path, query)
    return st.one_of(networked, posix_paths().map(lambda local: "file://" + local))


def emails() -> SearchStrategy[str]:
    """E-mail addresses: ``alice@example.com``, ``a.b+tag@mail.example.co.uk``."""
    local = _text_of(_ALNUM + "._%+-", 1, 16)
    return st.builds(lambda user, host: f"{user}@{host}", local, _host())


def ipv4_addresses() -> SearchStrategy[str]:
    """IPv4 addresses, sometimes with a port: ``10.0.0.1``, ``192.168.1.20:8080``."""
    octet = st.integers(0, 255).map(str)
    port = st.one_of(st.just(""), st.integers(1, 65535).map(lambda n: f":{n}"))
    return st.builds(
        lambda octets, suffix: ".".join(octets) + suffix,
        st.lists(octet, min_size=4, max_size=4),
        port,
    )


def ipv6_addresses() -> SearchStrategy[str]:
    """IPv6 addresses as written: ``::1``, ``fe80::1%eth0``, ``[2001:db8::1]:8080``, exploded.

    The unspecified address ``::`` is left out: it names no machine, and the guard leaves it.
    """
    address = st.ip_addresses(v=6).filter(lambda ip: ip.packed != bytes(16))
    written = st.one_of(address.map(str), address.map(lambda ip: ip.exploded))
    return st.one_of(
        written,
        st.builds(lambda a, zone: f"{a}%{zone}", written, st.sampled_from(["eth0", "en0", "1"])),
        st.builds(lambda a, port: f"[{a}]:{port}", written, st.integers(1, 65535)),
    )


def _prefixed(
    prefixes: list[str], alphabet: str, min_size: int, max_size: int
) -> SearchStrategy[str]:
    return st.builds(str.__add__, st.sampled_from(prefixes), _text_of(alphabet, min_size, max_size))


def _jwts() -> SearchStrategy[str]:
    """``eyJ<header>.<payload>.<signature>``, base64url parts."""
    return st.builds(
        lambda header, body, signature: f"eyJ{header}.{body}.{signature}",
        _text_of(_BASE64URL, 8, 40),
        _text_of(_BASE64URL, 8, 120),
        _text_of(_BASE64URL, 0, 86),
    )


def _pem_blocks() -> SearchStrategy[str]:
    """``-----BEGIN RSA PRIVATE KEY-----`` ... ``-----END RSA PRIVATE KEY-----``."""
    return st.builds(
        lambda kind, body: (
            f"-----BEGIN {kind}PRIVATE KEY-----\n{body}\n-----END {kind}PRIVATE KEY-----"
        ),
        st.sampled_from(["", "RSA ", "EC ", "DSA ", "OPENSSH ", "ENCRYPTED "]),
        _text_of(_ALNUM + "+/=\n", 0, 200),
    )


def _high_entropy_tokens() -> SearchStrategy[str]:
    """Random secrets as tools make them: 32-64 hex digits, UUIDs, 56-86 base64 characters,
    40-64 letters and digits.

    Drawn from a seeded generator, so a token is random-looking yet reproducible and shrinks
    towards seed 0. Base64 and alphanumeric tokens contain a digit, as the guard's rule asks,
    and are long enough that one reading as words is vanishingly rare (none in 300,000).
    """
    rng = st.integers(0, 2**64 - 1).map(random.Random)

    def hex_token(r: random.Random) -> str:
        return r.randbytes(r.randint(16, 32)).hex()

    def uuid_token(r: random.Random) -> str:
        return str(uuid.UUID(int=r.getrandbits(128)))

    def base64_token(r: random.Random) -> str:
        encode = r.choice([base64.urlsafe_b64encode, base64.b64encode])
        return encode(r.randbytes(r.randint(42, 64))).decode().rstrip("=")

    def alphanumeric_token(r: random.Random) -> str:
        return "".join(r.choices(_ALNUM, k=r.randint(40, 64)))

    def mixed(token: str) -> bool:
        return any(c.isdigit() for c in token) and any(c.isalpha() for c in token)

    return st.one_of(
        rng.map(hex_token).filter(mixed),
        rng.map(uuid_token).filter(mixed),
        rng.map(base64_token).filter(mixed),
        rng.map(alphanumeric_token).filter(mixed),
    )


def credentials() -> SearchStrategy[str]:
    """API keys, tokens and private keys of every recognised family, and random secrets.

    ``AKIA...``, ``ghp_...``, ``github_pat_...``, ``glpat-...``, ``xoxb-...``, ``sk-proj-...``,
    ``sk_live_...``, ``phc_...``, JWTs, PEM private-key blocks, hex digests, UUIDs, base64.
    """
    upper_alnum = string.ascii_uppercase + string.digits
    return st.one_of(
        _prefixed(["AKIA", "ASIA", "ABIA", "ACCA"], upper_alnum, 16, 16),
        _prefixed(["ghp_", "gho_", "ghu_", "ghs_", "ghr_"], _ALNUM, 20, 40),
        _prefixed(["github_pat_"], _ALNUM + "_", 20, 82),
        _prefixed(["glpat-"], _BASE64URL, 20, 30),
        _prefixed(["xoxb-", "xoxp-", "xoxa-", "xoxr-", "xoxs-", "xapp-"], _ALNUM + "-", 10, 60),
        _prefixed(["sk-", "sk-proj-", "sk-ant-api03-"], _BASE64URL, 20, 64),
        _prefixed(["sk_live_", "rk_live_", "sk_test_", "rk_test_"], _ALNUM, 16, 40),
        _prefixed(["phc_", "phx_"], _ALNUM, 20, 43),
        _jwts(),
        _pem_blocks(),
        _high_entropy_tokens(),
    )


def sensitive_text() -> SearchStrategy[str]:
    """Any one piece of sensitive material the leak guard must flag."""
    return st.one_of(
        posix_paths(),
        windows_paths(),
        home_paths(),
        relative_source_paths(),
        source_file_names(),
        urls(),
        emails(),
        ipv4_addresses(),
        ipv6_addresses(),
        credentials(),
    )


def embedded_in_text(secrets: SearchStrategy[str]) -> SearchStrategy[str]:
    """A secret from ``secrets`` anywhere in arbitrary text: ``see (/etc/x) now``, ``k=a@b.io``.

    The text around it is separated from it by white space or punctuation such as ``(``,
    ``"``, ``=`` or ``,``; either side may be empty, putting the secret at the start or end.
    """
    separator = st.sampled_from(_SEPARATORS)
    before = st.one_of(st.just(""), st.builds(str.__add__, st.text(), separator))
    after = st.one_of(st.just(""), st.builds(str.__add__, separator, st.text()))
    return st.builds(lambda b, secret, a: b + secret + a, before, secrets, after)


_ORDINARY = [
    *_words(
        "UNDERSTAND IMPLEMENT DEBUG OPTIMIZE TEST HYBRID SEMANTIC KEYWORD INDEXED hybrid semantic "
        "keyword qdrant fastembed voyage python typescript javascript rust go java c++ C# F# ruby "
        "kotlin swift 0.5.0 1.2.3-rc.1 v2.0.0b1 3.11.7 1.0.0.dev3 2026-11-28T01:04:35Z "
        "2026-11-28T01:04:35.123456+00:00 2026-11-28 01:04:35 find_code codeweaver_search "
        "$feature/new_reranker $feature/hybrid_search $process_person_profile $set $groups n/a "
        "text/plain application/json req/s and/or I/O 24/7 125.5 -3 1e-5 0 -0.0 inf nan true false "
        "codeweaver_session_v2 test_search_strategy_hybrid find_code_response_summary "
        "claude-3-5-sonnet-20241022 gpt-4o-mini-2024-07-18 text-embedding-3-small voyage-code-3 "
        "BAAI/bge-small-en-v1.5 sentence-transformers/all-MiniLM-L6-v2 x86_64-unknown-linux-gnu "
        "std::vector .py example.com Makefile @property [REDACTED]"
    ),
    "",
    "The quick brown fox jumps over the lazy dog.",
    "searched the index twice before answering",
    "e.g. this, i.e. that, etc.",
    "Is it fast? Yes, (mostly) fast!",
]
"""Values the guard must leave alone, from the module docstring of ``leak_guard`` and more."""

_WORDS = _words(
    "search index code find hybrid semantic keyword chunk embedding rerank query result session "
    "token cache vector store provider model language strategy response summary request match "
    "count status error latency understand implement debug optimize config document analyze "
    "file total average budget saved limit"
)


def _versions() -> SearchStrategy[str]:
    """``0.5.0``, ``v12.3rc1``, ``1.2.3-beta.2``, ``7``: one to three numbers, a suffix or not."""
    number = st.integers(0, 999).map(str)
    suffix = st.sampled_from(["", "a1", "b2", "rc1", "-rc.1", ".dev3", ".post1", "-beta.2"])
    return st.builds(
        lambda prefix, parts, tail: prefix + ".".join(parts) + tail,
        st.sampled_from(["", "v"]),
        st.lists(number, min_size=1, max_size=3),
        suffix,
    )


def _timestamps() -> SearchStrategy[str]:
    """ISO 8601 dates, times and timestamps, naive or with an offset, ``Z`` for UTC too."""
    offset = st.integers(-12 * 60, 14 * 60).map(
        lambda minutes: timezone(timedelta(minutes=minutes))
    )
    aware = st.builds(
        lambda moment, tz: moment.replace(tzinfo=tz).isoformat(), st.datetimes(), offset
    )
    return st.one_of(
        st.datetimes().map(lambda moment: moment.isoformat()),
        aware,
        st.datetimes().map(lambda moment: moment.isoformat(timespec="seconds") + "Z"),
        st.dates().map(lambda day: day.isoformat()),
        st.times().map(lambda moment: moment.isoformat()),
    )


def _identifiers() -> SearchStrategy[str]:
    """Enum-like names from plain words: ``HYBRID_SEARCH``, ``find_code_response_v2``."""
    words = st.lists(st.sampled_from(_WORDS), min_size=1, max_size=4, unique=True).map("_".join)
    version = st.one_of(st.just(""), st.integers(1, 9).map(lambda n: f"_v{n}"))
    name = st.builds(str.__add__, words, version)
    return st.one_of(name, name.map(str.upper), name.map(lambda n: "$" + n))


def _sentences() -> SearchStrategy[str]:
    """``search the index twice.``: plain words, one space apart."""
    return st.builds(
        lambda words, end: " ".join(words) + end,
        st.lists(st.sampled_from([*_WORDS, "the", "a", "of", "is", "was"]), min_size=1),
        st.sampled_from(["", ".", "!", "?"]),
    )


def ordinary_values() -> SearchStrategy[str]:
    """Values the guard must leave alone: enum names, languages, versions, timestamps, numbers.

    ``UNDERSTAND``, ``c++``, ``1.2.3-rc.1``, ``2026-11-28T01:04:35Z``, ``$feature/x``,
    ``text/plain``, ``-3``, ``1e-05``, ``find_code_response_v2``, plain sentences.
    """
    return st.one_of(
        st.sampled_from(_ORDINARY),
        _versions(),
        _timestamps(),
        _identifiers(),
        _sentences(),
        st.integers().map(str),
        st.floats().map(repr),
        _identifiers().map(lambda name: "$feature/" + name.lower().lstrip("$")),
    )


# ---------------------------------------------------------------------------------------------
# Canaries: markers planted where a secret would be, then searched for in the output.
# ---------------------------------------------------------------------------------------------

CANARY_PREFIX: Final = "CANARY"
"""Every canary starts with this; nothing the core produces on its own contains it."""


def canary_for(index: int) -> str:
    """The canary of the ``index``-th planted field.

    >>> canary_for(7)
    'CANARY0007QZ'
    """
    return f"{CANARY_PREFIX}{index:04d}QZ"


@dataclass(frozen=True)
class Planted:
    """A generated value and the canaries planted in it, by field path.

    ``literals`` are the canaries the test's policy must list as sensitive literals: the ones
    in undeclared text and in category labels, which only the leak guard can catch.
    """

    value: object
    canaries: Mapping[str, str]
    literals: frozenset[str] = frozenset()

    def leaks(self, output: str) -> list[str]:
        """The field paths whose canary appears in ``output`` (keys included), in any case."""
        folded = output.casefold()
        return sorted(path for path, canary in self.canaries.items() if canary.casefold() in folded)


@st.composite
def secret_carriers(draw: st.DrawFn, canary: str) -> object:
    """A value that holds ``canary`` as a whole word somewhere: text, bytes, list, dict, set.

    Draws values such as ``'CANARY0001QZ'``, ``b'CANARY0001QZ'``, ``['x', 'see CANARY0001QZ']``,
    ``{'CANARY0001QZ': 1}``, ``('a', {'k': ['/home/CANARY0001QZ/x.py']})``.
    """
    base = st.sampled_from(
        [canary, canary.encode(), f"see {canary} here", f"/home/{canary}/x.py", f"{canary}-2"]
    )
    # The bare canary comes first, so that Hypothesis draws it often and shrinks towards it.
    return draw(
        st.one_of(
            st.just(canary),
            st.recursive(
                base,
                lambda children: st.one_of(
                    st.lists(children, min_size=1, max_size=3),
                    st.tuples(st.sampled_from(["a", "b"]), children),
                    st.dictionaries(
                        st.sampled_from([canary, "k"]), children, min_size=1, max_size=2
                    ),
                    st.frozensets(st.sampled_from([canary, f"{canary} x"]), min_size=1),
                ),
                max_leaves=4,
            ),
        )
    )


@st.composite
def categorical_carriers(draw: st.DrawFn, canary: str) -> object:
    """A DISTRIBUTION input with ``canary`` where a label would be: bare, in a path or a phrase.

    Draws values such as ``'CANARY0002QZ'``, ``['python', '/srv/CANARY0002QZ/a.py']``,
    ``{'CANARY0002QZ': 3}``, ``('rust', 'CANARY0002QZ and more')``.
    """
    label = st.sampled_from([canary, f"/srv/{canary}/a.py", f"{canary} and more", f"{canary}.py"])
    other = st.sampled_from(["python", "rust", "docs"])
    return draw(
        st.one_of(
            label,
            st.lists(st.one_of(label, other), min_size=1, max_size=4),
            st.tuples(other, label),
            st.dictionaries(label, st.integers(0, 100), min_size=1, max_size=3),
        )
    )


_PLANTED_CONVERSIONS: Final = tuple(AnonymityConversion)


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
            values[name] = draw(st.one_of(st.integers(), st.booleans(), st.none(), st.floats()))
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


# ---------------------------------------------------------------------------------------------
# Hostile inputs: for the totality proofs.
# ---------------------------------------------------------------------------------------------

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


@st.composite
def hostile_values(draw: st.DrawFn) -> object:
    """Anything a careless or hostile host could hand over: NaN and infinities, huge and tiny
    integers, 10 MB strings, bytes, tuple and float keys, custom objects, objects whose
    ``__str__``, ``__len__``, ``__iter__``, ``__eq__`` or ``__bool__`` raise, self-containing
    lists and dicts, and nesting thousands of levels deep.

    Draws values such as ``[nan, b'\\x00', Hostile({'__len__'})]``, ``{(1, 2): inf}``, or a list
    that contains itself.
    """
    leaves = st.one_of(
        st.floats(),
        st.integers(min_value=-(2**80), max_value=2**80),
        st.text(max_size=20),
        st.binary(max_size=8),
        st.none(),
        st.booleans(),
        st.builds(Hostile, st.frozensets(st.sampled_from(HOSTILE_METHODS))),
        st.builds(object),
        st.just(huge_text()) if draw(st.integers(0, 9)) == 0 else st.nothing(),
        st.sampled_from(AnonymityConversion),
        st.datetimes(),
    )
    keys = st.one_of(
        st.text(max_size=8), st.integers(), st.floats(), st.tuples(st.integers(), st.integers())
    )
    value = draw(
        st.recursive(
            leaves,
            lambda children: st.one_of(
                st.lists(children, max_size=4),
                st.tuples(children, children),
                st.dictionaries(keys, children, max_size=4),
                st.frozensets(st.one_of(st.integers(), st.text(max_size=4)), max_size=4),
            ),
            max_leaves=12,
        )
    )
    shape = draw(st.sampled_from(["as is", "cycle", "deep"]))
    if shape == "cycle":
        loop: list[object] = [value]
        loop.append({"again": loop})
        return loop
    if shape == "deep":
        for _ in range(draw(st.integers(20, 3_000))):
            value = [value]
    return value


# ---------------------------------------------------------------------------------------------
# The integrator's kit: canaries in every free-text field of your own model type.
# ---------------------------------------------------------------------------------------------


def canary_instances(model_type: type) -> st.SearchStrategy[Planted]:
    """Instances of ``model_type`` with a canary in every field that can hold free text.

    Fields typed as ``str`` or ``bytes``, or as collections and mappings of them, get a canary
    whether they are declared or not; fields typed as Enum, Literal, bool or numbers are
    generated by Hypothesis and left alone; fields holding another model are filled the same
    way, recursively. Fields declared DISTRIBUTION send their category labels by design, so
    they get path-shaped canaries, which the filter must send hashed.
    Supports dataclasses, attrs classes and pydantic models.
    """
    return st.deferred(lambda: _instances(model_type, "", iter(range(10_000))))


def assert_never_leaks(
    model_type: type, *, policy: PrivacyPolicy | None = None, max_examples: int = 100
) -> None:
    """Fail, naming each field, if any canary of :func:`canary_instances` reaches the output.

    Checks both privacy modes. Drop it into your own test suite::

        def test_my_model_never_leaks():
            assert_never_leaks(MyModel)
    """
    base = policy or PrivacyPolicy(hash_key=b"codeweaver-telemetry-leak-check")

    @settings(max_examples=max_examples, database=None, deadline=None)
    @given(planted=canary_instances(model_type), opted_in=st.booleans())
    def check(planted: Planted, opted_in: bool) -> None:
        mode = dataclasses.replace(base, tools_over_privacy=opted_in)
        result = serialize_for_telemetry(planted.value, mode)
        output = json.dumps(result.unwrap()) if is_successful(result) else str(result.failure())
        leaking = planted.leaks(output)
        if leaking:
            raise AssertionError(
                f"{model_type.__name__}: the canary of {', '.join(map(repr, leaking))} reached "
                "the telemetry output; declare the field(s) in _telemetry_keys()"
            )

    check()


def _instances(model_type: type, prefix: str, counter: Iterator[int]) -> st.SearchStrategy[Planted]:
    declarations = _declarations_of(model_type)
    fields = {
        name: _planted_field(hint, f"{prefix}{name}", declarations.get(name), counter)
        for name, hint in _field_hints(model_type).items()
    }

    def build(planted: dict[str, Planted]) -> Planted:
        values = {name: field.value for name, field in planted.items()}
        canaries = {
            path: canary for field in planted.values() for path, canary in field.canaries.items()
        }
        return Planted(_construct(model_type, values), canaries)

    return st.fixed_dictionaries(fields).map(build)


def _planted_field(
    hint: object, path: str, conversion: AnonymityConversion | None, counter: Iterator[int]
) -> st.SearchStrategy[Planted]:
    canary = canary_for(next(counter))
    text = f"/srv/{canary}/a.py" if conversion is AnonymityConversion.DISTRIBUTION else canary
    carrier = _carrier(hint, text, path, counter)
    if carrier is None:
        return _uncanaried(hint)
    return carrier.map(lambda planted: Planted(planted.value, {path: canary, **planted.canaries}))


def _uncanaried(hint: object) -> st.SearchStrategy[Planted]:
    """Any value of a type that cannot hold free text, with no canary in it."""
    # ``object`` would draw anything at all, coroutines included; plain data is what a
    # model's untyped field holds in practice.
    values = _PLAIN_DATA if hint is object else st.from_type(hint)  # type: ignore[arg-type]
    return values.map(lambda value: Planted(value, {}))


_PLAIN_DATA: Final = st.one_of(st.none(), st.booleans(), st.integers(), st.floats())


def _carrier(
    hint: object, text: str, path: str, counter: Iterator[int]
) -> st.SearchStrategy[Planted] | None:
    """A strategy holding ``text`` for a free-text type, or None for a type that cannot hold it."""
    origin, arguments = typing.get_origin(hint), typing.get_args(hint)
    if hint is str:
        return st.just(Planted(text, {}))
    if hint is bytes:
        return st.just(Planted(text.encode(), {}))
    if isinstance(hint, type) and is_model_type(hint):
        return st.deferred(lambda: _instances(hint, f"{path}.", counter))
    if origin in (typing.Union, types.UnionType):
        options = [
            option
            for argument in arguments
            if argument is not type(None)
            and (option := _carrier(argument, text, path, counter)) is not None
        ]
        return st.one_of(options) if options else None
    if origin in (list, tuple, set, frozenset) or origin in _ABSTRACT_COLLECTIONS:
        item = _carrier(arguments[0] if arguments else str, text, path, counter)
        build = tuple if origin is tuple else frozenset if origin in (set, frozenset) else list
        return (
            None
            if item is None
            else item.map(lambda planted: Planted(build([planted.value]), planted.canaries))
        )
    if origin in (dict,) or origin in _ABSTRACT_MAPPINGS:
        key_hint, value_hint = arguments if arguments else (str, str)
        key = _carrier(key_hint, text, path, counter)
        value = _carrier(value_hint, text, path, counter)
        if key is None and value is None:
            return None
        keys = key if key is not None else _uncanaried(key_hint)
        values = value if value is not None else _uncanaried(value_hint)
        return st.tuples(keys, values).map(
            lambda pair: Planted(
                {pair[0].value: pair[1].value}, {**pair[0].canaries, **pair[1].canaries}
            )
        )
    return None


_ABSTRACT_COLLECTIONS: Final = (
    collections.abc.Iterable,
    collections.abc.Collection,
    collections.abc.Sequence,
    collections.abc.MutableSequence,
    collections.abc.Set,
    collections.abc.MutableSet,
)
_ABSTRACT_MAPPINGS: Final = (collections.abc.Mapping, collections.abc.MutableMapping)


def _field_hints(model_type: type) -> dict[str, object]:
    """The type of each field that the constructor takes, by field name."""
    pydantic_fields = getattr(model_type, "__pydantic_fields__", None)
    if isinstance(pydantic_fields, dict):
        return {name: info.annotation for name, info in pydantic_fields.items()}
    hints = typing.get_type_hints(model_type)
    if dataclasses.is_dataclass(model_type):
        fields = dataclasses.fields(model_type)
        return {field.name: hints[field.name] for field in fields if field.init}
    attributes = getattr(model_type, "__attrs_attrs__", ())
    return {item.name: hints.get(item.name, str) for item in attributes if item.init}


def _construct(model_type: type, values: dict[str, object]) -> object:
    """An instance from field values: pydantic models unvalidated, attrs fields by their alias."""
    construct = getattr(model_type, "model_construct", None)
    if callable(construct):
        return construct(**values)
    aliases = {item.name: item.alias for item in getattr(model_type, "__attrs_attrs__", ())}
    return model_type(**{aliases.get(name, name): value for name, value in values.items()})


def _declarations_of(model_type: type) -> Mapping[str, AnonymityConversion]:
    """The type's declarations, read from an instance whose fields are not set yet."""
    try:
        return declared_keys(object.__new__(model_type))
    except Exception:  # noqa: BLE001 - declarations that need field values: plant bare canaries
        return {}
