"""The client a host talks to: sessions, capture, contexts, feature flags, shutdown.

Every public method returns normally whatever its inputs, the network or the sink do: a
failure is logged at debug level on the ``codeweaver_telemetry`` logger and counted, and the
counts travel in the next session event. When telemetry is off, from any source, the client is
inert: it creates no sink, reads no key file, starts no thread and imports no network code.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import platform
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Concatenate, Final, ParamSpec, TypeVar

from returns.result import Result

from codeweaver_telemetry.core import (
    PRIVACY_FILTER_KEY,
    JSONObject,
    PrivacyError,
    PrivacyPolicy,
    __version__,
    filter_for_telemetry,
    serialize_for_telemetry,
)
from codeweaver_telemetry.core.conversions import category_label
from codeweaver_telemetry.core.event_schema import AnonymizedEvent, PropertySpec, TelemetryEvent
from codeweaver_telemetry.core.settings import ConfigError, TelemetrySettings
from codeweaver_telemetry.core.sink import Accepted, DeliveryReport, OutboundEvent, Sink

from .context import current_tags, tags_applied
from .flags import FlagSource, NoFlags
from .identity import new_distinct_id

if TYPE_CHECKING:
    from codeweaver_telemetry.core import (
        FindCodeResponseSummary,
        IntentType,
        SearchStrategy,
        SessionStatistics,
    )

logger = logging.getLogger("codeweaver_telemetry")

SESSION_ID_PROPERTY: Final = "$session_id"
SESSION_EVENT_NAME: Final = "codeweaver_session"
"""The session event's name (``SessionEvent.EVENT_NAME``), without loading its schema."""


LIBRARY_PROPERTIES: Final = (
    PropertySpec("$lib", "string", "Always codeweaver-telemetry."),
    PropertySpec("$lib_version", "string", "The library's version."),
    PropertySpec("$os", "string", "The operating system's name only (Linux, Darwin, Windows)."),
    PropertySpec("$python_version", "string", "Python's major.minor version only."),
    PropertySpec("$geoip_disable", "boolean", "Always true: no location lookup."),
    PropertySpec("$process_person_profile", "boolean", "Always false: no person profile."),
    PropertySpec(SESSION_ID_PROPERTY, "string", "The session's random id (also distinct_id)."),
)
"""What every event carries besides its own properties, for the data inventory."""


def library_properties() -> JSONObject:
    """What every event says about the library and the platform: coarse facts only.

    The operating system's name and Python's minor version; never a host name, an OS build or
    distribution version, a locale or an address. ``$geoip_disable`` asks PostHog not to look
    the connection's address up; ``$process_person_profile`` keeps it from making a profile.
    """
    return {
        "$lib": "codeweaver-telemetry",
        "$lib_version": __version__,
        "$os": platform.system() or "unknown",
        "$python_version": ".".join(platform.python_version_tuple()[:2]),
        "$geoip_disable": True,
        "$process_person_profile": False,
    }


_T = TypeVar("_T")
_P = ParamSpec("_P")


def _never_raises(
    method: Callable[Concatenate[TelemetryClient, _P], None],
) -> Callable[Concatenate[TelemetryClient, _P], None]:
    """Telemetry never throws into its host: a failure is counted and logged at debug level."""

    @functools.wraps(method)
    def guarded(self: TelemetryClient, /, *args: _P.args, **kwargs: _P.kwargs) -> None:
        try:
            method(self, *args, **kwargs)
        except Exception as error:  # noqa: BLE001 - whatever the host handed over
            self._count_drop(method.__name__, error)

    return guarded


class TelemetryClient:
    """One process's telemetry: build it with :func:`get_telemetry_client`, or directly with
    resolved settings, a policy and a sink (tests and hosts with their own wiring)."""

    def __init__(
        self,
        settings: TelemetrySettings | None,
        *,
        policy: PrivacyPolicy | None = None,
        sink: Sink | None = None,
        flags: FlagSource | None = None,
        config_error: ConfigError | None = None,
    ) -> None:
        self._settings = settings
        self._enabled = bool(settings and settings.enabled and policy and sink)
        self._policy = policy
        # The search event's opt-in is a policy field: the opted-out variant is made once, here.
        self._opted_out_policy = (
            dataclasses.replace(policy, tools_over_privacy=False) if policy else None
        )
        self._sink = sink
        self._library = library_properties() if self._enabled else {}
        self._flags: FlagSource = flags or NoFlags()
        self.config_error = config_error
        """Why telemetry is off because of the configuration, if it is."""
        self._lock = threading.RLock()
        self._session_id = ""
        self._session_metadata: JSONObject = {}
        self._session_started = 0.0
        self._session_event_sent = False
        self._budget_left = settings.shutdown_budget_seconds.value if settings else 0.0
        self._closed = False
        self.dropped = 0
        """Events left out in this session: a full buffer, a closed sink, a filter failure."""
        self.failed = 0
        """Events whose delivery failed in this session."""

    @property
    def enabled(self) -> bool:
        """Whether telemetry is on, as the configuration resolved it (shutdown leaves it)."""
        return self._enabled

    @property
    def settings(self) -> TelemetrySettings | None:
        """The resolved settings, or None when the configuration was invalid."""
        return self._settings

    # --- sessions --------------------------------------------------------------------------

    def start_session(self, metadata: Mapping[str, object] | None = None) -> None:
        """Start a session: a new random distinct id, and metadata for every event in it."""
        if not self._enabled:
            return
        try:
            filtered = self._context_properties(metadata or {})
            with self._lock:
                self._session_id = new_distinct_id()
                self._session_metadata = filtered
                self._session_started = time.monotonic()
                self._session_event_sent = False
                self.dropped = self.failed = 0
        except Exception as error:  # noqa: BLE001 - telemetry never throws into its host
            logger.debug("telemetry: start_session failed (%s)", type(error).__name__)

    def end_session(self, *, version: str | None = None) -> DeliveryReport:
        """Capture the session event (unless one was captured) and flush, within the budget."""
        if not self._enabled:
            return DeliveryReport()
        try:
            if not self._session_event_sent and self._session_id:
                self.capture_session_event(version=version)
            return self._flush(None)
        except Exception as error:  # noqa: BLE001 - telemetry never throws into its host
            logger.debug("telemetry: end_session failed (%s)", type(error).__name__)
            return DeliveryReport()

    # --- capture ---------------------------------------------------------------------------

    @_never_raises
    def capture(self, event: str, properties: Mapping[str, object] | None = None) -> None:
        """Capture an event; the properties are filtered and guarded before this returns."""
        if self._enabled:
            filtered = self._filtered(properties or {})
            if filtered is not None:
                self._emit(event, filtered)

    @_never_raises
    def capture_from_event(self, event: TelemetryEvent) -> None:
        """Capture an event object; the library's own events are already anonymized, any other
        event's properties are filtered like a raw dict."""
        if not self._enabled:
            return
        name, properties = event.to_posthog_event()
        if isinstance(event, AnonymizedEvent) and event.sealed:
            self._session_event_sent |= name == SESSION_EVENT_NAME
            self._emit(name, properties)
        else:
            self.capture(name, properties)

    @_never_raises
    def capture_with_serialization(self, event_name: str, obj: object) -> None:
        """Capture a model's ``serialize_for_telemetry()`` form as an event's properties."""
        if self._enabled and self._policy is not None:
            result = serialize_for_telemetry(obj, self._policy)
            self._send("capture_with_serialization", result, lambda p: self._emit(event_name, p))

    @_never_raises
    def capture_session_event(
        self,
        stats: SessionStatistics | None = None,
        *,
        version: str | None = None,
        setup_success: bool | None = None,
        setup_attempts: int | None = None,
        config_errors: Sequence[object] = (),
        duration_seconds: float | None = None,
    ) -> None:
        """Build and capture the session event, with this client's delivery counts.

        ``version`` defaults to the session metadata's ``version``, and ``duration_seconds``
        to the time since :meth:`start_session`.
        """
        if not self._enabled or self._policy is None:
            return
        elapsed = time.monotonic() - self._session_started if self._session_started else 0.0
        # The event schemas load on first use: a host pays for them when it sends one.
        from codeweaver_telemetry.core import SessionStatistics  # noqa: PLC0415
        from codeweaver_telemetry.core.session_event import build_session_event  # noqa: PLC0415

        result = build_session_event(
            stats if stats is not None else SessionStatistics(),
            version=version or str(self._session_metadata.get("version", "unknown")),
            duration_seconds=elapsed if duration_seconds is None else duration_seconds,
            policy=self._policy,
            setup_success=setup_success,
            setup_attempts=setup_attempts,
            config_errors=config_errors,
            events_dropped=self.dropped,
            events_failed=self.failed,
        )
        self._send("capture_session_event", result, self.capture_from_event)

    @_never_raises
    def capture_search_event(
        self,
        response: FindCodeResponseSummary,
        *,
        query: str,
        intent_type: IntentType | None,
        strategies: Iterable[SearchStrategy],
        execution_time_ms: float,
        tools_over_privacy: bool | None = None,
        feature_flags: Mapping[str, object] | None = None,
    ) -> None:
        """Build and capture the search event.

        The query statistics need the user's own opt-in (``tools_over_privacy`` in the
        configuration): the host's ``tools_over_privacy`` argument can only turn them off,
        never on for a user who did not opt in.
        """
        if not self._enabled or self._policy is None or self._opted_out_policy is None:
            return
        opted_in = tools_over_privacy is not False and self._policy.tools_over_privacy
        from codeweaver_telemetry.core.search_event import build_search_event  # noqa: PLC0415

        result = build_search_event(
            response,
            query=query,
            intent_type=intent_type,
            strategies=strategies,
            execution_time_ms=execution_time_ms,
            policy=self._policy if opted_in else self._opted_out_policy,
            feature_flags=feature_flags,
        )
        self._send("capture_search_event", result, self.capture_from_event)

    # --- contexts and flags ----------------------------------------------------------------

    def context(self, **tags: object) -> contextlib.AbstractContextManager[None]:
        """Tags for every event captured inside the block (nestable; see ``context.py``)."""
        return tags_applied(tags)

    def get_feature_flag(self, key: str, default: object = None) -> object:
        """A flag's value: a local override, else the (cached) remote value, else ``default``.

        Never waits longer than the flag budget; offline or disabled gives ``default``.
        """
        if not self._enabled or self._settings is None:
            return default
        overrides = self._settings.flag_overrides.value
        if key in overrides:
            return overrides[key]
        try:
            value = self._flags.value(key, self._session_id or "anonymous")
        except Exception as error:  # noqa: BLE001 - telemetry never throws into its host
            logger.debug("telemetry: flag lookup failed (%s)", type(error).__name__)
            return default
        return default if value is None else value

    def get_all_feature_flags(self) -> dict[str, object]:
        """Every known flag, local overrides winning; empty when disabled or offline."""
        if not self._enabled or self._settings is None:
            return {}
        try:
            remote = dict(self._flags.all(self._session_id or "anonymous"))
        except Exception as error:  # noqa: BLE001 - telemetry never throws into its host
            logger.debug("telemetry: flag lookup failed (%s)", type(error).__name__)
            remote = {}
        return {**remote, **self._settings.flag_overrides.value}

    # --- shutdown --------------------------------------------------------------------------

    def shutdown(self, timeout: float | None = None) -> DeliveryReport:
        """Flush and close the sink. Waits at most what is left of the shutdown budget shared
        with ``end_session`` and the exit hook, or ``timeout`` if the host grants one."""
        if not self._enabled or self._sink is None:
            return DeliveryReport()
        with self._lock:
            if self._closed:
                return DeliveryReport()
            self._closed = True
        wait = self._take_budget(timeout)
        started = time.monotonic()
        try:
            report = self._sink.close(wait)
        except Exception as error:  # noqa: BLE001 - a sink must not raise; fail safe if it does
            logger.debug("telemetry: closing the sink failed (%s)", type(error).__name__)
            report = DeliveryReport()
        self._spend(timeout, time.monotonic() - started)
        self.failed += report.failed
        return report

    def __enter__(self) -> TelemetryClient:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # Never suppresses the host's exception (returns None) and never raises its own.
        self.end_session()

    # --- internals -------------------------------------------------------------------------

    def _filtered(self, properties: Mapping[str, object]) -> JSONObject | None:
        if self._policy is None:
            return None
        result = filter_for_telemetry(properties, self._policy)
        filtered = result.value_or(None)
        if filtered is None:
            self._count_drop("filter", None, str(result.failure()))
            return None
        return filtered.payload

    def _context_properties(self, properties: Mapping[str, object]) -> JSONObject:
        """Session metadata or context tags, filtered, without their own filter report."""
        filtered = self._filtered(properties) or {}
        filtered.pop(PRIVACY_FILTER_KEY, None)
        return filtered

    def _emit(self, event: str, properties: JSONObject) -> None:
        if self._sink is None or self._policy is None:
            return
        # An event's name is sent as it is: it must pass the rules of a category label
        # (short, no spaces, nothing the leak guard flags), or the event is not sent at all.
        if not isinstance(event, str) or category_label(event, self._policy) != event:
            self._count_drop("capture", None, "the event name is not a plain label")
            return
        if not self._session_id:
            self.start_session()
        tags = current_tags()
        merged: JSONObject = {**self._library, **self._session_metadata}
        if tags:
            merged.update(self._context_properties(tags))
        merged.update(properties)
        merged[SESSION_ID_PROPERTY] = self._session_id
        outcome = self._sink.emit(OutboundEvent(event, self._session_id, merged, time.time()))
        if outcome is Accepted.FAILED:
            self.failed += 1
        elif outcome is not Accepted.QUEUED:
            self.dropped += 1

    def _flush(self, timeout: float | None) -> DeliveryReport:
        if self._sink is None or self._closed:
            return DeliveryReport()
        wait = self._take_budget(timeout)
        started = time.monotonic()
        report = self._sink.flush(wait)
        self._spend(timeout, time.monotonic() - started)
        return report

    def _take_budget(self, timeout: float | None) -> float:
        return max(0.0, timeout if timeout is not None else self._budget_left)

    def _spend(self, timeout: float | None, elapsed: float) -> None:
        if timeout is None:  # an explicit timeout is the host's own grant, not the budget's
            with self._lock:
                self._budget_left = max(0.0, self._budget_left - elapsed)

    def _send(
        self, where: str, result: Result[_T, PrivacyError], send: Callable[[_T], None]
    ) -> None:
        built = result.value_or(None)
        if built is None:
            self._count_drop(where, None, str(result.failure()))
        else:
            send(built)

    def _count_drop(self, where: str, error: BaseException | None, reason: str = "") -> None:
        self.dropped += 1
        detail = type(error).__name__ if error is not None else reason
        logger.debug("telemetry: %s dropped an event (%s)", where, detail)
