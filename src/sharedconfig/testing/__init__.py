"""Test support shipped with sharedconfig: fakes for every interface and reusable contract tests.

Import from here (``from sharedconfig.testing import FakeClock, LoggerContract``); pytest is not required.
"""

from sharedconfig.testing.compliance import (
    ConfigProviderContract,
    HealthCheckerContract,
    LoggerContract,
    MetricsRecorderContract,
)
from sharedconfig.testing.clock import FakeClock, LoopDidNotSettle
from sharedconfig.testing.fakes import (
    InMemoryMetricsRecorder,
    LogRecord,
    NullMetricsRecorder,
    RecordedMetric,
    RecordingLogger,
    StaticHealthChecker,
)

__all__ = [
    "ConfigProviderContract",
    "FakeClock",
    "HealthCheckerContract",
    "InMemoryMetricsRecorder",
    "LogRecord",
    "LoggerContract",
    "LoopDidNotSettle",
    "MetricsRecorderContract",
    "NullMetricsRecorder",
    "RecordedMetric",
    "RecordingLogger",
    "StaticHealthChecker",
]
