"""Every benchmark, one after the other: the core's, then the adapters' and the lifecycle's.

python tests/benchmarks/run_all.py            # the full suite (a few minutes)
python tests/benchmarks/run_all.py --quick    # the smoke run that .ci/run includes
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    """Run each benchmark script with the same arguments; stop at the first that fails."""
    for script in (
        "bench_core.py",
        "bench_adapters.py",
        "bench_flags.py",
        "bench_mcp.py",
        "bench_lifecycle.py",
    ):
        completed = subprocess.run([sys.executable, str(HERE / script), *sys.argv[1:]], check=False)
        if completed.returncode != 0:
            return completed.returncode
        print(flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
