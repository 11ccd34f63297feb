"""The process collector: this process's CPU, memory, descriptors and threads, read at each collection.

``registry.register(ProcessCollector())`` adds the usual ``process_*`` families to every scrape and push,
as prometheus_client's process collector does; nothing is pushed by a job.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import psutil

from sharedconfig.monitoring.metrics.model import MetricFamily, MetricType, Sample
from sharedconfig.monitoring.metrics.naming import base_name
from sharedconfig.monitoring.metrics.processors import Namespace
from sharedconfig.monitoring.names import (
    HELP,
    PROCESS_CPU_SECONDS,
    PROCESS_MAX_FDS,
    PROCESS_OPEN_FDS,
    PROCESS_RESIDENT_MEMORY,
    PROCESS_START_TIME,
    PROCESS_THREADS,
    PROCESS_VIRTUAL_MEMORY,
)

try:
    import resource
except ImportError:  # pragma: no cover - Windows has no resource module (and no descriptor limit)
    resource = None  # type: ignore[assignment]

__all__ = ["ProcessCollector", "ProcessSample", "read_process"]


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


class ProcessCollector:
    """A ``Collector`` of this process's metrics, read when collected (a scrape, an exporter's push).

    Families: ``process_cpu_seconds_total`` (counter), ``process_resident_memory_bytes``,
    ``process_virtual_memory_bytes``, ``process_start_time_seconds``, ``process_open_fds`` and
    ``process_max_fds`` (where the OS has them) and ``process_threads``, with HELP from
    ``monitoring.names``. ``namespace`` prefixes them (``svc_process_open_fds``); like prometheus_client,
    none by default. ``read`` is what reads the process (``read_process``; tests pass their own).
    """

    __slots__ = ("_families", "_namespace", "_read")

    def __init__(self, namespace: str = "", *, read: Callable[[], ProcessSample] = read_process) -> None:
        Namespace(namespace)  # ValueError for a prefix that would make the names invalid
        prefix = f"{namespace}_" if namespace else ""
        self._namespace = namespace
        self._read = read
        self._families = tuple(
            (prefix + base_name(kind, name), kind, HELP[name], unit, field)
            for name, kind, unit, field in _FAMILIES
        )

    def __repr__(self) -> str:
        """``ProcessCollector()``, or with its namespace."""
        return f"ProcessCollector({self._namespace!r})" if self._namespace else "ProcessCollector()"

    def collect(self) -> list[MetricFamily]:
        """The process families, read now; one the OS does not give is left out."""
        sample = self._read()
        families: list[MetricFamily] = []
        for name, kind, help_, unit, field in self._families:
            value = getattr(sample, field)
            if value is None:
                continue
            exposed = f"{name}_total" if kind is MetricType.COUNTER else name
            families.append(MetricFamily(name, kind, help_, (Sample(exposed, (), float(value)),), unit))
        return families
