"""No canary leaks, whatever shape carries it, with no help from the machine's literals.

The canary is a label no rule of the leak guard knows (``CANARY0007QZ``), carried inside text
of every shape a careless host hands over: code, a sentence, a path with spaces, a
percent-encoded path, a repository slug, a host name, a non-ASCII e-mail, a MAC address line, a
URL, a ``key=value`` secret, a vendor token, a file name. It is planted undeclared (values and
keys, at every depth, in models and plain containers), in session metadata, in context tags and
in the opted-in query, and must reach no sink in either mode. The shapes without a separator
rely on the guard (vendor tokens, host names, file names); the others on the grammar alone.

The bare canary is a label, and a label may be sent: so it is planted only inside a shape.
"""

from __future__ import annotations

import dataclasses
import io
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from codeweaver_telemetry.adapters import StdoutSink, TelemetryClient
from codeweaver_telemetry.core import (
    FindCodeResponseSummary,
    PrivacyPolicy,
    SessionStatistics,
    serialize_for_telemetry,
)
from codeweaver_telemetry.core.settings import RawSources, resolve_settings
from codeweaver_telemetry.core.testing import canary_for
from codeweaver_telemetry.core.testing.text import CARELESS_KINDS, canary_shapes

pytestmark = pytest.mark.slow

CANARY = canary_for(7)
SHAPES = tuple(kind for kind in CARELESS_KINDS if kind != "unicode")
"""Every shape but arbitrary unicode around the canary, which may be empty (a bare label)."""

carriers = st.sampled_from(SHAPES).flatmap(lambda kind: canary_shapes(CANARY, kind))

QUERY_SHAPES = tuple(kind for kind in SHAPES if kind not in {"sentence", "code"})
"""With the opt-in, the query's plain words are sent by design: a sentence's words, and the
words of SQL, are words. Every other shape holds the canary in a token that is not a word."""

query_carriers = st.sampled_from(QUERY_SHAPES).flatmap(lambda kind: canary_shapes(CANARY, kind))


@dataclasses.dataclass
class Note:
    """A model that declares nothing."""

    text: object
    extra: object


def planted(carrier: str) -> dict[str, object]:
    """The carrier everywhere a value or a key can be, undeclared."""
    return {
        "note": carrier,
        carrier: 1,
        "list": [carrier, "hybrid"],
        "nested": {"k": carrier, carrier: {"deeper": (carrier,)}},
        "model": Note(carrier, {carrier: carrier}),
    }


def decoded(text: str) -> str:
    """What JSON lines say, non-ASCII unescaped."""
    lines = [json.loads(line) for line in text.splitlines()]
    return json.dumps(lines, ensure_ascii=False)


@given(carriers, st.booleans())
def test_no_shape_of_canary_leaks_from_the_serializer(carrier: str, opted_in: bool) -> None:
    policy = PrivacyPolicy(hash_key=b"shapes-key-0123456789abcdef", tools_over_privacy=opted_in)
    result = serialize_for_telemetry(planted(carrier), policy)
    assert CANARY not in json.dumps(result.unwrap(), ensure_ascii=False)


@given(carriers, carriers, carriers, query_carriers, st.booleans())
def test_no_shape_of_canary_reaches_the_stdout_lines(
    in_metadata: str, in_tags: str, in_properties: str, in_query: str, opted_in: bool
) -> None:
    settings = resolve_settings(
        RawSources(arguments={"tools_over_privacy": opted_in}, environment={})
    ).unwrap()
    policy = PrivacyPolicy(hash_key=b"shapes-key-0123456789abcdef", tools_over_privacy=opted_in)
    stream = io.StringIO()
    client = TelemetryClient(settings, policy=policy, sink=StdoutSink(stream=stream))
    client.start_session(planted(in_metadata))
    with client.context(**{"tag": in_tags, in_tags: 1}):
        client.capture("codeweaver_search", planted(in_properties))
        client.capture_with_serialization("note", Note(in_properties, in_tags))
        client.capture_search_event(
            FindCodeResponseSummary((), "", None, 0, 0, 0, 1.0),
            query=f"where {in_query} is",
            intent_type=None,
            strategies=[],
            execution_time_ms=1.0,
            feature_flags={in_tags: in_properties, "beta": in_metadata},
        )
    stats = SessionStatistics(
        operations={in_properties: 1},
        tool_latencies_ms={in_tags: (1.0,)},
        config_flags={in_metadata: True},
        active_store=in_properties,
    )
    client.capture_session_event(stats, version=in_metadata)
    client.shutdown()
    output = stream.getvalue()
    assert len(output.splitlines()) == 4
    assert CANARY not in decoded(output)
