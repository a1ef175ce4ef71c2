"""A KeyboardInterrupt anywhere in the sink's code on the host's thread propagates, and never
strands a lock: a later capture and the exit hook still return.

Injected deterministically: a ``sys.settrace`` hook raises KeyboardInterrupt at the n-th trace
event (call, line or return, in any Python frame the call runs: the library's and the
standard library's it calls), one run per n, until the call runs through untouched. A lock
taken in Python code (``threading.Condition.__enter__`` returns after acquiring) is stranded
by an interrupt at that return; a lock taken in C is not.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
from delivery_doubles import ScriptedExporter
from fake_posthog import FakePostHog

from codeweaver_telemetry.adapters.batching import BatchingWorker
from codeweaver_telemetry.adapters.registry import make_sink
from codeweaver_telemetry.core.settings import RawSources, resolve_settings
from codeweaver_telemetry.core.sink import OutboundEvent, Sink

BOUND_SECONDS = 5.0
MAX_EVENTS = 2_000
"""More trace events than any one sink call runs (the loop ends before)."""


@pytest.fixture(scope="module")
def server() -> Iterator[FakePostHog]:
    with FakePostHog(lifetime_seconds=300) as fake:
        yield fake


@pytest.fixture
def new_sink(
    server: FakePostHog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[[], Sink]:
    monkeypatch.delenv("POSTHOG_CAPTURE_MODE", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    settings = resolve_settings(
        RawSources(
            arguments={"posthog_api_key": "phc_test", "posthog_host": server.host},
            environment={},
            posthog_installed=True,
        )
    ).unwrap()
    return lambda: make_sink(settings)


def event() -> OutboundEvent:
    return OutboundEvent("e", "d", {}, time.time())


def interrupted_at(step: int, call: Callable[[], object]) -> bool:
    """Run ``call`` with a KeyboardInterrupt raised at its ``step``-th trace event; whether
    the interrupt came out of it (False: the call ran through with fewer events)."""
    seen = 0

    def hook(frame: FrameType, kind: str, argument: Any) -> Any:
        nonlocal seen
        seen += 1
        if seen == step:
            raise KeyboardInterrupt
        return hook

    sys.settrace(hook)
    try:
        call()
    except KeyboardInterrupt:
        return True
    finally:
        sys.settrace(None)
    return False


def returns_in_time(call: Callable[[], object]) -> bool:
    """Whether ``call`` returns within the bound (run on a thread, so that a stranded lock
    fails the test instead of hanging it)."""
    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    thread.join(BOUND_SECONDS)
    return not thread.is_alive()


def still_works(sink: Sink) -> bool:
    return returns_in_time(lambda: (sink.emit(event()), sink.flush(1.0), sink.close(1.0)))


OPERATIONS: dict[str, tuple[int, Callable[[Sink], object]]] = {
    # (events emitted first, the call interrupted)
    "the first emit": (0, lambda sink: sink.emit(event())),
    "an emit": (3, lambda sink: sink.emit(event())),
    "flush": (3, lambda sink: sink.flush(1.0)),
    "close": (3, lambda sink: sink.close(1.0)),
    "loss_totals": (3, lambda sink: sink.loss_totals()),
}


@pytest.mark.parametrize("name", list(OPERATIONS))
def test_an_interrupt_at_any_point_propagates_and_strands_nothing(
    name: str, new_sink: Callable[[], Sink]
) -> None:
    before, operation = OPERATIONS[name]
    for step in range(1, MAX_EVENTS):
        sink = new_sink()
        for _ in range(before):
            sink.emit(event())
        if not interrupted_at(step, lambda sink=sink: operation(sink)):  # type: ignore[misc]
            break
        assert still_works(sink), f"{name}: stranded by an interrupt at trace event {step}"
    else:
        pytest.fail(f"{name} ran more than {MAX_EVENTS} trace events")
    assert step > 1  # (the call was traced at all)


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="POSIX interval timers")
@pytest.mark.parametrize("call", ["flush", "close"])
def test_a_real_signal_during_a_wait_propagates_at_once_and_strands_nothing(call: str) -> None:
    exporter = ScriptedExporter(silent=True)
    sink = BatchingWorker(exporter, batch_size=1, batch_interval=60.0, max_buffered=100)
    sink.emit(event())

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 0.2)
    started = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            getattr(sink, call)(30.0)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert time.monotonic() - started < 5.0  # not the 30 s granted
    assert still_works(sink)
    exporter.release()
