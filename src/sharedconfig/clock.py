"""Injectable time: everything time-based takes a ``Clock``; tests pass ``testing.FakeClock``.

``now()`` is monotonic seconds (for intervals and timeouts), ``wall()`` an aware UTC datetime and
``sleep()`` waits on the clock, so a fake clock drives every wait. ``wait``/``wait_for`` are
``asyncio.wait``/``asyncio.wait_for`` with the timeout measured on a clock, and ``to_thread`` is
``asyncio.to_thread`` that a fake clock can see (it waits for thread work before moving time on).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import time
import weakref
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar, runtime_checkable

__all__ = ["SYSTEM_CLOCK", "Clock", "SystemClock", "busy", "to_thread", "wait", "wait_for"]

T = TypeVar("T")


@runtime_checkable
class Clock(Protocol):
    """A source of time that can also wait."""

    def now(self) -> float:
        """Monotonic seconds."""
        ...

    def wall(self) -> datetime:
        """The current time of day, UTC."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock's time (``<= 0``: yield to the event loop once)."""
        ...


class SystemClock:
    """The real clock."""

    __slots__ = ()

    def now(self) -> float:
        """``time.monotonic()``."""
        return time.monotonic()

    def wall(self) -> datetime:
        """``datetime.now(UTC)``."""
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        """``asyncio.sleep``."""
        await asyncio.sleep(max(seconds, 0.0))


SYSTEM_CLOCK: Clock = SystemClock()


async def wait(
    clock: Clock, aws: Iterable[asyncio.Future[T]], timeout: float | None
) -> tuple[set[asyncio.Future[T]], set[asyncio.Future[T]]]:
    """Wait until every future in ``aws`` is done or ``timeout`` seconds of ``clock`` pass; (done, pending).

    Like ``asyncio.wait(aws, timeout=timeout)``, nothing is cancelled; an empty ``aws`` returns at once.
    """
    futures = set(aws)
    if not futures:
        return set(), set()
    if timeout is None:
        await asyncio.wait(futures)
        return futures, set()
    if isinstance(clock, SystemClock):  # the loop's own timer is cheaper than a sleeping task
        return await asyncio.wait(futures, timeout=timeout)
    timer: asyncio.Future[None] = asyncio.ensure_future(clock.sleep(timeout))
    try:
        while not timer.done() and not all(f.done() for f in futures):
            watched: set[asyncio.Future[Any]] = {timer, *(f for f in futures if not f.done())}
            await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
    finally:
        timer.cancel()
    done = {f for f in futures if f.done()}
    return done, futures - done


async def wait_for(clock: Clock, aw: Awaitable[T], timeout: float | None) -> T:
    """``aw``'s result, or ``TimeoutError`` (``aw`` cancelled) after ``timeout`` seconds of ``clock``."""
    task = asyncio.ensure_future(aw)
    try:
        done, _ = await wait(clock, (task,), timeout)
    except asyncio.CancelledError:
        task.cancel()
        raise
    if not done:
        task.cancel()
        raise TimeoutError(f"timed out after {timeout:g}s")
    return task.result()


_busy: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, int] = weakref.WeakKeyDictionary()


def busy(loop: asyncio.AbstractEventLoop) -> int:
    """How many ``to_thread`` calls of ``loop`` are running now (a fake clock waits for them)."""
    return _busy.get(loop, 0)


async def to_thread(fn: Callable[[], T]) -> T:
    """Run ``fn`` in the loop's default executor and return its result, counted in ``busy(loop)``.

    The count drops on the loop after the result is back, so a fake clock that finds no ready
    callback and nothing busy knows the loop is waiting only on its sleepers.
    """
    loop = asyncio.get_running_loop()
    _busy[loop] = _busy.get(loop, 0) + 1
    try:
        return await loop.run_in_executor(None, functools.partial(contextvars.copy_context().run, fn))
    finally:
        _busy[loop] -= 1
