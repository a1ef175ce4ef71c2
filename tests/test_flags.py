"""Feature flags from a PostHog-compatible loopback server: values arrive in the background,
cache, TTL, backoff, Retry-After, waiting for the first answer, overrides."""

from __future__ import annotations

import doctest
import json
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from fake_posthog import FakePostHog, Mode
from loop_waits import eventually

from codeweaver_telemetry.adapters import NullSink, TelemetryClient, posthog_flags
from codeweaver_telemetry.adapters.flags import NoFlags
from codeweaver_telemetry.adapters.posthog_flags import PostHogFlags, flag_values
from codeweaver_telemetry.adapters.posthog_sink import Endpoint
from codeweaver_telemetry.core import PrivacyPolicy
from codeweaver_telemetry.core.settings import RawSources, resolve_settings

ANONYMOUS = "anonymous"  # the client's distinct id before a session starts
PATIENCE = 5.0  # longest wait for a background request to loopback; never reached when healthy


class ManualClock:
    """Schedules refreshes (TTL, backoff) in time the test moves on by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def server() -> Iterator[FakePostHog]:
    flags: dict[str, bool | str] = {"new_reranker": "test", "fast_path": True, "off": False}
    with FakePostHog(flags=flags, retry_after_seconds=60, lifetime_seconds=60) as fake:
        yield fake


def flags_for(
    server: FakePostHog, budget: float = 0.5, clock: Callable[[], float] = time.monotonic
) -> PostHogFlags:
    endpoint = Endpoint("phc_test", server.host, 10, 60.0, 100)
    return PostHogFlags(endpoint, budget=budget, clock=clock)


def client(flags: PostHogFlags, **arguments: object) -> TelemetryClient:
    settings = resolve_settings(RawSources(arguments=arguments, environment={})).unwrap()
    policy = PrivacyPolicy(hash_key=b"k" * 32)
    return TelemetryClient(settings, policy=policy, sink=NullSink(), flags=flags)


def test_values_arrive_in_the_background_and_are_cached(server: FakePostHog) -> None:
    flags = flags_for(server)
    telemetry = client(flags)
    assert telemetry.get_feature_flag("new_reranker", default="control") == "control"
    assert flags.wait_for_values(PATIENCE, ANONYMOUS)
    assert telemetry.get_feature_flag("new_reranker") == "test"
    assert telemetry.get_feature_flag("fast_path") is True
    assert telemetry.get_feature_flag("off", default="d") is False
    assert telemetry.get_feature_flag("unknown", default="d") == "d"
    assert telemetry.get_all_feature_flags() == {
        "new_reranker": "test",
        "fast_path": True,
        "off": False,
    }
    assert server.flag_requests() == 1


def test_waiting_before_any_lookup_starts_the_refresh(server: FakePostHog) -> None:
    flags = flags_for(server)
    assert flags.wait_for_values(PATIENCE, ANONYMOUS)
    assert flags.value("new_reranker", ANONYMOUS) == "test"
    assert flags.wait_for_values(0.0, ANONYMOUS)  # once arrived, at once
    assert server.flag_requests() == 1


def test_local_overrides_win_over_remote_values(server: FakePostHog) -> None:
    flags = flags_for(server)
    telemetry = client(flags, flag_overrides={"new_reranker": "control"})
    assert flags.wait_for_values(PATIENCE, ANONYMOUS)
    assert telemetry.get_feature_flag("new_reranker") == "control"
    assert telemetry.get_all_feature_flags()["new_reranker"] == "control"


def test_a_silent_host_costs_lookups_nothing_and_a_wait_ends_at_its_timeout(
    server: FakePostHog,
) -> None:
    server.mode = Mode.SILENT
    flags = flags_for(server, budget=0.2)
    telemetry = client(flags)
    started = time.monotonic()
    for _ in range(50):
        assert telemetry.get_feature_flag("new_reranker", default="control") == "control"
    assert time.monotonic() - started < 0.4  # today's main waits the 0.2 s budget at once
    started = time.monotonic()
    assert not flags.wait_for_values(0.3, ANONYMOUS)
    assert not flags.wait_for_values(None, ANONYMOUS)  # the budget
    assert time.monotonic() - started < PATIENCE
    assert server.wait_for_requests(1, PATIENCE)
    assert server.flag_requests() == 1  # all callers share the one refresh under way


def test_a_refused_host_gives_the_default_and_a_wait_ends_with_the_refresh(
    server: FakePostHog,
) -> None:
    server.mode = Mode.REFUSE
    flags = flags_for(server)
    telemetry = client(flags)
    assert telemetry.get_feature_flag("fast_path", default=False) is False
    started = time.monotonic()
    assert not flags.wait_for_values(60.0, ANONYMOUS)
    assert time.monotonic() - started < PATIENCE  # not the 60 s granted: it failed
    assert not flags.wait_for_values(60.0, ANONYMOUS)  # backing off: no value can come
    assert time.monotonic() - started < PATIENCE


def test_a_failed_refresh_backs_off_exponentially_whatever_the_lookups(
    server: FakePostHog,
) -> None:
    server.mode = Mode.ERROR_500
    clock = ManualClock()
    flags = flags_for(server, clock=clock)

    def lookups_at(seconds_later: float) -> int:
        clock.now += seconds_later
        for _ in range(50):
            assert flags.value("fast_path", ANONYMOUS) is None
        flags.wait_for_values(PATIENCE, ANONYMOUS)  # until the refresh under way, if any, ends
        return server.flag_requests()

    assert lookups_at(0.0) == 1
    assert lookups_at(2.4) == 1  # the first backoff is 5 s, less at most half for jitter
    assert lookups_at(2.7) == 2
    assert lookups_at(4.9) == 2  # then 10 s, jittered down to 5 s at most
    assert lookups_at(5.2) == 3
    server.mode = Mode.HEALTHY
    assert lookups_at(20.1) == 4
    assert flags.value("fast_path", ANONYMOUS) is True


def test_a_429s_retry_after_is_honoured(server: FakePostHog) -> None:
    server.mode = Mode.RATE_LIMITED  # Retry-After: 60
    clock = ManualClock()
    flags = flags_for(server, clock=clock)
    assert not flags.wait_for_values(PATIENCE, ANONYMOUS)
    server.mode = Mode.HEALTHY
    clock.now += 30.0  # past any backoff of a first failure, within the host's minute
    assert not flags.wait_for_values(PATIENCE, ANONYMOUS)
    assert server.flag_requests() == 1
    clock.now += 30.5
    assert flags.wait_for_values(PATIENCE, ANONYMOUS)
    assert server.flag_requests() == 2


def test_values_refresh_after_the_ttl_and_stay_while_a_refresh_fails(
    server: FakePostHog,
) -> None:
    clock = ManualClock()
    flags = flags_for(server, clock=clock)
    assert flags.wait_for_values(PATIENCE, ANONYMOUS)
    server.flags["new_reranker"] = "control"
    clock.now += 299.0
    assert flags.value("new_reranker", ANONYMOUS) == "test"
    assert server.flag_requests() == 1
    clock.now += 2.0
    assert flags.value("new_reranker", ANONYMOUS) == "test"  # stale, while it refreshes
    assert eventually(lambda: flags.value("new_reranker", ANONYMOUS) == "control")
    assert server.flag_requests() == 2

    server.mode = Mode.ERROR_500
    clock.now += 301.0
    assert flags.value("new_reranker", ANONYMOUS) == "control"
    assert server.wait_for_requests(3, PATIENCE)
    assert flags.wait_for_values(0.0, ANONYMOUS)
    assert flags.value("new_reranker", ANONYMOUS) == "control"


@pytest.mark.parametrize("timeout", [-1, float("nan"), float("-inf"), "2", None, True, 10**400])
def test_a_wait_takes_any_timeout(server: FakePostHog, timeout: object) -> None:
    flags = flags_for(server)
    assert flags.wait_for_values(PATIENCE, ANONYMOUS)
    assert flags.wait_for_values(timeout, ANONYMOUS)  # type: ignore[arg-type]
    assert NoFlags().wait_for_values(timeout, ANONYMOUS) is False  # type: ignore[arg-type]


def test_no_flags_say_at_once_that_no_remote_values_will_come() -> None:
    started = time.monotonic()
    assert NoFlags().wait_for_values(60.0, ANONYMOUS) is False
    assert time.monotonic() - started < 1.0


def test_the_scheduling_examples_hold() -> None:
    failures, tried = doctest.testmod(posthog_flags)
    assert (failures, tried > 0) == (0, True)


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ({"flags": {"a": {"enabled": True, "variant": None}}}, {"a": True}),
        ({"flags": {"a": {"enabled": True, "variant": "v"}}}, {"a": "v"}),
        ({"flags": "nonsense"}, {}),
        ("not a dict", {}),
        ({"flags": {"a": "not a record"}}, {}),
    ],
)
def test_flag_values_parse_v4_answers_and_ignore_nonsense(
    response: object, expected: dict[str, object]
) -> None:
    assert flag_values(response) == expected


def test_threads_looking_up_at_once_share_one_refresh(server: FakePostHog) -> None:
    server.mode = Mode.SILENT
    flags = flags_for(server)

    def look_up() -> None:
        for _ in range(500):
            assert flags.value("new_reranker", ANONYMOUS) is None

    threads = [threading.Thread(target=look_up, daemon=True) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(PATIENCE)
    assert not any(thread.is_alive() for thread in threads)
    assert server.wait_for_requests(1, PATIENCE)
    assert server.flag_requests() == 1


def test_a_flag_request_asks_for_no_location_lookup(server: FakePostHog) -> None:
    """Red team of the whole surface: the /flags request carried no ``geoip_disable``, so
    PostHog geolocated the connection's address for flag evaluation, where every event says
    ``$geoip_disable``. It names nobody either: the anonymous id, no person or groups."""
    flags = flags_for(server)
    assert flags.wait_for_values(PATIENCE, ANONYMOUS)
    (body,) = [json.loads(raw) for raw in server.raw_bodies()]
    assert body["geoip_disable"] is True
    assert body["distinct_id"] == ANONYMOUS
    assert not body.get("person_properties")
    assert not body.get("groups")
