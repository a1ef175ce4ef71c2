"""Delivery to PostHog: an exporter through the official package's request function, and the
batching worker over it.

The exporter sends one ``/batch/`` request per call and says what came of it as a value; it
knows nothing of threads, buffers or retries (the worker, in ``batching``, decides those).
It is called on export threads only, so that ``import posthog`` (a third of a second) never
runs on the host's thread or at its start-up. It sends through a session of its own with no
retries of its own (the package's shared session retries a refused connection and a read
timeout twice, which would triple a silent host's wait), made afresh in a forked child: a
child never shares the parent's pooled keep-alive connections, which would mix two
processes' bytes on one socket (the package's own sessions are reset there too, for the
flags and for a host that uses the package itself).
"""

from __future__ import annotations

import functools
import socket
import sys
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from codeweaver_telemetry.core.app import App
from codeweaver_telemetry.core.settings import TelemetrySettings
from codeweaver_telemetry.core.sink import ExportOutcome, ExportResult

from .batching import BatchingWorker, DurableSpool
from .forks import forget_imports_cut_short_by_the_fork, start_afresh_in_children
from .log import debug

if TYPE_CHECKING:
    from codeweaver_telemetry.core.vocabulary import JSONObject

PROBE_TIMEOUT: Final = 2.0
"""Longest wait for the TCP handshake that tells an unreachable host before anything is
imported for it."""


_NOT_NOW: Final = frozenset({401, 403, 404, 407, 408, 425, 429})
"""The answers that refuse the request, not the batch: a project key that is wrong or was
rotated, a wrong host, a proxy that wants credentials, a timeout, a rate limit. The batch is
kept and tried later (in this process, or the next from the spool); rejecting it would have
deleted every spooled event in a burst of requests."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where and how to send: project key, host, batching."""

    api_key: str
    host: str
    batch_size: int
    batch_interval: float
    max_buffered: int


def endpoint_from_settings(settings: TelemetrySettings) -> Endpoint:
    """Where and how to send, as the settings say (the settings chose PostHog: a key is set)."""
    return Endpoint(
        api_key=key.reveal() if (key := settings.posthog_api_key.value) else "",
        host=settings.posthog_host.value.reveal(),
        batch_size=settings.batch_size.value,
        batch_interval=settings.batch_interval_seconds.value,
        max_buffered=settings.max_buffered_events.value,
    )


def posthog_sink(
    endpoint: Endpoint,
    *,
    spool: DurableSpool | None = None,
    recheck: Callable[[JSONObject], JSONObject | None] | None = None,
) -> BatchingWorker:
    """The sink that delivers to ``endpoint``, keeping in ``spool`` what cannot be; what is
    claimed from the spool passes ``recheck`` (:func:`spooled_item_check`) before it is sent."""
    return BatchingWorker(
        PostHogExporter(endpoint),
        batch_size=endpoint.batch_size,
        batch_interval=endpoint.batch_interval,
        max_buffered=endpoint.max_buffered,
        spool=spool,
        recheck=recheck,
    )


def spooled_item_check(
    app: App,
    *,
    query_opt_in: bool,
    literals: Callable[[], frozenset[str]] = frozenset,
) -> Callable[[JSONObject], JSONObject | None]:
    """The wire check for an item read back from the spool, which is input from disk (an
    older version wrote it, or anything that can write the user's files): its event name a
    label, its distinct id a session id, its properties in the wire grammar and free of this
    machine's names (``literals``: an item written elsewhere, or planted, was never checked
    against them); what fails is dropped and counted, as at capture. No hash key is needed:
    digests are told by their form. Loaded on the worker's thread, on the first claim."""

    @functools.cache
    def parts() -> tuple[Any, Any, Any, Any]:
        from codeweaver_telemetry.core.policy import PrivacyPolicy  # noqa: PLC0415 - see above
        from codeweaver_telemetry.core.wire import checked_event, is_session_id  # noqa: PLC0415

        from .capture_steps import CaptureSteps  # noqa: PLC0415 - see above

        policy = PrivacyPolicy(
            hash_key=bytes(32), tools_over_privacy=query_opt_in, sensitive_literals=literals()
        )
        return policy, CaptureSteps(policy, app).schemas, checked_event, is_session_id

    def checked(item: JSONObject) -> JSONObject | None:
        policy, schemas, checked_event, is_session_id = parts()
        name, distinct_id = item.get("event"), item.get("distinct_id")
        if type(distinct_id) is not str or not is_session_id(distinct_id):
            return None
        schema = schemas.get(name) if type(name) is str else None
        result = (
            checked_event(name, item.get("properties"), policy)
            if schema is None
            else checked_event(
                name,
                item.get("properties"),
                policy,
                schema.vocabularies,
                query_words=schema.query_words,
                names=schemas.keys(),
            )
        )
        passed = result.value_or(None)
        return None if passed is None else {**item, "properties": passed.properties}

    return checked


class PostHogExporter:
    """One ``/batch/`` request per :meth:`export`, gzipped, through ``posthog.request``."""

    def __init__(self, endpoint: Endpoint) -> None:
        self._endpoint = endpoint
        self.after_fork_in_child()
        start_afresh_in_children(self)

    def after_fork_in_child(self) -> None:
        """No session yet (the next export makes one), and none of the package's either."""
        self._session: Any = None
        self._host = self._endpoint.host
        self._prepared = False
        self._answered = False
        forget_imports_cut_short_by_the_fork()
        request = sys.modules.get("posthog.request")
        if request is not None:  # its pooled connections are the parent's
            request.reset_sessions()

    def prepare(self, timeout: float) -> bool:
        """Until the host has answered: whether it accepts a TCP connection (offline, a
        refused or unresolvable host is told in a millisecond, before anything is imported
        for it); then the import and the session."""
        try:
            if not self._answered and not _accepts_connections(self._endpoint.host, timeout):
                return False
            if not self._prepared:
                self._session = _session_without_retries()
                self._host = self._endpoint.host
                if self._session is not None:
                    self._host, self._session.auth = _credentials_apart(self._host)
                self._prepared = True
        except Exception as error:  # noqa: BLE001 - an exporter never raises
            debug("telemetry: cannot prepare to send (%s)", type(error).__name__)
            return False
        return True

    def export(self, batch: Sequence[JSONObject], timeout: float) -> ExportOutcome:
        """Send ``batch`` once."""
        try:
            return self._post(list(batch), timeout)
        except Exception as error:  # noqa: BLE001 - an exporter never raises
            debug("telemetry: a batch could not be sent (%s)", type(error).__name__)
            return ExportOutcome(ExportResult.REJECTED)

    def _post(self, batch: list[JSONObject], timeout: float) -> ExportOutcome:
        from posthog import request  # noqa: PLC0415 - on an export thread, never at start-up

        endpoint = self._endpoint
        try:
            request.batch_post(
                endpoint.api_key,
                self._host,
                gzip=True,
                timeout=timeout,
                batch=batch,
                session=self._session,
            )
        except request.APIError as error:
            self._answered = True
            status = error.status if isinstance(error.status, int) else 0
            if status in _NOT_NOW or status >= 500:
                retry_after = error.retry_after
                delay = float(retry_after) if isinstance(retry_after, int | float) else None
                return ExportOutcome(ExportResult.RETRY_LATER, delay)
            return ExportOutcome(ExportResult.REJECTED)
        except (request.RequestsConnectionError, request.RequestsTimeout):
            self._answered = False  # the next attempt probes first
            return ExportOutcome(ExportResult.UNREACHABLE)
        self._answered = True
        return ExportOutcome(ExportResult.DELIVERED)


def _accepts_connections(host: str, timeout: float) -> bool:
    """Whether ``host`` resolves and completes a TCP handshake."""
    parts = urllib.parse.urlsplit(host if "//" in host else f"https://{host}")
    port = parts.port or (80 if parts.scheme == "http" else 443)
    try:
        with socket.create_connection(
            (parts.hostname or "", port), timeout=min(timeout, PROBE_TIMEOUT)
        ):
            return True
    except OSError:
        return False


def _credentials_apart(host: str) -> tuple[str, tuple[str, str] | None]:
    """The host's URL without the user and password it may carry (a proxy's), and those:
    given to the session, they are sent as they would have been, while the URL that
    ``posthog`` logs at debug level, in the host's logs, no longer holds them."""
    parts = urllib.parse.urlsplit(host)
    if parts.username is None and parts.password is None:
        return host, None
    netloc = parts.hostname or ""
    if ":" in netloc:  # an IPv6 address
        netloc = f"[{netloc}]"
    if parts.port is not None:
        netloc = f"{netloc}:{parts.port}"
    credentials = (
        urllib.parse.unquote(parts.username or ""),
        urllib.parse.unquote(parts.password or ""),
    )
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc)), credentials


def _session_without_retries() -> Any:
    """A session of our own, which never retries: the worker decides when to try again."""
    import requests  # noqa: PLC0415 - with posthog, on an export thread
    from posthog import request  # noqa: F401, PLC0415 - loaded here so that sending starts at once

    session = requests.Session()
    # A redirect is never followed: a 307 or 308 would send the batch, with the project
    # key, to wherever the answer points (another host, or plain http); it is rejected.
    session.max_redirects = 0
    adapter = requests.adapters.HTTPAdapter(max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session
