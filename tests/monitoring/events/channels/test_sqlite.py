"""The embedded SQLite event store: append, filters, keyset pages, follow, retention, reopening, errors,
concurrent readers, and the channel that writes on a worker thread."""

from __future__ import annotations

import sqlite3
import tempfile
import threading
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sharedconfig import tracecontext
from sharedconfig.delivery import Delivery, RetryPolicy
from sharedconfig.errors import DeliveryError, SharedConfigError
from sharedconfig.monitoring.events import Category, Event, JsonValue, Severity, redacted
from sharedconfig.monitoring.events.channels.sqlite import (
    SCHEMA_VERSION,
    EventFilter,
    EventStore,
    EventStoreError,
    Page,
    SqliteChannel,
)
from sharedconfig.testing import FakeClock

T0 = datetime(2026, 12, 7, 20, 0, tzinfo=UTC)
TRACE = tracecontext.TraceContext.new()
CANARY = "canary-secret-5f2e9c"


def event(n: int, **fields: object) -> Event:
    """Event number ``n``: id, time and data follow ``n``; ``fields`` override."""
    attributes: dict[str, object] = {
        "type": "app.thing.happened",
        "source": "/test",
        "id": f"id-{n:05d}",
        "time": T0 + timedelta(seconds=n),
        "data": {"n": n},
        "traceparent": None,
    }
    attributes.update(fields)
    return Event(**attributes)  # type: ignore[arg-type]


def numbers(page: Page) -> list[int]:
    return [cast("dict[str, int]", e.data)["n"] for e in page.events]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(epoch=T0)


@pytest.fixture
def store(tmp_path: Path, clock: FakeClock) -> Iterator[EventStore]:
    with EventStore(tmp_path / "events.db", clock=clock) as opened:
        yield opened


class TestAppend:
    def test_events_come_back_as_stored(self, store: EventStore) -> None:
        """Appended events are read back equal to what was appended, newest first by default."""
        batch = [event(n) for n in range(3)]
        assert store.append(batch) == 3
        assert store.query().events == tuple(reversed(batch))

    def test_duplicates_are_ignored(self, store: EventStore) -> None:
        """An event whose (source, id) is stored already is ignored, in a later batch and in the same one."""
        store.append([event(1), event(2)])
        assert store.append([event(2), event(3), event(3, data={"n": 99})]) == 1
        assert numbers(store.query(order="oldest")) == [1, 2, 3]
        assert store.append([event(2, source="/other")]) == 1  # same id, another source: another event

    def test_data_is_redacted_on_disk(self, store: EventStore) -> None:
        """A secret in an event's data or subject never reaches the database file (indexed columns included);
        the event reads back redacted."""
        secret = event(1, data={"password": CANARY}, subject=f"https://u:{CANARY}@h/")
        store.append([secret])
        assert store.query().events == (redacted(secret),)
        store.close()
        for file in store.path.parent.iterdir():
            assert CANARY.encode() not in file.read_bytes()

    def test_a_batch_with_an_unencodable_event_stores_nothing(self, store: EventStore) -> None:
        """A batch with data that is not JSON raises VALIDATION_050 and leaves the store as it was."""
        bad = event(2, data={"x": float("nan")})
        with pytest.raises(SharedConfigError) as caught:
            store.append([event(1), bad])
        assert caught.value.code == "VALIDATION_050"
        assert store.count() == 0


class TestFilters:
    @pytest.fixture
    def filled(self, store: EventStore) -> EventStore:
        store.append(
            [
                event(0, type="config.reloaded", subject="svc/a", severity=Severity.INFO),
                event(1, type="config.validation.failed", subject="svc/b", severity=Severity.HIGH),
                event(2, type="configx", subject="svc/a/x", severity=Severity.LOW, category=Category.ERROR),
                event(
                    3,
                    type="health.failed",
                    subject="db",
                    severity=Severity.CRITICAL,
                    traceparent=TRACE.traceparent,
                ),
                event(4, type="config", subject="s[1]", severity=Severity.MEDIUM, category=Category.AUDIT),
            ]
        )
        return store

    @pytest.mark.parametrize(
        ("filters", "expected"),
        [
            (EventFilter(type="config.reloaded"), [0]),
            (EventFilter(type="config.*"), [0, 1]),
            (EventFilter(type="config"), [4]),
            (EventFilter(severity=Severity.MEDIUM), [1, 3, 4]),
            (EventFilter(severity="high"), [1, 3]),  # type: ignore[arg-type]
            (EventFilter(category=Category.ERROR), [2]),
            (EventFilter(category="audit"), [4]),  # type: ignore[arg-type]
            (EventFilter(subject="svc/a"), [0]),
            (EventFilter(subject="svc/*"), [0, 1, 2]),
            (EventFilter(subject="svc/?"), [0, 1]),
            (EventFilter(subject="s[[]1]"), [4]),
            (EventFilter(trace_id=TRACE.trace_id), [3]),
            (EventFilter(trace_id=TRACE.trace_id.upper()), [3]),
            (EventFilter(since=T0 + timedelta(seconds=3)), [3, 4]),
            (EventFilter(until=T0 + timedelta(seconds=1)), [0]),
            (EventFilter(type="config.*", severity=Severity.HIGH), [1]),
            (EventFilter(type=("health.failed", "config")), [3, 4]),
            (EventFilter(type=("config.*", "configx")), [0, 1, 2]),
            (EventFilter(type=("health.failed",)), [3]),
            (EventFilter(type=("config.*", "health.failed"), severity=Severity.HIGH), [1, 3]),
        ],
    )
    def test_filter(self, filled: EventStore, filters: EventFilter, expected: list[int]) -> None:
        """Each filter (type exact or prefix, or any of several; severity at least, category, subject exact
        or glob, trace id, since inclusive, until exclusive, and their combination) keeps exactly the
        matching events."""
        assert numbers(filled.query(filters, order="oldest")) == expected

    def test_an_event_without_time_is_filtered_by_arrival(self, store: EventStore, clock: FakeClock) -> None:
        """An event without a time is found by since/until at the time it was stored."""
        clock.advance(60)
        store.append([event(0, time=None)])
        assert numbers(store.query(EventFilter(since=T0 + timedelta(seconds=60)))) == [0]
        assert numbers(store.query(EventFilter(since=T0 + timedelta(seconds=61)))) == []

    @pytest.mark.parametrize(
        ("fields", "code"),
        [
            ({"severity": "loud"}, "VALIDATION_006"),
            ({"category": "misc"}, "VALIDATION_006"),
            ({"since": datetime(2026, 1, 1)}, "VALIDATION_008"),  # naive on purpose
            ({"type": ""}, "VALIDATION_008"),
            ({"type": ()}, "VALIDATION_008"),
            ({"type": ("config.*", "")}, "VALIDATION_008"),
        ],
    )
    def test_bad_filter_is_a_coded_error(self, fields: dict[str, object], code: str) -> None:
        """A filter value that cannot match anything well-defined is a coded error naming the field."""
        with pytest.raises(SharedConfigError) as caught:
            EventFilter(**fields)  # type: ignore[arg-type]
        assert (caught.value.code, caught.value.path) == (code, next(iter(fields)))

    @pytest.mark.parametrize("limit", [0, -1, 1.5])
    def test_bad_limit_is_a_coded_error(self, store: EventStore, limit: int) -> None:
        """A limit below one (or not whole) is VALIDATION_003."""
        with pytest.raises(SharedConfigError) as caught:
            store.query(limit=limit)
        assert caught.value.code == "VALIDATION_003"


class TestPages:
    def test_newest_first_pages_are_stable_while_appending(self, store: EventStore) -> None:
        """Paging newest first while new events arrive returns every older event once, in order."""
        store.append([event(n) for n in range(10)])
        seen: list[int] = []
        page = store.query(limit=3)
        next_n = 10
        while True:
            seen += numbers(page)
            store.append([event(next_n)])  # lands before the first page: never in later ones
            next_n += 1
            if page.next_cursor is None:
                break
            page = store.query(limit=3, after=page.next_cursor)
        assert seen == list(range(9, -1, -1))

    def test_oldest_first_pages_reach_what_arrives(self, store: EventStore) -> None:
        """Paging oldest first while new events arrive returns the old and the new once each, in order."""
        store.append([event(n) for n in range(5)])
        page = store.query(limit=2, order="oldest")
        seen = numbers(page)
        store.append([event(5), event(6)])
        while page.next_cursor is not None:
            page = store.query(limit=2, order="oldest", after=page.next_cursor)
            seen += numbers(page)
        assert seen == list(range(7))

    def test_the_last_page_has_no_cursor(self, store: EventStore) -> None:
        """A page that holds the last matching event says so with next_cursor None, even when full."""
        store.append([event(n) for n in range(4)])
        assert store.query(limit=4).next_cursor is None
        assert store.query(limit=3).next_cursor is not None

    def test_follow_returns_what_came_after_the_cursor(self, store: EventStore) -> None:
        """follow() gives the matching events after a cursor, oldest first, and keeps the cursor when idle."""
        store.append([event(0)])
        start = store.last_cursor()
        idle = store.follow(start)
        assert (idle.events, idle.next_cursor) == ((), start)
        store.append([event(1), event(2, type="other"), event(3)])
        page = store.follow(start, EventFilter(type="app.*"))
        assert numbers(page) == [1, 3]
        assert store.follow(page.next_cursor or 0).events == ()

    def test_cursors_are_never_reused(self, tmp_path: Path, clock: FakeClock) -> None:
        """After retention deleted every event and the store reopened, new events get higher cursors."""
        path = tmp_path / "events.db"
        with EventStore(path, max_age=10, clock=clock) as store:
            store.append([event(n) for n in range(3)])
            last = store.last_cursor()
            clock.advance(11)
            assert store.retain().by_age == 3
        with EventStore(path, clock=clock) as store:
            store.append([event(9)])
            assert store.query().records[0].cursor > last


class TestRetention:
    def test_by_age(self, tmp_path: Path, clock: FakeClock) -> None:
        """retain() deletes exactly the events that arrived more than max_age ago, and counts them."""
        with EventStore(tmp_path / "e.db", max_age=3600, clock=clock) as store:
            store.append([event(n) for n in range(3)])
            clock.advance(1800)
            store.append([event(n) for n in range(3, 5)])
            clock.advance(1800)
            assert store.retain().by_age == 0  # exactly max_age old: kept
            clock.advance(1)
            retained = store.retain()
            assert (retained.by_age, retained.by_size, retained.deleted) == (3, 0, 3)
            assert numbers(store.query(order="oldest")) == [3, 4]

    def test_by_size(self, tmp_path: Path, clock: FakeClock) -> None:
        """retain() deletes the oldest events until the database's pages fit max_bytes; the file shrinks."""
        path = tmp_path / "e.db"
        max_bytes = 256 * 1024
        with EventStore(path, max_bytes=max_bytes, clock=clock) as store:
            for start in range(0, 3000, 100):
                store.append([event(n, data={"n": n, "pad": "x" * 300}) for n in range(start, start + 100)])
            retained = store.retain()
            assert retained.by_size > 0 and retained.by_age == 0
            kept = numbers(store.query(order="oldest", limit=5000))
            assert kept == list(range(3000 - len(kept), 3000))  # the newest survive, without a gap
            assert len(kept) + retained.by_size == 3000
            check = sqlite3.connect(path)
            try:
                pages, size = (
                    check.execute(f"PRAGMA {p}").fetchone()[0] for p in ("page_count", "page_size")
                )
            finally:
                check.close()
            assert pages * size <= max_bytes
            assert store.retain().deleted == 0  # nothing more to do

    def test_without_bounds_nothing_is_deleted(self, store: EventStore, clock: FakeClock) -> None:
        """A store without max_age and max_bytes keeps everything."""
        store.append([event(n) for n in range(5)])
        clock.advance(10**9)
        assert store.retain().deleted == 0
        assert store.count() == 5


class TestOpening:
    def test_reopen_keeps_data(self, tmp_path: Path) -> None:
        """Events appended before close() are there after the store is opened again."""
        path = tmp_path / "e.db"
        with EventStore(path) as store:
            store.append([event(n) for n in range(3)])
        with EventStore(path) as store:
            assert numbers(store.query(order="oldest")) == [0, 1, 2]
            assert store.append([event(2)]) == 0

    def test_wal_and_normal_sync(self, store: EventStore) -> None:
        """The store runs in WAL mode with synchronous=NORMAL and records its schema version."""
        check = sqlite3.connect(store.path)
        try:
            assert check.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert check.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
        finally:
            check.close()
        assert store._writer.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL

    def test_corrupt_file(self, tmp_path: Path) -> None:
        """A file that is not a SQLite database is CONFIG_031 naming the file."""
        path = tmp_path / "e.db"
        path.write_bytes(b"this is not a database at all" * 100)
        with pytest.raises(EventStoreError) as caught:
            EventStore(path)
        assert caught.value.code == "CONFIG_031"
        assert str(path) in str(caught.value)

    def test_newer_version(self, tmp_path: Path) -> None:
        """A store written with a newer schema version is CONFIG_031 saying which versions."""
        path = tmp_path / "e.db"
        EventStore(path).close()
        check = sqlite3.connect(path)
        with check:
            check.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))
        check.close()
        with pytest.raises(EventStoreError) as caught:
            EventStore(path)
        assert caught.value.code == "CONFIG_031"
        assert f"version {SCHEMA_VERSION + 1}" in caught.value.message

    def test_another_database(self, tmp_path: Path) -> None:
        """A SQLite database of something else is CONFIG_031, and is left as it was."""
        path = tmp_path / "other.db"
        check = sqlite3.connect(path)
        with check:
            check.execute("CREATE TABLE t (x)")
        check.close()
        with pytest.raises(EventStoreError, match="not an event store"):
            EventStore(path)

    def test_missing_directory(self, tmp_path: Path) -> None:
        """A path in a directory that does not exist is CONFIG_031."""
        with pytest.raises(EventStoreError):
            EventStore(tmp_path / "nope" / "e.db")

    def test_closed_store(self, tmp_path: Path) -> None:
        """Any use after close() is CONFIG_031; close() twice is fine."""
        store = EventStore(tmp_path / "e.db")
        store.close()
        store.close()
        for use in (lambda: store.append([event(1)]), store.query, store.retain, store.last_cursor):
            with pytest.raises(EventStoreError, match="closed"):
                use()

    @pytest.mark.parametrize("bounds", [{"max_age": 0}, {"max_bytes": -1}])
    def test_bad_bounds(self, tmp_path: Path, bounds: dict[str, float]) -> None:
        """A max_age or max_bytes that is not positive is VALIDATION_003."""
        with pytest.raises(SharedConfigError) as caught:
            EventStore(tmp_path / "e.db", **bounds)  # type: ignore[arg-type]
        assert caught.value.code == "VALIDATION_003"


class TestConcurrency:
    def test_readers_while_one_writer_appends(self, store: EventStore) -> None:
        """Four reader threads page and follow while a writer appends 2,000 events: no error, every page
        in cursor order, every event seen by a follower exactly once; every thread ends."""
        errors: list[BaseException] = []
        followed: list[int] = []
        done = threading.Event()

        def write() -> None:
            try:
                for start in range(0, 2000, 50):
                    store.append([event(n) for n in range(start, start + 50)])
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)
            finally:
                done.set()

        def read() -> None:
            try:
                while not done.is_set():
                    page = store.query(limit=50)
                    cursors = [r.cursor for r in page.records]
                    assert cursors == sorted(cursors, reverse=True)
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        def follow() -> None:
            cursor = 0
            try:
                while True:
                    finished = done.is_set()
                    page = store.follow(cursor, limit=70)
                    followed.extend(numbers(page))
                    cursor = page.next_cursor or cursor
                    if finished and not page.records:
                        return
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=t) for t in (write, read, read, read, follow)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not any(t.is_alive() for t in threads)
        assert errors == []
        assert followed == list(range(2000))


# -- properties ---------------------------------------------------------------------------------------

json_values: st.SearchStrategy[JsonValue] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
events = st.builds(
    Event,
    type=st.text(min_size=1),
    source=st.text(min_size=1),
    data=json_values,
    subject=st.none() | st.text(min_size=1),
    severity=st.sampled_from(Severity),
    category=st.sampled_from(Category),
    extensions=st.dictionaries(st.from_regex(r"x[a-z0-9]{0,19}", fullmatch=True), st.text(), max_size=3),
    time=st.none() | st.datetimes(timezones=st.just(UTC)),
    sampledrate=st.none() | st.integers(min_value=1, max_value=10**6),
    id=st.text(min_size=1),  # the default id uses `random`, which hypothesis forbids in strategies
    traceparent=st.none() | st.just(TRACE.traceparent),
)


class TestRoundTrip:
    @settings(max_examples=60, deadline=None)
    @given(st.lists(events, max_size=5, unique_by=lambda e: (e.source, e.id)))
    def test_any_events_round_trip(self, batch: list[Event]) -> None:
        """Any events are read back, oldest first, equal to themselves as redacted (the time of an event
        without one is kept absent)."""
        with tempfile.TemporaryDirectory() as directory, EventStore(Path(directory) / "e.db") as store:
            assert store.append(batch) == len(batch)
            assert store.follow(0).events == tuple(redacted(e) for e in batch)


class TestChannel:
    def test_send_appends_on_a_worker_thread(self, store: EventStore, clock: FakeClock) -> None:
        """send() stores the batch off the caller's thread and counts only new events."""
        channel = SqliteChannel(store, clock=clock)
        threads: list[threading.Thread] = []
        real_append = store.append

        def append(batch: Iterable[Event]) -> int:
            threads.append(threading.current_thread())
            return real_append(batch)

        store.append = append  # type: ignore[method-assign,assignment]
        clock.run(channel.send([event(1), event(2)]))
        clock.run(channel.send([event(2), event(3)]))
        assert numbers(store.query(order="oldest")) == [1, 2, 3]
        assert channel.stored == 3
        assert threading.current_thread() not in threads

    def test_retains_every_interval(self, tmp_path: Path, clock: FakeClock) -> None:
        """A send applies retention at first and then once every retain_every seconds, not in between."""
        with EventStore(tmp_path / "e.db", max_age=5, clock=clock) as store:
            channel = SqliteChannel(store, clock=clock, retain_every=60)
            clock.run(channel.send([event(0)]))
            clock.advance(30)
            clock.run(channel.send([event(1)]))  # event 0 is 30 s old, but no retention is due
            assert store.count() == 2
            clock.advance(30)
            clock.run(channel.send([event(2)]))
            assert channel.last_retained.by_age == 2
            assert numbers(store.query()) == [2]

    def test_a_failed_write_is_a_retryable_delivery_error(self, store: EventStore, clock: FakeClock) -> None:
        """A sqlite failure in send() is a retryable DELIVERY_001 naming the store's file."""
        channel = SqliteChannel(store, clock=clock)

        def full(batch: Iterable[Event]) -> int:
            raise sqlite3.OperationalError("database or disk is full")

        store.append = full  # type: ignore[method-assign,assignment]
        with pytest.raises(DeliveryError) as caught:
            clock.run(channel.send([event(1)]))
        assert (caught.value.code, caught.value.retryable) == ("DELIVERY_001", True)
        assert str(store.path) in str(caught.value)

    def test_composes_with_delivery(self, store: EventStore, clock: FakeClock) -> None:
        """Delivery retries a failed write and the retry stores the batch once."""
        channel = SqliteChannel(store, clock=clock)
        real_append = store.append
        calls: list[int] = []

        def flaky(batch: Iterable[Event]) -> int:
            batch = list(batch)
            calls.append(len(batch))
            if len(calls) == 1:
                raise sqlite3.OperationalError("database is locked")
            return real_append(batch)

        store.append = flaky  # type: ignore[method-assign,assignment]
        delivery = Delivery("sqlite", channel, retry=RetryPolicy(max_retries=2), clock=clock)
        assert clock.run(delivery.deliver([event(1), event(2)])) is True
        assert (calls, store.count()) == ([2, 2], 2)


class TestSendOrder:
    def test_batches_sent_at_once_commit_in_the_order_sent(self, store: EventStore, clock: FakeClock) -> None:
        """The dispatcher keeps several batches in flight: the second may not commit while the first is
        still being written (without the turns, its worker thread overtakes the first one's)."""
        import asyncio

        channel = SqliteChannel(store, clock=clock)
        calls: list[tuple[str, int]] = []
        gate = threading.Event()
        real = channel._write

        def write(batch: list[Event], retain: bool) -> object:
            calls.append(("start", batch[0].data["n"]))  # type: ignore[index, call-overload]
            if batch[0].data["n"] == 0:  # type: ignore[index, call-overload]
                gate.wait(5)
            result = real(batch, retain)
            calls.append(("end", batch[0].data["n"]))  # type: ignore[index, call-overload]
            return result

        channel._write = write  # type: ignore[assignment, method-assign]

        async def main() -> None:
            first = asyncio.ensure_future(channel.send([event(0)]))
            second = asyncio.ensure_future(channel.send([event(1)]))
            for _ in range(2000):  # real turns of the loop: time for the second's thread, if it ran
                await asyncio.sleep(0)
                if len(calls) >= 2:
                    break
            gate.set()
            await asyncio.gather(first, second)

        asyncio.run(main())
        assert calls == [("start", 0), ("end", 0), ("start", 1), ("end", 1)]
        assert numbers(store.query(order="oldest")) == [0, 1]
