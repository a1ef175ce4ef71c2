"""What every event says about the library and the platform: coarse facts only."""

from __future__ import annotations

import platform
from typing import Final

from codeweaver_telemetry.core import __version__
from codeweaver_telemetry.core.event_schema import Property
from codeweaver_telemetry.core.policy import PrivacyPolicy
from codeweaver_telemetry.core.vocabulary import JSONObject
from codeweaver_telemetry.core.wire import (
    LIBRARY_NAME,
    NO_GEOIP_KEY,
    NO_PERSON_PROFILE_KEY,
    SESSION_ID_KEY,
)

_OPERATING_SYSTEM: Final = platform.system() or "unknown"
_PYTHON_VERSION: Final = ".".join(platform.python_version_tuple()[:2])


def _session_id(session_id: str, policy: PrivacyPolicy) -> str:
    return session_id


LIBRARY_PROPERTIES: Final[tuple[Property[str], ...]] = (
    Property("$lib", "string", "Always codeweaver-telemetry.", lambda s, p: LIBRARY_NAME),
    Property("$lib_version", "string", "The library's version.", lambda s, p: __version__),
    Property(
        "$os",
        "string",
        "The operating system's name only (Linux, Darwin, Windows).",
        lambda s, p: _OPERATING_SYSTEM,
    ),
    Property(
        "$python_version",
        "string",
        "Python's major.minor version only.",
        lambda s, p: _PYTHON_VERSION,
    ),
    Property(NO_GEOIP_KEY, "boolean", "Always true: no location lookup.", lambda s, p: True),
    Property(
        NO_PERSON_PROFILE_KEY, "boolean", "Always false: no person profile.", lambda s, p: False
    ),
    Property(SESSION_ID_KEY, "string", "The session's random id (also distinct_id).", _session_id),
)
"""What every event carries besides its own properties, computed from the session's id.

The operating system's name and Python's minor version; never a host name, an OS build or
distribution version, a locale or an address. ``$geoip_disable`` asks PostHog not to look
the connection's address up; ``$process_person_profile`` keeps it from making a profile.
"""


def library_properties(session_id: str, policy: PrivacyPolicy) -> JSONObject:
    """The library's properties of one event of the session ``session_id``."""
    return {prop.name: prop.compute(session_id, policy) for prop in LIBRARY_PROPERTIES}
