"""The client a host talks to: sessions, capture, contexts, feature flags, shutdown.

Every public method returns normally whatever its inputs, the network or the sink do: a
failure is logged at debug level on the ``codeweaver_telemetry`` logger and counted, and the
counts travel in the next session event. When telemetry is off, from any source, the client is
inert: it creates no sink, reads no key file, starts no thread and imports no network code.
When it is on, creating it costs the configuration only: the privacy core, the policy (the hash
key, this machine's names) and the sink are made by the first capture, the flags by the first
lookup, so that a host's start-up does not pay for them.
"""

from __future__ import annotations

import functools
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Concatenate, Final, ParamSpec, TypeAlias, TypeVar

from codeweaver_telemetry.core.sink import Accepted, DeliveryReport, OutboundEvent, Sink

from .context import current_tags, tags_applied
from .flags import FlagSource, NoFlags
from .log import debug

if TYPE_CHECKING:
    import contextlib
    from types import TracebackType

    from returns.result import Result

    from codeweaver_telemetry.core import (
        FindCodeResponseSummary,
        IntentType,
        SearchStrategy,
        SessionStatistics,
    )
    from codeweaver_telemetry.core.event_schema import TelemetryEvent
    from codeweaver_telemetry.core.payload import Filtered
    from codeweaver_telemetry.core.policy import PrivacyPolicy
    from codeweaver_telemetry.core.settings import ConfigError, TelemetrySettings
    from codeweaver_telemetry.core.vocabulary import JSONObject, PrivacyError

    from .privacy import CapturePrivacy


SESSION_ID_PROPERTY: Final = "$session_id"
SESSION_EVENT_NAME: Final = "codeweaver_session"
"""The session event's name (``SessionEvent.EVENT_NAME``), without loading its schema."""


_T = TypeVar("_T")
_P = ParamSpec("_P")

Deferred: TypeAlias = "_T | Callable[[], _T]"
"""A value, or a function that makes it when it is first needed."""


def new_session_id() -> str:
    """A random id for one session (also its distinct id): derived from nothing on the
    machine or about the user, so that sessions cannot be linked to a person."""
    return str(uuid.uuid4())


def made(source: Deferred[_T]) -> _T:
    """The value itself, or what the function makes."""
    return source() if callable(source) else source


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
        policy: Deferred[PrivacyPolicy] | None = None,
        sink: Deferred[Sink] | None = None,
        flags: Deferred[FlagSource] | None = None,
        config_error: ConfigError | None = None,
    ) -> None:
        """``policy``, ``sink`` and ``flags`` may be given as functions that make them: the
        policy and the sink are then made on the first capture (a host that never captures
        reads no key file and starts no thread), the flags on the first lookup. If making
        one fails, what needs it is dropped and counted, as any other failure."""
        self._settings = settings
        self._enabled = bool(settings and settings.enabled and policy and sink)
        self._policy_source = policy
        self._sink_source = sink
        self._privacy: CapturePrivacy | None = None
        self._sink: Sink | None = None
        self._flags_source = flags
        self._flags: FlagSource | None = None
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
            filtered = self._context_properties(metadata) if metadata else {}
            with self._lock:
                self._session_id = new_session_id()
                self._session_metadata = filtered
                self._session_started = time.monotonic()
                self._session_event_sent = False
                self.dropped = self.failed = 0
        except Exception as error:  # noqa: BLE001 - telemetry never throws into its host
            debug("telemetry: start_session failed (%s)", type(error).__name__)

    def end_session(self, *, version: str | None = None) -> DeliveryReport:
        """Capture the session event (unless one was captured) and flush, within the budget."""
        if not self._enabled:
            return DeliveryReport()
        try:
            if not self._session_event_sent and self._session_id:
                self.capture_session_event(version=version)
            return self._flush(None)
        except Exception as error:  # noqa: BLE001 - telemetry never throws into its host
            debug("telemetry: end_session failed (%s)", type(error).__name__)
            return DeliveryReport()

    # --- capture ---------------------------------------------------------------------------

    @_never_raises
    def capture(self, event: str, properties: Mapping[str, object] | None = None) -> None:
        """Capture an event; the properties are filtered and guarded before this returns."""
        privacy = self._ready()
        if privacy is not None:
            filtered = self._filtered(privacy, properties or {})
            if filtered is not None:
                self._emit(privacy, event, filtered.payload)

    @_never_raises
    def capture_from_event(self, event: TelemetryEvent) -> None:
        """Capture an event object; the library's own events are already anonymized, any other
        event's properties are filtered like a raw dict."""
        privacy = self._ready()
        if privacy is None:
            return
        name, properties = event.to_posthog_event()
        if privacy.is_sealed(event):
            self._session_event_sent |= name == SESSION_EVENT_NAME
            self._emit(privacy, name, properties)
        else:
            self.capture(name, properties)

    @_never_raises
    def capture_with_serialization(self, event_name: str, obj: object) -> None:
        """Capture a model's ``serialize_for_telemetry()`` form as an event's properties."""
        privacy = self._ready()
        if privacy is not None:
            self._send(
                "capture_with_serialization",
                privacy.serialized(obj),
                lambda properties: self._emit(privacy, event_name, properties),
            )

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
        privacy = self._ready()
        if privacy is None:
            return
        elapsed = time.monotonic() - self._session_started if self._session_started else 0.0
        # The event schemas load on first use: a host pays for them when it sends one.
        from codeweaver_telemetry.core import SessionStatistics  # noqa: PLC0415
        from codeweaver_telemetry.core.session_event import build_session_event  # noqa: PLC0415

        result = build_session_event(
            stats if stats is not None else SessionStatistics(),
            version=version or str(self._session_metadata.get("version", "unknown")),
            duration_seconds=elapsed if duration_seconds is None else duration_seconds,
            policy=privacy.policy,
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
        privacy = self._ready()
        if privacy is None:
            return
        opted_in = tools_over_privacy is not False and privacy.policy.tools_over_privacy
        from codeweaver_telemetry.core.search_event import build_search_event  # noqa: PLC0415

        result = build_search_event(
            response,
            query=query,
            intent_type=intent_type,
            strategies=strategies,
            execution_time_ms=execution_time_ms,
            policy=privacy.policy if opted_in else privacy.opted_out,
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
            value = self._flag_source().value(key, self._session_id or "anonymous")
        except Exception as error:  # noqa: BLE001 - telemetry never throws into its host
            debug("telemetry: flag lookup failed (%s)", type(error).__name__)
            return default
        return default if value is None else value

    def get_all_feature_flags(self) -> dict[str, object]:
        """Every known flag, local overrides winning; empty when disabled or offline."""
        if not self._enabled or self._settings is None:
            return {}
        try:
            remote = dict(self._flag_source().all(self._session_id or "anonymous"))
        except Exception as error:  # noqa: BLE001 - telemetry never throws into its host
            debug("telemetry: flag lookup failed (%s)", type(error).__name__)
            remote = {}
        return {**remote, **self._settings.flag_overrides.value}

    # --- shutdown --------------------------------------------------------------------------

    def shutdown(self, timeout: float | None = None) -> DeliveryReport:
        """Flush and close the sink. Waits at most what is left of the shutdown budget shared
        with ``end_session`` and the exit hook, or ``timeout`` if the host grants one."""
        if not self._enabled:
            return DeliveryReport()
        with self._lock:
            if self._closed or self._sink is None:  # a sink is made by the first capture
                self._closed = True
                return DeliveryReport()
            self._closed = True
        wait = self._take_budget(timeout)
        started = time.monotonic()
        try:
            report = self._sink.close(wait)
        except Exception as error:  # noqa: BLE001 - a sink must not raise; fail safe if it does
            debug("telemetry: closing the sink failed (%s)", type(error).__name__)
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

    def _ready(self) -> CapturePrivacy | None:
        """What capturing needs (the privacy steps bound to the policy, and the sink), made on
        the first capture; None when telemetry is off or they could not be made."""
        privacy = self._privacy
        if privacy is None and self._enabled:
            with self._lock:
                privacy = self._privacy or self._make_capture_parts()
            if privacy is None:
                why = "the client is shut down" if self._closed else "capturing could not be set up"
                self._count_drop("capture", None, why)
        return privacy

    def _make_capture_parts(self) -> CapturePrivacy | None:
        if self._closed:  # shut down before the first capture: nothing is made any more
            return None
        policy, sink = self._policy_source, self._sink_source
        self._policy_source = self._sink_source = None
        if policy is None or sink is None:  # already tried, and it failed
            return None
        try:
            from .privacy import CapturePrivacy  # noqa: PLC0415 - on the first capture only

            privacy = CapturePrivacy(made(policy))
            self._sink = made(sink)
        except Exception as error:  # noqa: BLE001 - telemetry never throws into its host
            debug("telemetry: cannot set up capturing (%s)", type(error).__name__)
            return None
        self._privacy = privacy
        return privacy

    def _flag_source(self) -> FlagSource:
        flags = self._flags
        if flags is None:
            with self._lock:
                if self._flags is None:
                    source, self._flags_source = self._flags_source, None
                    self._flags = made(source) if source is not None else NoFlags()
                flags = self._flags
        return flags

    def _filtered(
        self, privacy: CapturePrivacy, properties: Mapping[str, object]
    ) -> Filtered | None:
        result = privacy.filtered(properties)
        filtered = result.value_or(None)
        if filtered is None:
            self._count_drop("filter", None, str(result.failure()))
        return filtered

    def _context_properties(self, properties: Mapping[str, object]) -> JSONObject:
        """Session metadata or context tags, filtered, without their own filter report."""
        privacy = self._ready()
        if privacy is None:
            return {}
        filtered = self._filtered(privacy, properties)
        return {} if filtered is None else privacy.without_report(filtered)

    def _emit(self, privacy: CapturePrivacy, event: str, properties: JSONObject) -> None:
        sink = self._sink
        if sink is None:  # made together with the privacy steps: this only narrows the type
            return
        # An event's name is sent as it is: it must pass the rules of a category label
        # (short, no spaces, nothing the leak guard flags), or the event is not sent at all.
        if not privacy.is_plain_label(event):
            self._count_drop("capture", None, "the event name is not a plain label")
            return
        if not self._session_id:
            self.start_session()
        tags = current_tags()
        merged: JSONObject = {**privacy.library, **self._session_metadata}
        if tags:
            merged.update(self._context_properties(tags))
        merged.update(properties)
        merged[SESSION_ID_PROPERTY] = self._session_id
        outcome = sink.emit(OutboundEvent(event, self._session_id, merged, time.time()))
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
        debug("telemetry: %s dropped an event (%s)", where, detail)
