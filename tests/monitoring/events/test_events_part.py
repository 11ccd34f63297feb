"""The events part: journal slots, what it builds from settings, and Monitoring delivering through it."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from sharedconfig.errors import ConfigError
from sharedconfig.monitoring import Monitoring
from sharedconfig.monitoring.events.channels.sqlite import EventFilter, EventStore, StoreChannel
from sharedconfig.monitoring.events.part import SPILL_BACKLOG_FACTOR, EventsPart, claim_journal
from sharedconfig.monitoring.events.schema import SchemaViolation
from sharedconfig.monitoring.settings import MonitoringSettings
from sharedconfig.testing import FakeClock


def settings(tmp_path: Path, **events: object) -> MonitoringSettings:
    block: dict[str, object] = {
        "flush_interval": "1s",
        "journal": {"path": str(tmp_path / "journal")},
        "dead_letter_dir": str(tmp_path / "dead"),
        "exporters": [{"type": "sqlite", "path": str(tmp_path / "events.db")}],
    }
    block.update(events)
    return MonitoringSettings.model_validate(
        {"logging": {"format": "json", "capture_stdlib": False}, "events": block}
    )


def monitoring(tmp_path: Path, clock: FakeClock, **events: object) -> Monitoring:
    return Monitoring(settings(tmp_path, **events), clock=clock, stream=io.StringIO())


class TestClaimJournal:
    def test_each_process_sharing_a_path_gets_its_own_slot_and_a_freed_slot_is_taken_again(
        self, tmp_path: Path
    ) -> None:
        first, lock1 = claim_journal(tmp_path / "j")
        second, lock2 = claim_journal(tmp_path / "j")
        assert (first.name, second.name) == ("0", "1")
        lock1.close()
        again, lock3 = claim_journal(tmp_path / "j")
        assert again.name == "0"
        lock2.close()
        lock3.close()


class TestBuilt:
    def test_not_built_when_disabled_or_without_an_enabled_channel(self, tmp_path: Path) -> None:
        clock = FakeClock()
        off = monitoring(tmp_path, clock, enabled=False)
        none = monitoring(tmp_path, clock, exporters=[])
        idle = monitoring(tmp_path, clock, exporters=[{"type": "log", "enabled": False}])
        for mon in (off, none, idle):
            assert mon.part("events") is None
            assert not mon.events.enabled
            assert mon.events.emit("x") is None
        assert not (tmp_path / "journal").exists()

    def test_the_sqlite_channel_is_the_store_and_channels_keep_their_names(self, tmp_path: Path) -> None:
        mon = monitoring(
            tmp_path,
            FakeClock(),
            exporters=[
                {"type": "log", "name": "audit-log"},
                {"type": "sqlite", "path": str(tmp_path / "e.db")},
            ],
        )
        assert isinstance(mon.part("events"), EventsPart)
        assert [c.name for c in mon.events.channels] == ["audit-log", "sqlite"]
        assert isinstance(mon.events.channels[1], StoreChannel)
        assert isinstance(mon.events.store, EventStore)
        assert mon.events.store is mon.events.channels[1].store
        mon.events.store.close()

    def test_schemas_from_settings_inline_or_from_a_file(self, tmp_path: Path) -> None:
        schema = {"type": "object", "required": ["total"]}
        (tmp_path / "paid.json").write_text(json.dumps(schema))
        mon = monitoring(
            tmp_path,
            FakeClock(),
            schemas={"order.created": schema, "order.paid": str(tmp_path / "paid.json")},
        )
        assert mon.events.schemas is not None
        assert mon.events.schemas.types == {"order.created", "order.paid"}
        with pytest.raises(SchemaViolation):
            mon.events.emit("order.paid", "o/1", {"count": 1})
        assert mon.events.store is not None
        mon.events.store.close()

    def test_an_unreadable_schema_file_names_the_file_and_key(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError) as info:
            monitoring(tmp_path, FakeClock(), schemas={"order.paid": str(tmp_path / "missing.json")})
        assert "missing.json" in str(info.value)
        assert info.value.path == "monitoring.events.schemas.order.paid"

    def test_a_webhook_without_a_secret_sends_unsigned_and_says_so(self, tmp_path: Path) -> None:
        stream = io.StringIO()
        mon = Monitoring(
            settings(tmp_path, exporters=[{"type": "webhook", "url": "https://h/x?token=t0k"}]),
            clock=FakeClock(),
            stream=stream,
        )
        assert [c.name for c in mon.events.channels] == ["webhook"]
        assert "requests are not signed" in stream.getvalue()
        assert "t0k" not in stream.getvalue()


class TestDelivery:
    def test_emitted_events_reach_the_store_in_batches_on_the_flush_interval(self, tmp_path: Path) -> None:
        clock = FakeClock()
        mon = monitoring(tmp_path, clock)
        with mon:
            made = [mon.events.emit("order.created", f"order/{i}", {"i": i}) for i in range(3)]
            clock.advance(1)
            store = mon.events.store
            assert store is not None
            ids = {e.id for e in store.query(limit=100).events}
        assert {e.id for e in made if e is not None} <= ids
        assert mon.metrics.sample_value("events_delivered_total", {"channel": "sqlite"}) == len(ids)
        assert mon.metrics.sample_value("events_published_total", {"type": "order.created"}) == 3

    def test_a_stop_delivers_what_waits_and_a_restart_goes_on(self, tmp_path: Path) -> None:
        clock = FakeClock()
        mon = monitoring(tmp_path, clock, flush_interval="1h")
        mon.start()
        first = mon.events.emit("a")
        mon.stop()  # delivered at stop, not after an hour
        reopened = EventStore(tmp_path / "events.db")
        assert first is not None
        assert first.id in {e.id for e in reopened.query(limit=100).events}
        reopened.close()

    def test_health_transitions_are_events(self, tmp_path: Path) -> None:
        from sharedconfig.monitoring.health import HealthCheck

        clock = FakeClock()
        mon = monitoring(tmp_path, clock)
        state = {"ok": True}
        mon.health.register(HealthCheck("db", lambda: state["ok"], critical=True, interval=10))
        published: list[tuple[str, str | None, str]] = []
        real = mon.events.publish
        mon.events.publish = lambda e: published.append((e.type, e.subject, e.severity.value)) or real(e)  # type: ignore[method-assign]
        with mon:
            clock.advance(1)
            state["ok"] = False
            clock.advance(30)
        changes = [p for p in published if p[0] == "health_check_changed" and p[1] == "db"]
        assert changes == [
            ("health_check_changed", "db", "info"),
            ("health_check_changed", "db", "high"),
        ]


class TestBursts:
    def test_a_burst_of_ten_buffers_spills_without_a_drop(self, tmp_path: Path) -> None:
        """The spill backlog holds SPILL_BACKLOG_FACTOR buffers: a burst faster than the journal is
        written (here: all of it before the runtime even starts) is kept, then delivered in order."""
        clock = FakeClock()
        mon = monitoring(tmp_path, clock, buffer_size=10, batch_size=10)
        assert SPILL_BACKLOG_FACTOR >= 9
        made = [mon.events.emit("burst", str(i)) for i in range(100)]  # 10 in memory, 90 spilled
        assert all(e is not None for e in made)
        assert mon.metrics.sample_value("events_dropped_total", {"reason": "spill_backlog"}) is None
        with mon:
            clock.advance(5)
        store = EventStore(tmp_path / "events.db")
        stored = [e.id for e in store.query(EventFilter(type="burst"), limit=1000, order="oldest").events]
        store.close()
        assert stored == [e.id for e in made if e is not None]
