"""Monitoring: metrics, health, logging (and later events, alerts, tracing) behind one object.

Library code records through ``get()``, a no-op until the application calls ``configure(...)``.
Importing this package is cheap (the config loader imports ``monitoring.settings``); the parts load on
first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sharedconfig._lazy import lazy_exports

__all__ = ["Monitoring", "configure", "get", "reset"]

if TYPE_CHECKING:
    from sharedconfig.monitoring.hub import Monitoring, configure, get, reset


__getattr__, __dir__ = lazy_exports(
    __name__, dict.fromkeys(__all__, "sharedconfig.monitoring.hub"), globals()
)
