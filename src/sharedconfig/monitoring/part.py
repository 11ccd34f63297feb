"""The part protocol: what one component of ``Monitoring`` gives the hub, and what the hub lends it.

A part declares its periodic jobs, what it does at start and stop, its health checks, the metrics it
describes and the settings it can apply live; ``Monitoring`` builds parts from settings through one small
factory each (``PartFactory``) and loops over them. Adding events or alerts is adding a part.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from sharedconfig.clock import Clock
from sharedconfig.runtime import Job

if TYPE_CHECKING:
    from sharedconfig.config.snapshot import Config
    from sharedconfig.interfaces import Logger
    from sharedconfig.monitoring.health import HealthCheck, HealthMonitor
    from sharedconfig.monitoring.metrics.model import Collector
    from sharedconfig.monitoring.metrics.registry import MetricsRegistry
    from sharedconfig.monitoring.settings import MonitoringSettings

__all__ = ["EventSink", "Job", "Part", "PartContext", "PartFactory", "QuietPart", "changed_keys"]


@runtime_checkable
class EventSink(Protocol):
    """What a part may do with the hub's events (``Monitoring.events``, an ``EventPublisher``): publish.

    A protocol here, so that this module needs nothing from ``monitoring.events`` (which builds on it).
    """

    @property
    def enabled(self) -> bool:
        """True when published events are kept."""
        ...

    def emit(
        self,
        type: str,
        subject: str | None = None,
        data: Any = None,
        *,
        severity: Any = ...,
        category: Any = ...,
        extensions: Mapping[str, str] | None = None,
    ) -> object:
        """Build and publish an event of this service; never blocks, never raises on delivery."""
        ...


@dataclass(frozen=True, slots=True)
class PartContext:
    """What the hub lends every part it builds: settings, time, and the shared services.

    ``metrics`` is the registry every part records into (a null registry when metrics are disabled),
    ``health`` the monitor its checks join, ``logger`` the hub's logger (parts bind their own
    ``component``), ``config`` the loaded configuration when Monitoring was built from one.
    ``exposition`` is what scrapes and pushes read: ``metrics`` itself, or in multiprocess mode the
    ``ProcessGroup`` merging every worker's series (None: ``metrics``). ``events`` is the hub's publisher
    (``Monitoring.events``): parts publish what happens through it; the events part attaches its buffer.
    """

    settings: MonitoringSettings
    clock: Clock
    logger: Logger
    metrics: MetricsRegistry
    health: HealthMonitor
    config: Config | None = None
    exposition: Collector | None = None
    events: EventSink | None = None


@runtime_checkable
class Part(Protocol):
    """One component of ``Monitoring`` (metrics exporters, health, logging; events, alerts, tracing next).

    The hub calls, in this order: ``descriptions()``, ``collectors()`` and ``checks()`` once when it is
    built (HELP text and collectors go into the registry, checks into the health monitor), ``jobs()``
    once (they run on the runtime from every ``start()`` until the next ``stop()``), ``open()`` at every
    start in the caller's thread, ``close()`` at every stop on the runtime's loop before the jobs are
    cancelled (flush buffers, push a last time, release connections), and ``apply(settings)`` when
    settings change while it runs. Every method but ``close`` is cheap and does no I/O.
    """

    @property
    def name(self) -> str:
        """A short name for logs and errors, e.g. ``"health"``."""
        ...

    def jobs(self) -> Sequence[Job]:
        """Periodic jobs to run on the monitoring runtime while started."""
        ...

    def checks(self) -> Sequence[HealthCheck]:
        """Health checks this part contributes to ``/health``."""
        ...

    def descriptions(self) -> Mapping[str, str]:
        """HELP text of the metrics this part records, by metric name."""
        ...

    def collectors(self) -> Sequence[Collector]:
        """Collectors whose families join every collection (scrape, push) while the hub exists."""
        ...

    def open(self) -> None:
        """Called at every ``start()`` before the runtime starts its jobs."""
        ...

    async def close(self) -> None:
        """Called at every ``stop()``: flush and release; must not raise for delivery problems."""
        ...

    def apply(self, settings: MonitoringSettings) -> Sequence[str]:
        """Apply what can change live; return the dotted keys that changed but need a restart."""
        ...


@dataclass(eq=False)
class QuietPart:
    """The do-nothing methods every built-in part inherits and overrides where it has something to do.

    One shallow base for the built-in parts (``parts.py``, ``multiprocess.py``, ``events/part.py``); a
    part of another package needs none (the protocol is enough).
    """

    def jobs(self) -> Sequence[Job]:
        """No periodic jobs."""
        return ()

    def checks(self) -> Sequence[HealthCheck]:
        """No health checks."""
        return ()

    def descriptions(self) -> Mapping[str, str]:
        """None: the built-in metrics are described by the hub from ``names.HELP``, once."""
        return {}

    def collectors(self) -> Sequence[Collector]:
        """No collectors."""
        return ()

    def open(self) -> None:
        """Nothing to do at start."""

    async def close(self) -> None:
        """Nothing to flush at stop."""


PartFactory = Callable[[PartContext], Part | None]
"""Builds one part from the hub's context, or None when its settings leave nothing to do."""


def changed_keys(old: object, new: object, prefix: str) -> list[str]:
    """The dotted keys under ``prefix`` whose values differ between two settings objects (sorted).

    Models are compared field by field, and lists of the same length item by item (``prefix.0.enabled``);
    a list that grew or shrank is one key (``prefix``).
    """
    from pydantic import BaseModel

    if isinstance(old, list | tuple) and isinstance(new, list | tuple) and len(old) == len(new):
        return sorted(
            key
            for i, (a, b) in enumerate(zip(old, new, strict=True))
            for key in changed_keys(a, b, f"{prefix}.{i}")
        )
    if isinstance(old, BaseModel) and isinstance(new, BaseModel):
        a, b = old.model_dump(), new.model_dump()
        return sorted(
            key
            for name in sorted(set(a) | set(b))
            if a.get(name) != b.get(name)
            for key in (changed_keys(getattr(old, name, None), getattr(new, name, None), f"{prefix}.{name}"))
        )
    return [] if old == new else [prefix]
