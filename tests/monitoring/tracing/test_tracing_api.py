"""``span``/``@traced`` and the installed tracer: spans, parents, and the ids of logs, events and errors."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry import trace as otel_trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanContext, StatusCode, TraceFlags
from tracing_fixtures import by_name, hex_ids, recorded_monitoring

import sharedconfig.monitoring
from sharedconfig import tracecontext
from sharedconfig.config.loader import load
from sharedconfig.errors import ConfigError, ConfigValidationError
from sharedconfig.monitoring.events.event import Event
from sharedconfig.monitoring.hub import Monitoring
from sharedconfig.monitoring.tracing import span, traced
from sharedconfig.monitoring.tracing.tracer import trace_of
from sharedconfig.tracecontext import TraceContext, use


@pytest.fixture
def memory() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def stream() -> io.StringIO:
    return io.StringIO()


@pytest.fixture
def started(memory: InMemorySpanExporter, stream: io.StringIO) -> Iterator[Monitoring]:
    mon = recorded_monitoring(memory, stream=stream).start()
    yield mon
    mon.stop()


class TestWithoutTracer:
    def test_span_and_traced_are_no_ops(self) -> None:
        """tracecontext.span: no tracer installed -> the shared no-op; traced calls the function itself."""
        assert tracecontext.installed_tracer() is None

        @traced
        def double(x: int) -> int:
            return 2 * x

        with span("nothing", a=1) as inside:
            assert inside is None and tracecontext.current() is None
            assert double(2) == 4
        trace = TraceContext.new()
        with use(trace), span("nothing") as inside:
            assert inside is trace  # yields the current context, untouched

    def test_the_public_names_are_where_users_look(self) -> None:
        """sharedconfig.monitoring re-exports span and traced (lazily, without OpenTelemetry)."""
        assert sharedconfig.monitoring.span is span
        assert sharedconfig.monitoring.traced is traced


class TestSpans:
    def test_nested_spans_have_parents_attributes_and_names(
        self, started: Monitoring, memory: InMemorySpanExporter
    ) -> None:
        """A span opened inside another is its child; attributes and the function's qualname are kept."""

        @traced
        def step() -> TraceContext | None:
            return tracecontext.current()

        with span("outer", order=7) as outer:
            inner = step()
        spans = by_name(memory.get_finished_spans())
        assert set(spans) == {
            "outer",
            "TestSpans.test_nested_spans_have_parents_attributes_and_names.<locals>.step",
        }
        child = spans[next(name for name in spans if name.endswith("step"))]
        assert outer is not None and inner is not None
        assert hex_ids(spans["outer"]) == (outer.trace_id, outer.span_id)
        assert hex_ids(child) == (inner.trace_id, inner.span_id)
        assert child.parent is not None and f"{child.parent.span_id:016x}" == outer.span_id
        assert dict(spans["outer"].attributes or {}) == {"order": 7}

    def test_traced_async_covers_the_awaits(self, started: Monitoring, memory: InMemorySpanExporter) -> None:
        """api.py ``traced_async``: the span is current across awaits and ends when the coroutine does."""

        @traced("fetch", source="db")
        async def fetch() -> str | None:
            await asyncio.sleep(0)
            with span("decode"):
                pass
            trace = tracecontext.current()
            return trace.span_id if trace else None

        seen = asyncio.run(fetch())
        spans = by_name(memory.get_finished_spans())
        assert hex_ids(spans["fetch"])[1] == seen
        assert spans["decode"].parent is not None and f"{spans['decode'].parent.span_id:016x}" == seen
        assert dict(spans["fetch"].attributes or {}) == {"source": "db"}

    def test_an_exception_is_recorded_with_error_status_and_code(
        self, started: Monitoring, memory: InMemorySpanExporter
    ) -> None:
        """tracer.py ``end_span``: error status, an exception event, ``error.type`` = the error code."""

        @traced
        def fail() -> None:
            raise ConfigError("no such file", code="CONFIG_003")

        with pytest.raises(ConfigError):
            fail()
        (failed,) = memory.get_finished_spans()
        assert failed.status.status_code is StatusCode.ERROR
        assert [event.name for event in failed.events] == ["exception"]
        assert (failed.attributes or {})["error.type"] == "CONFIG_003"

    def test_a_failed_load_is_an_error_on_its_config_load_span(
        self, started: Monitoring, memory: InMemorySpanExporter, tmp_path: Path
    ) -> None:
        """loader.py: ``load`` raises inside ``config.load``, so the span records the failure (CONFIG_002)."""
        bad = tmp_path / "app.yaml"
        bad.write_text("monitoring:\n  sample_rate: 7\n")
        with pytest.raises(ConfigValidationError):
            load(bad, env_file=None)
        spans = by_name(memory.get_finished_spans())
        assert spans["config.load"].status.status_code is StatusCode.ERROR
        assert (spans["config.load"].attributes or {})["error.type"] == "CONFIG_002"
        assert spans["config.validate"].status.status_code is not StatusCode.ERROR

    def test_the_context_is_restored_after_a_span(self, started: Monitoring) -> None:
        """Both contexts (ours and OpenTelemetry's) are reset when the block ends, even by an exception."""
        with pytest.raises(RuntimeError), span("boom"):
            raise RuntimeError("x")
        assert tracecontext.current() is None
        assert not otel_trace.get_current_span().get_span_context().is_valid


class TestCorrelation:
    """The ids of the current span in a log line, an event's traceparent and a SharedConfigError."""

    def test_log_event_and_error_carry_the_span_ids(self, started: Monitoring, stream: io.StringIO) -> None:
        """logging.py, event.py and errors.py all read tracecontext.current(): one id finds all three."""
        with span("handle") as trace:
            started.logger.info("handling")
            event = Event("order.created", "/shop")
            error = ConfigError("bad")
        assert trace is not None
        line = json.loads(stream.getvalue().splitlines()[-1])
        assert (line["trace_id"], line["span_id"]) == (trace.trace_id, trace.span_id)
        assert event.traceparent == trace.traceparent
        assert (error.trace_id, error.span_id) == (trace.trace_id, trace.span_id)

    def test_a_span_of_the_opentelemetry_api_is_current_too(self, started: Monitoring) -> None:
        """tracer.py ``current``: a span opened with OpenTelemetry's own API (another provider) is what
        current() returns inside it, and a span of ours opened inside it is its child."""
        provider = TracerProvider()
        memory = InMemorySpanExporter()
        provider.add_span_processor(SimpleSpanProcessor(memory))
        with provider.get_tracer("app").start_as_current_span("bare") as bare:
            ids = bare.get_span_context()
            assert tracecontext.current() == TraceContext(f"{ids.trace_id:032x}", f"{ids.span_id:016x}", True)
            with span("ours") as ours:
                assert ours is not None and ours.trace_id == f"{ids.trace_id:032x}"
        provider.shutdown()

    def test_use_makes_a_trace_the_parent_of_spans(
        self, started: Monitoring, memory: InMemorySpanExporter
    ) -> None:
        """tracecontext.use -> Tracer.attach: a span opened in ``use(trace)`` continues that trace."""
        trace = TraceContext.new()
        with use(trace), span("continued"):
            pass
        (continued,) = memory.get_finished_spans()
        assert hex_ids(continued)[0] == trace.trace_id
        assert continued.parent is not None and f"{continued.parent.span_id:016x}" == trace.span_id
        with use(trace), use(None), span("fresh"):
            pass
        fresh = by_name(memory.get_finished_spans())["fresh"]
        assert hex_ids(fresh)[0] != trace.trace_id and fresh.parent is None

    def test_an_unsampled_trace_still_gives_ids(
        self, memory: InMemorySpanExporter, stream: io.StringIO
    ) -> None:
        """sample_rate 0: nothing is recorded, yet logs inside carry the trace's ids (sampled False)."""
        mon = recorded_monitoring(memory, {"sample_rate": 0.0}, stream=stream).start()
        try:
            with span("dropped") as trace:
                mon.logger.info("inside")
        finally:
            mon.stop()
        assert trace is not None and not trace.sampled
        assert memory.get_finished_spans() == ()
        assert json.loads(stream.getvalue().splitlines()[-2])["trace_id"] == trace.trace_id


class TestTraceOf:
    @pytest.mark.parametrize(("trace_id", "span_id", "flags"), [(1, 2, 1), (2**128 - 1, 2**64 - 1, 0)])
    def test_the_fast_conversion_spells_w3c_ids(self, trace_id: int, span_id: int, flags: int) -> None:
        """tracer.py ``trace_of`` (the bench's spelling) equals the plain one: zero-padded hex, the flag."""
        context = SpanContext(trace_id, span_id, is_remote=False, trace_flags=TraceFlags(flags))
        assert trace_of(context) == TraceContext(f"{trace_id:032x}", f"{span_id:016x}", bool(flags))
