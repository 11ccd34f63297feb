"""Benchmark: the cost of a span opened with our helpers against the bare OpenTelemetry SDK, in one run.

Both sides end spans into the same kind of pipeline: a provider with the parent-based ratio sampler at 1.0
and a ``BatchSpanProcessor`` over an exporter that drops what it gets. Ours is ``span()`` (and ``@traced``)
of a started ``Monitoring`` whose tracing part carries that processor; the anchor is
``tracer.start_as_current_span`` of a bare SDK ``TracerProvider``. Ours does more per span (the trace
context for logs, events and errors); the target is at most 1.1x. The disabled path (no tracer
installed) is measured against a bare function call, what ``span``/``@traced`` cost when tracing is off,
and against OpenTelemetry's own no-op tracer (the API without an SDK).
"""

from __future__ import annotations

import functools
import io
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

from _common import Case, case, print_table, timeit_best, write_results
from sharedconfig import tracecontext
from sharedconfig.monitoring.hub import Monitoring
from sharedconfig.monitoring.parts import DEFAULT_PARTS
from sharedconfig.monitoring.settings import MonitoringSettings
from sharedconfig.monitoring.tracing import span, traced
from sharedconfig.monitoring.tracing.part import tracing_part

ROOT = Path(__file__).resolve().parent.parent
LOOP = 1000  # spans per timed call
NUMBER, REPEAT = 10, 2
ROUNDS = 10  # contenders take turns, so a burst of load elsewhere hits each alike (min of all)
QUEUE = 1_000_000  # no span dropped for a full queue on either side: both pay for every span
Op = Callable[[int], None]


class Dropping(SpanExporter):
    """Takes every batch and keeps nothing: the pipeline's cost without any I/O."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def batch() -> BatchSpanProcessor:
    return BatchSpanProcessor(Dropping(), max_queue_size=QUEUE)


def ns_per_op(op: Op) -> float:
    return timeit_best(lambda: op(LOOP), number=NUMBER, repeat=REPEAT) / LOOP * 1e9


def bare_sdk() -> tuple[dict[str, Op], TracerProvider]:
    provider = TracerProvider(
        sampler=ParentBased(TraceIdRatioBased(1.0)),
        resource=Resource.create({"service.name": "bench"}),
        shutdown_on_exit=False,
    )
    provider.add_span_processor(batch())
    tracer = provider.get_tracer("bench")

    def block(n: int) -> None:
        for _ in range(n):
            with tracer.start_as_current_span("op"):
                pass

    def decorated(n: int) -> None:
        @tracer.start_as_current_span("op")
        def work() -> None:
            return None

        for _ in range(n):
            work()

    return {"span": block, "traced": decorated}, provider


def ours() -> tuple[dict[str, Op], Monitoring]:
    settings = MonitoringSettings.model_validate(
        {
            "logging": {"format": "json", "capture_stdlib": False},
            "health": {"enabled": False},
            "tracing": {"service_name": "bench", "sample_rate": 1.0},
        }
    )
    parts = (
        *(p for p in DEFAULT_PARTS if p is not tracing_part),
        functools.partial(tracing_part, processors=[batch()]),
    )
    mon = Monitoring(settings, stream=io.StringIO(), parts=parts).start()

    def block(n: int) -> None:
        for _ in range(n):
            with span("op"):
                pass

    @traced("op")
    def work() -> None:
        return None

    def decorated(n: int) -> None:
        for _ in range(n):
            work()

    return {"span": block, "traced": decorated}, mon


def disabled() -> dict[str, Op]:
    assert tracecontext.installed_tracer() is None

    def bare() -> None:
        return None

    @traced
    def work() -> None:
        return None

    def call(n: int) -> None:
        for _ in range(n):
            bare()

    def block(n: int) -> None:
        for _ in range(n):
            with span("op"):
                bare()

    def decorated(n: int) -> None:
        for _ in range(n):
            work()

    from opentelemetry.trace import NoOpTracer

    noop = NoOpTracer()

    def noop_block(n: int) -> None:
        for _ in range(n):
            with noop.start_as_current_span("op"):
                bare()

    return {"bare_call": call, "span": block, "traced": decorated, "otel_noop": noop_block}


def check_correct(mon: Monitoring) -> None:
    """Our span really is one: a trace context, current inside, gone after."""
    with span("check") as trace:
        assert trace is not None
        assert tracecontext.current() == trace
    assert tracecontext.current() is None
    assert mon.part("tracing") is not None


def main() -> int:
    """Measure, write bench/results/tracing_overhead.json and print the table."""
    off = disabled()  # before any tracer is installed
    best: dict[str, dict[str, float]] = {"off": dict.fromkeys(off, float("inf"))}
    for _ in range(ROUNDS):
        for key, op in off.items():
            best["off"][key] = min(best["off"][key], ns_per_op(op))
    sdk, provider = bare_sdk()
    mine, mon = ours()
    try:
        check_correct(mon)
        best["sdk"] = dict.fromkeys(sdk, float("inf"))
        best["ours"] = dict.fromkeys(mine, float("inf"))
        for _ in range(ROUNDS):
            for who, ops in (("sdk", sdk), ("ours", mine)):
                for key, op in ops.items():
                    best[who][key] = min(best[who][key], ns_per_op(op))
    finally:
        mon.stop()
        provider.shutdown()
    o, s, d = best["ours"], best["sdk"], best["off"]
    cases: list[Case] = [
        case("span_block", "ns/op", o["span"], anchor="OpenTelemetry SDK tracer.start_as_current_span block",
             anchor_value=s["span"], target_ratio=1.1),
        case("traced_call", "ns/op", o["traced"],
             anchor="OpenTelemetry SDK @tracer.start_as_current_span decorated call",
             anchor_value=s["traced"], target_ratio=1.1),
        case("disabled_span_block", "ns/op", d["span"], anchor="bare function call",
             anchor_value=d["bare_call"]),
        case("disabled_traced_call", "ns/op", d["traced"], anchor="bare function call",
             anchor_value=d["bare_call"]),
        case("disabled_span_block_vs_otel_noop", "ns/op", d["span"],
             anchor="OpenTelemetry API NoOpTracer start_as_current_span block", anchor_value=d["otel_noop"]),
    ]  # fmt: skip
    path = write_results("tracing_overhead", cases)
    print_table(cases)
    print(f"\nwrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
