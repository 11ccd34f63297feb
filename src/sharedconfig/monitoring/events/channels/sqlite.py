"""The embedded event store: an append-only SQLite database of events (WAL, one writer) with retention.

``EventStore`` appends, queries (filters, keyset pages), follows and retains; ``SqliteChannel`` is its
``async send(batch)`` side for the dispatcher, running the blocking writes on a worker thread.
"""

from __future__ import annotations

import asyncio
import math
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal

from sharedconfig.clock import SYSTEM_CLOCK, Clock, to_thread
from sharedconfig.errors import ConfigError, DeliveryError, Location, ValidationError
from sharedconfig.monitoring.events.channel import ChannelContext, DeliveryChannel
from sharedconfig.monitoring.events.encoding import from_structured, redacted, to_structured
from sharedconfig.monitoring.events.event import Category, Event, Severity
from sharedconfig.monitoring.metrics.push import Batch

if TYPE_CHECKING:
    from sharedconfig.monitoring.settings import SqliteChannelSettings

__all__ = [
    "SCHEMA_VERSION",
    "EventFilter",
    "EventStore",
    "EventStoreError",
    "Page",
    "Record",
    "Retained",
    "SqliteChannel",
    "StoreChannel",
    "build",
]

SCHEMA_VERSION: Final = 1
"""The version of the database layout this code writes; a newer one is refused (``CONFIG_031``)."""

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_US: Final = timedelta(microseconds=1)
_GLOB_META: Final = frozenset("*?[")
_IDLE_READERS: Final = 4  # reader connections kept open between queries; more are opened on demand

# AUTOINCREMENT: a seq is never reused, even after retention deleted the newest rows, so a cursor held
# by a reader always means "after this point". The indexed columns are what the filters read.
_SCHEMA: Final = (
    "CREATE TABLE schema_version (version INTEGER NOT NULL)",
    """CREATE TABLE events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        source TEXT NOT NULL,
        id TEXT NOT NULL,
        type TEXT NOT NULL,
        subject TEXT,
        severity INTEGER NOT NULL,
        category TEXT NOT NULL,
        trace_id TEXT,
        time_us INTEGER NOT NULL,
        stored_us INTEGER NOT NULL,
        body BLOB NOT NULL,
        UNIQUE (source, id)
    )""",
    "CREATE INDEX events_type ON events (type)",
    "CREATE INDEX events_subject ON events (subject)",
    "CREATE INDEX events_trace_id ON events (trace_id)",
    "CREATE INDEX events_time ON events (time_us)",
    "CREATE INDEX events_stored ON events (stored_us)",
)


class EventStoreError(ConfigError):
    """The event store's file cannot be used (``CONFIG_031``): not a database, corrupt, of a newer schema
    version, or not writable; or the store was used after ``close()``."""

    default_code = "CONFIG_031"


def _store_error(path: Path | str, message: str, hint: str | None = None) -> EventStoreError:
    return EventStoreError(
        message, location=Location("file", str(path)), hint=hint, component="events.sqlite"
    )


def _bad_value(message: str, path: str, code: str, hint: str | None = None) -> ValidationError:
    return ValidationError(
        message, code=code, path=path, hint=hint, location=Location("option", path), component="events"
    )


def _micros(value: datetime) -> int:
    return (value - _EPOCH) // _US


@dataclass(frozen=True, slots=True)
class EventFilter:
    """What ``query``/``follow`` return; every field given must match (None: any).

    ``type`` is exact, or a prefix when it ends in ``.*`` (``config.*``: ``config.reloaded`` and
    ``config.x.y``, not ``config`` itself); a tuple of them matches any (the API's repeated ``type``
    parameter); ``severity`` is "at least"; ``subject`` is exact, or a glob
    (``*``, ``?``, ``[...]``, case-sensitive) when it has one of those; ``since`` is inclusive and
    ``until`` exclusive, on the event's ``time`` (its arrival time when it had none). Strings are taken
    for the enums, so an API layer passes its query parameters through; a wrong one is ``VALIDATION_006``.
    """

    type: str | tuple[str, ...] | None = None
    severity: Severity | None = None
    category: Category | None = None
    subject: str | None = None
    trace_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def __post_init__(self) -> None:
        for name, enum in (("severity", Severity), ("category", Category)):
            value = getattr(self, name)
            if value is not None and type(value) is not enum:
                try:
                    object.__setattr__(self, name, enum(value))
                except ValueError:
                    allowed = ", ".join(m.value for m in enum)
                    raise _bad_value(
                        f"{name} must be one of {allowed}, not {value!r}", name, "VALIDATION_006"
                    ) from None
        for name in ("since", "until"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, datetime) or value.utcoffset() is None):
                raise _bad_value(
                    f"{name} must be an aware datetime, not {value!r}",
                    name,
                    "VALIDATION_008",
                    "Give a time zone, e.g. 2026-12-07T20:35:00Z.",
                )
        if isinstance(self.type, list | tuple):
            types = tuple(self.type)
            if not types or not all(isinstance(t, str) and t for t in types):
                raise _bad_value(
                    "type must be a non-empty string or a tuple of them", "type", "VALIDATION_008"
                )
            object.__setattr__(self, "type", types[0] if len(types) == 1 else types)
        for name in ("type", "subject", "trace_id"):
            value = getattr(self, name)
            if name == "type" and isinstance(value, tuple):
                continue
            if value is not None and (not isinstance(value, str) or not value):
                raise _bad_value(f"{name} must be a non-empty string", name, "VALIDATION_008")

    def _where(self) -> tuple[list[str], list[object]]:
        clauses: list[str] = []
        args: list[object] = []
        if self.type is not None:
            types = (self.type,) if isinstance(self.type, str) else self.type
            alternatives = []
            for kind in types:
                if kind.endswith(".*"):
                    alternatives.append("type GLOB ?")
                    args.append(_glob_literal(kind[:-1]) + "*")
                else:
                    alternatives.append("type = ?")
                    args.append(kind)
            clauses.append(alternatives[0] if len(alternatives) == 1 else f"({' OR '.join(alternatives)})")
        if self.severity is not None:
            clauses.append("severity >= ?")
            args.append(self.severity.rank)
        if self.category is not None:
            clauses.append("category = ?")
            args.append(self.category.value)
        if self.subject is not None:
            clauses.append("subject GLOB ?" if _GLOB_META & set(self.subject) else "subject = ?")
            args.append(self.subject)
        if self.trace_id is not None:
            clauses.append("trace_id = ?")
            args.append(self.trace_id.lower())
        if self.since is not None:
            clauses.append("time_us >= ?")
            args.append(_micros(self.since))
        if self.until is not None:
            clauses.append("time_us < ?")
            args.append(_micros(self.until))
        return clauses, args


def _glob_literal(text: str) -> str:
    """``text`` as a GLOB pattern that matches only itself (each metacharacter in brackets)."""
    return "".join(f"[{c}]" if c in _GLOB_META else c for c in text)


@dataclass(frozen=True, slots=True)
class Record:
    """One stored event and its cursor (a monotonically increasing sequence number, never reused)."""

    cursor: int
    event: Event


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a query: the records in the order asked for, and the cursor of the next page.

    ``next_cursor`` is None when this is the last page (of a query) ; ``follow`` always gives one: the
    cursor to pass next time, the one passed when nothing new arrived.
    """

    records: tuple[Record, ...]
    next_cursor: int | None

    @property
    def events(self) -> tuple[Event, ...]:
        """The events of the page, in order."""
        return tuple(r.event for r in self.records)


@dataclass(frozen=True, slots=True)
class Retained:
    """What one ``retain()`` deleted: rows older than ``max_age``, then the oldest rows over ``max_bytes``."""

    by_age: int = 0
    by_size: int = 0

    @property
    def deleted(self) -> int:
        """Rows deleted in all."""
        return self.by_age + self.by_size


Order = Literal["newest", "oldest"]


class EventStore:
    """An append-only SQLite event store: ``append`` (one writer), ``query``/``follow`` (any threads), and
    ``retain`` by age and size.

    The file is created when missing, in WAL mode with ``synchronous=NORMAL`` (a power cut may lose the
    last commits, never corrupt the file) and incremental auto-vacuum, so that ``retain`` gives the pages
    it frees back to the file system. Events are stored as their structured CloudEvents JSON (redacted,
    as every encoder does) beside the columns the filters read. Appends are idempotent on
    ``(source, id)``: a duplicate of at-least-once delivery is ignored. One connection writes, under a
    lock; each query borrows a reader connection of its own, so readers never wait for the writer.

    ``max_age`` (seconds, on the arrival time ``clock.wall()``) and ``max_bytes`` (the database file
    without its WAL; ``page_count * page_size``) bound what ``retain`` keeps; None keeps everything.
    A file that is not a database, is corrupt or was written by a newer version is ``CONFIG_031``.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        max_age: float | None = None,
        max_bytes: int | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if max_age is not None and not max_age > 0:
            raise _bad_value(f"max_age must be positive, not {max_age!r}", "max_age", "VALIDATION_003")
        if max_bytes is not None and not max_bytes > 0:
            raise _bad_value(f"max_bytes must be positive, not {max_bytes!r}", "max_bytes", "VALIDATION_003")
        self.path = Path(path)
        self.max_age = max_age
        self.max_bytes = max_bytes
        self._clock = clock
        self._write_lock = threading.Lock()
        self._pool_lock = threading.Lock()
        self._readers: list[sqlite3.Connection] = []
        self._closed = False
        self._writer = self._open_writer()

    # -- opening ------------------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        # autocommit mode (isolation_level=None): transactions are the explicit BEGIN/COMMIT below;
        # check_same_thread=False: a connection moves between threads, never used by two at once
        return sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30.0)

    def _open_writer(self) -> sqlite3.Connection:
        try:
            connection = self._connect()
        except sqlite3.Error as exc:
            raise _store_error(
                self.path,
                f"cannot open the event store: {exc}",
                "Check that the directory exists and is writable by the service's user.",
            ) from None
        try:
            self._prepare(connection)
        except EventStoreError:
            connection.close()
            raise
        except sqlite3.Error as exc:
            connection.close()
            raise _store_error(
                self.path,
                f"the event store is not a usable SQLite database: {exc}",
                "Move the file away (the service creates a new store) or point the sqlite channel at "
                "another path; sqlite3's .recover may save what it holds.",
            ) from None
        return connection

    def _prepare(self, connection: sqlite3.Connection) -> None:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if not tables:
            connection.execute("PRAGMA auto_vacuum = INCREMENTAL")  # only takes before the first table
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute("BEGIN IMMEDIATE")
            try:
                for statement in _SCHEMA:
                    connection.execute(statement)
                connection.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise
        elif "schema_version" not in tables or "events" not in tables:
            raise _store_error(
                self.path,
                "the file is a SQLite database but not an event store",
                "Point the sqlite channel at a file of its own.",
            )
        else:
            row = connection.execute("SELECT max(version) FROM schema_version").fetchone()
            version = row[0] if row else None
            if version != SCHEMA_VERSION:
                raise _store_error(
                    self.path,
                    f"the event store has schema version {version}; this sharedconfig reads version "
                    f"{SCHEMA_VERSION}",
                    "A newer sharedconfig wrote it: upgrade this one, or move the file away to start a "
                    "new store.",
                )
            connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA synchronous = NORMAL")
        # the WAL file is truncated back to this size after each checkpoint, so it stays small
        connection.execute("PRAGMA journal_size_limit = 4194304")

    def _check_open(self) -> None:
        if self._closed:
            raise _store_error(self.path, "the event store is closed")

    # -- writing ------------------------------------------------------------------------------------

    def append(self, events: Iterable[Event]) -> int:
        """Store ``events`` in one transaction; how many were new (a ``(source, id)`` seen before is
        ignored). Every event is encoded first, so one that cannot be (``VALIDATION_050``) stores none."""
        stored_us = _micros(self._clock.wall())
        rows = []
        for given in events:
            event = redacted(given)
            trace_id = event.trace_id
            rows.append(
                (
                    event.source,
                    event.id,
                    event.type,
                    event.subject,
                    event.severity.rank,
                    event.category.value,
                    trace_id,
                    _micros(event.time) if event.time is not None else stored_us,
                    stored_us,
                    to_structured(event),
                )
            )
        if not rows:
            return 0
        with self._write_lock:
            self._check_open()
            connection = self._writer
            before = connection.total_changes
            connection.execute("BEGIN IMMEDIATE")
            try:
                connection.executemany(
                    "INSERT OR IGNORE INTO events (source, id, type, subject, severity, category, "
                    "trace_id, time_us, stored_us, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )
                connection.execute("COMMIT")
            except BaseException:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise
            return connection.total_changes - before

    def retain(self) -> Retained:
        """Delete events that arrived more than ``max_age`` ago, then the oldest until the database fits
        ``max_bytes``; free pages go back to the file system (incremental vacuum)."""
        with self._write_lock:
            self._check_open()
            connection = self._writer
            by_age = 0
            if self.max_age is not None:
                cutoff = _micros(self._clock.wall()) - round(self.max_age * 1_000_000)
                by_age = connection.execute("DELETE FROM events WHERE stored_us < ?", (cutoff,)).rowcount
            by_size = 0
            if self.max_bytes is not None:
                by_size = self._shrink(connection, self.max_bytes)
            if by_age or by_size:
                # executescript steps the pragma to its end; execute() would free only one page
                connection.executescript("PRAGMA incremental_vacuum;")
            return Retained(by_age=by_age, by_size=by_size)

    @staticmethod
    def _used_bytes(connection: sqlite3.Connection) -> int:
        pages = connection.execute("PRAGMA page_count").fetchone()[0]
        free = connection.execute("PRAGMA freelist_count").fetchone()[0]
        size = connection.execute("PRAGMA page_size").fetchone()[0]
        return int((pages - free) * size)

    def _shrink(self, connection: sqlite3.Connection, max_bytes: int) -> int:
        """Delete the oldest rows until the pages in use fit ``max_bytes`` (or no row is left)."""
        deleted = 0
        while (used := self._used_bytes(connection)) > max_bytes:
            count = connection.execute("SELECT count(*) FROM events").fetchone()[0]
            if not count:
                break
            # rows cost about used/count bytes each; a tenth more than the estimate, so that a few
            # rounds at most reach the bound while rows of unequal size are deleted
            excess = used - max_bytes
            batch = min(count, max(1, math.ceil(excess / (used / count) * 1.1)))
            deleted += connection.execute(
                "DELETE FROM events WHERE seq IN (SELECT seq FROM events ORDER BY seq LIMIT ?)", (batch,)
            ).rowcount
        return deleted

    # -- reading ------------------------------------------------------------------------------------

    def _borrow(self) -> sqlite3.Connection:
        with self._pool_lock:
            self._check_open()
            if self._readers:
                return self._readers.pop()
        try:
            connection = self._connect()
            connection.execute("PRAGMA query_only = ON")
        except sqlite3.Error as exc:
            raise _store_error(self.path, f"cannot open the event store for reading: {exc}") from None
        return connection

    def _give_back(self, connection: sqlite3.Connection) -> None:
        with self._pool_lock:
            if not self._closed and len(self._readers) < _IDLE_READERS:
                self._readers.append(connection)
                return
        connection.close()

    def _select(self, sql: str, args: Sequence[object]) -> list[tuple[int, bytes]]:
        connection = self._borrow()
        try:
            return connection.execute(sql, args).fetchall()
        finally:
            self._give_back(connection)

    def _records(self, rows: Sequence[tuple[int, bytes]]) -> tuple[Record, ...]:
        return tuple(
            Record(
                seq, from_structured(body, location=Location("file", str(self.path), variable=f"seq {seq}"))
            )
            for seq, body in rows
        )

    def query(
        self,
        filters: EventFilter | None = None,
        *,
        limit: int = 100,
        after: int | None = None,
        order: Order = "newest",
    ) -> Page:
        """One page of the events matching ``filters``: ``order`` ``"newest"`` first (the default) or
        ``"oldest"`` first, at most ``limit``, starting after the cursor ``after`` in that order.

        Pages are by cursor (keyset), so appends while paging neither repeat nor skip an event: newest
        first, new events land before the first page; oldest first, they come on the last pages.
        """
        if type(limit) is not int or limit < 1:
            raise _bad_value(
                f"limit must be a whole number of at least 1, not {limit!r}", "limit", "VALIDATION_003"
            )
        if order not in ("newest", "oldest"):
            raise _bad_value(f"order must be 'newest' or 'oldest', not {order!r}", "order", "VALIDATION_006")
        clauses, args = (filters or EventFilter())._where()
        if after is not None:
            clauses.append("seq < ?" if order == "newest" else "seq > ?")
            args.append(after)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        direction = "DESC" if order == "newest" else "ASC"
        rows = self._select(
            f"SELECT seq, body FROM events{where} ORDER BY seq {direction} LIMIT ?", [*args, limit + 1]
        )
        records = self._records(rows[:limit])
        return Page(records, records[-1].cursor if len(rows) > limit else None)

    def follow(self, after: int, filters: EventFilter | None = None, *, limit: int = 1000) -> Page:
        """The matching events stored after the cursor ``after``, oldest first, and the cursor to pass next
        (``after`` itself when nothing came): one step of ``tail --follow`` or an SSE stream, whose loop
        (and wait) is the caller's. Start from ``last_cursor()`` for only what is new."""
        page = self.query(filters, limit=limit, after=after, order="oldest")
        return Page(page.records, page.records[-1].cursor if page.records else after)

    def last_cursor(self) -> int:
        """The cursor of the newest event ever stored (0 for a new store): ``follow`` from here."""
        connection = self._borrow()
        try:
            row = connection.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
        finally:
            self._give_back(connection)
        return int(row[0]) if row else 0

    def count(self) -> int:
        """How many events the store holds."""
        connection = self._borrow()
        try:
            return int(connection.execute("SELECT count(*) FROM events").fetchone()[0])
        finally:
            self._give_back(connection)

    # -- closing ------------------------------------------------------------------------------------

    def close(self) -> None:
        """Close every connection (a checkpoint folds the WAL into the file); idempotent."""
        with self._write_lock, self._pool_lock:
            if self._closed:
                return
            self._closed = True
            readers, self._readers = self._readers, []
        for connection in readers:
            connection.close()
        self._writer.close()

    def __enter__(self) -> EventStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"EventStore({str(self.path)!r}, max_age={self.max_age}, max_bytes={self.max_bytes})"


class SqliteChannel:
    """The sqlite channel: ``await send(batch)`` appends to an ``EventStore`` on a worker thread
    (``clock.to_thread``), so the dispatcher treats it as any other channel (a ``Delivery`` sender).

    Sends take turns (an asyncio lock, first come first served), so the batches the dispatcher has in
    flight at once are stored in the order they were sent, and ``events tail`` reads events in publish
    order. A failed write (the disk full, the file locked too long) is a retryable ``DeliveryError``
    (``DELIVERY_001``); the batch is all or nothing, and a retry stores only what is new. Every
    ``retain_every`` seconds of ``clock`` a send also applies the store's retention, on the same thread.
    The channel does not own the store: whoever opened it (it also serves the API) closes it.
    """

    def __init__(self, store: EventStore, *, clock: Clock = SYSTEM_CLOCK, retain_every: float = 60.0) -> None:
        self.store = store
        self._clock = clock
        self._retain_every = retain_every
        self._next_retain = clock.now()  # the first send retains: a restarted process catches up
        self._turns: dict[asyncio.AbstractEventLoop, asyncio.Lock] = {}  # one per loop: a fork renews it
        self.stored = 0
        """Events the store did not have before (duplicates of a retry not counted)."""
        self.last_retained = Retained()
        """What the last retention deleted."""

    def _write(self, batch: Sequence[Event], retain: bool) -> tuple[int, Retained | None]:
        added = self.store.append(batch)
        return added, self.store.retain() if retain else None

    async def send(self, payload: Batch[Event] | Sequence[Event]) -> None:
        """Store the batch; return only when it is committed."""
        if isinstance(payload, Batch):
            payload = payload.items
        loop = asyncio.get_running_loop()
        turn = self._turns.get(loop)
        if turn is None:
            self._turns = {loop: (turn := asyncio.Lock())}
        async with turn:  # the store has one writer: batches commit in the order they were sent
            await self._store(payload)

    async def _store(self, payload: Sequence[Event]) -> None:
        retain = self._clock.now() >= self._next_retain
        try:
            added, retained = await to_thread(lambda: self._write(payload, retain))
        except sqlite3.Error as exc:
            raise DeliveryError(
                f"sqlite: cannot store {len(payload)} events: {exc}",
                retryable=True,
                component="events.sqlite",
                location=Location("file", str(self.store.path)),
            ) from None
        self.stored += added
        if retained is not None:
            self.last_retained = retained
            self._next_retain = self._clock.now() + self._retain_every

    def __repr__(self) -> str:
        return f"SqliteChannel({self.store!r})"


@dataclass(eq=False)
class StoreChannel:
    """The ``sqlite`` channel of ``monitoring.events``: delivers through ``channel`` (a ``SqliteChannel``
    sender with retries and a dead-letter file), and its ``store`` answers ``/api/v1/events``, the SSE
    stream and ``sharedconfig events tail``. The store outlives a stop (Monitoring may start again): the
    events part closes it when it is released."""

    channel: DeliveryChannel
    store: EventStore

    @property
    def name(self) -> str:
        """The channel's name (``sqlite`` unless configured)."""
        return self.channel.name

    async def deliver(self, events: Sequence[Event]) -> int:
        """Append ``events``; how many were committed (a failed write is retried, then dead-lettered)."""
        return await self.channel.deliver(events)

    async def aclose(self) -> None:
        """Release the delivery (the store stays open: the API may still read it)."""
        await self.channel.aclose()


def build(settings: SqliteChannelSettings, ctx: ChannelContext) -> StoreChannel:
    """The ``sqlite`` channel from its settings (entry point ``sqlite`` of ``sharedconfig.channels``)."""
    store = EventStore(
        settings.path,
        max_age=settings.max_age.total_seconds(),
        max_bytes=settings.max_bytes,
        clock=ctx.clock,
    )
    return StoreChannel(ctx.channel(SqliteChannel(store, clock=ctx.clock), settings), store)
