"""PromQL's functions over range vectors (``rate``, ``*_over_time``, ...), as Prometheus computes them.

Each takes one series' points in the window (oldest first, stale markers already dropped, never empty)
and returns the value, or ``None`` when the function has no result for that series (``rate`` with one
point, say). ``RangeWindow`` gives what some need besides the points: the window's ends (the
evaluation time minus the offset, or the ``@`` time, and that minus the range), the range and the
evaluation time. The formulas follow Prometheus's ``promql/functions.go``:

- ``rate``/``increase``/``delta`` (``extrapolated_rate``): the change from the first to the last point,
  counter resets added back for ``rate``/``increase``; extrapolated to a window end when the nearest
  point is within 1.1 times the average interval between points, else by half an interval; for
  counters never back past the time the counter would have been zero. Prometheus 3 applies the
  1.1x threshold before the zero point (``durationToStart`` is first capped by the threshold, then by
  the zero point); Prometheus 2 compared the threshold with the zero-capped start. ``v2=True`` gives 2.
- ``irate``/``idelta`` use the last two points; ``deriv``/``predict_linear`` a least-squares line with
  Kahan-compensated sums (``predict_linear`` anchored at the evaluation time);
- ``quantile_over_time`` interpolates between the closest ranks (NaN ranks lowest),
  ``stddev``/``stdvar`` are population statistics, ``changes`` counts value changes (NaN to NaN is
  no change), ``resets`` counts decreases.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from sharedconfig.monitoring.alerts.promql.values import Point

__all__ = [
    "RANGE_FUNCTIONS",
    "RangeWindow",
    "extrapolated_rate",
    "kahan_sum",
    "linear_regression",
    "quantile",
]


@dataclass(frozen=True, slots=True)
class RangeWindow:
    """Where a range function's points came from: ``start``/``end`` in ms, ``t`` the evaluation time.

    ``params`` holds the scalar arguments after the range vector (``predict_linear``'s seconds,
    ``quantile_over_time``'s quantile, which comes first in PromQL), ``v2`` asks for Prometheus 2's
    arithmetic where it differs.
    """

    start: int
    end: int
    range_ms: int
    t: int
    params: tuple[float, ...] = ()
    v2: bool = False


def _kahan_inc(inc: float, total: float, c: float) -> tuple[float, float]:
    t = total + inc
    if math.isinf(t):
        return t, 0.0
    if abs(total) >= abs(inc):
        c += (total - t) + inc
    else:
        c += (inc - t) + total
    return t, c


def kahan_sum(values: Sequence[float]) -> float:
    """The sum of ``values`` with Neumaier's compensation, as Prometheus sums (``sum_over_time``, ...)."""
    total, c = 0.0, 0.0
    for value in values:
        total, c = _kahan_inc(value, total, c)
    return total + c


def extrapolated_rate(points: Sequence[Point], w: RangeWindow, *, counter: bool, rate: bool) -> float | None:
    """``rate`` (counter, per second), ``increase`` (counter) or ``delta`` (gauge); see the module doc."""
    if len(points) < 2:
        return None
    first_t, first_v = points[0]
    last_t, last_v = points[-1]
    result = last_v - first_v
    if counter:
        previous = first_v
        for _, value in points[1:]:
            if value < previous:
                result += previous
            previous = value
    to_start = (first_t - w.start) / 1000
    to_end = (w.end - last_t) / 1000
    sampled = (last_t - first_t) / 1000
    average = sampled / (len(points) - 1)
    threshold = average * 1.1
    if w.v2:
        if counter and result > 0 and first_v >= 0:
            to_start = min(to_start, sampled * (first_v / result))
        interval = sampled
        interval += to_start if to_start < threshold else average / 2
        interval += to_end if to_end < threshold else average / 2
        factor = interval / sampled
    else:
        if to_start >= threshold:
            to_start = average / 2
        if counter and result > 0 and first_v >= 0:
            to_start = min(to_start, sampled * (first_v / result))
        if to_end >= threshold:
            to_end = average / 2
        factor = (sampled + to_start + to_end) / sampled
    if rate:
        factor /= w.range_ms / 1000
    return result * factor


def _instant_value(points: Sequence[Point], *, rate: bool) -> float | None:
    if len(points) < 2:
        return None
    (prev_t, prev_v), (last_t, last_v) = points[-2], points[-1]
    result = last_v if rate and last_v < prev_v else last_v - prev_v
    interval = last_t - prev_t
    if interval == 0:
        return None
    return result / (interval / 1000) if rate else result


def linear_regression(points: Sequence[Point], intercept_time: int) -> tuple[float, float]:
    """Least-squares ``(slope per second, value at intercept_time)``; a constant series has slope 0."""
    first = points[0][1]
    if all(value == first for _, value in points):
        return (math.nan, math.nan) if math.isinf(first) else (0.0, first)
    n = float(len(points))
    sx = cx = sy = cy = sxy = cxy = sx2 = cx2 = 0.0
    for t, value in points:
        x = (t - intercept_time) / 1000
        sx, cx = _kahan_inc(x, sx, cx)
        sy, cy = _kahan_inc(value, sy, cy)
        sxy, cxy = _kahan_inc(x * value, sxy, cxy)
        sx2, cx2 = _kahan_inc(x * x, sx2, cx2)
    sx, sy, sxy, sx2 = sx + cx, sy + cy, sxy + cxy, sx2 + cx2
    cov = sxy - sx * sy / n
    var = sx2 - sx * sx / n
    slope = cov / var if var != 0 else math.copysign(math.inf, cov) if cov != 0 else math.nan
    return slope, sy / n - slope * sx / n


def quantile(q: float, values: Sequence[float]) -> float:
    """The ``q`` quantile of ``values`` interpolated between ranks (``-Inf`` below 0, ``+Inf`` above 1)."""
    if not values or math.isnan(q):
        return math.nan
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    ordered = sorted(values, key=lambda v: (not math.isnan(v), v))  # NaN sorts first, as in Prometheus
    rank = q * (len(ordered) - 1)
    lower = max(0, math.floor(rank))
    upper = min(len(ordered) - 1, lower + 1)
    weight = rank - math.floor(rank)
    return ordered[lower] * (1 - weight) + ordered[upper] * weight


def _values(points: Sequence[Point]) -> list[float]:
    return [value for _, value in points]


def _avg(points: Sequence[Point]) -> float:
    values = _values(points)
    total = kahan_sum(values)
    if math.isinf(total):  # Prometheus falls back to an incremental mean when the sum overflows
        mean = 0.0
        for count, value in enumerate(values, 1):
            if math.isinf(mean):
                if math.isinf(value) and (mean > 0) == (value > 0):
                    continue
                if not math.isinf(value) and not math.isnan(value):
                    continue
            mean += value / count - mean / count
        return mean
    return total / len(values)


def _variance(points: Sequence[Point]) -> float:
    count = 0.0
    mean = cmean = aux = caux = 0.0
    for _, value in points:
        count += 1
        delta = value - (mean + cmean)
        mean, cmean = _kahan_inc(delta / count, mean, cmean)
        aux, caux = _kahan_inc(delta * (value - (mean + cmean)), aux, caux)
    return (aux + caux) / count


def _min(points: Sequence[Point]) -> float:
    result = points[0][1]
    for _, value in points:
        if value < result or math.isnan(result):
            result = value
    return result


def _max(points: Sequence[Point]) -> float:
    result = points[0][1]
    for _, value in points:
        if value > result or math.isnan(result):
            result = value
    return result


def _changes(points: Sequence[Point]) -> float:
    changes = 0
    previous = points[0][1]
    for _, value in points[1:]:
        if not (value == previous or (math.isnan(value) and math.isnan(previous))):
            changes += 1
        previous = value
    return float(changes)


def _resets(points: Sequence[Point]) -> float:
    resets = 0
    previous = points[0][1]
    for _, value in points[1:]:
        if value < previous:
            resets += 1
        previous = value
    return float(resets)


def _deriv(points: Sequence[Point]) -> float | None:
    if len(points) < 2:
        return None
    return linear_regression(points, points[0][0])[0]


def _predict_linear(points: Sequence[Point], w: RangeWindow) -> float | None:
    if len(points) < 2:
        return None
    slope, intercept = linear_regression(points, w.t)
    return slope * w.params[0] + intercept


RangeFunction = Callable[[Sequence[Point], RangeWindow], "float | None"]

RANGE_FUNCTIONS: Final[dict[str, RangeFunction]] = {
    "rate": lambda p, w: extrapolated_rate(p, w, counter=True, rate=True),
    "increase": lambda p, w: extrapolated_rate(p, w, counter=True, rate=False),
    "delta": lambda p, w: extrapolated_rate(p, w, counter=False, rate=False),
    "irate": lambda p, w: _instant_value(p, rate=True),
    "idelta": lambda p, w: _instant_value(p, rate=False),
    "deriv": lambda p, w: _deriv(p),
    "predict_linear": _predict_linear,
    "avg_over_time": lambda p, w: _avg(p),
    "min_over_time": lambda p, w: _min(p),
    "max_over_time": lambda p, w: _max(p),
    "sum_over_time": lambda p, w: kahan_sum(_values(p)),
    "count_over_time": lambda p, w: float(len(p)),
    "last_over_time": lambda p, w: p[-1][1],
    "quantile_over_time": lambda p, w: quantile(w.params[0], _values(p)),
    "stddev_over_time": lambda p, w: math.sqrt(_variance(p)),
    "stdvar_over_time": lambda p, w: _variance(p),
    "present_over_time": lambda p, w: 1.0,
    "changes": lambda p, w: _changes(p),
    "resets": lambda p, w: _resets(p),
}
"""Name to implementation; ``absent_over_time`` is the evaluator's (it looks at the selector, not values)."""

KEEPS_METRIC_NAME: Final = frozenset({"last_over_time"})
"""Range functions whose result keeps ``__name__`` (all others drop it)."""
