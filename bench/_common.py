"""Shared helpers for the bench/ scripts: timing, the results file of DESIGN.md, and a summary table.

Results go to bench/results/NAME.json; ratio = ours / anchor measured in the same run (lower is better).
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NotRequired, TypedDict

RESULTS_DIR = Path(__file__).resolve().parent / "results"


class Case(TypedDict):
    """One row of a results file, as DESIGN.md's "Benchmark results format" spells it.

    A case that could not be measured in this run (a server missing) has ``ours`` null and ``skipped``.
    """

    name: str
    unit: str
    ours: float | None
    anchor: str | None
    anchor_value: float | None
    ratio: float | None
    target_ratio: float | None
    target: float | None
    skipped: NotRequired[str]
    """Why the case was not measured (only present when it was not)."""


def timeit_best(fn: Callable[[], Any], *, number: int, repeat: int) -> float:
    """Seconds per call of ``fn``: best of ``repeat`` runs of ``number`` calls, after one warm-up call."""
    fn()
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - start) / number)
    return best


def case(
    name: str,
    unit: str,
    ours: float,
    *,
    anchor: str | None = None,
    anchor_value: float | None = None,
    target_ratio: float | None = None,
    target: float | None = None,
    throughput: bool = False,
) -> Case:
    """Build one case; the ratio is ours / anchor rounded to 3 decimals, None without an anchor.

    For a ``throughput`` (more is better) the ratio is anchor / ours, so that lower is still better.
    """
    ratio = None
    if anchor is not None and anchor_value and ours:
        ratio = round(anchor_value / ours if throughput else ours / anchor_value, 3)
    return Case(
        name=name,
        unit=unit,
        ours=round(ours, 4),
        anchor=anchor,
        anchor_value=None if anchor_value is None else round(anchor_value, 4),
        ratio=ratio,
        target_ratio=target_ratio,
        target=target,
    )


def skipped(
    name: str,
    unit: str,
    reason: str,
    *,
    anchor: str | None = None,
    target_ratio: float | None = None,
    target: float | None = None,
) -> Case:
    """A case this run could not measure, and why: ``ours``, ``anchor_value`` and ``ratio`` are None."""
    return Case(
        name=name,
        unit=unit,
        ours=None,
        anchor=anchor,
        anchor_value=None,
        ratio=None,
        target_ratio=target_ratio,
        target=target,
        skipped=reason,
    )


def write_results(name: str, cases: Sequence[Case]) -> Path:
    """Write ``bench/results/NAME.json`` and return its path."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    doc = {
        "benchmark": name,
        "python": platform.python_version(),
        "when": datetime.now(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "cases": list(cases),
    }
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return path


def verdict(c: Case) -> str:
    """PASS or MISS against target_ratio (or the absolute target); SKIP when not measured; "-" for
    informational cases."""
    if "skipped" in c:
        return "SKIP"
    if c["target_ratio"] is not None and c["ratio"] is not None:
        return "PASS" if c["ratio"] <= c["target_ratio"] else "MISS"
    if c["target"] is not None and c["ours"] is not None:
        return "PASS" if c["ours"] <= c["target"] else "MISS"
    return "-"


def print_table(cases: Sequence[Case]) -> None:
    """Print case, ours, anchor, anchor value, ratio, target and verdict, one row per case."""

    def num(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f}"

    rows = [("case", "ours", "anchor", "anchor value", "ratio", "target", "result")]
    for c in cases:
        target = (
            f"ratio <= {c['target_ratio']}"
            if c["target_ratio"] is not None
            else (f"<= {c['target']} {c['unit']}" if c["target"] is not None else "-")
        )
        rows.append(
            (
                c["name"],
                f"{num(c['ours'])} {c['unit']}",
                c["anchor"] or "-",
                num(c["anchor_value"]),
                num(c["ratio"]),
                target,
                verdict(c),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for index, row in enumerate(rows):
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
        if index == 0:
            print("  ".join("-" * width for width in widths))
