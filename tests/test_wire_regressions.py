"""Every leak an audit found on the deny-list design, as a careless host would make it, through
the stdout sink's exact lines and a PostHog-compatible server on 127.0.0.1.

Each secret is planted where a host would put it (an undeclared property's value and key,
session metadata, a context tag, the opted-in query, the library's own label maps) and must not
reach the output in any form; most are of shapes no pattern of the leak guard knows.
"""

from __future__ import annotations

import dataclasses
import io
import json
import platform
from collections.abc import Iterator

import pytest
from domain_samples import empty_summary
from fake_posthog import FakePostHog

from codeweaver_telemetry.adapters import NullSink, StdoutSink, TelemetryClient
from codeweaver_telemetry.adapters.posthog_sink import Endpoint, posthog_sink
from codeweaver_telemetry.core import PrivacyPolicy, SessionStatistics
from codeweaver_telemetry.core.settings import RawSources, TelemetrySettings, resolve_settings

HF_TOKEN = "hf_" + "QwErTyUiOpAsDfGhJkLzXcVbNmQwErTyUi"  # 34 letters, no digit

# (what is planted, the part of it that must not appear anywhere in the output)
LEAKS: dict[str, tuple[str, str]] = {
    "python code": ("def charge(card): return stripe.Charge.create(amount=100)", "stripe"),
    "sql": ("SELECT ssn FROM employees WHERE name = 'Bob'", "employees"),
    "a shell line": ("scp /srv/payroll.db bob@backup:/tmp && rm -rf /srv", "payroll"),
    "a hugging face token": (HF_TOKEN, HF_TOKEN[3:]),
    "password=": ("password=hunter2xyz", "hunter2xyz"),
    "a libpq dsn": ("host=db user=admin password=s3cretpw", "s3cretpw"),
    "an ado connection string": ("Server=db;User Id=sa;Password=Adm1nPass;", "Adm1nPass"),
    "a percent-encoded path": ("%2Fhome%2Fbobby%2Fsalaries", "salaries"),
    "a one-separator path": ("etc/passwd", "passwd"),
    "a source folder": ("src/billing", "billing"),
    "a windows folder": ("Documents\\payrollq", "payrollq"),
    "a repository slug": ("acme-corp/payments-internal", "payments-internal"),
    "a host name": ("db-prod-01.internal.acme.com", "db-prod-01"),
    "a non-ascii e-mail": ("kåre.sjöö@acme-corp.se", "sjöö"),
    "a mac address": ("00:1a:2b:3c:4d:5e", "4d:5e"),
    "a spreadsheet": ("salaries_2026.xlsx", "salaries_2026"),
    "a project file": ("Payments.csproj", "Payments"),
    "terraform state": ("terraform.tfstate", "tfstate"),
}


def settings(**arguments: object) -> TelemetrySettings:
    return resolve_settings(RawSources(arguments=arguments, environment={})).unwrap()


def policy(*, opted_in: bool = False, literals: frozenset[str] = frozenset()) -> PrivacyPolicy:
    return PrivacyPolicy(
        hash_key=b"k" * 32, tools_over_privacy=opted_in, sensitive_literals=literals
    )


def stdout_client(stream: io.StringIO, *, opted_in: bool = False) -> TelemetryClient:
    chosen = policy(opted_in=opted_in)
    return TelemetryClient(settings(), policy=chosen, sink=StdoutSink(stream=stream))


def plant(client: TelemetryClient, secret: str) -> None:
    """The secret everywhere a host puts text: metadata, a tag, a property's value and key."""
    client.start_session({"version": "0.5.0", "note": secret, secret: 1})
    with client.context(tool="find_code", detail=secret):
        client.capture("codeweaver_search", {"intent": "UNDERSTAND", "snippet": secret, secret: 2})
    client.end_session()


@pytest.mark.parametrize(("secret", "tell"), list(LEAKS.values()), ids=list(LEAKS))
def test_no_shape_of_secret_reaches_the_stdout_lines(secret: str, tell: str) -> None:
    stream = io.StringIO()
    client = stdout_client(stream)
    plant(client, secret)
    client.shutdown()
    output = stream.getvalue()
    assert len(output.splitlines()) == 2  # the event and the session event are still sent
    decoded = json.dumps([json.loads(line) for line in output.splitlines()], ensure_ascii=False)
    assert tell not in output
    assert tell not in decoded  # the lines escape non-ASCII: look at what they say
    first = json.loads(output.splitlines()[0])
    assert first["properties"]["intent"] == "UNDERSTAND"
    assert first["properties"]["tool"] == "find_code"


@pytest.mark.parametrize(
    ("query", "sent"),
    [
        (
            "def charge(card): return stripe.Charge.create(amount=100)",
            "def [REDACTED] return [REDACTED]",
        ),
        (
            r"open C:\Users\bob\My Documents\Q3 Payroll\x.xlsx now",
            "open [REDACTED] now",
        ),
        ("where is password=hunter2 used", "where is [REDACTED] used"),
        ("how does the auth flow work", "how does the auth flow work"),
    ],
)
def test_the_opted_in_query_is_sent_as_plain_words_only(query: str, sent: str) -> None:
    stream = io.StringIO()
    client = stdout_client(stream, opted_in=True)
    client.capture_search_event(
        empty_summary(), query=query, intent_type=None, strategies=[], execution_time_ms=1.0
    )
    client.shutdown()
    (line,) = stream.getvalue().splitlines()
    assert json.loads(line)["properties"]["query_text"] == sent


def test_a_hosts_dollar_properties_never_override_the_librarys() -> None:
    sink = NullSink(keep=True)
    client = TelemetryClient(settings(), policy=policy(), sink=sink)
    client.start_session({"$process_person_profile": True, "$ip": "203.0.113.9"})
    with client.context(**{"$geoip_disable": False, "$feature/x": "on"}):
        client.capture("e", {"$set": {"name": "Bob"}, "$os": "Linux 6.8 build-host-7"})
    client.shutdown()
    (event,) = sink.events
    properties = event.properties
    assert properties["$process_person_profile"] is False
    assert properties["$geoip_disable"] is True
    assert properties["$os"] == (platform.system() or "unknown")
    assert {key for key in properties if key.startswith("$")} == {
        "$lib",
        "$lib_version",
        "$os",
        "$python_version",
        "$geoip_disable",
        "$process_person_profile",
        "$session_id",
    }
    assert properties["privacy_filter"] == {"dropped": 6, "redacted": 0}


def test_the_librarys_own_label_maps_send_no_host_text() -> None:
    stream = io.StringIO()
    client = stdout_client(stream)
    stats = SessionStatistics(
        operations={HF_TOKEN: 1, "search": 3},
        config_flags={"password=hunter2": True, "reranking": True},
        active_store="db-prod-01.internal.acme.com",
        tool_latencies_ms={"acme-corp/payments-internal": (3.0,), "find_code": (5.0,)},
        languages={"/home/bob/secret.py": 2, "python": 10},
        setup_error_kinds=("password=hunter2",),
    )
    client.capture_session_event(stats, version="0.5.0 (build-host-7)")
    client.shutdown()
    (line,) = stream.getvalue().splitlines()
    for tell in (HF_TOKEN, "hunter2", "db-prod-01", "payments-internal", "secret.py", "build-host"):
        assert tell not in line
    properties = json.loads(line)["properties"]
    assert properties["operations"] == {"search": 3, "__other__": 1}
    assert properties["config_flags"] == {"reranking": True, "__other__": True}
    assert properties["active_store"] == "__other__"
    assert set(properties["tool_latency_ms"]) == {"find_code", "__other__"}
    assert properties["languages"] == {"python": 10, "__other__": 2}
    assert properties["version"] == "__other__"


def test_an_event_named_like_a_secret_is_not_sent() -> None:
    sink = NullSink(keep=True)
    client = TelemetryClient(settings(), policy=policy(), sink=sink)
    client.capture("password=hunter2", {"n": 1})
    client.capture(HF_TOKEN, {"n": 1})
    assert sink.events == []
    assert client.dropped == 2


def test_a_vocabulary_word_that_is_a_machine_literal_is_still_sent() -> None:
    # Run from a folder named "python", as user "test": the language and the intent stay.
    sink = NullSink(keep=True)
    literal = policy(literals=frozenset({"python", "test"}))
    client = TelemetryClient(settings(), policy=literal, sink=sink)
    response = dataclasses.replace(empty_summary(), languages_found=("python", "rust"))
    from codeweaver_telemetry.core import IntentType

    client.capture_search_event(
        response, query="q", intent_type=IntentType.TEST, strategies=[], execution_time_ms=1.0
    )
    client.capture("custom", {"language": "python", "n": 1})
    client.shutdown()
    search, custom = sink.events
    assert search.properties["languages_found"] == {"python": 1, "rust": 1}
    assert search.properties["intent"] == "test"
    assert "language" not in custom.properties  # outside a vocabulary, a literal is not sent


@pytest.fixture
def server() -> Iterator[FakePostHog]:
    with FakePostHog(lifetime_seconds=60) as fake:
        yield fake


def test_no_planted_secret_reaches_a_posthog_server(
    server: FakePostHog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("POSTHOG_CAPTURE_MODE", raising=False)
    sink = posthog_sink(Endpoint("phc_test", server.host, 100, 60.0, 1000))
    chosen = policy(opted_in=True)
    client = TelemetryClient(
        settings(posthog_api_key="phc_test", posthog_host=server.host, sink="posthog"),
        policy=chosen,
        sink=sink,
    )
    for secret, _ in LEAKS.values():
        plant(client, secret)
        # The opted-in query keeps its plain words (SQL's are words too): the secrets' tells
        # are planted everywhere else, and the query carries the path-and-code shapes.
        client.capture_search_event(
            empty_summary(),
            query=f"why {secret} fails",
            intent_type=None,
            strategies=[],
            execution_time_ms=1.0,
        )
    report = client.shutdown(timeout=10)
    assert report.delivered == 3 * len(LEAKS)
    bodies = b"".join(server.raw_bodies())
    received = json.dumps(server.events(), ensure_ascii=False)
    for name, (_, tell) in LEAKS.items():
        if name == "sql":  # its words are plain words of the opted-in query
            continue
        assert tell.encode() not in bodies
        assert tell not in received
    for event in server.events():
        properties = event["properties"]
        assert isinstance(properties, dict)
        assert properties["$process_person_profile"] is False
        assert properties["$geoip_disable"] is True


# --- What an adversarial review found on the first wire check ---------------------------------


@pytest.mark.parametrize(
    ("query", "sent"),
    [
        ("open /home/bob/Jane Doe Divorce Settlement.pdf", "open [REDACTED]"),
        ("cd ~/Documents/Acme Layoffs 2026", "cd [REDACTED]"),
        (
            'where is log.info("charging card 4111 for Jane Doe now") called',
            "where is [REDACTED] called",
        ),
        ("grep 'DB password is hunter2 ok' in config", "grep [REDACTED] in config"),
    ],
)
def test_no_part_of_a_path_or_quoted_string_with_spaces_is_a_plain_word(
    query: str, sent: str
) -> None:
    stream = io.StringIO()
    client = stdout_client(stream, opted_in=True)
    client.capture_search_event(
        empty_summary(), query=query, intent_type=None, strategies=[], execution_time_ms=1.0
    )
    client.shutdown()
    (line,) = stream.getvalue().splitlines()
    assert json.loads(line)["properties"]["query_text"] == sent


QUERY_KEYS = {"query_tokens", "query_chars", "query_hash", "query_text"}


def test_nothing_derived_from_a_query_is_sent_without_the_users_opt_in() -> None:
    from codeweaver_telemetry.core import build_search_event

    sink = NullSink(keep=True)
    client = TelemetryClient(settings(), policy=policy(), sink=sink)
    # Built under a policy that opted in (any host can make one), then handed over:
    built = build_search_event(
        empty_summary(),
        query="payroll",
        intent_type=None,
        strategies=[],
        execution_time_ms=1.0,
        policy=policy(opted_in=True),
    ).unwrap()
    assert set(built.properties) >= QUERY_KEYS
    client.capture_from_event(built)
    client.capture("codeweaver_search", {"query_text": "payroll", "query_chars": 7})
    client.shutdown()
    for event in sink.events:
        assert QUERY_KEYS.isdisjoint(event.properties)


def test_only_the_search_event_carries_plain_words_or_feature_flags() -> None:
    from codeweaver_telemetry.core import build_session_event

    sink = NullSink(keep=True)
    client = TelemetryClient(
        settings(tools_over_privacy=True), policy=policy(opted_in=True), sink=sink
    )
    sentence = "ticket for Jane Doe about her divorce settlement"
    client.start_session({"query_text": sentence})
    with client.context(query_text=sentence):
        client.capture("index_rebuilt", {"query_text": sentence, "files": 3})
    session = build_session_event(
        SessionStatistics(), version="1", duration_seconds=1.0, policy=policy()
    ).unwrap()
    session.properties["$feature/db_password"] = "Tr0ub4dor"
    client.capture_from_event(session)
    client.shutdown()
    for event in sink.events:
        assert "query_text" not in event.properties
        assert not any(key.startswith("$feature/") for key in event.properties)


def test_text_in_a_digests_form_from_a_host_is_not_sent() -> None:
    from codeweaver_telemetry.core import AnonymityConversion, serialize_for_telemetry

    # Hashed under a key the docs use (anyone can reverse it), then captured as host data.
    known_key = PrivacyPolicy(hash_key=bytes(32))
    hashed = serialize_for_telemetry(
        {"file_path": "/home/alice/payroll/salaries_2026.xlsx"},
        known_key,
        keys={"file_path": AnonymityConversion.HASH},
    ).unwrap()
    sink = NullSink(keep=True)
    client = TelemetryClient(settings(), policy=policy(), sink=sink)
    client.capture("file_opened", hashed)
    client.capture("x", {"h:0123456789abcdef0123456789abcdef": 1})
    client.shutdown()
    for event in sink.events:
        assert "file_path" not in event.properties
        assert not any(key.startswith("h:") for key in event.properties)


class CustomerId(int):
    """An int whose text says something else."""

    def __str__(self) -> str:
        return "globex-payroll-jsmith"


def test_an_int_subclass_is_sent_as_its_number_never_its_str() -> None:
    stream = io.StringIO()
    client = stdout_client(stream)
    customer = CustomerId(7)
    client.capture("e", {customer: 1, "n": customer})  # type: ignore[dict-item]
    stats = SessionStatistics(operations={customer: 2}, config_flags={customer: True})  # type: ignore[dict-item]
    client.capture_session_event(stats, version="1")
    client.shutdown()
    assert "globex" not in stream.getvalue()
    first = json.loads(stream.getvalue().splitlines()[0])
    assert first["properties"]["7"] == 1


@pytest.mark.parametrize(
    "secret", ["password:hunter2", "admin:Tr0ub4dor3", "db:5432:payroll:admin:hunter2"]
)
def test_a_colon_between_letters_is_not_a_label(secret: str) -> None:
    stream = io.StringIO()
    client = stdout_client(stream)
    client.capture("e", {"auth": secret, secret: 1})
    stats = SessionStatistics(active_store=secret, operations={secret: 1})
    client.capture_session_event(stats, version="1")
    client.shutdown()
    assert secret.rsplit(":", maxsplit=1)[-1] not in stream.getvalue()
    first = json.loads(stream.getvalue().splitlines()[0])
    assert "auth" not in first["properties"]
    assert json.loads(stream.getvalue().splitlines()[0])["properties"]["privacy_filter"] == {
        "dropped": 2,
        "redacted": 0,
    }


def test_latency_samples_are_bounded_in_all_not_per_tool() -> None:
    shared = tuple(float(n) for n in range(1000))
    small = PrivacyPolicy(hash_key=b"k" * 32, max_scan_items=5000)
    sink = NullSink(keep=True)
    client = TelemetryClient(settings(), policy=small, sink=sink)
    stats = SessionStatistics(tool_latencies_ms={f"tool{n}": shared for n in range(900)})
    client.capture_session_event(stats, version="1")  # reads 5,001 samples, not 900,000
    (event,) = sink.events
    assert "tool_latency_ms" not in event.properties
    assert event.properties["privacy_filter"] == {"dropped": 1, "redacted": 0}


def test_endless_or_one_shot_matches_are_read_once_and_bounded() -> None:
    import itertools

    from codeweaver_telemetry.core import CodeMatch, MatchType

    match = CodeMatch("/a.py", "x", (0, 1), 0.5, MatchType.SEMANTIC)
    sink = NullSink(keep=True)
    client = TelemetryClient(settings(), policy=policy(), sink=sink)
    endless = dataclasses.replace(empty_summary(), matches=itertools.repeat(match))  # type: ignore[arg-type]
    one_shot = dataclasses.replace(empty_summary(), matches=(m for m in [match] * 5))  # type: ignore[arg-type]
    for response in (endless, one_shot):
        client.capture_search_event(
            response, query="q", intent_type=None, strategies=[], execution_time_ms=1.0
        )
    client.shutdown()
    refused, counted = sink.events
    assert "result_returned" not in refused.properties
    assert counted.properties["result_returned"] == 5
    assert counted.properties["match_types"] == {"semantic": 5}


def test_the_filter_report_counts_stay_within_64_bits_and_a_second_check_changes_nothing() -> None:
    from codeweaver_telemetry.core import checked_properties

    chosen = policy()
    once = checked_properties(
        {"x": "a b", "privacy_filter": {"dropped": 2**63 - 1, "redacted": 0}}, chosen
    ).unwrap()
    assert once.properties["privacy_filter"] == {"dropped": 2**63 - 1, "redacted": 0}
    again = checked_properties(dict(once.properties), chosen).unwrap()
    assert again.properties == once.properties


def test_a_payload_serialized_before_it_is_captured_keeps_its_drop_count() -> None:
    from codeweaver_telemetry.core import serialize_for_telemetry

    sink = NullSink(keep=True)
    client = TelemetryClient(settings(), policy=policy(), sink=sink)
    payload = serialize_for_telemetry({"a": "x y", "b": "/etc", "c": "p q", "n": 1}, policy())
    client.capture("e", payload.unwrap())
    client.shutdown()
    assert sink.events[0].properties["privacy_filter"] == {"dropped": 3, "redacted": 0}


def test_an_enum_member_whose_number_overflows_costs_its_field_only() -> None:
    import enum

    class Huge(enum.Enum):
        BIG = 10**400

    sink = NullSink(keep=True)
    client = TelemetryClient(settings(), policy=policy(), sink=sink)
    client.capture("e", {"size": Huge.BIG, "n": 1})
    client.shutdown()
    (event,) = sink.events
    assert event.properties["n"] == 1
    assert "size" not in event.properties


def test_an_empty_opted_in_query_sends_no_query_text() -> None:
    stream = io.StringIO()
    client = stdout_client(stream, opted_in=True)
    client.capture_search_event(
        empty_summary(), query="   ", intent_type=None, strategies=[], execution_time_ms=1.0
    )
    client.shutdown()
    (line,) = stream.getvalue().splitlines()
    properties = json.loads(line)["properties"]
    assert "query_text" not in properties
    assert properties["query_chars"] == 3


def test_remembered_label_verdicts_are_bounded_and_stay_right() -> None:
    from codeweaver_telemetry.core.wire import LABEL_VERDICTS_KEPT, is_label, label_verdicts

    chosen = PrivacyPolicy(hash_key=b"k" * 32, sensitive_literals=frozenset({"build-host-7"}))
    for index in range(LABEL_VERDICTS_KEPT + 100):  # a host that sends ever new labels
        assert is_label(f"label-{index}", chosen)
        assert len(label_verdicts(chosen.literal_tokens)) <= LABEL_VERDICTS_KEPT
    assert not is_label("build-host-7", chosen)
    assert not is_label("build-host-7", chosen)  # remembered, the same verdict
    assert is_label("build-host-7", PrivacyPolicy(hash_key=b"k" * 32))  # no literal there


@pytest.mark.parametrize("text", ["h:0", "h:0123", "h:0123456789abcdef0123456789abcdeg"])
def test_text_with_the_digests_prefix_is_never_a_label_even_once_its_verdict_is_kept(
    text: str,
) -> None:
    from codeweaver_telemetry.core.wire import checked_properties, is_label

    chosen = policy()
    assert not is_label(text, chosen)  # (its verdict is now kept: a check looks it up first)
    checked = checked_properties({"k": text, "items": [text], "map": {text: 1}}, chosen).unwrap()
    assert checked.properties == {
        "items": [],
        "map": {},
        "privacy_filter": {"dropped": 3, "redacted": 0},
    }
