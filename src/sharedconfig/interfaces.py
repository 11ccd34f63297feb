"""The seed's four interfaces (Logger, MetricsRecorder, HealthChecker, ConfigProvider) as Protocols.

Foundation layer: imports nothing from sharedconfig; ``sharedconfig.testing.compliance`` checks them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol, TypeVar, runtime_checkable

__all__ = [
    "CheckResult",
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


@runtime_checkable
class Logger(Protocol):
    """Structured logging: a message plus keyword fields (the seed's ``fields`` map).

    Seed mapping: ``Debug/Info/Warn/Error/Fatal`` -> ``debug/info/warning/error/critical`` (``critical``
    logs, it never exits), ``WithFields`` -> ``bind``. The seed's ``ctx`` argument and ``WithContext`` are
    gone: request-scoped data (trace and span ids, request id) comes from ``contextvars`` such as the
    trace context of ``sharedconfig.tracecontext``, which implementations read when they emit. ``message``
    is positional-only so that any name, ``message`` included, can be a field. Implementations never raise
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


# The field metadata of CheckResult and HealthStatus (description, inline) is read by
# sharedconfig.monitoring.health.wire: it shapes /health's JSON body and its OpenAPI schema.
@dataclass(frozen=True, slots=True)
class CheckResult:
    """What one run of a check found: a state, a short message for people, JSON-ready details, and timing.

    A check function returns ``CheckResult(state, message, details)``; whoever runs it (the health monitor)
    stamps ``duration_seconds`` and ``checked_at``. ``checked_at`` is None for a check that has not run;
    otherwise it is timezone-aware. ``duration_seconds`` is never negative.
    """

    state: HealthState = field(metadata={"description": "healthy, degraded, unhealthy or unknown."})
    message: str = field(default="", metadata={"description": "A short explanation for people."})
    details: Mapping[str, object] = field(
        default_factory=dict, metadata={"description": "What the check measured, JSON-ready."}
    )
    duration_seconds: float = field(default=0.0, metadata={"description": "How long the run took."})
    checked_at: datetime | None = field(
        default=None, metadata={"description": "When the run started; null until the check has run."}
    )

    def __post_init__(self) -> None:
        """Copy ``details``; reject a negative duration and a naive ``checked_at``."""
        object.__setattr__(self, "details", dict(self.details))
        if not self.duration_seconds >= 0:
            raise ValueError(f"duration_seconds must not be negative, not {self.duration_seconds!r}")
        if self.checked_at is not None and self.checked_at.utcoffset() is None:
            raise ValueError("checked_at must be timezone-aware")

    def stamped(self, checked_at: datetime, duration_seconds: float) -> CheckResult:
        """This result with the time its run started and how long it took."""
        return replace(self, checked_at=checked_at, duration_seconds=duration_seconds)


@dataclass(frozen=True, slots=True)
class HealthStatus:
    """A named ``CheckResult`` and how it counts: one check in a report, a dependency, or a whole service.

    The seed's ``HealthStatus`` and ``DependencyStatus`` in one type (``DependencyStatus`` is another name
    for it). ``state``, ``message``, ``details``, ``duration_seconds`` and ``checked_at`` read through to
    ``result``; ``critical``, ``tags`` and ``description`` come from the check's registration.
    """

    name: str = field(metadata={"description": "The check's name."})
    result: CheckResult = field(metadata={"inline": True})  # the JSON form shows its fields in place
    critical: bool = field(
        default=False, metadata={"description": "Whether the check decides readiness and overall health."}
    )
    tags: Mapping[str, str] = field(default_factory=dict, metadata={"description": "Free-form labels."})
    description: str = field(default="", metadata={"description": "What the check looks at."})

    def __post_init__(self) -> None:
        """Copy ``tags`` so later changes to the caller's dict do not change the status."""
        object.__setattr__(self, "tags", dict(self.tags))

    @property
    def state(self) -> HealthState:
        """The result's state."""
        return self.result.state

    @property
    def message(self) -> str:
        """The result's message."""
        return self.result.message

    @property
    def details(self) -> Mapping[str, object]:
        """The result's details."""
        return self.result.details

    @property
    def duration_seconds(self) -> float:
        """How long the run behind the result took."""
        return self.result.duration_seconds

    @property
    def checked_at(self) -> datetime | None:
        """When the run behind the result started; None when nothing has run yet."""
        return self.result.checked_at


DependencyStatus = HealthStatus
"""The seed's ``DependencyStatus``: the same type as ``HealthStatus``."""


@runtime_checkable
class HealthChecker(Protocol):
    """Reports the health of a service or component; the seed's ``HealthChecker`` without ``ctx``.

    Every value is a ``HealthStatus``. The overall status has a timezone-aware ``checked_at``; a
    dependency that has not been checked yet has ``checked_at`` None and the unknown state.
    """

    def health_check(self) -> HealthStatus:
        """Check now and return the overall status."""

    def dependencies(self) -> Sequence[HealthStatus]:
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
