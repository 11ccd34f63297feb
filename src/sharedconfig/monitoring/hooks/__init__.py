"""Implementations of every component's hook protocol with metrics, logs and health.

One module per component (``config``, later ``http``, ``security``, ``triggers``); components never
import these, the application passes them in (``load(..., hooks=MonitoringConfigHooks(...))``).
"""

from sharedconfig.monitoring.hooks.config import MonitoringConfigHooks

__all__ = ["MonitoringConfigHooks"]
