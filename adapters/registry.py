"""Building the process-wide client from the configuration, and keeping one per process."""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Final

from returns.result import Success

from codeweaver_telemetry.core.app import APP_NAME_ACCEPTED, DEFAULT_APP, App
from codeweaver_telemetry.core.settings import (
    ConfigError,
    Origin,
    SinkName,
    Source,
    Speaker,
    TelemetrySettings,
)

from .client import OnFirstUse, TelemetryClient
from .config import checked_app, load_config
from .directories import current_directory, spool_directory, user_state_directory
from .flags import FlagSource, NoFlags
from .log import debug

if TYPE_CHECKING:
    from codeweaver_telemetry.core.policy import PrivacyPolicy
    from codeweaver_telemetry.core.sink import Sink

    from .batching import DurableSpool


class _Registry:
    """The process-wide client and the lock that guards its creation."""

    def __init__(self) -> None:
        # Re-entrant, with ``making``: a host's signal or log handler that asks for the client
        # on the thread that is making it gets an inert one, and does not wait on itself.
        self.lock = threading.RLock()
        self.making = False
        self.clients: dict[object, TelemetryClient] = {}
        """One per app, by the app as the host named it."""


_registry = _Registry()

_INERT: Final = TelemetryClient(None)
"""What :func:`build_client` gives when not even an inert client of its own can be made."""


def build_client(
    arguments: Mapping[str, object] | None = None,
    *,
    config_path: str | None = None,
    app: str | App = DEFAULT_APP,
) -> TelemetryClient:
    """A client configured from the host's arguments, the user's and the project's files and
    the user's environment, under ``app``'s names (a name such as ``"mytool"``, or an
    :class:`App`); inert when telemetry is off or the configuration or app name is invalid
    (the reason is in ``client.config_error``). The host's arguments can turn things off,
    never opt the user in. Never raises (but an interrupt)."""
    try:
        return _configured_client(arguments, config_path, app)
    except Exception as error:  # noqa: BLE001 - telemetry never throws into its host
        return _failed_client(error)


def _failed_client(error: Exception) -> TelemetryClient:
    """An inert client for a set-up that raised, and why; when even that cannot be made (the
    host called from the brink of its recursion limit), the inert client made at import."""
    try:
        debug("telemetry: off, set-up failed (%s)", type(error).__name__)
        problem = f"the configuration could not be read ({type(error).__name__})"
        return _refused(ConfigError(Origin(Source.ARGUMENT), "", problem, "a readable one"))
    except Exception:  # noqa: BLE001 - telemetry never throws into its host
        return _INERT


def _configured_client(arguments: object, config_path: object, app: object) -> TelemetryClient:
    named = checked_app(app)
    if not isinstance(named, Success):
        error = ConfigError(Origin(Source.ARGUMENT), "app", named.failure(), APP_NAME_ACCEPTED)
        debug("telemetry: off, invalid app name")
        return TelemetryClient(None, config_error=error)
    loaded = load_config(arguments, config_path=config_path, app=named.unwrap())  # type: ignore[arg-type]
    if not isinstance(loaded.settings, Success):
        return _refused(loaded.settings.failure())
    settings = loaded.settings.unwrap()
    if not settings.enabled:
        _forget_the_spool_on_the_users_opt_out(settings)
        return TelemetryClient(settings)
    try:
        # The working directory now, since the host may change it before its first capture
        # (a daemon does), and this one's name (the repository's) must be protected too.
        start_directory = current_directory()
        return TelemetryClient(
            settings,
            policy=OnFirstUse(functools.partial(installation_policy, settings, start_directory)),
            sink=OnFirstUse(functools.partial(make_sink, settings, start_directory)),
            flags=OnFirstUse(functools.partial(make_flags, settings)),
        )
    except Exception as error:  # noqa: BLE001 - telemetry never throws into its host
        debug("telemetry: off, set-up failed (%s)", type(error).__name__)
        return TelemetryClient(None)


def _forget_the_spool_on_the_users_opt_out(settings: TelemetrySettings) -> None:
    """The user's opt-out (their variable, file or ``DO_NOT_TRACK``) deletes what earlier
    runs left undelivered: the one thing a client that is off ever writes, and only when
    there is a spool to delete (a stat otherwise; nothing is imported)."""
    if settings.enabled or settings.deciding.speaker is not Speaker.USER:
        return
    directory = spool_directory(settings.app)
    if directory is not None and os.path.isdir(directory):
        from .spool import Spool  # noqa: PLC0415 - only when there is one

        Spool(directory).delete_all()


def _refused(error: ConfigError) -> TelemetryClient:
    """An inert client for a configuration that cannot be used, and why."""
    debug("telemetry: off, invalid configuration: %s", error)
    return TelemetryClient(None, config_error=error)


# The client calls these on first use (the first capture, the first flag lookup), which is
# where their modules load: a host's start-up pays for none of them.


def make_sink(settings: TelemetrySettings, start_directory: str | None = None) -> Sink:
    """The sink the settings choose; the null sink while a required first-run notice has not
    been shown. The PostHog sink keeps what it cannot deliver in the app's spool, and checks
    what it claims from there against this machine's names (as :func:`installation_policy`
    gathers them, on the worker's thread)."""
    from .local_sinks import NullSink, stream_sink  # noqa: PLC0415 - see above
    from .notice import notice_was_shown  # noqa: PLC0415 - see above

    if settings.require_notice.value and not notice_was_shown(settings.app):
        debug("telemetry: nothing is sent before the first-run notice has been shown")
        return NullSink()
    if settings.sink.value is SinkName.STDOUT:
        return stream_sink(
            settings.stdout_target.value, max_buffered=settings.max_buffered_events.value
        )
    if can_send_to_posthog(settings):
        from .posthog_sink import (  # noqa: PLC0415 - see above
            endpoint_from_settings,
            posthog_sink,
            spooled_item_check,
        )

        return posthog_sink(
            endpoint_from_settings(settings),
            spool=_app_spool(settings),
            recheck=spooled_item_check(
                settings.app,
                query_opt_in=settings.tools_over_privacy.value,
                literals=functools.partial(machine_literals, start_directory),
            ),
        )
    return NullSink()


def _app_spool(settings: TelemetrySettings) -> DurableSpool | None:
    """The app's spool; none when there is no state directory, or it cannot be made (then
    what cannot be delivered is counted lost, and delivery goes on)."""
    try:
        from .spool import Spool  # noqa: PLC0415 - see above

        directory = spool_directory(settings.app)
        if directory is None:
            return None
        return Spool(directory, query_opt_in=settings.tools_over_privacy.value)
    except Exception as error:  # noqa: BLE001 - telemetry never throws into its host
        debug("telemetry: no spool (%s)", type(error).__name__)
        return None


def can_send_to_posthog(settings: TelemetrySettings) -> bool:
    """PostHog is the sink, and there is a key to send with and the package to send through
    (otherwise nothing is sent, as ``status`` says: never a request without a key)."""
    return (
        settings.sink.value is SinkName.POSTHOG
        and settings.posthog_api_key.value is not None
        and settings.posthog_installed
    )


def make_flags(settings: TelemetrySettings) -> FlagSource:
    """Remote flags when PostHog is the sink; none otherwise (local overrides still apply)."""
    if not can_send_to_posthog(settings):
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

    from .identity import installation_hash_key  # noqa: PLC0415 - see above

    hash_key = installation_hash_key(user_state_directory(app=settings.app))
    debug("telemetry: hashing with %s", hash_key.how)
    return PrivacyPolicy(
        hash_key=hash_key.key,
        tools_over_privacy=settings.tools_over_privacy.value,
        sensitive_literals=machine_literals(start_directory),
    )


def machine_literals(start_directory: str | None = None) -> frozenset[str]:
    """This machine's names, those of the working directory now and at ``start_directory``."""
    from .identity import sensitive_literals  # noqa: PLC0415 - see above

    return sensitive_literals(start_directory, current_directory())


def get_telemetry_client(app: str | App = DEFAULT_APP) -> TelemetryClient:
    """The process-wide client of ``app`` (CodeWeaver's by default), configured from settings
    on first use; thread-safe."""
    # One client per app, whatever names it (a name or an App; an invalid one is refused).
    try:
        named = checked_app(app).value_or(None)
        key = named.name if named is not None else f"invalid:{type(app).__name__}"
        client = _registry.clients.get(key)
        if client is not None:
            return client
        with _registry.lock:
            client = _registry.clients.get(key)
            if client is None:
                if _registry.making:  # (this thread is making one: see _Registry)
                    return _INERT
                _registry.making = True
                try:
                    client = _configured_client(None, None, app)
                except Exception as error:  # noqa: BLE001 - telemetry never throws into its host
                    # Not kept: a failure of the moment (the host's stack near its limit)
                    # must not turn telemetry off for the rest of the process.
                    return _failed_client(error)
                finally:
                    _registry.making = False
                _registry.clients[key] = client
            return client
    except Exception:  # noqa: BLE001 - telemetry never throws into its host
        return _INERT


def set_telemetry_client(
    client: TelemetryClient | None, app: str | App = DEFAULT_APP
) -> TelemetryClient | None:
    """Make ``client`` the process-wide client of ``app`` (a host with its own wiring, a
    test), or with None forget it, so that the next :func:`get_telemetry_client` builds one
    from the configuration. Returns the client it replaces, which is not shut down: the
    caller decides (a test puts it back). Never raises."""
    named = checked_app(app).value_or(None)
    if named is None or (client is not None and not isinstance(client, TelemetryClient)):
        debug("telemetry: set_telemetry_client ignored an invalid app or client")
        return None
    with _registry.lock:
        previous = _registry.clients.pop(named.name, None)
        if client is not None:
            _registry.clients[named.name] = client
        return previous


def reset_telemetry_client() -> None:
    """Shut every process-wide client down (each within its budget) and forget them: for
    tests."""
    with _registry.lock:
        clients, _registry.clients = list(_registry.clients.values()), {}
    for client in clients:
        client.shutdown()


def _forget_in_child() -> None:
    # A forked child must not share the parent's client (its lock may be held, its delivery
    # thread does not exist in the child): the child builds its own on first use.
    _registry.__init__()  # type: ignore[misc]


os.register_at_fork(after_in_child=_forget_in_child)
