"""Where a registry keeps its values: families, their series, per-thread shards and histogram cells.

The registry's own machinery (its children write into the shards directly), not a public API: record
through ``MetricsRegistry`` and read through ``collect()``.
"""

from __future__ import annotations

import math
import threading
from bisect import bisect_left
from collections.abc import Hashable, Iterable
from typing import Final

from sharedconfig.monitoring.metrics.exposition import format_bound
from sharedconfig.monitoring.metrics.model import Labels, MetricFamily, MetricType, Sample
from sharedconfig.monitoring.metrics.naming import (
    Rejected,
    base_name,
    check_metric_name,
    exposed_name,
    sample_names,
    unit_of,
)
from sharedconfig.monitoring.metrics.processors import SeriesDraft
from sharedconfig.monitoring.names import METRICS_CARDINALITY_OVERFLOW, METRICS_DROPPED

__all__ = ["Family", "HistogramCell", "Series", "Storage"]

_OVERFLOW_HELP: Final = (
    'Observations folded into a metric\'s overflow="true" series once it reached its cardinality limit.'
)
_DROPPED_HELP: Final = (
    "Observations dropped: invalid name, labels or value, a type conflict, a processor's choice, or a"
    " collector's family that failed or clashed."
)


class Family:
    """A metric and its series; mutated only under the storage lock."""

    __slots__ = (
        "buckets",
        "exposed",
        "fold",
        "help",
        "internal",
        "name",
        "ordered",
        "overflow",
        "series",
        "type",
        "unit",
    )

    def __init__(
        self,
        name: str,
        type_: MetricType,
        help_: str,
        unit: str,
        buckets: tuple[float, ...],
        internal: bool = False,
    ) -> None:
        self.name = name
        self.type = type_
        self.exposed = exposed_name(name, type_)
        self.help = help_ or f"{self.exposed} (no help text declared)"
        self.unit = unit or unit_of(name)  # OpenMetrics' UNIT line for *_seconds, *_bytes...
        self.buckets = buckets
        self.internal = internal
        self.series: dict[Labels, Series] = {}
        self.ordered: list[Series] | None = None  # series sorted by labels; None after a series is added
        self.overflow: Series | None = None
        self.fold: Series | None = None  # this family's series in metrics_cardinality_overflow_total


_UNUSED_LOCK: Final = threading.Lock()


class Series:
    """One series; hashed by identity so it is a cheap shard key for declared children."""

    __slots__ = ("bounds", "bucket_labels", "family", "labels", "lock", "stamp", "value")

    def __init__(self, family: Family, labels: Labels) -> None:
        self.family = family
        self.labels = labels
        self.bucket_labels: tuple[
            Labels, ...
        ] = ()  # histograms: labels of each bucket, made on first collect
        self.value = 0.0  # gauges only: counters and histograms live in the per-thread shards
        self.stamp = 0.0  # gauges declared "mostrecent" only: wall time of the last change (multiprocess)
        self.lock = threading.Lock() if family.type is MetricType.GAUGE else _UNUSED_LOCK  # gauges' inc/dec
        self.bounds: tuple[float, ...] = family.buckets


class HistogramCell:
    """One thread's counts for one histogram series: non-cumulative buckets (the last is +Inf) and sum.

    Every observation counts once: ``_count`` and ``_sum`` are exact (metrics are never sampled).
    """

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, series: Series) -> None:
        self.bounds = series.bounds
        self.counts = [0.0] * (len(series.bounds) + 1)
        self.sum = 0.0


class _Local(threading.local):
    """The calling thread's shard: counter totals and histogram cells keyed by raw key or series."""

    counters: dict[Hashable, float]
    histograms: dict[Hashable, HistogramCell]


class _Shard:
    """The storage's handle on one thread's shard, so ``collect`` can read it and fold it when it dies."""

    __slots__ = ("counters", "histograms", "thread")

    def __init__(self, thread: threading.Thread) -> None:
        self.thread = thread
        self.counters: dict[Hashable, float] = {}
        self.histograms: dict[Hashable, HistogramCell] = {}


class Storage:
    """Families and series behind one lock, values in per-thread shards, and the two internal counters.

    The hot paths touch only ``local`` (the calling thread's shard, a plain dict nobody else writes) and
    the ``*_routes`` maps (raw key or series -> series); everything that creates a family or a series runs
    with ``lock`` held. ``collect()`` sums the shards; shards of finished threads are folded into one.
    It is also the ``SeriesIndex`` processors ask.
    """

    def __init__(self) -> None:
        self.lock = threading.RLock()  # reentrant: processors run under it and may record
        self.local = _Local()
        self.counter_routes: dict[Hashable, Series] = {}
        self.gauge_routes: dict[Hashable, Series] = {}
        self.histogram_routes: dict[Hashable, Series] = {}
        self._shards: list[_Shard] = []
        self._retired_counters: dict[Hashable, float] = {}
        self._retired_histograms: dict[Hashable, list[float]] = {}  # bucket counts, then the sum
        self._families: dict[str, Family] = {}
        self._sample_names: dict[str, Family] = {}
        self._reserved: dict[str, str] = {}  # sample names registered collectors own -> the collector
        self._overflow_counter = self._internal_family(METRICS_CARDINALITY_OVERFLOW, _OVERFLOW_HELP)
        self._dropped_counter = self._internal_family(METRICS_DROPPED, _DROPPED_HELP)

    # -- SeriesIndex ---------------------------------------------------------------------------------------

    def series_count(self, name: str) -> int:
        """How many series the family ``name`` has (after processors), its overflow series not included."""
        family = self._families.get(name)
        return 0 if family is None else len(family.series)

    def has_series(self, name: str, labels: Labels) -> bool:
        """True when the family ``name`` already has a series with exactly these sorted labels."""
        family = self._families.get(name)
        return family is not None and labels in family.series

    # -- families and series (lock held) -------------------------------------------------------------------

    def admit(
        self, draft: SeriesDraft, help_: str, unit: str, buckets: tuple[float, ...]
    ) -> tuple[Series, bool]:
        """Find or create the series of a processed draft; True when it is the family's overflow series."""
        family = self._family(draft.name, draft.type, help_, unit, buckets)
        if draft.overflow:
            if family.overflow is None:
                family.overflow = self._new_series(family, draft.labels)
            return family.overflow, True
        series = family.series.get(draft.labels)
        if series is None:
            series = family.series[draft.labels] = self._new_series(family, draft.labels)
        return series, False

    def owner(self, sample_name: str) -> str | None:
        """Who exposes the sample ``sample_name`` (a family of the registry, or a collector), or None."""
        family = self._sample_names.get(sample_name)
        if family is not None:
            return f"the {family.type.value} {family.exposed}"
        return self._reserved.get(sample_name)

    def reserve(self, names: Iterable[str], owner: str) -> None:
        """Reserve sample names for a collector (lock held); Rejected when one is taken already."""
        wanted = list(names)
        for name in wanted:
            taken = self.owner(name)
            if taken is not None:
                raise Rejected("reserved_name", f"{name} ({owner}) clashes with {taken}")
        for name in wanted:
            self._reserved[name] = owner

    def release(self, names: Iterable[str]) -> None:
        """Free sample names ``reserve`` took (lock held)."""
        for name in names:
            self._reserved.pop(name, None)

    def _family(
        self, name: str, kind: MetricType, help_: str, unit: str, buckets: tuple[float, ...]
    ) -> Family:
        family = self._families.get(name)
        if family is not None:
            if family.type is not kind:
                raise Rejected("type_conflict", f"{name} is already a {family.type.value}")
            if family.internal:
                raise Rejected("reserved_name", f"{name} is the registry's own metric")
            return family
        check_metric_name(name)
        names = sample_names(name, kind)
        for sample_name in names:
            other = self._sample_names.get(sample_name)
            if other is not None:
                raise Rejected("type_conflict", f"{name} would clash with {other.type.value} {other.name}")
            collector = self._reserved.get(sample_name)
            if collector is not None:
                raise Rejected("reserved_name", f"{name} would clash with {sample_name} of {collector}")
        family = self._families[name] = Family(name, kind, help_, unit, buckets)
        for sample_name in names:
            self._sample_names[sample_name] = family
        return family

    def _internal_family(self, name: str, help_: str) -> Family:
        family = self._family(base_name(MetricType.COUNTER, name), MetricType.COUNTER, help_, "", ())
        family.internal = True
        return family

    def _routes(self, kind: MetricType) -> dict[Hashable, Series]:
        if kind is MetricType.COUNTER:
            return self.counter_routes
        return self.gauge_routes if kind is MetricType.GAUGE else self.histogram_routes

    def _new_series(self, family: Family, labels: Labels) -> Series:
        family.ordered = None
        series = Series(family, labels)
        self._routes(family.type)[series] = series  # children and folds use the series as shard key
        return series

    def _internal_series(self, family: Family, labels: Labels) -> Series:
        with self.lock:
            series = family.series.get(labels)
            if series is None:
                series = family.series[labels] = self._new_series(family, labels)
            return series

    # -- writing -------------------------------------------------------------------------------------------

    def drop(self, reason: str) -> None:
        """Count one dropped observation in ``metrics_dropped_total{reason}``."""
        self.add_counter(self._internal_series(self._dropped_counter, (("reason", reason),)), 1.0)

    def overflowed(self) -> list[str]:
        """The exposed names of the families that have folded a label set into their overflow series."""
        with self.lock:
            return [family.exposed for family in self._families.values() if family.fold is not None]

    def count_fold(self, overflow: Series) -> None:
        """Count one observation folded into ``overflow`` in ``metrics_cardinality_overflow_total``."""
        family = overflow.family
        if family.fold is None:
            family.fold = self._internal_series(self._overflow_counter, (("metric", family.exposed),))
        self.add_counter(family.fold, 1.0)

    def add_counter(self, key: Hashable, amount: float) -> None:
        """Add to the counter ``key`` in this thread's shard, the shard made on the thread's first write."""
        counters = self._shard().counters
        counters[key] = counters.get(key, 0.0) + amount

    def histogram_cell(self, key: Hashable, series: Series) -> HistogramCell:
        """This thread's cell for the histogram ``key`` (of ``series``), made on first use."""
        histograms = self._shard().histograms
        cell = histograms.get(key)
        if cell is None:
            cell = histograms[key] = HistogramCell(series)
        return cell

    def observe(self, cell: HistogramCell, value: float) -> None:
        """Observe off the fast path: NaN is dropped (counted), anything else counts once."""
        if math.isnan(value):
            self.drop("invalid_value")
            return
        index = bisect_left(cell.bounds, value)  # fails for a non-number before anything changes
        cell.sum += value
        cell.counts[index] += 1.0

    def _shard(self) -> _Local:
        local = self.local
        if not hasattr(local, "counters"):
            shard = _Shard(threading.current_thread())
            with self.lock:
                # fold finished threads' shards here too, so thread churn without scrapes stays bounded
                self._retire_dead_shards()
                self._shards.append(shard)
            local.counters = shard.counters
            local.histograms = shard.histograms
        return local

    def _retire_dead_shards(self) -> None:
        """Fold the shards of finished threads into one (lock held): nobody writes to them any more."""
        alive: list[_Shard] = []
        for shard in self._shards:
            if shard.thread.is_alive():
                alive.append(shard)
                continue
            retired = self._retired_counters
            for key, value in shard.counters.items():
                retired[key] = retired.get(key, 0.0) + value
            cells = self._retired_histograms
            for key, cell in shard.histograms.items():
                counts = [*cell.counts, cell.sum]
                total = cells.get(key)
                cells[key] = counts if total is None else [a + b for a, b in zip(total, counts, strict=True)]
        self._shards = alive

    def reset_values(self) -> None:
        """Zero every value, keeping families and series (a forked child in multiprocess mode).

        Shard dicts are cleared in place: the calling thread's ``local`` keeps pointing at them.
        """
        with self.lock:
            for shard in self._shards:
                shard.counters.clear()
                shard.histograms.clear()
            self._retired_counters.clear()
            self._retired_histograms.clear()
            for family in self._families.values():
                overflow = () if family.overflow is None else (family.overflow,)
                for series in (*family.series.values(), *overflow):
                    series.value = 0.0
                    series.stamp = 0.0

    # -- reading -------------------------------------------------------------------------------------------

    def gauge_stamps(self) -> dict[tuple[str, Labels], float]:
        """The wall time of the last change of each stamped gauge series, by (family name, labels)."""
        with self.lock:
            return {
                (family.name, series.labels): series.stamp
                for family in self._families.values()
                if family.type is MetricType.GAUGE
                for series in family.series.values()
                if series.stamp
            }

    def collect(self) -> list[MetricFamily]:
        """Every family with at least one series, sorted by name; series sorted by labels, overflow last."""
        with self.lock:
            self._retire_dead_shards()
            counter_maps = [self._retired_counters.copy()]
            counter_maps.extend(shard.counters.copy() for shard in self._shards)
            histogram_maps = [self._retired_histograms.copy()]
            for shard in self._shards:
                histogram_maps.append(
                    {key: [*cell.counts, cell.sum] for key, cell in shard.histograms.copy().items()}
                )
            families = [
                (family, _ordered(family), family.overflow) for _, family in sorted(self._families.items())
            ]
        counters: dict[Series, float] = {}
        routes = self.counter_routes
        for values in counter_maps:
            for key, value in values.items():
                series = routes[key]
                counters[series] = counters.get(series, 0.0) + value
        histograms: dict[Series, list[float]] = {}
        routes = self.histogram_routes
        for cells in histogram_maps:
            for key, counts in cells.items():
                series = routes[key]
                total = histograms.get(series)
                if total is None:
                    histograms[series] = counts
                else:
                    histograms[series] = [a + b for a, b in zip(total, counts, strict=True)]
        result: list[MetricFamily] = []
        for family, ordered, overflow in families:
            members = ordered if overflow is None else [*ordered, overflow]
            if not members:
                continue
            if family.type is MetricType.COUNTER:
                name = family.exposed
                samples = [Sample(name, s.labels, counters.get(s, 0.0)) for s in members]
            elif family.type is MetricType.GAUGE:
                samples = [Sample(family.name, s.labels, float(s.value)) for s in members]
            else:
                samples = _histogram_samples(family, members, histograms)
            result.append(MetricFamily(family.name, family.type, family.help, tuple(samples), family.unit))
        return result


def _ordered(family: Family) -> list[Series]:
    """The family's series sorted by labels (lock held); sorted again only after series were added."""
    if family.ordered is None:
        family.ordered = [series for _, series in sorted(family.series.items())]
    return family.ordered


def _histogram_samples(
    family: Family, members: list[Series], histograms: dict[Series, list[float]]
) -> list[Sample]:
    bounds = [("le", format_bound(b)) for b in family.buckets]
    bounds.append(("le", "+Inf"))
    empty = [0.0] * (len(bounds) + 1)
    bucket, sum_name, count_name = f"{family.name}_bucket", f"{family.name}_sum", f"{family.name}_count"
    samples: list[Sample] = []
    for series in members:
        labels = series.labels
        if len(series.bucket_labels) != len(bounds):
            at = 0
            while at < len(labels) and labels[at][0] < "le":
                at += 1
            head, tail = labels[:at], labels[at:]
            series.bucket_labels = tuple((*head, le, *tail) for le in bounds)
        counts = histograms.get(series, empty)
        cumulative = 0.0
        for bucket_labels, count in zip(series.bucket_labels, counts, strict=False):
            cumulative += count
            samples.append(Sample(bucket, bucket_labels, cumulative))
        samples.append(Sample(sum_name, labels, counts[-1]))
        samples.append(Sample(count_name, labels, cumulative))
    return samples
