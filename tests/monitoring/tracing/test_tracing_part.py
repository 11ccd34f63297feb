"""The tracing part: when it is built, what start and stop do with the tracer and the exporters, sampling."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import pytest
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, set_span_in_context
from tracing_fixtures import recorded_monitoring, settings

from sharedconfig import tracecontext
from sharedconfig.monitoring.hub import Monitoring
from sharedconfig.monitoring.tracing import TracingPart, span
from sharedconfig.monitoring.tracing import exporters as exporters_module
from sharedconfig.monitoring.tracing import part as part_module
from sharedconfig.monitoring.tracing.tracer import LiveSampler
from sharedconfig.testing import FakeClock

CONSOLE = {"exporters": [{"type": "console"}]}


@pytest.fixture
def exported(monkeypatch: pytest.MonkeyPatch) -> list[InMemorySpanExporter]:
    """Every configured exporter becomes an in-memory one (behind the real batch processor and ForkSafe)."""
    made: list[InMemorySpanExporter] = []

    def factory(settings: Any, logger: Any) -> Callable[[], SpanExporter]:
        def make() -> SpanExporter:
            made.append(InMemorySpanExporter())
            return made[-1]

        return make

    monkeypatch.setattr(exporters_module, "exporter_factory", factory)
    return made


def _die() -> None:
    raise SystemExit("the loop ends")


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


class TestBuilt:
    @pytest.mark.parametrize(
        "data",
        [{"enabled": False}, {"tracing": {"enabled": False}}],
        ids=["monitoring-disabled", "tracing-disabled"],
    )
    def test_not_built_when_disabled(self, data: dict[str, Any]) -> None:
        """part.py ``tracing_part``: no part, nothing installed, span() a no-op after start."""
        tracing = data.pop("tracing", None)
        mon = Monitoring(settings(tracing, **data), clock=FakeClock(), stream=io.StringIO()).start()
        try:
            assert mon.part("tracing") is None
            with span("x") as inside:
                assert inside is None and tracecontext.installed_tracer() is None
        finally:
            mon.stop()

    def test_without_opentelemetry_one_warning_when_exporters_are_configured(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """``sdk_installed()`` False: no part; configured exporters get one warning naming the extra."""
        monkeypatch.setattr(part_module, "sdk_installed", lambda: False)
        stream = io.StringIO()
        mon = Monitoring(settings(CONSOLE), clock=FakeClock(), stream=stream)
        quiet = Monitoring(settings(), clock=FakeClock(), stream=io.StringIO())
        assert mon.part("tracing") is None and quiet.part("tracing") is None
        warnings = [r for r in lines(stream) if r["level"] == "warning"]
        assert len(warnings) == 1 and "sharedconfig[tracing]" in warnings[0]["hint"]

    def test_built_with_defaults_and_nothing_runs_before_start(self) -> None:
        """The default settings trace (ids for logs and errors) without exporters; building starts no thread
        and installs nothing."""
        mon = Monitoring(settings(), clock=FakeClock(), stream=io.StringIO())
        part = mon.part("tracing")
        assert isinstance(part, TracingPart) and part.provider is None
        assert tracecontext.installed_tracer() is None


class TestRun:
    def test_installed_only_while_started(self) -> None:
        """open() installs the part's tracer; close() uninstalls it, so a stopped instance traces nothing."""
        mon = recorded_monitoring(InMemorySpanExporter())
        part = mon.part("tracing")
        assert isinstance(part, TracingPart)
        mon.start()
        assert tracecontext.installed_tracer() is part.tracer is not None
        mon.stop()
        assert tracecontext.installed_tracer() is None

    def test_stopping_one_hands_back_to_the_one_started_before(self) -> None:
        """part.py ``_Installed``: two running instances; stopping the later one reinstalls the earlier."""
        first, second = (
            recorded_monitoring(InMemorySpanExporter()),
            recorded_monitoring(InMemorySpanExporter()),
        )
        first.start()
        second.start()
        try:
            assert tracecontext.installed_tracer() is second.part("tracing").tracer  # type: ignore[union-attr]
            second.stop()
            assert tracecontext.installed_tracer() is first.part("tracing").tracer  # type: ignore[union-attr]
        finally:
            second.stop()
            first.stop()
        assert tracecontext.installed_tracer() is None

    def test_a_stop_after_the_runtime_died_still_uninstalls_and_ends_the_batches(
        self, exported: list[InMemorySpanExporter]
    ) -> None:
        """hub.py ``stop``: a dead loop never runs ``close``, so the part's ``release`` does its work: no
        tracer left installed, no batch thread left running (the thread guard fails the test otherwise),
        and the spans already ended are exported."""
        mon = Monitoring(settings(CONSOLE), clock=FakeClock(), stream=io.StringIO())
        mon.start()
        try:
            with span("before-the-death"):
                pass
            loop, thread = mon.runtime.loop, mon.runtime._thread
            assert loop is not None and thread is not None
            loop.call_soon_threadsafe(_die)  # a callback (not a job) raising SystemExit ends the loop
            thread.join(10)
            assert mon.runtime.died is not None
        finally:
            mon.stop()
        assert tracecontext.installed_tracer() is None
        (exporter,) = exported
        assert [s.name for s in exporter.get_finished_spans()] == ["before-the-death"]

    def test_stop_flushes_the_batches_and_shuts_the_exporters_down(
        self, exported: list[InMemorySpanExporter]
    ) -> None:
        """close(): the batch processor's 5 s delay has not passed, yet every span is exported at stop."""
        stream = io.StringIO()
        mon = Monitoring(settings(CONSOLE), clock=FakeClock(), stream=stream).start()
        for n in range(3):
            with span(f"work-{n}"):
                pass
        (exporter,) = exported
        assert exporter.get_finished_spans() == ()  # still in the batch
        assert mon.stop() == []
        assert sorted(s.name for s in exporter.get_finished_spans()) == ["work-0", "work-1", "work-2"]
        assert next(r for r in lines(stream) if r["event"] == "tracing started")["exporters"] == ["console"]

    def test_a_restart_builds_fresh_exporters(self, exported: list[InMemorySpanExporter]) -> None:
        """Each start makes its own batch processors and exporters (the last run's were shut down)."""
        mon = Monitoring(settings(CONSOLE), clock=FakeClock(), stream=io.StringIO())
        for name in ("first", "second"):
            mon.start()
            with span(name):
                pass
            mon.stop()
        assert [[s.name for s in e.get_finished_spans()] for e in exported] == [["first"], ["second"]]

    def test_the_resource_names_the_service(self) -> None:
        """service_name, service_version and attributes become resource attributes."""
        memory = InMemorySpanExporter()
        tracing = {"service_name": "api", "service_version": "1.2", "attributes": {"team": "core", "tier": 1}}
        mon = recorded_monitoring(memory, tracing).start()
        with span("x"):
            pass
        mon.stop()
        (recorded,) = memory.get_finished_spans()
        resource = recorded.resource.attributes
        assert (resource["service.name"], resource["service.version"]) == ("api", "1.2")
        assert (resource["team"], resource["tier"]) == ("core", 1)


def parented(sampled: bool) -> Any:
    context = SpanContext(0x1234, 0x5678, is_remote=True, trace_flags=TraceFlags(1 if sampled else 0))
    return set_span_in_context(NonRecordingSpan(context))


class TestSampling:
    def test_the_ratio_applies_to_root_spans(self) -> None:
        """LiveSampler(0.25): about a quarter of 4000 root traces sampled (by trace id)."""
        sampler = LiveSampler(0.25)
        import random

        rng = random.Random(7)
        kept = sum(
            sampler.should_sample(None, rng.getrandbits(128), "x").decision.is_sampled() for _ in range(4000)
        )
        assert 800 < kept < 1200

    @pytest.mark.parametrize(("rate", "parent", "sampled"), [(0.0, True, True), (1.0, False, False)])
    def test_a_child_follows_its_parent(self, rate: float, parent: bool, sampled: bool) -> None:
        """ParentBased: a sampled parent wins over rate 0, an unsampled one over rate 1."""
        decision = LiveSampler(rate).should_sample(parented(parent), 0x1234, "x").decision
        assert decision.is_sampled() is sampled

    def test_apply_changes_the_rate_live_and_names_the_rest(self) -> None:
        """part.py ``apply``: sample_rate applies at once (new roots follow it); exporters need a restart."""
        memory = InMemorySpanExporter()
        mon = recorded_monitoring(memory, {"sample_rate": 1.0}).start()
        try:
            new = settings({"sample_rate": 0.0, "exporters": [{"type": "console"}]})
            assert mon.apply(new) == ["monitoring.tracing.exporters"]
            with span("after"):
                pass
            assert memory.get_finished_spans() == ()
            assert mon.part("tracing").sample_rate == 0.0  # type: ignore[union-attr]
        finally:
            mon.stop()
