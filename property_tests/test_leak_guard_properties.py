"""The leak guard's laws: every planted secret is found, no ordinary value is, and
``guard_payload`` returns a same-shaped copy with exactly the flagged strings replaced.
"""

from __future__ import annotations

import copy
import json

from hypothesis import given
from hypothesis import strategies as st

from codeweaver_telemetry.core.leak_guard import REDACTED, LeakKind, find_leak, guard_payload
from codeweaver_telemetry.core.testing.text import (
    embedded_in_text,
    ordinary_values,
    sensitive_text,
)
from codeweaver_telemetry.core.vocabulary import JSONValue

one_literal = st.from_regex(r"[a-z][a-z0-9_-]{2,11}", fullmatch=True)
literal_tokens = st.lists(one_literal, max_size=3).map(tuple)
"""What ``PrivacyPolicy.literal_tokens`` holds: lower-cased, three characters or more."""


def appears_in(secret: str, output: str) -> bool:
    """Whether ``secret`` can be read in ``output``, as it is or as JSON escapes it."""
    return secret in output or json.dumps(secret)[1:-1] in output


@given(data=st.data())
def test_every_embedded_secret_is_found_and_redacted(data: st.DataObject) -> None:
    secret = data.draw(sensitive_text(), label="secret")
    text = data.draw(embedded_in_text(st.just(secret)), label="text")
    assert find_leak(text) is not None
    payloads: list[JSONValue] = [{"value": text}, {text: 1}, [text]]
    for payload in payloads:
        guarded, count = guard_payload(payload)
        assert count == 1
        output = json.dumps(guarded)
        assert not appears_in(secret, output), output


@given(data=st.data(), tokens=literal_tokens.filter(bool))
def test_every_embedded_literal_is_found_in_any_case(
    data: st.DataObject, tokens: tuple[str, ...]
) -> None:
    literal = data.draw(st.sampled_from(tokens), label="literal")
    written = data.draw(st.sampled_from([literal, literal.upper(), literal.title()]))
    text = data.draw(embedded_in_text(st.just(written)), label="text")
    assert find_leak(text, tokens) is not None


@given(ordinary_values())
def test_ordinary_values_are_never_flagged(value: str) -> None:
    assert find_leak(value) is None


@given(st.text(), literal_tokens)
def test_find_leak_answers_any_text(text: str, tokens: tuple[str, ...]) -> None:
    kind = find_leak(text, tokens)
    assert kind is None or isinstance(kind, LeakKind)


json_strings = st.one_of(st.text(max_size=30), sensitive_text(), ordinary_values())
json_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    json_strings,
)
json_payloads = st.recursive(
    json_leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(json_strings, children, max_size=4)
    ),
    max_leaves=25,
)


def check_guarded(original: JSONValue, guarded: JSONValue, tokens: tuple[str, ...]) -> int:
    """Assert ``guarded`` is ``original`` with its flagged strings replaced; count them."""
    if isinstance(original, str):
        flagged = find_leak(original, tokens) is not None
        assert guarded == (REDACTED if flagged else original)
        return int(flagged)
    if isinstance(original, list):
        assert isinstance(guarded, list)
        assert len(guarded) == len(original)
        return sum(check_guarded(o, g, tokens) for o, g in zip(original, guarded, strict=True))
    if isinstance(original, dict):
        assert isinstance(guarded, dict)
        assert len(guarded) == len(original)
        count = 0
        for (key, value), (new_key, new_value) in zip(
            original.items(), guarded.items(), strict=True
        ):
            if find_leak(key, tokens) is None:
                assert new_key == key
            else:
                assert new_key == REDACTED or new_key.startswith(f"{REDACTED}#")
                count += 1
            count += check_guarded(value, new_value, tokens)
        return count
    assert type(guarded) is type(original)
    assert guarded == original
    return 0


@given(json_payloads, literal_tokens)
def test_guard_payload_is_a_same_shaped_copy_counting_every_replacement(
    payload: JSONValue, tokens: tuple[str, ...]
) -> None:
    before = copy.deepcopy(payload)
    guarded, count = guard_payload(payload, tokens)
    assert payload == before
    assert count == check_guarded(payload, guarded, tokens)
    assert guard_payload(guarded, tokens) == (guarded, 0)
