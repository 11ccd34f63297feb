"""The tracing part: an OpenTelemetry tracer provider of this ``Monitoring``, run while it is started.

Built when monitoring and tracing are enabled and the OpenTelemetry SDK is installed. The provider is the
part's own (its resource, its live sampler) and made at the first ``start()``; each start builds the
exporters and their batch processors and installs the tracer for ``sharedconfig.tracecontext.span``;
each stop uninstalls it, flushes the batches and shuts the exporters down. ``tracing.global_provider``
also makes the provider OpenTelemetry's global one (once per process).
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, Protocol

from sharedconfig import tracecontext
from sharedconfig.clock import to_thread
from sharedconfig.monitoring.part import Part, PartContext, QuietPart, changed_keys

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.trace import Span as ApiSpan

    from sharedconfig.interfaces import Logger
    from sharedconfig.monitoring.settings import MonitoringSettings, TracingSettings
    from sharedconfig.monitoring.tracing.exporters import ForkSafe
    from sharedconfig.monitoring.tracing.tracer import Forward, LiveSampler, OtelTracer


__all__ = ["TracingPart", "sdk_installed", "server_span_hook", "tracing_part"]

INSTALL_HINT: Final = "install the tracing extra: pip install 'sharedconfig[tracing]'"
_SCOPE: Final = "sharedconfig"
UNMATCHED: Final = "unmatched"
"""``monitoring.middleware.UNMATCHED``, the route of a request no route matched (spelled here: the middleware
reaches the hub, which builds this part, so this package imports nothing from it)."""
_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"})


def sdk_installed() -> bool:
    """Whether the OpenTelemetry SDK can be imported (without importing it)."""
    try:
        return importlib.util.find_spec("opentelemetry.sdk.trace") is not None
    except ModuleNotFoundError:  # no ``opentelemetry`` package at all
        return False


class _Installed:
    """The tracers of started parts, last started on top: the one ``tracecontext`` has installed.

    Several ``Monitoring`` instances may run at once (tests, a library's own); stopping one hands
    ``tracecontext.span`` back to the one started before it instead of to nothing.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.stack: list[OtelTracer] = []

    def push(self, tracer: OtelTracer) -> None:
        with self.lock:
            self.stack.append(tracer)
            tracecontext.set_tracer(tracer)

    def remove(self, tracer: OtelTracer) -> None:
        with self.lock:
            if tracer in self.stack:
                self.stack.remove(tracer)
            if tracecontext.installed_tracer() is tracer:
                tracecontext.set_tracer(self.stack[-1] if self.stack else None)


_INSTALLED = _Installed()


@dataclass(eq=False)
class TracingPart(QuietPart):
    """Spans with OpenTelemetry while started: the sampler, the exporters and the installed tracer.

    ``processors`` are span processors added to every run beside the configured exporters' batch
    processors (tests pass ``SimpleSpanProcessor(InMemorySpanExporter())``); they are never shut down.
    """

    settings: TracingSettings
    logger: Logger
    shutdown_timeout: float
    processors: tuple[SpanProcessor, ...] = ()
    name: str = "tracing"
    tracer: OtelTracer | None = field(default=None, init=False)
    """The tracer installed while started (None before the first start)."""
    exporters: tuple[ForkSafe, ...] = field(default=(), init=False)
    """The exporters of the current run."""
    _provider: TracerProvider | None = field(default=None, init=False)
    _sampler: LiveSampler | None = field(default=None, init=False)
    _forward: Forward | None = field(default=None, init=False)
    _batches: tuple[BatchSpanProcessor, ...] = field(default=(), init=False)
    _started: bool = field(default=False, init=False)

    @property
    def provider(self) -> TracerProvider | None:
        """The part's OpenTelemetry tracer provider (None before the first start)."""
        return self._provider

    @property
    def sample_rate(self) -> float:
        """The ratio of new root traces sampled now (``apply`` changes it live)."""
        return self._sampler.rate if self._sampler is not None else self.settings.sample_rate

    def _build(self) -> OtelTracer:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider

        import sharedconfig
        from sharedconfig.monitoring.tracing.tracer import Forward, LiveSampler, OtelTracer

        s = self.settings
        attributes: dict[str, str | bool | int | float] = dict(s.attributes)
        if s.service_name != "unknown_service":  # else OTEL_SERVICE_NAME, as OpenTelemetry reads it
            attributes["service.name"] = s.service_name
        if s.service_version:
            attributes["service.version"] = s.service_version
        self._sampler = LiveSampler(s.sample_rate)
        provider = TracerProvider(
            sampler=self._sampler, resource=Resource.create(attributes), shutdown_on_exit=False
        )
        self._forward = Forward()
        provider.add_span_processor(self._forward)
        self._provider = provider
        self.tracer = OtelTracer(provider.get_tracer(_SCOPE, sharedconfig.__version__))
        return self.tracer

    def open(self) -> None:
        """Build the exporters and their batch processors, install the tracer (once per start)."""
        if self._started:
            return
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        from sharedconfig.monitoring.tracing.exporters import build_span_exporters

        tracer = self.tracer or self._build()
        self.exporters = tuple(build_span_exporters(self.settings, self.logger))
        self._batches = tuple(BatchSpanProcessor(exporter) for exporter in self.exporters)
        assert self._forward is not None  # made with the tracer
        self._forward.current = (*self.processors, *self._batches)
        _INSTALLED.push(tracer)
        self._started = True
        if self.settings.global_provider:
            self._make_global()
        self.logger.info(
            "tracing started",
            sample_rate=self.sample_rate,
            exporters=[exporter.name for exporter in self.exporters],
        )

    def _make_global(self) -> None:
        from opentelemetry import trace as otel_trace

        current = otel_trace.get_tracer_provider()
        if current is self._provider:
            return
        if isinstance(current, otel_trace.ProxyTracerProvider):
            otel_trace.set_tracer_provider(self._provider)  # type: ignore[arg-type]  # built by open()
            return
        self.logger.warning(
            "OpenTelemetry's global tracer provider is already set; spans of instrumented libraries go "
            "there, not to these exporters",
            provider=type(current).__name__,
        )

    async def close(self) -> None:
        """Uninstall the tracer, then flush every batch and shut the exporters down (on a worker thread)."""
        batches = self._detach()
        if batches:
            flush_ms = int(self.shutdown_timeout * 1000)
            await to_thread(lambda: self._shut_down(batches, flush_ms))

    def release(self) -> None:
        """What ``close`` does, in the caller's thread and without waiting on the exporters: for a stop
        whose runtime died before it could run ``close`` (``Monitoring.stop`` calls it then), so no
        tracer stays installed and no batch thread keeps running. Does nothing after ``close``."""
        batches = self._detach()
        if batches:
            self._shut_down(batches, 0)

    def _detach(self) -> tuple[BatchSpanProcessor, ...]:
        """Uninstall the tracer and take the batch processors away; () when not started."""
        if not self._started:
            return ()
        self._started = False
        if self.tracer is not None:
            _INSTALLED.remove(self.tracer)
        batches, self._batches = self._batches, ()
        if self._forward is not None:
            self._forward.current = ()
        self.exporters = ()
        return batches

    @staticmethod
    def _shut_down(batches: Sequence[BatchSpanProcessor], flush_ms: int) -> None:
        for batch in batches:
            if flush_ms > 0:
                batch.force_flush(flush_ms)
            batch.shutdown()  # type: ignore[no-untyped-call]  # untyped in the SDK

    def apply(self, settings: MonitoringSettings) -> Sequence[str]:
        """``tracing.sample_rate`` applies to new root traces at once; any other change needs a restart."""
        new = settings.tracing
        if self._sampler is not None and new.sample_rate != self._sampler.rate:
            self._sampler.set_rate(new.sample_rate)
            self.logger.info("trace sample rate changed", sample_rate=new.sample_rate)
        keys = changed_keys(self.settings, new, "monitoring.tracing")
        return [key for key in keys if key != "monitoring.tracing.sample_rate"]

    def server_span(self, request: Request) -> _ServerSpan | _NotTraced:
        """The middleware's span hook: a server span continuing the request's W3C ``traceparent``.

        Before the first start or after a stop the request is not traced (``trace`` is None).
        """
        tracer = self.tracer
        if tracer is None or not self._started:
            return _NOT_TRACED
        from opentelemetry import propagate

        parent = propagate.extract(request.headers)  # W3C trace context and baggage by default
        method = request.method if request.method in _METHODS else "HTTP"
        span, trace = tracer.start_server_span(
            method,
            parent,
            {
                "http.request.method": method if method != "HTTP" else "_OTHER",
                "url.path": request.path,
                "url.scheme": request.scheme,
            },
        )
        return _ServerSpan(tracer, span, trace, method)


class Request(Protocol):
    """What the span hook reads of a request (``monitoring.middleware.ServerRequest``)."""

    @property
    def method(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def headers(self) -> Mapping[str, str]: ...
    @property
    def scheme(self) -> str: ...


class _NotTraced:
    trace: None = None

    def finish(self, route: str, status_code: int | None, error: BaseException | None) -> None:
        return None


_NOT_TRACED: Final = _NotTraced()


class _ServerSpan:
    """A request's span: named ``METHOD /route`` once the route is known, error status on 5xx."""

    __slots__ = ("_method", "_span", "_tracer", "trace")

    def __init__(
        self, tracer: OtelTracer, span: ApiSpan, trace: tracecontext.TraceContext, method: str
    ) -> None:
        self._tracer = tracer
        self._span = span
        self.trace: tracecontext.TraceContext | None = trace
        self._method = method

    def finish(self, route: str, status_code: int | None, error: BaseException | None) -> None:
        from opentelemetry.trace import Status, StatusCode

        from sharedconfig.monitoring.tracing.tracer import end_span

        span = self._span
        if route != UNMATCHED:
            span.set_attribute("http.route", route)
            span.update_name(f"{self._method} {route}")
        if status_code is not None:
            span.set_attribute("http.response.status_code", status_code)
        if error is None and (status_code is None or status_code >= 500):
            span.set_status(Status(StatusCode.ERROR, "no response" if status_code is None else None))
            span.set_attribute("error.type", "no_response" if status_code is None else str(status_code))
        if self.trace is not None:
            self._tracer.forget(self.trace)
        end_span(span, error)


class _HasParts(Protocol):
    def part(self, name: str) -> Part | None: ...


def server_span_hook(monitoring: _HasParts) -> Callable[[Request], _ServerSpan | _NotTraced] | None:
    """The request span hook of ``monitoring``'s tracing part, or None when it has none (no tracing).

    Pass it as ``span_hook=`` to ``ASGIMetricsMiddleware`` or ``WSGIMetricsMiddleware`` (a
    ``monitoring.middleware.ServerSpanHook``); ``create_app`` does.
    """
    part = monitoring.part("tracing")
    return part.server_span if isinstance(part, TracingPart) else None


def tracing_part(ctx: PartContext, *, processors: Sequence[SpanProcessor] = ()) -> Part | None:
    """The tracing part, when monitoring and tracing are enabled and OpenTelemetry's SDK is installed.

    Without the SDK, configured exporters get one warning naming the extra to install, and spans stay
    no-ops. ``processors``: extra span processors for every run (see ``TracingPart``).
    """
    s = ctx.settings
    if not (s.enabled and s.tracing.enabled):
        return None
    logger = ctx.logger.bind(component="tracing")
    if not sdk_installed():
        if s.tracing.exporters:
            logger.warning(
                "tracing exporters are configured but OpenTelemetry is not installed: no spans are recorded",
                hint=INSTALL_HINT,
            )
        return None
    return TracingPart(s.tracing, logger, s.shutdown_timeout.total_seconds(), tuple(processors))
