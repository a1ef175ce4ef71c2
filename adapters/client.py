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

import atexit
import functools
import itertools
import math
import os
import sys
import threading
import time
import types
import uuid
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Concatenate, Final, Generic, ParamSpec, TypeAlias, TypeVar

from codeweaver_telemetry.core.sink import (
    Accepted,
    DeliveryReport,
    LossReason,
    OutboundEvent,
    Sink,
)

from .context import current_tags, tags_applied
from .event_loop import in_running_event_loop
from .flags import FlagSource, NoFlags
from .forks import start_afresh_in_children
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
    from codeweaver_telemetry.core.mcp_event import ToolCall
    from codeweaver_telemetry.core.policy import PrivacyPolicy
    from codeweaver_telemetry.core.settings import ConfigError, TelemetrySettings
    from codeweaver_telemetry.core.vocabulary import JSONObject, PrivacyError

    from .capture_steps import CaptureSteps, Reduced


SessionPart: TypeAlias = "Callable[[SessionStatistics], SessionStatistics]"
"""A source of session statistics the host does not keep itself (an instrumented MCP
server's tool calls): given the session's statistics, the same with its part added."""


SET_UP_WAIT_SECONDS: Final = 1.0
"""Longest a capture waits while another thread makes the capture parts; then it is dropped
and counted. (The thread that makes them waits for its own making.)"""


_T = TypeVar("_T")
_P = ParamSpec("_P")


class OnFirstUse(Generic[_T]):
    """A part the client makes, by calling ``make``, when it first needs it."""

    __slots__ = ("make",)

    def __init__(self, make: Callable[[], _T]) -> None:
        self.make = make


Deferred: TypeAlias = "_T | OnFirstUse[_T]"
"""A part itself, or how to make it when it is first needed."""


class _Making:
    """The capture parts being made by one call, which other threads wait for (a bounded
    time) and which the maker's own nested captures skip. Its ``done`` lock is taken when it
    is made and released when the making ends: waiting is an acquire with a timeout, in C.
    A making whose frame is gone from its thread (an interrupt skipped its end) is
    abandoned, and the next capture makes the parts afresh."""

    __slots__ = ("done", "frame", "thread")

    def __init__(self, frame: types.FrameType) -> None:
        self.done = threading.Lock()
        self.done.acquire()
        self.frame: types.FrameType | None = frame
        self.thread = threading.get_ident()

    def wait(self, timeout: float) -> None:
        if self.done.acquire(timeout=timeout):
            self.done.release()

    def finish(self) -> None:
        self.frame = None
        self.done.release()

    def is_on_this_stack(self) -> bool:
        """Whether the making is under way in a caller of this very call."""
        return self.thread == threading.get_ident() and _holds(sys._getframe(1), self.frame)

    def abandoned(self) -> bool:
        """Its maker will never end it: its frame is no longer on its thread's stack (an
        interrupt skipped its end, or the thread is gone)."""
        if self.thread == threading.get_ident():
            return not self.is_on_this_stack()
        return not _holds(sys._current_frames().get(self.thread), self.frame)


def _holds(stack: types.FrameType | None, frame: types.FrameType | None) -> bool:
    """Whether ``frame`` is on the stack that ends in ``stack``."""
    while stack is not None:
        if stack is frame:
            return True
        stack = stack.f_back
    return False


class ProcessBudget:
    """The seconds this process has spent waiting for delivery at its end (``end_session``,
    ``shutdown``, the exit hooks), shared by every client in it: a host with two clients, or
    a forked child that uses its inherited client and a new one, waits one budget, not two.
    A forked child starts with nothing spent, and with a lock of its own (the parent's may
    have been held by a thread the child does not have). The lock is re-entrant: a host's
    signal handler that flushes, on the thread it interrupted inside :meth:`left`, must not
    wait on that thread."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._spent = 0.0

    def left(self, budget: float) -> float:
        """What is left of ``budget`` seconds."""
        with self._lock:
            return max(0.0, budget - self._spent)

    def spend(self, seconds: float) -> None:
        """Count ``seconds`` as waited."""
        with self._lock:
            self._spent += max(0.0, seconds)

    def start_afresh(self) -> None:
        """Nothing spent, and a new lock: in a forked child."""
        self._lock, self._spent = threading.RLock(), 0.0


PROCESS_BUDGET: Final = ProcessBudget()
os.register_at_fork(after_in_child=PROCESS_BUDGET.start_afresh)


def new_session_id() -> str:
    """A random id for one session (also its distinct id): derived from nothing on the
    machine or about the user, so that sessions cannot be linked to a person."""
    return str(uuid.uuid4())


def made(source: Deferred[_T]) -> _T:
    """The part itself, or what its maker makes."""
    return source.make() if isinstance(source, OnFirstUse) else source


def _never_raises(
    method: Callable[Concatenate[TelemetryClient, _P], None],
) -> Callable[Concatenate[TelemetryClient, _P], None]:
    """Telemetry never throws into its host: a failure is counted and logged at debug level."""

    @functools.wraps(method)
    def guarded(self: TelemetryClient, /, *args: _P.args, **kwargs: _P.kwargs) -> None:
        try:
            method(self, *args, **kwargs)
        except Exception as error:  # noqa: BLE001 - whatever the host handed over
            try:  # noqa: SIM105 - a context manager is one more call that could fail here
                self._count_drop(method.__name__, error)
            except Exception:  # noqa: BLE001 - at the recursion limit even counting fails
                pass

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
        """``policy``, ``sink`` and ``flags`` may be given as :class:`OnFirstUse` makers:
        the policy and the sink are then made on the first capture (a host that never
        captures reads no key file and starts no thread), the flags on the first lookup;
        after ``shutdown()`` nothing is made any more. If the policy or the sink cannot be
        made, every capture is dropped and counted; if the flags cannot, lookups give their
        defaults."""
        self._settings = settings
        self._enabled = bool(settings and settings.enabled and policy and sink)
        self._policy_source = policy
        self._sink_source = sink
        self._steps: CaptureSteps | None = None
        self._sink: Sink | None = None
        self._flags_source = flags
        self._flags: FlagSource | None = None
        self.config_error = config_error
        """Why telemetry is off because of the configuration, if it is."""
        self.after_fork_in_child()
        self._session_id = ""
        self._session_metadata: Reduced | None = None
        self._session_started = 0.0
        self._session_event_sent = False
        self._budget = settings.shutdown_budget_seconds.value if settings else 0.0
        self._closed = False
        self._set_up_failed = False
        self._declared_labels: dict[str, frozenset[str]] = {}
        self._session_parts: list[SessionPart] = []
        self._tally: SessionStatistics | None = None
        """The session's search events added up (see ``core.session_tally``)."""
        start_afresh_in_children(self)

    def after_fork_in_child(self) -> None:
        """New locks, and none of the parent's losses (also how the client starts): a
        parent's thread may have held a lock at the fork, and it does not exist in the child."""
        # ``_lock`` guards the client's state, is only ever held briefly and only with
        # ``with`` (taken and released in C, so that a KeyboardInterrupt cannot strand it).
        # The capture parts, which may be slow to make (importing, reading the key file), are
        # made with no lock held: see _Making.
        self._lock = threading.RLock()
        self._making: _Making | None = None  # (in a child, the parent's maker does not exist)
        self._lost: dict[LossReason, int] = {}
        """Events this client lost since the last session event, by reason (the sink's own
        losses are added when the session event takes them). In a forked child, none: the
        parent reports its own."""
        self._sink_losses_reported: Mapping[LossReason, int] = _loss_totals_of(self._sink)
        """The sink's loss totals as the last session event took them, or as they were when
        this client took the sink (or was forked with it): what came before is not its to
        report. A total that went down is of a sink that started afresh (a forked child's
        delivery worker), and is reported from nothing."""

    @property
    def enabled(self) -> bool:
        """Whether telemetry is on, as the configuration resolved it (shutdown leaves it)."""
        return self._enabled

    @property
    def dropped(self) -> int:
        """Events this client left out since the last session event (not built, a full
        buffer, a closed sink): its own losses but write failures."""
        with self._lock:
            return sum(n for reason, n in self._lost.items() if reason is not _WRITE_FAILED)

    @property
    def failed(self) -> int:
        """Events a local sink could not write since the last session event."""
        with self._lock:
            return self._lost.get(_WRITE_FAILED, 0)

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
            steps = self._capture_steps() if metadata else None
            reduced = self._reduced(steps, metadata) if steps is not None else None
            with self._lock:
                self._session_id = new_session_id()
                self._session_metadata = reduced
                self._session_started = time.monotonic()
                self._session_event_sent = False
                self._tally = None  # (a session whose event was never sent took its own)
        except Exception as error:  # noqa: BLE001 - telemetry never throws into its host
            debug("telemetry: start_session failed (%s)", type(error).__name__)

    def end_session(self, *, version: str | None = None) -> DeliveryReport:
        """Capture the session event (unless one was captured) and flush, within the budget.

        Inside a running event loop it does not wait (``await aend_session()`` does)."""
        if not self._enabled:
            return DeliveryReport()
        try:
            if not self._session_event_sent and self._session_id:
                self.capture_session_event(version=version)
            return self._flush(None)
        except Exception as error:  # noqa: BLE001 - telemetry never throws into its host
            debug("telemetry: end_session failed (%s)", type(error).__name__)
            return DeliveryReport()

    async def aend_session(self, *, version: str | None = None) -> DeliveryReport:
        """:meth:`end_session` for a coroutine: the wait happens in a worker thread, so the
        event loop runs on meanwhile."""
        return await _in_worker_thread(functools.partial(self.end_session, version=version))

    def flush(self, timeout: float | None = None) -> DeliveryReport:
        """Deliver what is buffered, waiting at most ``timeout`` seconds (or what is left of
        the budget). A ``multiprocessing`` worker, which ends with ``os._exit`` and so runs no
        exit hook, calls this before it returns. Inside a running event loop it does not wait
        (``await aflush()`` does)."""
        if not self._enabled:
            return DeliveryReport()
        try:
            return self._flush(_seconds_or_none(timeout))
        except Exception as error:  # noqa: BLE001 - telemetry never throws into its host
            debug("telemetry: flush failed (%s)", type(error).__name__)
            return DeliveryReport()

    async def aflush(self, timeout: float | None = None) -> DeliveryReport:
        """:meth:`flush` for a coroutine, waiting in a worker thread."""
        return await _in_worker_thread(functools.partial(self.flush, timeout))

    def add_session_part(self, part: SessionPart) -> None:
        """Add statistics the host does not keep itself to every session event (to the
        host's own statistics, or to empty ones), and start a session if none is: so that
        ``end_session()`` sends them even when nothing else was captured."""
        if not self._enabled:
            return
        with self._lock:
            self._session_parts.append(part)
        self._first_session_id()

    def declare_labels(self, property_name: str, labels: Iterable[str]) -> None:
        """Declare static words of a property (a server's own tool names): always kept
        under it, even when one equals one of the machine's names. Only labels (the wire
        grammar's alphabet, at most 64 characters) can be declared; others are ignored."""
        if not self._enabled:
            return
        try:
            if not _is_label(property_name):
                return
            read = list(itertools.islice(labels, MAX_DECLARED_LABELS + 1))
            if len(read) > MAX_DECLARED_LABELS:
                debug("telemetry: declare_labels ignored more than %d labels", MAX_DECLARED_LABELS)
                return
            words = frozenset(label for label in read if _is_label(label))
            with self._lock:
                known = self._declared_labels.get(property_name, frozenset())
                if words <= known:
                    return
                self._declared_labels[property_name] = known | words
                if self._steps is not None:
                    self._steps.declare_labels({property_name: words})
        except Exception as error:  # noqa: BLE001 - telemetry never throws into its host
            debug("telemetry: declare_labels failed (%s)", type(error).__name__)

    # --- capture ---------------------------------------------------------------------------

    @_never_raises
    def capture(self, event: str, properties: Mapping[str, object] | None = None) -> None:
        """Capture an event; the properties are reduced and checked before this returns."""
        steps = self._capture_steps()
        if steps is not None:
            reduced = self._reduced(steps, properties or {})
            if reduced is not None:
                self._emit(steps, event, steps.own(reduced))

    @_never_raises
    def capture_from_event(self, event: TelemetryEvent) -> None:
        """Capture an event object. The core's own events are JSON in the wire grammar
        already: their properties go to the wire check as they are (so an unchanged one is
        sent unchanged, and whatever a host wrote into one is checked like anything else).
        Any other event's properties are reduced like a raw dict first."""
        steps = self._capture_steps()
        if steps is None:
            return
        name, properties = event.to_posthog_event()
        if steps.is_built(event):
            self._emit_built(steps, name, properties)
        else:
            self.capture(name, properties)

    @_never_raises
    def capture_with_serialization(self, event_name: str, obj: object) -> None:
        """Capture a model's ``serialize_for_telemetry()`` form as an event's properties."""
        steps = self._capture_steps()
        if steps is not None:
            reduced = self._reduced(steps, obj)
            if reduced is not None:
                self._emit(steps, event_name, steps.own(reduced))

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
        steps = self._capture_steps()
        if steps is None:
            return
        from codeweaver_telemetry.core.session_tally import joined  # noqa: PLC0415

        elapsed = time.monotonic() - self._session_started if self._session_started else 0.0
        # The event takes the losses and the session's tally (a host's own statistics win
        # over it), so that nothing is reported twice (by two threads, or by the next event
        # after a search counted while this one is sent), and gives them back when it is not
        # sent, whatever ends it (an interrupt too).
        sent = False
        receipt: list[Accepted] = []  # what the sink said, kept whatever ends this
        lost: Mapping[LossReason, int] = {}
        taken: Mapping[LossReason, int] = {}
        tally = None
        sink = self._sink
        try:
            with self._lock:
                totals = _loss_totals_of(sink)
                since = _lost_since(self._sink_losses_reported, totals)
                # One line: an interrupt lands before it, with nothing taken, or after it,
                # with everything taken given back below.
                tally, lost, self._lost, taken, self._sink_losses_reported, self._tally = (
                    self._tally,
                    self._lost,
                    {},
                    since,
                    totals,
                    None,
                )
            # The event schemas load on first use: a host pays for them when it sends one.
            from codeweaver_telemetry.core import SessionStatistics  # noqa: PLC0415
            from codeweaver_telemetry.core.session_event import (  # noqa: PLC0415
                build_session_event,
            )

            base = stats if stats is not None else tally or SessionStatistics()
            result = build_session_event(
                self._with_session_parts(base),
                version=version or self._metadata_version(),
                duration_seconds=elapsed if duration_seconds is None else duration_seconds,
                policy=steps.policy,
                setup_success=setup_success,
                setup_attempts=setup_attempts,
                config_errors=config_errors,
                events_lost=_added(lost, taken),
            )
            event = result.value_or(None)
            if event is not None:
                self._emit_built(steps, *event.to_posthog_event(), receipt=receipt)
            else:
                self._count_drop("capture_session_event", None, str(result.failure()))
        finally:
            sent = Accepted.QUEUED in receipt
            with self._lock:
                if not sent:
                    self._lost = _added(self._lost, _added(lost, taken))
                    if tally is not None:
                        self._tally = tally if self._tally is None else joined(tally, self._tally)
        self._session_event_sent = sent or self._session_event_sent

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
        steps = self._capture_steps()
        if steps is None:
            return
        opted_in = tools_over_privacy is not False and steps.policy.tools_over_privacy
        from codeweaver_telemetry.core.search_event import build_search_event  # noqa: PLC0415

        result = build_search_event(
            response,
            query=query,
            intent_type=intent_type,
            strategies=strategies,
            execution_time_ms=execution_time_ms,
            policy=steps.policy if opted_in else steps.opted_out,
            feature_flags=feature_flags,
        )
        built = result.value_or(None)
        if built is not None:  # a request, whether or not its event is delivered
            from codeweaver_telemetry.core import SessionStatistics  # noqa: PLC0415
            from codeweaver_telemetry.core.session_tally import with_search  # noqa: PLC0415

            with self._lock:
                self._tally = with_search(self._tally or SessionStatistics(), built)
        self._send(
            "capture_search_event",
            result,
            lambda event: self._emit_built(steps, *event.to_posthog_event()),
        )

    @_never_raises
    def capture_mcp_tool_call(self, call: ToolCall, *, sample_rate: float) -> None:
        """Build and capture one MCP tool call's event (the instrumentation's per-call mode:
        see ``adapters.mcp``); ``sample_rate`` is the share of calls it sends."""
        steps = self._capture_steps()
        if steps is None:
            return
        from codeweaver_telemetry.core.mcp_event import build_mcp_tool_call_event  # noqa: PLC0415

        result = build_mcp_tool_call_event(call, sample_rate=sample_rate, policy=steps.policy)
        self._send(
            "capture_mcp_tool_call",
            result,
            lambda event: self._emit_built(steps, *event.to_posthog_event()),
        )

    # --- contexts and flags ----------------------------------------------------------------

    def context(self, **tags: object) -> contextlib.AbstractContextManager[None]:
        """Tags for every event captured inside the block (nestable; see ``context.py``)."""
        return tags_applied(tags)

    def get_feature_flag(self, key: str, default: object = None) -> object:
        """A flag's value: a local override, else the cached remote value, else ``default``.

        Never waits: the first lookup starts a background refresh and gives ``default`` until
        PostHog answers (see :meth:`wait_for_flags`); offline or disabled gives ``default``.
        """
        if not self._enabled or self._settings is None:
            return default
        try:
            overrides = self._settings.flag_overrides.value
            if key in overrides:
                return overrides[key]
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

    def wait_for_flags(self, timeout: float | None = None) -> bool:
        """Wait at most ``timeout`` seconds (by default the flag budget) for the remote flag
        values, for a host that wants them from its first request; whether they arrived.
        False at once when there are no remote flags, or the server is refused or backing
        off. In a coroutine, ``await client.await_flags()``."""
        if not self._enabled or self._settings is None:
            return False
        try:
            arrived = self._flag_source().wait_for_values(timeout, self._session_id or "anonymous")
        except Exception as error:  # noqa: BLE001 - telemetry never throws into its host
            debug("telemetry: waiting for flags failed (%s)", type(error).__name__)
            return False
        return arrived is True

    async def await_flags(self, timeout: float | None = None) -> bool:
        """:meth:`wait_for_flags` for a coroutine, waiting in a worker thread."""
        import asyncio  # noqa: PLC0415 - the host that awaits has it loaded already

        return await asyncio.to_thread(self.wait_for_flags, timeout)

    # --- shutdown --------------------------------------------------------------------------

    def shutdown(self, timeout: float | None = None) -> DeliveryReport:
        """Flush and close the sink. Waits at most what is left of the shutdown budget shared
        with ``end_session`` and the exit hook, or ``timeout`` if the host grants one (a
        timeout that is not a number is ignored)."""
        if not self._enabled:
            return DeliveryReport()
        with self._lock:
            sink, already_closed = self._sink, self._closed
            self._closed = True
        if already_closed or sink is None:  # a sink is made by the first capture
            return DeliveryReport()
        granted = _seconds_or_none(timeout)
        wait = self._take_budget(granted)
        started = time.monotonic()
        try:
            report = sink.close(wait)
        except Exception as error:  # noqa: BLE001 - a sink must not raise; fail safe if it does
            debug("telemetry: closing the sink failed (%s)", type(error).__name__)
            report = DeliveryReport()
        self._spend(granted, time.monotonic() - started)
        return report

    def __enter__(self) -> TelemetryClient:
        return self

    async def __aenter__(self) -> TelemetryClient:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aend_session()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # Never suppresses the host's exception (returns None) and never raises its own.
        self.end_session()

    # --- internals -------------------------------------------------------------------------

    def _capture_steps(self) -> CaptureSteps | None:
        """The steps every capture goes through, made with the sink on the first capture;
        None (and the capture counted as dropped) when they are not to be had."""
        steps = self._steps
        if steps is None and self._enabled:
            steps = self._make_capture_parts()
            if steps is None:
                why = "the client is shut down" if self._closed else "capturing is not set up"
                self._count_drop("capture", None, why)
        return steps

    def _make_capture_parts(self) -> CaptureSteps | None:
        # Another thread may be making them (importing, reading the key file): wait for it,
        # but never without a bound, and not at all once the client is shut down. No lock is
        # held while they are made, so that an interrupt there strands nothing.
        with self._lock:
            if self._steps is not None or self._closed or self._set_up_failed:
                return self._steps
            other = self._making
            if other is None or other.abandoned():
                making = self._making = _Making(sys._getframe())
            elif other.is_on_this_stack():
                return None  # the maker itself captures (a host's log handler): not yet
            else:
                making = None
        if making is None:
            if other is not None:
                other.wait(SET_UP_WAIT_SECONDS)
            return self._steps
        try:
            return self._made_capture_parts()
        finally:
            with self._lock:
                self._making = None
            making.finish()

    def _made_capture_parts(self) -> CaptureSteps | None:
        policy, sink_source = self._policy_source, self._sink_source
        if policy is None or sink_source is None:
            return None
        try:
            from .capture_steps import CaptureSteps  # noqa: PLC0415 - first capture only

            steps = CaptureSteps(made(policy), *([self._settings.app] if self._settings else []))
            sink = made(sink_source)
        except Exception as error:  # noqa: BLE001 - telemetry never throws into its host
            # Tried once, and every later capture is counted; but not for a failure of the
            # moment (the host's stack near its limit, memory short), which may not recur.
            self._set_up_failed = not isinstance(error, RecursionError | MemoryError)
            debug("telemetry: cannot set up capturing (%s)", type(error).__name__)
            return None
        losses_before = _loss_totals_of(sink)  # (a host's sink: read with no lock held)
        with self._lock:
            if not self._closed:  # the sink first: whoever sees the steps sees the sink
                if self._declared_labels:
                    steps.declare_labels(self._declared_labels)
                self._sink, self._steps = sink, steps
                self._sink_losses_reported = losses_before
                _deliver_at_exit(self, sink)
                return steps
        sink.close(0.0)  # shut down while it was being made: it is never used
        return None

    def _flag_source(self) -> FlagSource:
        """The flags, made on the first lookup (without a wait: making them reads nothing
        and sends nothing); none once the client is shut down."""
        flags = self._flags
        if self._closed:
            return NoFlags()
        if flags is None:
            made_here = self._made_flags(self._flags_source)
            with self._lock:  # two threads may both make them: the first one made is kept
                if self._flags is None:
                    self._flags = made_here
                flags = self._flags
        return flags

    def _made_flags(self, source: Deferred[FlagSource] | None) -> FlagSource:
        if source is None:
            return NoFlags()
        try:
            return made(source)
        except Exception as error:  # noqa: BLE001 - telemetry never throws into its host
            debug("telemetry: cannot set up feature flags (%s)", type(error).__name__)
            return NoFlags()

    def _with_session_parts(self, stats: SessionStatistics) -> SessionStatistics:
        """The statistics with every session part's added; a part that fails adds nothing."""
        with self._lock:
            parts = list(self._session_parts)
        for part in parts:
            try:
                stats = part(stats)
            except Exception as error:  # noqa: BLE001 - whatever the part's host code raises
                debug("telemetry: a session part failed (%s)", type(error).__name__)
        return stats

    def _metadata_version(self) -> str:
        """The session metadata's ``version``, the session event's default version."""
        metadata = self._session_metadata
        version = metadata.properties.get("version") if metadata is not None else None
        return version if isinstance(version, str) else "unknown"

    def _reduced(self, steps: CaptureSteps, properties: object) -> Reduced | None:
        """A host's properties (or model) reduced; None, counted, when they cannot be."""
        reduced = steps.reduced(properties)
        if isinstance(reduced, str):
            self._count_drop("filter", None, reduced)
            return None
        return reduced

    def _emit(
        self,
        steps: CaptureSteps,
        event: str,
        own: JSONObject,
        *,
        built: bool = False,
        receipt: list[Accepted] | None = None,
    ) -> bool:
        """Send one event, checked; whether the sink took it (any other outcome is counted).
        The sink's answer is also put in ``receipt``, in the line that has it: an interrupt
        after it cannot make a taken event look refused (its losses reported twice)."""
        sink = self._sink
        if sink is None:  # (made with the steps; once closed, it spools or refuses an event)
            self._count_drop("capture", None, "the client is shut down", LossReason.SINK_CLOSED)
            return False
        session_id = self._session_id or self._first_session_id()
        tags = current_tags()
        context = steps.context(
            self._session_metadata, self._reduced(steps, tags) if tags else None
        )
        name = steps.sent_name(event)
        result = steps.checked(name, session_id, context, own, built=built)
        checked = result.value_or(None)
        if checked is None:
            self._count_drop("capture", None, str(result.failure()))
            return False
        answers = receipt if receipt is not None else []
        outbound = OutboundEvent(name, session_id, checked.properties, time.time())
        answers.append(outcome := sink.emit(outbound))  # (one line: see the docstring)
        if outcome is Accepted.QUEUED:
            return True
        self._count_loss(_LOSS_OF[outcome])
        return False

    def _first_session_id(self) -> str:
        """The session of an event captured before any :meth:`start_session`: one, started
        by whichever thread gets here first."""
        with self._lock:
            if not self._session_id:
                self._session_id = new_session_id()
                self._session_started = time.monotonic()
            return self._session_id

    def _emit_built(
        self,
        steps: CaptureSteps,
        name: str,
        properties: JSONObject,
        receipt: list[Accepted] | None = None,
    ) -> bool:
        """Send a built event's properties; a session event, once taken, is the session's."""
        return self._emit(steps, name, properties, built=True, receipt=receipt)

    def _flush(self, timeout: float | None) -> DeliveryReport:
        if self._sink is None or self._closed:
            return DeliveryReport()
        wait = self._take_budget(timeout)
        started = time.monotonic()
        report = self._sink.flush(wait)
        self._spend(timeout, time.monotonic() - started)
        return report

    def _take_budget(self, timeout: float | None) -> float:
        """How long a wait may last: the host's own grant, or what is left of the process's
        budget; nothing inside a running event loop, which a wait would stall (the sink
        spools or delivers in the background, and the awaitable forms wait in a thread)."""
        if in_running_event_loop():
            return 0.0
        return max(0.0, timeout) if timeout is not None else PROCESS_BUDGET.left(self._budget)

    def _spend(self, timeout: float | None, elapsed: float) -> None:
        if timeout is None:  # an explicit timeout is the host's own grant, not the budget's
            PROCESS_BUDGET.spend(elapsed)

    def _send(
        self, where: str, result: Result[_T, PrivacyError], send: Callable[[_T], object]
    ) -> None:
        built = result.value_or(None)
        if built is None:
            self._count_drop(where, None, str(result.failure()))
        else:
            send(built)

    def _count_loss(self, reason: LossReason) -> None:
        with self._lock:
            self._lost[reason] = self._lost.get(reason, 0) + 1

    def _count_drop(
        self,
        where: str,
        error: BaseException | None,
        reason: str = "",
        loss: LossReason = LossReason.NOT_BUILT,
    ) -> None:
        self._count_loss(loss)
        detail = type(error).__name__ if error is not None else reason
        debug("telemetry: %s dropped an event (%s)", where, detail)


_WRITE_FAILED: Final = LossReason.WRITE_FAILED

_LOSS_OF: Final = {
    Accepted.DROPPED_FULL: LossReason.BUFFER_FULL,
    Accepted.DROPPED_CLOSED: LossReason.SINK_CLOSED,
    Accepted.FAILED: LossReason.WRITE_FAILED,
}
"""The loss of each refusal a sink's ``emit`` reports (what it loses after taking an event,
the sink counts, in ``loss_totals``)."""


MAX_DECLARED_LABELS: Final = 64
"""The most labels one call may declare (the MCP instrumentation's cap on a server's tools)."""


def _is_label(text: object) -> bool:
    """A plain str within the label length, in the label alphabet (measured before read)."""
    from codeweaver_telemetry.core.vocabulary import LABEL_PATTERN  # noqa: PLC0415
    from codeweaver_telemetry.core.wire import MAX_LABEL_LENGTH  # noqa: PLC0415

    return (
        type(text) is str
        and len(text) <= MAX_LABEL_LENGTH
        and LABEL_PATTERN.fullmatch(text) is not None
    )


def _lost_since(
    reported: Mapping[LossReason, int], totals: Mapping[LossReason, int]
) -> dict[LossReason, int]:
    """What ``totals`` have grown by since ``reported``: a total below what was reported is
    a sink's that started afresh (in a forked child), counted from nothing."""
    grown = {}
    for reason, count in totals.items():
        before = reported.get(reason, 0)
        since = count - before if count >= before else count
        if since > 0:
            grown[reason] = since
    return grown


def _loss_totals_of(sink: Sink | None) -> dict[LossReason, int]:
    """The sink's loss totals; none from a sink that cannot say (one written to an older
    protocol, or one that fails): its session events are still sent. A host's sink may hand
    back any mapping: it is read up to one entry a reason (and one more)."""
    if sink is None:
        return {}
    try:
        entries = itertools.islice(sink.loss_totals().items(), len(LossReason) + 1)
        return {
            reason: count
            for reason, count in entries
            if isinstance(reason, LossReason) and type(count) is int and count > 0
        }
    except Exception as error:  # noqa: BLE001 - a host's sink may be anything
        debug("telemetry: the sink's losses cannot be read (%s)", type(error).__name__)
        return {}


def _added(
    first: Mapping[LossReason, int], second: Mapping[LossReason, int]
) -> dict[LossReason, int]:
    added = dict(first)
    for reason, count in second.items():
        added[reason] = added.get(reason, 0) + count
    return added


def _seconds_or_none(timeout: object) -> float | None:
    """A host's timeout in seconds, or None (the budget applies) for anything else: an int
    or float, never a subclass (whose comparisons are the host's code), and never more than
    the longest wait the threading module can make (``10**400`` does not fit a float)."""
    if type(timeout) is int:
        return float(max(0, min(timeout, int(threading.TIMEOUT_MAX))))
    if type(timeout) is float and not math.isnan(timeout):
        return max(0.0, min(timeout, threading.TIMEOUT_MAX))
    return None


# Every client with a sink delivers at exit, however it was built; none is kept alive for it
# (a host that makes a client per task and drops it would otherwise keep them all): the
# exit hook shuts down the clients still alive, and a client dropped before then has its
# sink closed at once (what it holds is spooled).
_ALIVE_WITH_SINKS: weakref.WeakValueDictionary[int, TelemetryClient] = weakref.WeakValueDictionary()


def _deliver_at_exit(client: TelemetryClient, sink: Sink) -> None:
    _ALIVE_WITH_SINKS[id(client)] = client
    weakref.finalize(client, sink.close, 0.0).atexit = False


@atexit.register
def _shut_down_clients_at_exit() -> None:
    interrupted = False
    for client in list(_ALIVE_WITH_SINKS.values()):
        try:
            client.shutdown(0.0 if interrupted else None)
        except KeyboardInterrupt:
            # The user's, during the wait: what that client held is spooled (see the sink),
            # the others' at once; nothing of the library's is printed on the way out.
            interrupted = True


async def _in_worker_thread(call: Callable[[], DeliveryReport]) -> DeliveryReport:
    """Run a waiting call in a worker thread (asyncio is loaded by whoever awaits this)."""
    import asyncio  # noqa: PLC0415 - the host that awaits has it loaded already

    return await asyncio.to_thread(call)
