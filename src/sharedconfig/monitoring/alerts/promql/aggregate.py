"""PromQL aggregation operators over an instant vector, as Prometheus 2.42's engine computes them.

``aggregate(op, vector, grouping=..., without=..., param=...)`` for ``sum avg min max count group stddev
stdvar topk bottomk quantile count_values``. The rules it follows (``promql/engine.go``, aggregation):

- Groups: ``by (l...)`` keys on those labels and outputs only them (``__name__`` too if listed);
  ``without (l...)`` keys on every other label and outputs them, ``__name__`` always removed. Groups come
  out in the order their first sample was seen.
- ``sum`` adds in input order; ``avg`` keeps Prometheus's incremental mean (``mean += v/n - mean/n``,
  which avoids overflow) with its infinity guards; ``min``/``max`` skip a NaN unless all are NaN;
  ``stddev``/``stdvar`` are the population statistics by Welford's method; ``count`` and ``group`` (1).
- ``topk``/``bottomk`` keep the input samples' labels (``__name__`` included), ``k`` truncated to an
  integer (``k < 1`` gives nothing; NaN or beyond int64 is an error); NaN ranks below every number.
  They keep Go's heap and sort, so ties come out in Prometheus's order (for up to 12 per group).
- ``quantile`` takes ``param`` as φ: NaN gives NaN, φ < 0 gives ``-Inf``, φ > 1 ``+Inf``; between two
  ranks it interpolates linearly.
- ``count_values`` writes each value (Go's ``FormatFloat(v, 'f', -1)``: ``2``, ``0.5``, ``+Inf``) into the
  label ``param``, which must be a valid label name, and counts per distinct value.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Final

from sharedconfig.monitoring.alerts.promql._gomath import format_f, go_floor, go_max, go_min, go_sort
from sharedconfig.monitoring.alerts.promql.errors import PromQLError
from sharedconfig.monitoring.alerts.promql.values import METRIC_NAME, Labels, Sample, Vector

__all__ = ["AGGREGATIONS", "aggregate", "is_label_name", "quantile"]

AGGREGATIONS: Final = frozenset(
    {
        "sum",
        "avg",
        "min",
        "max",
        "count",
        "group",
        "stddev",
        "stdvar",
        "topk",
        "bottomk",
        "quantile",
        "count_values",
    }
)
"""The aggregation operators ``aggregate`` knows."""

_INT64_MIN: Final = -(2.0**63)
_INT64_MAX: Final = 2.0**63


def is_label_name(name: str) -> bool:
    """Whether ``name`` is a valid label name (``[a-zA-Z_][a-zA-Z0-9_]*``), as Prometheus 2 checks."""
    if not name or not (name[0] == "_" or ("a" <= name[0].lower() <= "z")):
        return False
    return all(ch == "_" or (ch.isascii() and ch.isalnum()) for ch in name)


@dataclass(slots=True)
class _Group:
    labels: Labels
    value: float
    mean: float
    count: int = 1
    heap: list[Sample] = field(default_factory=list)


def aggregate(
    op: str,
    vector: Sequence[Sample],
    *,
    grouping: Sequence[str] = (),
    without: bool = False,
    param: float | str | None = None,
) -> Vector:
    """Aggregate ``vector`` with ``op`` grouped ``by``/``without`` ``grouping``; see the module docstring.

    ``param`` is ``k`` for ``topk``/``bottomk``, φ for ``quantile`` and the label name for
    ``count_values`` (it is evaluated by the caller). Raises ``PromQLError`` for an unknown operator, a
    missing or mistyped ``param``, an invalid ``count_values`` label or a ``k`` that overflows int64.
    """
    if op not in AGGREGATIONS:
        raise PromQLError(f"unknown aggregation operator {op!r}")
    names, k, phi, value_label = _read_param(op, param, tuple(grouping), without)
    if op in ("topk", "bottomk") and k < 1:
        return []
    key_of = _grouping_key(names, without)
    groups: dict[Labels, _Group] = {}
    order: list[_Group] = []
    for sample in vector:
        metric = sample.labels
        if op == "count_values":
            metric = _set_label(metric, value_label, format_f(sample.value))
        key = key_of(metric)
        group = groups.get(key)
        if group is None:
            group = _Group(labels=key, value=sample.value, mean=sample.value)  # the key is the output
            if op in ("stddev", "stdvar"):
                group.value = 0.0
            elif op == "group":
                group.value = 1.0
            elif op in ("topk", "bottomk", "quantile"):
                group.heap.append(sample)
            groups[key] = group
            order.append(group)
        else:
            _add(op, group, sample, k)
    t = vector[0].t if vector else 0
    return [sample for group in order for sample in _result(op, group, phi, t)]


def _read_param(
    op: str, param: float | str | None, names: tuple[str, ...], without: bool
) -> tuple[tuple[str, ...], int, float, str]:
    """The grouping labels, ``k``, φ and the ``count_values`` label, checked as Prometheus checks them."""
    k, phi, value_label = 0, math.nan, ""
    if op in ("topk", "bottomk"):
        f = _number_param(op, param)
        if math.isnan(f) or not _INT64_MIN <= f < _INT64_MAX:
            raise PromQLError(f"Scalar value {_go_v(f)} overflows int64")
        k = int(f)
    elif op == "quantile":
        phi = _number_param(op, param)
    elif op == "count_values":
        if not isinstance(param, str):
            raise PromQLError("count_values needs a string parameter: the label to write values into")
        value_label = param
        if not is_label_name(value_label):
            raise PromQLError(f"invalid label name {_go_q(value_label)}")
        if not without:
            names = (*names, value_label)
    return names, k, phi, value_label


def _result(op: str, group: _Group, phi: float, t: int) -> list[Sample]:
    if op in ("topk", "bottomk"):
        heap = group.heap
        less = _top_less if op == "topk" else _bottom_less
        if len(heap) > 1:
            # Go's sort.Sort(sort.Reverse(heap)): best first
            go_sort(heap, lambda a, b: less(b, a), _best_first_key(op))
        return [Sample(s.labels, s.value, t) for s in heap]
    value = group.value
    if op == "avg":
        value = group.mean
    elif op in ("count", "count_values"):
        value = float(group.count)
    elif op == "stdvar":
        value = group.value / group.count
    elif op == "stddev":
        value = math.sqrt(group.value / group.count) if group.value >= 0 else math.nan
    elif op == "quantile":
        value = quantile(phi, [s.value for s in group.heap])
    return [Sample(group.labels, value, t)]


def _add(op: str, group: _Group, sample: Sample, k: int) -> None:
    v = sample.value
    if op == "sum":
        group.value += v
    elif op == "avg":
        group.count += 1
        mean = group.mean
        if math.isinf(mean):
            if math.isinf(v) and (mean > 0) == (v > 0):
                return  # the same infinity: subtracting would give NaN, and the mean is right already
            if not math.isinf(v) and not math.isnan(v):
                return  # an infinite mean stays what it is under a finite value
        group.mean += v / group.count - mean / group.count  # each side divided: no overflow
    elif op == "max":
        if group.value < v or math.isnan(group.value):
            group.value = v
    elif op == "min":
        if group.value > v or math.isnan(group.value):
            group.value = v
    elif op in ("count", "count_values"):
        group.count += 1
    elif op in ("stddev", "stdvar"):
        group.count += 1
        delta = v - group.mean
        group.mean += delta / group.count
        group.value += delta * (v - group.mean)
    elif op in ("topk", "bottomk"):
        less = _top_less if op == "topk" else _bottom_less
        heap = group.heap
        root = heap[0].value
        better = v < root if op == "bottomk" else root < v
        if len(heap) < k or better or math.isnan(root):
            if len(heap) == k:
                if k == 1:
                    heap[0] = sample  # replaced in place, as Prometheus does for k == 1
                    return
                _heap_pop(heap, less)
            _heap_push(heap, sample, less)
    elif op == "quantile":
        group.heap.append(sample)
    # "group": nothing to do, the value is 1


def quantile(phi: float, values: Sequence[float]) -> float:
    """The φ-quantile of ``values`` as Prometheus's ``quantile`` aggregation computes it.

    NaN for no values or a NaN φ; ``-Inf``/``+Inf`` for φ below 0 or above 1; otherwise the values are
    sorted (NaN first) and the rank ``φ·(n-1)`` is interpolated between its two neighbours.
    """
    if not values or math.isnan(phi):
        return math.nan
    if phi < 0:
        return -math.inf
    if phi > 1:
        return math.inf
    ordered = sorted(values, key=lambda x: (not math.isnan(x), x if not math.isnan(x) else 0.0))
    n = float(len(ordered))
    rank = phi * (n - 1)
    lower = go_max(0, go_floor(rank))
    upper = go_min(n - 1, lower + 1)
    weight = rank - go_floor(rank)
    return ordered[int(lower)] * (1 - weight) + ordered[int(upper)] * weight


def _number_param(op: str, param: float | str | None) -> float:
    if isinstance(param, str) or param is None:
        raise PromQLError(f"{op} needs a number parameter")
    return float(param)


def _grouping_key(names: tuple[str, ...], without: bool) -> Callable[[Labels], Labels]:
    drop = frozenset(names) | {METRIC_NAME}
    keep = frozenset(names)
    if without:
        return lambda metric: tuple(pair for pair in metric if pair[0] not in drop)
    return lambda metric: tuple(pair for pair in metric if pair[0] in keep)


def _set_label(metric: Labels, name: str, value: str) -> Labels:
    rest = [pair for pair in metric if pair[0] != name]
    if value:
        rest.append((name, value))
    return tuple(sorted(rest))


# Go's container/heap over Prometheus's vectorByValueHeap (topk: lowest on top, NaN lowest of all)
# and vectorByReverseValueHeap (bottomk: highest on top, NaN highest of all).
def _top_less(a: Sample, b: Sample) -> bool:
    return math.isnan(a.value) or a.value < b.value


def _bottom_less(a: Sample, b: Sample) -> bool:
    return math.isnan(a.value) or a.value > b.value


def _best_first_key(op: str) -> Callable[[Sample], object]:
    if op == "topk":
        return lambda s: (math.isnan(s.value), -s.value if not math.isnan(s.value) else 0.0)
    return lambda s: (math.isnan(s.value), s.value if not math.isnan(s.value) else 0.0)


def _heap_push(heap: list[Sample], sample: Sample, less: Callable[[Sample, Sample], bool]) -> None:
    heap.append(sample)
    j = len(heap) - 1
    while True:
        i = (j - 1) // 2 if j > 0 else 0
        if i == j or not less(heap[j], heap[i]):
            break
        heap[i], heap[j] = heap[j], heap[i]
        j = i


def _heap_pop(heap: list[Sample], less: Callable[[Sample, Sample], bool]) -> None:
    n = len(heap) - 1
    heap[0], heap[n] = heap[n], heap[0]
    i = 0
    while True:
        j1 = 2 * i + 1
        if j1 >= n:
            break
        j = j1
        j2 = j1 + 1
        if j2 < n and less(heap[j2], heap[j1]):
            j = j2
        if not less(heap[j], heap[i]):
            break
        heap[i], heap[j] = heap[j], heap[i]
        i = j
    heap.pop()


def _go_q(text: str) -> str:
    """Go's ``%q`` for the plain strings label names are."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _go_v(value: float) -> str:
    """Go's ``%v`` of a float64 (error messages): shortest digits, ``%e`` for exponents < -4 or >= 6."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    mantissa = "".join(map(str, digits))
    exp = len(digits) + int(exponent) - 1
    if -4 <= exp < 6:
        return format_f(value)
    text = mantissa[0] + ("." + mantissa[1:] if len(mantissa) > 1 else "")
    return f"{'-' if sign else ''}{text}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
