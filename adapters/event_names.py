"""The library's own events under another tool's name: ``mytool_search``, ``mytool_session``.

The event builders name their events as CodeWeaver does; a client made for another app sends
them through :class:`RenamedLibraryEvents`, which gives them the app's prefix on their way to
the sink. A host's own events keep the names it gave them.
"""

from __future__ import annotations

from codeweaver_telemetry.core.app import DEFAULT_APP, App
from codeweaver_telemetry.core.search_event import SearchEvent
from codeweaver_telemetry.core.session_event import SessionEvent
from codeweaver_telemetry.core.sink import Accepted, DeliveryReport, OutboundEvent, Sink


def library_event_names(app: App) -> dict[str, str]:
    """The library's event names as CodeWeaver has them, to their names for ``app``.

    >>> library_event_names(App("mytool"))["codeweaver_search"]
    'mytool_search'
    """
    return {
        name: app.event_prefix + name.removeprefix(DEFAULT_APP.event_prefix)
        for name in (SearchEvent.EVENT_NAME, SessionEvent.EVENT_NAME)
    }


class RenamedLibraryEvents:
    """A sink that passes every event on to ``sink``, the library's own under ``app``'s names."""

    def __init__(self, sink: Sink, app: App) -> None:
        self._sink = sink
        self._names = library_event_names(app)

    def emit(self, event: OutboundEvent) -> Accepted:
        """Rename a library event, then pass it on."""
        renamed = self._names.get(event.event)
        return self._sink.emit(event if renamed is None else event._replace(event=renamed))

    def flush(self, timeout: float) -> DeliveryReport:
        """The wrapped sink's flush."""
        return self._sink.flush(timeout)

    def close(self, timeout: float) -> DeliveryReport:
        """The wrapped sink's close."""
        return self._sink.close(timeout)
