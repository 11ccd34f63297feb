"""The event buffer: exact drop counts per policy, order across a spill, restart, journal failures, waits."""

from __future__ import annotations

import asyncio
import errno
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from journal_faults import failing_opener

from sharedconfig.monitoring.events.buffer import Batch, DropReason, EventBuffer, Offer, OverflowPolicy
from sharedconfig.monitoring.events.journal import Journal
from sharedconfig.testing import FakeClock
from sharedconfig.testing.compliance import run_in_threads


def encode(item: int) -> bytes:
    return str(item).encode()


def decode(data: bytes) -> int:
    return int(data)


def spilling(journal: Journal, capacity: int = 100, **kwargs: object) -> EventBuffer[int]:
    return EventBuffer(capacity, journal=journal, serialize=encode, deserialize=decode, **kwargs)  # type: ignore[arg-type]


def drain(buffer: EventBuffer[int], batch: int = 7) -> list[int]:
    """Take (and acknowledge) everything, in batches, as a dispatcher would."""
    out: list[int] = []
    for _ in range(10_000):
        taken = buffer.take(batch)
        if not taken.items and not len(buffer):
            return out
        out += taken.items
        buffer.ack(taken)
    raise AssertionError(f"the buffer never emptied: {len(buffer)} items left after {out[-5:]}")


def nonzero(buffer: EventBuffer[int]) -> dict[str, int]:
    return {reason.value: n for reason, n in buffer.dropped().items() if n}


@pytest.fixture
def contention() -> Iterator[None]:
    """Switch threads every microsecond instead of every 5 ms, so that races actually happen."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(before)


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    with Journal(tmp_path / "journal") as j:
        yield j


class TestDropPolicies:
    def test_drop_newest_counts_every_refused_item(self) -> None:
        """Capacity 100, 250 offers: the first 100 stay, 150 are counted as drop_newest."""
        buffer: EventBuffer[int] = EventBuffer(100, policy=OverflowPolicy.DROP_NEWEST)
        outcomes = [buffer.offer(i) for i in range(250)]
        assert outcomes.count(Offer.DROPPED_NEWEST) == 150
        assert (nonzero(buffer), buffer.take(1000).items) == ({"drop_newest": 150}, list(range(100)))

    def test_drop_oldest_keeps_the_newest(self) -> None:
        """Capacity 100, 250 offers: the last 100 stay, 150 are counted as drop_oldest."""
        buffer: EventBuffer[int] = EventBuffer(100, policy=OverflowPolicy.DROP_OLDEST)
        outcomes = [buffer.offer(i) for i in range(250)]
        assert outcomes.count(Offer.DROPPED_OLDEST) == 150
        assert (nonzero(buffer), buffer.take(1000).items) == ({"drop_oldest": 150}, list(range(150, 250)))

    def test_on_drop_hears_every_drop_and_cannot_break_offer(self) -> None:
        """on_drop gets (reason, 1) per drop; when it raises, offer still returns normally."""
        heard: list[tuple[DropReason, int]] = []

        def on_drop(reason: DropReason, n: int) -> None:
            heard.append((reason, n))
            raise RuntimeError("metrics are down")

        buffer: EventBuffer[int] = EventBuffer(2, policy=OverflowPolicy.DROP_NEWEST, on_drop=on_drop)
        for i in range(5):
            buffer.offer(i)
        assert heard == [(DropReason.DROP_NEWEST, 1)] * 3

    @pytest.mark.usefixtures("contention")
    def test_offers_from_many_threads_are_all_accounted_for(self) -> None:
        """Under contention, accepted + dropped equals offered and the buffer never exceeds capacity."""
        buffer: EventBuffer[int] = EventBuffer(100, policy=OverflowPolicy.DROP_OLDEST)
        run_in_threads(lambda: [buffer.offer(i) for i in range(5000)], threads=4)
        assert (len(buffer), buffer.dropped()[DropReason.DROP_OLDEST]) == (100, 19_900)

    def test_a_spill_policy_needs_a_journal(self) -> None:
        """Spilling without a journal is a programming error, refused at construction."""
        with pytest.raises(ValueError, match="journal"):
            EventBuffer(10)


class TestSpill:
    def test_spill_keeps_order_and_drops_nothing(self, journal: Journal) -> None:
        """Capacity 100, 250 offers: 150 spill to disk and come back after the first 100, in order."""
        buffer = spilling(journal, spill_backlog=1000)
        outcomes = [buffer.offer(i) for i in range(250)]
        assert outcomes.count(Offer.SPILLED) == 150
        assert (drain(buffer), nonzero(buffer), journal.unread) == (list(range(250)), {}, 0)

    def test_offers_while_draining_queue_behind_the_journal(self, journal: Journal) -> None:
        """Items offered while a spill drains go behind it, even when memory has room again."""
        buffer = spilling(journal, capacity=10, spill_backlog=1000)
        for i in range(30):
            buffer.offer(i)
        got = buffer.take(5).items
        buffer.offer(30)  # memory has room, but 20 older items wait on disk
        got += drain(buffer)
        assert got == list(range(31))
        assert buffer.offer(31) is Offer.ACCEPTED  # the spill is over: memory again

    def test_spilling_does_no_io_in_offer(self, journal: Journal) -> None:
        """offer only queues a spilled item; write_spilled puts it on disk (the dispatcher's side)."""
        buffer = spilling(journal, capacity=2, spill_backlog=10)
        for i in range(5):
            buffer.offer(i)
        assert (journal.unread, buffer.spilled, len(buffer)) == (0, 3, 5)
        assert (buffer.write_spilled(), journal.unread, buffer.spilled) == (3, 3, 0)

    @pytest.mark.usefixtures("contention")
    def test_concurrent_publishers_and_a_dispatcher_lose_nothing(self, journal: Journal) -> None:
        """Four threads offer while taking batches: every item arrives once, each thread's in its order."""
        buffer: EventBuffer[str] = EventBuffer(
            20, journal=journal, serialize=str.encode, deserialize=bytes.decode, spill_backlog=10_000
        )
        got: list[str] = []
        dispatcher = threading.Lock()  # one dispatcher at a time, whichever thread plays it

        def dispatch(n: int) -> None:
            with dispatcher:
                taken = buffer.take(n)
                got.extend(taken.items)
                buffer.ack(taken)

        def work() -> None:
            me = threading.get_ident()
            for i in range(250):
                buffer.offer(f"{me}:{i:04d}")
                if i % 10 == 0:
                    dispatch(7)

        run_in_threads(work, threads=4)
        for _ in range(1000):
            dispatch(50)
        assert (len(got), len(set(got)), nonzero(buffer)) == (1000, 1000, {})
        by_thread: dict[str, list[str]] = {}
        for item in got:
            by_thread.setdefault(item.split(":")[0], []).append(item)
        assert all(items == sorted(items) for items in by_thread.values())

    def test_a_full_backlog_counts_spill_backlog(self, journal: Journal) -> None:
        """When write_spilled falls behind, the backlog bound holds and the overflow is counted."""
        buffer = spilling(journal, capacity=10, spill_backlog=5)
        for i in range(20):
            buffer.offer(i)
        assert nonzero(buffer) == {"spill_backlog": 5}
        assert drain(buffer) == list(range(15))

    def test_the_journal_size_cap_counts_journal_full(self, tmp_path: Path) -> None:
        """Records the capped journal cannot take are counted as journal_full, the others delivered."""
        with Journal(tmp_path, segment_bytes=64, max_bytes=64) as small:
            buffer = spilling(small, capacity=10, spill_backlog=100)
            for i in range(40):
                buffer.offer(i)
            got = drain(buffer)
            assert got == list(range(len(got)))
            assert nonzero(buffer) == {"journal_full": 40 - len(got)}


class TestJournalFailure:
    def test_an_unwritable_journal_drops_with_journal_error(self, tmp_path: Path) -> None:
        """ENOSPC: spilled items are counted as journal_error, offer never raises, then retries later."""
        failing = [True]
        reports: list[OSError] = []
        clock = FakeClock()
        with Journal(tmp_path, opener=failing_opener(failing), on_error=reports.append) as broken:
            buffer = spilling(broken, capacity=2, spill_backlog=10, journal_retry=30.0, clock=clock)
            for i in range(5):
                buffer.offer(i)
            assert buffer.write_spilled() == 0
            assert nonzero(buffer) == {"journal_error": 3}
            assert buffer.offer(5) is Offer.DROPPED_NEWEST  # still spilling, the journal is down: no wait
            assert nonzero(buffer) == {"journal_error": 4}
            failing[0] = False
            clock.advance(30.0)
            assert buffer.offer(6) is Offer.SPILLED
            assert drain(buffer) == [0, 1, 6]
            assert ([r.errno for r in reports], sum(buffer.dropped().values())) == ([errno.ENOSPC], 4)

    def test_undecodable_records_are_counted_and_acknowledged(self, journal: Journal) -> None:
        """A journal record deserialize rejects is counted as undecodable and never resent."""
        journal.append([b"1", b"not a number", b"3"])
        buffer = spilling(journal)
        assert (drain(buffer), nonzero(buffer), journal.unacked) == ([1, 3], {"undecodable": 1}, 0)


class TestRestart:
    def test_drain_to_journal_lets_a_new_process_resend(self, tmp_path: Path) -> None:
        """At stop, memory and backlog go to the journal; a new buffer on the directory delivers them all."""
        with Journal(tmp_path) as first:
            buffer = spilling(first, capacity=10)
            for i in range(15):
                buffer.offer(i)
            assert buffer.drain_to_journal() == 15
            assert buffer.offer(15) is Offer.SPILLED  # after the drain, newer items still go behind
            buffer.drain_to_journal()
        with Journal(tmp_path) as second:
            assert drain(spilling(second, capacity=10)) == list(range(16))
        with Journal(tmp_path) as third:
            assert len(spilling(third)) == 0

    def test_journal_records_are_not_written_twice(self, tmp_path: Path) -> None:
        """Items read back from the journal and not yet taken are already on disk: drain skips them."""
        with Journal(tmp_path) as first:
            first.append([b"1", b"2"])
            buffer = spilling(first, capacity=10)
            buffer.take(0)  # refills memory from the journal
            buffer.offer(3)
            assert buffer.drain_to_journal() == 1
        with Journal(tmp_path) as second:
            assert drain(spilling(second)) == [1, 2, 3]

    def test_new_items_queue_behind_an_earlier_process_journal(self, journal: Journal) -> None:
        """Records left by an earlier process are older: items offered now are delivered after them."""
        journal.append([b"1", b"2"])
        buffer = spilling(journal)
        assert buffer.offer(3) is Offer.SPILLED
        assert drain(buffer) == [1, 2, 3]

    def test_a_crash_between_take_and_ack_resends_the_batch(self, tmp_path: Path) -> None:
        """At-least-once: a batch taken from the journal but never acknowledged is delivered again."""
        with Journal(tmp_path) as first:
            first.append([b"1", b"2", b"3"])
            buffer = spilling(first)
            delivered = buffer.take(2)
            buffer.ack(delivered)
            assert buffer.take(5).items == [3]  # taken, then the process dies before ack
        with Journal(tmp_path) as second:
            assert drain(spilling(second)) == [3]

    def test_a_batch_acknowledges_only_journal_records(self, journal: Journal) -> None:
        """A batch mixing journal and in-memory items settles exactly its journal records."""
        journal.append([b"1", b"2"])
        buffer = spilling(journal, capacity=10)
        assert buffer.take(1) == Batch([1], journaled=1)
        buffer.offer(3)
        assert buffer.take(5) == Batch([2, 3], journaled=1)


async def settled(waiting: asyncio.Future[bool]) -> bool:
    """The wait's result once the loop has run a few rounds; False if it is still waiting (nobody woke it).

    No time moves (asyncio.run, not clock.run), so only a wake-up can end the wait.
    """
    for _ in range(20):
        await asyncio.sleep(0)
    if not waiting.done():
        waiting.cancel()
        return False
    return waiting.result()


class TestWait:
    def test_wait_times_out_on_the_clock(self) -> None:
        """An empty buffer's wait returns False after the timeout, measured on the FakeClock."""
        clock = FakeClock()
        buffer: EventBuffer[int] = EventBuffer(10, policy=OverflowPolicy.DROP_NEWEST, clock=clock)
        assert (clock.run(buffer.wait(5.0)), clock.jumps) == (False, (5.0,))

    def test_an_offer_from_another_thread_wakes_the_waiter(self) -> None:
        """The dispatcher's wait ends when a publisher thread brings the count to `want`, with no timeout."""
        clock = FakeClock()
        buffer: EventBuffer[int] = EventBuffer(10, policy=OverflowPolicy.DROP_NEWEST, clock=clock)

        async def scenario() -> bool:
            waiting = asyncio.ensure_future(buffer.wait(60.0, want=3))
            await asyncio.sleep(0)
            publisher = threading.Thread(target=lambda: [buffer.offer(i) for i in range(3)])
            publisher.start()
            publisher.join()
            return await settled(waiting)

        assert asyncio.run(scenario()) is True

    def test_wait_spilled_wakes_on_the_first_spill(self, journal: Journal) -> None:
        """The journal writer's wait ends when an item is spilled."""
        clock = FakeClock()
        buffer = spilling(journal, capacity=1, clock=clock)
        buffer.offer(0)

        async def scenario() -> bool:
            waiting = asyncio.ensure_future(buffer.wait_spilled(60.0))
            await asyncio.sleep(0)
            buffer.offer(1)
            return await settled(waiting)

        assert asyncio.run(scenario()) is True

    def test_wait_spilled_with_want_sleeps_through_smaller_spills(self, journal: Journal) -> None:
        """With ``want``, spilling publishers leave the writer asleep until the backlog holds that many."""
        buffer = spilling(journal, capacity=1, spill_backlog=8)
        buffer.offer(0)

        async def scenario() -> tuple[bool, bool]:
            waiting = asyncio.ensure_future(buffer.wait_spilled(60.0, want=3))
            await asyncio.sleep(0)
            buffer.offer(1)
            buffer.offer(2)
            for _ in range(20):
                await asyncio.sleep(0)
            asleep = not waiting.done()
            buffer.offer(3)
            return asleep, await settled(waiting)

        assert asyncio.run(scenario()) == (True, True)
        assert (buffer.spilled, journal.unread) == (3, 0)

    def test_wait_spilled_wants_at_most_the_backlog_bound(self, journal: Journal) -> None:
        """A ``want`` above the backlog's bound is the bound: a full backlog always wakes the writer."""
        buffer = spilling(journal, capacity=1, spill_backlog=2)
        buffer.offer(0)

        async def scenario() -> bool:
            waiting = asyncio.ensure_future(buffer.wait_spilled(60.0, want=100))
            await asyncio.sleep(0)
            buffer.offer(1)
            buffer.offer(2)
            return await settled(waiting)

        assert asyncio.run(scenario()) is True

    def test_wait_spilled_times_out_with_a_smaller_backlog(self, journal: Journal) -> None:
        """Below ``want`` the wait ends at its timeout on the clock, False, the backlog still waiting."""
        clock = FakeClock()
        buffer = spilling(journal, capacity=1, spill_backlog=8, clock=clock)
        buffer.offer(0)
        buffer.offer(1)
        woken = clock.run(buffer.wait_spilled(5.0, want=2))
        assert (woken, clock.jumps, buffer.spilled) == (False, (5.0,), 1)
