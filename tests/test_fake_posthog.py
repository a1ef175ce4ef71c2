"""The fake PostHog server, exercised by the real ``posthog`` client over loopback HTTP."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fake_posthog import LOOPBACK, V1_CAPTURE_PATH, FakePostHog, Mode
from posthog import Posthog
from posthog.request import APIError, batch_post, flags
from posthog.types import normalize_flags_response, to_values

API_KEY = "phc_fake_test_key"
FLAGS: dict[str, bool | str] = {"beta-search": True, "ranking": "control", "retired": False}
PAYLOADS: dict[str, object] = {"beta-search": {"limit": 5}}
# An empty but valid legacy batch, for raw requests that only probe the failure modes.
EMPTY_BATCH = json.dumps({"api_key": API_KEY, "batch": []}).encode()

MakeClient = Callable[..., Posthog]
RawAnswer = tuple[int, dict[str, str], bytes]


@pytest.fixture(autouse=True)
def _legacy_capture(monkeypatch: pytest.MonkeyPatch) -> None:
    # The environment must not switch the client to capture v1 or add a release id.
    for name in ("POSTHOG_CAPTURE_MODE", "POSTHOG_CAPTURE_COMPRESSION", "POSTHOG_RELEASE_ID"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def server() -> Iterator[FakePostHog]:
    """A started fake with three flags; short lifetime so a hung test cannot outlive it."""
    with FakePostHog(flags=FLAGS, payloads=PAYLOADS, lifetime_seconds=30.0) as fake:
        yield fake


@pytest.fixture
def make_client() -> Iterator[MakeClient]:
    """Build real clients against a fake; shut every one down after the test."""
    clients: list[Posthog] = []

    def make(fake: FakePostHog, **options: Any) -> Posthog:
        client = Posthog(API_KEY, host=fake.host, **options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.shutdown()


def post_raw(fake: FakePostHog, body: bytes = EMPTY_BATCH, timeout: float = 1.0) -> RawAnswer:
    """POST ``body`` to /batch/ with a plain http.client connection."""
    connection = http.client.HTTPConnection(LOOPBACK, fake.port, timeout=timeout)
    try:
        connection.request("POST", "/batch/", body=body, headers={"Content-Type": "json"})
        response = connection.getresponse()
        headers = {name.lower(): value for name, value in response.getheaders()}
        return response.status, headers, response.read()
    finally:
        connection.close()


def properties(event: dict[str, object]) -> dict[str, object]:
    """The ``properties`` object of a received event."""
    props = event["properties"]
    assert isinstance(props, dict)
    return props


def non_daemon_threads() -> list[threading.Thread]:
    """Threads that would keep the interpreter alive."""
    main = threading.main_thread()
    return [t for t in threading.enumerate() if not t.daemon and t is not main]


# -- capture ---------------------------------------------------------------------------


def test_sync_capture_delivers_every_event_once(
    server: FakePostHog, make_client: MakeClient
) -> None:
    client = make_client(server, sync_mode=True)
    explicit = str(uuid.uuid4())
    sent = [
        client.capture("search", distinct_id="install-1", properties={"n": i}) for i in range(4)
    ]
    sent.append(client.capture("search", distinct_id="install-1", uuid=explicit))

    assert sent[-1] == explicit
    assert server.uuids() == sent
    assert [properties(event)["n"] for event in server.events()[:4]] == [0, 1, 2, 3]
    batches = server.batches()
    assert len(batches) == 5  # sync mode posts one batch per event
    assert {(b.api_key, b.path, b.gzip) for b in batches} == {(API_KEY, "/batch/", False)}
    assert batches[0].headers["user-agent"].startswith("posthog-python/")


def test_background_client_batches_and_flushes(
    server: FakePostHog, make_client: MakeClient
) -> None:
    client = make_client(server, flush_at=100, flush_interval=0.05, max_retries=0, timeout=2)
    sent = [client.capture("search", distinct_id="install-1") for _ in range(20)]
    client.flush(timeout_seconds=3)

    assert server.wait_for_events(20, timeout=3)
    assert sorted(server.uuids()) == sorted(str(u) for u in sent)
    assert len(server.batches()) < 20  # the consumer batched them


def test_gzip_bodies_are_decoded_and_searchable(
    server: FakePostHog, make_client: MakeClient
) -> None:
    client = make_client(server, sync_mode=True, gzip=True)
    sent = client.capture("search", distinct_id="install-1", properties={"q": "CANARY-7f3a"})

    (batch,) = server.batches()
    assert batch.gzip
    assert batch.headers["content-encoding"] == "gzip"
    assert server.uuids() == [sent]
    assert any(b"CANARY-7f3a" in body for body in server.raw_bodies())


def test_capture_v1_mode_is_accepted(server: FakePostHog, make_client: MakeClient) -> None:
    client = make_client(server, sync_mode=True, capture_mode="v1")
    sent = client.capture("search", distinct_id="install-1")

    assert sent is not None  # None would mean the client saw a failure
    (batch,) = server.batches()
    assert (batch.path, batch.api_key) == (V1_CAPTURE_PATH, API_KEY)  # key from Bearer header
    assert server.uuids() == [sent]


# -- flags -----------------------------------------------------------------------------


def test_evaluate_flags_reads_the_v4_answer(server: FakePostHog, make_client: MakeClient) -> None:
    client = make_client(server, sync_mode=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)  # the non-deprecated API only
        snapshot = client.evaluate_flags("install-1")
        values = {key: snapshot.get_flag(key, send_feature_flag_events=False) for key in FLAGS}

    assert values == FLAGS
    assert snapshot.get_flag_payload("beta-search") == {"limit": 5}
    assert snapshot.get_flag_payload("ranking") is None
    assert server.flag_requests() == 1
    assert [(r.path, r.query) for r in server.requests()] == [("/flags/", "v=4")]
    assert server.events() == []  # suppressed $feature_flag_called events


def test_flag_read_sends_feature_flag_called_event(
    server: FakePostHog, make_client: MakeClient
) -> None:
    client = make_client(server, sync_mode=True)
    assert client.evaluate_flags("install-1").get_flag("ranking") == "control"

    (event,) = server.events()
    assert event["event"] == "$feature_flag_called"
    assert properties(event)["$feature_flag_response"] == "control"


def test_flag_keys_scope_the_answer(server: FakePostHog, make_client: MakeClient) -> None:
    client = make_client(server, sync_mode=True)
    snapshot = client.evaluate_flags("install-1", flag_keys=["ranking"])

    assert snapshot.keys == ["ranking"]
    assert json.loads(server.raw_bodies()[0])["flag_keys_to_evaluate"] == ["ranking"]


def test_request_level_flags_function_parses_without_fallback(server: FakePostHog) -> None:
    raw = flags(API_KEY, server.host, timeout=1, max_retries=0, distinct_id="install-1")

    assert all("value" in record for record in raw["flags"].values())  # typed v4 records
    assert to_values(normalize_flags_response(raw)) == FLAGS


# -- failure modes ---------------------------------------------------------------------


def test_refuse_then_heal_on_the_same_port(server: FakePostHog) -> None:
    port = server.port
    server.mode = Mode.REFUSE
    with pytest.raises(ConnectionRefusedError):
        post_raw(server)

    server.mode = Mode.HEALTHY
    assert server.port == port
    assert post_raw(server)[0] == 200


def test_silent_never_answers(server: FakePostHog, make_client: MakeClient) -> None:
    server.mode = Mode.SILENT
    with pytest.raises(TimeoutError):
        post_raw(server, timeout=0.3)

    client = make_client(server, sync_mode=True, timeout=0.3)
    assert client.capture("search", distinct_id="install-1") is None  # client timed out
    assert server.wait_for_requests(2, timeout=1)
    assert [r.status for r in server.requests()] == [None, None]
    assert server.raw_bodies() == []


def test_error_500_is_answered_but_not_recorded(
    server: FakePostHog, make_client: MakeClient
) -> None:
    server.mode = Mode.ERROR_500
    assert post_raw(server)[0] == 500

    client = make_client(server, sync_mode=True)
    assert client.capture("search", distinct_id="i", properties={"q": "CANARY-500"}) is None
    assert server.batches() == []
    # The body still crossed the wire, so canary searches must see it.
    assert any(b"CANARY-500" in body for body in server.raw_bodies())


def test_rate_limited_sends_retry_after(server: FakePostHog) -> None:
    server.mode = Mode.RATE_LIMITED
    status, headers, _ = post_raw(server)
    assert (status, headers["retry-after"]) == (429, "1")

    with pytest.raises(APIError) as caught:
        batch_post(API_KEY, server.host, timeout=1, batch=[{"event": "e", "distinct_id": "d"}])
    assert (caught.value.status, caught.value.retry_after) == (429, 1.0)
    assert server.batches() == []


def test_slow_answers_after_the_delay() -> None:
    with FakePostHog(slow_seconds=0.3, lifetime_seconds=10) as fake:
        fake.mode = Mode.SLOW
        started = time.monotonic()
        status, _, _ = post_raw(fake, timeout=2)
        elapsed = time.monotonic() - started

    assert status == 200
    assert 0.3 <= elapsed < 1.0


def test_background_client_retries_past_429(make_client: MakeClient) -> None:
    with FakePostHog(retry_after_seconds=1, lifetime_seconds=20) as fake:
        fake.mode = Mode.RATE_LIMITED
        client = make_client(fake, flush_at=1, flush_interval=0.05, max_retries=2, timeout=1)
        started = time.monotonic()
        sent = client.capture("search", distinct_id="install-1")
        assert fake.wait_for_requests(1, timeout=2)
        fake.mode = Mode.HEALTHY

        assert fake.wait_for_events(1, timeout=4)
        elapsed = time.monotonic() - started
        statuses = [r.status for r in fake.requests()]

    assert fake.uuids() == [sent]
    assert statuses == [429, 200]  # the refused attempt was not recorded as received
    assert elapsed >= 1.0  # the client honoured Retry-After


# -- lifecycle -------------------------------------------------------------------------


def test_stop_is_prompt_with_a_silent_connection_open() -> None:
    fake = FakePostHog(lifetime_seconds=30).start()
    fake.mode = Mode.SILENT
    with socket.create_connection((LOOPBACK, fake.port), timeout=2) as held:
        held.sendall(b"POST /batch/ HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
        assert fake.wait_for_requests(1, timeout=1)

        started = time.monotonic()
        fake.stop()
        assert time.monotonic() - started < 1.0
        try:
            answer = held.recv(1024)
        except ConnectionResetError:  # RST instead of FIN is also "closed, no answer"
            answer = b""
        assert answer == b""

    with pytest.raises(ConnectionRefusedError):
        post_raw(fake)
    assert non_daemon_threads() == []


def test_server_stops_by_itself_after_its_lifetime() -> None:
    with FakePostHog(lifetime_seconds=0.3) as fake:
        deadline = time.monotonic() + 2.0
        refused = False
        while not refused and time.monotonic() < deadline:
            try:
                post_raw(fake, timeout=0.5)
            except ConnectionRefusedError:
                refused = True
            except ConnectionResetError:
                pass  # accepted just as the listener closed: dropped, refusal comes next
            time.sleep(0.05)
        assert refused


def test_wait_for_events_gives_up_at_the_timeout(server: FakePostHog) -> None:
    started = time.monotonic()
    assert not server.wait_for_events(1, timeout=0.1)
    assert time.monotonic() - started < 0.5


def test_malformed_bodies_are_rejected_and_not_recorded(server: FakePostHog) -> None:
    assert post_raw(server, body=b"not json")[0] == 400
    assert post_raw(server, body=b'{"batch": "nope"}')[0] == 400
    assert server.batches() == []
