"""The process collector: this process's CPU, memory, descriptors, threads, garbage collector and Python.

``registry.register(ProcessCollector())`` adds the ``process_*`` and ``python_*`` families that
prometheus_client's process, gc and platform collectors expose (same names, types, labels and HELP) to every
scrape and push; they are read at collection, never namespaced, and nothing is pushed by a job.
"""

from __future__ import annotations

import gc
import platform
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import psutil

from sharedconfig.monitoring.metrics.model import MetricFamily, MetricType, Sample
from sharedconfig.monitoring.metrics.naming import base_name
from sharedconfig.monitoring.names import (
    HELP,
    PROCESS_CPU_SECONDS,
    PROCESS_MAX_FDS,
    PROCESS_OPEN_FDS,
    PROCESS_RESIDENT_MEMORY,
    PROCESS_START_TIME,
    PROCESS_THREADS,
    PROCESS_VIRTUAL_MEMORY,
    PYTHON_GC_COLLECTIONS,
    PYTHON_GC_OBJECTS_COLLECTED,
    PYTHON_GC_OBJECTS_UNCOLLECTABLE,
    PYTHON_INFO,
)

try:
    import resource
except ImportError:  # pragma: no cover - Windows has no resource module (and no descriptor limit)
    resource = None  # type: ignore[assignment]

__all__ = ["ProcessCollector", "ProcessSample", "python_info", "read_process"]


@dataclass(frozen=True, slots=True)
class ProcessSample:
    """One reading of this process; ``open_fds`` and ``max_fds`` are None where the OS has no such thing."""

    cpu_seconds: float
    resident_memory_bytes: float
    virtual_memory_bytes: float
    start_time_seconds: float
    threads: float
    open_fds: float | None = None
    max_fds: float | None = None


def read_process() -> ProcessSample:
    """Read this process now (psutil; the soft ``RLIMIT_NOFILE`` for ``max_fds``, None when unlimited)."""
    process = psutil.Process()  # made per reading: after a fork this is the child, not the parent
    with process.oneshot():
        cpu = process.cpu_times()
        memory = process.memory_info()
        open_fds = float(process.num_fds()) if hasattr(process, "num_fds") else None
        sample = ProcessSample(
            cpu_seconds=cpu.user + cpu.system,
            resident_memory_bytes=float(memory.rss),
            virtual_memory_bytes=float(memory.vms),
            start_time_seconds=process.create_time(),
            threads=float(process.num_threads()),
            open_fds=open_fds,
        )
    if resource is None:  # pragma: no cover - Windows
        return sample
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return sample
    return replace(sample, max_fds=float(soft))


# (constant from names.py, type, unit, field of ProcessSample), in the order they are collected
_FAMILIES: tuple[tuple[str, MetricType, str, str], ...] = (
    (PROCESS_CPU_SECONDS, MetricType.COUNTER, "seconds", "cpu_seconds"),
    (PROCESS_RESIDENT_MEMORY, MetricType.GAUGE, "bytes", "resident_memory_bytes"),
    (PROCESS_VIRTUAL_MEMORY, MetricType.GAUGE, "bytes", "virtual_memory_bytes"),
    (PROCESS_START_TIME, MetricType.GAUGE, "seconds", "start_time_seconds"),
    (PROCESS_OPEN_FDS, MetricType.GAUGE, "", "open_fds"),
    (PROCESS_MAX_FDS, MetricType.GAUGE, "", "max_fds"),
    (PROCESS_THREADS, MetricType.GAUGE, "", "threads"),
)


# (constant from names.py, key of gc.get_stats()'s per-generation dicts), all counters by generation
_GC_FAMILIES: tuple[tuple[str, str], ...] = (
    (PYTHON_GC_OBJECTS_COLLECTED, "collected"),
    (PYTHON_GC_OBJECTS_UNCOLLECTABLE, "uncollectable"),
    (PYTHON_GC_COLLECTIONS, "collections"),
)

GcStats = Callable[[], Sequence[Mapping[str, int]]]
"""What ``gc.get_stats`` returns: one mapping per generation, with ``collected``, ``uncollectable``..."""

_GC_STATS: GcStats | None = getattr(gc, "get_stats", None)  # CPython and PyPy have it


def python_info() -> dict[str, str]:
    """The labels of ``python_info``: implementation, major, minor, patchlevel and version of this Python."""
    major, minor, patchlevel = platform.python_version_tuple()
    return {
        "implementation": platform.python_implementation(),
        "major": major,
        "minor": minor,
        "patchlevel": patchlevel,
        "version": platform.python_version(),
    }


class ProcessCollector:
    """A ``Collector`` of this process's standard metrics, read when collected (a scrape, an exporter's push).

    Families, as prometheus_client names them: ``process_cpu_seconds_total`` (counter),
    ``process_resident_memory_bytes``, ``process_virtual_memory_bytes``, ``process_start_time_seconds``,
    ``process_open_fds`` and ``process_max_fds`` (where the OS has them), ``process_threads`` (ours);
    ``python_gc_objects_collected_total``, ``python_gc_objects_uncollectable_total`` and
    ``python_gc_collections_total`` by ``generation`` (where ``gc.get_stats`` exists), and
    ``python_info{implementation,major,minor,patchlevel,version}`` = 1. HELP texts come from
    ``monitoring.names``. ``metrics.namespace`` never applies: dashboards look for these exact names.
    ``read`` reads the process (``read_process``) and ``gc_stats`` the collector (``gc.get_stats``); tests
    pass their own.
    """

    __slots__ = ("_gc_stats", "_info", "_read")

    def __init__(
        self,
        *,
        read: Callable[[], ProcessSample] = read_process,
        gc_stats: GcStats | None = _GC_STATS,
    ) -> None:
        self._read = read
        self._gc_stats = gc_stats
        info = tuple(sorted(python_info().items()))
        self._info = MetricFamily(
            PYTHON_INFO, MetricType.GAUGE, HELP[PYTHON_INFO], (Sample(PYTHON_INFO, info, 1.0),)
        )

    def __repr__(self) -> str:
        """``ProcessCollector()``."""
        return "ProcessCollector()"

    def collect(self) -> list[MetricFamily]:
        """The process families read now (one the OS does not give is left out), gc and python_info."""
        sample = self._read()
        families: list[MetricFamily] = []
        for name, kind, unit, field in _FAMILIES:
            value = getattr(sample, field)
            if value is None:
                continue
            family = base_name(kind, name)
            families.append(MetricFamily(family, kind, HELP[name], (Sample(name, (), float(value)),), unit))
        if self._gc_stats is not None:
            generations = list(self._gc_stats())
            for name, key in _GC_FAMILIES:
                samples = tuple(
                    Sample(name, (("generation", str(gen)),), float(stats[key]))
                    for gen, stats in enumerate(generations)
                )
                families.append(
                    MetricFamily(base_name(MetricType.COUNTER, name), MetricType.COUNTER, HELP[name], samples)
                )
        families.append(self._info)
        return families
