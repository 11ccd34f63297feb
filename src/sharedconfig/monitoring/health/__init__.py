"""Health monitoring: checks with their own interval and timeout, run concurrently, reported from a cache.

``HealthMonitor`` schedules and aggregates; ``checks`` holds ``HealthCheck`` and the ready-made checks
(TCP, HTTP, callable, ``process``, ``ConfigHealth`` for ``config_loader``). A run's outcome is a
``CheckResult``; a report lists each check as a ``HealthStatus`` (both from ``sharedconfig.interfaces``).
"""

from sharedconfig.interfaces import HealthStatus
from sharedconfig.monitoring.health.checks import (
    CONFIG_CHECK,
    PROCESS_CHECK,
    CheckFunction,
    CheckOutcome,
    CheckResult,
    ConfigHealth,
    HealthCheck,
    callable_check,
    http_check,
    process_check,
    tcp_check,
)
from sharedconfig.monitoring.health.monitor import (
    STATE_VALUES,
    HealthMonitor,
    HealthReport,
    Scope,
    aggregate,
)

__all__ = [
    "CONFIG_CHECK",
    "PROCESS_CHECK",
    "STATE_VALUES",
    "CheckFunction",
    "CheckOutcome",
    "CheckResult",
    "ConfigHealth",
    "HealthCheck",
    "HealthMonitor",
    "HealthReport",
    "HealthStatus",
    "Scope",
    "aggregate",
    "callable_check",
    "http_check",
    "process_check",
    "tcp_check",
]
