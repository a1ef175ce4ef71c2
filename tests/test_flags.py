"""Feature flags from a PostHog-compatible loopback server: values, cache, budget, overrides."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from fake_posthog import FakePostHog, Mode

from codeweaver_telemetry.adapters import NullSink, TelemetryClient
from codeweaver_telemetry.adapters.posthog_flags import PostHogFlags, flag_values
from codeweaver_telemetry.adapters.posthog_sink import Endpoint
from codeweaver_telemetry.core import PrivacyPolicy
from codeweaver_telemetry.core.settings import RawSources, resolve_settings


@pytest.fixture
def server() -> Iterator[FakePostHog]:
    flags: dict[str, bool | str] = {"new_reranker": "test", "fast_path": True, "off": False}
    with FakePostHog(flags=flags, lifetime_seconds=60) as fake:
        yield fake


def flags_for(server: FakePostHog, budget: float = 0.5) -> PostHogFlags:
    return PostHogFlags(Endpoint("phc_test", server.host, 10, 60.0, 100), budget=budget)


def client(flags: PostHogFlags, **arguments: object) -> TelemetryClient:
    settings = resolve_settings(RawSources(arguments=arguments, environment={})).unwrap()
    policy = PrivacyPolicy(hash_key=b"k" * 32)
    return TelemetryClient(settings, policy=policy, sink=NullSink(), flags=flags)


def test_values_come_from_the_server_and_are_cached(server: FakePostHog) -> None:
    telemetry = client(flags_for(server, budget=5.0))
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


def test_local_overrides_win_over_remote_values(server: FakePostHog) -> None:
    telemetry = client(flags_for(server, budget=5.0), flag_overrides={"new_reranker": "control"})
    assert telemetry.get_feature_flag("new_reranker") == "control"
    assert telemetry.get_all_feature_flags()["new_reranker"] == "control"


@pytest.mark.slow
def test_a_silent_host_costs_at_most_the_budget_once_then_nothing(server: FakePostHog) -> None:
    server.mode = Mode.SILENT
    telemetry = client(flags_for(server, budget=0.3))
    started = time.monotonic()
    assert telemetry.get_feature_flag("new_reranker", default="control") == "control"
    first = time.monotonic() - started
    started = time.monotonic()
    for _ in range(20):
        assert telemetry.get_feature_flag("new_reranker", default="control") == "control"
    repeated = time.monotonic() - started
    assert first < 0.6
    assert repeated < 0.6  # all callers share one budget per refresh


def test_a_refused_host_gives_the_default(server: FakePostHog) -> None:
    server.mode = Mode.REFUSE
    telemetry = client(flags_for(server, budget=1.0))
    assert telemetry.get_feature_flag("fast_path", default=False) is False


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
