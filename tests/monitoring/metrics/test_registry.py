"""Tests for sharedconfig.monitoring.metrics.registry: recording, declared instruments, threads, processors.

Includes the MetricsRecorder contract and the 8 threads x 100k increments check for each hot path.
"""

from __future__ import annotations

import asyncio
import math
import random
import threading
from collections.abc import Callable
from datetime import timedelta

import pytest

from sharedconfig.interfaces import CustomMetric, MetricKind, MetricsRecorder
from sharedconfig.monitoring.metrics.model import MetricFamily, MetricType, Sample
from sharedconfig.monitoring.metrics.processors import DropSeries, SeriesDraft, SeriesIndex
from sharedconfig.monitoring.metrics.registry import DEFAULT_BUCKETS, MetricsRegistry
from sharedconfig.monitoring.settings import MetricsSettings
from sharedconfig.testing import FakeClock
from sharedconfig.testing.compliance import MetricsRecorderContract

GET = {"method": "GET", "status": "200"}


def family(registry: MetricsRegistry, name: str) -> MetricFamily:
    """The collected family ``name``; fails when absent."""
    found = [f for f in registry.collect() if f.name == name]
    assert found, f"no family {name} in {[f.name for f in registry.collect()]}"
    return found[0]


def dropped(registry: MetricsRegistry, reason: str) -> float | None:
    """The value of ``metrics_dropped_total{reason}``."""
    return registry.sample_value("metrics_dropped_total", {"reason": reason})


def folds(registry: MetricsRegistry, metric: str) -> float | None:
    """The value of ``metrics_cardinality_overflow_total{metric}``."""
    return registry.sample_value("metrics_cardinality_overflow_total", {"metric": metric})


def run_threads(work: Callable[[], None], count: int = 8) -> None:
    """Run ``work`` in ``count`` threads started together and re-raise the first error."""
    errors: list[BaseException] = []
    barrier = threading.Barrier(count)

    def guarded() -> None:
        barrier.wait()
        try:
            work()
        except BaseException as exc:  # re-raised below in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=guarded) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


class TestMetricsRegistryContract(MetricsRecorderContract):
    """MetricsRegistry passes the MetricsRecorder contract."""

    def make(self) -> MetricsRecorder:
        """A fresh registry."""
        return MetricsRegistry()


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
            registry.record_histogram("size_bytes", value, {"kind": "x"})
        assert family(registry, "size_bytes").samples == (
            Sample("size_bytes_bucket", (("kind", "x"), ("le", "1.0")), 2.0),
            Sample("size_bytes_bucket", (("kind", "x"), ("le", "2.0")), 3.0),
            Sample("size_bytes_bucket", (("kind", "x"), ("le", "+Inf")), 4.0),
            Sample("size_bytes_sum", (("kind", "x"),), 6.0),
            Sample("size_bytes_count", (("kind", "x"),), 4.0),
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
        registry.record_gauge("work_total", 1.0)  # the counter exposes work_total
        registry.record_histogram("lat", 1.0)
        registry.record_gauge("lat_bucket", 1.0)
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


class TestDeclaredInstruments:
    """counter(), gauge() and histogram() declare instruments with cached children."""

    def test_counter_children_by_position_and_name(self) -> None:
        """labels(...) by position or keyword gives the same cached child."""
        registry = MetricsRegistry()
        counter = registry.counter("http_requests_total", "Requests.", ("method", "status"))
        child = counter.labels("GET", "200")
        assert counter.labels(method="GET", status="200") is child
        child.inc()
        child.inc(2)
        assert registry.sample_value("http_requests_total", GET) == 3
        assert family(registry, "http_requests").help == "Requests."

    def test_unlabelled_counter_shows_zero_at_once(self) -> None:
        """An unlabelled declared counter is exposed as 0 before its first increment."""
        registry = MetricsRegistry()
        counter = registry.counter("restarts_total", "Restarts.")
        assert registry.sample_value("restarts_total") == 0
        counter.inc()
        assert registry.sample_value("restarts_total") == 1

    def test_declaring_twice_returns_the_same_instrument(self) -> None:
        """Same name, type and labels: the same object, with or without _total."""
        registry = MetricsRegistry()
        counter = registry.counter("jobs_total", "Jobs.", ("queue",))
        assert registry.counter("jobs_total", "Jobs.", ["queue"]) is counter
        assert registry.counter("jobs", labelnames=("queue",)) is counter

    @pytest.mark.parametrize(
        ("declare", "match"),
        [
            (lambda r: r.gauge("jobs", labelnames=("queue",)), "already declared as a counter"),
            (lambda r: r.gauge("jobs_total", labelnames=("queue",)), "clashes with the counter jobs_total"),
            (lambda r: r.histogram("jobs", labelnames=("queue",)), "already declared as a counter"),
            (lambda r: r.counter("jobs_total", labelnames=("queue", "kind")), "already declared with labels"),
            (lambda r: r.counter("jobs_total"), "already declared with labels"),
        ],
    )
    def test_conflicting_redeclaration_raises(
        self, declare: Callable[[MetricsRegistry], object], match: str
    ) -> None:
        """Another type or other label names for a declared name raise a clear ValueError."""
        registry = MetricsRegistry()
        registry.counter("jobs_total", labelnames=("queue",))
        with pytest.raises(ValueError, match=match):
            declare(registry)

    def test_other_buckets_for_a_declared_histogram_raise(self) -> None:
        """Redeclaring a histogram with other buckets raises; without buckets it returns the same one."""
        registry = MetricsRegistry()
        histogram = registry.histogram("lat_seconds", buckets=(1.0, 2.0))
        assert registry.histogram("lat_seconds") is histogram
        with pytest.raises(ValueError, match="buckets"):
            registry.histogram("lat_seconds", buckets=(1.0,))

    def test_declaring_a_name_recorded_as_another_type_raises(self) -> None:
        """A name already used by record_gauge cannot be declared a counter."""
        registry = MetricsRegistry()
        registry.record_gauge("depth", 1.0)
        with pytest.raises(ValueError, match="clashes with the gauge depth"):
            registry.counter("depth")

    @pytest.mark.parametrize(
        ("declare", "match"),
        [
            (lambda r: r.counter("bad name"), "invalid metric name"),
            (lambda r: r.counter("ok_total", labelnames=("bad-label",)), "invalid label name"),
            (lambda r: r.counter("ok_total", labelnames=("__x",)), "invalid label name"),
            (lambda r: r.counter("ok_total", labelnames=("a", "a")), "duplicate"),
            (lambda r: r.counter("ok_total", labelnames="method"), "not the string"),
            (lambda r: r.histogram("ok_seconds", labelnames=("le",)), '"le"'),
            (lambda r: r.histogram("ok_seconds", buckets=(3.0, 1.0)), "increasing"),
        ],
    )
    def test_invalid_declarations_raise(
        self, declare: Callable[[MetricsRegistry], object], match: str
    ) -> None:
        """Invalid names, label names and buckets raise ValueError at declaration."""
        with pytest.raises(ValueError, match=match):
            declare(MetricsRegistry())

    def test_wrong_label_values_raise(self) -> None:
        """Too few or too many values, unknown names, or mixing styles raise ValueError."""
        counter = MetricsRegistry().counter("c_total", labelnames=("a", "b"))
        for call in (
            lambda: counter.labels("x"),
            lambda: counter.labels("x", "y", "z"),
            lambda: counter.labels(a="x", c="y"),
            lambda: counter.labels("x", b="y"),
            counter.inc,
        ):
            with pytest.raises(ValueError, match="label"):
                call()

    def test_counters_only_go_up(self) -> None:
        """A negative increment on a declared counter raises ValueError."""
        counter = MetricsRegistry().counter("c_total")
        with pytest.raises(ValueError, match="only goes up"):
            counter.inc(-1)

    def test_record_path_shares_declared_series(self) -> None:
        """record_counter with the declared label names adds to the declared series; others are dropped."""
        registry = MetricsRegistry()
        child = registry.counter("jobs_total", labelnames=("queue",)).labels("a")
        registry.record_counter("jobs_total", 2, {"queue": "a"})
        registry.record_counter("jobs_total", 1, {"other": "a"})
        child.inc()
        assert registry.sample_value("jobs_total", {"queue": "a"}) == 3
        assert dropped(registry, "label_mismatch") == 1
        registry.record_gauge("jobs_total", 1.0)
        registry.record_gauge("jobs", 1.0)
        assert dropped(registry, "type_conflict") == 2

    def test_gauge_set_inc_dec(self) -> None:
        """A declared gauge sets, increments and decrements, with and without labels."""
        registry = MetricsRegistry()
        gauge = registry.gauge("in_flight", "Requests in flight.")
        gauge.inc()
        gauge.inc(2)
        gauge.dec()
        assert registry.sample_value("in_flight") == 2
        gauge.set(-4.5)
        assert registry.sample_value("in_flight") == -4.5
        child = registry.gauge("temp_celsius", labelnames=("room",)).labels(room="lab")
        child.set(21)
        child.dec(0.5)
        assert registry.sample_value("temp_celsius", {"room": "lab"}) == 20.5

    def test_histogram_observe_with_custom_buckets(self) -> None:
        """A declared histogram uses its own buckets."""
        registry = MetricsRegistry()
        histogram = registry.histogram("payload_bytes", "Payload sizes.", ("kind",), buckets=(100, 1000))
        histogram.labels("json").observe(50)
        histogram.labels("json").observe(500)
        assert registry.sample_value("payload_bytes_bucket", {"kind": "json", "le": "100.0"}) == 1
        assert registry.sample_value("payload_bytes_bucket", {"kind": "json", "le": "1000.0"}) == 2
        assert registry.sample_value("payload_bytes_sum", {"kind": "json"}) == 550

    def test_unlabelled_histogram_observe(self) -> None:
        """An unlabelled declared histogram observes directly."""
        registry = MetricsRegistry()
        registry.histogram("batch_seconds").observe(0.2)
        assert registry.sample_value("batch_seconds_count") == 1

    def test_repr_names_the_instrument(self) -> None:
        """An instrument's repr shows its type, name and label names."""
        counter = MetricsRegistry().counter("jobs_total", labelnames=("queue",))
        assert repr(counter) == "Counter('jobs', labelnames=('queue',))"


class TestTimer:
    """timer() and Histogram.time() record elapsed seconds from the registry's clock."""

    def test_context_manager(self) -> None:
        """``with registry.timer(name):`` records the time the block took."""
        clock = FakeClock()
        registry = MetricsRegistry(clock=clock)
        with registry.timer("step_seconds", {"step": "load"}):
            clock.advance(0.3)
        assert registry.sample_value("step_seconds_sum", {"step": "load"}) == pytest.approx(0.3)
        assert registry.sample_value("step_seconds_count", {"step": "load"}) == 1

    def test_context_manager_records_when_the_block_raises(self) -> None:
        """A block that raises is still timed, and the exception propagates."""
        clock = FakeClock()
        registry = MetricsRegistry(clock=clock)

        def fail() -> None:
            with registry.timer("fail_seconds"):
                clock.advance(1.0)
                raise RuntimeError("boom")

        with pytest.raises(RuntimeError, match="boom"):
            fail()
        assert registry.sample_value("fail_seconds_sum") == 1.0

    def test_nested_blocks_on_one_timer(self) -> None:
        """Nested ``with`` on the same Timer time each block."""
        clock = FakeClock()
        registry = MetricsRegistry(clock=clock)
        timer = registry.timer("nest_seconds")
        with timer:
            clock.advance(1.0)
            with timer:
                clock.advance(2.0)
        assert registry.sample_value("nest_seconds_sum") == 5.0

    def test_decorator(self) -> None:
        """``@registry.timer(name)`` times each call and keeps the function's result and name."""
        clock = FakeClock()
        registry = MetricsRegistry(clock=clock)

        @registry.timer("work_seconds")
        def work(x: int) -> int:
            clock.advance(0.5)
            return x * 2

        assert work(2) == 4
        assert work(3) == 6
        assert work.__name__ == "work"
        assert registry.sample_value("work_seconds_count") == 2
        assert registry.sample_value("work_seconds_sum") == 1.0

    def test_async_decorator(self) -> None:
        """On a coroutine function the decorator times the whole await."""
        clock = FakeClock()
        registry = MetricsRegistry(clock=clock)

        @registry.timer("fetch_seconds")
        async def fetch() -> str:
            await asyncio.sleep(0)
            clock.advance(2.0)
            return "ok"

        assert asyncio.run(fetch()) == "ok"
        assert registry.sample_value("fetch_seconds_sum") == 2.0

    def test_histogram_time(self) -> None:
        """Histogram.time() and a child's time() observe into that series."""
        clock = FakeClock()
        registry = MetricsRegistry(clock=clock)
        histogram = registry.histogram("q_seconds", labelnames=("q",))
        with histogram.labels("a").time():
            clock.advance(0.1)
        unlabelled = registry.histogram("u_seconds")

        @unlabelled.time()
        def run() -> None:
            clock.advance(0.2)

        run()
        assert registry.sample_value("q_seconds_count", {"q": "a"}) == 1
        assert registry.sample_value("u_seconds_sum") == pytest.approx(0.2)


class TestThreads:
    """8 threads x 100k operations lose nothing, on every hot path."""

    THREADS = 8
    OPS = 100_000

    def test_record_counter(self) -> None:
        """8 x 100k record_counter calls on one series sum exactly."""
        registry = MetricsRegistry()

        def work() -> None:
            for _ in range(self.OPS):
                registry.record_counter("hits_total", 1, GET)

        run_threads(work, self.THREADS)
        assert registry.sample_value("hits_total", GET) == self.THREADS * self.OPS

    def test_declared_child_inc(self) -> None:
        """8 x 100k inc() on one declared child sum exactly."""
        registry = MetricsRegistry()
        child = registry.counter("hits_total", labelnames=("method", "status")).labels("GET", "200")

        def work() -> None:
            for _ in range(self.OPS):
                child.inc()

        run_threads(work, self.THREADS)
        assert registry.sample_value("hits_total", GET) == self.THREADS * self.OPS

    def test_histogram_observe(self) -> None:
        """8 x 100k histogram observations count exactly, by record_histogram and a declared child."""
        registry = MetricsRegistry(buckets=(1.0,))
        child = registry.histogram("child_seconds", labelnames=("method", "status")).labels(**GET)

        def work() -> None:
            for i in range(self.OPS):
                registry.record_histogram("lat_seconds", float(i % 2) * 2, GET)
                child.observe(0.5)

        run_threads(work, self.THREADS)
        total = self.THREADS * self.OPS
        assert registry.sample_value("lat_seconds_count", GET) == total
        assert registry.sample_value("lat_seconds_bucket", {**GET, "le": "1.0"}) == total / 2
        assert registry.sample_value("lat_seconds_sum", GET) == total
        assert registry.sample_value("child_seconds_count", GET) == total

    def test_new_series_from_many_threads_respect_the_limit(self) -> None:
        """Threads racing to create series never exceed the cardinality limit, and nothing is lost."""
        registry = MetricsRegistry(cardinality_limit=50)

        def work() -> None:
            for i in range(200):
                registry.record_counter("racy_total", 1, {"id": str(i)})

        run_threads(work, self.THREADS)
        samples = family(registry, "racy").samples
        assert len(samples) == 51
        assert sum(s.value for s in samples) == self.THREADS * 200
        assert folds(registry, "racy_total") == self.THREADS * 150

    def test_collect_while_recording_never_goes_down(self) -> None:
        """A counter collected while threads record and finish only grows, and ends exact."""
        registry = MetricsRegistry()
        seen: list[float] = []
        stop = threading.Event()

        def watch() -> None:
            while not stop.is_set():
                seen.append(registry.sample_value("busy_total") or 0.0)

        watcher = threading.Thread(target=watch)
        watcher.start()
        for _ in range(5):  # threads finish between collects: their shards are folded, not lost

            def work() -> None:
                for _ in range(20_000):
                    registry.record_counter("busy_total")

            run_threads(work, 4)
        stop.set()
        watcher.join()
        seen.append(registry.sample_value("busy_total") or 0.0)
        assert seen == sorted(seen)
        assert seen[-1] == 5 * 4 * 20_000

    def test_live_and_finished_threads_add_up(self) -> None:
        """Values from a finished thread and from a live one are summed per series."""
        registry = MetricsRegistry(buckets=(1.0,))
        registry.record_histogram("mixed_seconds", 0.5)
        registry.record_counter("mixed_total")
        run_threads(
            lambda: (registry.record_histogram("mixed_seconds", 2.0), registry.record_counter("mixed_total")),
            2,
        )
        assert registry.sample_value("mixed_seconds_count") == 3
        assert registry.sample_value("mixed_seconds_bucket", {"le": "1.0"}) == 1
        assert registry.sample_value("mixed_total") == 3

    def test_thread_churn_without_collect_keeps_few_shards(self) -> None:
        """Shards of finished threads are folded when new threads arrive, even if nobody collects."""
        registry = MetricsRegistry()
        for _ in range(50):
            run_threads(lambda: registry.record_counter("churn_total"), 2)
        assert len(registry._shards) <= 3  # the folding is internal; its effect is only visible here
        assert registry.sample_value("churn_total") == 100

    def test_gauge_inc_dec_from_threads(self) -> None:
        """Concurrent inc and dec on a declared gauge balance to zero."""
        registry = MetricsRegistry()
        gauge = registry.gauge("in_flight")

        def work() -> None:
            for _ in range(20_000):
                gauge.inc()
                gauge.dec()

        run_threads(work, self.THREADS)
        assert registry.sample_value("in_flight") == 0


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


class TestSampling:
    """Histograms are sampled at sample_rate with unbiased integer weights; nothing else is."""

    def test_keeps_a_fraction_with_integer_weights(self) -> None:
        """At rate 0.25 kept observations weigh 4, so counts and sums stay unbiased and integral."""
        draws = iter([0.1, 0.5, 0.9, 0.2])  # kept when < 0.25
        registry = MetricsRegistry(sample_rate=0.25, random=lambda: next(draws), buckets=(1.0,))
        for value in (0.5, 0.5, 0.5, 2.0):
            registry.record_histogram("lat_seconds", value)
        assert registry.sample_value("lat_seconds_count") == 8
        assert registry.sample_value("lat_seconds_bucket", {"le": "1.0"}) == 4
        assert registry.sample_value("lat_seconds_sum") == 4 * 0.5 + 4 * 2.0

    def test_weights_average_to_the_inverse_rate(self) -> None:
        """At rate 0.3 the weights are 3 or 4, the count stays an integer and its mean is unbiased."""
        rng = random.Random(7)
        registry = MetricsRegistry(sample_rate=0.3, random=rng.random)
        child = registry.histogram("h_seconds").labels()
        for _ in range(20_000):
            registry.record_histogram("x_seconds", 1.0)
            child.observe(1.0)
        for name in ("x_seconds", "h_seconds"):
            count = registry.sample_value(f"{name}_count")
            assert count is not None
            assert count.is_integer()
            assert count == pytest.approx(20_000, rel=0.05)

    def test_counters_and_gauges_are_never_sampled(self) -> None:
        """With a rate of 0, counters and gauges still record every call."""
        registry = MetricsRegistry(sample_rate=0.0)
        registry.record_counter("c_total", 3)
        registry.record_gauge("g", 4)
        registry.record_histogram("h_seconds", 1.0)
        assert registry.sample_value("c_total") == 3
        assert registry.sample_value("g") == 4
        assert registry.sample_value("h_seconds_count") == 0

    def test_rejects_a_rate_outside_zero_to_one(self) -> None:
        """sample_rate outside [0, 1] raises ValueError."""
        with pytest.raises(ValueError, match="sample_rate"):
            MetricsRegistry(sample_rate=1.5)


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
            return SeriesDraft(draft.name, draft.type, labels, draft.sample_rate, draft.overflow)

        registry = MetricsRegistry(processors=(redact,))
        registry.record_counter("auth_total", 1, {"token": "s3cret"})
        assert registry.sample_value("auth_total", {"token": "redacted"}) == 1

    def test_renamed_series_cannot_clash(self) -> None:
        """A processor renaming into another type's family or samples is refused: counted, or ValueError."""

        def alias(index: SeriesIndex, draft: SeriesDraft) -> SeriesDraft:
            renamed = {"alias": "depth", "other": "size"}.get(draft.name, draft.name)
            return SeriesDraft(renamed, draft.type, draft.labels, draft.sample_rate, draft.overflow)

        registry = MetricsRegistry(processors=(alias,))
        registry.record_gauge("depth", 1.0)
        registry.record_gauge("size_total", 1.0)
        registry.record_counter("alias_total")  # family "depth" is a gauge
        registry.record_counter("other_total")  # family "size" would expose size_total, a gauge
        assert dropped(registry, "type_conflict") == 2
        with pytest.raises(ValueError, match="already a gauge"):
            registry.counter("alias_total")

    def test_processor_order(self) -> None:
        """Namespace and sampling first, extra processors next, the cardinality limit last."""

        def extra(index: SeriesIndex, draft: SeriesDraft) -> SeriesDraft:
            return draft

        names = [type(p).__name__ for p in MetricsRegistry(processors=(extra,)).processors]
        assert names == ["Namespace", "HistogramSampling", "function", "CardinalityLimit"]

    def test_disabled_registry_records_nothing(self) -> None:
        """enabled=False keeps the MetricsRecorder API but records and exposes nothing."""
        registry = MetricsRegistry(enabled=False)
        assert isinstance(registry, MetricsRecorder)
        registry.record_counter("c_total", 1, GET)
        registry.record_gauge("g", 1.0)
        registry.record_histogram("h_seconds", 1.0)
        registry.record_duration("d_seconds", timedelta(seconds=1))
        registry.record_custom(CustomMetric("x", 1, MetricKind.GAUGE))
        registry.counter("declared_total").inc()
        assert registry.collect() == []

    def test_from_settings(self) -> None:
        """from_settings takes namespace, cardinality limit and buckets from monitoring.metrics."""
        settings = MetricsSettings(namespace="svc", cardinality_limit=1, histogram_buckets=(1.0, 5.0))
        registry = MetricsRegistry.from_settings(settings, sample_rate=1.0)
        registry.record_histogram("lat_seconds", 2.0, {"a": "1"})
        registry.record_histogram("lat_seconds", 2.0, {"a": "2"})
        assert registry.sample_value("svc_lat_seconds_bucket", {"a": "1", "le": "5.0"}) == 1
        assert folds(registry, "svc_lat_seconds") == 1
