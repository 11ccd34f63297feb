"""Tests for sharedconfig.monitoring.metrics.registry: recording, processors, and the null registry.

Includes the MetricsRecorder contract; instruments, shards and collectors have their
own files (test_instruments.py, test_storage.py, test_collectors.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import timedelta

import pytest
from registry_reads import GET, dropped, family, folds

from sharedconfig.interfaces import CustomMetric, MetricKind, MetricsRecorder
from sharedconfig.monitoring.metrics.model import MetricFamily, MetricType, Sample
from sharedconfig.monitoring.metrics.processors import DropSeries, SeriesDraft, SeriesIndex
from sharedconfig.monitoring.metrics.registry import DEFAULT_BUCKETS, MetricsRegistry, NullMetricsRegistry
from sharedconfig.monitoring.settings import MetricsSettings
from sharedconfig.testing import FakeClock
from sharedconfig.testing.compliance import MetricsRecorderContract


class TestMetricsRegistryContract(MetricsRecorderContract):
    """MetricsRegistry passes the MetricsRecorder contract."""

    def make(self) -> MetricsRecorder:
        """A fresh registry."""
        return MetricsRegistry()

    def recorded_total(
        self, recorder: MetricsRecorder, kind: MetricKind, name: str, labels: Mapping[str, str]
    ) -> float:
        """The registry's sample for the series: ``x_total``, ``x`` or ``x_sum``."""
        assert isinstance(recorder, MetricsRegistry)
        if kind is MetricKind.COUNTER:
            sample = f"{name.removesuffix('_total')}_total"
        else:
            sample = name if kind is MetricKind.GAUGE else f"{name}_sum"
        return recorder.sample_value(sample, labels) or 0.0


class TestCounters:
    """record_counter adds to one series per label set."""

    def test_sums_increments_per_label_set(self) -> None:
        """Increments with the same labels add up; other labels are another series."""
        registry = MetricsRegistry()
        registry.record_counter("http_requests_total", 1, GET)
        registry.record_counter("http_requests_total", 2.5, GET)
        registry.record_counter("http_requests_total", 1, {"method": "POST", "status": "201"})
        assert registry.sample_value("http_requests_total", GET) == 3.5
        assert registry.sample_value("http_requests_total", {"method": "POST", "status": "201"}) == 1

    def test_label_order_does_not_matter(self) -> None:
        """The same labels in another order are the same series."""
        registry = MetricsRegistry()
        registry.record_counter("jobs_total", 1, {"a": "1", "b": "2"})
        registry.record_counter("jobs_total", 1, {"b": "2", "a": "1"})
        assert family(registry, "jobs").samples == (Sample("jobs_total", (("a", "1"), ("b", "2")), 2.0),)

    def test_total_suffix_is_optional(self) -> None:
        """``x`` and ``x_total`` name the same counter family ``x`` with samples ``x_total``."""
        registry = MetricsRegistry()
        registry.record_counter("events")
        registry.record_counter("events_total", 2)
        assert family(registry, "events") == MetricFamily(
            "events",
            MetricType.COUNTER,
            "events_total (no help text declared)",
            (Sample("events_total", (), 3.0),),
        )

    def test_none_and_empty_labels_are_the_same_series(self) -> None:
        """``labels=None`` and ``{}`` both record the unlabelled series."""
        registry = MetricsRegistry()
        registry.record_counter("ticks_total", 1, None)
        registry.record_counter("ticks_total", 1, {})
        assert registry.sample_value("ticks_total") == 2

    def test_label_values_are_stringified(self) -> None:
        """A non-str label value is recorded as its str()."""
        registry = MetricsRegistry()
        registry.record_counter("codes_total", 1, {"status": 200})  # type: ignore[dict-item]
        registry.record_counter("codes_total", 1, {"status": "200"})
        assert registry.sample_value("codes_total", {"status": "200"}) == 2


class TestGauges:
    """record_gauge keeps the last value per label set."""

    def test_last_write_wins(self) -> None:
        """The gauge shows the last value set, including negatives and zero."""
        registry = MetricsRegistry()
        for value in (3.0, -2.5, 0.0, 7):
            registry.record_gauge("queue_depth", value, {"queue": "a"})
        assert registry.sample_value("queue_depth", {"queue": "a"}) == 7.0
        assert family(registry, "queue_depth").type is MetricType.GAUGE

    def test_label_orders_share_one_value(self) -> None:
        """Writes through two label orders land on the same series."""
        registry = MetricsRegistry()
        registry.record_gauge("temp", 1.0, {"a": "1", "b": "2"})
        registry.record_gauge("temp", 2.0, {"b": "2", "a": "1"})
        assert family(registry, "temp").samples == (Sample("temp", (("a", "1"), ("b", "2")), 2.0),)


class TestHistograms:
    """record_histogram keeps cumulative buckets, sum and count."""

    def test_buckets_are_cumulative_with_inf_sum_and_count(self) -> None:
        """Observations land in ``le`` buckets (inclusive), cumulative, with +Inf, _sum and _count."""
        registry = MetricsRegistry(buckets=(1.0, 2.0))
        for value in (0.5, 1.0, 1.5, 3.0):
            registry.record_histogram("wait_seconds", value, {"kind": "x"})
        assert family(registry, "wait_seconds").samples == (
            Sample("wait_seconds_bucket", (("kind", "x"), ("le", "1.0")), 2.0),
            Sample("wait_seconds_bucket", (("kind", "x"), ("le", "2.0")), 3.0),
            Sample("wait_seconds_bucket", (("kind", "x"), ("le", "+Inf")), 4.0),
            Sample("wait_seconds_sum", (("kind", "x"),), 6.0),
            Sample("wait_seconds_count", (("kind", "x"),), 4.0),
        )

    def test_le_is_sorted_among_the_labels(self) -> None:
        """Bucket label pairs stay sorted by name, ``le`` included."""
        registry = MetricsRegistry(buckets=(1.0,))
        registry.record_histogram("lat_seconds", 0.1, {"a": "1", "z": "2"})
        first = family(registry, "lat_seconds").samples[0]
        assert first.labels == (("a", "1"), ("le", "1.0"), ("z", "2"))

    def test_durations_take_seconds_and_timedeltas(self) -> None:
        """record_duration records float seconds and timedeltas in seconds."""
        registry = MetricsRegistry()
        registry.record_duration("job_seconds", 0.25)
        registry.record_duration("job_seconds", timedelta(milliseconds=750))
        assert registry.sample_value("job_seconds_sum") == 1.0
        assert registry.sample_value("job_seconds_count") == 2

    def test_default_buckets_match_the_settings(self) -> None:
        """The registry's default buckets are monitoring.metrics.histogram_buckets' default."""
        assert MetricsSettings().histogram_buckets == DEFAULT_BUCKETS

    @pytest.mark.parametrize("buckets", [(), (2.0, 1.0), (1.0, 1.0), (float("nan"),)])
    def test_rejects_bad_buckets(self, buckets: tuple[float, ...]) -> None:
        """Empty, unordered, repeated or NaN buckets raise ValueError."""
        with pytest.raises(ValueError, match="buckets"):
            MetricsRegistry(buckets=buckets)

    def test_trailing_inf_bucket_is_implied(self) -> None:
        """A trailing +Inf bound is accepted and not doubled."""
        registry = MetricsRegistry(buckets=(1.0, math.inf))
        registry.record_histogram("x_seconds", 5.0)
        assert [s.labels for s in family(registry, "x_seconds").samples[:2]] == [
            (("le", "1.0"),),
            (("le", "+Inf"),),
        ]


class TestCustomAndDescribe:
    """record_custom and describe carry help text and unit."""

    def test_custom_metrics_keep_help_and_unit(self) -> None:
        """A custom metric's help and unit end up on its family."""
        registry = MetricsRegistry()
        registry.record_custom(
            CustomMetric(
                "batch_size_bytes", 10, MetricKind.HISTOGRAM, {"q": "a"}, help="Batch sizes.", unit="bytes"
            )
        )
        found = family(registry, "batch_size_bytes")
        assert (found.help, found.unit, found.type) == ("Batch sizes.", "bytes", MetricType.HISTOGRAM)

    def test_custom_kinds_map_to_types(self) -> None:
        """Each MetricKind records the matching type."""
        registry = MetricsRegistry()
        registry.record_custom(CustomMetric("c_total", 2, MetricKind.COUNTER))
        registry.record_custom(CustomMetric("g", 3, MetricKind.GAUGE))
        assert registry.sample_value("c_total") == 2
        assert registry.sample_value("g") == 3

    def test_describe_before_first_use(self) -> None:
        """describe() sets the help of a family created later by record_*; a bad unit is ignored."""
        registry = MetricsRegistry()
        registry.describe("orders_total", "Orders placed.", unit="not a unit")
        registry.record_counter("orders_total")
        found = family(registry, "orders")
        assert (found.help, found.unit) == ("Orders placed.", "")


class TestHotPathNeverRaises:
    """Bad input on record_* is counted in metrics_dropped_total and dropped, never raised."""

    @pytest.mark.parametrize(
        ("call", "reason"),
        [
            (lambda r: r.record_counter("bad name"), "invalid_name"),
            (lambda r: r.record_counter("0starts_with_digit"), "invalid_name"),
            (lambda r: r.record_gauge(None, 1.0), "invalid_name"),
            (lambda r: r.record_counter("ok_total", 1, {"bad-label": "x"}), "invalid_labels"),
            (lambda r: r.record_counter("ok_total", 1, {"__reserved": "x"}), "invalid_labels"),
            (lambda r: r.record_histogram("ok_seconds", 1, {"le": "1"}), "invalid_labels"),
            (lambda r: r.record_counter("ok_total", 1, [("a", "b")]), "invalid_labels"),
            (lambda r: r.record_counter("ok_total", -1), "invalid_value"),
            (lambda r: r.record_counter("ok_total", math.nan), "invalid_value"),
            (lambda r: r.record_counter("ok_total", "many"), "invalid_value"),
            (lambda r: r.record_gauge("ok", "high"), "invalid_value"),
            (lambda r: r.record_histogram("ok_seconds", None), "invalid_value"),
            (lambda r: r.record_histogram("ok_seconds", math.nan), "invalid_value"),
            (lambda r: r.record_custom(CustomMetric("bad name", 1, MetricKind.GAUGE)), "invalid_name"),
            (lambda r: r.record_counter("metrics_dropped_total"), "reserved_name"),
        ],
    )
    def test_bad_input_is_counted(self, call: Callable[[MetricsRegistry], None], reason: str) -> None:
        """The call returns None and increments metrics_dropped_total{reason}."""
        registry = MetricsRegistry()
        assert call(registry) is None  # type: ignore[func-returns-value]
        assert dropped(registry, reason) == 1

    def test_type_conflicts_are_counted(self) -> None:
        """Recording a name as another type, or clashing with another family's samples, is dropped."""
        registry = MetricsRegistry()
        registry.record_counter("work_total", 1)
        registry.record_gauge("work", 1.0)  # the counter family is "work"
        registry.record_gauge("work_created", 1.0)  # the counter reserves work_created
        registry.record_histogram("lat", 1.0)
        registry.record_gauge("lat_created", 1.0)
        assert dropped(registry, "type_conflict") == 3
        assert registry.sample_value("work_total") == 1

    def test_nan_observations_are_dropped_on_every_path(self) -> None:
        """NaN never reaches a histogram, first observation or not, recorded or declared."""
        registry = MetricsRegistry()
        registry.record_histogram("h_seconds", 1.0)
        registry.record_histogram("h_seconds", math.nan)
        registry.histogram("d_seconds").observe(math.nan)
        assert registry.sample_value("h_seconds_sum") == 1.0
        assert registry.sample_value("d_seconds_count") == 0
        assert dropped(registry, "invalid_value") == 2

    def test_unhashable_label_values_still_record(self) -> None:
        """A label value that cannot be hashed is stringified and recorded on the slow path."""
        registry = MetricsRegistry()
        for _ in range(2):
            registry.record_counter("odd_total", 1, {"tags": ["a", "b"]})  # type: ignore[dict-item]
        assert registry.sample_value("odd_total", {"tags": "['a', 'b']"}) == 2

    def test_unencodable_label_values_are_replaced(self) -> None:
        """A lone surrogate, which UTF-8 cannot carry, becomes a replacement character."""
        registry = MetricsRegistry()
        registry.record_counter("s_total", 1, {"k": "a\udcffb"})
        assert registry.sample_value("s_total", {"k": "a?b"}) == 1

    def test_unknown_custom_kind_is_counted(self) -> None:
        """A CustomMetric whose kind is not a MetricKind is dropped and counted."""
        registry = MetricsRegistry()
        registry.record_custom(CustomMetric("x", 1, "summary"))  # type: ignore[arg-type]
        assert dropped(registry, "invalid_name") == 1

    def test_values_of_other_number_types(self) -> None:
        """ints, bools and Decimals are accepted as values."""
        from decimal import Decimal

        registry = MetricsRegistry()
        registry.record_counter("n_total", Decimal("1.5"))  # type: ignore[arg-type]
        registry.record_counter("n_total", True)
        registry.record_histogram("h", Decimal("0.5"))  # type: ignore[arg-type]
        assert registry.sample_value("n_total") == 2.5
        assert registry.sample_value("h_sum") == 0.5


class TestCardinalityLimit:
    """Label sets beyond the limit fold into one overflow="true" series; each fold is counted."""

    def test_counter_overflow(self) -> None:
        """Past the limit, values go to {overflow="true"}; earlier series keep counting."""
        registry = MetricsRegistry(cardinality_limit=2)
        for user in ("a", "b", "c", "d", "c"):
            registry.record_counter("logins_total", 1, {"user": user})
        registry.record_counter("logins_total", 5, {"user": "a"})
        assert family(registry, "logins").samples == (
            Sample("logins_total", (("user", "a"),), 6.0),
            Sample("logins_total", (("user", "b"),), 1.0),
            Sample("logins_total", (("overflow", "true"),), 3.0),
        )
        assert folds(registry, "logins_total") == 3

    def test_gauge_and_histogram_overflow(self) -> None:
        """Gauges and histograms fold the same way, counted under their own names."""
        registry = MetricsRegistry(cardinality_limit=1, buckets=(1.0,))
        for key in ("a", "b", "c"):
            registry.record_gauge("depth", 1.0, {"q": key})
            registry.record_histogram("wait_seconds", 0.5, {"q": key})
        assert registry.sample_value("depth", {"overflow": "true"}) == 1.0
        assert registry.sample_value("wait_seconds_count", {"overflow": "true"}) == 2
        assert folds(registry, "depth") == 2
        assert folds(registry, "wait_seconds") == 2

    def test_declared_children_overflow(self) -> None:
        """Declared children past the limit record into the overflow series and count each fold."""
        registry = MetricsRegistry(cardinality_limit=1)
        counter = registry.counter("jobs_total", labelnames=("id",))
        counter.labels("1").inc()
        late = counter.labels("2")
        late.inc()
        late.inc(3)
        counter.labels("3").inc()
        gauge = registry.gauge("g", labelnames=("id",))
        gauge.labels("1").set(1)
        gauge.labels("2").set(7)
        gauge.labels("2").inc()
        histogram = registry.histogram("h_seconds", labelnames=("id",))
        histogram.labels("1").observe(1)
        histogram.labels("2").observe(1)
        assert registry.sample_value("jobs_total", {"overflow": "true"}) == 5
        assert folds(registry, "jobs_total") == 3
        assert registry.sample_value("g", {"overflow": "true"}) == 8
        assert folds(registry, "g") == 2
        assert registry.sample_value("h_seconds_count", {"overflow": "true"}) == 1
        assert folds(registry, "h_seconds") == 1

    def test_limit_is_per_metric(self) -> None:
        """Each metric has its own budget of series."""
        registry = MetricsRegistry(cardinality_limit=1)
        registry.record_counter("a_total", 1, {"k": "1"})
        registry.record_counter("b_total", 1, {"k": "1"})
        assert folds(registry, "a_total") is None
        assert folds(registry, "b_total") is None

    def test_internal_counters_are_not_limited(self) -> None:
        """The overflow counter itself gets one series per metric, whatever the limit."""
        registry = MetricsRegistry(cardinality_limit=1)
        for name in ("a_total", "b_total", "c_total"):
            for key in ("1", "2"):
                registry.record_counter(name, 1, {"k": key})
        assert [s.labels for s in family(registry, "metrics_cardinality_overflow").samples] == [
            (("metric", "a_total"),),
            (("metric", "b_total"),),
            (("metric", "c_total"),),
        ]


class TestFamilyLimit:
    """The number of metric names is bounded: a new name past max_families is dropped and counted."""

    def test_names_past_the_budget_record_nothing_and_are_counted(self) -> None:
        """200 distinct names against a budget of 3: three families, 197 drops, one warning."""
        warnings: list[str] = []
        registry = MetricsRegistry(max_families=3, warn=warnings.append)
        for i in range(200):
            registry.record_counter(f"name_{i}_total", 1)
        registry.record_gauge("late_depth", 1.0)
        registry.record_histogram("late_seconds", 0.1)
        names = {f.name for f in registry.collect()} - {"metrics_dropped", "metrics_cardinality_overflow"}
        assert names == {"name_0", "name_1", "name_2"}
        assert registry.sample_value("metrics_dropped_total", {"reason": "family_limit"}) == 199
        assert len(warnings) == 1
        assert "name_3_total" in warnings[0] and "max_families (3)" in warnings[0]

    def test_names_in_use_keep_recording_at_the_budget(self) -> None:
        """At the budget, existing names (new label sets included) still record."""
        registry = MetricsRegistry(max_families=1)
        registry.record_counter("hits_total", 1, {"path": "/a"})
        registry.record_counter("misses_total", 1)
        registry.record_counter("hits_total", 2, {"path": "/b"})
        assert registry.sample_value("hits_total", {"path": "/b"}) == 2
        assert registry.sample_value("misses_total") is None

    def test_declared_instruments_are_never_refused_but_count(self) -> None:
        """Declaring past the budget works (code, not data); it fills the budget for recorded names."""
        registry = MetricsRegistry(max_families=1)
        registry.counter("declared_total").inc()
        registry.counter("second_total").inc()
        registry.record_counter("recorded_total", 1)
        assert registry.sample_value("second_total") == 1
        assert registry.sample_value("recorded_total") is None

    def test_the_budget_comes_from_settings_and_must_be_positive(self) -> None:
        """monitoring.metrics.max_families reaches the registry; 0 is refused."""
        registry = MetricsRegistry.from_settings(MetricsSettings(max_families=1))
        registry.record_counter("a_total", 1)
        registry.record_counter("b_total", 1)
        assert registry.sample_value("b_total") is None
        with pytest.raises(ValueError, match="max_families"):
            MetricsRegistry(max_families=0)


class TestBucketsByUnit:
    """A histogram's buckets follow its unit, or the declaration's or call's ``buckets``; the first wins."""

    def test_bytes_get_size_buckets_and_seconds_latency_buckets(self) -> None:
        """payload_bytes 512 lands in le="1024.0"; checkout_seconds and batch_size get the latency buckets."""
        registry = MetricsRegistry()
        registry.record_histogram("payload_bytes", 512, {"route": "/orders"})
        registry.record_histogram("checkout_seconds", 0.2)
        registry.record_histogram("batch_size", 3)
        assert registry.sample_value("payload_bytes_bucket", {"route": "/orders", "le": "256.0"}) == 0
        assert registry.sample_value("payload_bytes_bucket", {"route": "/orders", "le": "1024.0"}) == 1
        assert (
            registry.sample_value("payload_bytes_bucket", {"route": "/orders", "le": "1.073741824e+09"}) == 1
        )
        les = [
            dict(s.labels)["le"]
            for s in family(registry, "checkout_seconds").samples
            if "le" in dict(s.labels)
        ]
        assert les == [*(str(b) for b in DEFAULT_BUCKETS), "+Inf"]
        assert len(family(registry, "batch_size").samples) == len(DEFAULT_BUCKETS) + 3

    def test_declared_bytes_histogram_gets_size_buckets(self) -> None:
        """A declared *_bytes histogram without buckets gets the size buckets too."""
        registry = MetricsRegistry()
        registry.histogram("upload_bytes", "Upload sizes.").observe(5000)
        assert registry.sample_value("upload_bytes_bucket", {"le": "4096.0"}) == 0
        assert registry.sample_value("upload_bytes_bucket", {"le": "16384.0"}) == 1

    def test_per_call_buckets(self) -> None:
        """record_histogram(..., buckets=) shapes a new histogram; the same buckets again record."""
        registry = MetricsRegistry()
        for value in (5, 50, 500):
            registry.record_histogram("batch_size", value, buckets=(10, 100))
        assert registry.sample_value("batch_size_bucket", {"le": "10.0"}) == 1
        assert registry.sample_value("batch_size_bucket", {"le": "100.0"}) == 2
        assert registry.sample_value("batch_size_count") == 3

    def test_a_later_call_with_other_buckets_is_dropped_and_counted(self) -> None:
        """The first call's buckets win; another call with other buckets is dropped (bucket_conflict)."""
        registry = MetricsRegistry()
        registry.record_histogram("batch_size", 5, buckets=(10.0, 100.0))
        registry.record_histogram("batch_size", 5, buckets=(1.0, 2.0))
        registry.record_histogram("batch_size", 5)  # no buckets: the histogram's own
        assert registry.sample_value("batch_size_count") == 2
        assert dropped(registry, "bucket_conflict") == 1

    def test_invalid_per_call_buckets_are_dropped_and_counted(self) -> None:
        """Unordered buckets in a call are dropped (invalid_buckets); record_histogram never raises."""
        registry = MetricsRegistry()
        registry.record_histogram("batch_size", 5, buckets=(100.0, 10.0))
        assert registry.sample_value("batch_size_count") is None
        assert dropped(registry, "invalid_buckets") == 1

    def test_declaration_after_recording_with_other_buckets_raises(self) -> None:
        """Declaring a recorded histogram with other buckets raises ValueError; without, it shares them."""
        registry = MetricsRegistry()
        registry.record_histogram("batch_size", 5, buckets=(10.0, 100.0))
        with pytest.raises(ValueError, match="already recorded with buckets"):
            registry.histogram("batch_size", buckets=(1.0,))
        registry.histogram("batch_size").observe(50)
        assert registry.sample_value("batch_size_bucket", {"le": "100.0"}) == 2

    def test_calls_after_a_declaration_take_its_buckets(self) -> None:
        """A declared histogram's buckets win over a later call's (dropped, counted)."""
        registry = MetricsRegistry()
        registry.histogram("batch_size", buckets=(10.0,))
        registry.record_histogram("batch_size", 5, buckets=(10.0,))
        registry.record_histogram("batch_size", 5, buckets=(20.0,))
        assert registry.sample_value("batch_size_count") == 1
        assert dropped(registry, "bucket_conflict") == 1

    def test_openmetrics_unit_from_the_name(self) -> None:
        """Recorded *_seconds and *_bytes families carry their unit (OpenMetrics' # UNIT); others none."""
        registry = MetricsRegistry()
        registry.record_histogram("payload_bytes", 1)
        registry.record_counter("cpu_seconds_total", 1)
        registry.record_gauge("queue_depth", 1)
        units = {f.name: f.unit for f in registry.collect()}
        assert (units["payload_bytes"], units["cpu_seconds"], units["queue_depth"]) == (
            "bytes",
            "seconds",
            "",
        )


class TestRefusedNamesAndValues:
    """Names and values promtool would flag never reach the exposition."""

    @pytest.mark.parametrize(
        ("declare", "message"),
        [
            (lambda r: r.gauge("queue_total"), "only counters end in _total"),
            (lambda r: r.histogram("latency_ms"), "_seconds, not _ms"),
            (lambda r: r.histogram("latency_milliseconds"), "_seconds, not _milliseconds"),
            (lambda r: r.counter("jobs_counter_total"), "drop _counter"),
            (lambda r: r.gauge("queueDepth"), "snake_case"),
        ],
    )
    def test_declaring_a_refused_name_raises(
        self, declare: Callable[[MetricsRegistry], object], message: str
    ) -> None:
        """Declaration refuses the name with a ValueError that says how to fix it."""
        with pytest.raises(ValueError, match=message):
            declare(MetricsRegistry())

    def test_recording_a_refused_name_is_dropped_and_counted(self) -> None:
        """record_* of a refused name is dropped and counted as invalid_name, never raised."""
        registry = MetricsRegistry()
        registry.record_gauge("queue_total", 1.0)
        registry.record_histogram("latency_ms", 12.0)
        registry.record_counter("sentBytes_total")
        assert dropped(registry, "invalid_name") == 3
        assert {f.name for f in registry.collect()} == {"metrics_dropped"}

    @pytest.mark.parametrize("value", [math.inf, math.nan, -1.0])
    def test_counters_refuse_infinite_nan_and_negative_values(self, value: float) -> None:
        """record_counter drops them (invalid_value); a declared counter's inc raises ValueError."""
        registry = MetricsRegistry()
        registry.record_counter("jobs_total", 1)
        registry.record_counter("jobs_total", value)
        assert registry.sample_value("jobs_total") == 1
        assert dropped(registry, "invalid_value") == 1
        counter = registry.counter("tasks_total")
        with pytest.raises(ValueError, match="finite"):
            counter.inc(value)
        with pytest.raises(ValueError, match="finite"):
            NullMetricsRegistry().counter("tasks_total").inc(value)


class TestNoSampling:
    """Metrics count every observation: a histogram's _count and _sum are exact and agree with counters."""

    def test_every_observation_counts(self) -> None:
        """1,000 observations are 1,000 in _count and the exact sum, recorded or declared."""
        registry = MetricsRegistry(buckets=(1.0,))
        child = registry.histogram("h_seconds").labels()
        for _ in range(1000):
            registry.record_histogram("x_seconds", 0.5)
            child.observe(0.5)
            registry.record_counter("x_total")
        for name in ("x_seconds", "h_seconds"):
            assert registry.sample_value(f"{name}_count") == 1000
            assert registry.sample_value(f"{name}_sum") == 500.0
        assert registry.sample_value("x_total") == 1000

    def test_sample_rate_is_no_registry_option(self) -> None:
        """MetricsRegistry takes no sample_rate: an approximate histogram cannot be asked for."""
        with pytest.raises(TypeError, match="sample_rate"):
            MetricsRegistry(sample_rate=0.5)  # type: ignore[call-arg]


class TestNamespaceAndProcessors:
    """The namespace and extra processors run per new series."""

    def test_namespace_prefixes_recorded_and_declared_metrics(self) -> None:
        """Both paths get the prefix; the internal counters keep their names."""
        registry = MetricsRegistry(namespace="shop", cardinality_limit=1)
        registry.record_counter("orders_total", 1, {"k": "1"})
        registry.record_counter("orders_total", 1, {"k": "2"})
        registry.counter("refunds_total").inc()
        names = [f.name for f in registry.collect()]
        assert names == ["metrics_cardinality_overflow", "shop_orders", "shop_refunds"]
        assert folds(registry, "shop_orders_total") == 1

    def test_a_dropping_processor_is_counted(self) -> None:
        """A processor raising DropSeries drops the observation and counts it."""

        def no_debug(index: SeriesIndex, draft: SeriesDraft) -> SeriesDraft:
            if draft.name.startswith("debug_"):
                raise DropSeries
            return draft

        registry = MetricsRegistry(processors=(no_debug,))
        registry.record_counter("debug_calls_total")
        registry.record_counter("calls_total")
        registry.counter("debug_declared_total").inc()
        assert [f.name for f in registry.collect()] == ["calls", "metrics_dropped"]
        assert dropped(registry, "dropped_by_processor") == 2

    def test_a_failing_processor_never_reaches_the_caller(self) -> None:
        """A processor that raises anything else is counted as processor_error."""

        def broken(index: SeriesIndex, draft: SeriesDraft) -> SeriesDraft:
            raise RuntimeError("bug")

        registry = MetricsRegistry(processors=(broken,))
        registry.record_histogram("x_seconds", 1.0)
        assert dropped(registry, "processor_error") == 1

    def test_a_processor_may_rewrite_labels(self) -> None:
        """A processor's rewritten labels are the series' labels."""

        def redact(index: SeriesIndex, draft: SeriesDraft) -> SeriesDraft:
            labels = tuple((k, "redacted" if k == "token" else v) for k, v in draft.labels)
            return SeriesDraft(draft.name, draft.type, labels, draft.overflow)

        registry = MetricsRegistry(processors=(redact,))
        registry.record_counter("auth_total", 1, {"token": "s3cret"})
        assert registry.sample_value("auth_total", {"token": "redacted"}) == 1

    def test_renamed_series_cannot_clash(self) -> None:
        """A processor renaming into another type's family or samples is refused: counted, or ValueError."""

        def alias(index: SeriesIndex, draft: SeriesDraft) -> SeriesDraft:
            renamed = {"alias": "depth", "other": "size"}.get(draft.name, draft.name)
            return SeriesDraft(renamed, draft.type, draft.labels, draft.overflow)

        registry = MetricsRegistry(processors=(alias,))
        registry.record_gauge("depth", 1.0)
        registry.record_gauge("size_created", 1.0)
        registry.record_counter("alias_total")  # family "depth" is a gauge
        registry.record_counter("other_total")  # family "size" would reserve size_created, a gauge
        assert dropped(registry, "type_conflict") == 2
        with pytest.raises(ValueError, match="already a gauge"):
            registry.counter("alias_total")

    def test_processor_order(self) -> None:
        """Namespace first, extra processors next, the cardinality limit last."""

        def extra(index: SeriesIndex, draft: SeriesDraft) -> SeriesDraft:
            return draft

        names = [type(p).__name__ for p in MetricsRegistry(processors=(extra,)).processors]
        assert names == ["Namespace", "function", "CardinalityLimit"]


class TestNullRegistry:
    """A disabled registry is a NullMetricsRegistry: the same surface, keeping nothing."""

    def test_enabled_false_builds_the_null_registry(self) -> None:
        """MetricsRegistry(enabled=False, ...) is a NullMetricsRegistry, still a MetricsRegistry."""
        registry = MetricsRegistry(enabled=False, namespace="svc", cardinality_limit=5)
        assert type(registry) is NullMetricsRegistry
        assert isinstance(registry, MetricsRegistry)
        assert isinstance(registry, MetricsRecorder)
        assert (registry.enabled, MetricsRegistry().enabled) == (False, True)
        assert type(NullMetricsRegistry()) is NullMetricsRegistry

    def test_records_and_exposes_nothing(self) -> None:
        """Every record_* call, declared instrument and timer is a no-op; collect() is empty."""
        clock = FakeClock()
        registry = NullMetricsRegistry()
        registry.describe("c_total", "Help.")
        registry.record_counter("c_total", 1, GET)
        registry.record_counter("bad name", -1)
        registry.record_gauge("g", 1.0)
        registry.record_histogram("h_seconds", 1.0)
        registry.record_duration("d_seconds", timedelta(seconds=1))
        registry.record_custom(CustomMetric("x", 1, MetricKind.GAUGE))
        registry.counter("declared_total").inc()
        registry.counter("labelled_total", labelnames=("a",)).labels("1").inc(2)
        registry.gauge("gauge", labelnames=("a",)).labels(a="1").set(3)
        registry.histogram("lat_seconds").observe(0.5)
        with registry.timer("t_seconds"):
            clock.advance(1.0)
        assert registry.collect() == []
        assert registry.sample_value("c_total", GET) is None
        assert (registry.series_count("c"), registry.has_series("c", ())) == (0, False)
        assert (registry.processors, registry.namespace) == ((), "")

    def test_collectors_are_not_kept(self) -> None:
        """register and unregister accept a collector and keep nothing: collect() stays empty."""

        class One:
            def collect(self) -> list[MetricFamily]:
                return [MetricFamily("one", MetricType.GAUGE, "One.", (Sample("one", (), 1.0),))]

        registry = NullMetricsRegistry()
        collector = One()
        registry.register(collector)
        assert registry.collect() == []
        registry.unregister(collector)
        registry.unregister(collector)

    def test_overrides_every_public_method(self) -> None:
        """Each public method and property of MetricsRegistry is redefined, so none records by accident."""
        public = {name for name in vars(MetricsRegistry) if not name.startswith("_")}
        inherited = public - set(vars(NullMetricsRegistry)) - {"from_settings"}
        assert inherited == set()

    def test_declarations_are_checked_as_when_enabled(self) -> None:
        """Bad names, labels, buckets, label values and negative increments raise as they would enabled."""
        registry = NullMetricsRegistry()
        counter = registry.counter("ok_total", labelnames=("a",))
        for call in (
            lambda: registry.counter("bad name"),
            lambda: registry.gauge("ok", labelnames=("a", "a")),
            lambda: registry.histogram("ok_seconds", labelnames=("le",)),
            lambda: registry.histogram("ok_seconds", buckets=(2.0, 1.0)),
            lambda: counter.labels("1", "2"),
            counter.inc,
            lambda: registry.counter("c_total").inc(-1),
        ):
            with pytest.raises(ValueError):  # noqa: PT011  # each raises a different message
                call()

    def test_null_instruments_hand_out_uncached_children(self) -> None:
        """A null instrument keeps no child per label set, so unbounded label values cost no memory."""
        counter = NullMetricsRegistry().counter("c_total", labelnames=("id",))
        for i in range(100):
            counter.labels(str(i)).inc()
        assert counter._children == {}  # internal, but the point of the test: nothing is kept

    def test_from_settings(self) -> None:
        """from_settings takes namespace, cardinality limit and buckets from monitoring.metrics."""
        settings = MetricsSettings(namespace="svc", cardinality_limit=1, histogram_buckets=(1.0, 5.0))
        registry = MetricsRegistry.from_settings(settings)
        registry.record_histogram("lat_seconds", 2.0, {"a": "1"})
        registry.record_histogram("lat_seconds", 2.0, {"a": "2"})
        assert registry.sample_value("svc_lat_seconds_bucket", {"a": "1", "le": "5.0"}) == 1
        assert folds(registry, "svc_lat_seconds") == 1
        assert registry.namespace == "svc"

    def test_from_settings_disabled_is_null(self) -> None:
        """metrics.enabled false, or monitoring disabled (enabled=False), gives the null registry."""
        assert type(MetricsRegistry.from_settings(MetricsSettings(enabled=False))) is NullMetricsRegistry
        disabled = MetricsRegistry.from_settings(MetricsSettings(), enabled=False)
        assert type(disabled) is NullMetricsRegistry
        assert type(MetricsRegistry.from_settings(MetricsSettings())) is MetricsRegistry

    def test_from_settings_takes_the_clock(self) -> None:
        """Timers of a registry built from settings run on the clock given."""
        clock = FakeClock()
        registry = MetricsRegistry.from_settings(MetricsSettings(), clock=clock)
        with registry.timer("step_seconds"):
            clock.advance(2.0)
        assert registry.sample_value("step_seconds_sum") == 2.0


class TestPublicNames:
    """The registry's public names import from the package and from registry.py."""

    def test_importable_from_the_package(self) -> None:
        """sharedconfig.monitoring.metrics exports the registry, its instruments and the collectors."""
        from sharedconfig.monitoring import metrics
        from sharedconfig.monitoring.metrics import instruments, process, registry

        assert metrics.MetricsRegistry is registry.MetricsRegistry
        assert metrics.NullMetricsRegistry is registry.NullMetricsRegistry
        assert metrics.Counter is instruments.Counter is registry.Counter
        assert metrics.Timer is instruments.Timer is registry.Timer
        assert metrics.ProcessCollector is process.ProcessCollector
        assert metrics.DEFAULT_BUCKETS is registry.DEFAULT_BUCKETS
        assert set(dir(metrics)) >= set(metrics.__all__)
        for name in metrics.__all__:
            assert getattr(metrics, name) is not None
        with pytest.raises(AttributeError, match="nope"):
            _ = metrics.nope
