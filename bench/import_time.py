"""Benchmark: wall time of a fresh interpreter importing sharedconfig, against importing pydantic_settings.

Each statement runs as ``python -c`` with this interpreter, alternating, best of RUNS each.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from _common import Case, case, print_table, write_results

ROOT = Path(__file__).resolve().parent.parent
RUNS = 15
ANCHOR = "import pydantic_settings"
STATEMENTS = {
    "import_sharedconfig": "import sharedconfig",
    "import_sharedconfig_config": "import sharedconfig.config",
    "anchor": ANCHOR,
}


def run_once(statement: str) -> float:
    """Milliseconds of wall time for ``python -c STATEMENT``; a failure stops the benchmark."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", statement], cwd=ROOT, capture_output=True, text=True, check=False
    )
    elapsed = (time.perf_counter() - start) * 1000.0
    if done.returncode != 0:
        raise SystemExit(f"{statement!r} failed:\n{done.stderr}")
    return elapsed


def main() -> int:
    """Alternate the statements RUNS times, keep each one's best, write the results and print the table."""
    best = dict.fromkeys(STATEMENTS, float("inf"))
    for statement in STATEMENTS.values():
        run_once(statement)  # warm the OS file cache and the .pyc files
    for _ in range(RUNS):
        for key, statement in STATEMENTS.items():
            best[key] = min(best[key], run_once(statement))
    cases: list[Case] = [
        case(
            "import_sharedconfig",
            "ms",
            best["import_sharedconfig"],
            anchor=ANCHOR,
            anchor_value=best["anchor"],
            target_ratio=0.8,
        ),
        case(
            "import_sharedconfig_config",
            "ms",
            best["import_sharedconfig_config"],
            anchor=ANCHOR,
            anchor_value=best["anchor"],
        ),
    ]
    path = write_results("import_time", cases)
    print_table(cases)
    print(f"\nwrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
