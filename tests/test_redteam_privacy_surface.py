"""Red team of the whole surface (at 0396ba6): what reached a sink, or a log, that must not.

- A context tag (or session metadata) named ``query_text`` rode into the search event as its
  plain words, where the host had opted that search out (``tools_over_privacy=False``): the
  event was built without the query, and the tag filled the gap.
- An Enum member whose value is text in a digest's form was sent, where the same text as a
  plain string is dropped (only HASH makes digests).
- The reasons a model is refused named a host's keys whole (``declares '/home/bob/.ssh/id_rsa
  sk_live_...'``), and the client logs them at debug level, where a host may ship its logs.
"""

from __future__ import annotations

import dataclasses
import enum
import logging

import pytest
from domain_samples import empty_summary
from mcp_servers import settings

from codeweaver_telemetry.adapters import NullSink, TelemetryClient
from codeweaver_telemetry.core import IntentType, PrivacyPolicy
from codeweaver_telemetry.core.serializer import filter_for_telemetry
from codeweaver_telemetry.core.vocabulary import AnonymityConversion

QUESTION = "why does charge fail for Jane Doe at Acme"
SECRET_KEY = "/home/bob/.ssh/id_rsa sk_live_4eC39HqLyjWDarjtT1zdp7dc"
REPOSITORY_KEY = "acme-payments_prod"  # (label-shaped: the machine's literals would catch it)
DIGEST_FORM = "h:0123456789abcdef0123456789abcdef"


def opted_in_client() -> tuple[TelemetryClient, NullSink]:
    sink = NullSink(keep=True)
    policy = PrivacyPolicy(hash_key=b"k" * 32, tools_over_privacy=True)
    return TelemetryClient(settings(), policy=policy, sink=sink), sink


def searched(client: TelemetryClient, *, opted_out_here: bool) -> None:
    client.capture_search_event(
        empty_summary(),
        query=QUESTION,
        intent_type=IntentType.DEBUG,
        strategies=[],
        execution_time_ms=1.0,
        tools_over_privacy=False if opted_out_here else None,
    )


@pytest.mark.parametrize("where", ["tag", "metadata"])
def test_a_tag_named_query_text_never_stands_in_for_the_query(where: str) -> None:
    client, sink = opted_in_client()
    client.start_session({"query_text": QUESTION} if where == "metadata" else None)
    with client.context(**({"query_text": QUESTION} if where == "tag" else {})):
        searched(client, opted_out_here=True)
        searched(client, opted_out_here=False)
    client.shutdown()
    opted_out, opted_in = (event.properties for event in sink.events)
    assert "query_text" not in opted_out
    assert "query_hash" not in opted_out
    # The user's opt-in, not this search's: the query's own plain words, as documented.
    assert opted_in["query_text"] == QUESTION


class Environment(enum.Enum):
    PRODUCTION = DIGEST_FORM
    STAGING = "staging"


def test_an_enum_members_text_in_a_digests_form_is_dropped_like_any_such_text() -> None:
    policy = PrivacyPolicy(hash_key=b"k" * 32)
    filtered = filter_for_telemetry(
        {"where": Environment.PRODUCTION, "text": DIGEST_FORM, "other": Environment.STAGING},
        policy,
    ).unwrap()
    assert filtered.payload == {
        "other": "staging",
        "privacy_filter": {"dropped": 2, "redacted": 0},
    }


@dataclasses.dataclass
class MisDeclared:
    hits: int = 3

    def _telemetry_keys(self) -> dict[str, AnonymityConversion]:
        return {SECRET_KEY: AnonymityConversion.HASH}


@dataclasses.dataclass
class HandledBadly:
    hits: int = 3

    def _telemetry_handler(self, fields: object) -> dict[str, object]:
        return {SECRET_KEY: len}


@dataclasses.dataclass
class Misspelt:
    hits: int = 3

    def _telemetry_keys(self) -> dict[str, AnonymityConversion]:
        return {"hitz": AnonymityConversion.COUNT}


@dataclasses.dataclass
class DeclaresTheRepository:
    hits: int = 3

    def _telemetry_keys(self) -> dict[str, AnonymityConversion]:
        return {REPOSITORY_KEY: AnonymityConversion.HASH}


@pytest.mark.parametrize("model", [MisDeclared(), HandledBadly(), DeclaresTheRepository()])
def test_the_reasons_a_model_is_refused_never_name_a_key_that_is_not_a_label(
    model: object, caplog: pytest.LogCaptureFixture
) -> None:
    client = TelemetryClient(settings(), policy=PrivacyPolicy(hash_key=b"k" * 32), sink=NullSink())
    with caplog.at_level(logging.DEBUG, logger="codeweaver_telemetry"):
        client.capture_with_serialization("model", model)
        client.capture("wrapped", {"model": model})
    client.shutdown()
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "a key that is not a field's name" in logged
    for part in [*SECRET_KEY.split(), REPOSITORY_KEY]:
        assert part not in logged


def test_a_misspelt_declaration_is_still_named() -> None:
    refused = filter_for_telemetry(Misspelt(), PrivacyPolicy(hash_key=b"k" * 32))
    assert "declares 'hitz', which is not a field of Misspelt" in str(refused.failure())


@pytest.mark.parametrize("checkout", ["codeweaver-search", "codeweaver-session"])
def test_a_checkout_named_like_the_librarys_events_does_not_cost_them(checkout: str) -> None:
    """Red team of the compound-literal rule (a496964): a working directory named like the
    start of one of the library's own event names made that name a "leak", and every such
    event was refused (a checkout named ``codeweaver-mcp`` lost every MCP tool-call event).
    The library's own events' names are its constants, whatever the machine's literals; a
    host's event of that spelling is still refused."""
    sink = NullSink(keep=True)
    policy = PrivacyPolicy(hash_key=b"k" * 32, sensitive_literals=frozenset({checkout}))
    client = TelemetryClient(settings(), policy=policy, sink=sink)
    client.start_session({"version": "1.0"})
    searched(client, opted_out_here=True)
    client.capture(checkout.replace("-", "_") + "_copy", {"n": 1})
    client.end_session()
    client.shutdown()
    assert {event.event for event in sink.events} == {"codeweaver_search", "codeweaver_session"}
