"""The library's one logger, ``codeweaver_telemetry``, loaded with the first message.

The library logs only failures, at debug level, and never a value or a secret: a host that
never has one does not load ``logging`` on the library's account at start-up.
"""

from __future__ import annotations

LOGGER_NAME = "codeweaver_telemetry"


def debug(message: str, *args: object) -> None:
    """Log ``message % args`` at debug level on the library's logger."""
    import logging  # noqa: PLC0415 - on the first failure, not at the host's start-up

    logging.getLogger(LOGGER_NAME).debug(message, *args)
