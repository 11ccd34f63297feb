"""The rules for metric names, label names and values, units and histogram buckets, checked in one place.

Recording refuses a bad observation with ``Rejected`` (its ``reason`` labels ``metrics_dropped_total``);
declaring an instrument turns the same refusal into ``ValueError``. Beyond the syntax, names follow the
conventions ``promtool check metrics`` lints (``check_conventions``), so what we expose passes it clean.
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
    "SIZE_BUCKETS",
    "Rejected",
    "base_name",
    "check_buckets",
    "check_conventions",
    "check_declaration",
    "check_label_name",
    "check_metric_name",
    "check_unit",
    "default_buckets",
    "exposed_name",
    "label_value",
    "sample_names",
    "unit_of",
]

DEFAULT_BUCKETS: Final[tuple[float, ...]] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Default histogram bucket upper bounds in seconds (``monitoring.metrics.histogram_buckets``)."""

SIZE_BUCKETS: Final[tuple[float, ...]] = tuple(float(4**n) for n in range(3, 16))
"""Bucket bounds of ``*_bytes`` histograms: powers of 4 from 64 B to 1 GiB (13 buckets and +Inf).

A factor of 4 per bucket bounds ``histogram_quantile``'s interpolation error to that factor at the cost of
the latency buckets (11 + 1); the bounds fall on 1 KiB, 4 KiB, 64 KiB, 1 MiB, 16 MiB and 1 GiB, where body,
page and upload limits usually sit. Powers of 10 would need only 8 buckets but a factor of 10 per bucket
says little (``4 KiB`` and ``60 KiB`` payloads would land together).
"""

# promtool's lint (prometheus/util/promlint): base units, the non-base ones it names a base for, the
# prefixes it strips to find them, the abbreviations it refuses, and the type names a name may not carry
_BASE_UNITS: Final = frozenset(
    {"amperes", "bytes", "celsius", "grams", "joules", "kelvin", "meters", "metres", "seconds", "volts"}
)
_NON_BASE_UNITS: Final = {
    **dict.fromkeys(("minutes", "hours", "days", "weeks"), "seconds"),
    **dict.fromkeys(("bits", "kilobytes", "megabytes", "gigabytes", "terabytes"), "bytes"),
    "fahrenheit": "celsius",
    **dict.fromkeys(("feet", "inches", "miles"), "meters"),
}
_UNIT_PREFIXES: Final = (
    "pico", "nano", "micro", "milli", "centi", "deci", "deca", "hecto", "kilo", "kibi",
    "mega", "mibi", "giga", "gibi", "tera", "tebi", "peta", "pebi",
)  # fmt: skip
_ABBREVIATIONS: Final = {
    **dict.fromkeys(("s", "sec", "ms", "us", "ns", "m", "h", "d"), "seconds"),
    **dict.fromkeys(("b", "kb", "mb", "gb", "tb", "pb"), "bytes"),
}
_TYPE_NAMES: Final = ("counter", "gauge", "histogram", "summary")
_CAMEL_CASE: Final = re.compile(r"[a-z][A-Z]")
# the suffixes a family of another type exposes: a gauge named x_count reads as a histogram's sample
_SUFFIX_OWNERS: Final = {
    "_total": "counters",
    "_bucket": "histograms",
    "_count": "histograms and summaries",
    "_sum": "histograms and summaries",
}

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
    if _CAMEL_CASE.search(name):
        raise Rejected("invalid_labels", f"label name {name!r} is camelCase: write it in snake_case")
    return name


def check_metric_name(name: object) -> str:
    """``name`` when it is a valid metric name, else Rejected (``invalid_name``)."""
    if not isinstance(name, str) or not _METRIC_NAME.fullmatch(name):
        raise Rejected("invalid_name", f"invalid metric name {name!r}: use [a-zA-Z_:][a-zA-Z0-9_:]*")
    return name


def check_conventions(kind: MetricType, name: str) -> str:
    """``name`` (a base name, counters without ``_total``) when promtool would not flag it, else Rejected.

    Refused (``invalid_name``), each with the fix in the message: a ``_total``, ``_bucket``, ``_count`` or
    ``_sum`` suffix on a type that does not own it (a gauge named ``queue_total``), a non-base unit
    (``_milliseconds``, ``_minutes``, ``_kilobytes``: use ``_seconds``, ``_bytes``), an abbreviated one
    (``_ms``, ``_sec``, ``_kb``), the type in the name (``_gauge``), camelCase and colons (which Prometheus
    keeps for recording rules).
    """
    exposed = exposed_name(name, kind)
    for suffix, owners in _SUFFIX_OWNERS.items():
        if exposed.endswith(suffix) and not _owns(kind, suffix):
            raise Rejected(
                "invalid_name",
                f"{name}: only {owners} end in {suffix}; name this {kind.value} without it",
            )
    if ":" in name:
        raise Rejected("invalid_name", f"{name}: colons are for recording rules; use _ in metric names")
    if _CAMEL_CASE.search(name):
        raise Rejected("invalid_name", f"{name} is camelCase: write metric names in snake_case")
    words = name.lower().split("_")
    for at, word in enumerate(words):
        base = _NON_BASE_UNITS.get(word) or _prefixed_unit(word)
        if base is not None and base != word:
            raise Rejected(
                "invalid_name", f"{name}: use the base unit _{base}, not _{word}, and scale values"
            )
        if at and word in _ABBREVIATIONS:
            full = _ABBREVIATIONS[word]
            raise Rejected("invalid_name", f"{name}: spell the unit out in base units: _{full}, not _{word}")
        if at and word in _TYPE_NAMES:
            raise Rejected("invalid_name", f"{name}: the type goes in TYPE, not in the name (drop _{word})")
    return name


def _owns(kind: MetricType, suffix: str) -> bool:
    if suffix == "_total":
        return kind is MetricType.COUNTER
    return kind is MetricType.HISTOGRAM


def _prefixed_unit(word: str) -> str | None:
    """The base unit of ``word`` when it is a prefixed unit (``milliseconds`` -> ``seconds``), else None."""
    if word in _BASE_UNITS:
        return word
    for prefix in _UNIT_PREFIXES:
        if word.startswith(prefix) and len(word) > len(prefix):
            rest = word[len(prefix) :]
            if rest in _BASE_UNITS:
                return rest
            if rest in _NON_BASE_UNITS:
                return _NON_BASE_UNITS[rest]
    return None


def unit_of(name: str) -> str:
    """The base unit a family name ends with (``_seconds``, ``_bytes``...): its OpenMetrics UNIT, or ""."""
    unit = name.rpartition("_")[2]
    return unit if unit in _BASE_UNITS and name != unit else ""


def default_buckets(name: str, latency: tuple[float, ...]) -> tuple[float, ...]:
    """The buckets of a histogram declared without any: ``SIZE_BUCKETS`` for ``*_bytes``, else ``latency``.

    ``latency`` is the registry's ``buckets`` (``monitoring.metrics.histogram_buckets``), for ``_seconds``
    and for every other name, as prometheus_client gives every histogram its latency buckets.
    """
    return SIZE_BUCKETS if name.endswith("_bytes") else latency


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
        base = check_conventions(kind, base_name(kind, check_metric_name(name)))
        names = tuple(check_label_name(label, kind) for label in labelnames)
    except Rejected as rejected:
        raise ValueError(str(rejected)) from None
    if len(set(names)) != len(names):
        raise ValueError(f"{name}: duplicate label names in {names}")
    return base, names
