"""Red-team of 4a52386 ("Wire check and reducer in fewer calls"): the one wire check must
never raise on a host's value, and its size bound must never be under the compact JSON size."""

from __future__ import annotations

import json
from typing import NoReturn

import pytest

from codeweaver_telemetry.core.policy import PrivacyPolicy
from codeweaver_telemetry.core.wire import (
    LIBRARY_NAME,
    NO_GEOIP_KEY,
    NO_PERSON_PROFILE_KEY,
    checked_event,
    checked_properties,
)


def policy(**overrides: object) -> PrivacyPolicy:
    return PrivacyPolicy(hash_key=b"k" * 32, **overrides)  # type: ignore[arg-type]


class OddInt(int):
    """An int subclass whose comparisons raise (as in test_hardening)."""

    def _raise(self, *args: object) -> NoReturn:
        raise RuntimeError("an odd int")

    __eq__ = __ne__ = _raise
    __hash__ = int.__hash__


class OddText(str):
    """A str subclass whose comparisons raise."""

    def _raise(self, *args: object) -> NoReturn:
        raise RuntimeError("an odd text")

    __eq__ = __ne__ = _raise
    __hash__ = str.__hash__


class Raising:
    """Any host object whose comparisons raise (an array's ``!=`` raises on ``bool()``)."""

    def _raise(self, *args: object) -> NoReturn:
        raise ValueError("the truth value of an array is ambiguous")

    __eq__ = __ne__ = _raise
    __hash__ = object.__hash__


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("$lib", OddText(LIBRARY_NAME)),
        ("$lib", Raising()),
        (NO_GEOIP_KEY, OddInt(1)),
        (NO_GEOIP_KEY, Raising()),
        (NO_PERSON_PROFILE_KEY, OddInt(0)),
        (NO_PERSON_PROFILE_KEY, Raising()),
    ],
    ids=[
        "lib-odd-text",
        "lib-object",
        "geoip-odd-int",
        "geoip-object",
        "profile-odd-int",
        "profile-object",
    ],
)
def test_a_library_constant_whose_comparison_raises_is_dropped_not_raised(
    key: str, value: object
) -> None:
    # 4a52386 compares the value (value != constant) before its type: the host's __ne__ runs,
    # and raises out of the check. Before, the type (or identity) was looked at first.
    result = checked_properties({key: value, "mode": "hybrid"}, policy())
    assert result.unwrap().properties == {
        "mode": "hybrid",
        "privacy_filter": {"dropped": 1, "redacted": 0},
    }
    event = checked_event("search", {key: value}, policy()).unwrap()
    assert key not in event.properties
    assert event.dropped == 1


@pytest.mark.parametrize("empty", [[], {}], ids=["lists", "objects"])
def test_the_size_bound_is_never_under_the_json_size_of_nested_empty_containers(
    empty: object,
) -> None:
    # Each nested container added 2 to the bound: its brackets, not the comma after it.
    properties: dict[str, object] = {"a": [type(empty)() for _ in range(200)]}
    real = len(
        json.dumps(
            {**properties, "privacy_filter": {"dropped": 0, "redacted": 0}},
            separators=(",", ":"),
        )
    )
    under = checked_properties(properties, policy(max_payload_bytes=real - 1))
    assert under.value_or(None) is None, f"{real} bytes passed a bound of {real - 1}"


def test_a_default_policy_event_is_never_over_its_payload_bound() -> None:
    bound = policy().max_payload_bytes
    over: dict[str, object] = {f"k{index}": [[] for _ in range(1000)] for index in range(30)}
    assert len(json.dumps(over, separators=(",", ":"))) > bound  # (about 90 KB)
    wide = policy(max_event_values=100_000)  # (by default, the event's values bound it first)
    assert checked_properties(over, wide).value_or(None) is None
    cut_down = checked_properties(over, policy()).unwrap()
    assert len(json.dumps(cut_down.properties, separators=(",", ":"))) <= bound
    within: dict[str, object] = {f"k{index}": [[] for _ in range(1000)] for index in range(20)}
    checked = checked_properties(within, policy()).unwrap()
    assert checked.properties["k0"] == [[]] * 1000
    assert len(json.dumps(checked.properties, separators=(",", ":"))) <= bound


def test_a_word_in_the_digests_form_is_no_vocabulary_word_so_reducer_and_check_agree() -> None:
    # Before, a host could declare "h:0123": the reducer kept it, the check dropped it.
    from codeweaver_telemetry.adapters import NullSink, TelemetryClient
    from codeweaver_telemetry.core.settings import RawSources, resolve_settings

    with pytest.raises(ValueError, match="labels"):
        policy(vocabularies={"tool": frozenset({"h:0123"})})
    sink = NullSink(keep=True)
    settings = resolve_settings(RawSources(arguments={"sink": "null"}, environment={})).unwrap()
    client = TelemetryClient(settings, policy=policy(), sink=sink)
    client.declare_labels("tool", ["h:0123", "find_code"])
    client.capture("call", {"tool": "h:0123"})
    client.capture("call", {"tool": "find_code"})
    client.shutdown()
    assert [event.properties.get("tool") for event in sink.events] == [None, "find_code"]
    assert sink.events[0].properties["privacy_filter"] == {"dropped": 1, "redacted": 0}
