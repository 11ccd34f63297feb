"""The in-process metrics registry: the MetricsRecorder calls, declared instruments and registered collectors.

Recording is a dict update in the calling thread's own shard; new series take a locked slow path (processors).
``NullMetricsRegistry`` is the same surface keeping nothing, for disabled metrics.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Callable, Hashable, Mapping, Sequence
from datetime import timedelta
from operator import attrgetter
from typing import TYPE_CHECKING, ClassVar, TypeVar, cast

from sharedconfig.clock import SYSTEM_CLOCK, Clock
from sharedconfig.interfaces import CustomMetric
from sharedconfig.monitoring.metrics.collectors import Collectors
from sharedconfig.monitoring.metrics.instruments import (
    NULL_CHILDREN,
    NULL_TIMER,
    Counter,
    CounterChild,
    Gauge,
    GaugeChild,
    Histogram,
    HistogramChild,
    Instrument,
    RecordingChildren,
    Timer,
)
from sharedconfig.monitoring.metrics.model import (
    GAUGE_MODES,
    Collector,
    GaugeMode,
    Labels,
    MetricFamily,
    MetricType,
)
from sharedconfig.monitoring.metrics.naming import (
    DEFAULT_BUCKETS,
    Rejected,
    base_name,
    check_buckets,
    check_conventions,
    check_declaration,
    check_label_name,
    check_metric_name,
    check_unit,
    default_buckets,
    label_value,
    sample_names,
)
from sharedconfig.monitoring.metrics.processors import (
    CardinalityLimit,
    DropSeries,
    Namespace,
    Processor,
    SeriesDraft,
)
from sharedconfig.monitoring.metrics.storage import Series, Storage
from sharedconfig.monitoring.names import METRICS_DROPPED

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
    "NullMetricsRegistry",
    "Timer",
]

InstrumentT = TypeVar("InstrumentT", Counter, Gauge, Histogram)
_PROCESSOR_DROPS = frozenset({"dropped_by_processor", "processor_error"})
_INF = float("inf")


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

    Processors, run per new series in this order: ``Namespace(namespace)``, then ``processors``, then
    ``CardinalityLimit(cardinality_limit)`` last so nothing escapes it. Observations folded into a
    metric's ``overflow="true"`` series are counted, each one, in
    ``metrics_cardinality_overflow_total{metric}``; folded observations take the slow path every time, so
    memory stays bounded whatever label values arrive. The two internal counters keep their names whatever
    the namespace and are never limited.

    The number of metric names is bounded too: past ``max_families`` a ``record_*`` call with a new name
    is dropped (``metrics_dropped_total{reason="family_limit"}``), and ``warn`` hears of it once, naming
    the first name refused; names already in use keep recording. Declared instruments (code, not data)
    are never refused, but count towards the budget.

    ``register(collector)`` adds a collector's families to every ``collect()`` (processors do not touch
    them). ``MetricsRegistry(enabled=False, ...)`` is a ``NullMetricsRegistry``.
    """

    enabled: ClassVar[bool] = True
    """False for the null registry: nothing recorded is kept."""

    def __new__(cls, *, enabled: bool = True, **options: object) -> MetricsRegistry:
        """A new registry; with ``enabled=False`` a ``NullMetricsRegistry`` (the other options ignored)."""
        return object.__new__(cls if enabled else NullMetricsRegistry)

    def __init__(
        self,
        *,
        namespace: str = "",
        cardinality_limit: int = 1000,
        buckets: Sequence[float] = DEFAULT_BUCKETS,
        clock: Clock = SYSTEM_CLOCK,
        processors: Sequence[Processor] = (),
        enabled: bool = True,
        max_families: int = 10000,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        # ``enabled`` was read by __new__: this registry records, a disabled one is a NullMetricsRegistry
        if max_families < 1:
            raise ValueError(f"max_families must be at least 1, not {max_families!r}")
        self._max_families = max_families
        self._warn = warn
        self._warned = False
        self._namespace = namespace
        self._processors: tuple[Processor, ...] = (
            Namespace(namespace),
            *processors,
            CardinalityLimit(cardinality_limit),
        )
        self._buckets = check_buckets(buckets)
        self._clock = clock
        self._storage = storage = Storage()
        self._lock = storage.lock  # the slow path's lock
        # the record_* fast paths read these with one attribute lookup each (bench/metrics_hot_path.py)
        self._local = storage.local
        self._gauge_routes = storage.gauge_routes
        self._kinds: dict[str, MetricType] = {}  # base name -> type, as first used or declared
        self._names: dict[str, tuple[str, MetricType]] = {}  # sample name -> the (base, type) using it
        self._declared: dict[str, Instrument] = {}
        self._gauge_modes: dict[str, GaugeMode] = {}  # declared gauges' multiprocess_mode, by base name
        self._metadata: dict[str, tuple[str, str]] = {}  # name -> (help, unit) from describe()
        self._bounds: dict[str, tuple[float, ...]] = {}  # histogram base name -> buckets, the first wins
        self._children = RecordingChildren(storage, clock, self._declared_series)
        self._collectors = Collectors(storage)

    @classmethod
    def from_settings(
        cls,
        settings: MetricsSettings,
        *,
        clock: Clock = SYSTEM_CLOCK,
        enabled: bool = True,
        warn: Callable[[str], None] | None = None,
    ) -> MetricsRegistry:
        """A registry built from ``monitoring.metrics`` (``monitoring.sample_rate`` is not for metrics).

        A ``NullMetricsRegistry`` when ``settings.enabled`` is false or ``enabled`` (``monitoring.enabled``)
        is.
        """
        return cls(
            namespace=settings.namespace,
            cardinality_limit=settings.cardinality_limit,
            buckets=settings.histogram_buckets,
            clock=clock,
            enabled=settings.enabled and enabled,
            max_families=settings.max_families,
            warn=warn,
        )

    @property
    def processors(self) -> tuple[Processor, ...]:
        """The processors every new series goes through, in order."""
        return self._processors

    @property
    def namespace(self) -> str:
        """The prefix ``Namespace`` puts on every family name ("" for none)."""
        return self._namespace

    # -- MetricsRecorder -----------------------------------------------------------------------------------

    def record_counter(self, name: str, value: float = 1.0, labels: Mapping[str, str] | None = None) -> None:
        """Add ``value`` (finite, >= 0) to the counter ``name`` (``_total`` optional); never raises."""
        try:
            key = (name, tuple(labels.items())) if labels else name
            if 0 <= value < _INF:
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

    def record_histogram(
        self,
        name: str,
        value: float,
        labels: Mapping[str, str] | None = None,
        *,
        buckets: Sequence[float] | None = None,
    ) -> None:
        """Observe ``value`` in the histogram ``name`` (every observation counts); never raises.

        ``buckets`` apply when this call creates the histogram (default: ``SIZE_BUCKETS`` for
        ``*_bytes``, the registry's ``buckets`` for the rest); the first declaration or call wins, and a
        later call with other buckets is dropped and counted (``bucket_conflict``). Pass a tuple: it is
        compared with the histogram's buckets on every call.
        """
        try:
            key = (name, tuple(labels.items())) if labels else name
            cell = self._local.histograms[key]
            # NaN is dropped (it would poison the sum); x != x is the NaN test without a call
            if value != value or (buckets is not None and buckets != cell.bounds):  # noqa: PLR0124
                raise LookupError  # the slow path checks the buckets and counts what it drops
            index = bisect_left(cell.bounds, value)  # fails for a non-number before anything changes
            cell.sum += value
            cell.counts[index] += 1.0
            return
        except Exception:
            pass
        self._record_histogram_slow(name, value, labels, buckets)

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
            self._storage.drop("invalid_name")
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
            self._metadata[name] = (str(help), check_unit(unit))

    # -- declared instruments ------------------------------------------------------------------------------

    def counter(self, name: str, doc: str = "", labelnames: Sequence[str] = ()) -> Counter:
        """Declare (or get) the counter ``name``; ValueError on a bad name or a conflicting declaration."""
        return self._declare(Counter, name, doc, labelnames, None)

    def gauge(
        self,
        name: str,
        doc: str = "",
        labelnames: Sequence[str] = (),
        multiprocess_mode: GaugeMode | None = None,
    ) -> Gauge:
        """Declare (or get) the gauge ``name``; ValueError on a bad name or a conflicting declaration.

        ``multiprocess_mode`` says how its values from several worker processes merge (``GaugeMode``;
        default ``all``, one series per live process with a ``pid`` label); it matters only with
        ``monitoring.metrics.multiprocess_dir``.
        """
        if multiprocess_mode is not None and multiprocess_mode not in GAUGE_MODES:
            raise ValueError(f"multiprocess_mode must be one of {GAUGE_MODES}, not {multiprocess_mode!r}")
        return self._declare(Gauge, name, doc, labelnames, None, multiprocess_mode)

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

    # -- collectors ----------------------------------------------------------------------------------------

    def register(self, collector: Collector) -> None:
        """Add ``collector``'s families to every ``collect()`` (so to ``/metrics`` and every exporter).

        Its families are collected once now and their sample names reserved, as prometheus_client does:
        ValueError when one is taken (by a family of this registry or another collector), and later
        ``record_*`` calls (dropped, ``reserved_name``) or declarations (ValueError) of a reserved name
        are refused. A family a collector shows only later is kept unless it clashes; a clashing one is
        left out of that collection and counted (``collector_conflict``), as is a collector that raises
        (``collector_error``). ValueError when ``collector`` is registered already.
        """
        self._collectors.register(collector)

    def unregister(self, collector: Collector) -> None:
        """Stop collecting ``collector`` and free its names; ValueError when it is not registered."""
        self._collectors.unregister(collector)

    # -- reading -------------------------------------------------------------------------------------------

    @property
    def gauge_modes(self) -> Mapping[str, GaugeMode]:
        """The ``multiprocess_mode`` of each gauge declared with one, by family name (namespace included)."""
        prefix = f"{self._namespace}_" if self._namespace else ""
        return {f"{prefix}{name}": mode for name, mode in self._gauge_modes.items()}

    def gauge_stamps(self) -> dict[tuple[str, Labels], float]:
        """When each series of a ``mostrecent`` gauge last changed (wall seconds), by (family, labels)."""
        return self._storage.gauge_stamps()

    def overflowed(self) -> list[str]:
        """The metrics that hit their cardinality limit (an overflow series exists), by exposed name."""
        return self._storage.overflowed()

    def reset_values(self) -> None:
        """Zero every value, keeping families, series and instruments: what a forked child in
        multiprocess mode does, so that it does not count its parent's observations again."""
        self._storage.reset_values()

    def collect(self) -> list[MetricFamily]:
        """Every family with at least one series and every collector's, sorted by name.

        Series are sorted by labels, overflow last.
        """
        families = self._storage.collect()
        if self._collectors:  # no cost for a registry without collectors (bench/exposition.py)
            families.extend(self._collectors.collect())
            families.sort(key=attrgetter("name"))
        return families

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
        return self._storage.series_count(name)

    def has_series(self, name: str, labels: Labels) -> bool:
        """True when the family ``name`` already has a series with exactly these sorted labels."""
        return self._storage.has_series(name, labels)

    # -- slow paths ----------------------------------------------------------------------------------------

    def _record_counter_slow(self, name: str, value: object, labels: Mapping[str, str] | None) -> None:
        try:
            amount = float(cast(float, value))
        except (TypeError, ValueError):
            amount = math.nan
        if not 0 <= amount < _INF:  # negative, infinite or NaN
            self._storage.drop("invalid_value")
            return
        resolved = self._resolve(MetricType.COUNTER, name, labels, self._storage.counter_routes)
        if resolved is not None:
            self._storage.add_counter(resolved[0], amount)

    def _record_gauge_slow(self, name: str, value: object, labels: Mapping[str, str] | None) -> None:
        try:
            number = float(cast(float, value))
        except (TypeError, ValueError):
            self._storage.drop("invalid_value")
            return
        resolved = self._resolve(MetricType.GAUGE, name, labels, self._storage.gauge_routes)
        if resolved is not None:
            resolved[1].value = number

    def _record_histogram_slow(
        self,
        name: str,
        value: object,
        labels: Mapping[str, str] | None,
        buckets: Sequence[float] | None,
    ) -> None:
        try:
            number = float(cast(float, value))
        except (TypeError, ValueError):
            number = math.nan
        if math.isnan(number):
            self._storage.drop("invalid_value")
            return
        wanted = None
        if buckets is not None:
            try:
                wanted = check_buckets(buckets)
            except Exception:
                self._storage.drop("invalid_buckets")
                return
        routes = self._storage.histogram_routes
        resolved = self._resolve(MetricType.HISTOGRAM, name, labels, routes, wanted)
        if resolved is None:
            return
        if wanted is not None and wanted != resolved[1].bounds:
            self._storage.drop("bucket_conflict")
            return
        self._storage.observe(self._storage.histogram_cell(*resolved), number)

    def _resolve(
        self,
        kind: MetricType,
        name: str,
        labels: Mapping[str, str] | None,
        routes: dict[Hashable, Series],
        buckets: tuple[float, ...] | None = None,
    ) -> tuple[Hashable, Series] | None:
        """The shard key and series for a recorded observation, or None when it is dropped (counted).

        ``buckets`` (histograms) are the ones to create the histogram with, when it is new.
        """
        try:
            key: Hashable | None = (name, tuple(labels.items())) if labels else name
            hash(key)
        except Exception:
            key = None  # unhashable label values: still recorded, through the slow path every time
        if key is not None and (series := routes.get(key)) is not None:
            return key, series
        with self._lock:
            try:
                series, folded = self._admit_recorded(kind, name, labels, buckets)
            except Rejected as rejected:
                self._storage.drop(rejected.reason)
                warn_now = rejected.reason == "family_limit" and not self._warned
                self._warned = self._warned or warn_now
            else:
                if folded:
                    self._storage.count_fold(series)
                    return series, series
                if key is None:
                    return series, series
                routes[key] = series
                return key, series
        if warn_now and self._warn is not None:  # once, and outside the lock (the logger may record)
            self._warn(
                f"metric {name!r} refused: metrics.max_families ({self._max_families}) names are in use; "
                'later refusals are counted in metrics_dropped_total{reason="family_limit"}'
            )
        return None

    def _admit_recorded(
        self,
        kind: MetricType,
        name: str,
        labels: Mapping[str, str] | None,
        buckets: tuple[float, ...] | None,
    ) -> tuple[Series, bool]:
        base = check_conventions(kind, base_name(kind, check_metric_name(name)))
        declared = self._declared.get(base)
        try:
            pairs = tuple(
                sorted((check_label_name(k, kind), label_value(v)) for k, v in (labels or {}).items())
            )
        except Rejected:
            raise
        except Exception as exc:
            raise Rejected("invalid_labels", f"labels must be a mapping of str to str: {exc}") from exc
        if declared is not None:
            if declared.kind is not kind:
                raise Rejected("type_conflict", f"{name} is declared as a {declared.kind.value}")
            if sorted(k for k, _ in pairs) != sorted(declared.labelnames):
                raise Rejected("label_mismatch", f"{name} is declared with labels {declared.labelnames}")
            help_, unit, buckets = declared.doc, "", declared.buckets
        else:
            help_, unit = self._metadata.get(name) or self._metadata.get(base) or ("", "")
            if kind is MetricType.HISTOGRAM:
                buckets = self._bounds.get(base) or buckets or default_buckets(base, self._buckets)
        if base not in self._kinds and len(self._kinds) >= self._max_families:
            raise Rejected("family_limit", f"{name}: metrics.max_families ({self._max_families}) reached")
        return self._admit(kind, base, pairs, help_, unit, buckets or ())

    def _admit(
        self, kind: MetricType, base: str, labels: Labels, help_: str, unit: str, buckets: tuple[float, ...]
    ) -> tuple[Series, bool]:
        """Run the processors and find or create the series (lock held); True when folded into overflow."""
        self._claim(base, kind)
        draft = SeriesDraft(base, kind, labels)
        try:
            for processor in self._processors:
                draft = processor(self._storage, draft)
        except DropSeries as exc:
            raise Rejected("dropped_by_processor", f"a processor dropped {base}") from exc
        except Exception as exc:
            raise Rejected("processor_error", f"a processor failed on {base}: {exc!r}") from exc
        admitted = self._storage.admit(draft, help_, unit, buckets)
        if kind is MetricType.HISTOGRAM:
            self._bounds.setdefault(base, admitted[0].bounds)
        return admitted

    def _claim(self, base: str, kind: MetricType) -> None:
        """Reserve the sample names ``base`` exposes as a ``kind`` (lock held); Rejected on a clash."""
        if self._kinds.get(base) is kind:
            return
        names = sample_names(base, kind)
        for name in names:
            owner = self._names.get(name)
            if owner is not None and owner != (base, kind):
                other = f"{owner[0]}_total" if owner[1] is MetricType.COUNTER else owner[0]
                raise Rejected(
                    "type_conflict", f"{base} ({kind.value}) clashes with the {owner[1].value} {other}"
                )
        for name in names:
            self._names[name] = (base, kind)
        self._kinds[base] = kind

    # -- declaration ---------------------------------------------------------------------------------------

    def _declare(
        self,
        cls: type[InstrumentT],
        name: str,
        doc: str,
        labelnames: Sequence[str],
        buckets: Sequence[float] | None,
        mode: GaugeMode | None = None,
    ) -> InstrumentT:
        kind = cls.kind
        base, names = check_declaration(kind, name, labelnames)
        wanted = None if buckets is None else check_buckets(buckets)
        with self._lock:
            first = self._bounds.get(base)  # recorded before it was declared
            if wanted is not None and first is not None and wanted != first:
                raise ValueError(f"{name} is already recorded with buckets {first}, not {wanted}")
            bounds = wanted or first or default_buckets(base, self._buckets)
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
                declared_mode = self._gauge_modes.get(base, "all")
                if mode is not None and declared_mode != mode:
                    raise ValueError(f"{name} is already declared with multiprocess_mode {declared_mode!r}")
                return existing
            try:
                self._claim(base, kind)
            except Rejected as rejected:
                raise ValueError(str(rejected)) from None
            if mode is not None:
                self._gauge_modes[base] = mode
                if mode == "mostrecent":  # before the instrument: an unlabelled one makes its child now
                    self._children.stamped.add(base)
            instrument = cls(self._children, base, str(doc), names, bounds)
            self._declared[base] = instrument
            if kind is MetricType.HISTOGRAM:
                self._bounds.setdefault(base, bounds)
            return instrument

    def _declared_series(
        self, instrument: Instrument, values: tuple[object, ...]
    ) -> tuple[Series, bool] | None:
        """Admit one child's series; None when a processor dropped it (counted)."""
        labels = tuple(sorted(zip(instrument.labelnames, map(label_value, values), strict=True)))
        with self._lock:
            try:
                return self._admit(
                    instrument.kind, instrument.name, labels, instrument.doc, "", instrument.buckets
                )
            except Rejected as rejected:
                if rejected.reason not in _PROCESSOR_DROPS:
                    raise ValueError(str(rejected)) from None
                self._storage.drop(rejected.reason)
                return None


class NullMetricsRegistry(MetricsRegistry):
    """A registry that keeps nothing: the ``MetricsRecorder`` calls and the registry's surface, as no-ops.

    What disabled metrics get (``monitoring.enabled`` or ``metrics.enabled`` false): ``record_*`` return
    at once; declared instruments check their name and labels as a recording registry does and hand out
    children that record nothing; ``timer`` times nothing; ``collect()`` is empty and ``register`` keeps
    no collector. ``MetricsRegistry(enabled=False, ...)`` builds one, as does ``from_settings``.
    """

    enabled: ClassVar[bool] = False

    def __init__(self, **options: object) -> None:
        """Ignore ``MetricsRegistry``'s options: ``MetricsRegistry(enabled=False, ...)`` lands here."""

    @property
    def processors(self) -> tuple[Processor, ...]:
        """None: no series is ever made."""
        return ()

    @property
    def namespace(self) -> str:
        """No namespace."""
        return ""

    def record_counter(self, name: str, value: float = 1.0, labels: Mapping[str, str] | None = None) -> None:
        """Keep nothing."""

    def record_gauge(self, name: str, value: float, labels: Mapping[str, str] | None = None) -> None:
        """Keep nothing."""

    def record_histogram(
        self,
        name: str,
        value: float,
        labels: Mapping[str, str] | None = None,
        *,
        buckets: Sequence[float] | None = None,
    ) -> None:
        """Keep nothing."""

    def record_duration(
        self, name: str, duration: float | timedelta, labels: Mapping[str, str] | None = None
    ) -> None:
        """Keep nothing."""

    def record_custom(self, metric: CustomMetric) -> None:
        """Keep nothing."""

    def describe(self, name: str, help: str = "", unit: str = "") -> None:
        """Keep nothing."""

    def counter(self, name: str, doc: str = "", labelnames: Sequence[str] = ()) -> Counter:
        """A counter whose children record nothing; ValueError on a bad name or labels."""
        return Counter(NULL_CHILDREN, *_null_declaration(MetricType.COUNTER, name, doc, labelnames, None))

    def gauge(
        self,
        name: str,
        doc: str = "",
        labelnames: Sequence[str] = (),
        multiprocess_mode: GaugeMode | None = None,
    ) -> Gauge:
        """A gauge whose children record nothing; ValueError on a bad name or labels."""
        return Gauge(NULL_CHILDREN, *_null_declaration(MetricType.GAUGE, name, doc, labelnames, None))

    def histogram(
        self, name: str, doc: str = "", labelnames: Sequence[str] = (), buckets: Sequence[float] | None = None
    ) -> Histogram:
        """A histogram whose children record nothing; ValueError on a bad name, labels or buckets."""
        declaration = _null_declaration(MetricType.HISTOGRAM, name, doc, labelnames, buckets)
        return Histogram(NULL_CHILDREN, *declaration)

    def timer(self, name: str, labels: Mapping[str, str] | None = None) -> Timer:
        """A timer that reads no clock and records nothing."""
        return NULL_TIMER

    def register(self, collector: Collector) -> None:
        """Keep nothing: a disabled registry collects nothing."""

    def unregister(self, collector: Collector) -> None:
        """Nothing was kept."""

    @property
    def gauge_modes(self) -> Mapping[str, GaugeMode]:
        """None: nothing is kept."""
        return {}

    def gauge_stamps(self) -> dict[tuple[str, Labels], float]:
        """None: nothing is kept."""
        return {}

    def overflowed(self) -> list[str]:
        """None: nothing is kept."""
        return []

    def reset_values(self) -> None:
        """Nothing to reset."""

    def collect(self) -> list[MetricFamily]:
        """Nothing."""
        return []

    def sample_value(self, name: str, labels: Mapping[str, str] | None = None) -> float | None:
        """None: nothing is kept."""
        return None

    def series_count(self, name: str) -> int:
        """0."""
        return 0

    def has_series(self, name: str, labels: Labels) -> bool:
        """False."""
        return False


def _null_declaration(
    kind: MetricType, name: str, doc: str, labelnames: Sequence[str], buckets: Sequence[float] | None
) -> tuple[str, str, tuple[str, ...], tuple[float, ...]]:
    """A declaration checked as a recording registry checks it: (name, doc, labelnames, buckets)."""
    base, names = check_declaration(kind, name, labelnames)
    bounds = default_buckets(base, DEFAULT_BUCKETS) if buckets is None else check_buckets(buckets)
    return base, str(doc), names, bounds
