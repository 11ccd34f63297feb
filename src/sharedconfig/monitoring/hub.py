"""``Monitoring``: the composition root that builds its parts from settings and runs them.

The hub owns the shared services (logger, metrics registry, health monitor), builds one part per factory
(``monitoring.parts.DEFAULT_PARTS``), registers their checks, HELP text, collectors and jobs once, and
loops over them in ``start``/``stop``. ``configure()`` makes one instance process-wide; ``get()`` returns
it, or a no-op until then, so library code can record freely.
"""

from __future__ import annotations

import atexit
import os
import socket
import threading
import weakref
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Protocol, TextIO

from sharedconfig.clock import SYSTEM_CLOCK, Clock
from sharedconfig.config.hooks import NO_HOOKS, ConfigHooks
from sharedconfig.interfaces import CheckResult, HealthState
from sharedconfig.monitoring.events.publisher import EventPublisher
from sharedconfig.monitoring.health import HealthMonitor
from sharedconfig.monitoring.hooks.config import change_data
from sharedconfig.monitoring.logging import StructLogger, make_logger
from sharedconfig.monitoring.metrics.model import Collector
from sharedconfig.monitoring.metrics.multiprocess import ProcessGroup, resolve_directory
from sharedconfig.monitoring.metrics.registry import MetricsRegistry
from sharedconfig.monitoring.names import HELP, SHUTDOWN_ABANDONED
from sharedconfig.monitoring.part import Part, PartContext, PartFactory
from sharedconfig.monitoring.parts import DEFAULT_PARTS, ConfigPart, ExportersPart, changed_keys
from sharedconfig.monitoring.settings import MonitoringSettings
from sharedconfig.monitoring.tracing.part import TracingPart
from sharedconfig.runtime import Runtime

if TYPE_CHECKING:
    from sharedconfig.config.snapshot import Config
    from sharedconfig.monitoring.metrics.exporters import Exporter

__all__ = ["Followable", "Monitoring", "configure", "event_source", "get", "reset"]

Change = Callable[["Config", "Config", list[tuple[str, Any, Any]]], None]
"""A watcher's subscriber: ``fn(old, new, diff)`` with ``diff`` the redacted rows of ``old.diff(new)``."""


class Followable(Protocol):
    """What ``Monitoring.follow`` needs of a watcher (``sharedconfig.config.watcher.ConfigWatcher``)."""

    def subscribe(self, path: str | None, fn: Change) -> Callable[[], None]:
        """Call ``fn(old, new, diff)`` after each change under ``path`` (None: any); gives its unsubscribe."""
        ...


_CLAIMS: Final[dict[str, tuple[str, ...]]] = {
    "process": ("monitoring.resources.limits",),
    "health": ("monitoring.health",),
    "exporters": ("monitoring.metrics.exporters",),
    "events": ("monitoring.events",),
    "tracing": ("monitoring.tracing",),
}
"""The settings each built-in part applies or names itself (``Part.apply``); the hub names the rest."""

_LIVE: Final = frozenset({"monitoring.sample_rate", "monitoring.logging.level"})
"""The settings the hub applies itself: the events' sample rate and the log level."""


def _under(key: str, prefixes: Sequence[str]) -> bool:
    return any(key == p or key.startswith(p + ".") for p in prefixes)


def event_source(settings: MonitoringSettings) -> str:
    """The CloudEvents ``source`` of this service's events: ``events.source``, else
    ``/<tracing.service_name>/<hostname>`` (``/sharedconfig/<hostname>`` while the service is unnamed)."""
    if settings.events.source:
        return settings.events.source
    service = settings.tracing.service_name
    if service == "unknown_service":
        service = "sharedconfig"
    return f"/{service}/{socket.gethostname()}"


class Monitoring:
    """Metrics, health checks, logging and every other part for one service, built from settings.

    ``enabled: false`` (or ``metrics.enabled: false``) gives the same object with recording that costs
    nothing and no part that runs. ``start()`` opens every part and starts the runtime with their jobs;
    ``stop()`` closes every part (flushes) and stops the runtime; both are idempotent, and a stopped
    instance can be started again (each job then runs once, as the first time).
    """

    def __init__(
        self,
        settings: MonitoringSettings | None = None,
        *,
        config: Config | None = None,
        clock: Clock = SYSTEM_CLOCK,
        stream: TextIO | None = None,
        parts: Sequence[PartFactory] = DEFAULT_PARTS,
    ) -> None:
        self.settings = settings if settings is not None else MonitoringSettings()
        self.config = config
        self.clock = clock
        s = self.settings
        self.enabled = s.enabled
        self.logger: StructLogger = make_logger(s.logging, stream=stream, component="monitoring")
        # monitoring.sample_rate is for events (traces have theirs): metrics count everything
        self.metrics = MetricsRegistry.from_settings(
            s.metrics,
            clock=clock,
            enabled=s.enabled,
            warn=self.logger.bind(component="metrics").warning,
        )
        for name, text in HELP.items():
            self.metrics.describe(name, text)
        # multiprocess mode (monitoring.metrics.multiprocess_dir): scrapes and pushes read every worker's
        self.exposition: Collector = self.metrics
        """What ``/metrics`` and push exporters read: ``metrics``, or the ``ProcessGroup`` of every worker."""
        found = resolve_directory(s.metrics, os.environ, config) if self.metrics.enabled else None
        if found is not None:
            self.exposition = ProcessGroup(
                found[0], self.metrics, logger=self.logger.bind(component="metrics")
            )
        self.events = EventPublisher(
            source=event_source(s),
            sample_rate=s.sample_rate,
            metrics=self.metrics,
            clock=clock,
            logger=self.logger.bind(component="events"),
        )
        """``publish(event)`` / ``emit(type, subject, data, ...)``: never block, never raise on delivery;
        disabled (a no-op) unless ``monitoring.events`` has a channel."""
        self.health = HealthMonitor(
            s.health, metrics=self.metrics, logger=self.logger.bind(component="health"), clock=clock
        )
        self.health.listen(self._health_changed)
        self.runtime = Runtime(on_error=self._background_error, clock=clock)
        context = PartContext(
            s, clock, self.logger, self.metrics, self.health, config, self.exposition, self.events
        )
        built = (factory(context) for factory in parts)
        self.parts: tuple[Part, ...] = tuple(part for part in built if part is not None)
        for part in self.parts:
            for name, text in part.descriptions().items():
                self.metrics.describe(name, text)
            for collector in part.collectors():
                self.metrics.register(collector)
            for check in part.checks():
                self.health.register(check)
            for job in part.jobs():
                self.runtime.every(f"{part.name}:{job.name}", job.interval, job.run)
            self.runtime.on_stop(part.close, part.name)
        self._lock = threading.Lock()
        self._applying = threading.Lock()  # one apply at a time (a watcher's thread, the caller's)
        self._started = False
        _INSTANCES.add(self)
        if self.enabled:  # a dead runtime runs no check, so only a guard asked at report time can say so
            self.health.guard(
                "runtime", self._runtime_guard, description="the background runtime runs checks and exporters"
            )

    @classmethod
    def from_settings(cls, settings: MonitoringSettings, **kwargs: object) -> Monitoring:
        """Build from the ``monitoring`` config module (``config.monitoring``)."""
        return cls(settings, **kwargs)  # type: ignore[arg-type]

    @classmethod
    def from_config(cls, config: Config, **kwargs: object) -> Monitoring:
        """Build from a loaded ``Config``; its monitoring section (or defaults) and the config itself.

        The load that produced ``config`` happened before this Monitoring existed, so its hooks are told
        about it now, with the load's own durations: the ``config_*`` metrics (``config_info`` included),
        the ``config_loaded`` and ``config_validated`` events and the ``config_loader`` check show that
        load, as they will show every later one made with ``hooks=config_hooks``. Pass the watcher to
        ``follow`` to apply later snapshots live.
        """
        settings = config.module("monitoring", MonitoringSettings)
        monitoring = cls(settings, config=config, **kwargs)  # type: ignore[arg-type]
        if config.timings is not None:
            hooks = monitoring.config_hooks
            hooks.on_validation(config.report, config.timings.validation_seconds)
            hooks.on_load(config, config.report, config.timings.load_seconds)
        return monitoring

    @property
    def started(self) -> bool:
        """True between ``start()`` and ``stop()``."""
        return self._started

    @property
    def config_hooks(self) -> ConfigHooks:
        """The hooks to pass to later loads (``load(..., hooks=mon.config_hooks)``); a no-op if disabled."""
        for part in self.parts:
            if isinstance(part, ConfigPart):
                return part.hooks
        return NO_HOOKS

    @property
    def exporters(self) -> tuple[Exporter, ...]:
        """The metric exporters the parts push with (turned off or on by ``apply``)."""
        return tuple(s.exporter for p in self.parts if isinstance(p, ExportersPart) for _, s in p.entries)

    def part(self, name: str) -> Part | None:
        """The part called ``name``, if it was built."""
        return next((p for p in self.parts if p.name == name), None)

    def apply(self, settings: MonitoringSettings) -> list[str]:
        """Apply new settings while running; return the changed keys that need a restart (sorted).

        Live: ``sample_rate`` (events sampling; tracing applies its own), ``logging.level`` (every logger
        of this Monitoring, stdlib capture included), the health ``check_interval``, ``timeout`` and each
        check's ``interval``/``timeout``, and ``enabled`` of each event channel and metric exporter built at
        start. Each part applies what it can and names the rest; the hub names every other change (a
        section whose part was not built, the registry's settings, ``logging.format``...). The keys
        needing a restart are logged as one warning (``settings need a restart``). ``self.settings``
        stays what the parts were built from, so each call compares with that: settings put back as
        built need nothing.
        """
        with self._applying:
            built = self.settings
            self.logger.set_level(settings.logging.level)
            self.events.set_sample_rate(settings.sample_rate)
            claimed = tuple(prefix for p in self.parts for prefix in _CLAIMS.get(p.name, ()))
            own = [
                key
                for key in changed_keys(built, settings, "monitoring")
                if key not in _LIVE and not _under(key, claimed)
            ]
            restart = sorted({*own, *(key for part in self.parts for key in part.apply(settings))})
        if restart:
            self.logger.warning("settings need a restart", keys=restart)
        return restart

    def follow(self, watcher: Followable) -> Callable[[], None]:
        """Follow a configuration watcher: each new snapshot becomes ``self.config``, its monitoring
        section is applied live (``apply``), and one ``config_changed`` event is published with the
        redacted per-key diff, the origin of each new value and ``restart``: the changed monitoring
        settings that need a restart (also logged, one warning). Returns the unsubscribe.

        While followed, the config hooks' events leave ``config_changed`` to this subscriber, so each
        change is one event whether or not the watcher was also given ``config_hooks``.
        """
        events = next((p.events for p in self.parts if isinstance(p, ConfigPart)), None)
        if events is not None:
            events.deferred += 1

        def changed(old: Config, new: Config, diff: list[tuple[str, Any, Any]]) -> None:
            self.config = new
            restart: list[str] = []
            if any(_under(path, ("monitoring",)) for path, _, _ in diff):
                restart = self.apply(new.module("monitoring", MonitoringSettings))
            data = change_data(old, new, diff, restart)
            self.events.emit("config_changed", "config", data, category="audit")  # never sampled out

        unsubscribe = watcher.subscribe(None, changed)
        done = threading.Event()

        def stop() -> None:
            if done.is_set():
                return
            done.set()
            unsubscribe()
            if events is not None:
                events.deferred -= 1

        return stop

    def start(self) -> Monitoring:
        """Open every part and start the runtime with their jobs (idempotent)."""
        with self._lock:
            if self._started or not self.enabled:
                return self
            for part in self.parts:
                part.open()
            self.runtime.start()
            self._started = True
        atexit.register(self.stop)  # drained at interpreter exit too: parts flush, exporters push
        self.logger.info("monitoring started", parts=[p.name for p in self.parts])
        return self

    def stop(self, timeout: float | None = None) -> list[str]:
        """Close every part (flush, last push) on the runtime, then stop it, within a real-time budget.

        The budget is ``timeout`` seconds, or ``monitoring.shutdown_timeout``: each part's flush gets
        its share of what is left, and what has not ended by then is abandoned, returned, logged (one
        warning naming each piece) and counted in ``shutdown_abandoned_total{kind}``. Idempotent: a
        second call does nothing and returns ``[]``. Start and stop hold one lock, so calls from several
        threads at once leave the instance either started or stopped, with the runtime in step.
        """
        budget = self.settings.shutdown_timeout.total_seconds() if timeout is None else timeout
        with self._lock:
            if not self._started:
                return []
            self._started = False
            atexit.unregister(self.stop)
            abandoned = self.runtime.stop(budget)
            if self.runtime.died is not None:  # its loop ended before it could run the parts' close
                for part in self.parts:
                    if isinstance(part, TracingPart):
                        part.release()  # no tracer left installed, no batch thread left running
        for work in abandoned:
            self.metrics.record_counter(SHUTDOWN_ABANDONED, 1, {"kind": work.split(" ", 1)[0]})
        if abandoned:
            self.logger.warning("monitoring stopped, abandoning work", budget_s=budget, abandoned=abandoned)
        else:
            self.logger.info("monitoring stopped")
        return abandoned

    def __enter__(self) -> Monitoring:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _after_fork(self) -> None:
        """In a forked child: a fresh lock (another thread may have held it); the runtime restarts itself."""
        self._lock = threading.Lock()

    def _runtime_guard(self) -> CheckResult | None:
        """Unhealthy while started with a runtime that is not running (it died); None otherwise."""
        if not self._started or self.runtime.running:
            return None
        died = self.runtime.died
        why = f" ({type(died).__name__}: {died})" if died is not None else ""
        return CheckResult(
            HealthState.UNHEALTHY,
            f"the monitoring runtime stopped{why}: health checks and exporters are not running",
        )

    def _health_changed(
        self, check: str, old: HealthState, new: HealthState, message: str, critical: bool
    ) -> None:
        """A check's state change as a ``health_check_changed`` event (high when a critical check fails)."""
        bad = new in (HealthState.DEGRADED, HealthState.UNHEALTHY)
        severity = ("high" if critical else "medium") if bad else "info"
        self.events.emit(
            "health_check_changed",
            check,
            {"check": check, "from": old.value, "to": new.value, "message": message, "critical": critical},
            severity=severity,
            category="error" if bad else "system",
        )

    def _background_error(self, job: str, error: BaseException) -> None:
        self.logger.error("background job failed", job=job, error=f"{type(error).__name__}: {error}")

    def __repr__(self) -> str:
        state = "started" if self._started else "stopped"
        return f"Monitoring(enabled={self.enabled}, {state}, parts={[p.name for p in self.parts]})"


_INSTANCES: weakref.WeakSet[Monitoring] = weakref.WeakSet()
"""Every instance, so that a forked child can renew their locks."""


def _after_fork_in_child() -> None:
    for monitoring in list(_INSTANCES):
        monitoring._after_fork()


if hasattr(os, "register_at_fork"):  # POSIX; runs after the runtimes' own hook restarted them
    os.register_at_fork(after_in_child=_after_fork_in_child)


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
