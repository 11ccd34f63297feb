"""``ConfigHooks`` implemented with the seed's config metrics, logs and the ``config_loader`` health check.

Records ``config_load_duration_seconds``, ``config_loads_total{result}``, ``config_reloads_total{result}``
and ``config_validation_errors_total{code}``; logs name issue codes and key paths, never values.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Final

from sharedconfig.interfaces import Logger, MetricsRecorder
from sharedconfig.monitoring.names import (
    CONFIG_LOAD_DURATION,
    CONFIG_LOADS,
    CONFIG_RELOADS,
    CONFIG_VALIDATION_ERRORS,
)

if TYPE_CHECKING:
    from sharedconfig.config.snapshot import Config
    from sharedconfig.config.validation import ValidationReport
    from sharedconfig.monitoring.part import EventSink

__all__ = ["ConfigEvents", "MonitoringConfigHooks"]

SUCCESS: Final = "success"
FAILURE: Final = "failure"
_MAX_PATHS: Final = 20


def _where(report: ValidationReport) -> dict[str, int | list[str]]:
    """The codes and key paths of the report's errors, for a log record (never the values)."""
    errors = report.errors
    return {
        "errors": len(errors),
        "codes": sorted({i.code for i in errors}),
        "paths": sorted({i.path for i in errors if i.path})[:_MAX_PATHS],
    }


class MonitoringConfigHooks:
    """Observes the config loader and watcher with metrics and logs.

    ``result`` labels are ``success`` or ``failure`` for loads and reloads alike (a failed reload is one
    that was rejected: the last good configuration stays in force). Validation errors are counted per
    issue code; warnings are not counted. ``Monitoring`` fans its calls out to
    this and to the ``config_loader`` check's ``ConfigHealth`` (``sharedconfig.hooks.fan_out``).
    """

    def __init__(self, metrics: MetricsRecorder, logger: Logger) -> None:
        self._metrics = metrics
        self._logger = logger

    def on_load(self, config: Config | None, report: ValidationReport, seconds: float) -> None:
        """Time and count the load; log its outcome."""
        self._metrics.record_duration(CONFIG_LOAD_DURATION, seconds)
        self._metrics.record_counter(
            CONFIG_LOADS, 1.0, {"result": SUCCESS if config is not None else FAILURE}
        )
        if config is not None:
            self._logger.info(
                "configuration loaded",
                modules=list(config.modules),
                warnings=len(report.warnings),
                seconds=seconds,
            )
        else:
            self._logger.error("configuration failed to load", seconds=seconds, **_where(report))

    def on_validation(self, report: ValidationReport, seconds: float) -> None:
        """Count the report's errors per issue code."""
        for code, count in sorted(Counter(i.code for i in report.errors).items()):
            self._metrics.record_counter(CONFIG_VALIDATION_ERRORS, float(count), {"code": code})

    def on_reload(self, old: Config, new: Config | None, report: ValidationReport, seconds: float) -> None:
        """Count the reload; log it (a warning with codes and paths when it was rejected)."""
        self._metrics.record_counter(CONFIG_RELOADS, 1.0, {"result": SUCCESS if new is not None else FAILURE})
        if new is not None:
            self._logger.info("configuration reloaded", seconds=seconds)
        else:
            self._logger.warning(
                "configuration reload rejected; the last good configuration stays in force",
                seconds=seconds,
                **_where(report),
            )

    def on_change(self, old: Config, new: Config, changed: Sequence[str]) -> None:
        """Log which key paths changed (not their values)."""
        self._logger.info("configuration changed", paths=list(changed), count=len(changed))

    def on_source(self, source: str, available: bool, message: str) -> None:
        """Log a watched source lost (a warning: the last snapshot stays in force) or back."""
        if available:
            self._logger.info("configuration source is back", source=source, message=message)
        else:
            self._logger.warning(
                "configuration source lost; the current configuration stays in force",
                source=source,
                message=message,
            )


class ConfigEvents:
    """Publishes the config loader's and watcher's results as events (``Monitoring.events``).

    Types: ``config_loaded``, ``config_load_failed``, ``config_validated``, ``config_reloaded``,
    ``config_reload_rejected`` and ``config_changed``; their data names issue codes, key paths and
    counts, never a value, so no secret can travel in them. A disabled publisher makes each call a no-op.
    """

    def __init__(self, publisher: EventSink) -> None:
        self._events = publisher

    def on_load(self, config: Config | None, report: ValidationReport, seconds: float) -> None:
        """``config_loaded`` (info) or ``config_load_failed`` (high, category error)."""
        if config is not None:
            modules: list[str] = sorted(config.modules)
            self._events.emit(
                "config_loaded",
                "config",
                {"modules": modules, "warnings": len(report.warnings), "seconds": seconds},
            )
        else:
            self._events.emit(
                "config_load_failed",
                "config",
                {"seconds": seconds, **_where(report)},
                severity="high",
                category="error",
            )

    def on_validation(self, report: ValidationReport, seconds: float) -> None:
        """``config_validated``: valid or not, with the counts (medium when invalid)."""
        valid = not report.errors
        self._events.emit(
            "config_validated",
            "config",
            {"valid": valid, "warnings": len(report.warnings), "seconds": seconds, **_where(report)},
            severity="info" if valid else "medium",
        )

    def on_reload(self, old: Config, new: Config | None, report: ValidationReport, seconds: float) -> None:
        """``config_reloaded`` or ``config_reload_rejected`` (high: the last good configuration stays)."""
        if new is not None:
            self._events.emit("config_reloaded", "config", {"seconds": seconds})
        else:
            self._events.emit(
                "config_reload_rejected",
                "config",
                {"seconds": seconds, **_where(report)},
                severity="high",
                category="error",
            )

    def on_change(self, old: Config, new: Config, changed: Sequence[str]) -> None:
        """``config_changed`` with the key paths that changed (not their values)."""
        self._events.emit(
            "config_changed", "config", {"paths": list(changed)[:_MAX_PATHS], "count": len(changed)}
        )

    def on_source(self, source: str, available: bool, message: str) -> None:
        """``config_source_lost`` (high) or ``config_source_restored``."""
        if available:
            self._events.emit("config_source_restored", source, {"source": source, "message": message})
        else:
            self._events.emit(
                "config_source_lost",
                source,
                {"source": source, "message": message},
                severity="high",
                category="error",
            )
