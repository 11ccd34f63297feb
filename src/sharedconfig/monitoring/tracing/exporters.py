"""Span exporters from ``monitoring.tracing.exporters``, each re-made in a forked child.

``otlp`` is OpenTelemetry's OTLP exporter over HTTP (protobuf) or gRPC; ``jaeger`` is OTLP/HTTP to port
4318 of the configured host (Jaeger >= 1.35 ingests OTLP; the OpenTelemetry Jaeger exporter is gone);
``zipkin`` is our small JSON v2 exporter; ``console`` prints spans as JSON lines. Header values are
secrets: they go to the exporter and nowhere else (``describe`` shows type and endpoint only).

``ForkSafe`` wraps each one: OpenTelemetry's batch processor restarts its thread after ``os.fork()``, but
an exporter keeps what it made in the parent (the gRPC channel of opentelemetry-python #3307 under
``gunicorn --preload``, an HTTP pool's sockets), so the child builds its own on its first export.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Final

from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from sharedconfig.monitoring.settings import (
    ConsoleExporterSettings,
    JaegerExporterSettings,
    OtlpExporterSettings,
    ZipkinExporterSettings,
    otlp_replacement,
)
from sharedconfig.redaction import hide, mask_userinfo

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan

    from sharedconfig.interfaces import Logger
    from sharedconfig.monitoring.settings import TracingSettings

__all__ = ["ForkSafe", "build_span_exporters", "describe", "exporter_factory"]

_OTLP_HTTP_DEFAULT: Final = "http://localhost:4318/v1/traces"
_OTLP_GRPC_DEFAULT: Final = "http://localhost:4317"
_EXTRA_HINT: Final = "install the tracing extra: pip install 'sharedconfig[tracing]'"

AnyExporterSettings = (
    OtlpExporterSettings | JaegerExporterSettings | ZipkinExporterSettings | ConsoleExporterSettings
)


def describe(settings: AnyExporterSettings) -> str:
    """What logs may say about an exporter: its kind and endpoint (credentials masked), never headers."""
    if isinstance(settings, ConsoleExporterSettings):
        return "console"
    if isinstance(settings, OtlpExporterSettings):
        return f"otlp {settings.protocol} {mask_userinfo(_otlp_endpoint(settings))}"
    if isinstance(settings, JaegerExporterSettings):
        return f"jaeger (otlp http/protobuf) {mask_userinfo(otlp_replacement(settings.endpoint))}"
    return f"zipkin {mask_userinfo(settings.endpoint)}"


def _otlp_endpoint(settings: OtlpExporterSettings) -> str:
    if settings.protocol == "grpc" and settings.endpoint == _OTLP_HTTP_DEFAULT:
        return _OTLP_GRPC_DEFAULT  # the schema's default is the HTTP one; gRPC listens on 4317
    return settings.endpoint


def exporter_factory(settings: AnyExporterSettings, logger: Logger) -> Callable[[], SpanExporter]:
    """A function making the exporter ``settings`` describe (called again in a forked child).

    Raises ``ImportError`` when the package the exporter needs is missing.
    """
    if isinstance(settings, ConsoleExporterSettings):
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter
    if isinstance(settings, ZipkinExporterSettings):
        from sharedconfig.monitoring.tracing.zipkin import ZipkinExporter

        endpoint, timeout = settings.endpoint, settings.timeout.total_seconds()
        return lambda: ZipkinExporter(endpoint, timeout=timeout, logger=logger)
    if isinstance(settings, JaegerExporterSettings):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

        endpoint, timeout = otlp_replacement(settings.endpoint), settings.timeout.total_seconds()
        return lambda: HttpExporter(endpoint=endpoint, timeout=timeout)
    endpoint, timeout = _otlp_endpoint(settings), settings.timeout.total_seconds()
    headers = {name: value.get_secret_value() for name, value in settings.headers.items()}
    if settings.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

        return lambda: GrpcExporter(endpoint=endpoint, headers=headers or None, timeout=timeout)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

    return lambda: HttpExporter(endpoint=endpoint, headers=headers or None, timeout=timeout)


class ForkSafe(SpanExporter):
    """An exporter made by ``make`` in each process: a forked child makes its own at its first export.

    The parent's exporter is kept (never used, never shut down) in the child: closing a gRPC channel or a
    pool that the parent still uses could act on the parent's connections.
    """

    def __init__(self, make: Callable[[], SpanExporter], name: str) -> None:
        self.name = name
        self._make = make
        self._lock = threading.Lock()
        self._exporter: SpanExporter | None = make()
        self._inherited: list[SpanExporter] = []
        self._pid = os.getpid()
        _ALL.add(self)

    def _after_fork(self) -> None:
        self._lock = threading.Lock()
        if self._exporter is not None:
            self._inherited.append(self._exporter)
        self._exporter = None

    def _current(self) -> SpanExporter:
        exporter = self._exporter
        if exporter is not None and self._pid == os.getpid():
            return exporter
        with self._lock:
            if self._exporter is None or self._pid != os.getpid():
                self._exporter = self._make()
                self._pid = os.getpid()
            return self._exporter

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Export with this process's exporter."""
        return self._current().export(spans)

    def shutdown(self) -> None:
        """Shut this process's exporter down (a child's inherited one stays untouched)."""
        exporter = self._exporter
        if exporter is not None and self._pid == os.getpid():
            exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Flush this process's exporter."""
        exporter = self._exporter
        if exporter is None or self._pid != os.getpid():
            return True
        return exporter.force_flush(timeout_millis)


_ALL: weakref.WeakSet[ForkSafe] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for exporter in list(_ALL):
        exporter._after_fork()


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _secrets(settings: AnyExporterSettings) -> list[str]:
    if isinstance(settings, OtlpExporterSettings):
        return [value.get_secret_value() for value in settings.headers.values()]
    return []


def build_span_exporters(settings: TracingSettings, logger: Logger) -> list[ForkSafe]:
    """One fork-safe exporter per configured destination; one that cannot be built is logged and skipped.

    A missing package names the extra to install; nothing here connects (the first export does).
    """
    built: list[ForkSafe] = []
    for index, exporter in enumerate(settings.exporters):
        name = describe(exporter)
        try:
            built.append(ForkSafe(exporter_factory(exporter, logger), name))
        except ImportError as exc:
            logger.warning(
                "trace exporter unavailable", exporter=name, index=index, reason=str(exc), hint=_EXTRA_HINT
            )
        except Exception as exc:  # a bad value the schema let through: the other exporters still run
            logger.error(
                "trace exporter could not be built",
                exporter=name,
                index=index,
                reason=hide(mask_userinfo(f"{type(exc).__name__}: {exc}"), _secrets(exporter)),
            )
    return built
