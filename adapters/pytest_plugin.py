"""The pytest plugin a host's test suite gets by installing the package (entry point
``codeweaver_telemetry`` in the ``pytest11`` group): the fixture ``telemetry_events``.

Only pytest imports this module. It loads nothing of the library until a test asks for the
fixture, and defines no hook: a test that does not use it runs exactly as without the
plugin. ``-p no:codeweaver_telemetry`` turns it off.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from codeweaver_telemetry.core.app import App

    from .testing import CapturedEvents


@pytest.fixture
def telemetry_app() -> str | App:
    """The app whose process client ``telemetry_events`` replaces: CodeWeaver's. A tool
    with its own name overrides this fixture in its ``conftest.py``."""
    from codeweaver_telemetry.core.app import DEFAULT_APP  # noqa: PLC0415 - see the module

    return DEFAULT_APP


@pytest.fixture
def telemetry_events(telemetry_app: str | App) -> Iterator[CapturedEvents]:
    """For the test, ``get_telemetry_client(telemetry_app)`` is a client with telemetry on
    that keeps its events in memory (see ``adapters.testing.capture_telemetry``); this is
    the live list of the wire events it captured. The process client is put back after the
    test, whether it passed or failed."""
    from .testing import capture_telemetry  # noqa: PLC0415 - see the module

    with capture_telemetry(app=telemetry_app) as events:
        yield events
