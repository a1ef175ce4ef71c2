"""Settings resolution: parsing, precedence, opt-outs that always win, clear errors."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from codeweaver_telemetry.core.settings import (
    DEFAULT_HOST,
    ConfigError,
    RawSources,
    SinkName,
    Source,
    Speaker,
    TelemetrySettings,
    resolve_settings,
)


def resolve(
    arguments: Mapping[str, object] | None = None,
    environment: Mapping[str, str] | None = None,
    file_table: Mapping[str, object] | None = None,
    *,
    posthog_installed: bool = True,
) -> TelemetrySettings:
    raw = RawSources(
        arguments=arguments or {},
        environment=environment or {},
        project_file_table=file_table,
        project_file_path="/etc/codeweaver.toml" if file_table is not None else "",
        posthog_installed=posthog_installed,
    )
    return resolve_settings(raw).unwrap()


def error(**kwargs: object) -> str:
    raw = RawSources(
        arguments=kwargs.get("arguments", {}),  # type: ignore[arg-type]
        environment=kwargs.get("environment", {}),  # type: ignore[arg-type]
        project_file_table=kwargs.get("file_table"),  # type: ignore[arg-type]
        project_file_path="codeweaver.toml",
    )
    failure = resolve_settings(raw).failure()
    assert isinstance(failure, ConfigError)
    return str(failure)


def test_defaults_without_a_key_choose_the_null_sink() -> None:
    settings = resolve()
    assert settings.enabled
    assert settings.sink.value is SinkName.NULL
    assert settings.posthog_host.value.reveal() == DEFAULT_HOST
    assert settings.batch_size.value == 10
    assert settings.batch_interval_seconds.value == 60.0
    assert settings.shutdown_budget_seconds.value == 2.0
    assert settings.flag_budget_seconds.value == 0.5
    assert settings.deciding.source is Source.DEFAULT


def test_a_key_with_posthog_installed_chooses_posthog() -> None:
    environment = {"CODEWEAVER__TELEMETRY__POSTHOG_API_KEY": "phc_test"}
    assert resolve(environment=environment).sink.value is SinkName.POSTHOG
    assert resolve(environment=environment, posthog_installed=False).sink.value is SinkName.NULL


def test_the_legacy_key_variable_is_accepted_and_the_prefixed_one_wins() -> None:
    assert api_key(resolve(environment={"CODEWEAVER_POSTHOG_API_KEY": "phc_a"})) == "phc_a"
    both = {
        "CODEWEAVER_POSTHOG_API_KEY": "phc_a",
        "CODEWEAVER__TELEMETRY__POSTHOG_PROJECT_KEY": "phc_b",
        "CODEWEAVER__TELEMETRY__POSTHOG_API_KEY": "phc_c",
    }
    assert api_key(resolve(environment=both)) == "phc_c"
    del both["CODEWEAVER__TELEMETRY__POSTHOG_API_KEY"]
    assert api_key(resolve(environment=both)) == "phc_b"


def api_key(settings: TelemetrySettings) -> str | None:
    key = settings.posthog_api_key.value
    return None if key is None else key.reveal()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("true", True),
        ("TRUE", True),
        ("1", True),
        ("yes", True),
        ("On", True),
        ("false", False),
        ("0", False),
        ("No", False),
        ("off", False),
    ],
)
def test_booleans_accept_the_usual_spellings(raw: str, expected: bool) -> None:
    settings = resolve(environment={"CODEWEAVER__TELEMETRY__TOOLS_OVER_PRIVACY": raw})
    assert settings.tools_over_privacy.value is expected
    assert settings.tools_over_privacy.origin.speaker is Speaker.USER


def test_precedence_is_argument_then_environment_then_file() -> None:
    settings = resolve(
        arguments={"batch_size": 5},
        environment={
            "CODEWEAVER__TELEMETRY__BATCH_SIZE": "7",
            "CODEWEAVER__TELEMETRY__SINK": "null",
        },
        file_table={"batch_size": 9, "sink": "stdout", "batch_interval_seconds": 3},
    )
    assert (settings.batch_size.value, settings.batch_size.origin.source) == (5, Source.ARGUMENT)
    assert settings.sink.value is SinkName.NULL
    assert settings.sink.origin.where == "CODEWEAVER__TELEMETRY__SINK"
    assert settings.batch_interval_seconds.value == 3.0
    assert settings.batch_interval_seconds.origin.where == "/etc/codeweaver.toml"
    assert settings.batch_interval_seconds.origin.source is Source.PROJECT_FILE


@pytest.mark.parametrize(
    ("sources", "where"),
    [
        ({"file_table": {"disable_telemetry": True}}, "/etc/codeweaver.toml"),
        (
            {"environment": {"CODEWEAVER__TELEMETRY__DISABLE_TELEMETRY": "yes"}},
            "CODEWEAVER__TELEMETRY__DISABLE_TELEMETRY",
        ),
        ({"environment": {"DO_NOT_TRACK": "1"}}, "DO_NOT_TRACK"),
    ],
)
def test_an_opt_out_from_any_source_beats_an_opt_in_from_any_other(
    sources: dict[str, Mapping[str, object]], where: str
) -> None:
    settings = resolve(arguments={"disable_telemetry": False}, **sources)  # type: ignore[arg-type]
    assert not settings.enabled
    assert settings.deciding.where == where


def test_do_not_track_false_values_do_not_opt_out() -> None:
    for value in ("0", "false", "", "no"):
        assert resolve(environment={"DO_NOT_TRACK": value}).enabled


def test_codeweavers_own_names_are_accepted() -> None:
    user_file = RawSources(
        arguments={}, environment={}, user_file_table={"tools_above_privacy": True}
    )
    assert resolve_settings(user_file).unwrap().tools_over_privacy.value is True
    user_key = RawSources(
        arguments={}, environment={}, user_file_table={"posthog_project_key": "phc_project"}
    )
    assert api_key(resolve_settings(user_key).unwrap()) == "phc_project"
    from_variable = resolve(environment={"CODEWEAVER__TELEMETRY__POSTHOG_PROJECT_KEY": "phc_v"})
    assert api_key(from_variable) == "phc_v"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("posthog_api_key", "phc_attacker"),
        ("posthog_host", "https://collector.example.net"),
        ("sink", "stdout"),
        ("stdout_target", "/home/bob/.bashrc"),
    ],
)
def test_a_project_file_cannot_choose_where_events_go(key: str, value: str) -> None:
    # A cloned repository's codeweaver.toml must not send the user's events to its own
    # server, nor append them to a file of the user's.
    settings = resolve(file_table={key: value})
    assert getattr(settings, key).origin.source is Source.DEFAULT
    assert [(ignored.key, ignored.origin.source) for ignored in settings.ignored] == [
        (key, Source.PROJECT_FILE)
    ]


def test_flag_overrides_parse_from_a_variable_and_a_table() -> None:
    from_variable = resolve(environment={"CODEWEAVER__TELEMETRY__FLAG_OVERRIDES": "a=test, b=true"})
    assert from_variable.flag_overrides.value == {"a": "test", "b": True}
    from_file = resolve(file_table={"flag_overrides": {"a": "control", "b": False}})
    assert from_file.flag_overrides.value == {"a": "control", "b": False}


@pytest.mark.parametrize(
    ("sources", "message"),
    [
        (
            {"environment": {"CODEWEAVER__TELEMETRY__DISABLE_TELEMETRY": "ture"}},
            "environment (CODEWEAVER__TELEMETRY__DISABLE_TELEMETRY): disable_telemetry: not a "
            "boolean; accepted: true/false, 1/0, yes/no, on/off (any case)",
        ),
        (
            {"environment": {"CODEWEAVER__TELEMETRY__BATCH_SIZE": "ten"}},
            "environment (CODEWEAVER__TELEMETRY__BATCH_SIZE): batch_size: not a whole number; "
            "accepted: a whole number >= 1",
        ),
        (
            {"file_table": {"sink": "kafka"}},
            "project file (codeweaver.toml): sink: not a known sink; "
            "accepted: posthog, stdout, null",
        ),
        (
            {"file_table": {"batch_sise": 3}},
            "project file (codeweaver.toml): batch_sise: unknown key",
        ),
        (
            {"environment": {"CODEWEAVER__TELEMETRY__DISABLE_TELEMTRY": "1"}},
            "CODEWEAVER__TELEMETRY__DISABLE_TELEMTRY: unknown variable",
        ),
        ({"arguments": {"sinks": "null"}}, "argument: sinks: unknown key"),
        (
            {"environment": {"CODEWEAVER__TELEMETRY__POSTHOG_HOST": "ftp://x"}},
            "posthog_host: not an http(s) URL",
        ),
    ],
)
def test_bad_values_give_one_clear_message(sources: dict[str, object], message: str) -> None:
    assert message in error(**sources)


def test_an_error_never_shows_the_secret() -> None:
    message = error(file_table={"posthog_api_key": 12345678})
    assert "12345678" not in message
    assert "posthog_api_key" in message
