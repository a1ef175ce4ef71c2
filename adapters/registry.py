"""Building the process-wide client from the configuration, and keeping one per process."""

from __future__ import annotations

import atexit
import functools
import os
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING

from returns.result import Success

from codeweaver_telemetry.core.settings import SinkName, TelemetrySettings

from .client import OnFirstUse, TelemetryClient
from .config import load_config
from .directories import current_directory, user_state_directory
from .flags import FlagSource, NoFlags
from .log import debug

if TYPE_CHECKING:
    from codeweaver_telemetry.core.policy import PrivacyPolicy
    from codeweaver_telemetry.core.sink import Sink


class _Registry:
    """The process-wide client and the lock that guards its creation."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.client: TelemetryClient | None = None


_registry = _Registry()


def build_client(
    arguments: Mapping[str, object] | None = None, *, config_path: str | None = None
) -> TelemetryClient:
    """A client configured from arguments, environment and file; inert when telemetry is off
    or the configuration is invalid (the reason is in ``client.config_error``). Never raises."""
    loaded = load_config(arguments, config_path=config_path)
    if not isinstance(loaded.settings, Success):
        error = loaded.settings.failure()
        debug("telemetry: off, invalid configuration: %s", error)
        return TelemetryClient(None, config_error=error)
    settings = loaded.settings.unwrap()
    if not settings.enabled:
        return TelemetryClient(settings)
    try:
        # The working directory now, since the host may change it before its first capture
        # (a daemon does), and this one's name (the repository's) must be protected too.
        start_directory = current_directory()
        return TelemetryClient(
            settings,
            policy=OnFirstUse(functools.partial(installation_policy, settings, start_directory)),
            sink=OnFirstUse(functools.partial(make_sink, settings)),
            flags=OnFirstUse(functools.partial(make_flags, settings)),
        )
    except Exception as error:  # noqa: BLE001 - telemetry never throws into its host
        debug("telemetry: off, set-up failed (%s)", type(error).__name__)
        return TelemetryClient(None)


# The client calls these on first use (the first capture, the first flag lookup), which is
# where their modules load: a host's start-up pays for none of them.


def make_sink(settings: TelemetrySettings) -> Sink:
    """The sink the settings choose."""
    from .local_sinks import NullSink, StdoutSink  # noqa: PLC0415 - see above

    if settings.sink.value is SinkName.STDOUT:
        return StdoutSink(settings.stdout_target.value)
    if settings.sink.value is SinkName.POSTHOG:
        from .posthog_sink import PostHogSink  # noqa: PLC0415 - see above

        return PostHogSink.from_settings(settings)
    return NullSink()


def make_flags(settings: TelemetrySettings) -> FlagSource:
    """Remote flags when PostHog is the sink; none otherwise (local overrides still apply)."""
    if settings.sink.value is not SinkName.POSTHOG:
        return NoFlags()
    from .posthog_flags import PostHogFlags  # noqa: PLC0415 - see above
    from .posthog_sink import endpoint_from_settings  # noqa: PLC0415 - see above

    budget = settings.flag_budget_seconds.value
    return PostHogFlags(endpoint_from_settings(settings), budget=budget)


def installation_policy(
    settings: TelemetrySettings, start_directory: str | None = None
) -> PrivacyPolicy:
    """This installation's policy: its hash key, the user's opt-in, this machine's names
    (those of the working directory now, and at ``start_directory``)."""
    from codeweaver_telemetry.core.policy import PrivacyPolicy  # noqa: PLC0415 - see above

    from .identity import installation_hash_key, sensitive_literals  # noqa: PLC0415 - see above

    return PrivacyPolicy(
        hash_key=installation_hash_key(user_state_directory()),
        tools_over_privacy=settings.tools_over_privacy.value,
        sensitive_literals=sensitive_literals(start_directory, current_directory()),
    )


def get_telemetry_client() -> TelemetryClient:
    """The process-wide client, configured from settings on first use; thread-safe."""
    client = _registry.client
    if client is not None:
        return client
    with _registry.lock:
        if _registry.client is None:
            _registry.client = build_client()
            if _registry.client.enabled:
                atexit.register(_registry.client.shutdown)
        return _registry.client


def reset_telemetry_client() -> None:
    """Shut the process-wide client down (within its budget) and forget it: for tests."""
    with _registry.lock:
        client, _registry.client = _registry.client, None
    if client is not None:
        atexit.unregister(client.shutdown)
        client.shutdown()


def _forget_in_child() -> None:
    # A forked child must not share the parent's client (its lock may be held, its delivery
    # thread does not exist in the child): the child builds its own on first use.
    _registry.__init__()  # type: ignore[misc]


os.register_at_fork(after_in_child=_forget_in_child)
