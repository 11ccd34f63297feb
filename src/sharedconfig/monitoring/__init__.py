"""Monitoring: metrics, health, logging (and later events, alerts, tracing) behind one object.

Library code records through ``get()``, a no-op until the application calls ``configure(...)``.
Importing this package is cheap (the config loader imports ``monitoring.settings``); the parts load on
first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = ["Monitoring", "configure", "get", "reset"]

if TYPE_CHECKING:
    from sharedconfig.monitoring.hub import Monitoring, configure, get, reset


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'sharedconfig.monitoring' has no attribute {name!r}")
    value = getattr(importlib.import_module("sharedconfig.monitoring.hub"), name)
    globals()[name] = value
    return value
