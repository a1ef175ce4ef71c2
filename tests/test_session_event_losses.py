"""The session event's losses by reason, and configuration errors read once and bounded."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator

from codeweaver_telemetry.core import PrivacyPolicy, SessionStatistics, build_session_event
from codeweaver_telemetry.core.conversions import MAX_SAFE_INT
from codeweaver_telemetry.core.session_event import MAX_CONFIG_ERRORS, SESSION_SCHEMA
from codeweaver_telemetry.core.sink import LossReason
from codeweaver_telemetry.core.vocabulary import JSONObject
from codeweaver_telemetry.core.wire import checked_properties

POLICY = PrivacyPolicy(hash_key=b"k" * 32)


def session(**arguments: object) -> JSONObject:
    event = build_session_event(
        SessionStatistics(),
        version="1.0",
        duration_seconds=1.0,
        policy=POLICY,
        **arguments,  # type: ignore[arg-type]
    )
    return event.unwrap().properties


def test_losses_are_reported_by_reason_and_in_all() -> None:
    properties = session(
        events_lost={LossReason.OUTAGE: 3, LossReason.NOT_BUILT: 1, LossReason.EXPIRED: 0}
    )
    assert properties["telemetry_events_lost"] == {"not_built": 1, "outage": 3}
    assert properties["telemetry_events_lost_total"] == 4


def test_a_session_without_losses_says_so() -> None:
    properties = session()
    assert properties["telemetry_events_lost"] == {}
    assert properties["telemetry_events_lost_total"] == 0


def test_every_reason_is_kept_whatever_the_machines_names() -> None:
    every = dict.fromkeys(LossReason, 1)
    names = frozenset(reason.value for reason in LossReason)
    policy = PrivacyPolicy(hash_key=b"k" * 32, sensitive_literals=names)
    event = build_session_event(
        SessionStatistics(), version="1", duration_seconds=1.0, policy=policy, events_lost=every
    ).unwrap()
    assert event.properties["telemetry_events_lost"] == dict.fromkeys(sorted(names), 1)
    assert event.properties["telemetry_events_lost_total"] == len(names)


def test_loss_counts_are_clamped_and_a_key_that_is_no_reason_is_other() -> None:
    lost = {LossReason.OUTAGE: 2**80, LossReason.REJECTED: MAX_SAFE_INT, "outage": 2}
    properties = session(events_lost=lost)
    assert properties["telemetry_events_lost"] == {
        "__other__": 2,
        "outage": MAX_SAFE_INT,
        "rejected": MAX_SAFE_INT,
    }
    assert properties["telemetry_events_lost_total"] == MAX_SAFE_INT


def test_a_loss_count_that_is_not_a_count_drops_the_losses_not_the_event() -> None:
    properties = session(events_lost={LossReason.OUTAGE: -1, LossReason.EXPIRED: "3"})
    assert "telemetry_events_lost" not in properties
    assert "telemetry_events_lost_total" not in properties
    assert properties["privacy_filter"] == {"dropped": 2, "redacted": 0}


def test_the_delivery_counts_of_old_are_gone() -> None:
    properties = session(events_lost={LossReason.BUFFER_FULL: 1})
    assert "telemetry_events_dropped" not in properties
    assert "telemetry_events_failed" not in properties


def test_the_session_event_passes_the_wire_check_again_unchanged() -> None:
    properties = session(events_lost=dict.fromkeys(LossReason, 2))
    checked = checked_properties(properties, POLICY, SESSION_SCHEMA.vocabularies).unwrap()
    assert checked.dropped == 0
    assert checked.properties == properties


def test_an_endless_iterable_of_configuration_errors_is_read_to_the_bound() -> None:
    started = time.monotonic()
    properties = session(config_errors=itertools.count())
    assert time.monotonic() - started < 5.0
    assert properties["config_error_count"] == MAX_CONFIG_ERRORS


def test_a_one_shot_iterable_is_read_once_and_counted_as_its_kinds_say() -> None:
    read: list[int] = []

    def errors() -> Iterator[ValueError]:
        for index in itertools.count():
            read.append(index)
            yield ValueError(f"bad value at /home/alice/{index}")

    properties = session(config_errors=errors())
    assert properties["config_error_count"] == MAX_CONFIG_ERRORS
    assert properties["setup_error_kinds"] == {"ValueError": MAX_CONFIG_ERRORS}
    assert len(read) == MAX_CONFIG_ERRORS


def test_configuration_errors_that_cannot_be_read_drop_their_properties_only() -> None:
    def failing() -> Iterator[object]:
        yield ValueError("first")
        raise RuntimeError("the host's iterator broke")

    properties = session(config_errors=failing())
    assert "config_error_count" not in properties
    assert "setup_error_kinds" not in properties
    assert properties["requests_total"] == 0
    assert properties["privacy_filter"] == {"dropped": 2, "redacted": 0}


def test_a_single_configuration_error_is_one() -> None:
    assert session(config_errors=KeyError("x"))["config_error_count"] == 1
    assert session(config_errors="missing key")["config_error_count"] == 1
    assert session(config_errors=None)["config_error_count"] == 0
    assert session(config_errors=KeyError("x"))["setup_error_kinds"] == {"KeyError": 1}
