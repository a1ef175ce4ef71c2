"""A PostHog-compatible HTTP server for tests: stdlib only, loopback only, bounded in time.

It speaks the subset of the PostHog ingestion API that the official ``posthog`` client
(7.91.1) uses: ``POST /batch/`` (legacy capture, optionally gzip), ``POST
/i/v1/analytics/events`` (capture v1, Bearer auth) and ``POST /flags/?v=4``. Failure
modes (refused, silent, 500, 429, slow) can be switched at any time from the test.
"""

from __future__ import annotations

import contextlib
import enum
import gzip
import json
import socket
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Final, Self
from urllib.parse import urlsplit

LOOPBACK: Final = "127.0.0.1"
V0_BATCH_PATHS: Final = frozenset({"/batch/", "/batch"})
V1_CAPTURE_PATH: Final = "/i/v1/analytics/events"
FLAGS_PATHS: Final = frozenset({"/flags/", "/flags"})
# PostHog caps request bodies at 20 MiB; the cap also keeps every read bounded.
MAX_BODY_BYTES: Final = 20 * 1024 * 1024
# How often serve_forever checks for shutdown(); small so mode switches and stop() are prompt.
_POLL_SECONDS: Final = 0.05
# A client that connects and never sends a request line cannot pin a handler thread longer.
_HANDLER_READ_TIMEOUT: Final = 10.0

JsonObject = dict[str, object]


class Mode(enum.Enum):
    """How the fake server answers the next request."""

    HEALTHY = "healthy"
    REFUSE = "refuse"  # listening socket closed: connections are refused
    SILENT = "silent"  # connection accepted, request never answered
    ERROR_500 = "error_500"
    RATE_LIMITED = "rate_limited"  # 429 with Retry-After
    SLOW = "slow"  # correct answer after slow_seconds


@dataclass(frozen=True)
class ReceivedBatch:
    """One capture request the server answered with HTTP 200."""

    api_key: str
    events: list[JsonObject]
    gzip: bool
    path: str
    headers: dict[str, str]  # header names lower-cased


@dataclass(frozen=True)
class HandledRequest:
    """One request that reached the server, whatever the answer."""

    method: str
    path: str
    query: str  # e.g. "v=4" for the flags endpoint
    status: int | None  # None: never answered (SILENT, REFUSE race, or stopped)


class _BadRequestError(Exception):
    """The request cannot be parsed; answered with ``status``."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def flags_v4_response(
    flags: Mapping[str, bool | str],
    payloads: Mapping[str, object],
    keys: list[str] | None = None,
) -> JsonObject:
    """Build a ``/flags/?v=4`` answer for ``flags`` (False: disabled, str: variant).

    ``keys`` mirrors the request's ``flag_keys_to_evaluate``: when given, only those
    flags are returned, as the real server does.
    """
    records: JsonObject = {}
    for flag_id, key in enumerate(sorted(flags), start=1):
        if keys is not None and key not in keys:
            continue
        records[key] = _flag_record(flag_id, key, flags[key], payloads.get(key))
    return {
        "flags": records,
        "errorsWhileComputingFlags": False,
        "requestId": str(uuid.uuid4()),
        "evaluatedAt": int(time.time() * 1000),
    }


def _flag_record(flag_id: int, key: str, value: bool | str, payload: object) -> JsonObject:
    enabled = value is not False
    # Payloads travel JSON-encoded; the server sends one only for a matched flag.
    encoded = json.dumps(payload) if enabled and payload is not None else None
    reason = (
        {"code": "condition_match", "condition_index": 0, "description": "Matched condition set 1"}
        if enabled
        else {"code": "no_condition_match", "description": "No matching condition set"}
    )
    return {
        "key": key,
        # "value" marks a typed v4 record; enabled/variant keep older parsers working.
        "value": value,
        "enabled": enabled,
        "variant": value if isinstance(value, str) else None,
        "failed": False,
        "reason": reason,
        "metadata": {"id": flag_id, "version": 1, "payload": encoded, "description": ""},
    }


class _Server(ThreadingHTTPServer):
    """ThreadingHTTPServer that knows its FakePostHog and tracks open connections."""

    daemon_threads = True  # a held SILENT connection never blocks interpreter exit
    allow_reuse_address = True  # re-listen on the same port despite TIME_WAIT sockets

    def __init__(self, port: int, fake: FakePostHog) -> None:
        self.fake = fake
        super().__init__((LOOPBACK, port), _Handler)

    def get_request(self) -> tuple[socket.socket, tuple[str, int]]:
        """Accept, disable Nagle, and register the connection so stop() can cut it."""
        sock, address = super().get_request()
        # Without TCP_NODELAY, delayed ACK + Nagle adds ~40 ms per loopback response.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.fake._track(sock)
        return sock, address

    def shutdown_request(self, request: socket.socket | tuple[bytes, socket.socket]) -> None:
        """Forget the connection, then close it."""
        if isinstance(request, socket.socket):  # always, for TCP; the union is the base API
            self.fake._untrack(request)
        super().shutdown_request(request)


class _Handler(BaseHTTPRequestHandler):
    """Routes one request per connection to the owning FakePostHog."""

    server: _Server
    protocol_version = "HTTP/1.1"
    timeout = _HANDLER_READ_TIMEOUT

    def do_POST(self) -> None:
        """Serve a POST."""
        self.server.fake._serve(self)

    def do_GET(self) -> None:
        """Serve a GET (only failure modes and 404s)."""
        self.server.fake._serve(self)

    def log_message(self, format: str, *args: object) -> None:
        """Stay quiet: pytest output should show test failures, not access logs."""

    def read_body(self) -> tuple[bytes, bool]:
        """Return the decompressed body and whether it was gzip-encoded."""
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            raise _BadRequestError(413, "body too large")
        raw = self.rfile.read(length)
        encoding = (self.headers.get("Content-Encoding") or "").strip().lower()
        try:
            if encoding == "gzip":
                return gzip.decompress(raw), True
            if encoding == "deflate":
                return zlib.decompress(raw), False
        except (OSError, EOFError, zlib.error) as exc:
            raise _BadRequestError(400, f"cannot decode {encoding} body") from exc
        if encoding not in ("", "identity"):
            raise _BadRequestError(415, f"unsupported Content-Encoding {encoding}")
        return raw, False

    def send_json(self, status: int, body: object, extra: Mapping[str, str] | None = None) -> None:
        """Write status line, headers and body in ONE sendall (no Nagle stall)."""
        payload = json.dumps(body).encode()
        lines = [
            f"HTTP/1.1 {status} {HTTPStatus(status).phrase}",
            "Content-Type: application/json",
            f"Content-Length: {len(payload)}",
            # One request per connection: REFUSE and stop() then bite immediately.
            "Connection: close",
            *(f"{name}: {value}" for name, value in (extra or {}).items()),
        ]
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        # OSError: the client gave up (timeout) before the answer; nothing to report.
        with contextlib.suppress(OSError):
            self.connection.sendall(head + payload)


class FakePostHog:
    """A PostHog-compatible server on 127.0.0.1 with switchable failure modes.

    Use as a context manager. It stops by itself ``lifetime_seconds`` after start.
    """

    def __init__(
        self,
        *,
        flags: Mapping[str, bool | str] | None = None,
        payloads: Mapping[str, object] | None = None,
        slow_seconds: float = 2.0,
        retry_after_seconds: int = 1,
        lifetime_seconds: float = 120.0,
    ) -> None:
        self.flags: dict[str, bool | str] = dict(flags or {})
        self.payloads: dict[str, object] = dict(payloads or {})
        self.slow_seconds = slow_seconds
        self.retry_after_seconds = retry_after_seconds
        self.lifetime_seconds = lifetime_seconds
        # _cond guards all mutable state below; handlers wait on it (SILENT, SLOW).
        self._cond = threading.Condition()
        # Serialises listener open/close, which must not run under _cond: the serve
        # loop needs _cond (to track sockets) before it can notice shutdown().
        self._listener_lock = threading.Lock()
        self._mode = Mode.HEALTHY
        self._started = False
        self._stopped = False
        self._deadline = 0.0
        self._port = 0
        self._server: _Server | None = None
        self._serve_thread: threading.Thread | None = None
        self._timer: threading.Timer | None = None
        self._connections: set[socket.socket] = set()
        self._batches: list[ReceivedBatch] = []
        self._raw_bodies: list[bytes] = []
        self._requests: list[HandledRequest] = []

    # -- lifecycle -------------------------------------------------------------

    def start(self) -> Self:
        """Bind an ephemeral loopback port and serve; arm the lifetime timer."""
        with self._cond:
            if self._started:
                raise RuntimeError("FakePostHog already started")
            self._started = True
            self._deadline = time.monotonic() + self.lifetime_seconds
            refuse = self._mode is Mode.REFUSE
        with self._listener_lock:
            self._listen(0)
            if refuse:
                self._unlisten()
        self._timer = threading.Timer(self.lifetime_seconds, self.stop)
        self._timer.daemon = True
        self._timer.start()
        return self

    def stop(self) -> None:
        """Stop serving and cut every open connection; returns in well under a second."""
        with self._cond:
            if self._stopped or not self._started:
                self._stopped = True
                return
            self._stopped = True
            self._cond.notify_all()  # releases SILENT holds and SLOW sleeps
            connections = list(self._connections)
        with self._listener_lock:
            self._unlisten()
        for sock in connections:
            # The peer sees EOF now, not when the handler thread gets round to it;
            # OSError: its handler already closed it.
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        timer = self._timer
        if timer is not None and timer is not threading.current_thread():
            timer.cancel()

    def __enter__(self) -> Self:
        """Start the server."""
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the server."""
        self.stop()

    @property
    def host(self) -> str:
        """Base URL to give the client, e.g. ``http://127.0.0.1:41234``."""
        with self._cond:
            if not self._started:
                raise RuntimeError("FakePostHog not started")
            return f"http://{LOOPBACK}:{self._port}"

    @property
    def port(self) -> int:
        """The loopback port; it stays the same across REFUSE and back."""
        with self._cond:
            return self._port

    @property
    def mode(self) -> Mode:
        """Current failure mode."""
        with self._cond:
            return self._mode

    @mode.setter
    def mode(self, new: Mode) -> None:
        with self._listener_lock:
            with self._cond:
                old, self._mode = self._mode, new
                self._cond.notify_all()  # a held SILENT request ends on any mode change
                live = self._started and not self._stopped
            if not live or old is new:
                return
            if new is Mode.REFUSE:
                self._unlisten()
            elif old is Mode.REFUSE:
                self._listen(self._port)

    # -- observations ------------------------------------------------------------

    def batches(self) -> list[ReceivedBatch]:
        """Capture requests answered with 200, in arrival order."""
        with self._cond:
            return list(self._batches)

    def events(self) -> list[JsonObject]:
        """All events of all 200-answered batches, in arrival order."""
        with self._cond:
            return [event for batch in self._batches for event in batch.events]

    def uuids(self) -> list[str]:
        """The ``uuid`` of every received event, in arrival order."""
        return [str(event.get("uuid")) for event in self.events()]

    def requests(self) -> list[HandledRequest]:
        """Every request that reached the server, whatever the answer."""
        with self._cond:
            return list(self._requests)

    def flag_requests(self) -> int:
        """Number of requests to the flags endpoint, in any mode."""
        return sum(1 for request in self.requests() if request.path in FLAGS_PATHS)

    def raw_bodies(self) -> list[bytes]:
        """Decompressed body of every request that was read (any path, any status).

        Includes requests answered 500/429 and flags requests, so a canary search
        covers everything that crossed the wire; SILENT requests are never read.
        """
        with self._cond:
            return list(self._raw_bodies)

    def wait_for_events(self, count: int, timeout: float) -> bool:
        """Wait until at least ``count`` events were received; False on timeout."""
        return self._wait_until(lambda: sum(len(b.events) for b in self._batches) >= count, timeout)

    def wait_for_requests(self, count: int, timeout: float) -> bool:
        """Wait until at least ``count`` requests reached the server; False on timeout."""
        return self._wait_until(lambda: len(self._requests) >= count, timeout)

    def _wait_until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        # Every state change notifies _cond, so this wakes on progress, not on a poll.
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    # -- listener ----------------------------------------------------------------

    def _listen(self, port: int) -> None:
        server = _Server(port, self)
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": _POLL_SECONDS},
            name=f"fake-posthog-{server.server_address[1]}",
            daemon=True,
        )
        with self._cond:
            self._port = int(server.server_address[1])
            self._server, self._serve_thread = server, thread
        thread.start()

    def _unlisten(self) -> None:
        with self._cond:
            server, thread = self._server, self._serve_thread
            self._server = self._serve_thread = None
        if server is None or thread is None:
            return
        server.shutdown()  # returns within one poll interval
        server.server_close()  # closes the listening socket: new connections are refused
        thread.join(timeout=1.0)

    def _track(self, sock: socket.socket) -> None:
        with self._cond:
            self._connections.add(sock)

    def _untrack(self, sock: socket.socket) -> None:
        with self._cond:
            self._connections.discard(sock)

    # -- request handling --------------------------------------------------------

    def _serve(self, handler: _Handler) -> None:
        handler.close_connection = True
        mode = self.mode
        if mode in (Mode.SILENT, Mode.REFUSE) or self._is_stopped():
            # REFUSE here is a race with the listener closing: drop it unanswered too.
            self._record(handler, None)
            if mode is Mode.SILENT:
                self._hold_silently()
            return
        try:
            body, gzipped = handler.read_body()
        except _BadRequestError as exc:
            self._answer(handler, exc.status, {"detail": exc.detail})
            return
        with self._cond:
            self._raw_bodies.append(body)
        if mode is Mode.SLOW and not self._sleep_unless_stopped(self.slow_seconds):
            self._record(handler, None)
            return
        if mode is Mode.ERROR_500:
            self._answer(handler, 500, {"detail": "fake internal error"})
        elif mode is Mode.RATE_LIMITED:
            retry = {"Retry-After": str(self.retry_after_seconds)}
            self._answer(handler, 429, {"detail": "rate limited"}, retry)
        else:
            try:
                self._route(handler, body, gzipped)
            except _BadRequestError as exc:
                self._answer(handler, exc.status, {"detail": exc.detail})

    def _route(self, handler: _Handler, body: bytes, gzipped: bool) -> None:
        path = urlsplit(handler.path).path
        if handler.command == "POST" and path in FLAGS_PATHS:
            keys = _json_object(body).get("flag_keys_to_evaluate")
            wanted = [str(key) for key in keys] if isinstance(keys, list) else None
            self._answer(handler, 200, flags_v4_response(self.flags, self.payloads, wanted))
        elif handler.command == "POST" and (path in V0_BATCH_PATHS or path == V1_CAPTURE_PATH):
            batch = _parse_batch(handler, path, body, gzipped)
            self._answer(handler, 200, _capture_answer(batch), batch=batch)
        else:
            self._answer(handler, 404, {"detail": "not found"})

    def _answer(
        self,
        handler: _Handler,
        status: int,
        body: object,
        extra: Mapping[str, str] | None = None,
        *,
        batch: ReceivedBatch | None = None,
    ) -> None:
        # Record before answering, so a client that got its 200 always finds its events.
        self._record(handler, status, batch)
        handler.send_json(status, body, extra)

    def _record(
        self, handler: _Handler, status: int | None, batch: ReceivedBatch | None = None
    ) -> None:
        target = urlsplit(handler.path)
        with self._cond:
            if batch is not None:
                self._batches.append(batch)
            self._requests.append(
                HandledRequest(handler.command, target.path, target.query, status)
            )
            self._cond.notify_all()

    def _is_stopped(self) -> bool:
        with self._cond:
            return self._stopped

    def _hold_silently(self) -> None:
        # Bounded by the server's lifetime; ends at once on stop() or a mode change.
        with self._cond:
            while self._mode is Mode.SILENT and not self._stopped:
                remaining = self._deadline - time.monotonic()
                if remaining <= 0:
                    return
                self._cond.wait(remaining)

    def _sleep_unless_stopped(self, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        with self._cond:
            while not self._stopped:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return True
                self._cond.wait(remaining)
            return False


def _json_object(body: bytes) -> JsonObject:
    try:
        document = json.loads(body or b"{}")
    except ValueError as exc:
        raise _BadRequestError(400, "body is not JSON") from exc
    if not isinstance(document, dict):
        raise _BadRequestError(400, "body must be a JSON object")
    return document


def _parse_batch(handler: _Handler, path: str, body: bytes, gzipped: bool) -> ReceivedBatch:
    document = _json_object(body)
    items = document.get("batch")
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise _BadRequestError(400, "batch must be a list of objects")
    headers = {name.lower(): value for name, value in handler.headers.items()}
    # v0 carries the key in the body; v1 in a Bearer header.
    bearer = headers.get("authorization", "").removeprefix("Bearer ").strip()
    api_key = str(document.get("api_key") or bearer)
    if not api_key:
        raise _BadRequestError(401, "missing api key")
    return ReceivedBatch(api_key, list(items), gzipped, path, headers)


def _capture_answer(batch: ReceivedBatch) -> JsonObject:
    if batch.path == V1_CAPTURE_PATH:
        # v1 answers per event; "ok" is terminal success for the client.
        return {"results": {str(e.get("uuid")): {"result": "ok"} for e in batch.events}}
    return {"status": 1}
