"""Tests for sharedconfig.monitoring.metrics.instruments: declared counters, gauges, histograms, timers.

Instruments are declared through a MetricsRegistry (their ChildSource); the null children are checked too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from registry_reads import GET, dropped, family

from sharedconfig.monitoring.metrics.instruments import (
    NULL_CHILDREN,
    NULL_TIMER,
    Counter,
    Gauge,
    Histogram,
    NullCounterChild,
)
from sharedconfig.monitoring.metrics.processors import DropSeries, SeriesDraft, SeriesIndex
from sharedconfig.monitoring.metrics.registry import MetricsRegistry
from sharedconfig.testing import FakeClock


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
            (lambda r: r.gauge("jobs_created", labelnames=("queue",)), "clashes with the counter jobs_total"),
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
        registry.record_gauge("jobs_created", 1.0)
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


class TestCounterValues:
    """A counter child only goes up, by finite amounts, as promtool and Prometheus expect."""

    @pytest.mark.parametrize("amount", [float("inf"), float("nan"), -1.0])
    def test_inc_refuses_infinite_nan_and_negative(self, amount: float) -> None:
        """inc(+Inf), inc(NaN) and inc(-1) raise ValueError and leave the counter as it was."""
        registry = MetricsRegistry()
        child = registry.counter("jobs_total", labelnames=("queue",)).labels("a")
        child.inc(2)
        with pytest.raises(ValueError, match="finite amount"):
            child.inc(amount)
        assert registry.sample_value("jobs_total", {"queue": "a"}) == 2


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


class TestNullChildren:
    """NULL_CHILDREN hands out children that record nothing; a processor's drop gives one too."""

    def test_null_source_builds_instruments_that_record_nothing(self) -> None:
        """Instruments on NULL_CHILDREN take every call and keep no child."""
        counter = Counter(NULL_CHILDREN, "c", "", ("a",), ())
        gauge = Gauge(NULL_CHILDREN, "g", "", (), ())
        histogram = Histogram(NULL_CHILDREN, "h", "", (), (1.0,))
        counter.labels("x").inc(3)
        gauge.set(1)
        gauge.inc()
        gauge.dec(2)
        histogram.observe(0.5)
        assert isinstance(counter.labels("x"), NullCounterChild)
        assert histogram.time() is NULL_TIMER

    def test_null_timer_returns_the_function_unchanged(self) -> None:
        """As a decorator the null timer is the identity; as a context manager it does nothing."""

        def work() -> int:
            return 1

        assert NULL_TIMER(work) is work
        with NULL_TIMER as timer:
            assert timer is NULL_TIMER

    def test_a_child_a_processor_dropped_records_nothing_and_counts_once(self) -> None:
        """The dropped child is kept, so its drop is counted once however often it is used."""

        def no_debug(index: SeriesIndex, draft: SeriesDraft) -> SeriesDraft:
            if draft.name.startswith("debug_"):
                raise DropSeries
            return draft

        registry = MetricsRegistry(processors=(no_debug,))
        counter = registry.counter("debug_calls_total", labelnames=("a",))
        for _ in range(3):
            counter.labels("x").inc()
        registry.gauge("debug_depth").set(4)
        registry.histogram("debug_seconds").observe(1.0)
        assert isinstance(counter.labels("x"), NullCounterChild)
        assert [f.name for f in registry.collect()] == ["metrics_dropped"]
        assert dropped(registry, "dropped_by_processor") == 3
