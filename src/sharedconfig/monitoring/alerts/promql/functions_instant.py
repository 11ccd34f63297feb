"""PromQL functions of an instant vector, as Prometheus 2.42's ``promql/functions.go`` computes them.

- Maths (``abs ceil floor exp ln log2 log10 sqrt sgn``), ``round``, ``clamp``, ``clamp_min`` and
  ``clamp_max`` apply element by element and drop ``__name__``; values follow Go's ``math`` package
  (``ln(0)`` is ``-Inf``, ``sqrt(-1)`` NaN, ``round`` rounds ties up: ``floor(v/to_nearest + 0.5)``).
  ``clamp`` with ``max < min`` returns nothing.
- ``label_replace`` and ``label_join`` keep ``__name__`` (and may set it). ``label_replace`` matches the
  whole source value with an RE2 pattern (``re2.compile_re2``: patterns Python would read differently
  are refused) and expands ``$1``, ``${1}``, ``$name``, ``$$`` as Go's ``Regexp.Expand`` does (``$1x`` is
  the group named ``1x``, so empty). No match leaves the series unchanged; an empty result deletes the
  destination label.
- ``sort`` (ascending) and ``sort_desc`` keep labels; NaN goes last in both.
- ``histogram_quantile(φ, buckets)`` on classic buckets (``le`` label, parsed as Go's ``ParseFloat``; a
  series whose ``le`` does not parse is skipped): per series without ``le``, buckets sorted by bound and
  equal bounds merged, counts made monotonic, then Prometheus's ``bucketQuantile``: NaN without a
  ``+Inf`` bucket, with fewer than two buckets or no observations; φ < 0 is ``-Inf``, φ > 1 ``+Inf``;
  a rank in the ``+Inf`` bucket gives the highest finite bound; otherwise linear interpolation inside
  the bucket (from 0 for the first bucket, unless its bound is ≤ 0, which is returned as is).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from typing import Final

from sharedconfig.monitoring.alerts.promql._gomath import (
    go_ceil,
    go_exp,
    go_floor,
    go_log,
    go_log2,
    go_log10,
    go_max,
    go_min,
    go_sort,
)
from sharedconfig.monitoring.alerts.promql.aggregate import is_label_name
from sharedconfig.monitoring.alerts.promql.errors import PromQLError
from sharedconfig.monitoring.alerts.promql.re2 import compile_re2
from sharedconfig.monitoring.alerts.promql.values import METRIC_NAME, Labels, Sample, Vector, drop_name

__all__ = [
    "MATH_FUNCTIONS",
    "bucket_quantile",
    "clamp",
    "clamp_max",
    "clamp_min",
    "expand",
    "histogram_quantile",
    "label_join",
    "label_replace",
    "math_function",
    "parse_go_float",
    "round_vector",
    "sort",
    "sort_desc",
]


def _sqrt(x: float) -> float:
    return math.nan if x < 0 else math.sqrt(x)


def _sgn(x: float) -> float:
    if x < 0:
        return -1.0
    if x > 0:
        return 1.0
    return x  # 0, -0 and NaN stay as they are


MATH_FUNCTIONS: Final[Mapping[str, Callable[[float], float]]] = {
    "abs": math.fabs,
    "ceil": go_ceil,
    "floor": go_floor,
    "exp": go_exp,
    "ln": go_log,
    "log2": go_log2,
    "log10": go_log10,
    "sqrt": _sqrt,
    "sgn": _sgn,
}
"""The one-argument maths functions, each as Go computes it on one value."""


def math_function(name: str, vector: Sequence[Sample]) -> Vector:
    """``name(vector)`` for a function in ``MATH_FUNCTIONS``: each value mapped, ``__name__`` dropped."""
    f = MATH_FUNCTIONS.get(name)
    if f is None:
        raise PromQLError(f"unknown function {name!r}")
    return [Sample(drop_name(s.labels), f(s.value), s.t) for s in vector]


def round_vector(vector: Sequence[Sample], to_nearest: float = 1.0) -> Vector:
    """``round(vector, to_nearest)``: ties round up; multiplies by ``1/to_nearest``, as Prometheus does."""
    inverse = 1.0 / to_nearest if to_nearest != 0 else math.copysign(math.inf, to_nearest)
    return [Sample(drop_name(s.labels), go_floor(s.value * inverse + 0.5) / inverse, s.t) for s in vector]


def clamp(vector: Sequence[Sample], low: float, high: float) -> Vector:
    """``clamp(vector, min, max)``: each value into ``[min, max]``; nothing at all when ``max < min``."""
    if high < low:
        return []
    return [Sample(drop_name(s.labels), go_max(low, go_min(high, s.value)), s.t) for s in vector]


def clamp_min(vector: Sequence[Sample], low: float) -> Vector:
    """``clamp_min(vector, min)``: Go's ``Max(min, v)`` (NaN stays NaN, a NaN bound gives NaN)."""
    return [Sample(drop_name(s.labels), go_max(low, s.value), s.t) for s in vector]


def clamp_max(vector: Sequence[Sample], high: float) -> Vector:
    """``clamp_max(vector, max)``: Go's ``Min(max, v)``."""
    return [Sample(drop_name(s.labels), go_min(high, s.value), s.t) for s in vector]


def sort(vector: Sequence[Sample]) -> Vector:
    """``sort(vector)``: ascending by value, NaN last, labels kept."""
    out = list(vector)
    go_sort(
        out,
        lambda a, b: math.isnan(b.value) or b.value > a.value,
        lambda s: (math.isnan(s.value), 0.0 if math.isnan(s.value) else s.value),
    )
    return out


def sort_desc(vector: Sequence[Sample]) -> Vector:
    """``sort_desc(vector)``: descending by value, NaN last, labels kept."""
    out = list(vector)
    go_sort(
        out,
        lambda a, b: math.isnan(b.value) or b.value < a.value,
        lambda s: (math.isnan(s.value), 0.0 if math.isnan(s.value) else -s.value),
    )
    return out


def _set(metric: Labels, name: str, value: str) -> Labels:
    rest = [pair for pair in metric if pair[0] != name]
    if value:
        rest.append((name, value))
    return tuple(sorted(rest))


def label_replace(
    vector: Sequence[Sample], dst: str, replacement: str, src: str, regex: str, *, dot_all: bool = True
) -> Vector:
    """``label_replace(vector, dst, replacement, src, regex)``; see the module docstring.

    ``dot_all`` lets ``.`` match a newline, as Prometheus 3 compiles the pattern (``^(?s:re)$``);
    Prometheus 2 did not (``dot_all=False``). Raises ``PromQLError`` for a pattern that RE2 rejects or
    that Python would read differently, and for an invalid destination label name.
    """
    try:
        pattern = compile_re2(regex, dot_all=dot_all)
    except PromQLError as error:
        raise PromQLError(
            f"invalid regular expression in label_replace(): {regex}: {error.message}"
        ) from None
    if not is_label_name(dst):
        raise PromQLError(f"invalid destination label name in label_replace(): {dst}")
    out: Vector = []
    done: dict[Labels, Labels] = {}
    for sample in vector:
        metric = done.get(sample.labels)
        if metric is None:
            source = next((v for k, v in sample.labels if k == src), "")
            match = pattern.fullmatch(source)
            metric = sample.labels if match is None else _set(sample.labels, dst, expand(match, replacement))
            done[sample.labels] = metric
        out.append(Sample(metric, sample.value, sample.t))
    return out


def label_join(vector: Sequence[Sample], dst: str, separator: str, *src_labels: str) -> Vector:
    """``label_join(vector, dst, separator, src...)``: the source values joined (absent ones as ``""``).

    An empty result deletes ``dst``. Raises ``PromQLError`` for an invalid source or destination name.
    """
    for src in src_labels:
        if not is_label_name(src):
            raise PromQLError(f"invalid source label name in label_join(): {src}")
    if not is_label_name(dst):
        raise PromQLError(f"invalid destination label name in label_join(): {dst}")
    out: Vector = []
    for sample in vector:
        values = dict(sample.labels)
        joined = separator.join(values.get(src, "") for src in src_labels)
        out.append(Sample(_set(sample.labels, dst, joined), sample.value, sample.t))
    return out


def _name_char(ch: str) -> bool:
    # Go's unicode.IsLetter, unicode.IsDigit (Nd) or '_'
    category = unicodedata.category(ch)
    return ch == "_" or category.startswith("L") or category == "Nd"


def expand(match: re.Match[str], template: str) -> str:
    """``template`` with ``$1``, ``${1}``, ``$name``, ``${name}``, ``$$`` expanded as Go's ``Regexp.Expand``.

    A name takes every letter, digit and ``_`` that follows (``$1x`` names the group ``1x``); a number with
    a leading zero is a name; an unknown or unmatched group expands to nothing; a malformed reference
    (``$``, ``${x``) stays as text.
    """
    out: list[str] = []
    rest = template
    while True:
        before, dollar, after = rest.partition("$")
        if not dollar:
            break
        out.append(before)
        rest = after
        if rest.startswith("$"):
            out.append("$")
            rest = rest[1:]
            continue
        parsed = _extract(rest)
        if parsed is None:
            out.append("$")
            continue
        name, rest = parsed
        number = int(name) if name.isascii() and name.isdigit() and (name == "0" or name[0] != "0") else -1
        if number >= 10**8:
            number = -1
        if number >= 0:
            if number <= (match.re.groups) and match.group(number) is not None:
                out.append(match.group(number))
        elif name in match.re.groupindex and match.group(name) is not None:
            out.append(match.group(name))
    out.append(rest)
    return "".join(out)


def _extract(text: str) -> tuple[str, str] | None:
    brace = text.startswith("{")
    if brace:
        text = text[1:]
    i = 0
    while i < len(text) and _name_char(text[i]):
        i += 1
    if i == 0:
        return None
    name = text[:i]
    if brace:
        if i >= len(text) or text[i] != "}":
            return None
        i += 1
    return name, text[i:]


_DECIMAL: Final = re.compile(
    r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
    r"|0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)[pP][+-]?[0-9]+)"
)
_INFINITY: Final = re.compile(r"[+-]?(?:inf|infinity)", re.IGNORECASE)


def parse_go_float(text: str) -> float | None:
    """``text`` read as Go's ``strconv.ParseFloat(text, 64)``, or ``None`` where Go returns an error.

    Stricter than Python's ``float``: no spaces or ``_``, no sign before ``NaN``, and a finite literal
    beyond the float range (``1e400``) is an error, not infinity.
    """
    if _INFINITY.fullmatch(text):
        return -math.inf if text.startswith("-") else math.inf
    if text.lower() == "nan":
        return math.nan
    if not _DECIMAL.fullmatch(text):
        return None
    if text.lstrip("+-")[:2].lower() == "0x":
        try:
            value = float.fromhex(text)
        except OverflowError:
            return None
    else:
        value = float(text)
    return None if math.isinf(value) else value


def bucket_quantile(phi: float, buckets: Sequence[tuple[float, float]]) -> float:
    """Prometheus's ``bucketQuantile`` over ``(upper bound, cumulative count)`` pairs in any order."""
    if math.isnan(phi):
        return math.nan
    if phi < 0:
        return -math.inf
    if phi > 1:
        return math.inf
    if not buckets:
        return math.nan
    ordered = sorted(buckets, key=lambda b: b[0])
    if ordered[-1][0] != math.inf:
        return math.nan
    merged: list[list[float]] = []
    for bound, count in ordered:
        if merged and merged[-1][0] == bound:
            merged[-1][1] += count
        else:
            merged.append([bound, count])
    highest = -math.inf
    for bucket in merged:  # counts can only grow: repair what a scrape raced or precision lost
        if bucket[1] > highest:
            highest = bucket[1]
        elif bucket[1] < highest:
            bucket[1] = highest
    if len(merged) < 2:
        return math.nan
    observations = merged[-1][1]
    if observations == 0:
        return math.nan
    rank = phi * observations
    # the first bucket (the +Inf one excluded) whose count reaches the rank, as Go's sort.Search
    b = next((i for i in range(len(merged) - 1) if merged[i][1] >= rank), len(merged) - 1)
    if b == len(merged) - 1:
        return merged[-2][0]
    if b == 0 and merged[0][0] <= 0:
        return merged[0][0]
    start = 0.0
    end = merged[b][0]
    count = merged[b][1]
    if b > 0:
        start = merged[b - 1][0]
        count -= merged[b - 1][1]
        rank -= merged[b - 1][1]
    return start + (end - start) * (rank / count)


_EXCLUDED: Final = frozenset({METRIC_NAME, "le", "quantile"})


def histogram_quantile(phi: float, vector: Sequence[Sample]) -> Vector:
    """``histogram_quantile(φ, vector)`` over classic buckets; see the module docstring.

    Series are grouped by all their labels but ``le`` (the metric name included), and each group's
    result carries its labels minus ``__name__``, ``le`` and ``quantile``.
    """
    groups: dict[Labels, tuple[Labels, list[tuple[float, float]]]] = {}
    t = vector[0].t if vector else 0
    for sample in vector:
        le = next((v for k, v in sample.labels if k == "le"), "")
        bound = parse_go_float(le)
        if bound is None:
            continue
        key = tuple(pair for pair in sample.labels if pair[0] != "le")
        group = groups.get(key)
        if group is None:
            group = (tuple(pair for pair in sample.labels if pair[0] not in _EXCLUDED), [])
            groups[key] = group
        group[1].append((bound, sample.value))
    return [Sample(metric, bucket_quantile(phi, buckets), t) for metric, buckets in groups.values()]
