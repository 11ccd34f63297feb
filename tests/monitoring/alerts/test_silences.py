"""Silences: states, validation, Alertmanager's update rules, retention, and persistence across restarts."""

from __future__ import annotations

import os
import sqlite3
import stat
from datetime import timedelta
from pathlib import Path

import pytest

from sharedconfig.monitoring.alerts.matchers import Matcher, MatchType
from sharedconfig.monitoring.alerts.promql.values import labels
from sharedconfig.monitoring.alerts.silences import (
    InvalidSilence,
    SilenceNotFound,
    Silences,
    SilenceState,
    SilenceStoreError,
)
from sharedconfig.testing import FakeClock

API = labels({"alertname": "Down", "job": "api"})
DB = labels({"alertname": "Down", "job": "db"})
HOUR = timedelta(hours=1)


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock at 2026-01-01T00:00Z."""
    return FakeClock()


class TestStates:
    def test_pending_active_expired(self, clock: FakeClock) -> None:
        """A silence mutes only between its start and its end, and only what its matchers select."""
        silences = Silences(clock=clock)
        now = clock.wall()
        s = silences.add('job="api"', starts_at=now + HOUR, ends_at=now + 2 * HOUR, created_by="ann")
        assert s.state(now) is SilenceState.PENDING
        assert silences.mutes(API) == []
        clock.advance(3600)
        assert silences.mutes(API) == [s.id]
        assert silences.mutes(DB) == []
        assert [x.id for x in silences.list(SilenceState.ACTIVE)] == [s.id]
        clock.advance(3600)
        assert silences.mutes(API) == []
        assert silences.get(s.id).state(clock.wall()) is SilenceState.EXPIRED
        assert silences.list(SilenceState.ACTIVE) == []

    def test_start_in_the_past_becomes_now(self, clock: FakeClock) -> None:
        """A new silence cannot start before it was made (as Alertmanager)."""
        silences = Silences(clock=clock)
        now = clock.wall()
        s = silences.add(["alertname=Down"], starts_at=now - HOUR, ends_at=now + HOUR)
        assert s.starts_at == now
        assert s.updated_at == now

    def test_api_json_round_trip(self, clock: FakeClock) -> None:
        """``to_json`` is Alertmanager's API v2 form and reads back to the same silence."""
        silences = Silences(clock=clock)
        s = silences.add('{job=~"a.*", team!="x"}', ends_at=clock.wall() + HOUR, comment="deploy")
        data = s.to_json()
        assert data["matchers"] == [
            {"name": "job", "value": "a.*", "isRegex": True, "isEqual": True},
            {"name": "team", "value": "x", "isRegex": False, "isEqual": False},
        ]
        assert type(s).from_json(data) == s


class TestValidation:
    @pytest.mark.parametrize(
        ("matchers", "message"),
        [
            ("", "at least one matcher"),
            ('job=~".*"', "must not match the empty string"),
            ('{job!="x", team=""}', "must not match the empty string"),
        ],
    )
    def test_matchers(self, clock: FakeClock, matchers: str, message: str) -> None:
        """A silence needs a matcher that does not select everything."""
        with pytest.raises(InvalidSilence, match=message) as info:
            Silences(clock=clock).add(matchers, ends_at=clock.wall() + HOUR)
        assert info.value.code == "VALIDATION_008"
        assert isinstance(info.value, ValueError)

    def test_end_after_start(self, clock: FakeClock) -> None:
        """An end at or before the start is refused."""
        now = clock.wall()
        with pytest.raises(InvalidSilence, match="before it starts"):
            Silences(clock=clock).add("a=b", starts_at=now + HOUR, ends_at=now + HOUR)
        with pytest.raises(InvalidSilence, match="before it starts"):
            Silences(clock=clock).add("a=b", ends_at=now - HOUR)

    def test_unknown_ids(self, clock: FakeClock) -> None:
        """Getting, expiring or updating an unknown id is SilenceNotFound."""
        silences = Silences(clock=clock)
        with pytest.raises(SilenceNotFound, match="no silence has the id 'nope'"):
            silences.get("nope")
        with pytest.raises(SilenceNotFound):
            silences.expire("nope")
        with pytest.raises(SilenceNotFound):
            silences.add("a=b", ends_at=clock.wall() + HOUR, silence_id="nope")


class TestUpdates:
    def test_active_silence_extended_in_place(self, clock: FakeClock) -> None:
        """Same matchers and start, a later end: the same id, updated."""
        silences = Silences(clock=clock)
        s = silences.add("a=b", ends_at=clock.wall() + HOUR)
        clock.advance(60)
        u = silences.add("a=b", starts_at=s.starts_at, ends_at=s.ends_at + HOUR, silence_id=s.id)
        assert u.id == s.id
        assert u.ends_at == s.ends_at + HOUR
        assert len(silences.list()) == 1

    def test_changed_matchers_replace_it(self, clock: FakeClock) -> None:
        """New matchers expire the old silence and add a new one with a new id."""
        silences = Silences(clock=clock)
        s = silences.add("a=b", ends_at=clock.wall() + HOUR)
        clock.advance(60)
        u = silences.add("a=c", ends_at=clock.wall() + HOUR, silence_id=s.id)
        assert u.id != s.id
        assert silences.get(s.id).state(clock.wall()) is SilenceState.EXPIRED
        assert silences.get(u.id).matchers == (Matcher("a", MatchType.EQUAL, "c"),)

    def test_pending_silence_moved(self, clock: FakeClock) -> None:
        """A pending silence may move its start (not into the past) and keeps its id."""
        silences = Silences(clock=clock)
        now = clock.wall()
        s = silences.add("a=b", starts_at=now + HOUR, ends_at=now + 3 * HOUR)
        u = silences.add("a=b", starts_at=now + 2 * HOUR, ends_at=now + 3 * HOUR, silence_id=s.id)
        assert u.id == s.id
        assert u.starts_at == now + 2 * HOUR

    def test_expired_cannot_be_updated_or_expired_again(self, clock: FakeClock) -> None:
        """An expired silence stays as it ended."""
        silences = Silences(clock=clock)
        s = silences.add("a=b", ends_at=clock.wall() + HOUR)
        ended = silences.expire(s.id)
        assert ended.ends_at == clock.wall()
        with pytest.raises(InvalidSilence, match="already expired"):
            silences.expire(s.id)
        with pytest.raises(InvalidSilence, match="cannot be updated"):
            silences.add("a=b", ends_at=clock.wall() + HOUR, silence_id=s.id)

    def test_expiring_a_pending_silence(self, clock: FakeClock) -> None:
        """Expiring a pending silence makes it start and end now: it never mutes."""
        silences = Silences(clock=clock)
        now = clock.wall()
        s = silences.add("a=b", starts_at=now + HOUR, ends_at=now + 2 * HOUR)
        ended = silences.expire(s.id)
        assert ended.starts_at == ended.ends_at == now
        clock.advance(5400)
        assert silences.mutes(labels({"a": "b"})) == []


class TestRetention:
    def test_expired_dropped_after_retention(self, clock: FakeClock) -> None:
        """Expired silences are kept 5 days after their end, then ``collect`` drops them."""
        silences = Silences(clock=clock)
        old = silences.add("a=b", ends_at=clock.wall() + HOUR)
        clock.advance(3600 + 5 * 86400)
        assert silences.collect() == 0  # exactly at the retention: still kept
        clock.advance(1)
        assert silences.collect() == 1
        with pytest.raises(SilenceNotFound):
            silences.get(old.id)

    def test_writes_collect_too(self, clock: FakeClock, tmp_path: Path) -> None:
        """Adding a silence drops those past their retention, from the file as well."""
        path = tmp_path / "silences.db"
        silences = Silences(path, clock=clock, retention=timedelta(days=1))
        old = silences.add("a=b", ends_at=clock.wall() + HOUR)
        clock.advance(3600 + 86400 + 1)
        new = silences.add("a=c", ends_at=clock.wall() + HOUR)
        silences.close()
        reopened = Silences(path, clock=clock)
        assert [s.id for s in reopened.list()] == [new.id]
        assert old.id != new.id
        reopened.close()


class TestPersistence:
    def test_survive_a_restart(self, clock: FakeClock, tmp_path: Path) -> None:
        """A new Silences on the same file sees what the old one added, updated and expired."""
        path = tmp_path / "silences.db"
        first = Silences(path, clock=clock)
        kept = first.add('{job="api"}', ends_at=clock.wall() + HOUR, created_by="ann", comment="deploy")
        gone = first.add("job=db", ends_at=clock.wall() + HOUR)
        first.expire(gone.id)
        first.close()
        second = Silences(path, clock=clock)
        assert second.get(kept.id) == kept
        assert second.mutes(API) == [kept.id]
        assert second.mutes(DB) == []
        assert second.get(gone.id).state(clock.wall()) is SilenceState.EXPIRED
        second.close()

    def test_file_mode_and_wal(self, clock: FakeClock, tmp_path: Path) -> None:
        """The file is created readable by its owner only, in WAL mode."""
        path = tmp_path / "silences.db"
        silences = Silences(path, clock=clock)
        silences.add("a=b", ends_at=clock.wall() + HOUR)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(tmp_path / "silences.db-wal").st_mode) == 0o600
        silences.close()
        with sqlite3.connect(path) as db:
            assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        db.close()

    def test_two_processes_share_the_file(self, clock: FakeClock, tmp_path: Path) -> None:
        """A silence one store adds is seen by another open on the same file (another worker)."""
        path = tmp_path / "silences.db"
        a, b = Silences(path, clock=clock), Silences(path, clock=clock)
        s = a.add("job=api", ends_at=clock.wall() + HOUR)
        assert b.mutes(API) == [s.id]
        b.expire(s.id)
        assert a.mutes(API) == []
        a.close()
        b.close()

    def test_not_a_silence_store(self, clock: FakeClock, tmp_path: Path) -> None:
        """Another SQLite database or a non-database file is refused with a hint, not a traceback."""
        other = tmp_path / "other.db"
        with sqlite3.connect(other) as db:
            db.execute("CREATE TABLE t (x)")
        db.close()
        with pytest.raises(SilenceStoreError, match="not a silence store") as info:
            Silences(other, clock=clock)
        assert info.value.hint
        junk = tmp_path / "junk.db"
        junk.write_bytes(b"not sqlite at all, just some bytes" * 100)
        with pytest.raises(SilenceStoreError, match="not a usable SQLite database"):
            Silences(junk, clock=clock)
        with pytest.raises(SilenceStoreError, match="cannot open"):
            Silences(tmp_path / "missing" / "s.db", clock=clock)
