"""Hypothesis profiles: ``codeweaver-ci`` extends the built-in ``ci`` profile with more examples.

CI sets ``CI=true``, which selects it; locally the default profile keeps runs quick. Choose one
explicitly with ``--hypothesis-profile``.
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile(
    "codeweaver-ci", parent=settings.get_profile("ci"), max_examples=500, deadline=None
)
settings.register_profile("dev", max_examples=100, deadline=None)
settings.load_profile("codeweaver-ci" if os.environ.get("CI") else "dev")
