"""Metric processors: plain callables that shape each new series (namespace, cardinality limit).

A processor is ``(index, draft) -> draft``; the registry runs the tuple once per new series, never per sample.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Protocol

from sharedconfig.monitoring.metrics.model import Labels, MetricType

__all__ = [
    "OVERFLOW_LABELS",
    "CardinalityLimit",
    "DropSeries",
    "Namespace",
    "Processor",
    "SeriesDraft",
    "SeriesIndex",
]

OVERFLOW_LABELS: Labels = (("overflow", "true"),)
"""The labels of the one series a metric's label sets fold into once it reaches its cardinality limit.

Prometheus treats an empty label value as an absent label, so this is the same series as one that keeps
the metric's label names with empty values plus ``overflow="true"``; the shorter form is what we expose.
"""

_NAMESPACE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


@dataclass(frozen=True, slots=True)
class SeriesDraft:
    """A series about to be created, as processors see and rewrite it.

    ``name`` is the family name (counters without ``_total``), ``labels`` sorted by name; ``overflow``
    marks the metric's overflow series. There is no sampling: metrics count every observation.
    """

    name: str
    type: MetricType
    labels: Labels = ()
    overflow: bool = False


class SeriesIndex(Protocol):
    """What a processor may ask the registry about the series that already exist."""

    def series_count(self, name: str) -> int:
        """How many series the family ``name`` has, its overflow series not included."""
        ...

    def has_series(self, name: str, labels: Labels) -> bool:
        """True when the family ``name`` already has a series with exactly these sorted labels."""
        ...


Processor = Callable[[SeriesIndex, SeriesDraft], SeriesDraft]
"""Takes the registry's index and a draft, returns the (possibly rewritten) draft or raises DropSeries."""


class DropSeries(Exception):  # named like structlog's DropEvent: it says what happens
    """Raised by a processor to drop an observation; the registry counts it in ``metrics_dropped_total``."""


@dataclass(frozen=True, slots=True)
class Namespace:
    """Prefix every metric name with ``prefix_`` (Prometheus' namespace); an empty prefix changes nothing."""

    prefix: str

    def __post_init__(self) -> None:
        """Reject a prefix that would make metric names invalid."""
        if self.prefix and not _NAMESPACE.fullmatch(self.prefix):
            raise ValueError(f"invalid metric namespace {self.prefix!r}: use letters, digits and _")

    def __call__(self, index: SeriesIndex, draft: SeriesDraft) -> SeriesDraft:
        """Return the draft with its name prefixed."""
        if not self.prefix:
            return draft
        return replace(draft, name=f"{self.prefix}_{draft.name}")


@dataclass(frozen=True, slots=True)
class CardinalityLimit:
    """At most ``limit`` series per metric (``per_metric`` overrides by family name); the rest fold.

    A label set beyond the limit becomes the metric's single overflow series with ``OVERFLOW_LABELS``; the
    registry counts every observation folded that way in ``metrics_cardinality_overflow_total{metric}``.
    Label sets admitted before the limit was reached keep their own series.
    """

    limit: int
    per_metric: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Reject limits below one and copy ``per_metric``."""
        object.__setattr__(self, "per_metric", dict(self.per_metric))
        for name, limit in {"cardinality_limit": self.limit, **self.per_metric}.items():
            if limit < 1:
                raise ValueError(f"{name}: a cardinality limit must be at least 1, not {limit!r}")

    def __call__(self, index: SeriesIndex, draft: SeriesDraft) -> SeriesDraft:
        """Return the draft unchanged while the metric has room, else its overflow draft."""
        if draft.overflow or index.has_series(draft.name, draft.labels):
            return draft
        if index.series_count(draft.name) < self.per_metric.get(draft.name, self.limit):
            return draft
        return replace(draft, labels=OVERFLOW_LABELS, overflow=True)
