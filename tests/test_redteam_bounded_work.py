"""Red team of the whole surface (at 0396ba6): no shape of input may make a capture read
without bound. Each list was capped at 1,000 items and nesting at 16, but nothing capped the
total: a list shared by every item of another (Python's ``[[0] * n] * m``) was read each time
it was met, so ``{"m": [[0] * 1000] * 1000}`` cost a million values on the host's thread, and
four such lists of 32 KB, 10**12. A root of 99,999 properties, and a distribution of 100,000
distinct labels, cost the leak guard seconds. Now an event holds at most the policy's
``max_event_values`` values in all, and a distribution labels at most ``max_list_length``
distinct categories, the most frequent (the rest count under ``__other__``)."""

from __future__ import annotations

import dataclasses
import itertools
import string
from collections.abc import Iterator, Mapping

import pytest
from mcp_servers import kept_events_client

from codeweaver_telemetry.core import conversions
from codeweaver_telemetry.core.conversions import to_distribution
from codeweaver_telemetry.core.introspection import MAX_MODEL_ITEMS
from codeweaver_telemetry.core.policy import PrivacyPolicy
from codeweaver_telemetry.core.serializer import filter_for_telemetry, reduced_payload
from codeweaver_telemetry.core.vocabulary import AnonymityConversion
from codeweaver_telemetry.core.wire import checked_properties, is_label

POLICY = PrivacyPolicy(hash_key=b"k" * 32)
BOUND = POLICY.max_event_values


class CountedList(list[object]):
    """A list subclass (read through its own ``__iter__``) that counts the items it yields."""

    yielded = 0

    def __iter__(self) -> Iterator[object]:
        for item in super().__iter__():
            CountedList.yielded += 1
            yield item


def values_in(value: object) -> int:
    if isinstance(value, dict):
        return len(value) + sum(values_in(item) for item in value.values())
    if isinstance(value, list):
        return len(value) + sum(values_in(item) for item in value)
    return 0


def test_a_list_shared_by_every_item_of_another_is_read_within_the_events_bound() -> None:
    shared = [0] * 1000
    filtered = filter_for_telemetry({"m": [shared] * 1000}, POLICY).unwrap()
    # 1 property, 1,000 items, then three shared lists of 1,000: the fourth would be over.
    assert filtered.payload["m"] == [shared] * 3
    assert filtered.report.dropped == 997
    assert values_in(filtered.payload) <= BOUND + 1  # (with the filter's report)


def test_once_over_the_bound_nothing_more_of_a_hosts_structure_is_read() -> None:
    CountedList.yielded = 0
    shared = CountedList(range(1000))
    reduced_payload({"m": CountedList([shared] * 1000)}, POLICY).unwrap()
    # The outer list, and the shared one each time until the bound: not 1,001,000 items.
    assert CountedList.yielded <= BOUND + 2 * (POLICY.max_list_length + 1)


def test_the_wire_check_reads_a_shared_grid_within_the_events_bound() -> None:
    grid = {"g": [[0.5] * 1000] * 1000, "h": [[1] * 10] * 10}
    checked = checked_properties(grid, POLICY).unwrap()
    assert len(checked.properties["g"]) == 3  # type: ignore[arg-type]
    assert "h" not in checked.properties  # (read after the bound was spent)
    assert checked.dropped == 998
    assert checked_properties(checked.properties, POLICY).unwrap().properties == (
        checked.properties
    )


def test_a_capture_of_a_shared_structure_sends_a_bounded_event() -> None:
    client, sink = kept_events_client()
    client.capture("matrix", {"rows": [[0] * 1000] * 1000, "n": 3})
    client.shutdown()
    (event,) = sink.events
    assert values_in(event.properties) <= BOUND + 10  # (the library's own properties too)
    assert event.properties["n"] == 3


def test_an_event_of_more_properties_than_the_bound_is_refused_whole() -> None:
    wide = {f"key_{index}": index for index in range(BOUND + 1)}
    assert reduced_payload(wide, POLICY).value_or(None) is None
    assert checked_properties(wide, POLICY).value_or(None) is None
    client, sink = kept_events_client()
    client.capture("wide", wide)
    client.shutdown()
    assert sink.events == []


@pytest.mark.parametrize("shape", ["list", "mapping"])
def test_a_distribution_labels_at_most_as_many_distinct_categories_as_a_list_holds(
    shape: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []

    def counted(text: str, *arguments: object) -> bool:
        asked.append(text)
        return is_label(text, *arguments)  # type: ignore[arg-type]

    monkeypatch.setattr(conversions, "is_label", counted)
    letters = string.ascii_lowercase
    labels = [f"{letters[i % 26]}{letters[i // 26 % 26]}{i}" for i in range(5000)]
    categories: object = labels + ["python"] * 3 if shape == "list" else dict.fromkeys(labels, 1)
    distribution = to_distribution(categories, POLICY, vocabulary={"rust"})
    assert len(asked) <= POLICY.max_list_length
    assert sum(distribution.values()) == len(labels) + (3 if shape == "list" else 0)  # type: ignore[arg-type]
    assert len(distribution) <= POLICY.max_dynamic_labels + 1
    if shape == "list":
        assert distribution["python"] == 3  # the most frequent, read first
    repeated = labels[:1000] * 100  # many items, few distinct: every one read
    assert sum(to_distribution(repeated, POLICY).values()) == 100_000  # type: ignore[arg-type]


class Endless(Mapping[str, object]):
    """A mapping whose ``items()`` goes on (here, ten times the bound), counting what it gives."""

    def __init__(self, entry: tuple[str, object]) -> None:
        self.entry, self.given = entry, 0

    def __getitem__(self, key: str) -> object:
        return self.entry[1]

    def __len__(self) -> int:
        return 1

    def __iter__(self) -> Iterator[str]:
        return (key for key, _ in self.items())

    def items(self) -> Iterator[tuple[str, object]]:  # type: ignore[override]
        for _ in range(10 * MAX_MODEL_ITEMS):
            self.given += 1
            yield self.entry


@dataclasses.dataclass
class EndlesslyDeclared:
    hits: int = 3

    def _telemetry_keys(self) -> Mapping[str, object]:
        return DECLARATIONS


DECLARATIONS = Endless(("hits", AnonymityConversion.COUNT))


@dataclasses.dataclass
class EndlesslyHandled:
    hits: int = 3

    def _telemetry_handler(self, fields: object) -> Mapping[str, object]:
        return HANDLED


HANDLED = Endless(("hits", 4))


class EndlessAttributes(dict[str, object]):
    def __iter__(self) -> Iterator[str]:
        return itertools.repeat("hits", 10 * MAX_MODEL_ITEMS)


class Plain:
    def _telemetry_keys(self) -> None:
        return None


@pytest.mark.parametrize("kind", ["declarations", "handler", "attributes"])
def test_a_model_whose_mappings_go_on_is_refused_after_a_bounded_read(kind: str) -> None:
    model: object
    if kind == "declarations":
        model, endless = EndlesslyDeclared(), DECLARATIONS
    elif kind == "handler":
        model, endless = EndlesslyHandled(), HANDLED
    else:
        model, endless = Plain(), None
        model.__dict__ = EndlessAttributes(hits=3)
    if endless is not None:
        endless.given = 0
    refused = filter_for_telemetry({"model": model}, POLICY).unwrap()
    assert "model" not in refused.payload
    assert refused.report.dropped == 1
    assert f"more than {MAX_MODEL_ITEMS} items" in refused.report.notes[0].reason
    if endless is not None:
        assert endless.given == MAX_MODEL_ITEMS + 1
