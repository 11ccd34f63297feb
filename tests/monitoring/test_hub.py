"""Tests for the Monitoring facade: building from settings, the process-wide instance, start/stop."""

from __future__ import annotations

import asyncio
import io
import json
import threading
from pathlib import Path

import pytest

from sharedconfig.config import load
from sharedconfig.monitoring import Monitoring, configure, get, reset
from sharedconfig.monitoring.settings import LoggingSettings, MonitoringSettings
from sharedconfig.testing.clock import FakeClock

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "deploy" / "config" / "monitoring-production.yaml"
SEED_ENV = {"DATADOG_API_KEY": "dd-canary-key", "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/x"}


def quiet() -> MonitoringSettings:
    return MonitoringSettings(logging=LoggingSettings(format="json", capture_stdlib=False))


def non_daemon_or_runtime_threads() -> set[str]:
    return {t.name for t in threading.enumerate() if t.name.startswith("sharedconfig")}


class TestFacade:
    def test_builds_parts_from_the_seed_settings(self) -> None:
        """The seed's production config yields exporters for both push targets and the built-in checks."""
        config = load([SEED], environ=SEED_ENV, env_file=None)
        mon = Monitoring.from_config(config, stream=io.StringIO())
        assert sorted(e.name for e in mon.exporters) == ["datadog", "remote_write"]
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
        assert mon.exporters == []

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

    def test_with_a_config_the_config_check_is_critical(self) -> None:
        """from_config makes config_loader critical and healthy."""
        config = load([SEED], environ=SEED_ENV, env_file=None)
        mon = Monitoring.from_config(config, stream=io.StringIO())
        asyncio.run(mon.health.run_all())
        check = mon.health.report().checks["config_loader"]
        assert check.critical
        assert check.state.value == "healthy"

    def test_process_gauges_and_builtin_help(self) -> None:
        """The process sampler records memory and fds; built-in metrics carry real HELP text."""
        from sharedconfig.monitoring.metrics.exposition import render

        mon = Monitoring(quiet(), stream=io.StringIO())
        asyncio.run(mon._sample_process())
        asyncio.run(mon.health.run_all())
        text = render(mon.metrics.collect()).decode()
        assert "process_resident_memory_bytes " in text
        assert "# HELP health_check_status Health check state" in text

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
