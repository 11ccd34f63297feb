"""``OtelTracer``: the ``tracecontext.Tracer`` that opens spans with OpenTelemetry, and the live sampler.

OpenTelemetry's context is the one truth while this tracer is installed: ``span()`` makes its span current
there and in ``tracecontext`` at once, ``use()`` is mirrored into it (``attach``), and ``current()`` reads
it, so a span opened with the OpenTelemetry API shows in logs, events and errors like ours.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING

from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace import Span as SdkSpan
from opentelemetry.sdk.trace.sampling import (
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import (
    INVALID_SPAN,
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
)
from opentelemetry.trace.propagation import _SPAN_KEY  # where set_span_in_context puts the span

from sharedconfig.errors import SharedConfigError
from sharedconfig.tracecontext import AttributeValue, TraceContext, current_trace

if TYPE_CHECKING:
    from opentelemetry.trace import Link, TraceState
    from opentelemetry.util.types import Attributes

__all__ = ["Forward", "LiveSampler", "OtelTracer", "end_span", "trace_of"]

_new = object.__new__
_set = object.__setattr__


def trace_of(span_context: SpanContext) -> TraceContext:
    """An OpenTelemetry span context as a ``TraceContext`` (W3C hex ids, the sampled flag)."""
    # once per span: bench/tracing_overhead.py (target 1.1x the bare SDK) needs the cheaper spellings:
    # SpanContext read as the tuple it is (trace_id, span_id, is_remote, trace_flags, ...), the ids as
    # bytes' hex (zero-padded by the width), the frozen dataclass filled without its generated __init__
    trace_id, span_id, _remote, flags = span_context[:4]
    trace = _new(TraceContext)
    _set(trace, "trace_id", trace_id.to_bytes(16, "big").hex())
    _set(trace, "span_id", span_id.to_bytes(8, "big").hex())
    _set(trace, "sampled", bool(flags & 1))
    return trace


def _span_of(trace: TraceContext) -> otel_trace.Span:
    """A non-recording span carrying ``trace``'s ids, to parent the spans opened under it."""
    try:
        trace_id, span_id = int(trace.trace_id, 16), int(trace.span_id, 16)
    except ValueError:  # another tracer's ids, not W3C hex: nothing to parent on
        return INVALID_SPAN
    flags = TraceFlags(TraceFlags.SAMPLED if trace.sampled else TraceFlags.DEFAULT)
    return NonRecordingSpan(SpanContext(trace_id, span_id, is_remote=False, trace_flags=flags))


def end_span(span: otel_trace.Span, error: BaseException | None) -> None:
    """End ``span``, first recording ``error`` (an ``Exception``) on it with error status and ``error.type``.

    ``error.type`` is the error code of a ``SharedConfigError`` (``CONFIG_002``), else the class name, so a
    trace search by code finds the spans an error left.
    """
    if isinstance(error, Exception):
        code = error.code if isinstance(error, SharedConfigError) else type(error).__qualname__
        span.set_attribute("error.type", code)
        span.record_exception(error)
        span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
    span.end()


class _Span:
    """One span opened by ``OtelTracer.span``: current in both contexts for the block, ended after it."""

    __slots__ = ("_attributes", "_name", "_span", "_token", "_tracer", "_var")

    def __init__(self, tracer: otel_trace.Tracer, name: str, attributes: dict[str, AttributeValue]) -> None:
        self._tracer = tracer
        self._name = name
        self._attributes = attributes

    def __enter__(self) -> TraceContext:
        span = self._tracer.start_span(self._name, attributes=self._attributes or None)
        trace = trace_of(span.get_span_context())
        self._span = span
        self._token = otel_context.attach(otel_trace.set_span_in_context(span))
        self._var = current_trace.set(trace)
        return trace

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        current_trace.reset(self._var)
        otel_context.detach(self._token)
        end_span(self._span, exc)


class OtelTracer:
    """``sharedconfig.tracecontext.Tracer`` over an OpenTelemetry tracer (installed with ``set_tracer``).

    ``server(...)`` registers a server span by its trace context while a request runs, so the middleware's
    ``use(trace)`` makes the real span current in OpenTelemetry's context (not a stand-in with its ids).
    """

    __slots__ = ("_live", "tracer")

    def __init__(self, tracer: otel_trace.Tracer) -> None:
        self.tracer = tracer
        self._live: dict[TraceContext, otel_trace.Span] = {}

    def span(self, name: str, attributes: dict[str, AttributeValue]) -> _Span:
        """Open ``name`` as a child of OpenTelemetry's current span (see the module docstring)."""
        return _Span(self.tracer, name, attributes)

    def current(self) -> TraceContext | None:
        """OpenTelemetry's current span as a ``TraceContext``, or None when it has no valid one.

        The variable's context when it is that span (our spans and ``use()`` set both), so its ``sampled``
        and identity are kept; else the span's own ids (a span opened with OpenTelemetry's API).
        """
        if otel_context.get_current().get(_SPAN_KEY) is None:  # no span at all: the common case, cheaply
            return None
        span_context = otel_trace.get_current_span().get_span_context()
        if not span_context.is_valid:
            return None
        ours = current_trace.get()
        if ours is not None and ours.span_id == span_context.span_id.to_bytes(8, "big").hex():
            return ours
        return trace_of(span_context)

    def attach(self, trace: TraceContext | None) -> object:
        """Make ``trace`` current in OpenTelemetry's context: its live span if it is one, else its ids."""
        if trace is None:
            return otel_context.attach(otel_trace.set_span_in_context(INVALID_SPAN))
        return otel_context.attach(otel_trace.set_span_in_context(self._live.get(trace) or _span_of(trace)))

    def detach(self, token: object) -> None:
        """Undo ``attach``."""
        otel_context.detach(token)  # type: ignore[arg-type]  # the token attach returned

    def start_server_span(
        self, name: str, parent: otel_context.Context, attributes: dict[str, AttributeValue]
    ) -> tuple[otel_trace.Span, TraceContext]:
        """Start a server span under ``parent`` (an extracted context) and register it until ``forget``."""
        span = self.tracer.start_span(name, parent, kind=SpanKind.SERVER, attributes=attributes)
        trace = trace_of(span.get_span_context())
        self._live[trace] = span
        return span, trace

    def forget(self, trace: TraceContext) -> None:
        """The server span of ``trace`` has ended."""
        self._live.pop(trace, None)


class LiveSampler(Sampler):
    """A parent-based ratio sampler whose ratio changes while spans are being made (``set_rate``).

    A root span is sampled with probability ``rate`` (by its trace id, as ``TraceIdRatioBased``); a child
    follows its parent's decision, local or remote (``ParentBased``), so a trace is whole or absent.
    """

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self._sampler: Sampler = ParentBased(TraceIdRatioBased(rate))

    def set_rate(self, rate: float) -> None:
        """Sample new root spans with probability ``rate`` from now on."""
        self._sampler = ParentBased(TraceIdRatioBased(rate))
        self.rate = rate

    def should_sample(
        self,
        parent_context: otel_context.Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        """The current ratio sampler's decision."""
        return self._sampler.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        """``ParentBased{...TraceIdRatioBased{rate}...}``."""
        return self._sampler.get_description()


class Forward(SpanProcessor):
    """A provider's one span processor, forwarding to the processors of the current run (none: stopped).

    A provider cannot drop a processor it was given, and the tracing part's provider outlives a stop (it
    may be OpenTelemetry's global one), so each start swaps fresh batch processors in here.
    """

    def __init__(self) -> None:
        self.current: tuple[SpanProcessor, ...] = ()

    def on_start(self, span: SdkSpan, parent_context: otel_context.Context | None = None) -> None:
        """Forward."""
        for processor in self.current:
            processor.on_start(span, parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        """Forward."""
        for processor in self.current:
            processor.on_end(span)

    def shutdown(self) -> None:
        """Nothing: the part shuts its processors down at each stop."""

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Flush the current processors."""
        return all(processor.force_flush(timeout_millis) for processor in self.current)
