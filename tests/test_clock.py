"""Tests for the foundation clock: the system clock, and waits whose timeouts are measured on a clock."""

from __future__ import annotations

import asyncio

import pytest

from sharedconfig.clock import SYSTEM_CLOCK, Clock, SystemClock, busy, to_thread, wait, wait_for
from sharedconfig.testing import FakeClock


def test_system_clock() -> None:
    """The system clock is a Clock: monotonic seconds and an aware UTC wall time."""
    assert isinstance(SYSTEM_CLOCK, Clock)
    clock = SystemClock()
    assert clock.now() <= clock.now()
    assert clock.wall().tzinfo is not None


def test_system_clock_sleep_of_zero_yields() -> None:
    """SystemClock.sleep(0) returns after one turn of the loop (negative delays count as zero)."""

    async def main() -> None:
        await SYSTEM_CLOCK.sleep(0)
        await SYSTEM_CLOCK.sleep(-1)

    asyncio.run(main())


class TestWaitFor:
    def test_result_before_the_timeout(self) -> None:
        """wait_for returns the awaitable's result when it finishes first."""
        clock = FakeClock()

        async def main() -> int:
            async def answer() -> int:
                await clock.sleep(1)
                return 42

            task = asyncio.ensure_future(wait_for(clock, answer(), 5))
            await clock.advance_async(1)
            return await task

        assert asyncio.run(main()) == 42

    def test_timeout_on_the_fake_clock_cancels(self) -> None:
        """After the timeout in fake seconds, wait_for raises TimeoutError and cancels the work."""
        clock = FakeClock()
        cancelled: list[bool] = []

        async def main() -> None:
            async def forever() -> None:
                try:
                    await clock.sleep(1000)
                except asyncio.CancelledError:
                    cancelled.append(True)
                    raise

            task = asyncio.ensure_future(wait_for(clock, forever(), 10))
            await clock.advance_async(9)
            assert not task.done()
            await clock.advance_async(1)
            with pytest.raises(TimeoutError, match="10s"):
                await task
            await asyncio.sleep(0)

        asyncio.run(main())
        assert cancelled == [True]
        assert clock.now() == 10

    def test_system_clock_timeout(self) -> None:
        """With the system clock, a zero timeout gives up at once."""

        async def main() -> None:
            with pytest.raises(TimeoutError):
                await wait_for(SYSTEM_CLOCK, asyncio.Event().wait(), 0)

        asyncio.run(main())

    def test_no_timeout_waits_for_the_result(self) -> None:
        """timeout=None waits as long as it takes."""

        async def main() -> str:
            return await wait_for(SYSTEM_CLOCK, asyncio.sleep(0, "done"), None)

        assert asyncio.run(main()) == "done"


class TestWait:
    def test_splits_done_and_pending_at_the_timeout(self) -> None:
        """wait returns what finished within the timeout and leaves the rest running."""
        clock = FakeClock()

        async def main() -> tuple[int, int]:
            quick = asyncio.ensure_future(clock.sleep(1))
            slow = asyncio.ensure_future(clock.sleep(100))
            waiting = asyncio.ensure_future(wait(clock, [quick, slow], 5))
            await clock.advance_async(5)
            done, pending = await waiting
            assert not slow.cancelled()
            slow.cancel()
            return len(done), len(pending)

        assert asyncio.run(main()) == (1, 1)

    def test_empty_and_unbounded(self) -> None:
        """Nothing to wait for returns at once; timeout=None waits for everything."""

        async def main() -> None:
            assert await wait(SYSTEM_CLOCK, [], 1) == (set(), set())
            task = asyncio.ensure_future(asyncio.sleep(0))
            done, pending = await wait(SYSTEM_CLOCK, [task], None)
            assert (done, pending) == ({task}, set())
            task2 = asyncio.ensure_future(asyncio.sleep(0))
            assert await wait(SYSTEM_CLOCK, [task2], 5) == ({task2}, set())

        asyncio.run(main())


def test_to_thread_counts_work_in_flight() -> None:
    """to_thread runs the function in a thread, keeps contextvars, and busy() counts it while it runs."""
    import contextvars

    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")

    async def main() -> tuple[str, int, int]:
        loop = asyncio.get_running_loop()
        var.set("set")
        seen: list[int] = []

        def work() -> str:
            seen.append(busy(loop))
            return var.get()

        value = await to_thread(work)
        return value, seen[0], busy(loop)

    assert asyncio.run(main()) == ("set", 1, 0)
