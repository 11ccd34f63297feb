"""The bounded buffer between ``publish`` and the dispatcher: ``offer`` never blocks, never raises.

When the buffer is full the policy decides: ``spill`` (journal on disk, resent in order as the buffer
drains), ``drop_oldest`` or ``drop_newest``. Every item that does not reach the dispatcher is counted by
reason. Generic over the item type: the caller gives ``serialize``/``deserialize`` for the journal.

Who does the file I/O: never ``offer``. A spilled item waits in a small in-memory backlog (bounded too)
until the dispatcher's side calls ``write_spilled()`` (from a thread, e.g. ``clock.to_thread`` on the
monitoring runtime); ``take()`` reads the journal back when the memory is empty. So a slow disk slows
the dispatcher, not the publisher, and the buffer owns no thread of its own. The writer waits with
``wait_spilled(want=...)``: a publisher wakes it only when the backlog reaches ``want``, so spilling
costs a wake-up once per ``want`` items, not once per write. Order across a spill is
kept: once something is spilled, new items follow it through the journal until the journal is drained.

Drop reasons (``DropReason``): ``drop_oldest`` / ``drop_newest`` (the policies), ``journal_full`` (the
journal's size cap), ``journal_error`` (disk full, unwritable: after a failure the buffer drops instead
of spilling until ``journal_retry`` seconds have passed), ``spill_backlog`` (the backlog waiting for
``write_spilled`` is full), ``undecodable`` (a journal record ``deserialize`` rejected) and ``shutdown`` (a
stop without a journal: what was not delivered is lost).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from sharedconfig.clock import SYSTEM_CLOCK, Clock, wait
from sharedconfig.monitoring.events.journal import Journal

__all__ = ["Batch", "DropReason", "EventBuffer", "Offer", "OverflowPolicy"]

T = TypeVar("T")


class OverflowPolicy(enum.StrEnum):
    """What ``offer`` does when the buffer holds ``capacity`` items."""

    SPILL = "spill"
    DROP_OLDEST = "drop_oldest"
    DROP_NEWEST = "drop_newest"


class Offer(enum.Enum):
    """What happened to an offered item."""

    ACCEPTED = "accepted"
    SPILLED = "spilled"
    DROPPED_OLDEST = "dropped_oldest"
    """Accepted; the oldest buffered item was dropped to make room."""
    DROPPED_NEWEST = "dropped_newest"
    """This item was dropped (``drop_newest``, or spilling is impossible right now)."""


class DropReason(enum.StrEnum):
    """The ``reason`` label of ``events_dropped_total``."""

    DROP_OLDEST = "drop_oldest"
    DROP_NEWEST = "drop_newest"
    JOURNAL_FULL = "journal_full"
    JOURNAL_ERROR = "journal_error"
    SPILL_BACKLOG = "spill_backlog"
    UNDECODABLE = "undecodable"
    SHUTDOWN = "shutdown"
    """Not delivered by a stop, with no journal to keep it for the next start."""


@dataclass(frozen=True, slots=True)
class Batch(Generic[T]):
    """Items taken for delivery, oldest first; ``ack(batch)`` after delivering them (in the order taken)."""

    items: list[T]
    journaled: int = 0
    """How many journal records this batch settles: acknowledged in the journal by ``ack``."""


class _Waiter:
    """One asyncio future that a thread wakes when the buffer holds ``want`` items."""

    __slots__ = ("future", "loop", "want")

    def __init__(self, want: int) -> None:
        self.loop = asyncio.get_running_loop()
        self.future: asyncio.Future[None] = self.loop.create_future()
        self.want = want

    def wake(self) -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed: nobody is waiting any more
            self.loop.call_soon_threadsafe(_resolve, self.future)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class EventBuffer(Generic[T]):
    """A bounded, thread-safe FIFO of items with an overflow policy and an optional journal.

    ``offer`` is a deque append under a lock (and, while spilling, a second one); all I/O happens in
    ``write_spilled``, ``take`` and ``drain_to_journal``, which the dispatcher calls.
    """

    def __init__(
        self,
        capacity: int,
        *,
        policy: OverflowPolicy = OverflowPolicy.SPILL,
        journal: Journal | None = None,
        serialize: Callable[[T], bytes] | None = None,
        deserialize: Callable[[bytes], T] | None = None,
        spill_backlog: int | None = None,
        journal_retry: float = 30.0,
        clock: Clock = SYSTEM_CLOCK,
        on_drop: Callable[[DropReason, int], None] | None = None,
    ) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        if journal is not None and (serialize is None or deserialize is None):
            raise ValueError("a journal needs serialize and deserialize")
        if policy is OverflowPolicy.SPILL and journal is None:
            raise ValueError("the spill policy needs a journal")
        self.capacity = capacity
        self.policy = policy
        self.journal = journal
        self._serialize = serialize
        self._deserialize = deserialize
        self.spill_backlog = spill_backlog if spill_backlog is not None else capacity
        """How many spilled items may wait for ``write_spilled``; more are dropped as ``spill_backlog``."""
        self._journal_retry = journal_retry
        self._clock = clock
        self._on_drop = on_drop
        self._lock = threading.Lock()
        self._mem: deque[T] = deque()
        self._from_journal = 0  # items at the head of _mem read from the journal (not yet taken)
        self._credit = 0  # undecodable journal records, acknowledged with the last item of their read
        self._backlog: deque[T] = deque()  # spilled, waiting for write_spilled
        self._writing = 0  # taken from the backlog by write_spilled, not yet in the journal
        self._write_lock = threading.Lock()  # one write_spilled at a time keeps the journal in order
        # a journal left by an earlier process holds older items: new ones queue behind it
        self._spilling = journal is not None and journal.unread > 0
        self._journal_down_until: float | None = None
        self._dropped: dict[DropReason, int] = dict.fromkeys(DropReason, 0)
        self._waiter: _Waiter | None = None
        self._spill_waiter: _Waiter | None = None

    # ------------------------------------------------------------------ the publisher's side

    def offer(self, item: T) -> Offer:
        """Add ``item`` (O(1), no I/O, never raises); what happened is the return value."""
        with self._lock:
            mem = self._mem
            if self._spilling:  # order: while anything waits on disk, new items queue behind it
                spilled = self._spill(item)
                if spilled is None:
                    return Offer.SPILLED
                reason, outcome = spilled, Offer.DROPPED_NEWEST
            elif len(mem) < self.capacity:
                mem.append(item)
                waiter = self._waiter
                if waiter is not None and len(mem) >= waiter.want:
                    self._waiter = None
                    waiter.wake()
                return Offer.ACCEPTED
            elif self.policy is OverflowPolicy.DROP_OLDEST:
                mem.popleft()
                if self._from_journal:  # a journal record dropped: still acknowledged, in order
                    self._from_journal -= 1
                    self._credit += 1
                mem.append(item)
                self._dropped[DropReason.DROP_OLDEST] += 1
                reason, outcome = DropReason.DROP_OLDEST, Offer.DROPPED_OLDEST
            elif self.policy is OverflowPolicy.DROP_NEWEST:
                self._dropped[DropReason.DROP_NEWEST] += 1
                reason, outcome = DropReason.DROP_NEWEST, Offer.DROPPED_NEWEST
            else:
                spilled = self._spill(item)
                if spilled is None:
                    return Offer.SPILLED
                reason, outcome = spilled, Offer.DROPPED_NEWEST
        self._report(reason, 1)
        return outcome

    def _spill(self, item: T) -> DropReason | None:
        """Queue ``item`` for the journal (lock held); the drop reason when that is impossible."""
        if self._journal_down_until is not None:
            if self._clock.now() < self._journal_down_until:
                self._dropped[DropReason.JOURNAL_ERROR] += 1
                return DropReason.JOURNAL_ERROR
            self._journal_down_until = None
        if len(self._backlog) >= self.spill_backlog:
            self._dropped[DropReason.SPILL_BACKLOG] += 1
            return DropReason.SPILL_BACKLOG
        self._spilling = True
        self._backlog.append(item)
        spill_waiter, waiter = self._spill_waiter, self._waiter
        if spill_waiter is not None and len(self._backlog) >= spill_waiter.want:
            self._spill_waiter = None
            spill_waiter.wake()  # a socket write, letting other threads in: once per ``want`` items
        if waiter is not None and len(self) >= waiter.want:
            self._waiter = None
            waiter.wake()
        return None

    def _report(self, reason: DropReason, n: int) -> None:
        if self._on_drop is not None and n:
            with contextlib.suppress(Exception):  # a metrics problem must never reach publish()
                self._on_drop(reason, n)

    # ------------------------------------------------------------------ the dispatcher's side

    def __len__(self) -> int:
        """Items waiting for delivery: in memory, in the spill backlog and unread in the journal."""
        unread = self.journal.unread if self.journal is not None else 0
        return len(self._mem) + len(self._backlog) + self._writing + unread

    @property
    def spilled(self) -> int:
        """Items in the spill backlog, waiting for ``write_spilled``."""
        return len(self._backlog)

    def dropped(self) -> Mapping[DropReason, int]:
        """Drops so far, by reason (every reason present, zero included)."""
        with self._lock:
            return dict(self._dropped)

    def take(self, n: int) -> Batch[T]:
        """Up to ``n`` items, oldest first, refilled from the journal when memory is empty (may do I/O)."""
        if not self._mem and (self._spilling or (self.journal is not None and self.journal.unread)):
            self.write_spilled()  # what waits in the backlog goes behind the journal, then comes back
            self._refill()
        with self._lock:
            mem = self._mem
            items = [mem.popleft() for _ in range(min(n, len(mem)))]
            journaled = min(len(items), self._from_journal)
            self._from_journal -= journaled
            if not self._from_journal and self._credit:
                journaled, self._credit = journaled + self._credit, 0
            return Batch(items, journaled)

    def ack(self, batch: Batch[T]) -> None:
        """``batch`` was delivered (or dead-lettered): its journal records are never resent."""
        if batch.journaled and self.journal is not None:
            self.journal.ack(batch.journaled)

    def _refill(self) -> None:
        """Move up to ``capacity`` journal records into memory, oldest first; end the spill when drained."""
        assert self.journal is not None
        assert self._deserialize is not None
        items: list[T] = []
        bad = 0
        for payload in self.journal.read(self.capacity):
            try:
                items.append(self._deserialize(payload))
            except Exception:  # a record this version cannot read is counted, not fatal
                bad += 1
        with self._lock:
            self._mem.extend(items)
            self._from_journal += len(items)
            self._credit += bad
            self._dropped[DropReason.UNDECODABLE] += bad
            self._end_spill_if_drained()
        self._report(DropReason.UNDECODABLE, bad)

    def _end_spill_if_drained(self) -> None:
        """New items may go to memory again once nothing waits on disk or for it (lock held)."""
        assert self.journal is not None
        if not self._backlog and not self._writing and self.journal.unread == 0:
            self._spilling = False

    def write_spilled(self) -> int:
        """Write the spill backlog to the journal (file I/O: from the dispatcher's side); how many."""
        if self.journal is None:
            return 0
        with self._write_lock:
            with self._lock:
                items = list(self._backlog)
                self._backlog.clear()
                self._writing = len(items)
            if not items:
                return 0
            return self._write(items)

    def drain_to_journal(self, unfinished: Sequence[T] = ()) -> int:
        """At stop: journal every item still in memory or the backlog, so a restart resends it; written.

        ``unfinished`` are items taken but not delivered (a delivery the stop cut short, none of them read
        from the journal): they are written first, being the oldest. Items that came from the journal are
        still there (un-acknowledged) and are not written twice. Without a journal nothing is written and
        everything is counted as ``shutdown``: a stop without a journal loses what it has not delivered.
        """
        if self.journal is None:
            with self._lock:
                lost = len(unfinished) + len(self._mem) + len(self._backlog)
                self._mem.clear()
                self._backlog.clear()
                self._from_journal = 0
                self._dropped[DropReason.SHUTDOWN] += lost
            self._report(DropReason.SHUTDOWN, lost)
            return 0
        with self._write_lock:
            with self._lock:
                mem = list(self._mem)[self._from_journal :]
                items = list(unfinished) + mem + list(self._backlog)
                self._backlog.clear()
                for _ in range(len(mem)):
                    self._mem.pop()
                self._writing = len(items)
            written = self._write(items) if items else 0
        self.journal.sync()
        return written

    def _write(self, items: list[T]) -> int:
        """Serialize and append ``items`` (write lock held); count what could not be written."""
        assert self.journal is not None
        assert self._serialize is not None
        payloads = [self._serialize(item) for item in items]
        result = self.journal.append(payloads)
        lost = len(items) - result.written
        reason = DropReason.JOURNAL_FULL if result.failure == "full" else DropReason.JOURNAL_ERROR
        with self._lock:
            self._writing = 0
            if lost:
                self._dropped[reason] += lost
                if result.failure == "error":
                    self._journal_down_until = self._clock.now() + self._journal_retry
            if self.journal.unread:
                self._spilling = True  # drain_to_journal: whatever is offered next goes behind
            self._end_spill_if_drained()
        self._report(reason, lost)
        return result.written

    async def wait(self, timeout: float | None, *, want: int = 1, clock: Clock | None = None) -> bool:
        """Wait until ``want`` items can be taken or ``timeout`` seconds of ``clock`` pass; True if they can.

        Journal and backlog items count (``take`` reads them back). A publisher thread wakes the waiting
        loop with one ``call_soon_threadsafe``, only when the count is reached.
        """
        return await self._wait(timeout, want, clock, spill=False)

    async def wait_spilled(self, timeout: float | None, *, want: int = 1, clock: Clock | None = None) -> bool:
        """Wait until the spill backlog holds ``want`` items (time to ``write_spilled``) or ``timeout``
        seconds of ``clock`` pass; True if it does.

        ``want`` (at most ``spill_backlog``) sets how often spilling publishers pay for a wake-up: once per
        ``want`` items. What waits below it is written at the timeout, or by ``take`` when it needs it.
        """
        return await self._wait(timeout, want, clock, spill=True)

    async def _wait(self, timeout: float | None, want: int, clock: Clock | None, *, spill: bool) -> bool:
        want = max(1, min(want, self.spill_backlog if spill else self.capacity))
        with self._lock:
            if (len(self._backlog) if spill else len(self)) >= want:
                return True
            waiter = _Waiter(want)
            if spill:
                self._spill_waiter = waiter
            else:
                self._waiter = waiter
        try:
            done, _ = await wait(clock or self._clock, (waiter.future,), timeout)
        finally:
            with self._lock:
                if self._waiter is waiter:
                    self._waiter = None
                if self._spill_waiter is waiter:
                    self._spill_waiter = None
        if done:
            return True
        with self._lock:
            return (len(self._backlog) if spill else len(self)) >= want
