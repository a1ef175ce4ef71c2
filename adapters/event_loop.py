"""Whether the caller is on a running asyncio event loop, which a wait would stall."""

from __future__ import annotations

import sys


def in_running_event_loop() -> bool:
    """Whether this thread runs an asyncio event loop now (never imports asyncio: a host
    that has not imported it runs none; nor does one while another thread imports it)."""
    running_loop = getattr(sys.modules.get("asyncio.events"), "_get_running_loop", None)
    return running_loop is not None and running_loop() is not None
