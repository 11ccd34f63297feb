"""Tests for FakeClock: time moves only when told, and sleepers wake in a deterministic order."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime

import pytest

from sharedconfig.clock import Clock
from sharedconfig.testing import FakeClock


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
