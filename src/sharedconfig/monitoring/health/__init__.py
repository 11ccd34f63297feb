"""Health monitoring: checks with their own interval and timeout, run concurrently, reported from a cache.

``HealthMonitor`` schedules and aggregates; ``checks`` holds ``HealthCheck``, ``CheckResult`` and the
ready-made checks (TCP, HTTP, callable, ``process``, ``ConfigHealth`` for ``config_loader``).
"""

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
    CheckReport,
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
    "CheckReport",
    "CheckResult",
    "ConfigHealth",
    "HealthCheck",
    "HealthMonitor",
    "HealthReport",
    "Scope",
    "aggregate",
    "callable_check",
    "http_check",
    "process_check",
    "tcp_check",
]
