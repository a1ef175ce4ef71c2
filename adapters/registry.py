"""Building the process-wide client from the configuration, and keeping one per process."""

from __future__ import annotations

import atexit
import logging
import os
import threading
from collections.abc import Mapping
from pathlib import Path

from returns.result import Success

from codeweaver_telemetry.core import PrivacyPolicy
from codeweaver_telemetry.core.settings import SinkName, TelemetrySettings
from codeweaver_telemetry.core.sink import Sink

from .client import TelemetryClient
from .config import APP_NAME, load_config
from .flags import FlagSource, NoFlags
from .identity import installation_hash_key, sensitive_literals
from .local_sinks import NullSink, StdoutSink

logger = logging.getLogger("codeweaver_telemetry")


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
        logger.debug("telemetry: off, invalid configuration: %s", error)
        return TelemetryClient(None, config_error=error)
    settings = loaded.settings.unwrap()
    if not settings.enabled:
        return TelemetryClient(settings)
    try:
        policy = PrivacyPolicy(
            hash_key=installation_hash_key(state_directory()),
            tools_over_privacy=settings.tools_over_privacy.value,
            sensitive_literals=sensitive_literals(),
        )
        return TelemetryClient(
            settings, policy=policy, sink=make_sink(settings), flags=make_flags(settings)
        )
    except Exception as error:  # noqa: BLE001 - telemetry never throws into its host
        logger.debug("telemetry: off, set-up failed (%s)", type(error).__name__)
        return TelemetryClient(None)


def make_sink(settings: TelemetrySettings) -> Sink:
    """The sink the settings choose."""
    if settings.sink.value is SinkName.STDOUT:
        return StdoutSink(settings.stdout_target.value)
    if settings.sink.value is SinkName.POSTHOG:
        from .posthog_sink import PostHogSink  # noqa: PLC0415 - only when it is chosen

        return PostHogSink.from_settings(settings)
    return NullSink()


def make_flags(settings: TelemetrySettings) -> FlagSource:
    """Remote flags when PostHog is the sink; none otherwise (local overrides still apply)."""
    if settings.sink.value is not SinkName.POSTHOG:
        return NoFlags()
    from .posthog_flags import PostHogFlags  # noqa: PLC0415 - only when it is chosen
    from .posthog_sink import endpoint_from_settings  # noqa: PLC0415 - only when it is chosen

    budget = settings.flag_budget_seconds.value
    return PostHogFlags(endpoint_from_settings(settings), budget=budget)


def state_directory() -> Path:
    """Where the installation's hash key lives (``~/.local/state/codeweaver`` on Linux)."""
    import platformdirs  # noqa: PLC0415 - only once telemetry is on

    return Path(platformdirs.user_state_dir(APP_NAME, appauthor=False))


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
