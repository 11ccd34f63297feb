"""Tests for MonitoringConfigHooks: config metrics, logs without values, and the ConfigHealth it feeds."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from sharedconfig.config import ConfigHooks, Issue, SettingsModule, ValidationReport, check
from sharedconfig.config.loader import LoadOptions
from sharedconfig.config.provider import FileConfigProvider
from sharedconfig.hooks import HOOK_ERRORS, fan_out
from sharedconfig.interfaces import HealthState
from sharedconfig.monitoring.health import ConfigHealth
from sharedconfig.monitoring.hooks import MonitoringConfigHooks
from sharedconfig.monitoring.names import (
    CONFIG_LOAD_DURATION,
    CONFIG_LOADS,
    CONFIG_RELOADS,
    CONFIG_VALIDATION_ERRORS,
)
from sharedconfig.testing import InMemoryMetricsRecorder, Recording, RecordingLogger


class Demo(BaseModel):
    """A module schema with a range, a required-looking name and a secret."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = "demo"
    rate: float = Field(0.5, ge=0, le=1)
    retries: int = Field(1, ge=0, le=5)
    token: SecretStr | None = None


MODULES = (SettingsModule("demo", Demo),)
OPTS = LoadOptions(env_file=None, environ={})


def hooks(
    health: ConfigHealth | None = None,
) -> tuple[ConfigHooks, InMemoryMetricsRecorder, RecordingLogger]:
    """The hooks as Monitoring composes them: metrics and logs, fanned out with the health check."""
    metrics, logger = InMemoryMetricsRecorder(), RecordingLogger()
    observer = MonitoringConfigHooks(metrics, logger)
    if health is None:
        return observer, metrics, logger
    return fan_out(ConfigHooks, observer, health, logger=logger, metrics=metrics), metrics, logger


class TestLoads:
    def test_implements_the_config_hooks_protocol(self) -> None:
        """MonitoringConfigHooks and ConfigHealth both satisfy ConfigHooks."""
        assert isinstance(hooks()[0], ConfigHooks)
        assert isinstance(ConfigHealth(), ConfigHooks)

    def test_a_good_load_is_timed_counted_and_logged(self, tmp_path: Path) -> None:
        """A successful check() records the duration and a success and logs the modules loaded."""
        path = tmp_path / "c.yaml"
        path.write_text("demo: {rate: 0.1}\n")
        h, metrics, logger = hooks()
        check([path], modules=MODULES, environ={}, env_file=None, hooks=h)
        assert len(metrics.get_metrics(CONFIG_LOAD_DURATION)) == 1
        assert metrics.get_metrics(CONFIG_LOAD_DURATION)[0].value >= 0
        assert metrics.total(CONFIG_LOADS, {"result": "success"}) == 1
        assert metrics.get_metrics(CONFIG_VALIDATION_ERRORS) == []
        record = logger.records[-1]
        assert (record.level, record.message, record.fields["modules"]) == (
            "info",
            "configuration loaded",
            ["demo"],
        )

    def test_a_failed_load_counts_errors_per_code_and_logs_paths_not_values(self, tmp_path: Path) -> None:
        """Errors are counted per issue code; the error log names codes and paths, never the values."""
        path = tmp_path / "c.yaml"
        path.write_text("demo: {rate: 7, retries: 987654, token: canary-secret-4242}\n")
        h, metrics, logger = hooks()
        outcome = check([path], modules=MODULES, environ={}, env_file=None, hooks=h)
        assert outcome.config is None
        assert metrics.total(CONFIG_LOADS, {"result": "failure"}) == 1
        assert metrics.total(CONFIG_VALIDATION_ERRORS, {"code": "VALIDATION_003"}) == 2
        record = logger.records[-1]
        assert (record.level, record.message) == ("error", "configuration failed to load")
        assert record.fields["paths"] == ["demo.rate", "demo.retries"]
        assert record.fields["codes"] == ["VALIDATION_003"]
        text = repr([r.fields for r in logger.records])
        assert "canary-secret-4242" not in text and "987654" not in text

    def test_validation_errors_are_counted_per_code_from_a_hand_made_report(self) -> None:
        """Each code gets its own count; warnings are not counted."""
        h, metrics, _ = hooks()
        report = ValidationReport(
            (
                Issue("VALIDATION_003", "a.b", "out of range"),
                Issue("VALIDATION_003", "a.c", "out of range"),
                Issue("VALIDATION_005", "a.d", "missing"),
                Issue("VALIDATION_030", "a.e", "deprecated", severity="warning"),
            )
        )
        h.on_validation(report, 0.01)
        counts = {m.labels["code"]: m.value for m in metrics.get_metrics(CONFIG_VALIDATION_ERRORS)}
        assert counts == {"VALIDATION_003": 2.0, "VALIDATION_005": 1.0}


class TestReloads:
    def test_reloads_are_counted_logged_and_feed_config_health(self, tmp_path: Path) -> None:
        """Through a provider: accepted and rejected reloads count, log, and move config_loader's state."""
        path = tmp_path / "c.yaml"
        path.write_text("demo: {rate: 0.1, token: canary-secret-1}\n")
        health = ConfigHealth()
        h, metrics, logger = hooks(health)
        prov = FileConfigProvider([path], options=OPTS, modules=MODULES, hooks=h, poll_interval=3600)
        prov.load()
        assert health.check().state is HealthState.HEALTHY

        path.write_text("demo: {rate: 0.3, token: canary-secret-2}\n")
        os.utime(path, ns=(1, 10**18))
        assert prov.poll() is not None
        assert metrics.total(CONFIG_RELOADS, {"result": "success"}) == 1
        change = next(r for r in logger.records if r.message == "configuration changed")
        assert change.fields == {"paths": ["demo.rate", "demo.token"], "count": 2}

        path.write_text("demo: {rate: 3}\n")
        os.utime(path, ns=(1, 2 * 10**18))
        assert prov.poll() is None
        assert metrics.total(CONFIG_RELOADS, {"result": "failure"}) == 1
        rejected = logger.records[-1]
        assert rejected.level == "warning"
        assert rejected.message == "configuration reload rejected; the last good configuration stays in force"
        assert rejected.fields["paths"] == ["demo.rate"]
        assert health.check().state is HealthState.DEGRADED
        assert health.check().message == "reload rejected, last good config in force"
        assert metrics.total(CONFIG_LOADS) == 3
        assert "canary-secret" not in repr([(r.message, r.fields) for r in logger.records])

    def test_without_health_the_hooks_only_record(self) -> None:
        """health=None is allowed: hooks record metrics and logs alone."""
        h, metrics, _ = hooks()
        h.on_validation(ValidationReport(), 0.0)
        h.on_load(None, ValidationReport((Issue("CONFIG_002", "", "bad"),)), 0.0)
        assert metrics.total(CONFIG_LOADS, {"result": "failure"}) == 1


class TestComposition:
    def test_fan_out_with_health_and_a_broken_hook(self, tmp_path: Path) -> None:
        """fan_out of these hooks, ConfigHealth and a hook that raises: the load is still measured and
        health follows it, while the broken hook is counted in hook_errors_total and logged."""

        class Broken:
            def on_load(self, *args: object) -> None:
                raise RuntimeError("user hook bug")

            def on_validation(self, *args: object) -> None: ...
            def on_reload(self, *args: object) -> None: ...
            def on_change(self, *args: object) -> None: ...
            def on_source(self, *args: object) -> None: ...

        path = tmp_path / "c.yaml"
        path.write_text("demo: {rate: 0.1}\n")
        health = ConfigHealth()
        monitoring_hooks, metrics, logger = hooks()
        composed = fan_out(ConfigHooks, Broken(), monitoring_hooks, health, logger=logger, metrics=metrics)
        outcome = check([path], modules=MODULES, environ={}, env_file=None, hooks=composed)
        assert outcome.config is not None
        assert metrics.total(CONFIG_LOADS, {"result": "success"}) == 1
        assert health.check().state is HealthState.HEALTHY
        assert metrics.total(HOOK_ERRORS, {"hook": "ConfigHooks", "method": "on_load"}) == 1
        assert any(r.message == "hook raised; the other hooks still ran" for r in logger.records)

    def test_replaying_a_recorded_load_feeds_the_hooks_as_the_load_did(self, tmp_path: Path) -> None:
        """A load recorded before monitoring exists (as ``serve`` does) replays into the same metrics."""
        path = tmp_path / "c.yaml"
        path.write_text("demo: {rate: 7}\n")
        rec = Recording(ConfigHooks)
        check([path], modules=MODULES, environ={}, env_file=None, hooks=rec.hooks)
        h, metrics, _ = hooks()
        rec.replay(h)
        assert metrics.total(CONFIG_LOADS, {"result": "failure"}) == 1
        assert metrics.total(CONFIG_VALIDATION_ERRORS, {"code": "VALIDATION_003"}) == 1
