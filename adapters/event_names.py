"""The library's own events under another tool's name: ``mytool_search``, ``mytool_session``.

The event builders name their events as CodeWeaver does; a client made for another app gives
them the app's prefix before the wire check (see ``capture_steps.py``). A host's own events
keep the names it gave them.
"""

from __future__ import annotations

from codeweaver_telemetry.core.app import DEFAULT_APP, App
from codeweaver_telemetry.core.mcp_event import McpToolCallEvent
from codeweaver_telemetry.core.search_event import SearchEvent
from codeweaver_telemetry.core.session_event import SessionEvent


def library_event_names(app: App) -> dict[str, str]:
    """The library's event names as CodeWeaver has them, to their names for ``app``.

    >>> library_event_names(App("mytool"))["codeweaver_search"]
    'mytool_search'
    """
    return {
        name: app.event_prefix + name.removeprefix(DEFAULT_APP.event_prefix)
        for name in (SearchEvent.EVENT_NAME, SessionEvent.EVENT_NAME, McpToolCallEvent.EVENT_NAME)
    }
