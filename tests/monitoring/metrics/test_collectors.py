"""Tests for sharedconfig.monitoring.metrics.collectors: MetricsRegistry.register/unregister.

A registered collector's families join every collect() (so exposition and exporters); names clash at
registration as in prometheus_client, and a collector that fails or clashes later never breaks a scrape.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest
from registry_reads import dropped

from sharedconfig.monitoring.metrics.exposition import generate
from sharedconfig.monitoring.metrics.model import Collector, MetricFamily, MetricType, Sample
from sharedconfig.monitoring.metrics.registry import MetricsRegistry


def gauge(name: str, value: float = 1.0) -> MetricFamily:
    """An unlabelled gauge family."""
    return MetricFamily(name, MetricType.GAUGE, f"{name} help.", (Sample(name, (), value),))


def counter(name: str, value: float = 1.0) -> MetricFamily:
    """An unlabelled counter family (``name`` without ``_total``)."""
    return MetricFamily(name, MetricType.COUNTER, f"{name} help.", (Sample(f"{name}_total", (), value),))


class Fixed:
    """A collector whose families a test sets; it counts its collections."""

    def __init__(self, *families: MetricFamily) -> None:
        self.families: list[MetricFamily] = list(families)
        self.calls = 0

    def collect(self) -> Sequence[MetricFamily]:
        """The current families."""
        self.calls += 1
        return self.families


class Broken:
    """A collector that works when registered and fails afterwards."""

    def __init__(self) -> None:
        self.fail = False

    def collect(self) -> Sequence[MetricFamily]:
        """A family, or an error once ``fail`` is set."""
        if self.fail:
            raise RuntimeError("cannot read")
        return [gauge("flaky")]


class TestRegister:
    """register() adds the collector's families to collect(), read at collection time."""

    def test_families_join_collect_sorted_by_name(self) -> None:
        """The collector's families and the registry's come out together, sorted by name."""
        registry = MetricsRegistry()
        registry.record_counter("orders_total")
        registry.record_gauge("zeta", 1.0)
        registry.register(Fixed(gauge("beta"), counter("omega")))
        assert [f.name for f in registry.collect()] == ["beta", "omega", "orders", "zeta"]
        assert registry.sample_value("omega_total") == 1.0

    def test_read_at_each_collection(self) -> None:
        """The collector is asked at every collect(): a changed value shows at the next scrape."""
        registry = MetricsRegistry()
        collector = Fixed(gauge("temperature", 20.0))
        registry.register(collector)
        assert registry.sample_value("temperature") == 20.0
        collector.families = [gauge("temperature", 21.5)]
        assert registry.sample_value("temperature") == 21.5
        assert collector.calls == 3  # once at registration, once per collection

    def test_in_the_exposition(self) -> None:
        """/metrics shows a collector's families with their HELP and TYPE."""
        registry = MetricsRegistry()
        registry.register(Fixed(gauge("queue_depth", 3.0)))
        body, _ = generate(registry, None)
        assert b"# HELP queue_depth queue_depth help.\n# TYPE queue_depth gauge\nqueue_depth 3.0\n" in body

    def test_collectors_are_not_namespaced(self) -> None:
        """The namespace is a processor of recorded series: a collector's names are its own."""
        registry = MetricsRegistry(namespace="shop")
        registry.register(Fixed(gauge("process_threads")))
        registry.record_gauge("process_threads", 2.0)  # becomes shop_process_threads: no clash
        assert [f.name for f in registry.collect()] == ["process_threads", "shop_process_threads"]

    def test_unregister_stops_collecting_and_frees_the_names(self) -> None:
        """After unregister the families are gone and their names may be recorded."""
        registry = MetricsRegistry()
        collector = Fixed(gauge("depth"))
        registry.register(collector)
        registry.unregister(collector)
        registry.record_gauge("depth", 5.0)
        assert [(f.name, f.samples[0].value) for f in registry.collect()] == [("depth", 5.0)]
        with pytest.raises(ValueError, match="not registered"):
            registry.unregister(collector)

    def test_is_a_collector_itself(self) -> None:
        """The registry and the test collectors satisfy the Collector protocol."""
        assert isinstance(MetricsRegistry(), Collector)
        assert isinstance(Fixed(), Collector)


class TestClashesAtRegistration:
    """A collector whose names are taken is refused with ValueError, as prometheus_client does."""

    @pytest.mark.parametrize(
        ("record", "family"),
        [
            (lambda r: r.record_gauge("depth", 1.0), gauge("depth")),
            (lambda r: r.record_counter("jobs_total"), gauge("jobs_total")),  # a counter exposes _total
            (lambda r: r.record_histogram("lat", 1.0), gauge("lat_count")),
            (lambda r: r.counter("declared_total").inc(), counter("declared")),
            (lambda r: None, counter("metrics_dropped")),  # the registry's own
        ],
    )
    def test_a_registry_family_takes_the_name(
        self, record: Callable[[MetricsRegistry], object], family: MetricFamily
    ) -> None:
        """A name a registry family exposes cannot be a collector's; the registry is left as it was."""
        registry = MetricsRegistry()
        record(registry)
        before = registry.collect()
        with pytest.raises(ValueError, match="clashes with"):
            registry.register(Fixed(family))
        assert registry.collect() == before

    def test_another_collector_takes_the_name(self) -> None:
        """Two collectors may not expose the same sample name; the first one stays."""
        registry = MetricsRegistry()
        first = Fixed(gauge("depth", 1.0))
        registry.register(first)
        with pytest.raises(ValueError, match="the collector Fixed"):
            registry.register(Fixed(gauge("depth", 2.0)))
        assert registry.sample_value("depth") == 1.0

    def test_twice_is_refused(self) -> None:
        """The same collector cannot be registered twice."""
        registry = MetricsRegistry()
        collector = Fixed(gauge("depth"))
        registry.register(collector)
        with pytest.raises(ValueError, match="registered already"):
            registry.register(collector)

    def test_its_own_families_may_not_clash(self) -> None:
        """A collector whose families share sample names, or carry an invalid name, is refused."""
        with pytest.raises(ValueError, match="clash"):
            MetricsRegistry().register(Fixed(gauge("x_total"), counter("x")))
        with pytest.raises(ValueError, match="invalid metric name"):
            MetricsRegistry().register(Fixed(gauge("bad name")))


class TestReservedNames:
    """While a collector is in, its names are refused to record_* (counted) and to declarations."""

    def test_recording_a_reserved_name_is_dropped(self) -> None:
        """record_* of a collector's name is dropped as reserved_name; the collector's value stays."""
        registry = MetricsRegistry()
        registry.register(Fixed(gauge("process_open_fds", 12.0), counter("process_cpu_seconds")))
        registry.record_gauge("process_open_fds", 99.0)
        registry.record_counter("process_cpu_seconds_total")
        assert registry.sample_value("process_open_fds") == 12.0
        assert dropped(registry, "reserved_name") == 2

    def test_declaring_a_reserved_name_raises(self) -> None:
        """Declaring an instrument whose family would take a collector's name raises ValueError."""
        registry = MetricsRegistry()
        registry.register(Fixed(gauge("depth")))
        with pytest.raises(ValueError, match="the collector Fixed"):
            registry.gauge("depth")
        labelled = registry.gauge("depth_bucket_like", labelnames=("a",))
        labelled.labels("1").set(1)  # other names are unaffected


class TestFailuresAtCollection:
    """A collector that fails or clashes after registration is left out of that scrape and counted."""

    def test_a_failing_collector_is_skipped_and_counted(self) -> None:
        """Its families are missing, everything else is there, collector_error counts each failure."""
        registry = MetricsRegistry()
        broken = Broken()
        registry.register(broken)
        registry.register(Fixed(gauge("fine")))
        broken.fail = True
        assert "fine" in [f.name for f in registry.collect()]
        assert "flaky" not in [f.name for f in registry.collect()]
        assert dropped(registry, "collector_error") == 2

    def test_a_late_family_that_clashes_is_left_out(self) -> None:
        """A family shown only after registration is kept, unless its names are taken then."""
        registry = MetricsRegistry()
        registry.record_gauge("taken", 1.0)
        collector = Fixed(gauge("first"))
        registry.register(collector)
        collector.families = [gauge("first"), gauge("later", 2.0), gauge("taken", 3.0), gauge("bad name")]
        first = registry.collect()
        assert [(f.name, f.samples[0].value) for f in first] == [
            ("first", 1.0),
            ("later", 2.0),
            ("taken", 1.0),
        ]
        second = {(s.name, s.labels): s.value for f in registry.collect() for s in f.samples}
        assert second["metrics_dropped_total", (("reason", "collector_conflict"),)] == 1  # from the first
        assert second["metrics_dropped_total", (("reason", "invalid_name"),)] == 1

    def test_two_collectors_showing_the_same_late_family_keep_the_first(self) -> None:
        """When two collectors both start showing a new name, the first registered one wins."""
        registry = MetricsRegistry()
        one, two = Fixed(), Fixed()
        registry.register(one)
        registry.register(two)
        one.families, two.families = [gauge("new", 1.0)], [gauge("new", 2.0)]
        assert registry.sample_value("new") == 1.0
        assert dropped(registry, "collector_conflict") == 1
