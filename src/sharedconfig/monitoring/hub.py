"""``Monitoring``: the composition root that builds metrics, health and logging from settings.

One ``Monitoring`` owns one background runtime; ``start()`` schedules the health checks and exporters
there, ``stop()`` flushes and joins it. ``configure()`` makes one instance process-wide; ``get()``
returns it, or a no-op until then, so library code can record freely.
"""

from __future__ import annotations

import atexit
import threading
from types import TracebackType
from typing import TYPE_CHECKING, TextIO

import psutil

from sharedconfig.clock import SYSTEM_CLOCK, Clock
from sharedconfig.monitoring.health import ConfigHealth, HealthCheck, HealthMonitor, process_check
from sharedconfig.monitoring.hooks.config import MonitoringConfigHooks
from sharedconfig.monitoring.logging import StructLogger, capture_stdlib, make_logger
from sharedconfig.monitoring.metrics.exporters import Exporter, build_exporters
from sharedconfig.monitoring.metrics.registry import MetricsRegistry
from sharedconfig.monitoring.names import HELP, PROCESS_OPEN_FDS, PROCESS_RESIDENT_MEMORY
from sharedconfig.runtime import Runtime
from sharedconfig.monitoring.settings import MonitoringSettings

if TYPE_CHECKING:
    from collections.abc import Callable

    from sharedconfig.config.snapshot import Config

__all__ = ["Monitoring", "configure", "get", "reset"]


class Monitoring:
    """Metrics, health checks and logging for one service, built from the ``monitoring`` settings.

    ``enabled: false`` (or ``metrics.enabled: false``) gives the same object with recording that costs
    nothing and a runtime that is never started.
    """

    def __init__(
        self,
        settings: MonitoringSettings | None = None,
        *,
        config: Config | None = None,
        clock: Clock = SYSTEM_CLOCK,
        stream: TextIO | None = None,
    ) -> None:
        self.settings = settings if settings is not None else MonitoringSettings()
        self.config = config
        self.clock = clock
        s = self.settings
        self.enabled = s.enabled
        self.logger: StructLogger = make_logger(s.logging, stream=stream, component="monitoring")
        self.metrics = MetricsRegistry(
            namespace=s.metrics.namespace,
            cardinality_limit=s.metrics.cardinality_limit,
            sample_rate=s.sample_rate,
            buckets=s.metrics.histogram_buckets,
            enabled=s.enabled and s.metrics.enabled,
        )
        for name, text in HELP.items():
            self.metrics.describe(name, text)
        self.config_health = ConfigHealth()
        self.config_hooks = MonitoringConfigHooks(
            self.metrics, self.logger.bind(component="config"), self.config_health
        )
        self.health = HealthMonitor(
            s.health, metrics=self.metrics, logger=self.logger.bind(component="health"), clock=clock
        )
        if self.enabled:  # disabled monitoring runs no checks: /health reports nothing rather than unknown
            # critical: /health/live must fail when the process runs out of memory or descriptors
            process = process_check(max_memory_bytes=s.resources.limits.max_memory_usage)
            self.health.register(
                HealthCheck(
                    "process",
                    process,
                    critical=True,
                    description="memory and file-descriptor headroom of this process",
                )
            )
            # critical only for a service whose configuration comes through sharedconfig; otherwise it
            # stays unknown (until loads report through config_hooks) without holding readiness back
            self.health.register(
                HealthCheck(
                    "config_loader",
                    self.config_health.check,
                    critical=config is not None,
                    description="the last configuration load or reload succeeded",
                )
            )
        if config is not None:
            self.config_health.on_load(config, config.report, 0.0)
        self.exporters: list[Exporter] = (
            build_exporters(
                s.metrics,
                self.metrics,
                metrics=self.metrics,
                clock=clock,
                logger=self.logger.bind(component="exporter"),
            )
            if self.enabled and s.metrics.enabled
            else []
        )
        self.runtime = Runtime(on_error=self._background_error)
        self._uncapture: Callable[[], None] | None = None
        self._started = False

    @classmethod
    def from_settings(cls, settings: MonitoringSettings, **kwargs: object) -> Monitoring:
        """Build from the ``monitoring`` config module (``config.monitoring``)."""
        return cls(settings, **kwargs)  # type: ignore[arg-type]

    @classmethod
    def from_config(cls, config: Config, **kwargs: object) -> Monitoring:
        """Build from a loaded ``Config``; its monitoring section (or defaults) and the config itself."""
        settings = config.module("monitoring", MonitoringSettings)
        return cls(settings, config=config, **kwargs)  # type: ignore[arg-type]

    @property
    def started(self) -> bool:
        """True between ``start()`` and ``stop()``."""
        return self._started

    def start(self) -> Monitoring:
        """Start the runtime: health checks on their intervals, exporters on theirs (idempotent)."""
        if self._started or not self.enabled:
            return self
        if self.settings.health.enabled:
            self.runtime.every(
                "health", self.settings.health.check_interval.total_seconds(), self.health.run_due
            )
        for exporter in self.exporters:
            self.runtime.every(f"export-{exporter.name}", exporter.interval, exporter.tick)
            self.runtime.on_stop(exporter.flush)
        if self.settings.metrics.enabled:
            interval = self.settings.metrics.collection_interval.total_seconds()
            self.runtime.every("process-metrics", interval, self._sample_process)
        if self.settings.logging.capture_stdlib:
            self._uncapture = capture_stdlib(self.logger, self.settings.logging.level)
        self.runtime.start()
        self._started = True
        atexit.register(self.stop)  # drained at interpreter exit too: exporters make their last push
        self.logger.info("monitoring started", exporters=[e.name for e in self.exporters])
        return self

    def stop(self, timeout: float = 15.0) -> None:
        """Flush exporters (one last push each), stop the runtime and join its thread (idempotent)."""
        if not self._started:
            return
        atexit.unregister(self.stop)
        self.runtime.stop(timeout)
        self._started = False
        self.logger.info("monitoring stopped")
        if self._uncapture is not None:
            self._uncapture()
            self._uncapture = None

    def __enter__(self) -> Monitoring:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    async def _sample_process(self) -> None:
        """Resident memory and open descriptors of this process, as gauges."""
        process = psutil.Process()
        self.metrics.record_gauge(PROCESS_RESIDENT_MEMORY, float(process.memory_info().rss))
        if hasattr(process, "num_fds"):
            self.metrics.record_gauge(PROCESS_OPEN_FDS, float(process.num_fds()))

    def _background_error(self, job: str, error: BaseException) -> None:
        self.logger.error("background job failed", job=job, error=f"{type(error).__name__}: {error}")

    def __repr__(self) -> str:
        state = "started" if self._started else "stopped"
        return f"Monitoring(enabled={self.enabled}, {state}, exporters={[e.name for e in self.exporters]})"


class _ProcessWide:
    """The configured instance and the shared disabled one, behind one lock."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.current: Monitoring | None = None
        self.noop: Monitoring | None = None


_state = _ProcessWide()


def configure(monitoring: Monitoring | MonitoringSettings | None = None, *, start: bool = True) -> Monitoring:
    """Make ``monitoring`` (or one built from settings) the process-wide instance; start it by default.

    A previously configured instance is stopped first.
    """
    if not isinstance(monitoring, Monitoring):
        monitoring = Monitoring(monitoring)
    with _state.lock:
        previous, _state.current = _state.current, monitoring
    if previous is not None and previous is not monitoring:
        previous.stop()
    if start:
        monitoring.start()
    return monitoring


def get() -> Monitoring:
    """The configured instance, or a shared disabled one whose recording costs nothing."""
    current = _state.current
    if current is not None:
        return current
    with _state.lock:
        if _state.noop is None:
            _state.noop = Monitoring(MonitoringSettings(enabled=False))
        return _state.noop


def reset() -> None:
    """Stop and forget the configured instance (tests and interpreter exit)."""
    with _state.lock:
        previous, _state.current = _state.current, None
    if previous is not None:
        previous.stop()
