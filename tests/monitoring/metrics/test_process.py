"""Tests for sharedconfig.monitoring.metrics.process: the process collector read at collection time.

A fixed reading checks the families exactly; the real reading of this process checks it is plausible.
"""

from __future__ import annotations

import os
import time

import pytest

from sharedconfig.monitoring.metrics.exposition import generate
from sharedconfig.monitoring.metrics.model import MetricType, Sample
from sharedconfig.monitoring.metrics.process import ProcessCollector, ProcessSample, read_process
from sharedconfig.monitoring.metrics.registry import MetricsRegistry
from sharedconfig.monitoring.names import HELP, PROCESS_OPEN_FDS, PROCESS_RESIDENT_MEMORY

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
        """Seven families, named as prometheus_client names them, with HELP from monitoring.names."""
        families = ProcessCollector(read=lambda: READING).collect()
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
        names = [f.name for f in ProcessCollector(read=lambda: reading).collect()]
        assert "process_open_fds" not in names
        assert "process_max_fds" not in names
        assert len(names) == 5

    def test_namespace_prefixes_every_name(self) -> None:
        """With a namespace every family is prefixed; without one (the default) none is."""
        names = [f.name for f in ProcessCollector("svc", read=lambda: READING).collect()]
        assert names[0] == "svc_process_cpu_seconds"
        assert all(name.startswith("svc_process_") for name in names)
        assert repr(ProcessCollector("svc")) == "ProcessCollector('svc')"
        assert repr(ProcessCollector()) == "ProcessCollector()"

    def test_rejects_an_invalid_namespace(self) -> None:
        """A namespace that would make the names invalid raises ValueError."""
        with pytest.raises(ValueError, match="namespace"):
            ProcessCollector("bad-prefix")

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

    def test_namespaced_like_the_registry(self) -> None:
        """Given the registry's namespace, the names are what record_gauge gave them before."""
        registry = MetricsRegistry(namespace="shop")
        registry.register(ProcessCollector(registry.namespace, read=lambda: READING))
        assert registry.sample_value("shop_process_resident_memory_bytes") == 2048.0


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
