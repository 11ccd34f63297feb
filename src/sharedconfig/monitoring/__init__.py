"""Monitoring: metrics, health, logging, events and tracing (later alerts) behind one object.

Library code records through ``get()``, a no-op until the application calls ``configure(...)``, and
traces with ``span(name, **attributes)`` and ``@traced``, no-ops until a started Monitoring traces.
Importing this package is cheap (the config loader imports ``monitoring.settings``); the parts load on
first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sharedconfig._lazy import lazy_exports

__all__ = ["Monitoring", "configure", "get", "reset", "span", "traced"]

if TYPE_CHECKING:
    from sharedconfig.monitoring.hub import Monitoring, configure, get, reset
    from sharedconfig.monitoring.tracing.api import span, traced


__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        **dict.fromkeys(("Monitoring", "configure", "get", "reset"), "sharedconfig.monitoring.hub"),
        **dict.fromkeys(("span", "traced"), "sharedconfig.monitoring.tracing.api"),
    },
    globals(),
)
