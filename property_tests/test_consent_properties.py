"""Consent, for any combination of sources: on only if no speaker said off; the opt-in only if
the user said on and no one said off."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from codeweaver_telemetry.core.app import App
from codeweaver_telemetry.core.settings import RawSources, Speaker, resolve_settings

PREFIX = "CODEWEAVER__TELEMETRY__"

said = st.sampled_from([None, True, False])
"""What one source says about one key: nothing, true or false."""

spellings = st.sampled_from(["true", "1", "yes", "ON", "false", "0", "no", "Off"])


@st.composite
def a_table(draw: st.DrawFn) -> dict[str, object] | None:
    """A ``[telemetry]`` table saying anything about the two keys of consent, or no file."""
    if draw(st.booleans()):
        return None
    table: dict[str, object] = {}
    for key, alias in (("disable_telemetry", None), ("tools_over_privacy", "tools_above_privacy")):
        value = draw(said)
        if value is not None:
            table[draw(st.sampled_from([key, alias or key]))] = value
    return table


@st.composite
def an_environment(draw: st.DrawFn) -> dict[str, str]:
    """The user's variables about the two keys, and DO_NOT_TRACK, in any spelling."""
    environment: dict[str, str] = {}
    for key in ("DISABLE_TELEMETRY", "TOOLS_OVER_PRIVACY"):
        if draw(st.booleans()):
            environment[PREFIX + key] = draw(spellings)
    if draw(st.booleans()):
        environment["DO_NOT_TRACK"] = draw(st.sampled_from(["1", "true", "0", "", "false"]))
    return environment


@st.composite
def host_arguments(draw: st.DrawFn) -> dict[str, object]:
    arguments: dict[str, object] = {}
    for key in ("disable_telemetry", "tools_over_privacy"):
        value = draw(said)
        if value is not None:
            arguments[key] = value
    return arguments


def truthy(text: str) -> bool:
    return text.strip().lower() in {"true", "1", "yes", "on"}


def statements(raw: RawSources, key: str) -> list[tuple[Speaker, bool]]:
    """Who said what about ``key``, as the property states it (independently of the code)."""
    found: list[tuple[Speaker, bool]] = []
    for speaker, table in (
        (Speaker.USER, raw.user_file_table),
        (Speaker.PROJECT, raw.project_file_table),
    ):
        for name, value in (table or {}).items():
            if name in {key, "tools_above_privacy" if key == "tools_over_privacy" else key}:
                found.append((speaker, bool(value)))
    variable = PREFIX + key.upper()
    if variable in raw.environment:
        found.append((Speaker.USER, truthy(raw.environment[variable])))
    if key in raw.arguments:
        found.append((Speaker.HOST, bool(raw.arguments[key])))
    do_not_track = raw.environment.get("DO_NOT_TRACK", "").strip().lower()
    if key == "disable_telemetry" and do_not_track not in {"", "0", "false", "no", "off"}:
        found.append((Speaker.USER, True))
    return found


@given(
    user_file=a_table(),
    project_file=a_table(),
    environment=an_environment(),
    arguments=host_arguments(),
    on_by_default=st.booleans(),
)
def test_no_one_but_the_user_opts_in_and_anyone_opts_out(
    user_file: dict[str, object] | None,
    project_file: dict[str, object] | None,
    environment: dict[str, str],
    arguments: dict[str, object],
    on_by_default: bool,
) -> None:
    raw = RawSources(
        arguments=arguments,
        environment=environment,
        user_file_table=user_file,
        user_file_path="/home/u/.config/codeweaver/codeweaver.toml",
        project_file_table=project_file,
        project_file_path="/work/codeweaver.toml",
        app=App("codeweaver", on_by_default=on_by_default),
    )
    settings = resolve_settings(raw).unwrap()

    disabling = statements(raw, "disable_telemetry")
    someone_said_off = any(value for _, value in disabling)
    user_said_on = any(speaker is Speaker.USER and not value for speaker, value in disabling)
    assert settings.enabled == (not someone_said_off and (on_by_default or user_said_on))

    opting = statements(raw, "tools_over_privacy")
    someone_said_no = any(not value for _, value in opting)
    user_said_yes = any(speaker is Speaker.USER and value for speaker, value in opting)
    assert settings.tools_over_privacy.value == (user_said_yes and not someone_said_no)
    if settings.tools_over_privacy.value:
        assert settings.tools_over_privacy.origin.speaker is Speaker.USER
    if settings.enabled and not on_by_default:
        assert settings.deciding.speaker is Speaker.USER
