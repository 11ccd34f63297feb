"""The seed's four interfaces (Logger, MetricsRecorder, HealthChecker, ConfigProvider) as Protocols.

Foundation layer: imports nothing from sharedconfig; ``sharedconfig.testing.compliance`` checks them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Protocol, TypeVar, runtime_checkable

__all__ = [
    "ConfigProvider",
    "CustomMetric",
    "DependencyStatus",
    "HealthChecker",
    "HealthState",
    "HealthStatus",
    "Logger",
    "MetricKind",
    "MetricsRecorder",
]

C = TypeVar("C")


def _now() -> datetime:
    return datetime.now(UTC)


@runtime_checkable
class Logger(Protocol):
    """Structured logging: a message plus keyword fields (the seed's ``fields`` map).

    Seed mapping: ``Debug/Info/Warn/Error/Fatal`` -> ``debug/info/warning/error/critical`` (``critical``
    logs, it never exits), ``WithFields`` -> ``bind``. The seed's ``ctx`` argument and ``WithContext`` are
    gone: request-scoped data (trace and span ids, request id) comes from ``contextvars`` such as
    ``sharedconfig.errors.current_trace``, which implementations read when they emit. ``message`` is
    positional-only so that any name, ``message`` included, can be a field. Implementations never raise
    for ordinary fields and redact fields that look secret.
    """

    def debug(self, message: str, /, **fields: object) -> None:
        """Log detail useful when diagnosing a problem."""

    def info(self, message: str, /, **fields: object) -> None:
        """Log a normal event worth keeping."""

    def warning(self, message: str, /, **fields: object) -> None:
        """Log something unexpected that the service survived (the seed's ``Warn``)."""

    def error(self, message: str, /, **fields: object) -> None:
        """Log a failed operation."""

    def critical(self, message: str, /, **fields: object) -> None:
        """Log a failure the service cannot work around (the seed's ``Fatal``, without exiting)."""

    def bind(self, **fields: object) -> Logger:
        """Return a logger that adds ``fields`` to every record (the seed's ``WithFields``).

        The original logger is unchanged; fields given to a call override bound fields of the same name.
        """


class MetricKind(StrEnum):
    """The kind of a metric, as Prometheus names them."""

    COUNTER = "counter"
    GAUGE = "gauge"
    HISTOGRAM = "histogram"


@dataclass(frozen=True, slots=True)
class CustomMetric:
    """One observation with everything a recorder needs to register the metric on first sight."""

    name: str
    value: float
    kind: MetricKind
    labels: Mapping[str, str] = field(default_factory=dict)
    help: str = ""
    unit: str = ""

    def __post_init__(self) -> None:
        """Copy ``labels`` so later changes to the caller's dict do not change the metric."""
        object.__setattr__(self, "labels", dict(self.labels))


@runtime_checkable
class MetricsRecorder(Protocol):
    """Records metric observations; the seed's ``MetricsRecorder``.

    Every method is on the hot path: implementations do no I/O in the caller's thread and never raise on
    ordinary input (a bad name or label is counted and dropped, not thrown). ``labels`` may be ``None``.
    """

    def record_counter(self, name: str, value: float = 1.0, labels: Mapping[str, str] | None = None) -> None:
        """Add ``value`` (>= 0) to the counter ``name``."""

    def record_gauge(self, name: str, value: float, labels: Mapping[str, str] | None = None) -> None:
        """Set the gauge ``name`` to ``value``."""

    def record_histogram(self, name: str, value: float, labels: Mapping[str, str] | None = None) -> None:
        """Observe ``value`` in the histogram ``name``."""

    def record_duration(
        self, name: str, duration: float | timedelta, labels: Mapping[str, str] | None = None
    ) -> None:
        """Observe a duration in the histogram ``name``; a float is seconds, as Prometheus counts them."""

    def record_custom(self, metric: CustomMetric) -> None:
        """Record a fully described metric (the seed's ``RecordCustom``, which returned an error)."""


class HealthState(StrEnum):
    """The seed's health states; the value is what ``/health`` reports."""

    HEALTHY = "healthy"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class HealthStatus:
    """The outcome of checking a whole service or component (the seed's ``HealthStatus``)."""

    name: str
    state: HealthState
    message: str = ""
    details: Mapping[str, object] = field(default_factory=dict)
    checked_at: datetime = field(default_factory=_now)
    duration_seconds: float = 0.0

    def __post_init__(self) -> None:
        """Copy ``details`` so later changes to the caller's dict do not change the status."""
        object.__setattr__(self, "details", dict(self.details))


@dataclass(frozen=True, slots=True)
class DependencyStatus:
    """The outcome of checking one dependency (a database, a broker, an upstream service)."""

    name: str
    state: HealthState
    message: str = ""
    details: Mapping[str, object] = field(default_factory=dict)
    checked_at: datetime = field(default_factory=_now)
    duration_seconds: float = 0.0

    def __post_init__(self) -> None:
        """Copy ``details`` so later changes to the caller's dict do not change the status."""
        object.__setattr__(self, "details", dict(self.details))


@runtime_checkable
class HealthChecker(Protocol):
    """Reports the health of a service or component; the seed's ``HealthChecker`` without ``ctx``.

    ``checked_at`` values are timezone-aware; ``duration_seconds`` is never negative.
    """

    def health_check(self) -> HealthStatus:
        """Check now and return the overall status."""

    def dependencies(self) -> Sequence[DependencyStatus]:
        """Return the status of each dependency, in a stable order."""

    def status(self) -> str:
        """Return the overall state as a plain string, one of the ``HealthState`` values."""


@runtime_checkable
class ConfigProvider(Protocol[C]):
    """Loads, saves, validates and watches one configuration of type ``C``; the seed's ``ConfigProvider``.

    The seed's ``(value, error)`` returns become exceptions: every method raises a ``SharedConfigError``
    subclass (``ConfigError`` for loading and saving, ``ConfigValidationError`` for validation) on failure.
    """

    def load(self) -> C:
        """Read the configuration from the provider's sources and return it, validated."""

    def save(self, config: C, destination: str | os.PathLike[str]) -> None:
        """Write ``config`` to ``destination`` in a form that ``load`` reads back to an equal value."""

    def validate(self, config: C) -> None:
        """Return ``None`` when ``config`` is valid; raise a ``SharedConfigError`` subclass when it is not."""

    def watch(self, callback: Callable[[C], None]) -> Callable[[], None]:
        """Call ``callback`` with every new valid configuration; return a function that unsubscribes.

        The returned function may be called more than once; calls after the first do nothing.
        """
