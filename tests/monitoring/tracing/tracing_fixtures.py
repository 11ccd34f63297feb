"""A Monitoring whose tracing part also hands every span to an in-memory exporter, synchronously.

``SimpleSpanProcessor(InMemorySpanExporter())`` is OpenTelemetry's own test double: spans are there as
soon as they end, without a batch thread, so unit tests read them without waiting.
"""

from __future__ import annotations

import functools
import io
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from sharedconfig.monitoring.hub import Monitoring
from sharedconfig.monitoring.parts import DEFAULT_PARTS
from sharedconfig.monitoring.settings import MonitoringSettings
from sharedconfig.monitoring.tracing.part import tracing_part
from sharedconfig.testing import FakeClock


def settings(tracing: dict[str, Any] | None = None, **extra: Any) -> MonitoringSettings:
    """JSON logs without stdlib capture, no health scheduler, ``tracing`` as given."""
    return MonitoringSettings.model_validate(
        {
            "logging": {"format": "json", "capture_stdlib": False},
            "health": {"enabled": False},
            "tracing": tracing or {},
            **extra,
        }
    )


def recorded_monitoring(
    memory: InMemorySpanExporter,
    tracing: dict[str, Any] | None = None,
    *,
    stream: io.StringIO | None = None,
    clock: FakeClock | None = None,
    **extra: Any,
) -> Monitoring:
    """A Monitoring (not started) whose spans also go to ``memory``."""
    parts = tuple(p for p in DEFAULT_PARTS if p is not tracing_part)
    recorder = functools.partial(tracing_part, processors=[SimpleSpanProcessor(memory)])
    return Monitoring(
        settings(tracing, **extra),
        clock=clock or FakeClock(),
        stream=stream or io.StringIO(),
        parts=(*parts, recorder),
    )


def by_name(spans: tuple[ReadableSpan, ...]) -> dict[str, ReadableSpan]:
    """Finished spans by name (the last of a name wins)."""
    return {span.name: span for span in spans}


def hex_ids(span: ReadableSpan) -> tuple[str, str]:
    """A span's trace and span ids as W3C hex."""
    context = span.get_span_context()
    assert context is not None
    return f"{context.trace_id:032x}", f"{context.span_id:016x}"
