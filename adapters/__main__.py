"""``python -m codeweaver_telemetry.adapters``: the ``codeweaver-telemetry`` command."""

from .cli import main

raise SystemExit(main())
