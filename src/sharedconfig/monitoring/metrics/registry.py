"""The in-process metrics registry: the MetricsRecorder calls plus declared instruments for hot paths.

Recording is a dict update in the calling thread's own shard; new series take a locked slow path (processors).
"""

from __future__ import annotations

import abc
import inspect
import math
import random as _random_module
import re
import threading
from bisect import bisect_left
from collections.abc import Awaitable, Callable, Coroutine, Hashable, Mapping, Sequence
from datetime import timedelta
from functools import wraps
from itertools import pairwise
from types import TracebackType
from typing import TYPE_CHECKING, ClassVar, Final, Generic, ParamSpec, TypeVar, cast

from sharedconfig.clock import SYSTEM_CLOCK, Clock
from sharedconfig.interfaces import CustomMetric
from sharedconfig.monitoring.metrics.exposition import format_bound
from sharedconfig.monitoring.metrics.model import Labels, MetricFamily, MetricType, Sample
from sharedconfig.monitoring.metrics.processors import (
    CardinalityLimit,
    DropSeries,
    HistogramSampling,
    Namespace,
    Processor,
    SeriesDraft,
)
from sharedconfig.monitoring.names import METRICS_CARDINALITY_OVERFLOW, METRICS_DROPPED

if TYPE_CHECKING:
    from sharedconfig.monitoring.settings import MetricsSettings

__all__ = [
    "DEFAULT_BUCKETS",
    "METRICS_DROPPED",
    "Counter",
    "CounterChild",
    "Gauge",
    "GaugeChild",
    "Histogram",
    "HistogramChild",
    "MetricsRegistry",
    "Timer",
]

DEFAULT_BUCKETS: Final[tuple[float, ...]] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Default histogram bucket upper bounds in seconds (``monitoring.metrics.histogram_buckets``)."""

"""Counts observations the registry refused, by ``reason``; the hot path never raises instead."""

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")

_METRIC_NAME: Final = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME: Final = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_UNIT: Final = re.compile(r"[a-zA-Z0-9_]*")
# Sample names each type exposes besides the family name; two families may not share any of them.
_SUFFIXES: Final = {
    MetricType.COUNTER: ("", "_total", "_created"),
    MetricType.GAUGE: ("",),
    MetricType.HISTOGRAM: ("", "_bucket", "_sum", "_count", "_created"),
}


# -- internal state ----------------------------------------------------------------------------------------


class _Rejected(Exception):
    """An observation or declaration that cannot become a series; ``reason`` labels metrics_dropped_total."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class _Family:
    """A metric and its series; mutated only under the registry lock."""

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
        self.exposed = f"{name}_total" if type_ is MetricType.COUNTER else name
        self.help = help_ or f"{self.exposed} (no help text declared)"
        self.unit = unit
        self.buckets = buckets
        self.internal = internal
        self.series: dict[Labels, _Series] = {}
        self.ordered: list[_Series] | None = None  # series sorted by labels; None after a series is added
        self.overflow: _Series | None = None
        self.fold: _Series | None = None  # this family's series in metrics_cardinality_overflow_total


_UNUSED_LOCK: Final = threading.Lock()


class _Series:
    """One series; hashed by identity so it is a cheap shard key for declared children."""

    __slots__ = ("base", "bounds", "bucket_labels", "family", "frac", "labels", "lock", "rate", "value")

    def __init__(self, family: _Family | None, labels: Labels, sample_rate: float = 1.0) -> None:
        self.family = family
        self.labels = labels
        self.bucket_labels: tuple[
            Labels, ...
        ] = ()  # histograms: labels of each bucket, made on first collect
        self.value = 0.0  # gauges only: counters and histograms live in the per-thread shards
        gauge = family is not None and family.type is MetricType.GAUGE
        self.lock = threading.Lock() if gauge else _UNUSED_LOCK  # gauges' inc/dec
        self.bounds: tuple[float, ...] = family.buckets if family is not None else ()
        self.rate = sample_rate
        # a kept sampled observation weighs base or base + 1, frac of the time: the mean weight is 1 / rate
        weight = 1.0 / sample_rate if sample_rate > 0 else 0.0
        self.base = float(math.floor(weight))
        self.frac = weight - self.base


class _HistogramCell:
    """One thread's counts for one histogram series: non-cumulative buckets (the last is +Inf) and sum."""

    __slots__ = ("base", "bounds", "counts", "frac", "rate", "sum")

    def __init__(self, series: _Series) -> None:
        self.bounds = series.bounds
        self.rate = series.rate
        self.base = series.base
        self.frac = series.frac
        self.counts = [0.0] * (len(series.bounds) + 1)
        self.sum = 0.0


class _Local(threading.local):
    """The calling thread's shard: counter totals and histogram cells keyed by raw key or series."""

    counters: dict[Hashable, float]
    histograms: dict[Hashable, _HistogramCell]


class _Shard:
    """The registry's handle on one thread's shard, so ``collect`` can read it and fold it when it dies."""

    __slots__ = ("counters", "histograms", "thread")

    def __init__(self, thread: threading.Thread) -> None:
        self.thread = thread
        self.counters: dict[Hashable, float] = {}
        self.histograms: dict[Hashable, _HistogramCell] = {}


def _observe_sampled(cell: _HistogramCell, value: float, random: Callable[[], float]) -> None:
    """Keep ``value`` with probability ``rate``, weighted so that the expected counts are unbiased."""
    draw = random()
    if draw >= cell.rate:
        return
    index = bisect_left(cell.bounds, value)
    # given draw < rate, draw / rate is uniform on [0, 1): one draw decides both keeping and the weight
    weight = cell.base + 1.0 if draw < cell.rate * cell.frac else cell.base
    cell.sum += value * weight
    cell.counts[index] += weight


def _label_value(value: object) -> str:
    text = value if isinstance(value, str) else str(value)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates cannot go on the wire
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def _check_label_name(name: object, kind: MetricType) -> str:
    if not isinstance(name, str) or not _LABEL_NAME.fullmatch(name) or name.startswith("__"):
        raise _Rejected("invalid_labels", f"invalid label name {name!r}: use [a-zA-Z_][a-zA-Z0-9_]*, no __")
    if kind is MetricType.HISTOGRAM and name == "le":
        raise _Rejected("invalid_labels", 'histograms reserve the label name "le"')
    return name


def _check_metric_name(name: object) -> str:
    if not isinstance(name, str) or not _METRIC_NAME.fullmatch(name):
        raise _Rejected("invalid_name", f"invalid metric name {name!r}: use [a-zA-Z_:][a-zA-Z0-9_:]*")
    return name


def _base_name(kind: MetricType, name: str) -> str:
    """The family name before processors: counters are named without ``_total`` (OpenMetrics)."""
    if kind is MetricType.COUNTER and name.endswith("_total") and len(name) > len("_total"):
        return name[: -len("_total")]
    return name


def _check_buckets(buckets: Sequence[float]) -> tuple[float, ...]:
    bounds = [float(b) for b in buckets]
    if bounds and bounds[-1] == math.inf:
        bounds.pop()  # +Inf is always there
    if not bounds or any(math.isnan(b) or math.isinf(b) for b in bounds):
        raise ValueError(f"histogram buckets must be finite numbers, at least one: {tuple(buckets)!r}")
    if any(a >= b for a, b in pairwise(bounds)):
        raise ValueError(f"histogram buckets must be strictly increasing: {tuple(buckets)!r}")
    return tuple(bounds)


# -- the registry ------------------------------------------------------------------------------------------


class MetricsRegistry:
    """A thread-safe metrics registry implementing ``MetricsRecorder``, with declared instruments.

    Hot path: ``record_counter(name, 1, {"method": "GET"})`` keys the observation by ``(name,
    tuple(labels.items()))`` as given (the same call site passes the same order) and adds it to the
    calling thread's shard, a plain dict no other thread writes: no lock, no sorting. The first time a
    thread sees a key it takes the slow path: validate, sort labels, run the processors under the lock,
    find or create the series and remember the raw key's route. ``collect()`` sums the shards (shards of
    dead threads are folded into one). Gauges are last-write-wins, stored on the series; their ``inc`` and
    ``dec`` lock the series.

    ``record_*`` never raise: an invalid name, label or value, a type conflict or a processor's
    ``DropSeries`` is counted in ``metrics_dropped_total{reason}`` and dropped. Declaring an instrument
    validates eagerly and raises ``ValueError``.

    Processors, run per new series in this order: ``Namespace(namespace)``, ``HistogramSampling(
    sample_rate)``, then ``processors``, then ``CardinalityLimit(cardinality_limit)`` last so nothing
    escapes it. Observations folded into a metric's ``overflow="true"`` series are counted, each one, in
    ``metrics_cardinality_overflow_total{metric}``; folded observations take the slow path every time, so
    memory stays bounded whatever label values arrive. The two internal counters keep their names whatever
    the namespace and are never limited.

    ``enabled=False`` turns every ``record_*`` into a no-op and makes ``collect()`` return nothing
    (declared instruments still work, unseen).
    """

    def __init__(
        self,
        *,
        namespace: str = "",
        cardinality_limit: int = 1000,
        sample_rate: float = 1.0,
        buckets: Sequence[float] = DEFAULT_BUCKETS,
        random: Callable[[], float] = _random_module.random,
        clock: Clock = SYSTEM_CLOCK,
        processors: Sequence[Processor] = (),
        enabled: bool = True,
    ) -> None:
        self.enabled = enabled
        if not enabled:  # the same object, recording that costs one call and keeps nothing
            for method in (
                "record_counter",
                "record_gauge",
                "record_histogram",
                "record_duration",
                "record_custom",
            ):
                setattr(self, method, _ignore)
        self._processors: tuple[Processor, ...] = (
            Namespace(namespace),
            HistogramSampling(sample_rate),
            *processors,
            CardinalityLimit(cardinality_limit),
        )
        self._buckets = _check_buckets(buckets)
        self._random = random
        self._clock = clock
        self._lock = threading.RLock()  # slow path only; reentrant because processors may record
        self._local = _Local()
        self._shards: list[_Shard] = []
        self._retired_counters: dict[Hashable, float] = {}
        self._retired_histograms: dict[Hashable, list[float]] = {}  # bucket counts, then the sum
        self._counter_routes: dict[Hashable, _Series] = {}
        self._gauge_routes: dict[Hashable, _Series] = {}
        self._histogram_routes: dict[Hashable, _Series] = {}
        self._families: dict[str, _Family] = {}
        self._sample_names: dict[str, _Family] = {}
        self._kinds: dict[str, MetricType] = {}  # base name -> type, as first used or declared
        self._names: dict[str, tuple[str, MetricType]] = {}  # sample name -> the (base, type) using it
        self._declared: dict[str, Counter | Gauge | Histogram] = {}
        self._metadata: dict[str, tuple[str, str]] = {}  # name -> (help, unit) from describe()
        self._overflow_counter = self._internal_family(
            METRICS_CARDINALITY_OVERFLOW,
            'Observations folded into a metric\'s overflow="true" series once it reached its cardinality'
            " limit.",
        )
        self._dropped_counter = self._internal_family(
            METRICS_DROPPED,
            "Observations dropped: invalid name, labels or value, a type conflict, or a processor's choice.",
        )

    @classmethod
    def from_settings(cls, settings: MetricsSettings, *, sample_rate: float = 1.0) -> MetricsRegistry:
        """A registry built from ``monitoring.metrics`` (enabled included) and ``monitoring.sample_rate``."""
        return cls(
            namespace=settings.namespace,
            cardinality_limit=settings.cardinality_limit,
            sample_rate=sample_rate,
            buckets=settings.histogram_buckets,
            enabled=settings.enabled,
        )

    @property
    def processors(self) -> tuple[Processor, ...]:
        """The processors every new series goes through, in order."""
        return self._processors

    # -- MetricsRecorder -----------------------------------------------------------------------------------

    def record_counter(self, name: str, value: float = 1.0, labels: Mapping[str, str] | None = None) -> None:
        """Add ``value`` (>= 0) to the counter ``name`` (``_total`` optional); never raises."""
        try:
            key = (name, tuple(labels.items())) if labels else name
            if value >= 0:
                self._local.counters[key] += value
                return
        except Exception:  # a new thread, a new key or odd input: the slow path sorts it out
            pass
        self._record_counter_slow(name, value, labels)

    def record_gauge(self, name: str, value: float, labels: Mapping[str, str] | None = None) -> None:
        """Set the gauge ``name`` to ``value`` (last write wins); never raises."""
        try:
            key = (name, tuple(labels.items())) if labels else name
            self._gauge_routes[key].value = value + 0.0  # + 0.0: a non-number fails here, not at collect
            return
        except Exception:
            pass
        self._record_gauge_slow(name, value, labels)

    def record_histogram(self, name: str, value: float, labels: Mapping[str, str] | None = None) -> None:
        """Observe ``value`` in the histogram ``name`` (sampled when ``sample_rate`` < 1); never raises."""
        try:
            key = (name, tuple(labels.items())) if labels else name
            cell = self._local.histograms[key]
            # sampled, or NaN (dropped: it would poison the sum); x != x is the NaN test without a call
            if cell.rate < 1.0 or value != value:  # noqa: PLR0124
                self._observe(cell, value)
                return
            index = bisect_left(cell.bounds, value)  # fails for a non-number before anything changes
            cell.sum += value
            cell.counts[index] += 1.0
            return
        except Exception:
            pass
        self._record_histogram_slow(name, value, labels)

    def record_duration(
        self, name: str, duration: float | timedelta, labels: Mapping[str, str] | None = None
    ) -> None:
        """Observe a duration in seconds (a float, or a ``timedelta``) in the histogram ``name``."""
        if isinstance(duration, timedelta):
            duration = duration.total_seconds()
        self.record_histogram(name, duration, labels)

    def record_custom(self, metric: CustomMetric) -> None:
        """Record a fully described metric; its help and unit apply when its family is created."""
        try:
            if (metric.help or metric.unit) and metric.name not in self._metadata:
                self.describe(metric.name, metric.help, metric.unit)
            kind = MetricType(metric.kind)
        except Exception:
            self._drop("invalid_name")
            return
        if kind is MetricType.COUNTER:
            self.record_counter(metric.name, metric.value, metric.labels)
        elif kind is MetricType.GAUGE:
            self.record_gauge(metric.name, metric.value, metric.labels)
        else:
            self.record_histogram(metric.name, metric.value, metric.labels)

    def describe(self, name: str, help: str = "", unit: str = "") -> None:
        """Set help text and unit for ``name``, used when its family is created by a ``record_*`` call.

        An invalid unit (not ``[a-zA-Z0-9_]*``) is ignored. Declared instruments take ``doc`` instead.
        """
        with self._lock:
            self._metadata[name] = (
                str(help),
                unit if isinstance(unit, str) and _UNIT.fullmatch(unit) else "",
            )

    # -- declared instruments ------------------------------------------------------------------------------

    def counter(self, name: str, doc: str = "", labelnames: Sequence[str] = ()) -> Counter:
        """Declare (or get) the counter ``name``; ValueError on a bad name or a conflicting declaration."""
        return self._declare(Counter, name, doc, labelnames, None)

    def gauge(self, name: str, doc: str = "", labelnames: Sequence[str] = ()) -> Gauge:
        """Declare (or get) the gauge ``name``; ValueError on a bad name or a conflicting declaration."""
        return self._declare(Gauge, name, doc, labelnames, None)

    def histogram(
        self, name: str, doc: str = "", labelnames: Sequence[str] = (), buckets: Sequence[float] | None = None
    ) -> Histogram:
        """Declare (or get) the histogram ``name`` with ``buckets`` (default: the registry's)."""
        return self._declare(Histogram, name, doc, labelnames, buckets)

    def timer(self, name: str, labels: Mapping[str, str] | None = None) -> Timer:
        """A context manager and decorator that records elapsed seconds in the histogram ``name``."""
        fixed = dict(labels) if labels else None

        def observe(seconds: float) -> None:
            self.record_histogram(name, seconds, fixed)

        return Timer(observe, self._clock)

    # -- reading -------------------------------------------------------------------------------------------

    def collect(self) -> list[MetricFamily]:
        """Every family with at least one series, sorted by name; series sorted by labels, overflow last."""
        if not self.enabled:
            return []
        with self._lock:
            self._retire_dead_shards()
            counter_maps = [self._retired_counters.copy()]
            counter_maps.extend(shard.counters.copy() for shard in self._shards)
            histogram_maps = [self._retired_histograms.copy()]
            for shard in self._shards:
                histogram_maps.append(
                    {key: [*cell.counts, cell.sum] for key, cell in shard.histograms.copy().items()}
                )
            families = [
                (family, self._ordered(family), family.overflow)
                for _, family in sorted(self._families.items())
            ]
        counters: dict[_Series, float] = {}
        routes = self._counter_routes
        for values in counter_maps:
            for key, value in values.items():
                series = routes[key]
                counters[series] = counters.get(series, 0.0) + value
        histograms: dict[_Series, list[float]] = {}
        routes = self._histogram_routes
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

    def sample_value(self, name: str, labels: Mapping[str, str] | None = None) -> float | None:
        """The value of the sample ``name`` (e.g. ``x_total``, ``x_bucket``) with exactly ``labels``, or None.

        Collects everything: meant for tests and debugging, not for hot paths.
        """
        wanted = tuple(sorted((labels or {}).items()))
        for family in self.collect():
            for sample in family.samples:
                if sample.name == name and sample.labels == wanted:
                    return sample.value
        return None

    # -- SeriesIndex (what processors may ask) ---------------------------------------------------------------

    def series_count(self, name: str) -> int:
        """How many series the family ``name`` has (after processors), its overflow series not included."""
        family = self._families.get(name)
        return 0 if family is None else len(family.series)

    def has_series(self, name: str, labels: Labels) -> bool:
        """True when the family ``name`` already has a series with exactly these sorted labels."""
        family = self._families.get(name)
        return family is not None and labels in family.series

    # -- slow paths ----------------------------------------------------------------------------------------

    def _record_counter_slow(self, name: str, value: object, labels: Mapping[str, str] | None) -> None:
        try:
            amount = float(cast(float, value))
        except (TypeError, ValueError):
            amount = math.nan
        if not amount >= 0:  # negative or NaN
            self._drop("invalid_value")
            return
        resolved = self._resolve(MetricType.COUNTER, name, labels, self._counter_routes)
        if resolved is not None:
            self._add_counter(resolved[0], amount)

    def _record_gauge_slow(self, name: str, value: object, labels: Mapping[str, str] | None) -> None:
        try:
            number = float(cast(float, value))
        except (TypeError, ValueError):
            self._drop("invalid_value")
            return
        resolved = self._resolve(MetricType.GAUGE, name, labels, self._gauge_routes)
        if resolved is not None:
            resolved[1].value = number

    def _record_histogram_slow(self, name: str, value: object, labels: Mapping[str, str] | None) -> None:
        try:
            number = float(cast(float, value))
        except (TypeError, ValueError):
            number = math.nan
        if math.isnan(number):
            self._drop("invalid_value")
            return
        resolved = self._resolve(MetricType.HISTOGRAM, name, labels, self._histogram_routes)
        if resolved is not None:
            self._observe(self._histogram_cell(*resolved), number)

    def _resolve(
        self,
        kind: MetricType,
        name: str,
        labels: Mapping[str, str] | None,
        routes: dict[Hashable, _Series],
    ) -> tuple[Hashable, _Series] | None:
        """The shard key and series for a recorded observation, or None when it is dropped (counted)."""
        try:
            key: Hashable | None = (name, tuple(labels.items())) if labels else name
            hash(key)
        except Exception:
            key = None  # unhashable label values: still recorded, through the slow path every time
        if key is not None and (series := routes.get(key)) is not None:
            return key, series
        with self._lock:
            try:
                series, folded = self._admit_recorded(kind, name, labels)
            except _Rejected as rejected:
                self._drop(rejected.reason)
                return None
            if folded:
                self._count_fold(series)
                return series, series
            if key is None:
                return series, series
            routes[key] = series
            return key, series

    def _admit_recorded(
        self, kind: MetricType, name: str, labels: Mapping[str, str] | None
    ) -> tuple[_Series, bool]:
        base = _base_name(kind, _check_metric_name(name))
        declared = self._declared.get(base)
        try:
            pairs = tuple(
                sorted((_check_label_name(k, kind), _label_value(v)) for k, v in (labels or {}).items())
            )
        except _Rejected:
            raise
        except Exception as exc:
            raise _Rejected("invalid_labels", f"labels must be a mapping of str to str: {exc}") from exc
        if declared is not None:
            if declared.kind is not kind:
                raise _Rejected("type_conflict", f"{name} is declared as a {declared.kind.value}")
            if sorted(k for k, _ in pairs) != sorted(declared.labelnames):
                raise _Rejected("label_mismatch", f"{name} is declared with labels {declared.labelnames}")
            help_, unit, buckets = declared.doc, "", declared.buckets
        else:
            help_, unit = self._metadata.get(name) or self._metadata.get(base) or ("", "")
            buckets = self._buckets
        return self._admit(kind, base, pairs, help_, unit, buckets)

    def _admit(
        self, kind: MetricType, base: str, labels: Labels, help_: str, unit: str, buckets: tuple[float, ...]
    ) -> tuple[_Series, bool]:
        """Run the processors and find or create the series (lock held); True when folded into overflow."""
        self._claim(base, kind)
        draft = SeriesDraft(base, kind, labels)
        try:
            for processor in self._processors:
                draft = processor(self, draft)
        except DropSeries as exc:
            raise _Rejected("dropped_by_processor", f"a processor dropped {base}") from exc
        except Exception as exc:
            raise _Rejected("processor_error", f"a processor failed on {base}: {exc!r}") from exc
        family = self._family(draft.name, kind, help_, unit, buckets)
        if draft.overflow:
            if family.overflow is None:
                family.overflow = self._new_series(family, draft.labels, draft.sample_rate)
            return family.overflow, True
        series = family.series.get(draft.labels)
        if series is None:
            series = family.series[draft.labels] = self._new_series(family, draft.labels, draft.sample_rate)
        return series, False

    def _family(
        self, name: str, kind: MetricType, help_: str, unit: str, buckets: tuple[float, ...]
    ) -> _Family:
        family = self._families.get(name)
        if family is not None:
            if family.type is not kind:
                raise _Rejected("type_conflict", f"{name} is already a {family.type.value}")
            if family.internal:
                raise _Rejected("reserved_name", f"{name} is the registry's own metric")
            return family
        _check_metric_name(name)
        names = [name + suffix for suffix in _SUFFIXES[kind]]
        for sample_name in names:
            other = self._sample_names.get(sample_name)
            if other is not None:
                raise _Rejected("type_conflict", f"{name} would clash with {other.type.value} {other.name}")
        family = self._families[name] = _Family(name, kind, help_, unit, buckets)
        for sample_name in names:
            self._sample_names[sample_name] = family
        return family

    def _internal_family(self, name: str, help_: str) -> _Family:
        family = self._family(_base_name(MetricType.COUNTER, name), MetricType.COUNTER, help_, "", ())
        family.internal = True
        return family

    def _claim(self, base: str, kind: MetricType) -> None:
        """Reserve the sample names ``base`` exposes as a ``kind`` (lock held); _Rejected on a clash."""
        if self._kinds.get(base) is kind:
            return
        names = [base + suffix for suffix in _SUFFIXES[kind]]
        for name in names:
            owner = self._names.get(name)
            if owner is not None and owner != (base, kind):
                other = f"{owner[0]}_total" if owner[1] is MetricType.COUNTER else owner[0]
                raise _Rejected(
                    "type_conflict", f"{base} ({kind.value}) clashes with the {owner[1].value} {other}"
                )
        for name in names:
            self._names[name] = (base, kind)
        self._kinds[base] = kind

    def _routes(self, kind: MetricType) -> dict[Hashable, _Series]:
        if kind is MetricType.COUNTER:
            return self._counter_routes
        return self._gauge_routes if kind is MetricType.GAUGE else self._histogram_routes

    @staticmethod
    def _ordered(family: _Family) -> list[_Series]:
        """The family's series sorted by labels (lock held); sorted again only after series were added."""
        if family.ordered is None:
            family.ordered = [series for _, series in sorted(family.series.items())]
        return family.ordered

    def _new_series(self, family: _Family, labels: Labels, sample_rate: float = 1.0) -> _Series:
        family.ordered = None
        series = _Series(family, labels, sample_rate)
        self._routes(family.type)[series] = series  # children and folds use the series as shard key
        return series

    def _internal_series(self, family: _Family, labels: Labels) -> _Series:
        with self._lock:
            series = family.series.get(labels)
            if series is None:
                series = family.series[labels] = self._new_series(family, labels)
            return series

    def _drop(self, reason: str) -> None:
        self._add_counter(self._internal_series(self._dropped_counter, (("reason", reason),)), 1.0)

    def _fold_series(self, family: _Family) -> _Series:
        """The series of ``metrics_cardinality_overflow_total`` that counts folds into ``family``."""
        if family.fold is None:
            family.fold = self._internal_series(self._overflow_counter, (("metric", family.exposed),))
        return family.fold

    def _count_fold(self, overflow: _Series) -> None:
        family = overflow.family
        if family is not None:
            self._add_counter(self._fold_series(family), 1.0)

    def _shard(self) -> _Local:
        local = self._local
        if not hasattr(local, "counters"):
            shard = _Shard(threading.current_thread())
            with self._lock:
                # fold finished threads' shards here too, so thread churn without scrapes stays bounded
                self._retire_dead_shards()
                self._shards.append(shard)
            local.counters = shard.counters
            local.histograms = shard.histograms
        return local

    def _add_counter(self, key: Hashable, amount: float) -> None:
        counters = self._shard().counters
        counters[key] = counters.get(key, 0.0) + amount

    def _histogram_cell(self, key: Hashable, series: _Series) -> _HistogramCell:
        histograms = self._shard().histograms
        cell = histograms.get(key)
        if cell is None:
            cell = histograms[key] = _HistogramCell(series)
        return cell

    def _observe(self, cell: _HistogramCell, value: float) -> None:
        """Observe off the fast path: NaN is dropped (counted), a sampled histogram samples."""
        if math.isnan(value):
            self._drop("invalid_value")
        elif cell.rate < 1.0:
            _observe_sampled(cell, value, self._random)
        else:
            index = bisect_left(cell.bounds, value)
            cell.sum += value
            cell.counts[index] += 1.0

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

    # -- declaration ---------------------------------------------------------------------------------------

    def _declare(
        self,
        cls: type[InstrumentT],
        name: str,
        doc: str,
        labelnames: Sequence[str],
        buckets: Sequence[float] | None,
    ) -> InstrumentT:
        kind = cls.kind
        if isinstance(labelnames, str):
            raise ValueError(f"{name}: labelnames must be a sequence of names, not the string {labelnames!r}")
        try:
            base = _base_name(kind, _check_metric_name(name))
            names = tuple(_check_label_name(label, kind) for label in labelnames)
        except _Rejected as rejected:
            raise ValueError(str(rejected)) from None
        if len(set(names)) != len(names):
            raise ValueError(f"{name}: duplicate label names in {names}")
        bounds = self._buckets if buckets is None else _check_buckets(buckets)
        with self._lock:
            existing = self._declared.get(base)
            if existing is not None:
                if not isinstance(existing, cls):
                    raise ValueError(
                        f"{name} is already declared as a {existing.kind.value}, not a {kind.value}"
                    )
                if existing.labelnames != names:
                    raise ValueError(
                        f"{name} is already declared with labels {existing.labelnames}, not {names}"
                    )
                if buckets is not None and existing.buckets != bounds:
                    raise ValueError(f"{name} is already declared with buckets {existing.buckets}")
                return existing
            try:
                self._claim(base, kind)
            except _Rejected as rejected:
                raise ValueError(str(rejected)) from None
            instrument = cls(self, base, str(doc), names, bounds)
            if not names:
                instrument._unlabelled = instrument._child(())
            self._declared[base] = instrument
            return instrument

    def _declared_series(
        self, instrument: _Instrument[ChildT], values: tuple[object, ...]
    ) -> tuple[_Series, bool]:
        """Admit one child's series; a processor's drop gives a series no family shows (counted)."""
        labels = tuple(sorted(zip(instrument.labelnames, map(_label_value, values), strict=True)))
        with self._lock:
            try:
                return self._admit(
                    instrument.kind, instrument.name, labels, instrument.doc, "", instrument.buckets
                )
            except _Rejected as rejected:
                if rejected.reason not in {"dropped_by_processor", "processor_error"}:
                    raise ValueError(str(rejected)) from None
                self._drop(rejected.reason)
                void = _Series(None, labels)  # recorded into, never shown
                self._routes(instrument.kind)[void] = void
                return void, False


def _ignore(*args: object, **kwargs: object) -> None:
    """What every ``record_*`` is on a disabled registry."""


def _histogram_samples(
    family: _Family, members: list[_Series], histograms: dict[_Series, list[float]]
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


# -- instruments -------------------------------------------------------------------------------------------

ChildT = TypeVar("ChildT", "CounterChild", "GaugeChild", "HistogramChild")


class _Instrument(abc.ABC, Generic[ChildT]):
    """What the three declared instruments share: label handling and the children cache."""

    kind: ClassVar[MetricType]
    __slots__ = ("_children", "_registry", "_unlabelled", "buckets", "doc", "labelnames", "name")

    def __init__(
        self,
        registry: MetricsRegistry,
        name: str,
        doc: str,
        labelnames: tuple[str, ...],
        buckets: tuple[float, ...],
    ) -> None:
        self._registry = registry
        self.name = name
        self.doc = doc
        self.labelnames = labelnames
        self.buckets = buckets
        self._children: dict[tuple[object, ...], ChildT] = {}
        self._unlabelled: ChildT | None = None

    def __repr__(self) -> str:
        """``Counter('http_requests', labelnames=('method',))``."""
        return f"{type(self).__name__}({self.name!r}, labelnames={self.labelnames!r})"

    def labels(self, *values: str, **kv: str) -> ChildT:
        """The child for these label values, by position or by name; cached, so keep it on hot paths.

        Raises ValueError when the values do not match ``labelnames``. Past the cardinality limit the child
        records into the overflow series and is not cached.
        """
        if kv:
            if values or len(kv) != len(self.labelnames):
                raise ValueError(f"{self.name} takes the labels {self.labelnames}, got {values or ''}{kv}")
            try:
                values = tuple(kv[name] for name in self.labelnames)
            except KeyError:
                raise ValueError(f"{self.name} takes the labels {self.labelnames}, got {kv}") from None
        child = self._children.get(values)
        if child is None:
            child = self._child(values)
        return child

    def _child(self, values: tuple[object, ...]) -> ChildT:
        if len(values) != len(self.labelnames):
            raise ValueError(
                f"{self.name} takes {len(self.labelnames)} label values {self.labelnames}, got {values}"
            )
        series, folded = self._registry._declared_series(self, values)
        child = self._make(series, folded)
        if not folded:
            child = self._children.setdefault(values, child)
        return child

    def _default(self) -> ChildT:
        if self._unlabelled is None:
            raise ValueError(f"{self.name} has labels {self.labelnames}: call .labels(...) first")
        return self._unlabelled

    @abc.abstractmethod
    def _make(self, series: _Series, folded: bool) -> ChildT:
        """The child object of this instrument's kind for ``series``."""


InstrumentT = TypeVar("InstrumentT", "Counter", "Gauge", "Histogram")


class CounterChild:
    """One series of a declared counter: ``inc`` is a single dict update in the caller's shard."""

    __slots__ = ("_key", "_local", "_registry")

    def __init__(self, registry: MetricsRegistry, series: _Series) -> None:
        self._registry = registry
        self._local = registry._local
        self._key = series

    def inc(self, amount: float = 1.0) -> None:
        """Add ``amount``; raises ValueError when it is negative (counters only go up)."""
        if amount >= 0:
            try:
                self._local.counters[self._key] += amount
            except (AttributeError, KeyError):  # first increment in this thread
                self._registry._add_counter(self._key, amount)
            return
        raise ValueError(f"a counter only goes up: cannot add {amount!r}")


class _FoldedCounterChild(CounterChild):
    """A child past the cardinality limit: it adds to the overflow series and counts each fold."""

    __slots__ = ()

    def inc(self, amount: float = 1.0) -> None:
        """Add ``amount`` to the overflow series and count the fold."""
        super().inc(amount)
        self._registry._count_fold(self._key)


class Counter(_Instrument[CounterChild]):
    """A declared counter: ``inc()`` without labels, or ``labels(...).inc()``."""

    kind: ClassVar[MetricType] = MetricType.COUNTER
    __slots__ = ()

    def inc(self, amount: float = 1.0) -> None:
        """Add ``amount`` to the unlabelled counter; raises ValueError when it has labels or amount < 0."""
        self._default().inc(amount)

    def _make(self, series: _Series, folded: bool) -> CounterChild:
        return (_FoldedCounterChild if folded else CounterChild)(self._registry, series)


class GaugeChild:
    """One series of a declared gauge: ``set`` is one store; ``inc`` and ``dec`` lock the series."""

    __slots__ = ("_folded", "_registry", "_series")

    def __init__(self, registry: MetricsRegistry, series: _Series, folded: bool) -> None:
        self._registry = registry
        self._series = series
        self._folded = folded

    def set(self, value: float) -> None:
        """Set the gauge to ``value``."""
        self._series.value = float(value)
        if self._folded:
            self._registry._count_fold(self._series)

    def inc(self, amount: float = 1.0) -> None:
        """Add ``amount`` (may be negative)."""
        series = self._series
        with series.lock:
            series.value += float(amount)
        if self._folded:
            self._registry._count_fold(series)

    def dec(self, amount: float = 1.0) -> None:
        """Subtract ``amount``."""
        self.inc(-float(amount))


class Gauge(_Instrument[GaugeChild]):
    """A declared gauge: ``set``/``inc``/``dec`` without labels, or through ``labels(...)``."""

    kind: ClassVar[MetricType] = MetricType.GAUGE
    __slots__ = ()

    def set(self, value: float) -> None:
        """Set the unlabelled gauge to ``value``."""
        self._default().set(value)

    def inc(self, amount: float = 1.0) -> None:
        """Add ``amount`` to the unlabelled gauge."""
        self._default().inc(amount)

    def dec(self, amount: float = 1.0) -> None:
        """Subtract ``amount`` from the unlabelled gauge."""
        self._default().dec(amount)

    def _make(self, series: _Series, folded: bool) -> GaugeChild:
        return GaugeChild(self._registry, series, folded)


class HistogramChild:
    """One series of a declared histogram: ``observe`` updates the caller's shard, ``time()`` times."""

    __slots__ = ("_key", "_local", "_registry")

    def __init__(self, registry: MetricsRegistry, series: _Series) -> None:
        self._registry = registry
        self._local = registry._local
        self._key = series

    def observe(self, value: float) -> None:
        """Observe ``value`` (sampled when the registry's ``sample_rate`` < 1; NaN is dropped and counted)."""
        try:
            cell = self._local.histograms[self._key]
        except (AttributeError, KeyError):  # first observation in this thread
            cell = self._registry._histogram_cell(self._key, self._key)
        # sampled, or NaN (dropped and counted); x != x is the NaN test without a call
        if cell.rate < 1.0 or value != value:  # noqa: PLR0124
            self._registry._observe(cell, value)
            return
        index = bisect_left(cell.bounds, value)
        cell.sum += value
        cell.counts[index] += 1.0

    def time(self) -> Timer:
        """A context manager and decorator observing the elapsed seconds."""
        return Timer(self.observe, self._registry._clock)


class _FoldedHistogramChild(HistogramChild):
    """A child past the cardinality limit: it observes into the overflow series and counts each fold."""

    __slots__ = ()

    def observe(self, value: float) -> None:
        """Observe into the overflow series and count the fold."""
        super().observe(value)
        self._registry._count_fold(self._key)


class Histogram(_Instrument[HistogramChild]):
    """A declared histogram: ``observe``/``time`` without labels, or through ``labels(...)``."""

    kind: ClassVar[MetricType] = MetricType.HISTOGRAM
    __slots__ = ()

    def observe(self, value: float) -> None:
        """Observe ``value`` in the unlabelled histogram."""
        self._default().observe(value)

    def time(self) -> Timer:
        """Time a block or a function into the unlabelled histogram."""
        return self._default().time()

    def _make(self, series: _Series, folded: bool) -> HistogramChild:
        return (_FoldedHistogramChild if folded else HistogramChild)(self._registry, series)


class Timer:
    """Records elapsed seconds: ``with timer:`` around a block, or ``@timer`` on a function (sync or async).

    As a decorator each call is timed on its own, from any thread. As a context manager, nested ``with``
    blocks on one Timer work; create one Timer per block when several threads time at once.
    """

    __slots__ = ("_clock", "_observe", "_starts")

    def __init__(self, observe: Callable[[float], None], clock: Clock = SYSTEM_CLOCK) -> None:
        self._observe = observe
        self._clock = clock
        self._starts: list[float] = []

    def __enter__(self) -> Timer:
        """Start timing."""
        self._starts.append(self._clock.now())
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Record the seconds since ``__enter__``, whether the block raised or not."""
        self._observe(max(0.0, self._clock.now() - self._starts.pop()))

    def __call__(self, fn: Callable[P, R]) -> Callable[P, R]:
        """Wrap ``fn`` so that each call (each await, for a coroutine function) is timed."""
        clock, observe = self._clock, self._observe
        if inspect.iscoroutinefunction(fn):
            return cast(Callable[P, R], _time_async(cast(Callable[P, Awaitable[object]], fn), clock, observe))

        @wraps(fn)
        def timed(*args: P.args, **kwargs: P.kwargs) -> R:
            start = clock.now()
            try:
                return fn(*args, **kwargs)
            finally:
                observe(max(0.0, clock.now() - start))

        return timed


def _time_async(
    fn: Callable[P, Awaitable[T]], clock: Clock, observe: Callable[[float], None]
) -> Callable[P, Coroutine[object, object, T]]:
    @wraps(fn)
    async def timed(*args: P.args, **kwargs: P.kwargs) -> T:
        start = clock.now()
        try:
            return await fn(*args, **kwargs)
        finally:
            observe(max(0.0, clock.now() - start))

    return timed
