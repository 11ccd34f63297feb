"""Tests for sharedconfig.monitoring.metrics.process: the process collector read at collection time.

A fixed reading checks the families exactly; the real reading of this process checks it is plausible;
prometheus_client's own process, gc and platform collectors are the reference for names, types and labels.
"""

from __future__ import annotations

import os
import time
from typing import Any, cast

import prometheus_client
import pytest

from sharedconfig.monitoring.metrics.exposition import generate
from sharedconfig.monitoring.metrics.model import MetricType, Sample
from sharedconfig.monitoring.metrics.process import (
    ProcessCollector,
    ProcessSample,
    python_info,
    read_process,
)
from sharedconfig.monitoring.metrics.registry import MetricsRegistry
from sharedconfig.monitoring.names import HELP, PROCESS_OPEN_FDS, PROCESS_RESIDENT_MEMORY

GC_STATS = [
    {"collections": 10, "collected": 100, "uncollectable": 0},
    {"collections": 2, "collected": 20, "uncollectable": 1},
    {"collections": 1, "collected": 3, "uncollectable": 0},
]

READING = ProcessSample(
    cpu_seconds=1.5,
    resident_memory_bytes=2048.0,
    virtual_memory_bytes=8192.0,
    start_time_seconds=1_700_000_000.25,
    threads=3.0,
    open_fds=7.0,
    max_fds=1024.0,
)


class TestFamilies:
    """ProcessCollector turns one reading into the usual process_* families."""

    def test_every_family_with_type_help_and_unit(self) -> None:
        """Seven process families, named as prometheus_client names them, with HELP from monitoring.names."""
        families = ProcessCollector(read=lambda: READING, gc_stats=None).collect()[:-1]
        assert [(f.name, f.type, f.unit, f.samples) for f in families] == [
            ("process_cpu_seconds", MetricType.COUNTER, "seconds",
             (Sample("process_cpu_seconds_total", (), 1.5),)),
            ("process_resident_memory_bytes", MetricType.GAUGE, "bytes",
             (Sample("process_resident_memory_bytes", (), 2048.0),)),
            ("process_virtual_memory_bytes", MetricType.GAUGE, "bytes",
             (Sample("process_virtual_memory_bytes", (), 8192.0),)),
            ("process_start_time_seconds", MetricType.GAUGE, "seconds",
             (Sample("process_start_time_seconds", (), 1_700_000_000.25),)),
            ("process_open_fds", MetricType.GAUGE, "", (Sample("process_open_fds", (), 7.0),)),
            ("process_max_fds", MetricType.GAUGE, "", (Sample("process_max_fds", (), 1024.0),)),
            ("process_threads", MetricType.GAUGE, "", (Sample("process_threads", (), 3.0),)),
        ]  # fmt: skip
        help_by_name = {f.name: f.help for f in families}
        assert help_by_name[PROCESS_OPEN_FDS] == HELP[PROCESS_OPEN_FDS]
        assert help_by_name[PROCESS_RESIDENT_MEMORY] == HELP[PROCESS_RESIDENT_MEMORY]
        assert all(f.help for f in families)

    def test_missing_readings_are_left_out(self) -> None:
        """Where the OS has no descriptor count or limit, those two families are absent."""
        reading = ProcessSample(1.0, 2.0, 3.0, 4.0, 5.0)
        names = [f.name for f in ProcessCollector(read=lambda: reading, gc_stats=None).collect()]
        assert "process_open_fds" not in names
        assert "process_max_fds" not in names
        assert len(names) == 6  # five process families and python_info

    def test_gc_families_by_generation(self) -> None:
        """gc.get_stats() becomes three counters labelled generation="0".."2", as prometheus_client's."""
        families = ProcessCollector(read=lambda: READING, gc_stats=lambda: GC_STATS).collect()
        by_name = {f.name: f for f in families}
        collections = by_name["python_gc_collections"]
        assert collections.type is MetricType.COUNTER
        assert collections.samples == (
            Sample("python_gc_collections_total", (("generation", "0"),), 10.0),
            Sample("python_gc_collections_total", (("generation", "1"),), 2.0),
            Sample("python_gc_collections_total", (("generation", "2"),), 1.0),
        )
        collected = by_name["python_gc_objects_collected"].samples
        assert [s.value for s in collected] == [100.0, 20.0, 3.0]
        uncollectable = by_name["python_gc_objects_uncollectable"].samples
        assert [s.value for s in uncollectable] == [0.0, 1.0, 0.0]

    def test_python_info(self) -> None:
        """python_info is a gauge of 1 labelled with this interpreter's implementation and version."""
        family = ProcessCollector(read=lambda: READING).collect()[-1]
        assert (family.name, family.type, family.help) == (
            "python_info",
            MetricType.GAUGE,
            HELP["python_info"],
        )
        (sample,) = family.samples
        labels = dict(sample.labels)
        assert labels == python_info()
        assert labels["version"] == ".".join((labels["major"], labels["minor"], labels["patchlevel"]))
        assert sample.value == 1.0

    def test_no_namespace(self) -> None:
        """ProcessCollector takes no namespace: the names are the same in every service."""
        with pytest.raises(TypeError):
            cast(Any, ProcessCollector)("svc")  # the old ProcessCollector(namespace)
        assert repr(ProcessCollector()) == "ProcessCollector()"

    def test_read_at_each_collection(self) -> None:
        """Each collect() reads the process again: nothing is cached between scrapes."""
        readings = iter([READING, ProcessSample(9.0, 2.0, 3.0, 4.0, 5.0)])
        collector = ProcessCollector(read=lambda: next(readings))
        assert collector.collect()[0].samples[0].value == 1.5
        assert collector.collect()[0].samples[0].value == 9.0


class TestInARegistry:
    """Registered on a registry, the process families are scraped with everything else."""

    def test_registered_families_are_exposed(self) -> None:
        """/metrics shows the process families; the names the hub used to record are there."""
        registry = MetricsRegistry()
        registry.register(ProcessCollector(read=lambda: READING))
        body, _ = generate(registry, None)
        assert b"process_resident_memory_bytes 2048.0\n" in body
        assert b"process_open_fds 7.0\n" in body
        assert b"# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 1.5\n" in body

    def test_never_namespaced(self) -> None:
        """A registry with a namespace still exposes process_* and python_* under their own names."""
        registry = MetricsRegistry(namespace="shop")
        registry.register(ProcessCollector(read=lambda: READING, gc_stats=lambda: GC_STATS))
        registry.record_gauge("queue_depth", 1.0)
        assert registry.sample_value("process_resident_memory_bytes") == 2048.0
        assert registry.sample_value("python_gc_collections_total", {"generation": "0"}) == 10.0
        assert registry.sample_value("shop_queue_depth") == 1.0
        assert not any(f.name.startswith("shop_process") for f in registry.collect())


class TestLikePrometheusClient:
    """Our families are prometheus_client's: the same names, types, label names and HELP texts."""

    def test_same_families_as_prometheus_client(self) -> None:
        """Process, gc and platform collectors of prometheus_client expose what we expose (plus threads)."""
        theirs = prometheus_client.CollectorRegistry()
        prometheus_client.ProcessCollector(registry=theirs)
        prometheus_client.GCCollector(registry=theirs)
        prometheus_client.PlatformCollector(registry=theirs)
        reference = {
            (f.name, f.type, f.documentation, frozenset(k for s in f.samples for k in s.labels))
            for f in theirs.collect()
        }
        ours = {
            (f.name, f.type.value, f.help, frozenset(k for s in f.samples for k, _ in s.labels))
            for f in ProcessCollector().collect()
            if f.name != "process_threads"
        }
        assert ours == reference

    def test_same_values_as_prometheus_client(self) -> None:
        """python_info's labels and the process start time agree with prometheus_client's readings."""
        theirs = prometheus_client.CollectorRegistry()
        prometheus_client.PlatformCollector(registry=theirs)
        prometheus_client.ProcessCollector(registry=theirs)
        registry = MetricsRegistry()
        registry.register(ProcessCollector())
        info = next(s for f in theirs.collect() for s in f.samples if s.name == "python_info")
        assert registry.sample_value("python_info", info.labels) == 1.0
        start = theirs.get_sample_value("process_start_time_seconds")
        if start is not None:  # prometheus_client reads /proc: Linux only
            assert registry.sample_value("process_start_time_seconds") == pytest.approx(start, abs=1.0)


class TestReadProcess:
    """read_process reads this very process."""

    def test_plausible_values(self) -> None:
        """Memory, CPU, start time and threads of the test process look like a live process."""
        reading = read_process()
        assert reading.resident_memory_bytes > 1_000_000
        assert reading.virtual_memory_bytes >= reading.resident_memory_bytes
        assert reading.cpu_seconds > 0
        assert 0 < reading.start_time_seconds <= time.time()
        assert reading.threads >= 1

    @pytest.mark.skipif(os.name != "posix", reason="file descriptors are a POSIX notion")
    def test_descriptors_on_posix(self) -> None:
        """On POSIX the open descriptors are counted and lie under the soft limit, when there is one."""
        reading = read_process()
        assert reading.open_fds is not None
        assert reading.open_fds >= 3  # stdin, stdout, stderr at least
        if reading.max_fds is not None:
            assert reading.open_fds <= reading.max_fds
