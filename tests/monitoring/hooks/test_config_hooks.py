"""Tests for the config hooks: the seed's config metrics, config_info, logs and events without values."""

from __future__ import annotations

import io
import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from sharedconfig.config import ConfigHooks, Issue, SettingsModule, ValidationReport, check, load
from sharedconfig.config.loader import LoadOptions
from sharedconfig.config.provider import FileConfigProvider
from sharedconfig.hooks import HOOK_ERRORS, fan_out
from sharedconfig.interfaces import HealthState
from sharedconfig.monitoring import Monitoring
from sharedconfig.monitoring.health import ConfigHealth
from sharedconfig.monitoring.hooks import MonitoringConfigHooks
from sharedconfig.monitoring.hooks.config import (
    ConfigEvents,
    ConfigInfo,
    change_data,
    config_hash,
    config_source,
    error_type,
)
from sharedconfig.monitoring.metrics.exposition import render
from sharedconfig.monitoring.metrics.registry import MetricsRegistry
from sharedconfig.monitoring.names import (
    CONFIG_INFO,
    CONFIG_LOAD_DURATION,
    CONFIG_LOAD_ERRORS,
    CONFIG_RELOADS,
    CONFIG_VALIDATION_DURATION,
    CONFIG_VALIDATION_ERRORS,
    CONFIG_VALIDATION_WARNINGS,
    CONFIG_VALIDATIONS,
    HELP,
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
    health: ConfigHealth | None = None, info: ConfigInfo | None = None
) -> tuple[ConfigHooks, InMemoryMetricsRecorder, RecordingLogger]:
    """The hooks as Monitoring composes them: metrics and logs, fanned out with the health check."""
    metrics, logger = InMemoryMetricsRecorder(), RecordingLogger()
    observer = MonitoringConfigHooks(metrics, logger, info)
    if health is None:
        return observer, metrics, logger
    return fan_out(ConfigHooks, observer, health, logger=logger, metrics=metrics), metrics, logger


def write(tmp_path: Path, text: str, name: str = "c.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


class TestLoads:
    def test_implements_the_config_hooks_protocol(self) -> None:
        """MonitoringConfigHooks, ConfigEvents and ConfigHealth all satisfy ConfigHooks."""
        assert isinstance(hooks()[0], ConfigHooks)
        assert isinstance(ConfigHealth(), ConfigHooks)
        assert isinstance(ConfigEvents(Monitoring().events), ConfigHooks)

    def test_a_good_load_is_timed_validated_and_logged(self, tmp_path: Path) -> None:
        """A successful check() records the load's duration under success="true", one valid validation
        with its duration, the error and warning gauges at 0, and logs the modules loaded."""
        h, metrics, logger = hooks()
        check([write(tmp_path, "demo: {rate: 0.1}\n")], modules=MODULES, environ={}, env_file=None, hooks=h)
        [load_time] = metrics.get_metrics(CONFIG_LOAD_DURATION)
        assert (load_time.labels, load_time.value >= 0) == ({"success": "true"}, True)
        assert metrics.total(CONFIG_VALIDATIONS, {"valid": "true"}) == 1
        assert len(metrics.get_metrics(CONFIG_VALIDATION_DURATION)) == 1
        assert [m.value for m in metrics.get_metrics(CONFIG_VALIDATION_ERRORS)] == [0.0]
        assert [m.value for m in metrics.get_metrics(CONFIG_VALIDATION_WARNINGS)] == [0.0]
        assert metrics.get_metrics(CONFIG_LOAD_ERRORS) == []
        record = logger.records[-1]
        assert (record.level, record.message, record.fields["modules"]) == (
            "info",
            "configuration loaded",
            ["demo"],
        )

    def test_a_failed_load_counts_its_error_type_and_logs_paths_not_values(self, tmp_path: Path) -> None:
        """A failed load: success="false", one config_load_errors_total under its first error's code, the
        validation invalid with 2 errors; the error log names codes and paths, never the values."""
        path = write(tmp_path, "demo: {rate: 7, retries: 987654, token: canary-secret-4242}\n")
        h, metrics, logger = hooks()
        outcome = check([path], modules=MODULES, environ={}, env_file=None, hooks=h)
        assert outcome.config is None
        assert [m.labels for m in metrics.get_metrics(CONFIG_LOAD_DURATION)] == [{"success": "false"}]
        assert metrics.total(CONFIG_LOAD_ERRORS, {"error_type": "VALIDATION_003"}) == 1
        assert metrics.total(CONFIG_VALIDATIONS, {"valid": "false"}) == 1
        assert [m.value for m in metrics.get_metrics(CONFIG_VALIDATION_ERRORS)] == [2.0]
        record = logger.records[-1]
        assert (record.level, record.message) == ("error", "configuration failed to load")
        assert record.fields["paths"] == ["demo.rate", "demo.retries"]
        assert (record.fields["codes"], record.fields["error_type"]) == (["VALIDATION_003"], "VALIDATION_003")
        text = repr([r.fields for r in logger.records])
        assert "canary-secret-4242" not in text and "987654" not in text

    def test_the_gauges_hold_the_last_validation_s_counts(self) -> None:
        """Errors and warnings are the last report's counts: a later clean validation sets them back to 0."""
        h, metrics, _ = hooks()
        report = ValidationReport(
            (
                Issue("VALIDATION_003", "a.b", "out of range"),
                Issue("VALIDATION_005", "a.d", "missing"),
                Issue("VALIDATION_030", "a.e", "deprecated", severity="warning"),
            )
        )
        h.on_validation(report, 0.01)
        h.on_validation(ValidationReport(), 0.02)
        assert [m.value for m in metrics.get_metrics(CONFIG_VALIDATION_ERRORS)] == [2.0, 0.0]
        assert [m.value for m in metrics.get_metrics(CONFIG_VALIDATION_WARNINGS)] == [1.0, 0.0]
        assert [m.value for m in metrics.get_metrics(CONFIG_VALIDATION_DURATION)] == [0.01, 0.02]
        assert (metrics.total(CONFIG_VALIDATIONS, {"valid": "false"}), metrics.total(CONFIG_VALIDATIONS)) == (
            1,
            2,
        )

    @pytest.mark.parametrize(
        ("issues", "expected"),
        [
            ((Issue("CONFIG_001", "", "no file"), Issue("VALIDATION_003", "a", "x")), "CONFIG_001"),
            ((Issue("PLUGIN_777", "a", "a plugin's own code"),), "other"),
            ((Issue("VALIDATION_030", "a", "only a warning", severity="warning"),), "other"),
        ],
        ids=["first-error", "unregistered-code", "no-error"],
    )
    def test_error_type_is_the_first_error_s_registered_code(
        self, issues: tuple[Issue, ...], expected: str
    ) -> None:
        """error_type: the first error's code, bounded by the registry ("other" outside it)."""
        assert error_type(ValidationReport(issues)) == expected


class TestReloads:
    def test_reloads_are_counted_logged_and_feed_config_health(self, tmp_path: Path) -> None:
        """Through a provider: accepted and rejected reloads count, log, and move config_loader's state."""
        path = write(tmp_path, "demo: {rate: 0.1, token: canary-secret-1}\n")
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
        assert len(metrics.get_metrics(CONFIG_LOAD_DURATION)) == 3
        assert "canary-secret" not in repr([(r.message, r.fields) for r in logger.records])

    def test_without_health_the_hooks_only_record(self) -> None:
        """health=None is allowed: hooks record metrics and logs alone."""
        h, metrics, _ = hooks()
        h.on_validation(ValidationReport(), 0.0)
        h.on_load(None, ValidationReport((Issue("CONFIG_002", "", "bad"),)), 0.0)
        assert metrics.total(CONFIG_LOAD_ERRORS, {"error_type": "CONFIG_002"}) == 1


class TestConfigInfo:
    def test_hash_is_short_stable_and_blind_to_secret_values(self, tmp_path: Path) -> None:
        """12 hex digits; the same configuration gives the same hash, another value another hash, and a
        secret's value alone changes nothing (the hash is of the redacted configuration)."""

        def hashed(text: str) -> str:
            return config_hash(load([write(tmp_path, text)], modules=MODULES, environ={}, env_file=None))

        first = hashed("demo: {rate: 0.1, token: canary-a}\n")
        assert len(first) == 12 and int(first, 16) >= 0
        assert hashed("demo: {token: canary-a, rate: 0.1}\n") == first
        assert hashed("demo: {rate: 0.2, token: canary-a}\n") != first
        assert hashed("demo: {rate: 0.1, token: canary-b}\n") == first

    def test_source_names_files_env_and_overrides_and_never_credentials(self, tmp_path: Path) -> None:
        """Each source that set a value, low to high; a store URL is shown without user, password, query."""
        path = write(tmp_path, "demo: {rate: 0.1}\n")
        config = load(
            [path],
            modules=MODULES,
            environ={"SHAREDCONFIG_DEMO__RETRIES": "2"},
            env_file=None,
            overrides=["demo.name=x"],
        )
        assert config_source(config) == f"{path},env,--set"
        from sharedconfig.config.tree import Layer, Provenance

        remote = Layer("remote", "etcd://app:canary-pw@etcd:2379/services/app?token=canary-q", {"a": 1})
        faked = type("C", (), {"provenance": Provenance([remote])})()
        assert config_source(faked) == "etcd://etcd:2379/services/app"

    def test_the_series_moves_with_the_snapshot_in_force(self, tmp_path: Path) -> None:
        """One config_info series, value 1: a successful load sets it, a rejected reload keeps it, an
        accepted one replaces it (the previous hash is gone from the registry's collection)."""
        registry = MetricsRegistry()
        info = ConfigInfo(registry.namespace)
        registry.register(info)
        observer = MonitoringConfigHooks(registry, RecordingLogger(), info)
        assert registry.sample_value(CONFIG_INFO, info.labels) is None  # nothing before a load

        first = load([write(tmp_path, "demo: {rate: 0.1}\n")], modules=MODULES, environ={}, env_file=None)
        observer.on_load(first, first.report, 0.01)
        shown = dict(info.labels)
        assert shown == {"hash": config_hash(first), "source": str(tmp_path / "c.yaml")}
        assert registry.sample_value(CONFIG_INFO, shown) == 1

        observer.on_reload(first, None, ValidationReport((Issue("VALIDATION_003", "demo.rate", "x"),)), 0.01)
        assert info.labels == shown

        second = load([write(tmp_path, "demo: {rate: 0.2}\n")], modules=MODULES, environ={}, env_file=None)
        observer.on_reload(first, second, second.report, 0.01)
        series = [s for f in registry.collect() if f.name == CONFIG_INFO for s in f.samples]
        assert [dict(s.labels)["hash"] for s in series] == [config_hash(second)]
        assert config_hash(second) != shown["hash"]

    def test_the_namespace_prefixes_it_like_recorded_metrics(self) -> None:
        """With metrics.namespace the family is ns_config_info."""
        assert ConfigInfo("shop").name == "shop_config_info"


class TestExposition:
    def test_every_config_metric_passes_promtool_and_openmetrics(
        self, tmp_path: Path, promtool: Callable[[bytes], subprocess.CompletedProcess[bytes]]
    ) -> None:
        """A Monitoring's config metrics after a good load and a failed one: promtool check metrics finds
        nothing, and the OpenMetrics parser reads every family (no name clashes between them)."""
        mon = Monitoring.from_config(load([], environ={}, env_file=None), stream=io.StringIO())
        check(
            [write(tmp_path, "monitoring: {sample_rate: 7}\n")],
            environ={},
            env_file=None,
            hooks=mon.config_hooks,
        )
        families = [f for f in mon.metrics.collect() if f.name.startswith("config_")]
        names = {f.name for f in families}
        assert names == {
            "config_info",
            "config_load_duration_seconds",
            "config_load_errors",
            "config_validation",
            "config_validation_duration_seconds",
            "config_validation_errors",
            "config_validation_warnings",
        }
        assert all(
            f.help == HELP[f.name if f.type.value != "counter" else f"{f.name}_total"] for f in families
        )
        done = promtool(render(families))
        assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"")
        parsed = {f.name for f in parse_openmetrics(render(families, openmetrics=True).decode())}
        assert names <= parsed


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

        health = ConfigHealth()
        monitoring_hooks, metrics, logger = hooks()
        composed = fan_out(ConfigHooks, Broken(), monitoring_hooks, health, logger=logger, metrics=metrics)
        path = write(tmp_path, "demo: {rate: 0.1}\n")
        outcome = check([path], modules=MODULES, environ={}, env_file=None, hooks=composed)
        assert outcome.config is not None
        assert metrics.total(CONFIG_VALIDATIONS, {"valid": "true"}) == 1
        assert health.check().state is HealthState.HEALTHY
        assert metrics.total(HOOK_ERRORS, {"hook": "ConfigHooks", "method": "on_load"}) == 1
        assert any(r.message == "hook raised; the other hooks still ran" for r in logger.records)

    def test_replaying_a_recorded_load_feeds_the_hooks_as_the_load_did(self, tmp_path: Path) -> None:
        """A load recorded before monitoring exists (as ``serve`` does) replays into the same metrics."""
        rec = Recording(ConfigHooks)
        check(
            [write(tmp_path, "demo: {rate: 7}\n")],
            modules=MODULES,
            environ={},
            env_file=None,
            hooks=rec.hooks,
        )
        h, metrics, _ = hooks()
        rec.replay(h)
        assert metrics.total(CONFIG_LOAD_ERRORS, {"error_type": "VALIDATION_003"}) == 1
        assert [m.value for m in metrics.get_metrics(CONFIG_VALIDATION_ERRORS)] == [1.0]


class Sink:
    """An EventSink keeping what is emitted."""

    enabled = True

    def __init__(self) -> None:
        self.events: list[tuple[str, Any, str]] = []

    def emit(self, type: str, subject: str | None = None, data: Any = None, **kw: Any) -> None:
        self.events.append((type, data, kw.get("severity", "info")))


class TestEvents:
    """ConfigEvents' data: the errors of a rejected reload and the redacted diff, with no secret value."""

    def test_a_rejected_reload_lists_its_errors_without_any_secret(self, tmp_path: Path) -> None:
        """config_reload_rejected: code, path, message and origin of each error; a message quoting a secret
        of the configuration in force is hidden, and one at a secret-looking key is replaced by its title."""
        old = load(
            [write(tmp_path, "demo: {rate: 0.1, token: canary-secret-in-force}\n")],
            modules=MODULES,
            environ={},
            env_file=None,
        )
        sink = Sink()
        report = ValidationReport(
            (
                Issue("VALIDATION_003", "demo.rate", "7 is above 1 (was canary-secret-in-force)"),
                Issue("VALIDATION_008", "demo.api_token", "canary-fresh-secret is not a token"),
                Issue("CONFIG_006", "demo.url", "cannot reach redis://u:canary-pw@host:6379"),
            )
        )
        ConfigEvents(sink).on_reload(old, None, report, 0.02)
        [(kind, data, severity)] = sink.events
        assert (kind, severity, data["errors"], data["codes"]) == (
            "config_reload_rejected",
            "high",
            3,
            ["CONFIG_006", "VALIDATION_003", "VALIDATION_008"],
        )
        by_path = {i["path"]: i for i in data["issues"]}
        assert by_path["demo.rate"]["message"] == "7 is above 1 (was **********)"
        assert by_path["demo.api_token"]["message"] == "Invalid value"
        assert by_path["demo.url"]["message"] == "cannot reach redis://u:**********@host:6379"
        assert "canary" not in json.dumps(sink.events)

    def test_a_change_is_the_redacted_diff_with_where_each_new_value_came_from(self, tmp_path: Path) -> None:
        """config_changed: each changed key with old and new (secrets as **********) and the origin of the
        new value (file:line:column, $VAR, default); no secret value anywhere in the event."""
        old = load(
            [write(tmp_path, "demo:\n  rate: 0.1\n  token: canary-old\n")],
            modules=MODULES,
            environ={},
            env_file=None,
        )
        path = write(tmp_path, "demo:\n  rate: 0.2\n  token: canary-new\n")
        new = load([path], modules=MODULES, environ={"SHAREDCONFIG_DEMO__RETRIES": "3"}, env_file=None)
        sink = Sink()
        ConfigEvents(sink).on_change(old, new, ["demo.rate", "demo.retries", "demo.token"])
        [(kind, data, _)] = sink.events
        assert kind == "config_changed"
        assert data["changes"] == [
            {"path": "demo.rate", "old": 0.1, "new": 0.2, "source": f"{path}:2:3"},
            {"path": "demo.retries", "old": 1, "new": 3, "source": "$SHAREDCONFIG_DEMO__RETRIES"},
            {"path": "demo.token", "old": "**********", "new": "**********", "source": f"{path}:3:3"},
        ]
        assert (data["count"], data["truncated"], data["restart"]) == (3, False, [])
        assert "canary" not in json.dumps(sink.events)

    def test_a_long_diff_is_capped_with_its_count(self, tmp_path: Path) -> None:
        """More than MAX_CHANGES keys: the first 50 are listed, count says how many, truncated is true."""
        rows = [(f"demo.k{i:03}", i, i + 1) for i in range(70)]
        config = load([], modules=MODULES, environ={}, env_file=None)
        data = change_data(config, config, rows, ["monitoring.logging.format"])
        assert (len(data["changes"]), data["count"], data["truncated"]) == (50, 70, True)
        assert data["changes"][0] == {"path": "demo.k000", "old": 0, "new": 1, "source": "default"}
        assert data["restart"] == ["monitoring.logging.format"]

    def test_a_failed_load_names_its_errors(self, tmp_path: Path) -> None:
        """config_load_failed carries error_type and the located issues; no value from the input."""
        sink = Sink()
        path = write(tmp_path, "demo: {rate: 7, token: canary-secret-77}\n")
        check([path], modules=MODULES, environ={}, env_file=None, hooks=ConfigEvents(sink))
        failed = [data for kind, data, _ in sink.events if kind == "config_load_failed"]
        assert [(d["error_type"], [i["path"] for i in d["issues"]]) for d in failed] == [
            ("VALIDATION_003", ["demo.rate"])
        ]
        assert failed[0]["issues"][0]["source"].startswith(f"{path}:1:")
        assert "canary" not in json.dumps(sink.events)
