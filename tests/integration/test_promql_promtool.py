"""Our PromQL engine in its Prometheus 2 mode against the real promtool (2.42) on the same input series.

Each case writes a promtool unit-test file whose ``promql_expr_test`` entries expect nothing, so
promtool prints what it got for every expression with a result; the same series go into a
``SampleStore`` and the engine (``compat="v2"``) must return the same label sets and values. The cases
cover the rate family, the lookback, staleness, offset, ``@``, subqueries, the window ends and the
other range functions the evaluator implements.
"""

from __future__ import annotations

import math
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from conftest import require_binary
from sharedconfig.monitoring.alerts.promql.engine import Engine
from sharedconfig.monitoring.alerts.promql.store import SampleStore
from sharedconfig.monitoring.alerts.promql.values import STALE_NAN, Labels, Sample, labels

_UNITS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}


def duration_ms(text: str) -> int:
    """A Prometheus duration (``1m30s``, ``0s``) in milliseconds."""
    parts = re.findall(r"(\d+)(ms|s|m|h|d|w)", text)
    assert "".join(n + u for n, u in parts) == text, text
    return sum(int(n) * _UNITS[u] for n, u in parts)


def expand(values: str) -> list[float | None]:
    """promtool's expanding notation (``a+bxn``, ``a-bxn``, ``axn``, ``_``, ``_xn``, ``stale``); None: gap."""
    out: list[float | None] = []
    for token in values.split():
        if token == "_":
            out.append(None)
        elif token == "stale":
            out.append(STALE_NAN)
        elif m := re.fullmatch(r"_x(\d+)", token):
            out.extend([None] * int(m.group(1)))
        elif m := re.fullmatch(r"(-?[\d.]+)([+-])([\d.]+)x(\d+)", token):
            start, sign, step, n = float(m.group(1)), m.group(2), float(m.group(3)), int(m.group(4))
            delta = step if sign == "+" else -step
            out.extend(start + delta * i for i in range(n + 1))
        elif m := re.fullmatch(r"(-?[\d.]+)x(\d+)", token):
            out.extend([float(m.group(1))] * (int(m.group(2)) + 1))
        else:
            out.append(float(token))
    return out


def series_labels(selector: str) -> Labels:
    """``name{a="b", ...}`` as labels (the test inputs use simple values without quotes or commas)."""
    m = re.fullmatch(r"(\w+)(?:\{(.*)\})?", selector)
    assert m is not None, selector
    pairs = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
    return labels({"__name__": m.group(1), **pairs})


_GOT = re.compile(r'\{((?:[^"}]|"(?:[^"\\]|\\.)*")*)\} (\S+?)(?:, |$)')


def parse_got(text: str) -> dict[Labels, float]:
    """promtool's ``got:`` line (``{a="1"} 3E+00, {a="2"} NaN``) as labels to values."""
    found = {}
    for body, value in _GOT.findall(text):
        pairs = re.findall(r'([\w]+)="((?:[^"\\]|\\.)*)"', body)
        found[labels(pairs)] = float(value)
    return found


@dataclass
class Case:
    """Input series at ``interval`` and expressions with the times to evaluate them at."""

    name: str
    series: dict[str, str]
    exprs: list[str]
    times: list[str]
    interval: str = "1m"


CASES = [
    Case(
        "worked example: rate while the window fills",
        {'errors_total{job="api"}': "0+10x15"},
        ["rate(errors_total[5m])", "increase(errors_total[5m])", "irate(errors_total[5m])"],
        ["0s", "1m", "2m", "3m", "4m", "5m", "6m", "7m30s", "15m", "19m", "20m", "21m"],
    ),
    Case(
        "counter resets, gaps and a counter starting high",
        {
            'c{i="reset"}': "0 5 10 2 6 1 20 25 30",
            'c{i="gappy"}': "10 _ _ 13 14 _x3 20 21",
            'c{i="high"}': "1000+1x10",
            'c{i="neg"}': "-5+2x10",
        },
        [
            "rate(c[3m])",
            "rate(c[5m])",
            "increase(c[2m])",
            "increase(c[90s])",
            "delta(c[4m])",
            "irate(c[3m])",
            "idelta(c[3m])",
            "resets(c[5m])",
            "changes(c[5m])",
        ],
        ["1m", "2m", "3m", "3m30s", "4m", "5m", "6m", "7m", "8m", "9m", "10m"],
    ),
    Case(
        "window ends: a sample exactly at the start of the window (closed in Prometheus 2)",
        {"g": "1 2 3 4 5 6 7 8", 'h{s="15s"}': "0+1x40"},
        [
            "count_over_time(g[1m])",
            "count_over_time(g[2m])",
            "sum_over_time(g[3m])",
            "min_over_time(g[2m])",
            "max_over_time(g[2m])",
            "avg_over_time(g[3m])",
            "last_over_time(g[1m])",
            "present_over_time(g[1m])",
            "rate(h[1m])",
            "delta(h[45s])",
        ],
        ["0s", "1m", "2m", "2m30s", "3m", "5m", "7m"],
        interval="15s",
    ),
    Case(
        "lookback and staleness",
        {
            'up{j="ends"}': "1 1 1",
            'up{j="stale"}': "1 1 stale 1 stale",
            'up{j="sparse"}': "1 _x6 2",
        },
        ["up", "timestamp(up)", 'absent(up{j="ends"})', "up offset 2m", "last_over_time(up[10m])"],
        ["0s", "2m", "4m", "5m", "6m", "7m", "7m30s", "8m", "9m"],
    ),
    Case(
        "offset, @ and subqueries",
        {'m{k="a"}': "0+3x20", 'm{k="b"}': "100-2x20"},
        [
            "m offset 3m",
            "rate(m[4m] offset 2m)",
            "m @ 300",
            "rate(m[2m] @ 600)",
            "m @ end()",
            "max_over_time(m[5m:1m])",
            "max_over_time(m[5m:2m])",
            "sum_over_time(m[4m:90s])",
            "rate(m[5m:1m])",
            "avg_over_time(rate(m[2m])[6m:1m])",
            "min_over_time(m[3m:])",
            "last_over_time(m[5m:1m] offset 2m)",
        ],
        ["3m", "5m", "7m30s", "10m", "13m"],
    ),
    Case(
        "extrapolation to the counter's zero point, late starts and negative offsets",
        {
            'z{s="late"}': "_x3 4 14 24 34 44",
            'z{s="slow"}': "_x2 1 _ _ 7 _ _ 13 _ _ 19",
            'z{s="jump"}': "_ 50 51 52 53 54 55",
        },
        [
            "rate(z[5m])",
            "increase(z[6m])",
            "increase(z[10m])",
            "delta(z[5m])",
            "z offset -2m",
            "rate(z[3m] offset -1m)",
            "increase(z[4m:1m])",
            "max_over_time(z[4m:] @ start())",
        ],
        ["4m", "5m", "6m", "7m", "8m", "9m", "10m", "12m"],
    ),
    Case(
        "statistics over time",
        {'s{k="a"}': "1 4 2 8 5 7 3 9 6 0", 's{k="b"}': "3x9", 's{k="c"}': "0.5 1.5 -2 4.25 NaN 3"},
        [
            "stddev_over_time(s[5m])",
            "stdvar_over_time(s[5m])",
            "quantile_over_time(0.5, s[5m])",
            "quantile_over_time(0.9, s[5m])",
            "quantile_over_time(0, s[3m])",
            "deriv(s[5m])",
            "predict_linear(s[5m], 600)",
            "absent_over_time(s[2m])",
            'absent_over_time(nothing{k="z"}[2m])',
            'absent(nothing{a="1", a="2", b="x"})',
            'scalar(s{k="b"})',
            "vector(time())",
            "time()",
        ],
        ["3m", "5m", "6m30s", "9m"],
    ),
]


def promtool_results(tmp_path: Path, case: Case) -> dict[tuple[str, int], dict[Labels, float]]:
    """What promtool's engine gives for every (expression, time) of ``case``."""
    tests = [{"expr": expr, "eval_time": t, "exp_samples": []} for expr in case.exprs for t in case.times]
    document = {
        "rule_files": [],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": case.interval,
                "input_series": [{"series": s, "values": v} for s, v in case.series.items()],
                "promql_expr_test": tests,
            }
        ],
    }
    path = tmp_path / "case.yml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    done = subprocess.run(
        [require_binary("promtool"), "test", "rules", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    output = done.stdout + done.stderr
    assert "expr:" in output or done.returncode == 0, output
    results: dict[tuple[str, int], dict[Labels, float]] = {
        (e, duration_ms(t)): {} for e in case.exprs for t in case.times
    }
    for m in re.finditer(r'expr: "((?:[^"\\]|\\.)*)", time: (\S+),\n\s+exp: .*\n\s+got: (.*)', output):
        expr = m.group(1).encode().decode("unicode_escape")
        results[(expr, duration_ms(m.group(2)))] = parse_got(m.group(3))
    return results


def ours(case: Case) -> dict[tuple[str, int], dict[Labels, float]]:
    """What our engine (Prometheus 2 mode) gives for the same expressions and times."""
    store = SampleStore()
    step = duration_ms(case.interval)
    for selector, values in case.series.items():
        points = [(i * step, v) for i, v in enumerate(expand(values)) if v is not None]
        store.write(series_labels(selector), points)
    engine = Engine(store, compat="v2")
    results: dict[tuple[str, int], dict[Labels, float]] = {}
    for expr in case.exprs:
        for t in case.times:
            value = engine.instant(expr, duration_ms(t))
            if isinstance(value, float):
                results[(expr, duration_ms(t))] = {(): value}
            else:
                assert isinstance(value, list)
                found: dict[Labels, float] = {s.labels: s.value for s in value if isinstance(s, Sample)}
                results[(expr, duration_ms(t))] = found
    return results


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_engine_agrees_with_promtool(tmp_path: Path, case: Case) -> None:
    """For every expression and time of the case, our v2 engine returns what promtool 2.42 returns."""
    theirs = promtool_results(tmp_path, case)
    mine = ours(case)
    differences = []
    for key, expected in theirs.items():
        got = mine[key]
        if got.keys() != expected.keys() or not all(same(got[k], expected[k]) for k in got):
            differences.append(f"{key[0]} at {key[1]} ms: promtool {expected}, ours {got}")
    assert not differences, "\n".join(differences)
