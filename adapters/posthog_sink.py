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

import socket
import sys
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from codeweaver_telemetry.core.settings import TelemetrySettings
from codeweaver_telemetry.core.sink import ExportOutcome, ExportResult

from .batching import BatchingWorker, DurableSpool
from .forks import start_afresh_in_children
from .log import debug

if TYPE_CHECKING:
    from codeweaver_telemetry.core.vocabulary import JSONObject

PROBE_TIMEOUT: Final = 2.0
"""Longest wait for the TCP handshake that tells an unreachable host before anything is
imported for it."""


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


def posthog_sink(endpoint: Endpoint, *, spool: DurableSpool | None = None) -> BatchingWorker:
    """The sink that delivers to ``endpoint``, keeping in ``spool`` what cannot be."""
    return BatchingWorker(
        PostHogExporter(endpoint),
        batch_size=endpoint.batch_size,
        batch_interval=endpoint.batch_interval,
        max_buffered=endpoint.max_buffered,
        spool=spool,
    )


class PostHogExporter:
    """One ``/batch/`` request per :meth:`export`, gzipped, through ``posthog.request``."""

    def __init__(self, endpoint: Endpoint) -> None:
        self._endpoint = endpoint
        self.after_fork_in_child()
        start_afresh_in_children(self)

    def after_fork_in_child(self) -> None:
        """No session yet (the next export makes one), and none of the package's either."""
        self._session: Any = None
        self._prepared = False
        self._answered = False
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
                endpoint.host,
                gzip=True,
                timeout=timeout,
                batch=batch,
                session=self._session,
            )
        except request.APIError as error:
            self._answered = True
            status = error.status if isinstance(error.status, int) else 0
            if status == 429 or status >= 500:
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


def _session_without_retries() -> Any:
    """A session of our own, which never retries: the worker decides when to try again."""
    import requests  # noqa: PLC0415 - with posthog, on an export thread
    from posthog import request  # noqa: F401, PLC0415 - loaded here so that sending starts at once

    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session
