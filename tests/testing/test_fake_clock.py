"""Tests for FakeClock: time moves only when told, and sleepers wake in a deterministic order."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime

import pytest

from sharedconfig.clock import Clock
from sharedconfig.testing import FakeClock, LoopDidNotSettle
from sharedconfig.testing import clock as clock_module


def test_is_a_clock() -> None:
    """FakeClock satisfies the Clock protocol, sleep included."""
    assert isinstance(FakeClock(), Clock)


def test_advance_moves_now_and_wall() -> None:
    """advance adds its seconds to now and wall, with nobody asleep."""
    clock = FakeClock(10.0, datetime(2030, 1, 1, tzinfo=UTC))
    clock.advance(61.5)
    assert clock.now() == 71.5
    assert clock.wall() == datetime(2030, 1, 1, 0, 1, 1, 500000, tzinfo=UTC)
    assert clock.sleepers == 0
    assert clock.next_deadline() is None


def test_a_year_of_sleep_takes_no_time() -> None:
    """A coroutine sleeping a year wakes when the clock is advanced a year (this test would never end)."""
    clock = FakeClock()

    async def main() -> float:
        sleeper = asyncio.ensure_future(clock.sleep(365 * 86_400))
        await asyncio.sleep(0)
        assert clock.sleepers == 1
        assert clock.next_deadline() == 365 * 86_400
        await clock.advance_async(365 * 86_400)
        await sleeper
        return clock.now()

    assert asyncio.run(main()) == 365 * 86_400


def test_sleepers_wake_by_deadline_then_by_arrival() -> None:
    """Sleepers wake earliest deadline first; equal deadlines in the order they went to sleep."""
    clock = FakeClock()
    woke: list[str] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append(f"{name}@{clock.now():g}")

    async def main() -> None:
        tasks = [
            asyncio.ensure_future(sleeper("c", 3)),
            asyncio.ensure_future(sleeper("a", 1)),
            asyncio.ensure_future(sleeper("b1", 2)),
            asyncio.ensure_future(sleeper("b2", 2)),
        ]
        await asyncio.sleep(0)
        await clock.advance_async(2.5)
        assert woke == ["a@1", "b1@2", "b2@2"]
        await clock.advance_async(1)
        await asyncio.gather(*tasks)

    asyncio.run(main())
    assert woke == ["a@1", "b1@2", "b2@2", "c@3"]
    assert clock.now() == 3.5


def test_a_cancelled_sleeper_is_skipped() -> None:
    """Cancelling a sleeping task removes it from the schedule."""
    clock = FakeClock()

    async def main() -> None:
        task = asyncio.ensure_future(clock.sleep(5))
        await asyncio.sleep(0)
        task.cancel()
        await asyncio.sleep(0)
        assert clock.sleepers == 0
        await clock.advance_async(10)

    asyncio.run(main())
    assert clock.now() == 10


def test_advance_from_another_thread_waits_for_the_loop() -> None:
    """advance() from the test thread runs each wake-up to its next sleep before the next step."""
    clock = FakeClock()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever)
    thread.start()
    clock.attach(loop)
    ticks: list[float] = []

    async def ticker() -> None:
        while True:
            ticks.append(clock.now())
            await clock.sleep(30)

    try:
        future = asyncio.run_coroutine_threadsafe(ticker(), loop)
        clock.advance(90)
        assert ticks == [0.0, 30.0, 60.0, 90.0]
        future.cancel()
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


def test_sleep_of_zero_only_yields() -> None:
    """sleep(0) does not register a sleeper."""
    clock = FakeClock()

    async def main() -> None:
        await clock.sleep(0)

    asyncio.run(main())
    assert clock.sleepers == 0


def test_time_never_goes_backwards() -> None:
    """advance and advance_async refuse negative values; a naive epoch is refused."""
    with pytest.raises(ValueError, match="backwards"):
        FakeClock().advance(-1)
    with pytest.raises(ValueError, match="backwards"):
        asyncio.run(FakeClock().advance_async(-1))
    with pytest.raises(ValueError, match="timezone-aware"):
        FakeClock(epoch=datetime(2026, 1, 1))  # the naive value is the point


class TestAutojump:
    """run/autojump move time to each deadline as soon as the work waits, and jumps says by how much."""

    def test_run_returns_the_result_and_records_the_jumps(self) -> None:
        """run drives a coroutine with sleeps of 1 s then 2 s to its end; jumps reads (1.0, 2.0)."""
        clock = FakeClock(5.0)

        async def backoff() -> str:
            await clock.sleep(1)
            await clock.sleep(2)
            return "done"

        assert clock.run(backoff()) == "done"
        assert clock.jumps == (1.0, 2.0)
        assert clock.now() == 8.0

    def test_jumps_are_those_of_the_latest_run(self) -> None:
        """Each run starts jumps afresh; one that never sleeps leaves it empty."""
        clock = FakeClock()
        clock.run(clock.sleep(3))
        first = clock.jumps

        async def no_sleep() -> int:
            return 7

        assert clock.run(no_sleep()) == 7
        assert (first, clock.jumps) == ((3.0,), ())

    def test_one_jump_per_distinct_deadline(self) -> None:
        """Concurrent sleepers due at 4 s, 1 s and 4 s wake on time after two jumps: 1 s, then 3 s."""
        clock = FakeClock()

        async def nap(seconds: float) -> float:
            await clock.sleep(seconds)
            return clock.now()

        async def main() -> list[float]:
            return list(await asyncio.gather(nap(4), nap(1), nap(4)))

        assert clock.run(main()) == [4.0, 1.0, 4.0]
        assert clock.jumps == (1.0, 3.0)

    def test_autojump_on_the_running_loop(self) -> None:
        """autojump drives work on the caller's loop, so several calls can share one loop."""
        clock = FakeClock()

        async def main() -> list[float]:
            waits: list[float] = []
            for seconds in (2, 5):
                await clock.autojump(clock.sleep(seconds))
                waits.extend(clock.jumps)
            return waits

        assert asyncio.run(main()) == [2.0, 5.0]
        assert clock.now() == 7.0

    def test_the_error_of_the_work_is_raised(self) -> None:
        """An exception from the awaited work comes out of run after the clock moved."""
        clock = FakeClock()

        async def fails() -> None:
            await clock.sleep(1)
            raise KeyError("boom")

        with pytest.raises(KeyError, match="boom"):
            clock.run(fails())
        assert clock.jumps == (1.0,)

    def test_work_that_waits_on_nothing_is_not_a_hang(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Work that neither ends nor sleeps on the clock raises LoopDidNotSettle instead of hanging."""
        monkeypatch.setattr(clock_module, "_SETTLE_LIMIT", 0.0)
        clock = FakeClock()

        async def stuck() -> None:
            await asyncio.get_running_loop().create_future()  # nothing ever sets it

        with pytest.raises(LoopDidNotSettle, match="neither ended nor slept"):
            clock.run(stuck())
