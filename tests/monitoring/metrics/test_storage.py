"""Tests for sharedconfig.monitoring.metrics.storage: per-thread shards lose nothing and stay few.

8 threads x 100k operations on each hot path, collection while recording, and folding of dead threads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from registry_reads import GET, family, folds

from sharedconfig.monitoring.metrics.registry import MetricsRegistry
from sharedconfig.testing.compliance import run_in_threads


def run_threads(work: Callable[[], None], count: int = 8) -> None:
    """Run ``work`` in ``count`` threads started together and re-raise the first error."""
    run_in_threads(work, count)


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
        assert len(registry._storage._shards) <= 3  # the folding is internal; its effect is only visible here
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
