"""The dispatcher: batches to every channel, the in-flight window, flush interval, failures, stop."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from sharedconfig.clock import wait
from sharedconfig.monitoring.events import deadletter
from sharedconfig.monitoring.events.buffer import DropReason, EventBuffer, OverflowPolicy
from sharedconfig.monitoring.events.deadletter import DeadLetterFile
from sharedconfig.monitoring.events.dispatcher import Dispatcher
from sharedconfig.monitoring.events.encoding import from_structured, to_structured
from sharedconfig.monitoring.events.event import Event
from sharedconfig.monitoring.events.journal import Journal
from sharedconfig.testing import FakeClock, InMemoryMetricsRecorder, RecordingLogger


def events(n: int, prefix: str = "e") -> list[Event]:
    return [Event("t", "/test", {"i": i}, id=f"{prefix}{i}") for i in range(n)]


class Recording:
    """A channel recording the ids of each batch; ``gate`` (when set) holds every delivery until opened."""

    def __init__(
        self, name: str = "rec", gate: asyncio.Event | None = None, deliver: int | None = None
    ) -> None:
        self.name = name
        self.gate = gate
        self.batches: list[list[str]] = []
        self.started = 0
        self.closed = False
        self._deliver = deliver

    async def deliver(self, batch: Sequence[Event]) -> int:
        self.started += 1
        if self.gate is not None:
            await self.gate.wait()
        self.batches.append([e.id for e in batch])
        return len(batch) if self._deliver is None else self._deliver

    async def aclose(self) -> None:
        self.closed = True

    @property
    def ids(self) -> list[str]:
        return [i for b in self.batches for i in b]


class Raising(Recording):
    async def deliver(self, batch: Sequence[Event]) -> int:
        raise RuntimeError("a bug in the channel")


def make(
    channels: Sequence[Recording],
    clock: FakeClock,
    *,
    buffer: EventBuffer[Event] | None = None,
    batch_size: int = 3,
    max_in_flight: int = 4,
    letters: dict[str, DeadLetterFile] | None = None,
    metrics: InMemoryMetricsRecorder | None = None,
) -> Dispatcher:
    return Dispatcher(
        buffer if buffer is not None else EventBuffer(100, policy=OverflowPolicy.DROP_NEWEST),
        channels,
        batch_size=batch_size,
        flush_interval=5.0,
        max_in_flight=max_in_flight,
        clock=clock,
        metrics=metrics or InMemoryMetricsRecorder(),
        logger=RecordingLogger(),
        dead_letters=letters,
    )


def journaled(path: Path, capacity: int = 100, spill_backlog: int | None = None) -> EventBuffer[Event]:
    return EventBuffer(
        capacity,
        policy=OverflowPolicy.SPILL,
        journal=Journal(path),
        serialize=to_structured,
        deserialize=from_structured,
        spill_backlog=spill_backlog,
    )


def offer_all(buffer: EventBuffer[Event], batch: list[Event]) -> None:
    for e in batch:
        buffer.offer(e)


class TestRounds:
    def test_a_partial_batch_waits_for_the_flush_interval(self) -> None:
        clock = FakeClock()
        channel = Recording()
        dispatcher = make([channel], clock)
        offer_all(dispatcher.buffer, events(2))

        async def main() -> None:
            await dispatcher.run_round()  # starts the partial batch after 5 s
            await dispatcher.run_round()  # settles it

        clock.run(main())
        assert clock.jumps == (5.0,)
        assert channel.batches == [["e0", "e1"]]

    def test_full_batches_go_without_waiting_and_every_channel_gets_each(self) -> None:
        clock = FakeClock()
        a, b = Recording("a"), Recording("b")
        metrics = InMemoryMetricsRecorder()
        dispatcher = make([a, b], clock, metrics=metrics)
        offer_all(dispatcher.buffer, events(6))

        async def main() -> None:
            while len(dispatcher.buffer) or dispatcher._inflight:
                await dispatcher.run_round()

        clock.run(main())
        assert clock.jumps == ()
        assert a.batches == b.batches == [["e0", "e1", "e2"], ["e3", "e4", "e5"]]
        for name in ("a", "b"):
            assert metrics.total("events_delivered_total", {"channel": name}) == 6
            assert len(metrics.get_metrics("event_delivery_seconds")) == 4
        assert metrics.get_metrics("events_failed_total") == []
        assert metrics.get_metrics("events_buffer_size")[-1].value == 0

    def test_at_most_max_in_flight_batches_are_delivered_at_once(self) -> None:
        clock = FakeClock()
        gate = asyncio.Event()
        channel = Recording(gate=gate)
        dispatcher = make([channel], clock, batch_size=1, max_in_flight=2)
        offer_all(dispatcher.buffer, events(5))
        seen: list[int] = []

        async def main() -> None:
            round_ = asyncio.ensure_future(dispatcher.run_round())
            for _ in range(20):
                await asyncio.sleep(0)
            seen.append(channel.started)
            gate.set()
            await round_
            while len(dispatcher.buffer) or dispatcher._inflight:
                await dispatcher.run_round()

        clock.run(main())
        assert seen == [2]
        assert channel.ids == ["e0", "e1", "e2", "e3", "e4"]

    def test_a_channel_that_delivers_part_of_a_batch_counts_the_rest_failed(self) -> None:
        clock = FakeClock()
        metrics = InMemoryMetricsRecorder()
        dispatcher = make([Recording(deliver=1)], clock, metrics=metrics)
        offer_all(dispatcher.buffer, events(3))

        async def main() -> None:
            await dispatcher.run_round()
            await dispatcher.run_round()

        clock.run(main())
        assert metrics.total("events_delivered_total", {"channel": "rec"}) == 1
        assert metrics.total("events_failed_total", {"channel": "rec"}) == 2

    def test_a_channel_that_raises_dead_letters_its_batch_and_the_others_still_deliver(
        self, tmp_path: Path
    ) -> None:
        clock = FakeClock()
        metrics = InMemoryMetricsRecorder()
        good, bad = Recording("good"), Raising("bad")
        letters = {"bad": DeadLetterFile(tmp_path / "bad.jsonl", fsync=False)}
        dispatcher = make([good, bad], clock, metrics=metrics, letters=letters)
        offer_all(dispatcher.buffer, events(3))

        async def main() -> None:
            await dispatcher.run_round()
            await dispatcher.run_round()

        clock.run(main())
        assert good.ids == ["e0", "e1", "e2"]
        assert [e.id for e in deadletter.read(tmp_path / "bad.jsonl")] == ["e0", "e1", "e2"]
        assert metrics.total("events_failed_total", {"channel": "bad"}) == 3
        assert metrics.total("events_delivered_total", {"channel": "good"}) == 3


class TestSpill:
    def test_a_quarter_of_the_backlog_is_written_at_once(self, tmp_path: Path) -> None:
        """The spill job writes as soon as the backlog holds a quarter of the capacity (here 2 of 8), however
        much more the backlog may hold."""
        clock = FakeClock()
        buffer = journaled(tmp_path / "j", capacity=8, spill_backlog=80)
        dispatcher = make([Recording()], clock, buffer=buffer)
        offer_all(buffer, events(10))  # 8 in memory, 2 spilled

        clock.run(dispatcher.spill())
        assert (clock.jumps, buffer.spilled, buffer.journal.unread) == ((), 0, 2)  # type: ignore[union-attr]
        buffer.journal.close()  # type: ignore[union-attr]

    def test_a_smaller_backlog_is_written_at_the_flush_interval(self, tmp_path: Path) -> None:
        """One spilled event does not wake the spill job: it is written when ``flush_interval`` passes."""
        clock = FakeClock()
        buffer = journaled(tmp_path / "j", capacity=8, spill_backlog=80)
        dispatcher = make([Recording()], clock, buffer=buffer)
        offer_all(buffer, events(9))  # 8 in memory, 1 spilled

        clock.run(dispatcher.spill())
        assert (clock.jumps, buffer.spilled, buffer.journal.unread) == ((5.0,), 0, 1)  # type: ignore[union-attr]
        buffer.journal.close()  # type: ignore[union-attr]

    def test_a_round_takes_what_waits_below_the_quarter_without_the_spill_job(self, tmp_path: Path) -> None:
        """Spilled events the spill job has not written yet still go out, in order, once memory is empty."""
        clock = FakeClock()
        channel = Recording()
        buffer = journaled(tmp_path / "j", capacity=8, spill_backlog=80)
        dispatcher = make([channel], clock, buffer=buffer, batch_size=2)
        offer_all(buffer, events(9))  # 8 in memory, 1 spilled: below the quarter, the spill job sleeps on

        async def main() -> None:
            while len(buffer) or dispatcher._inflight:
                await dispatcher.run_round()

        clock.run(main())
        assert channel.ids == [f"e{i}" for i in range(9)]
        buffer.journal.close()  # type: ignore[union-attr]


class TestClose:
    def test_close_delivers_what_is_buffered_and_closes_the_channels(self) -> None:
        clock = FakeClock()
        channel = Recording()
        dispatcher = make([channel], clock)
        offer_all(dispatcher.buffer, events(7))
        clock.run(dispatcher.close())
        assert channel.ids == [f"e{i}" for i in range(7)]
        assert channel.closed
        assert dispatcher.journaled_at_stop == 0

    def test_a_stop_cut_short_journals_in_flight_and_buffered_events_for_the_next_start(
        self, tmp_path: Path
    ) -> None:
        clock = FakeClock()
        gate = asyncio.Event()  # never opened: the channel hangs
        dispatcher = make([Recording(gate=gate)], clock, buffer=journaled(tmp_path / "j"), max_in_flight=2)
        offer_all(dispatcher.buffer, events(10))

        async def main() -> None:
            task = asyncio.ensure_future(dispatcher.close())
            await wait(clock, (task,), 3.0)  # the stop's budget
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

        clock.run(main())
        assert dispatcher.journaled_at_stop == 10
        dispatcher.buffer.journal.close()  # type: ignore[union-attr]

        clock = FakeClock()
        after = Recording()
        restarted = make([after], clock, buffer=journaled(tmp_path / "j"))
        clock.run(restarted.close())
        restarted.buffer.journal.close()  # type: ignore[union-attr]
        assert after.ids == [f"e{i}" for i in range(10)]

    def test_finished_batches_are_acknowledged_not_journaled_again(self, tmp_path: Path) -> None:
        clock = FakeClock()
        gate = asyncio.Event()
        first = Recording()
        dispatcher = make([first], clock, buffer=journaled(tmp_path / "j", capacity=3), max_in_flight=1)
        batch = events(9)
        offer_all(dispatcher.buffer, batch[:6])  # 3 in memory, 3 in the spill backlog (its bound)
        assert dispatcher.buffer.write_spilled() == 3
        offer_all(dispatcher.buffer, batch[6:])
        assert dispatcher.buffer.write_spilled() == 3

        async def main() -> None:
            await dispatcher.run_round()
            await dispatcher.run_round()  # e0-e2 delivered and acknowledged
            first.gate = gate  # from now on the channel hangs
            task = asyncio.ensure_future(dispatcher.close())
            await wait(clock, (task,), 3.0)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

        clock.run(main())
        assert first.ids[:3] == ["e0", "e1", "e2"]
        dispatcher.buffer.journal.close()  # type: ignore[union-attr]
        clock = FakeClock()
        after = Recording()
        restarted = make([after], clock, buffer=journaled(tmp_path / "j"))
        clock.run(restarted.close())
        restarted.buffer.journal.close()  # type: ignore[union-attr]
        assert after.ids == [f"e{i}" for i in range(3, 9)]

    def test_without_a_journal_a_cut_stop_counts_what_it_loses(self) -> None:
        clock = FakeClock()
        dropped: list[tuple[DropReason, int]] = []
        buffer: EventBuffer[Event] = EventBuffer(
            100, policy=OverflowPolicy.DROP_OLDEST, on_drop=lambda r, n: dropped.append((r, n))
        )
        dispatcher = make([Recording(gate=asyncio.Event())], clock, buffer=buffer, max_in_flight=1)
        offer_all(buffer, events(5))

        async def main() -> None:
            task = asyncio.ensure_future(dispatcher.close())
            await wait(clock, (task,), 1.0)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

        clock.run(main())
        assert dropped == [(DropReason.SHUTDOWN, 5)]
        assert len(buffer) == 0

    def test_rounds_after_close_take_nothing_until_reopened(self) -> None:
        clock = FakeClock()
        channel = Recording()
        dispatcher = make([channel], clock)
        clock.run(dispatcher.close())
        offer_all(dispatcher.buffer, events(3))
        assert clock.run(dispatcher.run_round()) == 5.0
        assert channel.ids == []
        dispatcher.reopen()

        async def main() -> None:
            await dispatcher.run_round()
            await dispatcher.run_round()

        clock.run(main())
        assert channel.ids == ["e0", "e1", "e2"]
