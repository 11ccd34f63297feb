"""``FakeClock``: time that moves only when a test says so, waking sleepers in a deterministic order.

``advance(seconds)`` steps from one sleeper's deadline to the next; at each step it wakes the sleepers due
(earliest deadline first, then in the order they went to sleep) and waits until their event loops have
nothing left to do before it takes the next step. So advancing 90 s with a check every 30 s runs the
check three times, with no real sleep anywhere. ``run(aw)`` (or ``await autojump(aw)``) jumps instead: it
moves time to each sleeper's deadline as soon as the awaited work waits, and ``jumps`` says by how much.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import threading
import time
import weakref
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from sharedconfig.clock import busy

__all__ = ["FakeClock", "LoopDidNotSettle"]

T = TypeVar("T")

_SETTLE_LIMIT = 10.0
"""Real seconds a step may wait for an event loop to settle before ``advance`` gives up (never a hang)."""


class LoopDidNotSettle(RuntimeError):
    """An event loop kept working (or blocked outside the clock) while ``advance`` waited for it."""


@dataclass(order=True)
class _Sleeper:
    deadline: float
    seq: int
    loop: asyncio.AbstractEventLoop = field(compare=False)
    future: asyncio.Future[None] = field(compare=False)


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _quiet(loop: asyncio.AbstractEventLoop) -> bool:
    """True when ``loop`` has no callback ready to run and no ``to_thread`` call in flight (on its thread).

    The loop's own wake-up read (scheduled by every ``call_soon_threadsafe``, the probe's included) does
    not count as work.
    """
    if busy(loop):
        return False
    ready = getattr(loop, "_ready", None)  # CPython's asyncio loops; other loops are judged by busy() only
    if ready is None:
        return True
    wakeup = getattr(loop, "_read_from_self", None)
    return all(getattr(handle, "_callback", None) == wakeup for handle in ready)


def _probe(loop: asyncio.AbstractEventLoop, verdict: list[bool], answered: threading.Event) -> None:
    verdict.append(_quiet(loop))
    answered.set()


class FakeClock:
    """A ``Clock`` that moves only when told: ``advance`` moves it and runs what falls due.

    ``now()`` starts at ``start``; ``wall()`` is the aware UTC datetime ``epoch`` plus the elapsed time.
    ``await clock.sleep(s)`` parks the caller until the clock reaches its deadline. Call ``advance`` from
    a thread that is not running the sleepers' event loop (the test's thread while a runtime thread
    sleeps); from inside the loop itself, ``await clock.advance_async(s)``. Thread-safe.

    Autojump (as trio's ``MockClock`` with ``autojump_threshold=0``): ``clock.run(aw)`` runs ``aw`` on a
    new event loop to its end and returns its result; whenever something sleeps on the clock it moves time
    to the earliest deadline (with ``advance_async``), and while nothing sleeps it only yields to the loop,
    so real sockets and threads get answered. ``await clock.autojump(aw)`` does the same on the running
    loop (several calls on one loop, e.g. a client bound to it). ``clock.jumps`` holds the seconds each jump
    of the latest ``run``/``autojump`` moved the clock, in order: a retry's backoff reads ``(1.0, 2.0)``.
    """

    def __init__(self, start: float = 0.0, epoch: datetime = datetime(2026, 1, 1, tzinfo=UTC)) -> None:
        if epoch.tzinfo is None:
            raise ValueError("epoch must be timezone-aware")
        self._lock = threading.Lock()
        self._start = start
        self._now = start
        self._horizon = start  # where every advance asked so far adds up to (advances from threads add)
        self._epoch = epoch
        self._sleepers: list[_Sleeper] = []
        self._seq = itertools.count()
        self._loops: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()
        self._jumps: list[float] = []

    def now(self) -> float:
        """Monotonic seconds."""
        with self._lock:
            return self._now

    def wall(self) -> datetime:
        """Wall-clock time: ``epoch`` plus the time advanced so far."""
        with self._lock:
            return self._epoch + timedelta(seconds=self._now - self._start)

    @property
    def sleepers(self) -> int:
        """How many callers are asleep on this clock now."""
        with self._lock:
            return sum(1 for s in self._sleepers if not s.future.done())

    def next_deadline(self) -> float | None:
        """The earliest time a sleeper wakes, or None when nobody sleeps."""
        with self._lock:
            live = [s.deadline for s in self._sleepers if not s.future.done()]
        return min(live) if live else None

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Have ``advance`` wait for ``loop`` to settle before anything on it sleeps (runtimes call it)."""
        with self._lock:
            self._loops.add(loop)

    async def sleep(self, seconds: float) -> None:
        """Wait until the clock has advanced by ``seconds`` (``<= 0``: yield once)."""
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._lock:
            heapq.heappush(self._sleepers, _Sleeper(self._now + seconds, next(self._seq), loop, future))
            self._loops.add(loop)
        await future  # cancelling the caller cancels the future; the step skips it

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds`` (>= 0), waking every sleeper due on the way, in order.

        Before each step and at the end, waits (in real time, bounded) until the loops of the sleepers
        have settled: nothing ready to run and no thread work in flight.
        """
        if seconds < 0:
            raise ValueError(f"cannot move a clock backwards ({seconds} s)")
        with self._lock:
            self._horizon = target = max(self._horizon, self._now) + seconds
        self._settle()
        while self._step(target):
            self._settle()

    async def advance_async(self, seconds: float) -> None:
        """``advance`` for a coroutine on the sleepers' own loop: yields to it instead of blocking."""
        if seconds < 0:
            raise ValueError(f"cannot move a clock backwards ({seconds} s)")
        with self._lock:
            self._horizon = target = max(self._horizon, self._now) + seconds
        await self._settle_here()
        while self._step(target):
            await self._settle_here()

    @property
    def jumps(self) -> tuple[float, ...]:
        """The seconds each jump of the latest ``run``/``autojump`` moved the clock, in order."""
        with self._lock:
            return tuple(self._jumps)

    def run(self, aw: Awaitable[T]) -> T:
        """Run ``aw`` to its end on a new event loop, autojumping to each sleeper's deadline; its result."""

        async def main() -> T:
            return await self.autojump(aw)

        return asyncio.run(main())

    async def autojump(self, aw: Awaitable[T]) -> T:
        """Await ``aw`` on the running loop, moving time to the next deadline whenever something sleeps.

        ``jumps`` starts empty and records each move. Raises ``LoopDidNotSettle`` when ``aw`` neither
        finishes nor sleeps on the clock for 10 real seconds (never a hang).
        """
        with self._lock:
            self._jumps = []
        task = asyncio.ensure_future(aw)
        idle_since = time.monotonic()
        while not task.done():
            deadline = self.next_deadline()
            if deadline is None:
                if time.monotonic() - idle_since > _SETTLE_LIMIT:
                    task.cancel()
                    raise LoopDidNotSettle(f"the awaited work neither ended nor slept for {_SETTLE_LIMIT:g}s")
                await asyncio.sleep(0)
                continue
            step = deadline - self.now()
            with self._lock:
                self._jumps.append(step)
            await self.advance_async(step)
            idle_since = time.monotonic()
        return task.result()

    def _step(self, target: float) -> bool:
        """Wake the sleepers with the earliest deadline up to ``target``; False (time at target) if none."""
        with self._lock:
            while self._sleepers and self._sleepers[0].future.done():
                heapq.heappop(self._sleepers)
            if not self._sleepers or self._sleepers[0].deadline > target:
                self._now = max(self._now, target)
                return False
            deadline = self._sleepers[0].deadline
            self._now = max(self._now, deadline)
            due: list[_Sleeper] = []
            while self._sleepers and self._sleepers[0].deadline == deadline:
                due.append(heapq.heappop(self._sleepers))
        for sleeper in due:
            if not sleeper.loop.is_closed():
                sleeper.loop.call_soon_threadsafe(_wake, sleeper.future)
        return True

    def _settle(self) -> None:
        """Block until every loop that ever slept here is quiet twice in a row (or is not running)."""
        deadline = time.monotonic() + _SETTLE_LIMIT
        for loop in list(self._loops):
            calm = 0
            while calm < 2:
                if loop.is_closed() or not loop.is_running():
                    break
                if time.monotonic() > deadline:
                    raise LoopDidNotSettle(f"an event loop was still busy after {_SETTLE_LIMIT:g}s")
                answered = threading.Event()
                verdict: list[bool] = []
                try:
                    loop.call_soon_threadsafe(_probe, loop, verdict, answered)
                except RuntimeError:  # closed in between
                    break
                if not answered.wait(0.5) or not verdict[0]:
                    calm = 0
                    # real work (a thread, a socket) is in flight: give it the core for a moment
                    threading.Event().wait(0.0005)
                    continue
                calm += 1

    async def _settle_here(self) -> None:
        loop = asyncio.get_running_loop()
        calm = 0
        for _ in range(100_000):
            await asyncio.sleep(0)
            calm = calm + 1 if _quiet(loop) else 0
            if calm >= 2:
                return
        raise LoopDidNotSettle("the event loop kept working while the clock waited")  # pragma: no cover
