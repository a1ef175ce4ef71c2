"""Red-team findings against the batching worker, the exporters and the input hardening of
issue 11, each as a test: a strict xfail while the finding stands, a plain test once fixed.

Every event is counted by uuid or by its emit's outcome: delivered once, or counted lost by
reason. Loopback only; every wait bounded; the only timing bounds are generous "does not
hang" ones.
"""

from __future__ import annotations

import _thread
import datetime
import inspect
import logging
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

import pytest
from delivery_doubles import MemorySpool, ScriptedExporter
from domain_samples import empty_summary
from fake_posthog import FakePostHog, Mode, _Handler
from host_process import host_environment

from codeweaver_telemetry.adapters import NullSink, TelemetryClient
from codeweaver_telemetry.adapters.batching import BatchingWorker
from codeweaver_telemetry.adapters.directories import spool_directory
from codeweaver_telemetry.adapters.posthog_sink import Endpoint, posthog_sink, spooled_item_check
from codeweaver_telemetry.adapters.registry import make_sink
from codeweaver_telemetry.adapters.spool import Spool
from codeweaver_telemetry.core import PrivacyPolicy
from codeweaver_telemetry.core.app import DEFAULT_APP
from codeweaver_telemetry.core.settings import RawSources, resolve_settings
from codeweaver_telemetry.core.sink import Accepted, LossReason, OutboundEvent
from codeweaver_telemetry.core.vocabulary import JSONObject

NOT_A_HANG = 10.0


@pytest.fixture(autouse=True)
def _batch_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POSTHOG_CAPTURE_MODE", raising=False)


def event(n: int) -> OutboundEvent:
    return OutboundEvent("redteam_event", str(uuid.uuid4()), {"n": n}, time.time())


# --- a close racing an emit on another thread ---------------------------------------------


def _line_of(function: Any, text: str) -> int:
    lines, start = inspect.getsourcelines(function)
    return next(start + index for index, line in enumerate(lines) if text in line)


def test_an_emit_that_a_close_overtakes_is_dropped_or_counted_never_lost_unseen() -> None:
    """Finding: an emit that had passed the ``closed`` check when a close on another thread
    ran to its end appended its event to a buffer no worker would ever read again: the emit
    said QUEUED, nothing was delivered and nothing was counted lost. The interleaving is made
    deterministic by holding the emitting thread at its append until the close has returned."""
    exporter = ScriptedExporter()
    sink = BatchingWorker(exporter, batch_size=10, batch_interval=0.0, max_buffered=100)
    sink.emit(event(0))
    assert not sink.flush(NOT_A_HANG).timed_out

    append_line = _line_of(BatchingWorker.emit, "self._buffer.append(event)")
    at_append, go_on = threading.Event(), threading.Event()

    def hold_at_append(frame: FrameType, kind: str, arg: object) -> Any:
        if frame.f_code is not BatchingWorker.emit.__code__:
            return None

        def local(frame: FrameType, kind: str, arg: object) -> Any:
            if kind == "line" and frame.f_lineno == append_line:
                at_append.set()
                go_on.wait(NOT_A_HANG)
            return local

        return local

    outcome: list[Accepted] = []

    def host_thread() -> None:
        sys.settrace(hold_at_append)
        try:
            outcome.append(sink.emit(event(1)))
        finally:
            sys.settrace(None)

    emitter = threading.Thread(target=host_thread, daemon=True)
    emitter.start()
    assert at_append.wait(NOT_A_HANG)
    sink.close(NOT_A_HANG)
    go_on.set()
    emitter.join(NOT_A_HANG)
    time.sleep(0.2)  # (a worker that would still take it has had the time to)

    delivered = len(exporter.sent_uuids()) - 1
    counted_lost = sink.loss_totals().get(LossReason.SINK_CLOSED, 0)
    refused = outcome == [Accepted.DROPPED_CLOSED]
    assert delivered + counted_lost + int(refused) == 1


def test_emits_racing_a_close_from_many_threads_are_each_accounted_for() -> None:
    """Every emit made while a close runs is delivered, counted lost, or refused: none is
    left in the buffer (bounded: 8 threads, 300 events each, under a 10 s bound)."""
    exporter = ScriptedExporter()
    sink = BatchingWorker(exporter, batch_size=50, batch_interval=0.0, max_buffered=100_000)
    start = threading.Barrier(9)
    refused = [0] * 8

    def host_thread(index: int) -> None:
        start.wait(NOT_A_HANG)
        for n in range(300):
            if sink.emit(event(n)) is not Accepted.QUEUED:
                refused[index] += 1

    threads = [threading.Thread(target=host_thread, args=(i,), daemon=True) for i in range(8)]
    for thread in threads:
        thread.start()
    start.wait(NOT_A_HANG)
    time.sleep(0.002)
    sink.close(NOT_A_HANG)
    for thread in threads:
        thread.join(NOT_A_HANG)
    time.sleep(0.2)
    delivered = len(set(exporter.sent_uuids()))
    assert delivered == len(exporter.sent_uuids())
    lost = sum(sink.loss_totals().values())
    assert delivered + lost + sum(refused) == 8 * 300


# --- redirects -----------------------------------------------------------------------------


class RedirectingPostHog(FakePostHog):
    """Answers every capture with a 307 to ``target`` (another server's /batch/)."""

    target = ""

    def _route(self, handler: _Handler, body: bytes, gzipped: bool) -> None:
        self._answer(handler, 307, {"detail": "moved"}, {"Location": f"{self.target}/batch/"})


def test_a_redirect_never_carries_the_batch_and_the_key_to_another_host() -> None:
    """Finding: the exporter's session followed redirects, so a 307 or 308 answer (a
    misconfigured proxy, a captive portal, a hostile network) made it send the batch, with
    the project key, to wherever the answer pointed: another host, or plain http."""
    with (
        FakePostHog(lifetime_seconds=30) as elsewhere,
        RedirectingPostHog(lifetime_seconds=30) as redirecting,
    ):
        redirecting.target = elsewhere.host
        sink = posthog_sink(Endpoint("phc_redteam_key", redirecting.host, 10, 0.0, 100))
        sink.emit(event(1))
        report = sink.close(NOT_A_HANG)
        assert elsewhere.events() == []
        assert elsewhere.requests() == []
        assert report.failed == 1  # counted, not lost unseen
        assert len(redirecting.requests()) == 1  # and not retried


# --- what the spool hands back -------------------------------------------------------------


def _item(properties: JSONObject, distinct_id: str | None = None) -> JSONObject:
    return {
        "event": "codeweaver_search",
        "distinct_id": distinct_id or str(uuid.uuid4()),
        "properties": properties,
        "timestamp": datetime.datetime.now(datetime.UTC).isoformat(),
        "uuid": str(uuid.uuid4()),
    }


def test_an_item_claimed_from_the_spool_passes_the_wire_check_before_it_is_sent() -> None:
    """Finding: items claimed from the spool were checked for shape only, then sent: a
    spool file that another version, or anything able to write the user's files, left with a
    path or a secret in its properties had them delivered as they were. (The spool on main
    now refuses such an item itself, at append and on reading; the worker's recheck holds for
    any spool, here one that hands back what it was given.)"""
    leaky = _item({"mode": "hybrid", "note": "/home/bob/.ssh/id_rsa", "token": "sk live 123"})
    not_a_session = _item({"mode": "hybrid"}, distinct_id="bob@example.com")
    spool = MemorySpool([leaky, not_a_session])
    with FakePostHog(lifetime_seconds=30) as server:
        recheck = spooled_item_check(DEFAULT_APP, query_opt_in=False)
        sink = posthog_sink(
            Endpoint("phc", server.host, 10, 0.0, 100), spool=spool, recheck=recheck
        )
        sink.emit(event(1))
        sink.close(NOT_A_HANG)
        sent = {str(item["uuid"]): item for item in server.events()}
    assert not_a_session["uuid"] not in sent
    assert leaky["uuid"] in sent
    properties = sent[str(leaky["uuid"])]["properties"]
    assert isinstance(properties, dict)
    assert properties["mode"] == "hybrid"
    assert "note" not in properties
    assert "token" not in properties
    assert sink.loss_totals().get(LossReason.NOT_BUILT) == 1


def test_an_item_claimed_from_the_spool_is_checked_against_this_machines_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Red team of the whole surface: the recheck knew the grammar but not this machine's
    names, so an item an older version, another machine or anything able to write the user's
    files left in the spool sent the repository's or the user's name as a label. The PostHog
    sink of the settings now rechecks against the names of the working directory, as the
    client's policy does."""
    repository = tmp_path / "payments-internal"
    repository.mkdir()
    monkeypatch.chdir(repository)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    planted = _item({"mode": "hybrid", "repo": "payments-internal"})
    with FakePostHog(lifetime_seconds=30) as server:
        arguments = {"sink": "posthog", "posthog_api_key": "phc", "posthog_host": server.host}
        sources = RawSources(arguments=arguments, environment={}, posthog_installed=True)
        settings = resolve_settings(sources).unwrap()
        directory = spool_directory(settings.app)
        assert directory is not None
        spool = Spool(directory)
        assert spool.append([planted]) == {}
        spool.close()
        sink = make_sink(settings, str(repository))
        sink.emit(event(1))
        sink.close(NOT_A_HANG)
        sent = {str(item["uuid"]): item for item in server.events()}
    properties = sent[str(planted["uuid"])]["properties"]
    assert isinstance(properties, dict)
    assert properties["mode"] == "hybrid"
    assert "repo" not in properties


def test_what_the_library_itself_spools_passes_the_recheck_unchanged() -> None:
    """The recheck costs the library's own events nothing: each passed the same grammar
    at capture, and the check is idempotent (the search event, with the opt-in query words,
    a host's event, the session event)."""
    environment = {"CODEWEAVER__TELEMETRY__TOOLS_OVER_PRIVACY": "true"}
    settings = resolve_settings(RawSources(arguments={}, environment=environment)).unwrap()
    sink = NullSink(keep=True)
    policy = PrivacyPolicy(hash_key=b"k" * 32, tools_over_privacy=True)
    client = TelemetryClient(settings, policy=policy, sink=sink)
    client.start_session({"version": "1.2.3", "editor": "vscode"})
    client.capture("host_event", {"mode": "hybrid", "n": 3, "ratio": 0.5, "ok": True})
    client.capture_search_event(
        empty_summary(),
        query="find the auth handler",
        intent_type=None,
        strategies=[],
        execution_time_ms=3.0,
    )
    client.end_session(version="1.2.3")
    check = spooled_item_check(DEFAULT_APP, query_opt_in=True)
    items = [emitted.to_json(str(uuid.uuid4())) for emitted in sink.events]
    assert len(items) == 3
    for item in items:
        assert check(item) == item


@pytest.fixture
def server() -> Iterator[FakePostHog]:
    with FakePostHog(lifetime_seconds=60) as fake:
        yield fake


# --- answers that refuse the key, not the batch ---------------------------------------------


class UnauthorizedPostHog(FakePostHog):
    """Answers every capture 401, as PostHog answers a wrong or rotated project key."""

    def _route(self, handler: _Handler, body: bytes, gzipped: bool) -> None:
        self._answer(handler, 401, {"detail": "invalid api key"})


def _wire(n: int) -> JSONObject:
    return _item({"n": n}) | {"event": "redteam_event"}


def test_a_rejected_key_neither_empties_the_spool_nor_hammers_the_host() -> None:
    """Finding: a 401 (a project key that is wrong or was rotated; 403 and 404 alike) was
    taken as a verdict on the batch: each claim was rejected and deleted, the next claimed at
    once, so one short process sent the whole spool in back-to-back requests (21 in 0.4 s
    for 2,000 events) and deleted every event earlier runs had kept."""
    spool = MemorySpool([_wire(n) for n in range(2_000)])
    with UnauthorizedPostHog(lifetime_seconds=30) as server:
        sink = posthog_sink(Endpoint("phc_rotated", server.host, 10, 0.0, 10_000), spool=spool)
        sink.emit(event(1))
        report = sink.close(3.0)
        requests = len(server.requests())
    assert requests <= 6  # a backoff between attempts, not one request per claim
    assert len(spool.items) == 2_001  # the spool's 2,000 kept, and this run's event added
    assert report.spooled == 1
    assert sink.loss_totals() == {}


# --- a worker that something unexpected ends ------------------------------------------------


class Unexpected(BaseException):
    """What no spool or exporter should raise (a library's own SystemExit, say)."""


class SpoolThatEndsTheWorker(MemorySpool):
    def claim(self, max_items: int) -> Any:
        raise Unexpected


def test_a_worker_ended_by_a_base_exception_answers_every_wait_and_counts_the_rest() -> None:
    """Finding: the worker gave up (answering waits, counting what it held) only for an
    ``Exception``: a ``BaseException`` from its spool ended the thread silently, so every
    flush and close waited its whole timeout and every later event was queued for nobody,
    never counted."""
    exporter = ScriptedExporter()
    sink = BatchingWorker(
        exporter,
        batch_size=5,
        batch_interval=60.0,
        max_buffered=1_000,
        spool=SpoolThatEndsTheWorker(),
    )
    outcomes = [sink.emit(event(n)) for n in range(10)]
    started = time.monotonic()
    sink.flush(NOT_A_HANG)
    later = [sink.emit(event(n)) for n in range(10)]
    sink.close(NOT_A_HANG)
    assert time.monotonic() - started < NOT_A_HANG / 2  # (it waited 2 x 10 s)
    queued = (outcomes + later).count(Accepted.QUEUED)
    assert len(exporter.sent_uuids()) + sum(sink.loss_totals().values()) == queued


class ExporterThatRaises:
    def prepare(self, timeout: float) -> bool:
        return True

    def export(self, batch: object, timeout: float) -> Any:
        raise Unexpected


def test_a_batch_whose_export_raised_a_base_exception_is_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An export thread that a ``BaseException`` ends still reports its batch (as unsent):
    it goes to the spool, instead of waiting out the silence patience and then a deadline."""
    monkeypatch.setattr(threading, "excepthook", lambda arguments: None)  # (expected)
    spool = MemorySpool()
    sink = BatchingWorker(
        ExporterThatRaises(), batch_size=5, batch_interval=0.0, max_buffered=1_000, spool=spool
    )
    for n in range(5):
        sink.emit(event(n))
    report = sink.close(NOT_A_HANG)
    assert report.spooled == 5
    assert len(spool.items) == 5
    assert sink.loss_totals() == {}


# --- what reaches the host's logs -----------------------------------------------------------


class RecordsAuthorization(FakePostHog):
    """Healthy, and keeps each request's Authorization header."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.authorizations: list[str | None] = []

    def _route(self, handler: _Handler, body: bytes, gzipped: bool) -> None:
        self.authorizations.append(handler.headers.get("Authorization"))
        super()._route(handler, body, gzipped)


def test_a_host_url_with_credentials_never_reaches_the_hosts_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Finding: ``posthog`` logs, at debug level on its logger, the URL it posts to; a host
    URL with a proxy's user and password in it (which the settings accept, and mask when
    shown) was written whole into the logs of any host that logs at debug level."""
    with RecordsAuthorization(lifetime_seconds=30) as server:
        host = server.host.replace("://", "://relay:s3cr3tpass@")
        sink = posthog_sink(Endpoint("phc_test", host, 10, 0.0, 100))
        with caplog.at_level(logging.DEBUG):
            sink.emit(event(1))
            report = sink.close(NOT_A_HANG)
        authorizations = server.authorizations
    assert report.delivered == 1
    assert authorizations == ["Basic cmVsYXk6czNjcjN0cGFzcw=="]  # (still sent, as a header)
    assert "s3cr3tpass" not in caplog.text
    assert "phc_test" not in caplog.text


# --- flush(timeout) honoured ----------------------------------------------------------------


def test_a_flush_given_more_time_than_any_float_waits_for_its_events() -> None:
    """Finding: ``flush(10**400)`` (an int beyond any float) was taken as no wait at all:
    it returned at once, timed out, with its events unsent."""
    exporter = ScriptedExporter(silent=True)
    sink = BatchingWorker(exporter, batch_size=10, batch_interval=0.0, max_buffered=100)
    sink.emit(event(1))
    threading.Timer(0.3, exporter.release).start()
    report = sink.flush(10**400)
    assert (report.delivered, report.timed_out) == (1, False)
    sink.close(NOT_A_HANG)


# --- no thread to be had --------------------------------------------------------------------


def _no_thread(*arguments: object) -> NoReturn:
    raise RuntimeError("can't create new thread at interpreter shutdown")


@pytest.mark.parametrize("with_spool", [True, False], ids=["spooled", "counted lost"])
def test_events_for_a_worker_that_could_not_start_are_spooled_or_counted_at_close(
    monkeypatch: pytest.MonkeyPatch, with_spool: bool
) -> None:
    """Finding: when no thread could be started for the worker (from Python 3.12 an exit
    hook cannot start one, so a process whose first event is its session event at exit is
    such a case; or the process is out of threads), the events stayed queued for nobody: the
    close returned with nothing pending, nothing spooled and nothing counted lost."""
    monkeypatch.setattr(_thread, "start_new_thread", _no_thread)  # (the worker starts with it)
    spool = MemorySpool() if with_spool else None
    sink = BatchingWorker(
        ScriptedExporter(), batch_size=10, batch_interval=0.0, max_buffered=100, spool=spool
    )
    assert sink.emit(event(1)) is Accepted.QUEUED
    report = sink.close(NOT_A_HANG)
    if spool is not None:
        assert (report.spooled, report.pending, len(spool.items)) == (1, 0, 1)
        assert sink.loss_totals() == {}
    else:
        assert (report.spooled, report.pending, report.timed_out) == (0, 1, True)
        assert sink.loss_totals() == {LossReason.OUTAGE: 1}


def test_a_close_that_can_start_no_export_thread_still_delivers_to_a_healthy_host(
    monkeypatch: pytest.MonkeyPatch, server: FakePostHog
) -> None:
    """Finding: each export ran on a thread of its own, and when none could be started (from
    Python 3.12 an ``atexit`` hook, where the client's exit hook runs, can start no thread;
    or the process is out of threads) every batch was taken as unsent: at exit the last
    events went to the spool though the host was healthy (a one-off run never delivered
    them), and without a spool they were lost. Simulated: export threads fail to start as
    they do during finalization, once the worker runs."""
    start = threading.Thread.start

    def start_unless_an_export(thread: threading.Thread) -> None:
        if thread.name == "codeweaver-telemetry-export":
            raise RuntimeError("can't create new thread at interpreter shutdown")
        start(thread)

    spool = MemorySpool()
    sink = posthog_sink(Endpoint("phc_test", server.host, 10, 60.0, 100), spool=spool)
    for n in range(5):
        sink.emit(event(n))
    monkeypatch.setattr(threading.Thread, "start", start_unless_an_export)  # the exit begins
    report = sink.close(NOT_A_HANG)
    assert (report.delivered, report.spooled) == (5, 0)
    assert len(server.events()) == 5
    assert spool.items == []


# --- a slow host, and no spool --------------------------------------------------------------


def test_without_a_spool_a_slow_host_is_waited_for_up_to_the_deadline() -> None:
    """Finding: an export with no answer within half a second was taken as silence, and a
    flush or close then settled at once, which without a spool (no state directory; the
    stdout sink has none) meant: a flush returned after 0.5 s of its 5 s with nothing sent,
    and a close counted every event lost at once, though the host (answering in 1 s) would
    have taken them all within the budget."""
    with FakePostHog(lifetime_seconds=30, slow_seconds=1.0) as server:
        server.mode = Mode.SLOW
        sink = posthog_sink(Endpoint("phc_test", server.host, 25, 60.0, 1_000))
        for n in range(25):
            sink.emit(event(n))
        flushed = sink.flush(NOT_A_HANG)
        for n in range(10):
            sink.emit(event(n))
        closed = sink.close(NOT_A_HANG)
        assert server.wait_for_events(35, timeout=NOT_A_HANG)
    assert (flushed.delivered, flushed.pending, flushed.timed_out) == (25, 0, False)
    assert (closed.delivered, closed.pending) == (35, 0)
    assert sink.loss_totals() == {}


# --- a fork while the first export imports what it sends with -------------------------------

FORK_DURING_THE_IMPORT = """
import importlib.abc, os, sys, threading, time
from codeweaver_telemetry.adapters.posthog_sink import Endpoint, posthog_sink
from codeweaver_telemetry.core.sink import LossReason, OutboundEvent

class SlowPostHogImport(importlib.abc.MetaPathFinder):
    # The import of posthog.request takes 0.4 s longer (it takes a third of a second),
    # so that the fork below lands inside it for certain.
    def find_spec(self, name, path, target=None):
        if name == "posthog.request":
            time.sleep(0.4)
        return None

sys.meta_path.insert(0, SlowPostHogImport())
sink = posthog_sink(Endpoint("phc_test", sys.argv[1], 10, 0.0, 100))
sink.emit(OutboundEvent("parent", "d", {}, time.time()))
time.sleep(0.3)  # the parent's export thread is importing posthog.request now
pid = os.fork()
if pid == 0:
    sink.emit(OutboundEvent("child", "d", {}, time.time()))
    report = sink.close(4.0)
    delivered, lost = report.delivered == 1, sink.loss_totals() == {LossReason.OUTAGE: 1}
    os._exit(0 if delivered else 1 if lost else 3)
_, status = os.waitpid(pid, 0)
sink.close(4.0)
print(os.waitstatus_to_exitcode(status))
"""


@pytest.mark.slow
def test_a_child_forked_during_the_first_exports_import_delivers_or_counts_its_event(
    server: FakePostHog, tmp_path: Path
) -> None:
    # The modules the parent's export thread was importing are imported afresh in the child
    # (forks.forget_imports_cut_short_by_the_fork), which then delivers in most runs (before
    # that, in none: it blocked on the dead thread's import lock). In the others some lock of
    # that import is still held, and the child's close ends at its deadline with the event
    # counted lost (OUTAGE: this sink has no spool), never silently and never for ever.
    outcomes = []
    for _ in range(5):  # a fresh parent each time: its first export's import is the window
        completed = subprocess.run(
            [sys.executable, "-c", FORK_DURING_THE_IMPORT, server.host],
            cwd=tmp_path,
            env=host_environment(tmp_path),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        outcomes.append(completed.stdout.strip())
    assert set(outcomes) <= {"0", "1"}, outcomes  # delivered, or counted lost
    assert "0" in outcomes, outcomes  # the child can deliver
    assert [str(item["event"]) for item in server.events()].count("parent") == 5


class NoExportThreads(threading.Thread):
    """As at exit from Python 3.12 (an atexit hook can start no thread): an export thread
    cannot be had, so the worker exports on its own thread."""

    def start(self) -> None:
        if self.name == "codeweaver-telemetry-export":
            raise RuntimeError("can't create new thread at interpreter shutdown")
        super().start()


def test_with_no_thread_to_export_on_a_silent_host_costs_a_close_its_patience_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Python 3.12's exit (found by running the suite on 3.12): a short process against a
    silent host waited its whole shutdown budget (10 s of 10), and what it held was neither
    delivered nor spooled, because the worker exporting on its own thread waited for the
    close's deadline and heard no silence meanwhile."""
    monkeypatch.setattr(threading, "Thread", NoExportThreads)  # (the batching worker's)
    spool = MemorySpool()
    with FakePostHog(lifetime_seconds=30) as server:
        server.mode = Mode.SILENT
        sink = posthog_sink(Endpoint("phc", server.host, 10, 0.0, 100), spool=spool)
        for n in range(5):
            sink.emit(event(n))
        report = sink.close(NOT_A_HANG)
    assert not report.timed_out
    assert report.spooled == 5
    assert len(spool.items) == 5
