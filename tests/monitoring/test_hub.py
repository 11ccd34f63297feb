"""Tests for the Monitoring facade: building from settings, the process-wide instance, start/stop."""

from __future__ import annotations

import asyncio
import io
import json
import threading
from datetime import timedelta
from pathlib import Path

import pytest

from sharedconfig.config import load
from sharedconfig.monitoring import Monitoring, configure, get, reset
from sharedconfig.monitoring.health import HealthCheck
from sharedconfig.monitoring.metrics.model import Collector, MetricFamily, MetricType, Sample
from sharedconfig.monitoring.settings import LoggingSettings, MetricsSettings, MonitoringSettings
from sharedconfig.runtime import Job
from sharedconfig.testing.clock import FakeClock

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "deploy" / "config" / "monitoring-production.yaml"
SEED_ENV = {"DATADOG_API_KEY": "dd-canary-key", "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/x"}


def quiet() -> MonitoringSettings:
    return MonitoringSettings(logging=LoggingSettings(format="json", capture_stdlib=False))


def non_daemon_or_runtime_threads() -> set[str]:
    return {t.name for t in threading.enumerate() if t.name.startswith("sharedconfig")}


class TestFacade:
    def test_builds_parts_from_the_seed_settings(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The seed's production config yields exporters for both push targets, the built-in checks and its
        two event channels (their journal lands in the working directory, here a temporary one)."""
        monkeypatch.chdir(tmp_path)
        config = load([SEED], environ=SEED_ENV, env_file=None)
        mon = Monitoring.from_config(config, stream=io.StringIO())
        assert sorted(e.name for e in mon.exporters) == ["datadog", "remote_write"]
        assert [c.name for c in mon.events.channels] == ["elasticsearch", "kafka"]
        assert "dd-canary-key" not in repr(mon)
        report = mon.health.report()
        assert {"process", "config_loader", "security_manager", "http_client_pool"} <= set(report.checks)

    def test_start_stop_leaves_no_thread(self) -> None:
        """start() runs the runtime; stop() joins it; a context manager does both."""
        before = non_daemon_or_runtime_threads()
        with Monitoring(quiet(), stream=io.StringIO()) as mon:
            assert mon.started
            assert mon.runtime.running
        assert not mon.started
        assert non_daemon_or_runtime_threads() == before

    def test_health_runs_on_the_runtime(self) -> None:
        """Started monitoring runs the checks in the background; report() then shows results."""
        mon = Monitoring(quiet(), stream=io.StringIO())
        mon.start()
        try:
            future = mon.runtime.submit(mon.health.run_all())
            future.result(30)
            assert mon.health.report("live").checks["process"].state.value in ("healthy", "degraded")
        finally:
            mon.stop()

    def test_disabled_monitoring_never_starts(self) -> None:
        """enabled: false gives an object that records nothing and starts no thread."""
        mon = Monitoring(MonitoringSettings(enabled=False), stream=io.StringIO())
        mon.metrics.record_counter("x_total", 1, {"a": "b"})
        mon.start()
        assert not mon.started
        assert mon.exporters == ()
        assert mon.parts == ()

    def test_config_hooks_feed_metrics_and_health(self, tmp_path: Path) -> None:
        """Loading through monitoring.config_hooks counts the load and keeps config_loader healthy."""
        mon = Monitoring(quiet(), stream=io.StringIO(), clock=FakeClock())
        path = tmp_path / "a.yaml"
        path.write_text("monitoring: {sample_rate: 0.5}\n")
        load([path], environ={}, env_file=None, hooks=mon.config_hooks)
        asyncio.run(mon.health.run_all())
        assert mon.health.report().checks["config_loader"].state.value == "healthy"
        names = {f.name for f in mon.metrics.collect()}
        assert "config_load_duration_seconds" in names

    def test_logs_are_json_lines(self) -> None:
        """The facade's logger writes JSON lines to the given stream."""
        stream = io.StringIO()
        mon = Monitoring(quiet(), stream=stream)
        mon.start()
        mon.stop()
        lines = [json.loads(line) for line in stream.getvalue().splitlines()]  # every line is JSON
        events = [line["event"] for line in lines if line["event"].startswith("monitoring ")]
        assert events == ["monitoring started", "monitoring stopped"]  # health may log in between


class TestProcessWide:
    def test_get_is_a_noop_until_configured(self) -> None:
        """Before configure(), get() returns a disabled instance that accepts recordings."""
        reset()
        noop = get()
        assert not noop.enabled
        noop.metrics.record_counter("lib_calls_total", 1, None)
        assert get() is noop

    def test_configure_replaces_and_reset_stops(self) -> None:
        """configure() makes an instance current (stopping the previous one); reset() stops it."""
        first = configure(Monitoring(quiet(), stream=io.StringIO()))
        assert get() is first
        assert first.started
        second = configure(quiet(), start=False)
        assert get() is second
        assert not first.started
        reset()
        assert get() is not second


def test_the_pytest_fixture_gives_a_fresh_process_wide_instance(monitoring: Monitoring) -> None:
    """The plugin's `monitoring` fixture is configured process-wide and not started."""
    assert get() is monitoring
    assert not monitoring.started
    monitoring.metrics.record_counter("fixture_total", 1, None)
    assert any(f.name == "fixture" for f in monitoring.metrics.collect())


class TestFixes:
    def test_disabled_monitoring_reports_no_checks(self) -> None:
        """enabled: false registers no checks, so readiness is not held at 503 by unknown checks."""
        report = Monitoring(MonitoringSettings(enabled=False), stream=io.StringIO()).health.report("ready")
        assert report.checks == {}
        assert report.http_status == 200

    def test_without_a_config_the_config_check_does_not_block_readiness(self) -> None:
        """Monitoring(settings) without a Config keeps config_loader non-critical."""
        mon = Monitoring(quiet(), stream=io.StringIO())
        asyncio.run(mon.health.run_all())
        assert mon.health.report("ready").http_status == 200
        assert not mon.health.report().checks["config_loader"].critical

    def test_with_a_config_the_config_check_is_critical(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """from_config makes config_loader critical and healthy."""
        monkeypatch.chdir(tmp_path)  # the seed's event channels journal in the working directory
        config = load([SEED], environ=SEED_ENV, env_file=None)
        mon = Monitoring.from_config(config, stream=io.StringIO())
        asyncio.run(mon.health.run_all())
        check = mon.health.report().checks["config_loader"]
        assert check.critical
        assert check.state.value == "healthy"

    def test_from_config_records_the_load_that_made_it(self) -> None:
        """The load's own time in config_load_duration_seconds{success="true"}, its validation in
        config_validation_total and its duration, the gauges at 0, and config_info for its snapshot."""
        from sharedconfig.monitoring.hooks.config import config_hash

        config = load([], environ={}, env_file=None)  # defaults: sample_rate 1, every duration kept
        assert config.timings is not None
        mon = Monitoring.from_config(config, stream=io.StringIO())
        value = mon.metrics.sample_value
        assert value("config_load_duration_seconds_count", {"success": "true"}) == 1
        total = value("config_load_duration_seconds_sum", {"success": "true"})
        assert total == pytest.approx(config.timings.load_seconds)
        assert value("config_validation_total", {"valid": "true"}) == 1
        validation = value("config_validation_duration_seconds_sum", {})
        assert validation == pytest.approx(config.timings.validation_seconds)
        assert (value("config_validation_errors"), value("config_validation_warnings")) == (0, 0)
        assert value("config_info", {"hash": config_hash(config), "source": "defaults"}) == 1

    def test_process_gauges_and_builtin_help(self) -> None:
        """Process metrics are read at collection time (no job); built-in metrics carry real HELP text."""
        from sharedconfig.monitoring.metrics.exposition import render

        mon = Monitoring(quiet(), stream=io.StringIO())
        assert not any("process" in job.name for job in mon.runtime.jobs)
        asyncio.run(mon.health.run_all())
        text = render(mon.metrics.collect()).decode()
        assert "process_resident_memory_bytes " in text
        assert "# HELP health_check_status Health check state" in text

    def test_standard_process_metrics_ignore_the_namespace(self) -> None:
        """With metrics.namespace set, process_* and python_* keep prometheus_client's names."""
        settings = quiet().model_copy(update={"metrics": MetricsSettings(namespace="svc")})
        mon = Monitoring(settings, stream=io.StringIO())
        mon.metrics.record_gauge("queue_depth", 1.0)
        names = {family.name for family in mon.metrics.collect()}
        assert {"process_resident_memory_bytes", "python_info", "svc_queue_depth"} <= names
        assert not any(name.startswith("svc_process") for name in names)

    def test_stop_is_registered_for_interpreter_exit(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """start() registers stop() with atexit and stop() unregisters it."""
        registered: list[object] = []
        monkeypatch.setattr("atexit.register", registered.append)
        monkeypatch.setattr("atexit.unregister", registered.remove)
        mon = Monitoring(quiet(), stream=io.StringIO())
        mon.start()
        assert registered == [mon.stop]
        mon.stop()
        assert registered == []


class FakeExporter:
    """An exporter that counts its ticks and flushes (the hub's wiring is what is under test)."""

    def __init__(self, clock: FakeClock, interval: float = 15.0) -> None:
        self.clock = clock
        self.name = "fake"
        self.interval = interval
        self.ticks: list[float] = []
        self.flushes: list[float] = []

    async def tick(self) -> float | None:
        self.ticks.append(self.clock.now())
        return None

    async def flush(self) -> None:
        self.flushes.append(self.clock.now())


class TestWiring:
    """What Monitoring starts, schedules and flushes, driven by a FakeClock through the real runtime."""

    @pytest.fixture
    def clock(self) -> FakeClock:
        return FakeClock()

    @pytest.fixture
    def exporter(self, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> FakeExporter:
        fake = FakeExporter(clock)
        monkeypatch.setattr(
            "sharedconfig.monitoring.parts.build_exporter_entries", lambda *args, **kwargs: [(0, fake)]
        )
        return fake

    def settings(self) -> MonitoringSettings:
        return MonitoringSettings.model_validate(
            {"logging": {"format": "json", "capture_stdlib": False}, "health": {"check_interval": "30s"}}
        )

    def counting_check(self, mon: Monitoring, clock: FakeClock) -> list[float]:
        from sharedconfig.monitoring.health import HealthCheck

        runs: list[float] = []

        async def check() -> bool:
            runs.append(clock.now())
            return True

        mon.health.register(HealthCheck("counted", check))
        return runs

    def test_health_checks_run_on_their_interval(self, clock: FakeClock, exporter: FakeExporter) -> None:
        """Started, 90 s of fake time run a 30 s health check at 0, 30, 60 and 90 s."""
        mon = Monitoring(self.settings(), clock=clock, stream=io.StringIO())
        runs = self.counting_check(mon, clock)
        with mon:
            clock.advance(90)
        assert runs == [0.0, 30.0, 60.0, 90.0]

    def test_exporters_push_on_their_interval_and_flush_at_stop(
        self, clock: FakeClock, exporter: FakeExporter
    ) -> None:
        """An exporter ticks every interval while started and flushes exactly once at stop."""
        mon = Monitoring(self.settings(), clock=clock, stream=io.StringIO())
        assert mon.exporters == (exporter,)
        mon.start()
        clock.advance(30)
        assert exporter.flushes == []
        mon.stop()
        assert exporter.ticks == [0.0, 15.0, 30.0]
        assert exporter.flushes == [30.0]

    def test_restart_runs_each_job_once(self, clock: FakeClock, exporter: FakeExporter) -> None:
        """start, stop, start: every job runs once per start (never twice), and stop flushes each time."""
        mon = Monitoring(self.settings(), clock=clock, stream=io.StringIO())
        runs = self.counting_check(mon, clock)
        mon.start()
        mon.stop()
        mon.stop()  # harmless
        clock.advance(100)
        mon.start()
        assert mon.started
        clock.advance(30)
        mon.stop()
        assert runs == [0.0, 100.0, 130.0]
        assert exporter.ticks == [0.0, 100.0, 115.0, 130.0]
        assert exporter.flushes == [0.0, 130.0]

    def test_disabled_parts_are_not_built(self, clock: FakeClock, exporter: FakeExporter) -> None:
        """health.enabled: false builds no health scheduler; the other parts are still there."""
        settings = self.settings().model_copy(
            update={"health": self.settings().health.model_copy(update={"enabled": False})}
        )
        mon = Monitoring(settings, clock=clock, stream=io.StringIO())
        assert [p.name for p in mon.parts] == ["config", "process", "exporters", "tracing"]
        assert mon.part("health") is None


class ExamplePart:
    """A part written against the protocol alone, the way events or alerts will be."""

    name = "example"

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.ran: list[float] = []
        self.opened = 0
        self.closed = 0

    def jobs(self) -> list[Job]:
        async def run() -> float:
            self.ran.append(self.clock.now())
            return 10.0

        return [Job("beat", 60.0, run)]

    def checks(self) -> list[HealthCheck]:
        return [HealthCheck("example_ok", lambda: True, critical=True)]

    def descriptions(self) -> dict[str, str]:
        return {"example_beats_total": "Beats of the example part."}

    def collectors(self) -> list[Collector]:
        part = self

        class Beats:
            def collect(self) -> list[MetricFamily]:
                return [
                    MetricFamily(
                        "example_beats",
                        MetricType.COUNTER,
                        "Beats of the example part.",
                        (Sample("example_beats_total", (), float(len(part.ran))),),
                    )
                ]

        return [Beats()]

    def open(self) -> None:
        self.opened += 1

    async def close(self) -> None:
        self.closed += 1

    def apply(self, settings: MonitoringSettings) -> list[str]:
        return []


class TestPartProtocol:
    def test_a_new_part_plugs_in_without_editing_the_hub(self) -> None:
        """A part given as a factory gets its job scheduled, its check, HELP and collector registered,
        and open/close called once per start/stop."""
        from sharedconfig.monitoring.metrics.exposition import render
        from sharedconfig.monitoring.part import Part
        from sharedconfig.monitoring.parts import DEFAULT_PARTS

        clock = FakeClock()
        example = ExamplePart(clock)
        assert isinstance(example, Part)
        mon = Monitoring(
            quiet(), clock=clock, stream=io.StringIO(), parts=(*DEFAULT_PARTS, lambda ctx: example)
        )
        assert mon.part("example") is example
        assert "example_ok" in mon.health.report("ready").checks
        with mon:
            clock.advance(25)
        assert example.ran == [0.0, 10.0, 20.0]
        assert (example.opened, example.closed) == (1, 1)
        text = render(mon.metrics.collect()).decode()
        assert "example_beats_total 3" in text


class TestApply:
    def test_changed_settings_that_need_a_restart_are_named_and_logged(self) -> None:
        """apply() names the changed keys the parts and the hub's own services cannot apply live."""
        stream = io.StringIO()
        mon = Monitoring(quiet(), stream=stream)
        assert mon.apply(quiet()) == []
        changed = quiet().model_copy(
            update={
                "health": quiet().health.model_copy(update={"check_interval": timedelta(seconds=5)}),
                "logging": quiet().logging.model_copy(update={"format": "console"}),
            }
        )
        restart = ["monitoring.logging.format"]  # the interval is applied live
        assert mon.apply(changed) == restart
        warning = json.loads(stream.getvalue().splitlines()[-1])
        assert (warning["event"], warning["keys"]) == ("settings need a restart", restart)


def test_stdlib_logging_is_captured_only_while_started() -> None:
    """With logging.capture_stdlib, stdlib records reach the structured stream between start and stop."""
    import logging

    stream = io.StringIO()
    settings = MonitoringSettings(logging=LoggingSettings(format="json", capture_stdlib=True))
    mon = Monitoring(settings, clock=FakeClock(), stream=stream)
    logging.getLogger("shop").warning("before start")
    with mon:
        logging.getLogger("shop").warning("while started")
    logging.getLogger("shop").warning("after stop")
    events = [json.loads(line)["event"] for line in stream.getvalue().splitlines()]
    assert "while started" in events
    assert "before start" not in events and "after stop" not in events


class TestSupervision:
    """A check that raises SystemExit or KeyboardInterrupt is a failed check, not a dead runtime."""

    @pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
    @pytest.mark.parametrize("error", [SystemExit, KeyboardInterrupt])
    def test_a_check_raising_a_base_exception_leaves_the_runtime_alive(
        self, is_async: bool, error: type[BaseException]
    ) -> None:
        """The check is unhealthy naming the exception; the other checks go on running on schedule."""
        from sharedconfig.monitoring.health import HealthCheck

        clock, runs = FakeClock(), []

        def bad_sync() -> bool:
            raise error("bye")

        async def bad_async() -> bool:
            raise error("bye")

        async def good() -> bool:
            runs.append(clock.now())
            return True

        mon = Monitoring(quiet(), clock=clock, stream=io.StringIO())
        mon.health.register(HealthCheck("bad", bad_async if is_async else bad_sync, interval=30))
        mon.health.register(HealthCheck("good", good, interval=30))
        with mon:
            clock.advance(60)
            assert mon.runtime.running
        assert runs == [0.0, 30.0, 60.0]
        bad = mon.health.report().checks["bad"]
        assert (bad.state.value, bad.message) == ("unhealthy", f"{error.__name__}: bye")


def _die() -> None:
    raise SystemExit("the loop is gone")


class TestRuntimeDeath:
    def test_a_dead_runtime_makes_liveness_fail_instead_of_serving_stale_results(self) -> None:
        """If the runtime's loop itself dies, /health/live is 503 naming why; stop() still works."""
        clock = FakeClock()
        mon = Monitoring(quiet(), clock=clock, stream=io.StringIO())
        mon.start()
        try:
            clock.advance(0)
            assert mon.health.report("live").http_status == 200
            assert "runtime" not in mon.health.report().checks
            loop = mon.runtime.loop
            assert loop is not None
            thread = mon.runtime._thread
            loop.call_soon_threadsafe(_die)  # a callback (not a job) raising SystemExit ends run_forever
            assert thread is not None
            thread.join(10)
            live = mon.health.report("live")
            assert live.http_status == 503
            assert live.checks["runtime"].message.startswith("the monitoring runtime stopped (SystemExit:")
            assert mon.health.report("ready").checks["runtime"].critical
        finally:
            mon.stop()
        assert not mon.runtime.running
        mon.start()  # a new run after the death works, and the guard is quiet again
        try:
            assert "runtime" not in mon.health.report().checks
        finally:
            mon.stop()


class TestConcurrentLifecycle:
    def test_start_and_stop_from_several_threads_end_stopped_or_started_never_hung(self) -> None:
        """Eight threads calling start() and stop() at once finish, and a final stop leaves no thread."""
        import threading

        mon = Monitoring(quiet(), clock=FakeClock(), stream=io.StringIO())
        barrier = threading.Barrier(8)

        def flip(i: int) -> None:
            barrier.wait(10)
            for _ in range(5):
                mon.start() if i % 2 else mon.stop()

        threads = [threading.Thread(target=flip, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert not any(t.is_alive() for t in threads)
        mon.stop()
        assert not mon.runtime.running


def test_metric_names_past_the_family_budget_are_logged_once() -> None:
    """metrics.max_families reaches the hub's registry, and its one warning reaches the hub's log."""
    stream = io.StringIO()
    mon = Monitoring(
        MonitoringSettings.model_validate(
            {"metrics": {"max_families": 20}, "logging": {"format": "json", "capture_stdlib": False}}
        ),
        stream=stream,
    )
    for i in range(100):
        mon.metrics.record_counter(f"user_metric_{i}_total", 1)
    refused = [r for r in map(json.loads, stream.getvalue().splitlines()) if "max_families" in r["event"]]
    assert len(refused) == 1 and refused[0]["level"] == "warning" and refused[0]["component"] == "metrics"
    assert mon.metrics.sample_value("metrics_dropped_total", {"reason": "family_limit"}) == 80


class TestExporterFlushes:
    def test_exporters_flush_at_once_and_a_failing_one_does_not_stop_the_others(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The first exporter's flush waits for the second's to begin: only concurrent flushes both end."""
        clock = FakeClock()
        began = asyncio.Event()
        flushed: list[str] = []

        class Waiting(FakeExporter):
            async def flush(self) -> None:
                await began.wait()
                flushed.append("waiting")

        class Failing(FakeExporter):
            async def flush(self) -> None:
                began.set()
                flushed.append("failing")
                raise OSError("peer gone")

        exporters = [Waiting(clock), Failing(clock)]
        monkeypatch.setattr(
            "sharedconfig.monitoring.parts.build_exporter_entries", lambda *a, **k: list(enumerate(exporters))
        )
        stream = io.StringIO()
        settings = MonitoringSettings.model_validate({"logging": {"format": "json", "capture_stdlib": False}})
        mon = Monitoring(settings, clock=clock, stream=stream)
        mon.start()
        assert mon.stop(timeout=5) == []
        assert sorted(flushed) == ["failing", "waiting"]
        failures = [
            r
            for r in map(json.loads, stream.getvalue().splitlines())
            if r["event"] == "background job failed"
        ]
        assert [(r["job"], r["error"]) for r in failures] == [("flush exporters", "OSError: peer gone")]


def test_a_configured_check_nobody_registered_is_reported_at_start() -> None:
    """health.checks names 'databse'; 'database' is registered: start logs a warning with did-you-mean and
    the report says why the entry is unknown; /health/ready stays 503 for a critical one, with that word."""
    from sharedconfig.monitoring.health import HealthCheck

    data = quiet().model_dump()
    data["health"]["checks"] = [{"name": "databse", "critical": True}]
    stream = io.StringIO()
    mon = Monitoring(MonitoringSettings.model_validate(data), stream=stream)
    mon.health.register(HealthCheck("database", lambda: True))
    mon.start()
    try:
        entry = mon.health.report("ready").checks["databse"]
        assert entry.state.value == "unknown"
        assert "did you mean 'database'?" in entry.message
        assert mon.health.report("ready").http_status == 503
        warnings = [
            r
            for r in map(json.loads, stream.getvalue().splitlines())
            if r["event"] == "health check configured but not registered"
        ]
        assert [(w["check"], w["did_you_mean"], w["critical"]) for w in warnings] == [
            ("databse", "database", True)
        ]
    finally:
        mon.stop()
