"""What every event says about the library and the platform: coarse facts only."""

from __future__ import annotations

import platform
from typing import Final

from codeweaver_telemetry.core import __version__
from codeweaver_telemetry.core.event_schema import PropertySpec
from codeweaver_telemetry.core.vocabulary import JSONObject

SESSION_ID_PROPERTY: Final = "$session_id"
"""PostHog's property for the session an event belongs to."""

LIBRARY_PROPERTIES: Final = (
    PropertySpec("$lib", "string", "Always codeweaver-telemetry."),
    PropertySpec("$lib_version", "string", "The library's version."),
    PropertySpec("$os", "string", "The operating system's name only (Linux, Darwin, Windows)."),
    PropertySpec("$python_version", "string", "Python's major.minor version only."),
    PropertySpec("$geoip_disable", "boolean", "Always true: no location lookup."),
    PropertySpec("$process_person_profile", "boolean", "Always false: no person profile."),
    PropertySpec(SESSION_ID_PROPERTY, "string", "The session's random id (also distinct_id)."),
)
"""What every event carries besides its own properties, for the data inventory."""


def library_properties() -> JSONObject:
    """What every event says about the library and the platform: coarse facts only.

    The operating system's name and Python's minor version; never a host name, an OS build or
    distribution version, a locale or an address. ``$geoip_disable`` asks PostHog not to look
    the connection's address up; ``$process_person_profile`` keeps it from making a profile.
    """
    return {
        "$lib": "codeweaver-telemetry",
        "$lib_version": __version__,
        "$os": platform.system() or "unknown",
        "$python_version": ".".join(platform.python_version_tuple()[:2]),
        "$geoip_disable": True,
        "$process_person_profile": False,
    }
