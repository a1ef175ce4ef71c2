"""The names a tool embeds the library under: one app name gives them all.

``App("mytool")`` gives the variables ``MYTOOL__TELEMETRY__*``, the configuration file
``mytool.toml`` and the directory ``mytool`` (for the user's configuration and for the state,
so each tool has its own hash key and first-run notice), and the prefix of the library's own
event names (``mytool_search``). CodeWeaver's names are the default. ``DO_NOT_TRACK`` is
global: it is no tool's own.
"""

from __future__ import annotations

import re
from typing import Final, NamedTuple

from returns.result import Failure, Result, Success

_LABEL: Final = re.compile(r"(?=.{1,40}\Z)[a-z][a-z0-9]*(?:[_-][a-z0-9]+)*")
"""One separator at a time, none at the end: ``my__tool`` or ``tool_`` would make variables
that run into another app's (``MY__TOOL__TELEMETRY__`` ...)."""

APP_NAME_ACCEPTED: Final = (
    "a label of lowercase letters and digits, with single '-' or '_' between them, "
    "starting with a letter, at most 40 characters (for example mytool)"
)


class App(NamedTuple):
    """A tool's name and whether its telemetry is on when no one has said anything.

    Make one with :func:`app_named`, which checks the name; the adapters check it again
    whatever they are handed.
    """

    name: str
    on_by_default: bool = True

    @property
    def variable_stem(self) -> str:
        """The name as it starts an environment variable: ``MY_TOOL`` for ``my-tool``."""
        return self.name.upper().replace("-", "_")

    @property
    def env_prefix(self) -> str:
        """Each setting's variable is this prefix and the key in upper case."""
        return f"{self.variable_stem}__TELEMETRY__"

    @property
    def api_key_variable(self) -> str:
        """Also accepted for the PostHog project key (``CODEWEAVER_POSTHOG_API_KEY``)."""
        return f"{self.variable_stem}_POSTHOG_API_KEY"

    @property
    def config_file_variable(self) -> str:
        """Names a project configuration file (``CODEWEAVER_TELEMETRY_CONFIG``)."""
        return f"{self.variable_stem}_TELEMETRY_CONFIG"

    @property
    def config_file_name(self) -> str:
        """The configuration file's name, in the working directory and the user's."""
        return f"{self.name}.toml"

    @property
    def directory_name(self) -> str:
        """The directory under the user's configuration and state directories."""
        return self.name

    @property
    def event_prefix(self) -> str:
        """The prefix of the library's own event names: ``codeweaver_`` (``codeweaver_search``)."""
        return f"{self.name.replace('-', '_')}_"


DEFAULT_APP: Final = App("codeweaver")


def app_named(name: object, *, on_by_default: bool = True) -> Result[App, str]:
    """The app of this name, or why the name cannot be one (what is accepted is
    :data:`APP_NAME_ACCEPTED`).

    >>> app_named("mytool").unwrap().env_prefix
    'MYTOOL__TELEMETRY__'
    >>> app_named("My Tool").failure()
    "'My Tool' is not a valid app name"
    """
    if isinstance(name, str) and _LABEL.fullmatch(name):
        return Success(App(name, on_by_default=bool(on_by_default)))
    shown = repr(name[:40]) if isinstance(name, str) else f"a {type(name).__name__}"
    return Failure(f"{shown} is not a valid app name")
