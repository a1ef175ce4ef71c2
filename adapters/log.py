"""The library's one logger, ``codeweaver_telemetry``, loaded with the first message.

The library logs only failures, at debug level, and never a value or a secret: a host that
never has one does not load ``logging`` on the library's account at start-up.

Logging runs the host's filters and handlers, which are host code like any other: one that
raises must not reach the host through the library, and one that logs or captures in turn (a
handler that forwards records to ``capture()``) must not feed the library its own lines again,
or a failing capture would log, forward, fail and log for ever. While a thread is inside
:func:`debug`, its further lines are left out.
"""

from __future__ import annotations

import threading

LOGGER_NAME = "codeweaver_telemetry"

_inside = threading.local()


def debug(message: str, *args: object) -> None:
    """Log ``message % args`` at debug level on the library's logger; never raises (but an
    interrupt), and does nothing while this thread is already logging one of its lines."""
    if getattr(_inside, "logging", False):
        return
    try:
        _inside.logging = True
        import logging  # noqa: PLC0415 - on the first failure, not at the host's start-up

        logging.getLogger(LOGGER_NAME).debug(message, *args)
    except Exception:  # noqa: BLE001 - a host filter or handler that raises stays the host's
        pass
    finally:
        _inside.logging = False
