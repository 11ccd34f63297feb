"""The rules for metric names, label names and values, units and histogram buckets, checked in one place.

Recording refuses a bad observation with ``Rejected`` (its ``reason`` labels ``metrics_dropped_total``);
declaring an instrument turns the same refusal into ``ValueError``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from itertools import pairwise
from typing import Final

from sharedconfig.monitoring.metrics.model import MetricType

__all__ = [
    "DEFAULT_BUCKETS",
    "Rejected",
    "base_name",
    "check_buckets",
    "check_declaration",
    "check_label_name",
    "check_metric_name",
    "check_unit",
    "exposed_name",
    "label_value",
    "sample_names",
]

DEFAULT_BUCKETS: Final[tuple[float, ...]] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Default histogram bucket upper bounds in seconds (``monitoring.metrics.histogram_buckets``)."""

_METRIC_NAME: Final = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME: Final = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_UNIT: Final = re.compile(r"[a-zA-Z0-9_]*")
# Sample names each type exposes besides the family name; two families may not share any of them.
_SUFFIXES: Final = {
    MetricType.COUNTER: ("", "_total", "_created"),
    MetricType.GAUGE: ("",),
    MetricType.HISTOGRAM: ("", "_bucket", "_sum", "_count", "_created"),
}


class Rejected(Exception):
    """An observation or declaration that cannot become a series; ``reason`` labels metrics_dropped_total."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def label_value(value: object) -> str:
    """A label value as it goes on the wire: text (``str`` of anything else), lone surrogates replaced."""
    text = value if isinstance(value, str) else str(value)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates cannot go on the wire
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def check_label_name(name: object, kind: MetricType) -> str:
    """``name`` when it is a valid label name for a ``kind`` (histograms reserve ``le``), else Rejected."""
    if not isinstance(name, str) or not _LABEL_NAME.fullmatch(name) or name.startswith("__"):
        raise Rejected("invalid_labels", f"invalid label name {name!r}: use [a-zA-Z_][a-zA-Z0-9_]*, no __")
    if kind is MetricType.HISTOGRAM and name == "le":
        raise Rejected("invalid_labels", 'histograms reserve the label name "le"')
    return name


def check_metric_name(name: object) -> str:
    """``name`` when it is a valid metric name, else Rejected (``invalid_name``)."""
    if not isinstance(name, str) or not _METRIC_NAME.fullmatch(name):
        raise Rejected("invalid_name", f"invalid metric name {name!r}: use [a-zA-Z_:][a-zA-Z0-9_:]*")
    return name


def check_unit(unit: object) -> str:
    """``unit`` when it is a valid OpenMetrics unit (``[a-zA-Z0-9_]*``), else the empty string."""
    return unit if isinstance(unit, str) and _UNIT.fullmatch(unit) else ""


def base_name(kind: MetricType, name: str) -> str:
    """The family name before processors: counters are named without ``_total`` (OpenMetrics)."""
    if kind is MetricType.COUNTER and name.endswith("_total") and len(name) > len("_total"):
        return name[: -len("_total")]
    return name


def exposed_name(name: str, kind: MetricType) -> str:
    """How a family is named in the text format: counters with ``_total``, the others as they are."""
    return f"{name}_total" if kind is MetricType.COUNTER else name


def sample_names(name: str, kind: MetricType) -> tuple[str, ...]:
    """Every sample name a family ``name`` of ``kind`` exposes or reserves (``x_total``, ``x_bucket``...)."""
    return tuple(name + suffix for suffix in _SUFFIXES.get(kind, ("",)))


def check_buckets(buckets: Sequence[float]) -> tuple[float, ...]:
    """Finite, strictly increasing bucket bounds, a trailing +Inf dropped (it is always there); ValueError."""
    bounds = [float(b) for b in buckets]
    if bounds and bounds[-1] == math.inf:
        bounds.pop()  # +Inf is always there
    if not bounds or any(math.isnan(b) or math.isinf(b) for b in bounds):
        raise ValueError(f"histogram buckets must be finite numbers, at least one: {tuple(buckets)!r}")
    if any(a >= b for a, b in pairwise(bounds)):
        raise ValueError(f"histogram buckets must be strictly increasing: {tuple(buckets)!r}")
    return tuple(bounds)


def check_declaration(kind: MetricType, name: str, labelnames: Sequence[str]) -> tuple[str, tuple[str, ...]]:
    """The base name and label names of an instrument declaration; ValueError when either is invalid."""
    if isinstance(labelnames, str):
        raise ValueError(f"{name}: labelnames must be a sequence of names, not the string {labelnames!r}")
    try:
        base = base_name(kind, check_metric_name(name))
        names = tuple(check_label_name(label, kind) for label in labelnames)
    except Rejected as rejected:
        raise ValueError(str(rejected)) from None
    if len(set(names)) != len(names):
        raise ValueError(f"{name}: duplicate label names in {names}")
    return base, names
