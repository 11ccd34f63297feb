"""Test doubles that ship with the package, each satisfying its ``sharedconfig.interfaces`` Protocol.

In-memory metrics recorder, recording logger and static health checker (the fake clock: ``testing.clock``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sharedconfig.interfaces import CheckResult, CustomMetric, HealthState, HealthStatus, MetricKind

__all__ = [
    "InMemoryMetricsRecorder",
    "LogRecord",
    "NullMetricsRecorder",
    "RecordedMetric",
    "RecordingLogger",
    "StaticHealthChecker",
]


@dataclass(frozen=True, slots=True)
class RecordedMetric:
    """One observation kept by ``InMemoryMetricsRecorder``."""

    name: str
    kind: MetricKind
    value: float
    labels: Mapping[str, str] = field(default_factory=dict)


class InMemoryMetricsRecorder:
    """A thread-safe ``MetricsRecorder`` that keeps every observation, for assertions in tests.

    Durations are kept as histogram observations in seconds; custom metrics under their own kind.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._metrics: dict[str, list[RecordedMetric]] = {}

    def _record(self, name: str, kind: MetricKind, value: float, labels: Mapping[str, str] | None) -> None:
        metric = RecordedMetric(name, kind, float(value), dict(labels) if labels else {})
        with self._lock:
            self._metrics.setdefault(name, []).append(metric)

    def record_counter(self, name: str, value: float = 1.0, labels: Mapping[str, str] | None = None) -> None:
        """Keep a counter increment."""
        self._record(name, MetricKind.COUNTER, value, labels)

    def record_gauge(self, name: str, value: float, labels: Mapping[str, str] | None = None) -> None:
        """Keep a gauge value."""
        self._record(name, MetricKind.GAUGE, value, labels)

    def record_histogram(self, name: str, value: float, labels: Mapping[str, str] | None = None) -> None:
        """Keep a histogram observation."""
        self._record(name, MetricKind.HISTOGRAM, value, labels)

    def record_duration(
        self, name: str, duration: float | timedelta, labels: Mapping[str, str] | None = None
    ) -> None:
        """Keep a duration as a histogram observation in seconds."""
        seconds = duration.total_seconds() if isinstance(duration, timedelta) else duration
        self._record(name, MetricKind.HISTOGRAM, seconds, labels)

    def record_custom(self, metric: CustomMetric) -> None:
        """Keep a custom metric under its declared kind."""
        self._record(metric.name, metric.kind, metric.value, metric.labels)

    def get_metrics(self, name: str) -> list[RecordedMetric]:
        """Every observation recorded under ``name``, oldest first (a copy)."""
        with self._lock:
            return list(self._metrics.get(name, ()))

    def names(self) -> list[str]:
        """The names recorded so far, sorted."""
        with self._lock:
            return sorted(self._metrics)

    def total(self, name: str, labels: Mapping[str, str] | None = None) -> float:
        """The sum of the values recorded under ``name`` (only those with exactly ``labels``, if given)."""
        wanted = None if labels is None else dict(labels)
        return sum(m.value for m in self.get_metrics(name) if wanted is None or m.labels == wanted)

    def clear(self) -> None:
        """Forget everything recorded."""
        with self._lock:
            self._metrics.clear()


class NullMetricsRecorder:
    """A ``MetricsRecorder`` that discards everything; the default where nothing is configured."""

    __slots__ = ()

    def record_counter(self, name: str, value: float = 1.0, labels: Mapping[str, str] | None = None) -> None:
        """Discard the observation."""

    def record_gauge(self, name: str, value: float, labels: Mapping[str, str] | None = None) -> None:
        """Discard the observation."""

    def record_histogram(self, name: str, value: float, labels: Mapping[str, str] | None = None) -> None:
        """Discard the observation."""

    def record_duration(
        self, name: str, duration: float | timedelta, labels: Mapping[str, str] | None = None
    ) -> None:
        """Discard the observation."""

    def record_custom(self, metric: CustomMetric) -> None:
        """Discard the observation."""


@dataclass(frozen=True, slots=True)
class LogRecord:
    """One call to a ``RecordingLogger``: level name (``"info"``...), message, and bound + call fields."""

    level: str
    message: str
    fields: Mapping[str, object] = field(default_factory=dict)


class RecordingLogger:
    """A ``Logger`` that keeps every call in ``records``; loggers made by ``bind`` append to the same list."""

    def __init__(self, records: list[LogRecord] | None = None, **bound: object) -> None:
        self.records: list[LogRecord] = records if records is not None else []
        self.fields: Mapping[str, object] = bound

    def _log(self, level: str, message: str, fields: Mapping[str, object]) -> None:
        self.records.append(LogRecord(level, message, {**self.fields, **fields}))

    def debug(self, message: str, /, **fields: object) -> None:
        """Keep a debug record."""
        self._log("debug", message, fields)

    def info(self, message: str, /, **fields: object) -> None:
        """Keep an info record."""
        self._log("info", message, fields)

    def warning(self, message: str, /, **fields: object) -> None:
        """Keep a warning record."""
        self._log("warning", message, fields)

    def error(self, message: str, /, **fields: object) -> None:
        """Keep an error record."""
        self._log("error", message, fields)

    def critical(self, message: str, /, **fields: object) -> None:
        """Keep a critical record."""
        self._log("critical", message, fields)

    def bind(self, **fields: object) -> RecordingLogger:
        """Return a logger sharing ``records`` with these fields added to the bound ones."""
        return RecordingLogger(self.records, **{**self.fields, **fields})

    def messages(self, level: str | None = None) -> list[str]:
        """The messages recorded so far, optionally only those at ``level``."""
        return [r.message for r in self.records if level is None or r.level == level]


def _utc_now() -> datetime:
    return datetime.now(UTC)


class StaticHealthChecker:
    """A ``HealthChecker`` that reports the state it was given (change it with ``set``).

    ``state`` may be a ``HealthState`` or its string value; ``now`` supplies ``checked_at`` (pass
    ``FakeClock().wall`` in tests). ``dependencies`` are reported as given.
    """

    def __init__(
        self,
        state: HealthState | str,
        dependencies: Iterable[HealthStatus] = (),
        *,
        name: str = "static",
        message: str = "",
        now: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.state = HealthState(state)
        self.message = message
        self.name = name
        self._dependencies = tuple(dependencies)
        self._now = now

    def set(self, state: HealthState | str, message: str = "") -> None:
        """Report ``state`` (a ``HealthState`` or its value) and ``message`` from now on."""
        self.state = HealthState(state)
        self.message = message

    def health_check(self) -> HealthStatus:
        """The configured state, stamped with the injected clock's time."""
        return HealthStatus(self.name, CheckResult(self.state, self.message, checked_at=self._now()))

    def dependencies(self) -> Sequence[HealthStatus]:
        """The dependency statuses given at construction."""
        return self._dependencies

    def status(self) -> str:
        """The configured state's value, e.g. ``"healthy"``."""
        return self.state.value
