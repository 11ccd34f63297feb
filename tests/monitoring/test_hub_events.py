"""What ``Monitoring`` publishes as events, and how ``monitoring.events`` settings are checked and built.

Health transitions, exporter give-ups, cardinality overflows and configuration loads become events through
the real hub, parts and log channel on a ``FakeClock``: each test reads what the log channel wrote. Each
fails when the line that wires it is deleted (listed in the module's tests' docstrings).
"""

from __future__ import annotations

import io
import json
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sharedconfig.config import check, load
from sharedconfig.config.issues import Issue
from sharedconfig.monitoring import Monitoring
from sharedconfig.monitoring import settings as settings_module
from sharedconfig.monitoring.events import channel as channel_module
from sharedconfig.monitoring.health import HealthCheck
from sharedconfig.monitoring.settings import BUILTIN_CHANNELS, MonitoringSettings
from sharedconfig.testing.clock import FakeClock


def section(tmp_path: Path, **extra: Any) -> dict[str, Any]:
    """A monitoring section with the log channel; journal and dead letters in tmp_path; ``extra`` merged."""
    events = {
        "flush_interval": "1s",
        "journal": {"path": str(tmp_path / "journal")},
        "dead_letter_dir": str(tmp_path / "dead-letter"),
        "exporters": [{"type": "log"}],
        **extra.pop("events", {}),
    }
    return {"logging": {"format": "json", "capture_stdlib": False}, "events": events, **extra}


def published(stream: io.StringIO, type: str) -> list[dict[str, Any]]:
    """The events of ``type`` the log channel wrote: their subject, severity, category and data."""
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    return [
        {k: r[k] for k in ("subject", "severity", "category", "data")}
        for r in records
        if r.get("event") == "event" and r.get("event_type") == type
    ]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def stream() -> io.StringIO:
    return io.StringIO()


def build(data: dict[str, Any], clock: FakeClock, stream: io.StringIO) -> Monitoring:
    return Monitoring(MonitoringSettings.model_validate(data), clock=clock, stream=stream)


class TestHealthTransitions:
    """hub.py: ``self.health.listen(self._health_changed)``; the severity in ``_health_changed``."""

    @pytest.mark.parametrize(("critical", "severity"), [(True, "high"), (False, "medium")])
    def test_a_check_turning_unhealthy_is_one_event(
        self, tmp_path: Path, clock: FakeClock, stream: io.StringIO, critical: bool, severity: str
    ) -> None:
        """A 30 s check healthy at 0 s, failing from 30 s on: one health_check_changed to unhealthy (high when
        the check is critical, medium otherwise, category error), after the one to healthy (info)."""
        mon = build(section(tmp_path, health={"check_interval": "30s"}), clock, stream)
        answers = [True]
        mon.health.register(HealthCheck("database", lambda: answers[-1], critical=critical))
        mon.start()
        clock.advance(15)
        answers.append(False)
        clock.advance(75)  # three more runs, all failing
        mon.stop(timeout=5)
        changes = [e for e in published(stream, "health_check_changed") if e["subject"] == "database"]
        assert [(e["data"]["from"], e["data"]["to"], e["severity"]) for e in changes] == [
            ("unknown", "healthy", "info"),
            ("healthy", "unhealthy", severity),
        ]
        assert changes[1]["category"] == "error" and changes[1]["data"]["critical"] is critical


def closed_port() -> int:
    """A loopback port nothing listens on (connections are refused at once)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_an_exporter_giving_up_is_an_event(tmp_path: Path, clock: FakeClock, stream: io.StringIO) -> None:
    """parts.py: ``on_give_up=_exporter_gave_up(events)``. Remote write to a closed port with no retries:
    every push given up on is an exporter_gave_up event (high, error) naming the exporter."""
    endpoint = f"http://127.0.0.1:{closed_port()}"
    exporter = {
        "type": "prometheus",
        "endpoint": endpoint,
        "push_interval": "15s",
        "retry": {"max_retries": 0},
    }
    data = section(tmp_path, health={"enabled": False}, metrics={"exporters": [exporter]})
    mon = build(data, clock, stream)
    mon.start()
    mon.stop(timeout=5)  # the last push, given up on too
    gave_up = published(stream, "exporter_gave_up")
    assert gave_up and all(e["subject"] == "remote_write" for e in gave_up)
    assert {(e["severity"], e["category"], e["data"]["exporter"]) for e in gave_up} == {
        ("high", "error", "remote_write")
    }


def test_a_metric_over_its_cardinality_limit_is_one_event(
    tmp_path: Path, clock: FakeClock, stream: io.StringIO
) -> None:
    """part.py: ``Job("watch", every, self.watch)`` and ``self._announced``. A counter past a limit of 2
    series, overflowing again later: one metrics_cardinality_overflow event naming it and the limit."""
    mon = build(section(tmp_path, health={"enabled": False}, metrics={"cardinality_limit": 2}), clock, stream)
    mon.start()
    for queue in range(5):
        mon.metrics.record_counter("jobs_total", 1, {"queue": f"q{queue}"})
    clock.advance(3)
    for queue in range(5, 10):
        mon.metrics.record_counter("jobs_total", 1, {"queue": f"q{queue}"})
    clock.advance(3)
    mon.stop(timeout=5)
    overflows = published(stream, "metrics_cardinality_overflow")
    assert [(e["subject"], e["data"], e["severity"]) for e in overflows] == [
        ("jobs_total", {"metric": "jobs_total", "limit": 2}, "medium")
    ]


def test_from_config_publishes_the_load_and_its_validation(
    tmp_path: Path, clock: FakeClock, stream: io.StringIO
) -> None:
    """parts.py: ``observers.append(ConfigEvents(ctx.events))``; hub.py: ``hooks.on_validation``/``on_load``
    in ``from_config``. The load that made the Monitoring is one config_validated and one config_loaded."""
    path = tmp_path / "app.yaml"
    path.write_text(json.dumps({"monitoring": section(tmp_path, health={"enabled": False})}))
    config = load([path], environ={}, env_file=None)
    mon = Monitoring.from_config(config, clock=clock, stream=stream)
    mon.start()
    mon.stop(timeout=5)
    validated = published(stream, "config_validated")
    assert [(e["subject"], e["data"]["valid"], e["severity"]) for e in validated] == [
        ("config", True, "info")
    ]
    loaded = published(stream, "config_loaded")
    assert [(e["subject"], e["data"]["modules"]) for e in loaded] == [("config", ["monitoring"])]


class TestDisabled:
    """part.py, ``events_part``: ``if not (s.enabled and events.enabled) or publisher is None or not
    configured: return None``."""

    @pytest.mark.parametrize(
        "change",
        [
            {"events": {"enabled": False}},
            {"events": {"exporters": []}},
            {"events": {"exporters": [{"type": "log", "enabled": False}]}},
            {"enabled": False},
        ],
        ids=["events-disabled", "no-channel", "channel-disabled", "monitoring-disabled"],
    )
    def test_nothing_is_kept_and_nothing_written(
        self, tmp_path: Path, clock: FakeClock, stream: io.StringIO, change: dict[str, Any]
    ) -> None:
        """No events part, ``events.enabled`` False, ``emit`` returns None, and no journal is made."""
        data = section(tmp_path)
        data["events"].update(change.get("events", {}))
        data.update({k: v for k, v in change.items() if k != "events"})
        mon = build(data, clock, stream)
        assert mon.part("events") is None
        assert mon.events.enabled is False
        assert mon.events.emit("order.created", "o1", {"n": 1}) is None
        mon.start()
        mon.stop(timeout=5)
        assert not (tmp_path / "journal").exists() and published(stream, "order.created") == []


def issues(tmp_path: Path, channels: list[dict[str, Any]]) -> list[Issue]:
    """The issues ``check`` reports for a configuration with these channels."""
    path = tmp_path / "app.yaml"
    path.write_text(json.dumps({"monitoring": {"events": {"exporters": channels}}}))
    return list(check([path], environ={}, env_file=None).report.issues)


class TestChannelSettings:
    def test_duplicate_names_are_validation_054(self, tmp_path: Path) -> None:
        """settings.py: ``check_channel_names`` in ``module.validators``. A second channel named like the
        first is VALIDATION_054 at its name, or at its type when the name comes from the type."""
        channels = [{"type": "log"}, {"type": "sqlite", "name": "log"}, {"type": "log"}]
        found = [(i.code, i.path) for i in issues(tmp_path, channels)]
        assert found == [
            ("VALIDATION_054", "monitoring.events.exporters.1.name"),
            ("VALIDATION_054", "monitoring.events.exporters.2.type"),
        ]

    def test_an_unknown_type_names_the_allowed_types(self, tmp_path: Path) -> None:
        """settings.py: ``_channel_kind`` leaves an unknown type as it is. ``type: nope`` is a validation
        error at its key naming every built-in type."""
        (issue,) = issues(tmp_path, [{"type": "log"}, {"type": "nope"}])
        assert (issue.code, issue.severity, issue.path) == (
            "VALIDATION_006",
            "error",
            "monitoring.events.exporters.1.type",
        )
        assert "'nope'" in issue.message
        assert all(f"'{kind}'" in issue.message for kind in BUILTIN_CHANNELS)

    def test_plugin_is_not_a_type(self, tmp_path: Path) -> None:
        """``type: plugin`` (no package provides it) is refused like any unknown type, and only as the value
        given: the allowed types are the installed ones."""
        (issue,) = issues(tmp_path, [{"type": "plugin"}])
        assert (issue.code, issue.path) == ("VALIDATION_006", "monitoring.events.exporters.0.type")
        assert issue.message.count("'plugin'") == 1


_PLUGIN = """
class AcmeChannel:
    def __init__(self, settings, name):
        self.settings, self.name, self.delivered = settings, name, []

    async def deliver(self, events):
        self.delivered.extend(events)
        return len(events)

    async def aclose(self):
        pass


def build(settings, ctx):
    return AcmeChannel(settings, ctx.name)
"""


@pytest.fixture
def acme_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """An installed distribution providing the ``acme`` channel (entry point group sharedconfig.channels)."""
    site = tmp_path / "site"
    info = site / "acme_channel-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-channel\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[sharedconfig.channels]\nacme = acme_channel:build\n")
    (site / "acme_channel.py").write_text(_PLUGIN)
    monkeypatch.syspath_prepend(str(site))
    caches = (channel_module.installed_channels, settings_module._plugin_channels)
    for cache in caches:
        cache.cache_clear()
    yield
    for cache in caches:
        cache.cache_clear()
    sys.modules.pop("acme_channel", None)


@pytest.mark.usefixtures("acme_installed")
def test_a_plugin_channel_gets_its_own_keys(tmp_path: Path, clock: FakeClock, stream: io.StringIO) -> None:
    """settings.py: ``PluginChannelSettings`` (extra keys allowed) chosen for an installed type; channel.py:
    ``build_channel`` calls the entry point with them. The plugin's channel gets its keys and the events."""
    plugin = {
        "type": "acme",
        "name": "acme",
        "endpoint": "https://acme.example/ingest",
        "batch_key": "tenant",
    }
    mon = build(section(tmp_path, health={"enabled": False}, events={"exporters": [plugin]}), clock, stream)
    (channel,) = mon.events.channels
    got: Any = channel
    assert got.settings.model_extra == {"endpoint": "https://acme.example/ingest", "batch_key": "tenant"}
    mon.start()
    event = mon.events.emit("order.created", "o1", {"n": 1})
    mon.stop(timeout=5)
    assert event is not None and [e.id for e in got.delivered] == [event.id]
