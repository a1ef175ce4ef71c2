"""The leak guard, pinned to exact verdicts: what it flags, what it leaves alone, how it redacts."""

from __future__ import annotations

import copy

import pytest

from codeweaver_telemetry.core.leak_guard import REDACTED, LeakKind, find_leak, guard_payload
from codeweaver_telemetry.core.vocabulary import JSONValue

K = LeakKind
LITERALS = ("acme-repo", "devbox", "alice", "/home/alice", "john smith")
"""Lower-cased, 3+ characters, as ``PrivacyPolicy.literal_tokens`` holds them."""

SHA256_HEX = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
KEYED_DIGEST = "5e884898da28047151d0e56f8dc62927"
AWS_KEY = "AKIAIOSFODNN7EXAMPLE"
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
    "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
)
PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7\n-----END RSA PRIVATE KEY-----"

# Label-shaped secrets without a digit, which the high-entropy rule used to need.
HF_LETTERS = "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"
GOOGLE_LETTERS = "AIzaSyBxKqWmZpLrTnVsYcJdFgHkQwErTyUiOpA"
NPM_LETTERS = "npm_aBcDeFgHiJkLmNoPqRsTuVwXyZaBcDeFgHiJ"
PYPI_LETTERS = "pypi-AgEIcHlwaSvcmcQhVbXkTzRmWcJpLsNdFgYtKeWqZxPvBnXKQZV"
AZURE_SECRET = "abc8Q~XyKQmPsLrnTvWzBcDfGhJkLmNqRsTvWxYz"
AZURE_OLD_SECRET = "Jk8~Qp2.Zr5-Wm7_Xv3~Ln9.Ts4-Bg6_Hd1x"
RANDOM_LETTERS = "QhVbXkTzRmWcJpLsNdFgYtKeWqZxPvBn"

SECRETS: dict[LeakKind, list[str]] = {
    K.PATH: [
        "/etc/x",
        "/home/u",
        "/etc",
        "/.ssh/id_rsa",
        "~/notes",
        "~alice/x",
        "./x",
        "../x",
        "..\\x",
        "C:\\x",
        "c:/x",
        "C:\\Program Files\\App",
        "\\\\server\\share",
        "//server/share",
        "a/b/c",
        "a\\b\\c",
        "src/auth.py",
        "docs\\intro.md",
        "path:/etc/x",
        "-I/usr/include",
    ],
    K.FILE_NAME: [
        "auth.py",
        "settings.yaml",
        ".env",
        ".env.local",
        ".bashrc",
        "main.rs",
        "index.tsx",
        "Cargo.toml",
        "notes.md",
        "README.MD",
        "analysis.ipynb",
        "main.c",
        "db.sqlite3",
        "id_rsa.pub",
        "auth.py_old",
        # Document, data, build, key and state files (issue 9).
        "Payments.csproj",
        "Payments.vbproj",
        "Payments.sln",
        "terraform.tfstate",
        "site.tfstate.backup",
        "model.safetensors",
        "Budget.numbers",
        "mail.pst",
        "disk.qcow2",
        "private.asc",
        "secrets.kdb",
        "backup.zst",
        "archive.7z",
        # SSH key and trust files, which have no extension.
        "id_rsa",
        "id_dsa",
        "id_ecdsa",
        "id_ed25519",
        "id_ed25519_sk",
        "ID_RSA",
        "authorized_keys",
        "known_hosts",
        "backup_id_rsa_2026_01_01",
        "id_rsa-cert",
        "known_hosts.old",
        # Captures, dumps, cluster credentials, encrypted files and raw photos (red team).
        "capture_2026.pcap",
        "capture.pcapng",
        "login_session.har",
        "heap_dump.hprof",
        "Heap.heapsnapshot",
        "crash.mdmp",
        "Security.evtx",
        "prod.kubeconfig",
        "secrets.enc",
        "IMG_2041.dng",
        "DSC_0042.NEF",
        "IMG_0001.CR2",
        "IMG_0001.cr3",
        "DSC00042.ARW",
        "DSCF0042.RAF",
        "P1000042.ORF",
        "P1000042.RW2",
        "IMG_0001.heif",
        "photo.avif",
    ],
    K.HOST_NAME: [
        "example.com",
        "EXAMPLE.COM",
        "db-prod-01.internal.acme.com",
        "build-host-7.local",
        "api.corp",
        "x.internal",
        "ci.lan",
        "foo.home.arpa",
        "git.acme.io",
        "acme.co.uk",
        "localhost.localdomain",
        "consul.service.consul",
        "dc01.acme.int",
        "vault.acme.systems",
        "ci.acme.services",
    ],
    K.MAC_ADDRESS: [
        "00:1a:2b:3c:4d:5e",
        "00-1A-2B-3C-4D-5E",
        "001a.2b3c.4d5e",
        "00:11:22:33:44:55",
    ],
    K.URL: ["https://example.com", "file:///x", "s3://bucket/key", "postgres://u@h/db"],
    K.EMAIL: ["alice@example.com", "bob.smith+tag@mail.example.co.uk", "a@b.io"],
    K.IP_ADDRESS: [
        "10.0.0.1",
        "192.168.1.20:8080",
        "999.1.2.3",
        "::1",
        "fe80::1%eth0",
        "2001:db8::1",
        "[::1]:8080",
        "fe80::",
        "::ffff:1.2.3.4",
        "2001:0db8:0000:0000:0000:ff00:0042:8329",
    ],
    K.CREDENTIAL: [
        AWS_KEY,
        "ASIAQWERTYUIOP123456",
        "ghp_" + "a1B2" * 9,
        "gho_" + "Zz09" * 9,
        "github_pat_" + "11ABCDEFG0" * 3,
        "glpat-" + "x1Y2-" * 4,
        "xoxb-1234567890-abcdefgh",
        "xapp-1-A1B2C3D4E5",
        "sk-" + "a1B2c3D4" * 3,
        "sk-proj-" + "Zz9Yy8Xx7" * 3,
        "sk-ant-api03-" + "q1W2e3R4" * 3,
        "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
        "rk_live_" + "a1b2C3d4" * 2,
        "phc_" + "A1b2C3d4E5" * 2,
        "phx_" + "A1b2C3d4E5" * 2,
        JWT,
        PEM,
        "-----BEGIN OPENSSH PRIVATE KEY-----",
        "-----BEGIN PGP PRIVATE KEY BLOCK-----",
        SHA256_HEX,
        KEYED_DIGEST,
        "550e8400-e29b-41d4-a716-446655440000",
        "wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY1",
        "3q2+7wAAAAAx9Zk1LmNoPqRsTuVw==",
        "k3J9dXq0Zm2pT7wL4nS8",
        "session_3f2a9c0b1d4e5f60718293a4b5c6d7e8",
        HF_LETTERS,
        "hf_" + "abcdefghijklmnopqrstuvwxyzabcdefgh",
        GOOGLE_LETTERS,
        NPM_LETTERS,
        PYPI_LETTERS,
        AZURE_SECRET,
        AZURE_OLD_SECRET,
        RANDOM_LETTERS,
        "qzxvbnmkjhgfdswrtplkjhgf",
        "XKQZVBNMWRTPLJHGFDSZXCVB",
        "AbCdEfGhIjKlMnOpQrStUv",
    ],
}

CONTEXTS = [
    "{}",
    "see {} now",
    "key={}",
    "({})",
    '"{}"',
    "'{}'",
    "[{}]",
    "<{}>",
    "value: {}",
    "{}, then more",
    "the last one is {}",
    "{}.",
    "first {}; second",
    "tab\t{}\nnewline",
]


def positive_cases() -> list[tuple[LeakKind, str]]:
    return [(kind, secret) for kind, secrets in SECRETS.items() for secret in secrets]


@pytest.mark.parametrize(("kind", "secret"), positive_cases())
def test_each_kind_is_found_on_its_own(kind: LeakKind, secret: str) -> None:
    assert find_leak(secret) is kind


@pytest.mark.parametrize("context", CONTEXTS)
@pytest.mark.parametrize(("kind", "secret"), positive_cases())
def test_each_kind_is_found_wherever_it_sits(kind: LeakKind, secret: str, context: str) -> None:
    assert find_leak(context.format(secret)) is kind


ORDINARY = [
    "",
    "UNDERSTAND",
    "HYBRID",
    "hybrid",
    "qdrant",
    "python",
    "typescript",
    "rust",
    "c++",
    "C#",
    "F#",
    "0.5.0",
    "1.2.3-rc.1",
    "v2.0.0b1",
    "3.11.7",
    "1.0.0.dev3",
    "2026-11-28T01:04:35Z",
    "2026-11-28T01:04:35.123456+00:00",
    "2026-11-28T01:04:35-05:00",
    "2026-11-28",
    "01:04:35",
    "2026-12-01T08:37:52.123456+00:00",
    "find_code",
    "codeweaver_search",
    "$feature/new_reranker",
    "$process_person_profile",
    "n/a",
    "text/plain",
    "application/json",
    "application/vnd.api+json",
    "image/svg+xml",
    "req/s",
    "and/or",
    "I/O",
    "24/7",
    "TCP/IP",
    "125.5",
    "-3",
    "1e-5",
    "1.7976931348623157e+308",
    "-1.2345678901234567e-05",
    "123456789012345678901234567890",
    "The quick brown fox jumps over the lazy dog.",
    "searched the index twice before answering",
    "Is it fast? Yes, (mostly) fast!",
    "e.g. this, i.e. that, etc.",
    "Washington, D.C. at 3 p.m.",
    "codeweaver_session_v2",
    "test_search_strategy_hybrid",
    "find_code_response_summary",
    "claude-3-5-sonnet-20241022",
    "gpt-4o-mini-2024-07-18",
    "text-embedding-3-small",
    "voyage-code-3",
    "BAAI/bge-small-en-v1.5",
    "sentence-transformers/all-MiniLM-L6-v2",
    "nomic-ai/nomic-embed-text-v1.5",
    "x86_64-unknown-linux-gnu",
    "std::vector",
    "foo::bar",
    ".py",
    "Makefile",
    "@property",
    "pkg@1.2.3",
    "::",
    "-----",
    REDACTED,
    f"why does {REDACTED} fail for {REDACTED}",
    # Labels made of words: identifiers, enum and model names, with or without digits.
    "codeweaver_session",
    "SearchStrategyHybridRerank",
    "tool_latency_ms",
    "gpt-4o-mini",
    "BAAI-bge-small-en-v1.5",
    "bge-small-en-v1.5",
    "sentence_transformers",
    "internationalization",
    "XMLHttpRequestEventTarget",
    "AbstractSingletonProxyFactoryBean",
    "ProviderKindHuggingFaceInference",
    "HTTP_PROXY_AUTHORIZATION",
    "my-long-blog-post-title-here",
    "Snowflake-arctic-embed-m-long",
    "cohere.embed-english-v3",
    "amazon.titan-embed-text-v2:0",
    # Dotted names that are not hosts: an enum member, a version, sentences' abbreviations.
    "Mode.LOCAL",
    "1.0.dev",
    "gemini-1.5-pro",
    "e.g.",
    # Words that name sensitive files only inside a path, which the wire alphabet excludes.
    "credentials",
    "shadow",
    "passwd",
    # Attribute names whose last part is a short top-level domain or a word like an extension.
    "user.id",
    "session.id",
    "request.id",
    "service.instance.id",
    "uuid.int",
    "value.int",
    "cache.age",
    "budget.cap",
]


@pytest.mark.parametrize("value", ORDINARY)
def test_ordinary_values_are_left_alone(value: str) -> None:
    assert find_leak(value) is None
    assert find_leak(value, LITERALS) is None


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("1.2.3.4", K.IP_ADDRESS),
        ("11/28/2026", K.PATH),
        ("read/write/exec", K.PATH),
        ("/help", K.PATH),
        ("Node.js", K.FILE_NAME),
        ("console.log", K.FILE_NAME),
        ("docs.rs", K.FILE_NAME),
        ("cafe::bad", K.IP_ADDRESS),
        ("AsyncAWSXRayRecorder", K.CREDENTIAL),
        ("logging.info", K.HOST_NAME),
        ("threading.local", K.HOST_NAME),
        ("json.dump", K.FILE_NAME),
        ("mistral.ai", K.FILE_NAME),
        ("backup-26-11-28-01-04-35", K.MAC_ADDRESS),
    ],
)
def test_documented_false_positives_stay_flagged(value: str, kind: LeakKind) -> None:
    assert find_leak(value) is kind


@pytest.mark.parametrize(
    "value",
    [
        "user@localhost",
        "a1b2c3d4e5f6a1b2c3",
        "QhVbXkTzRm_WcJpLsNdF",
        "backup_id_rsa",
        "Example.COM",
        "jira.acme.id",
        "acme.int",
        "db01.prod",
        "redis-master.payments",
        "backup.age",
        "capture.cap",
    ],
)
def test_documented_false_negatives_stay_unflagged(value: str) -> None:
    # Shorter than 20 characters, letters in short stretches only, a key file's name joined to
    # other words in a short plain word, a host written like an enum member, or no rule at all:
    # see the module docstring.
    assert find_leak(value) is None


@pytest.mark.parametrize(
    "text",
    [
        "alice",
        "Alice",
        "ALICE",
        "alice's",
        "user alice",
        "(alice)",
        "owner=alice",
        "alice.",
        "malice and alice",
        "aliceb alice",
        "acme-repo",
        "the acme-repo repository",
        "ACME-REPO.",
        "on devbox",
        "John Smith said",
        "john smith",
        # A literal that is not a plain word, in any spelling of its separators, ended by "_".
        "acme_repo",
        "ACME.REPO",
        "acme-repo_ci",
        "ci_acme_repo",
        "Acme_Repo_Prod",
        "build acme_repo now",
    ],
)
def test_literals_match_case_insensitively_as_whole_tokens(text: str) -> None:
    assert find_leak(text, LITERALS) is K.SENSITIVE_LITERAL


@pytest.mark.parametrize(
    "text",
    ["malice", "alice_b", "alice2", "aliceb", "acme-repos", "devbox1", "my_devbox", "johnsmith"],
)
def test_literals_inside_longer_words_are_not_matched(text: str) -> None:
    assert find_leak(text, LITERALS) is None


MACHINE_LITERALS = (
    "payments-internal",
    "acme-corp",
    "build-host-7",
    "alice2",
    "search",
    "python",
    "api",
    "docs",
)
"""A machine whose repository, remote owner, host and user are compound names, and whose folders
have common names."""


@pytest.mark.parametrize(
    "label",
    [
        "payments-internal_prod",
        "payments_internal",
        "PAYMENTS_INTERNAL",
        "acme-corp_ci",
        "acme_corp",
        "build_host_7",
        "build-host-7_cache",
        "alice2_test",
        "ALICE2_sessions",
    ],
)
def test_compound_literals_are_found_joined_by_underscores(label: str) -> None:
    assert find_leak(label, MACHINE_LITERALS) is K.SENSITIVE_LITERAL


@pytest.mark.parametrize(
    "label",
    [
        "search_count",
        "python_version",
        "api_calls",
        "docs_url",
        "SEARCH_RESULTS",
        "codeweaver_search",
        "acme-corps",
        "payments-internals",
        "alice23",
        "build-host-70",
    ],
)
def test_plain_word_literals_and_longer_names_are_left_alone(label: str) -> None:
    # A literal of letters only is joined to other words by "_"; any literal is joined to a
    # letter or digit that follows it.
    assert find_leak(label, MACHINE_LITERALS) is None


@pytest.mark.parametrize("label", ["paymentsinternal", "PaymentsInternal", "acmecorp"])
def test_compound_literals_without_separators_stay_unflagged(label: str) -> None:
    # Documented false negative: see the module docstring.
    assert find_leak(label, MACHINE_LITERALS) is None


def test_literals_are_only_matched_when_given() -> None:
    assert find_leak("alice") is None
    assert find_leak("user alice", ()) is None


def test_other_kinds_come_before_literals() -> None:
    assert find_leak("/home/alice", LITERALS) is K.PATH
    assert find_leak("alice@example.com", LITERALS) is K.EMAIL


def test_the_first_leaking_word_decides_the_kind() -> None:
    assert find_leak("from 10.0.0.1 to /etc/x") is K.IP_ADDRESS
    assert find_leak("to /etc/x from 10.0.0.1") is K.PATH


@pytest.mark.parametrize(
    "digest", [KEYED_DIGEST, SHA256_HEX, "550e8400-e29b-41d4-a716-446655440000"]
)
def test_random_hex_and_uuids_are_taken_for_secrets(digest: str) -> None:
    assert find_leak(digest) is K.CREDENTIAL


@pytest.mark.parametrize(
    "value",
    ["a" * 10_000, "a@" * 5_000, "/" * 10_000, "a:" * 5_000, "-" * 10_000, "eyJ" * 3_000],
)
def test_long_degenerate_strings_are_answered(value: str) -> None:
    assert find_leak(value, LITERALS) is None


# --- guard_payload ----------------------------------------------------------------------------


def test_guard_payload_redacts_nested_strings_and_keys_and_counts_them() -> None:
    payload: JSONValue = {
        "intent": "UNDERSTAND",
        "version": "0.5.0",
        "where": "/home/bob/src/auth.py",
        "who": "Alice",
        "/etc/hosts": 1,
        "matches": [
            {"file": "auth.py", "score": 0.9, "language": "python"},
            {"file": "notes", "score": 0.5, "url": "https://example.com"},
        ],
        "tags": ["hybrid", "alice@example.com", True, None, 3],
        "nested": {"deeper": {"ip": "10.0.0.1", "ok": "qdrant"}},
    }
    guarded, count = guard_payload(payload, LITERALS)
    assert guarded == {
        "intent": "UNDERSTAND",
        "version": "0.5.0",
        "where": REDACTED,
        "who": REDACTED,
        REDACTED: 1,
        "matches": [
            {"file": REDACTED, "score": 0.9, "language": "python"},
            {"file": "notes", "score": 0.5, "url": REDACTED},
        ],
        "tags": ["hybrid", REDACTED, True, None, 3],
        "nested": {"deeper": {"ip": REDACTED, "ok": "qdrant"}},
    }
    assert count == 7


def test_guard_payload_does_not_mutate_its_input() -> None:
    payload: JSONValue = {"a": ["/etc/x", {"~/y": "z"}], "b": "ok"}
    before = copy.deepcopy(payload)
    guarded, count = guard_payload(payload)
    assert payload == before
    assert guarded == {"a": [REDACTED, {REDACTED: "z"}], "b": "ok"}
    assert count == 2
    assert isinstance(guarded, dict)
    assert isinstance(payload, dict)
    assert guarded["a"] is not payload["a"]


def test_flagged_keys_get_numbered_names_when_taken() -> None:
    payload: JSONValue = {"/etc/a": 1, "/etc/b": 2, "ok": 3, "~/c": 4}
    assert guard_payload(payload) == (
        {REDACTED: 1, f"{REDACTED}#2": 2, "ok": 3, f"{REDACTED}#3": 4},
        3,
    )


def test_renamed_keys_never_overwrite_kept_keys() -> None:
    payload: JSONValue = {"/etc/a": 1, "/etc/b": 2, REDACTED: "kept", f"{REDACTED}#2": "kept too"}
    guarded, count = guard_payload(payload)
    assert guarded == {
        f"{REDACTED}#3": 1,
        f"{REDACTED}#4": 2,
        REDACTED: "kept",
        f"{REDACTED}#2": "kept too",
    }
    assert count == 2


def test_a_flagged_key_and_its_flagged_value_count_twice() -> None:
    assert guard_payload({"alice@example.com": "/etc/x"}) == ({REDACTED: REDACTED}, 2)


def test_vetted_strings_are_not_checked_again() -> None:
    payload: JSONValue = {"query_hash": KEYED_DIGEST, KEYED_DIGEST: 2, "other": SHA256_HEX}
    guarded, count = guard_payload(payload, (), frozenset({KEYED_DIGEST}))
    assert guarded == {"query_hash": KEYED_DIGEST, KEYED_DIGEST: 2, "other": REDACTED}
    assert count == 1
    assert guard_payload([KEYED_DIGEST]) == ([REDACTED], 1)


@pytest.mark.parametrize("scalar", [None, True, False, 0, -3, 1.5, "hybrid"])
def test_scalars_pass_unchanged(scalar: JSONValue) -> None:
    assert guard_payload(scalar) == (scalar, 0)


def test_a_flagged_top_level_string_is_replaced() -> None:
    assert guard_payload("/etc/passwd") == (REDACTED, 1)


def test_tuples_are_guarded_like_lists() -> None:
    payload: JSONValue = {"t": ("/etc/x", "ok")}  # type: ignore[dict-item]
    assert guard_payload(payload) == ({"t": [REDACTED, "ok"]}, 1)


def test_empty_containers_stay_empty() -> None:
    assert guard_payload({"a": [], "b": {}}) == ({"a": [], "b": {}}, 0)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("ip-10-0-1-23", LeakKind.IP_ADDRESS),
        ("10-0-1-23", LeakKind.IP_ADDRESS),
        ("ip-10-0-1-23.ec2.internal", LeakKind.IP_ADDRESS),
        ("001A2B3C4D5E", LeakKind.MAC_ADDRESS),
        ("payments-db.billing.svc", LeakKind.HOST_NAME),
        ("api.payments.svc.cluster.local", LeakKind.HOST_NAME),
    ],
)
def test_addresses_and_host_names_a_review_found_unflagged(text: str, kind: LeakKind) -> None:
    assert find_leak(text) is kind


@pytest.mark.parametrize("text", ["2026-11-28", "1-2-3", "deadbeefcafe", "123456789012", "v1-2"])
def test_dates_short_dashed_numbers_and_hex_words_without_digits_pass(text: str) -> None:
    assert find_leak(text) is None


@pytest.mark.parametrize("name", ["test_rfc2047_rfc2047_1", "hybrid-hybrid-hybrid-v1.5"])
def test_a_run_that_says_a_part_twice_is_a_name_not_noise(name: str) -> None:
    assert find_leak(name) is None
