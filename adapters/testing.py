"""A host's tests of its own telemetry: an in-memory sink, a client made for tests, and a
context manager that puts one in place of the process client for a block.

The pytest fixture ``telemetry_events`` (``adapters.pytest_plugin``) is this module's
:func:`capture_telemetry` around each test that asks for it. Modelled on structlog's
``capture_logs`` (the configuration swapped for a block, a live list given out, restored
whatever happens) and OpenTelemetry's ``InMemorySpanExporter`` (a synchronous exporter of
record, cleared at will, refusing after shutdown).

Only tests import this module; a host's start-up never does.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Final, overload

from returns.pipeline import is_successful

from codeweaver_telemetry.core.app import DEFAULT_APP, App
from codeweaver_telemetry.core.policy import PrivacyPolicy
from codeweaver_telemetry.core.settings import RawSources, resolve_settings
from codeweaver_telemetry.core.sink import Accepted, DeliveryReport, LossReason, OutboundEvent

from .client import TelemetryClient
from .config import checked_app
from .forks import start_afresh_in_children
from .registry import set_telemetry_client

if TYPE_CHECKING:
    from codeweaver_telemetry.core.sink import Sink
    from codeweaver_telemetry.core.vocabulary import JSONObject

TEST_HASH_KEY: Final = b"codeweaver-telemetry-test-key-32"
"""The hash key of every client made for tests: a value hashed in one test has the same
digest in every test and every run (an installation's own key is random and secret)."""

TEST_SETTINGS_ORIGIN: Final = "<telemetry_client_for_tests>"
"""Where a test client's settings say they came from (``status`` shows it)."""


class CapturedEvents(Sequence["JSONObject"]):
    """A live, read-only view of the wire events an :class:`InMemorySink` has kept, oldest
    first: each is the JSON object the PostHog sink would send (``event``, ``distinct_id``,
    ``properties``, ``timestamp``, ``uuid``). Equal to a list or tuple of the same items."""

    __slots__ = ("_sink",)

    def __init__(self, sink: InMemorySink) -> None:
        self._sink = sink

    @overload
    def __getitem__(self, index: int) -> JSONObject: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[JSONObject]: ...
    def __getitem__(self, index: int | slice) -> JSONObject | Sequence[JSONObject]:
        # (Read in place, not through a copy: iterating over the view stays linear.)
        with self._sink._lock:
            return self._sink._items[index]

    def __len__(self) -> int:
        return len(self._sink._items)

    def __iter__(self) -> Iterator[JSONObject]:
        return iter(self._sink.wire_items)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, CapturedEvents | list | tuple):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # (it changes as events arrive)

    def __repr__(self) -> str:
        return f"CapturedEvents({list(self)!r})"

    def clear(self) -> None:
        """Forget the events kept so far (a test that only checks what comes next)."""
        self._sink.clear()


class InMemorySink:
    """A synchronous sink of record: keeps each event it is given, as the
    :class:`OutboundEvent` and as its wire JSON, for a test to read. Nothing leaves the
    process. Thread-safe; refuses events once closed, as every sink does."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: list[OutboundEvent] = []
        self._items: list[JSONObject] = []
        self._losses: dict[LossReason, int] = {}
        self._delivered = 0
        self._failed = 0
        self._closed = False
        self.captured: Final = CapturedEvents(self)
        """The live view of the wire events: what the ``telemetry_events`` fixture gives."""
        start_afresh_in_children(self)

    def after_fork_in_child(self) -> None:
        """A lock of the child's own (a parent's thread may have held this one at the fork);
        the events kept so far stay, as the child's copy."""
        self._lock = threading.Lock()

    @property
    def events(self) -> tuple[OutboundEvent, ...]:
        """The events kept so far, as the client handed them over."""
        with self._lock:
            return tuple(self._events)

    @property
    def wire_items(self) -> tuple[JSONObject, ...]:
        """The events kept so far as the PostHog sink would send them: each
        ``OutboundEvent.to_json(uuid)`` with a uuid made once per event, after a JSON round
        trip (so a tuple reads as the list the wire carries, and a test changing an item
        changes neither the :class:`OutboundEvent` nor the host's own values)."""
        with self._lock:
            return tuple(self._items)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def emit(self, event: OutboundEvent) -> Accepted:
        """Keep the event; FAILED (and counted by the client) if it is not JSON the wire can
        carry, which would be a bug of the library worth a failing test."""
        try:
            item = json.loads(json.dumps(event.to_json(str(uuid.uuid4())), allow_nan=False))
        except (TypeError, ValueError):
            item = None
        with self._lock:
            if self._closed:
                return Accepted.DROPPED_CLOSED
            if item is None:
                self._failed += 1
                return Accepted.FAILED
            self._events.append(event)
            self._items.append(item)
            self._delivered += 1
        return Accepted.QUEUED

    def flush(self, timeout: float) -> DeliveryReport:
        """Nothing is ever pending: every event is kept as it is emitted."""
        with self._lock:
            return DeliveryReport(delivered=self._delivered, failed=self._failed)

    def close(self, timeout: float) -> DeliveryReport:
        """Refuse later events; the kept ones stay readable."""
        with self._lock:
            self._closed = True
            return DeliveryReport(delivered=self._delivered, failed=self._failed)

    def loss_totals(self) -> Mapping[LossReason, int]:
        """The losses recorded with :meth:`record_loss`, in all (this sink loses nothing by
        itself: what ``emit`` refuses, the client counts)."""
        with self._lock:
            return dict(self._losses)

    def record_loss(self, reason: LossReason, count: int = 1) -> None:
        """Add ``count`` events lost for ``reason`` to :meth:`loss_totals`, as a real sink
        counts an outage or a full spool: for testing how losses are reported."""
        with self._lock:
            self._losses[reason] = self._losses.get(reason, 0) + count

    def clear(self) -> None:
        """Forget the events kept so far; the delivery totals of flush and close remain."""
        with self._lock:
            self._events.clear()
            self._items.clear()


def telemetry_client_for_tests(
    sink: Sink,
    *,
    app: str | App = DEFAULT_APP,
    tools_over_privacy: bool = False,
    flag_overrides: Mapping[str, str | bool] | None = None,
    sensitive_literals: Iterable[str] = (),
) -> TelemetryClient:
    """A client with telemetry on that sends to ``sink``, under ``app``'s names.

    Its settings are resolved from these values alone, as the user's word (so
    ``tools_over_privacy=True`` is an opt-in that counts, and an app whose telemetry is off by
    default is on): no configuration file, environment variable, key file or network is read,
    and no first-run notice is required. It hashes with :data:`TEST_HASH_KEY`, and protects
    ``sensitive_literals`` (none by default, so that events do not depend on the machine
    the tests run on). Unlike the library's runtime calls, it raises ValueError for an invalid
    app or value: a test should fail on it.
    """
    named = checked_app(app)
    if not is_successful(named):
        raise ValueError(named.failure())
    said: dict[str, object] = {"disable_telemetry": False, "tools_over_privacy": tools_over_privacy}
    if flag_overrides is not None:
        said["flag_overrides"] = flag_overrides
    raw = RawSources(
        arguments={},
        environment={},
        user_file_table=said,
        user_file_path=TEST_SETTINGS_ORIGIN,
        app=named.unwrap(),
    )
    resolved = resolve_settings(raw)
    if not is_successful(resolved):
        raise ValueError(str(resolved.failure()))
    settings = resolved.unwrap()
    policy = PrivacyPolicy(
        hash_key=TEST_HASH_KEY,
        tools_over_privacy=settings.tools_over_privacy.value,
        sensitive_literals=frozenset(sensitive_literals),
    )
    return TelemetryClient(settings, policy=policy, sink=sink)


@contextlib.contextmanager
def capture_telemetry(
    *,
    app: str | App = DEFAULT_APP,
    tools_over_privacy: bool = False,
    flag_overrides: Mapping[str, str | bool] | None = None,
    sensitive_literals: Iterable[str] = (),
) -> Iterator[CapturedEvents]:
    """Within the block, ``get_telemetry_client(app)`` is a client made for tests (see
    :func:`telemetry_client_for_tests`) over an :class:`InMemorySink`, whose live view of the
    wire events is given. After the block, however it ends, the process client it replaced is
    back (or none, if there was none) and the test client is shut down; the view stays
    readable."""
    sink = InMemorySink()
    client = telemetry_client_for_tests(
        sink,
        app=app,
        tools_over_privacy=tools_over_privacy,
        flag_overrides=flag_overrides,
        sensitive_literals=sensitive_literals,
    )
    frame = _Capture(client, app)
    with _captures_lock:
        frame.previous = set_telemetry_client(client, app)
        _captures.append(frame)
    try:
        yield sink.captured
    finally:
        with _captures_lock:
            _end(frame)
        client.shutdown()


class _Capture:
    """One :func:`capture_telemetry` block under way: its client, and the process client it
    replaced."""

    __slots__ = ("app", "client", "previous")

    def __init__(self, client: TelemetryClient, app: str | App) -> None:
        self.client = client
        self.app = app
        self.previous: TelemetryClient | None = None


# Blocks may end out of order (two threads of a parallel runner, a helper's block inside a
# fixture's): a block that ends before one it was replaced by hands its ``previous`` on to
# that one, so that the last to end puts back the client that was there before all of them,
# never a test client already shut down.
_captures: list[_Capture] = []
_captures_lock = threading.Lock()


def _keep_the_test_clients_in_children() -> None:
    """In a child forked during a block (a host's multiprocessing worker), the test clients
    stay the process clients: the registry forgets its clients in a child (its hook runs
    first, registered when it was imported), and a client built from the configuration there
    would read the user's files and might send."""
    global _captures_lock  # noqa: PLW0603 - a parent's thread may have held it at the fork
    _captures_lock = threading.Lock()
    for frame in _captures:  # in the order they began: the latest of an app's wins
        set_telemetry_client(frame.client, frame.app)


os.register_at_fork(after_in_child=_keep_the_test_clients_in_children)


def _end(frame: _Capture) -> None:
    index = next((i for i, other in enumerate(_captures) if other is frame), None)
    if index is None:
        return
    del _captures[index]
    later = next((other for other in _captures[index:] if other.previous is frame.client), None)
    if later is not None:
        later.previous = frame.previous
    else:
        set_telemetry_client(frame.previous, frame.app)
