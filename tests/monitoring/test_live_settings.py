"""Monitoring.apply and Monitoring.follow: reloadable settings change behaviour while running, the rest is
named as needing a restart (log and config_changed event), and no secret reaches either.

Everything runs through the real hub, parts, runtime and log channel on a FakeClock.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sharedconfig.config import Config, load
from sharedconfig.monitoring import Monitoring
from sharedconfig.monitoring.health import HealthCheck
from sharedconfig.monitoring.hooks.config import config_hash
from sharedconfig.monitoring.parts import ConfigPart
from sharedconfig.monitoring.settings import MonitoringSettings
from sharedconfig.testing.clock import FakeClock

Change = Callable[[Config, Config, list[tuple[str, Any, Any]]], None]


def section(tmp_path: Path, **extra: Any) -> dict[str, Any]:
    """A monitoring section writing JSON logs, with the log channel for events; ``extra`` merged in."""
    events = {
        "flush_interval": "1s",
        "journal": {"path": str(tmp_path / "journal")},
        "dead_letter_dir": str(tmp_path / "dead-letter"),
        "exporters": [{"type": "log"}],
        **extra.pop("events", {}),
    }
    logging_ = {"format": "json", "capture_stdlib": False, **extra.pop("logging", {})}
    return {"logging": logging_, "events": events, **extra}


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def published(stream: io.StringIO, type: str) -> list[dict[str, Any]]:
    """The data of the events of ``type`` the log channel wrote."""
    return [r["data"] for r in lines(stream) if r.get("event") == "event" and r.get("event_type") == type]


def logged(stream: io.StringIO, message: str) -> list[dict[str, Any]]:
    return [r for r in lines(stream) if r.get("event") == message]


def settings(data: dict[str, Any]) -> MonitoringSettings:
    return MonitoringSettings.model_validate(data)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def stream() -> io.StringIO:
    return io.StringIO()


class TestLogLevel:
    def test_the_level_filters_every_logger_of_the_hub_at_once(self, stream: io.StringIO) -> None:
        """logging.level to warning: info lines of the hub's logger and of loggers bound from it stop;
        back to info, they are written again. Nothing is named for a restart."""
        mon = Monitoring(settings({"logging": {"format": "json", "capture_stdlib": False}}), stream=stream)
        part_logger = mon.logger.bind(component="x")
        up = settings({"logging": {"format": "json", "capture_stdlib": False, "level": "warning"}})
        assert mon.apply(up) == []
        mon.logger.info("hidden one")
        part_logger.info("hidden two")
        part_logger.warning("shown")
        assert mon.apply(settings({"logging": {"format": "json", "capture_stdlib": False}})) == []
        part_logger.info("shown again")
        assert [r["event"] for r in lines(stream)] == ["shown", "shown again"]

    def test_stdlib_capture_follows_the_new_level(self, stream: io.StringIO) -> None:
        """With capture_stdlib on and started, a stdlib debug record is captured only once the level is
        debug."""
        data = {"logging": {"format": "json", "capture_stdlib": True}, "health": {"enabled": False}}
        mon = Monitoring(settings(data), stream=stream, clock=FakeClock())
        with mon:
            logging.getLogger("app.db").debug("before")
            mon.apply(settings({**data, "logging": {**data["logging"], "level": "debug"}}))
            logging.getLogger("app.db").debug("after")
        assert [r["event"] for r in lines(stream) if r.get("logger") == "app.db"] == ["after"]


class TestHealthSchedule:
    def counted(self, mon: Monitoring, clock: FakeClock, takes: float = 0.0) -> list[float]:
        runs: list[float] = []

        async def check() -> bool:
            runs.append(clock.now())
            if takes:
                await clock.sleep(takes)
            return True

        mon.health.register(HealthCheck("counted", check))
        return runs

    def test_a_shorter_interval_is_used_by_the_scheduler_at_once(self, clock: FakeClock) -> None:
        """A 30 s check run at 0 and 30; check_interval 10 s applied at 30 s: the next runs are 40, 50 and
        60 (the scheduler asleep until 60 is woken), not 60 only."""
        data = {"logging": {"format": "json", "capture_stdlib": False}, "health": {"check_interval": "30s"}}
        mon = Monitoring(settings(data), clock=clock, stream=io.StringIO())
        runs = self.counted(mon, clock)
        with mon:
            clock.advance(30)
            assert mon.apply(settings({**data, "health": {"check_interval": "10s", "timeout": "5s"}})) == []
            clock.advance(30)
        assert runs == [0.0, 30.0, 40.0, 50.0, 60.0]

    def test_a_check_s_own_interval_and_timeout_apply_live(self, clock: FakeClock) -> None:
        """health.checks[0] for the check: its interval 20 s -> 5 s and timeout 10 s -> 2 s; a run that
        takes 3 s passed before and times out after."""
        checks = [{"name": "counted", "interval": "20s", "timeout": "10s"}]
        data = {"logging": {"format": "json", "capture_stdlib": False}, "health": {"checks": checks}}
        mon = Monitoring(settings(data), clock=clock, stream=io.StringIO())
        runs = self.counted(mon, clock, takes=3)
        with mon:
            clock.advance(4)
            assert mon.health.report().checks["counted"].state.value == "healthy"
            faster = [{"name": "counted", "interval": "5s", "timeout": "2s"}]
            assert mon.apply(settings({**data, "health": {"checks": faster}})) == []
            clock.advance(6)
            result = mon.health.report().checks["counted"]
        assert runs == [0.0, 5.0, 10.0]
        assert (result.state.value, result.message) == ("unhealthy", "timed out after 2s")

    def test_other_health_changes_are_named(self, clock: FakeClock) -> None:
        """A check made critical, or a new check entry, cannot change while running: named."""
        data = {"logging": {"format": "json", "capture_stdlib": False}, "health": {"checks": [{"name": "a"}]}}
        mon = Monitoring(settings(data), clock=clock, stream=io.StringIO())
        critical = {**data, "health": {"checks": [{"name": "a", "critical": True}]}}
        assert mon.apply(settings(critical)) == ["monitoring.health.checks.0.critical"]
        more = {**data, "health": {"checks": [{"name": "a"}, {"name": "b"}]}}
        assert mon.apply(settings(more)) == ["monitoring.health.checks"]


class TestEvents:
    def test_the_sample_rate_applies_to_the_next_publish(
        self, tmp_path: Path, clock: FakeClock, stream: io.StringIO
    ) -> None:
        """sample_rate 0 applied: info events are sampled out (counted); 1 again: kept."""
        mon = Monitoring(settings(section(tmp_path)), clock=clock, stream=stream)
        assert mon.apply(settings(section(tmp_path, sample_rate=0.0))) == []
        assert mon.events.emit("order_placed", "o-1") is None
        assert mon.metrics.sample_value("events_dropped_total", {"reason": "sampled"}) == 1
        mon.apply(settings(section(tmp_path)))
        assert mon.events.emit("order_placed", "o-2") is not None

    def test_a_disabled_channel_stops_receiving_and_an_enabled_one_receives_again(
        self, tmp_path: Path, clock: FakeClock, stream: io.StringIO
    ) -> None:
        """The log channel disabled live delivers nothing published after; enabled again, it delivers."""
        quiet = {"health": {"enabled": False}}
        mon = Monitoring(settings(section(tmp_path, **quiet)), clock=clock, stream=stream)
        off = section(tmp_path, events={"exporters": [{"type": "log", "enabled": False}]}, **quiet)
        with mon:
            mon.events.emit("before", "x")
            clock.advance(2)
            assert mon.apply(settings(off)) == []
            mon.events.emit("while_off", "x")
            clock.advance(2)
            assert mon.apply(settings(section(tmp_path, **quiet))) == []
            mon.events.emit("after", "x")
            clock.advance(2)
        types = [r["event_type"] for r in lines(stream) if r.get("event") == "event"]
        assert types == ["before", "after"]

    def test_enabling_a_channel_not_built_at_start_needs_a_restart(
        self, tmp_path: Path, clock: FakeClock
    ) -> None:
        """A second channel disabled at start was never built: enabling it is named."""
        two = [{"type": "log"}, {"type": "log", "name": "second", "enabled": False}]
        mon = Monitoring(
            settings(section(tmp_path, events={"exporters": two})), clock=clock, stream=io.StringIO()
        )
        both = [{"type": "log"}, {"type": "log", "name": "second"}]
        assert mon.apply(settings(section(tmp_path, events={"exporters": both}))) == [
            "monitoring.events.exporters.1.enabled"
        ]


class FakeExporter:
    """An exporter counting its ticks (the part's switch is what is under test)."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.name = "fake"
        self.interval = 15.0
        self.ticks: list[float] = []
        self.closed = 0

    async def tick(self) -> float | None:
        self.ticks.append(self.clock.now())
        return None

    async def flush(self) -> None:
        self.ticks.append(-1.0)

    async def aclose(self) -> None:
        self.closed += 1


class TestExporters:
    def test_a_disabled_exporter_stops_pushing_and_pushes_again_when_enabled(
        self, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Ticks at 0 and 15; disabled at 20: none at 30 or 45 and no last push at stop, only a close;
        enabled at 50: pushes at 60."""
        fake = FakeExporter(clock)
        monkeypatch.setattr(
            "sharedconfig.monitoring.parts.build_exporter_entries", lambda *a, **k: [(0, fake)]
        )
        entry = {"type": "prometheus", "endpoint": "http://127.0.0.1:9", "push_interval": "15s"}
        data = {"logging": {"format": "json", "capture_stdlib": False}, "health": {"enabled": False}}
        on = settings({**data, "metrics": {"exporters": [entry]}})
        off = settings({**data, "metrics": {"exporters": [{**entry, "enabled": False}]}})
        mon = Monitoring(on, clock=clock, stream=io.StringIO())
        mon.start()
        clock.advance(20)
        assert mon.apply(off) == []
        clock.advance(30)
        assert fake.ticks == [0.0, 15.0]
        assert mon.apply(on) == []
        clock.advance(10)
        assert fake.ticks == [0.0, 15.0, 60.0]
        mon.apply(off)
        mon.stop(timeout=5)
        assert (fake.ticks[-1], fake.closed) == (60.0, 1)

    def test_other_exporter_changes_are_named(
        self, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """An endpoint change cannot be applied live: its key is named."""
        monkeypatch.setattr(
            "sharedconfig.monitoring.parts.build_exporter_entries", lambda *a, **k: [(0, FakeExporter(clock))]
        )
        entry = {"type": "prometheus", "endpoint": "http://127.0.0.1:9", "push_interval": "15s"}
        data = {"logging": {"format": "json", "capture_stdlib": False}}
        mon = Monitoring(settings({**data, "metrics": {"exporters": [entry]}}), stream=io.StringIO())
        moved = {**entry, "endpoint": "http://127.0.0.1:10"}
        assert mon.apply(settings({**data, "metrics": {"exporters": [moved]}})) == [
            "monitoring.metrics.exporters.0.endpoint"
        ]


class FakeWatcher:
    """What follow needs of a ConfigWatcher: subscribe(path, fn); swap() reloads as the watcher does,
    telling the hooks (on_reload, on_change) before the subscribers."""

    def __init__(self, config: Config, hooks: Any) -> None:
        self.config = config
        self.hooks = hooks
        self.subscribers: list[tuple[str | None, Change]] = []

    def subscribe(self, path: str | None, fn: Change) -> Callable[[], None]:
        entry = (path, fn)
        self.subscribers.append(entry)
        return lambda: self.subscribers.remove(entry)

    def swap(self, new: Config) -> None:
        old, self.config = self.config, new
        diff = old.diff(new)
        self.hooks.on_reload(old, new, new.report, 0.01)
        self.hooks.on_change(old, new, [path for path, _, _ in diff])
        for path, fn in list(self.subscribers):
            if path is None or any(p == path or p.startswith(path + ".") for p, _, _ in diff):
                fn(old, new, diff)


class TestFollow:
    def write(self, tmp_path: Path, monitoring: dict[str, Any]) -> Path:
        path = tmp_path / "app.yaml"
        path.write_text(json.dumps({"monitoring": monitoring}, indent=1))
        return path

    def test_a_change_is_applied_and_published_once_with_its_restart_keys(
        self, tmp_path: Path, clock: FakeClock, stream: io.StringIO
    ) -> None:
        """A reload changing sample_rate (to 0), logging.format and a DataDog api_key: the rate applies, one
        config_changed (never sampled out) lists the three keys (the key redacted), their origin in app.yaml
        and the two needing a restart, one warning names them, m.config and config_info move; no secret
        anywhere."""
        datadog = {"type": "datadog", "api_key": "canary-key-old", "enabled": False}
        first = section(tmp_path, health={"enabled": False}, metrics={"exporters": [datadog]})
        config = load([self.write(tmp_path, first)], environ={}, env_file=None)
        mon = Monitoring.from_config(config, clock=clock, stream=stream)
        watcher = FakeWatcher(config, mon.config_hooks)
        stop = mon.follow(watcher)
        second = {
            **first,
            "sample_rate": 0.0,
            "logging": {**first["logging"], "format": "console"},
            "metrics": {"exporters": [{**datadog, "api_key": "canary-key-new"}]},
        }
        path = self.write(tmp_path, second)
        new = load([path], environ={}, env_file=None)
        with mon:
            watcher.swap(new)
            clock.advance(2)
        stop()
        assert mon.config is new
        assert mon.events.sample_rate == 0.0  # applied before the event, which is never sampled out
        [changed] = published(stream, "config_changed")
        restart = ["monitoring.logging.format", "monitoring.metrics.exporters.0.api_key"]
        assert changed["restart"] == restart
        by_path = {c["path"]: c for c in changed["changes"]}
        assert set(by_path) == {
            "monitoring.logging.format",
            "monitoring.metrics.exporters.0.api_key",
            "monitoring.sample_rate",
        }
        assert by_path["monitoring.metrics.exporters.0.api_key"]["new"] == "**********"
        assert by_path["monitoring.sample_rate"]["source"].startswith(f"{path}:")
        [warning] = logged(stream, "settings need a restart")
        assert warning["keys"] == restart
        labels = {"hash": config_hash(new), "source": str(path)}
        assert mon.metrics.sample_value("config_info", labels) == 1
        assert "canary-key" not in stream.getvalue()

    def test_unfollowed_the_hooks_publish_the_change_themselves(
        self, tmp_path: Path, clock: FakeClock, stream: io.StringIO
    ) -> None:
        """After stop(), a reload through the hooks alone still gives one config_changed (restart empty),
        and nothing is applied."""
        first = section(tmp_path, health={"enabled": False})
        config = load([self.write(tmp_path, first)], environ={}, env_file=None)
        mon = Monitoring.from_config(config, clock=clock, stream=stream)
        watcher = FakeWatcher(config, mon.config_hooks)
        mon.follow(watcher)()
        new = load([self.write(tmp_path, {**first, "sample_rate": 0.25})], environ={}, env_file=None)
        with mon:
            watcher.swap(new)
            clock.advance(2)
        assert [c["restart"] for c in published(stream, "config_changed")] == [[]]
        assert (mon.events.sample_rate, mon.config) == (1.0, config)

    def test_a_change_outside_monitoring_applies_nothing(
        self, tmp_path: Path, clock: FakeClock, stream: io.StringIO
    ) -> None:
        """Only another section changed: m.config moves, apply is not called (no warning), one event."""
        path = tmp_path / "app.yaml"
        path.write_text(
            json.dumps(
                {
                    "monitoring": section(tmp_path),
                    "storage": {"endpoint": "minio:9000", "region": "eu-west-1"},
                }
            )
        )
        config = load([path], environ={}, env_file=None)
        mon = Monitoring.from_config(config, clock=clock, stream=stream)
        watcher = FakeWatcher(config, mon.config_hooks)
        mon.follow(watcher)
        path.write_text(
            json.dumps(
                {
                    "monitoring": section(tmp_path),
                    "storage": {"endpoint": "minio:9000", "region": "eu-west-2"},
                }
            )
        )
        new = load([path], environ={}, env_file=None)
        with mon:
            watcher.swap(new)
            clock.advance(2)
        [changed] = published(stream, "config_changed")
        assert [c["path"] for c in changed["changes"]] == ["storage.region"]
        assert logged(stream, "settings need a restart") == []
        assert mon.config is new

    def test_the_api_shows_the_snapshot_in_force_after_a_reload(
        self, tmp_path: Path, clock: FakeClock
    ) -> None:
        """/api/v1/config reads Monitoring.config per request: after a followed reload it shows the new
        sample_rate."""
        from conftest import ASGIClient
        from sharedconfig.server.app import create_app

        first = section(tmp_path, health={"enabled": False})
        config = load([self.write(tmp_path, first)], environ={}, env_file=None)
        mon = Monitoring.from_config(config, clock=clock, stream=io.StringIO())
        watcher = FakeWatcher(config, mon.config_hooks)
        mon.follow(watcher)
        client = ASGIClient(create_app(mon, api_token="canary-api-token", manage_monitoring=False))
        bearer = {"Authorization": "Bearer canary-api-token"}

        def shown() -> float:
            body = client.get("/api/v1/config", headers=bearer).json()
            return float(body["config"]["monitoring"]["sample_rate"])

        assert shown() == 1.0
        watcher.swap(load([self.write(tmp_path, {**first, "sample_rate": 0.25})], environ={}, env_file=None))
        assert shown() == 0.25


class TestWithConfigWatcher:
    def test_a_rejected_then_an_accepted_reload_through_the_real_watcher(
        self, tmp_path: Path, clock: FakeClock, stream: io.StringIO
    ) -> None:
        """ConfigWatcher driven by its manual reload, with m.config_hooks and followed: an invalid file is
        counted as a failed reload, degrades config_loader and publishes config_reload_rejected with the
        error; a valid one is applied (sample_rate), counted, restores health and publishes exactly one
        config_changed naming logging.format for a restart."""
        from sharedconfig.config.watcher import ConfigWatcher

        path = tmp_path / "app.yaml"
        first = section(tmp_path, health={"enabled": False})
        path.write_text(json.dumps({"monitoring": first}))
        config = load([path], environ={}, env_file=None)
        mon = Monitoring.from_config(config, clock=clock, stream=stream)
        watcher = ConfigWatcher(
            [path],
            current=config,
            scheduler=mon.runtime,
            clock=clock,
            hooks=mon.config_hooks,
            environ={},
            env_file=None,
        )
        stop = mon.follow(watcher)
        part = mon.part("config")
        assert isinstance(part, ConfigPart)
        try:
            path.write_text(json.dumps({"monitoring": {**first, "sample_rate": 7}}))
            assert watcher.reload() is None
            assert part.health.check().state.value == "degraded"  # what config_loader reports

            second = {**first, "sample_rate": 0.5, "logging": {**first["logging"], "format": "console"}}
            path.write_text(json.dumps({"monitoring": second}))
            new = watcher.reload()
            assert new is not None and mon.config is new
            assert part.health.check().state.value == "healthy"
        finally:
            stop()
            watcher.stop()
        with mon:
            clock.advance(2)
        assert mon.events.sample_rate == 0.5
        value = mon.metrics.sample_value
        assert (
            value("config_reloads_total", {"result": "failure"}),
            value("config_reloads_total", {"result": "success"}),
        ) == (1, 1)
        [rejected] = published(stream, "config_reload_rejected")
        assert [(i["code"], i["path"]) for i in rejected["issues"]] == [
            ("VALIDATION_003", "monitoring.sample_rate")
        ]
        [changed] = published(stream, "config_changed")
        assert changed["restart"] == ["monitoring.logging.format"]
        assert {c["path"] for c in changed["changes"]} == {
            "monitoring.logging.format",
            "monitoring.sample_rate",
        }
        assert value("config_info", {"hash": config_hash(new), "source": str(path)}) == 1


class TestConfigLoaderAnswersAtOnce:
    def test_a_rejected_reload_and_a_lost_store_show_in_health_without_waiting_for_the_interval(
        self, tmp_path: Path, clock: FakeClock, stream: io.StringIO
    ) -> None:
        """parts.py ``config_part``: ConfigHealth's ``changed`` has the monitor run config_loader at once
        (``HealthMonitor.due_now``), so /health says degraded right after the reload, not 30 s later."""
        from sharedconfig.config.loader import check

        path = tmp_path / "app.yaml"
        first = section(tmp_path)  # health enabled, checks every 30 s
        path.write_text(json.dumps({"monitoring": first}))
        config = load([path], environ={}, env_file=None)
        path.write_text(json.dumps({"monitoring": {**first, "sample_rate": 7}}))
        rejected = check([path], environ={}, env_file=None)
        assert rejected.config is None

        def state() -> str:
            return mon.health.report().checks["config_loader"].state.value

        mon = Monitoring.from_config(config, clock=clock, stream=stream)
        with mon:
            clock.advance(1)
            assert state() == "healthy"
            mon.config_hooks.on_reload(config, None, rejected.report, 0.01)
            clock.advance(0)
            assert state() == "degraded"
            mon.config_hooks.on_reload(config, config, config.report, 0.01)
            mon.config_hooks.on_source("etcd://127.0.0.1:2379/app", False, "connection refused")
            clock.advance(0)
            assert state() == "degraded"
            assert "etcd://127.0.0.1:2379/app" in mon.health.report().checks["config_loader"].message
            mon.config_hooks.on_source("etcd://127.0.0.1:2379/app", True, "back")
            clock.advance(0)
            assert state() == "healthy"
