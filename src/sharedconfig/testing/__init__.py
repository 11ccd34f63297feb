"""Test support shipped with sharedconfig: fakes for every interface and reusable contract tests.

Import from here (``from sharedconfig.testing import FakeClock, LoggerContract``); pytest is not required.
"""

from sharedconfig.testing.clock import FakeClock, LoopDidNotSettle
from sharedconfig.testing.compliance import (
    ConfigProviderContract,
    HealthCheckerContract,
    LoggerContract,
    MetricsRecorderContract,
)
from sharedconfig.testing.fakes import (
    InMemoryMetricsRecorder,
    LogRecord,
    NullMetricsRecorder,
    RecordedMetric,
    RecordingLogger,
    StaticHealthChecker,
)
from sharedconfig.testing.hooks import HookCall, Recording

__all__ = [
    "ConfigProviderContract",
    "FakeClock",
    "HealthCheckerContract",
    "HookCall",
    "InMemoryMetricsRecorder",
    "LogRecord",
    "LoggerContract",
    "LoopDidNotSettle",
    "MetricsRecorderContract",
    "NullMetricsRecorder",
    "RecordedMetric",
    "Recording",
    "RecordingLogger",
    "StaticHealthChecker",
]
