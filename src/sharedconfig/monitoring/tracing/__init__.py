"""Tracing with OpenTelemetry: ``span``/``traced`` for your code, and the part that runs the SDK.

``span(name, **attributes)`` and ``@traced`` work with or without OpenTelemetry installed (no-ops until a
started ``Monitoring`` with tracing enabled installs its tracer). The part (``tracing_part``) configures the
SDK from ``monitoring.tracing``; ``server_span_hook(monitoring)`` gives the request middleware its spans.
Importing this package does not import OpenTelemetry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sharedconfig._lazy import lazy_exports
from sharedconfig.monitoring.tracing.api import span, traced

__all__ = ["TracingPart", "sdk_installed", "server_span_hook", "span", "traced", "tracing_part"]

if TYPE_CHECKING:
    from sharedconfig.monitoring.tracing.part import (
        TracingPart,
        sdk_installed,
        server_span_hook,
        tracing_part,
    )

__getattr__, __dir__ = lazy_exports(
    __name__,
    dict.fromkeys(("TracingPart", "sdk_installed", "server_span_hook", "tracing_part"), f"{__name__}.part"),
    globals(),
)
