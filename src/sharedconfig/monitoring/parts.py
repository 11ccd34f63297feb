"""The built-in parts of ``Monitoring`` and the factories that build them from settings.

``DEFAULT_PARTS`` is the tuple ``Monitoring`` builds from: configuration health, the process, health
scheduling, metric exporters and stdlib log capture. A new part is a class with the ``Part`` methods
and a factory added to that tuple (or passed as ``Monitoring(parts=...)``).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sharedconfig.config.hooks import ConfigHooks
from sharedconfig.delivery import CircuitState, StateListener
from sharedconfig.errors import SharedConfigError
from sharedconfig.hooks import fan_out
from sharedconfig.monitoring.events.part import events_part
from sharedconfig.monitoring.health import ConfigHealth, HealthCheck, process_check
from sharedconfig.monitoring.hooks.config import ConfigEvents, ConfigInfo, MonitoringConfigHooks
from sharedconfig.monitoring.logging import StructLogger, capture_stdlib
from sharedconfig.monitoring.metrics.exporters import Exporter, build_exporter_entries
from sharedconfig.monitoring.metrics.model import Collector
from sharedconfig.monitoring.metrics.multiprocess import LastFiles, LeaderOnly, ProcessGroup
from sharedconfig.monitoring.metrics.process import ProcessCollector
from sharedconfig.monitoring.multiprocess import multiprocess_part
from sharedconfig.monitoring.part import (
    EventSink,
    Job,
    Part,
    PartContext,
    PartFactory,
    QuietPart,
    changed_keys,
)
from sharedconfig.monitoring.tracing.part import tracing_part
from sharedconfig.runtime import Periodic

if TYPE_CHECKING:
    from sharedconfig.monitoring.settings import HealthSettings, MonitoringSettings

__all__ = [
    "DEFAULT_PARTS",
    "ConfigPart",
    "ExportersPart",
    "HealthPart",
    "LoggingPart",
    "ProcessPart",
    "Switched",
    "changed_keys",
    "config_part",
    "exporters_part",
    "health_part",
    "logging_part",
    "process_part",
]


@dataclass(eq=False)
class ConfigPart(QuietPart):
    """The ``config_loader`` check and the config hooks that feed it and the ``config_*`` metrics.

    The check is critical only for a service whose configuration came through sharedconfig
    (``Monitoring.from_config``); otherwise it stays unknown without holding readiness back.
    """

    hooks: ConfigHooks
    health: ConfigHealth
    critical: bool
    info: ConfigInfo | None = None
    events: ConfigEvents | None = None
    name: str = "config"

    def collectors(self) -> Sequence[Collector]:
        """``config_info``: the configuration in force."""
        return () if self.info is None else (self.info,)

    def checks(self) -> Sequence[HealthCheck]:
        """``config_loader``."""
        return (
            HealthCheck(
                "config_loader",
                self.health.check,
                critical=self.critical,
                description="the last configuration load or reload succeeded",
            ),
        )

    def apply(self, settings: MonitoringSettings) -> Sequence[str]:
        """Nothing here depends on settings."""
        return ()


def config_part(ctx: PartContext) -> Part | None:
    """The config part of an enabled Monitoring; a given ``config`` counts as its first load."""
    if not ctx.settings.enabled:
        return None
    health = ConfigHealth(changed=functools.partial(ctx.health.due_now, "config_loader"))
    logger = ctx.logger.bind(component="config")
    info = ConfigInfo(ctx.metrics.namespace)
    # fanned out: a failure in the metrics and logs side never keeps the health side from hearing a load
    observers: list[ConfigHooks] = [MonitoringConfigHooks(ctx.metrics, logger, info), health]
    events = ConfigEvents(ctx.events) if ctx.events is not None else None
    if events is not None:
        observers.append(events)
    hooks = fan_out(ConfigHooks, *observers, logger=logger, metrics=ctx.metrics)
    if ctx.config is not None:
        health.on_load(ctx.config, ctx.config.report, 0.0)
        info.set(ctx.config)
    return ConfigPart(hooks, health, critical=ctx.config is not None, info=info, events=events)


@dataclass(eq=False)
class ProcessPart(QuietPart):
    """The ``process`` check (critical: ``/health/live`` fails on memory or descriptor exhaustion) and the
    process collector (memory, descriptors, CPU, threads), read at every scrape and push."""

    max_memory_bytes: int | None
    collector: Collector | None = None
    name: str = "process"

    def checks(self) -> Sequence[HealthCheck]:
        """``process``."""
        return (
            HealthCheck(
                "process",
                process_check(max_memory_bytes=self.max_memory_bytes),
                critical=True,
                description="memory and file-descriptor headroom of this process",
            ),
        )

    def collectors(self) -> Sequence[Collector]:
        """The process metrics, read at collection time."""
        return () if self.collector is None else (self.collector,)

    def apply(self, settings: MonitoringSettings) -> Sequence[str]:
        """The memory limit is read when the check is built."""
        return changed_keys(
            self.max_memory_bytes, settings.resources.limits.max_memory_usage, "monitoring.resources.limits"
        )


def process_part(ctx: PartContext) -> Part | None:
    """The process part of an enabled Monitoring."""
    if not ctx.settings.enabled:
        return None
    collector = ProcessCollector()  # never namespaced: dashboards expect prometheus_client's names
    return ProcessPart(ctx.settings.resources.limits.max_memory_usage, collector)


@dataclass(eq=False)
class HealthPart(QuietPart):
    """Runs the health monitor's due checks on the runtime (it sleeps until the next check is due, or until
    new intervals wake it)."""

    run_due: Periodic
    interval: float
    settings: MonitoringSettings
    settle: Callable[[], object] = lambda: None
    reschedule: Callable[[HealthSettings], object] = lambda settings: None
    name: str = "health"

    def jobs(self) -> Sequence[Job]:
        """The scheduler: one job that runs what is due and sleeps until the next due check."""
        return (Job("health", self.interval, self.run_due),)

    def open(self) -> None:
        """Report the checks named in settings that nobody registered (``HealthMonitor.settle``)."""
        self.settle()

    def apply(self, settings: MonitoringSettings) -> Sequence[str]:
        """Apply intervals and timeouts live (``check_interval``, ``timeout``, each check's ``interval`` and
        ``timeout``: ``HealthMonitor.reschedule``); name every other change (checks added, removed,
        renamed, made critical or disabled, ``enabled``)."""
        keys = changed_keys(self.settings.health, settings.health, "monitoring.health")
        self.reschedule(settings.health)  # always: settings back as built undo an earlier apply
        live = {"monitoring.health.check_interval", "monitoring.health.timeout"}
        if len(settings.health.checks) == len(self.settings.health.checks):
            for i in range(len(settings.health.checks)):
                live |= {f"monitoring.health.checks.{i}.interval", f"monitoring.health.checks.{i}.timeout"}
        return [key for key in keys if key not in live]


def health_part(ctx: PartContext) -> Part | None:
    """The health scheduler, when monitoring and health are enabled."""
    if not (ctx.settings.enabled and ctx.settings.health.enabled):
        return None
    interval = ctx.settings.health.check_interval.total_seconds()
    health = ctx.health
    return HealthPart(health.run_scheduled, interval, ctx.settings, health.settle, health.reschedule)


class Switched:
    """An exporter that can be turned off and on while running (``enabled`` of its settings entry).

    Off, its ticks push nothing (the next one comes after its interval) and its flush at stop only
    releases connections; on again, it pushes the registry's current values (counts were kept meanwhile).
    """

    def __init__(self, exporter: Exporter, on: bool = True) -> None:
        self.exporter = exporter
        self.on = on

    @property
    def name(self) -> str:
        """The wrapped exporter's name."""
        return self.exporter.name

    @property
    def interval(self) -> float:
        """The wrapped exporter's interval."""
        return self.exporter.interval

    async def tick(self) -> float | None:
        """Push when on; otherwise wait one interval."""
        if not self.on:
            return None
        return await self.exporter.tick()

    async def flush(self) -> None:
        """The last push when on; otherwise close the connection without pushing."""
        if self.on:
            await self.exporter.flush()
            return
        close = getattr(self.exporter, "aclose", None)
        if close is not None:
            await close()

    def __repr__(self) -> str:
        return f"Switched({self.exporter!r}, on={self.on})"


@dataclass(eq=False)
class ExportersPart(QuietPart):
    """Pushes metrics on each exporter's interval; one last push each at stop."""

    exporters: Sequence[Exporter]
    settings: MonitoringSettings
    entries: Sequence[tuple[int, Switched]] = ()
    """Each exporter's switch with the index of its ``monitoring.metrics.exporters`` entry."""
    name: str = "exporters"

    def jobs(self) -> Sequence[Job]:
        """One job per exporter."""
        return tuple(Job(f"export-{e.name}", e.interval, e.tick) for e in self.exporters)

    async def close(self) -> None:
        """Flush every exporter at once: one that fails or hangs does not keep the others from pushing.

        They share the part's slice of the shutdown budget; the first error is raised once all ended.
        """
        outcomes = await asyncio.gather(*(e.flush() for e in self.exporters), return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome

    def apply(self, settings: MonitoringSettings) -> Sequence[str]:
        """Turn exporters off and on live (``exporters[i].enabled``); name every other change.

        An entry disabled at start was never built: enabling it needs a restart, as does any other change
        of ``monitoring.metrics.exporters`` (an endpoint, an interval, an entry added or removed).
        """
        before, given = self.settings.metrics.exporters, settings.metrics.exporters
        keys = changed_keys(before, given, "monitoring.metrics.exporters")
        if len(given) != len(before):
            return keys
        live = set()
        for index, switch in self.entries:
            switch.on = given[index].enabled
            live.add(f"monitoring.metrics.exporters.{index}.enabled")
        return [key for key in keys if key not in live]


def exporters_part(ctx: PartContext) -> Part | None:
    """One exporter per configured push destination, when metrics are enabled and any is configured."""
    s = ctx.settings
    if not (s.enabled and s.metrics.enabled):
        return None
    group = ctx.exposition if isinstance(ctx.exposition, ProcessGroup) else None
    events = ctx.events
    built = build_exporter_entries(
        s.metrics,
        ctx.metrics if group is None else LastFiles(group),
        metrics=ctx.metrics,
        clock=ctx.clock,
        logger=ctx.logger.bind(component="exporter"),
        on_give_up=_exporter_gave_up(events) if events is not None else None,
        on_state_change=_breaker_changed(events, "exporter") if events is not None else None,
    )
    if group is not None:  # one process pushes the merged view, not every worker its own
        built = [(index, LeaderOnly(exporter, group)) for index, exporter in built]
    entries = [(index, Switched(exporter)) for index, exporter in built]
    return ExportersPart([e for _, e in entries], s, entries) if entries else None


def _exporter_gave_up(events: EventSink) -> Callable[[str, BaseException], None]:
    def gave_up(exporter: str, error: BaseException) -> None:
        reason = error.message if isinstance(error, SharedConfigError) else type(error).__name__
        events.emit(
            "exporter_gave_up",
            exporter,
            {"exporter": exporter, "reason": reason},
            severity="high",
            category="error",
        )

    return gave_up


def _breaker_changed(events: EventSink, component: str) -> StateListener:
    def changed(name: str, old: CircuitState, new: CircuitState) -> None:
        opened = new in (CircuitState.OPEN, CircuitState.FORCED_OPEN)
        events.emit(
            "circuit_breaker_changed",
            name,
            {"component": component, "from": old.name.lower(), "to": new.name.lower()},
            severity="high" if opened else "info",
            category="error" if opened else "system",
        )

    return changed


@dataclass(eq=False)
class LoggingPart(QuietPart):
    """Routes stdlib ``logging`` through the structured logger while started."""

    logger: StructLogger
    level: str
    name: str = "logging"
    _undo: list[Callable[[], None]] = field(default_factory=list)

    def open(self) -> None:
        """Start capturing (once per start)."""
        if not self._undo:
            self._undo.append(capture_stdlib(self.logger, self.level))

    async def close(self) -> None:
        """Stop capturing."""
        while self._undo:
            self._undo.pop()()

    def apply(self, settings: MonitoringSettings) -> Sequence[str]:
        """Capture from the new ``logging.level`` on (the root logger's level and the handler's)."""
        level = settings.logging.level
        if level != self.level:
            self.level = level
            if self._undo:  # capturing now: capture again at the new level
                while self._undo:
                    self._undo.pop()()
                self._undo.append(capture_stdlib(self.logger, level))
        return ()


def logging_part(ctx: PartContext) -> Part | None:
    """Stdlib capture, when ``logging.capture_stdlib`` is on."""
    s = ctx.settings
    if not (s.enabled and s.logging.capture_stdlib) or not isinstance(ctx.logger, StructLogger):
        return None
    return LoggingPart(ctx.logger, s.logging.level)


DEFAULT_PARTS: tuple[PartFactory, ...] = (
    config_part,
    process_part,
    health_part,
    exporters_part,
    logging_part,
    multiprocess_part,
    tracing_part,
    events_part,
)
"""The parts every ``Monitoring`` builds, in start order (stop runs their ``close`` in the same order)."""
