"""The bulkhead: a bound on deliveries in flight at once, with a wait measured on the clock.

Thread-safe; a freed slot passes straight to the longest waiter, whichever loop it waits on.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from dataclasses import dataclass

from sharedconfig.clock import SYSTEM_CLOCK, Clock, wait

__all__ = ["Bulkhead"]


@dataclass(eq=False, slots=True)
class _Waiter:
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[None]
    granted: bool = False


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class Bulkhead:
    """At most ``max_concurrent`` deliveries at once; a caller beyond that waits, then is refused.

    ``await acquire()`` takes a slot at once when one is free; otherwise it waits, first come first
    served, up to ``max_wait`` seconds of the clock (0: refused at once) and returns False if none came
    free. A freed slot passes straight to the longest waiter. Thread-safe; ``try_acquire`` never waits.
    """

    def __init__(self, max_concurrent: int, *, max_wait: float = 0.0, clock: Clock = SYSTEM_CLOCK) -> None:
        if max_concurrent < 1:
            raise ValueError("max_concurrent must be >= 1")
        if max_wait < 0:
            raise ValueError("max_wait must be >= 0")
        self.max_concurrent = max_concurrent
        self.max_wait = max_wait
        self._clock = clock
        self._lock = threading.Lock()
        self._in_flight = 0
        self._waiters: deque[_Waiter] = deque()

    @property
    def in_flight(self) -> int:
        """Slots taken now."""
        with self._lock:
            return self._in_flight

    @property
    def waiting(self) -> int:
        """Callers waiting for a slot now."""
        with self._lock:
            return len(self._waiters)

    def try_acquire(self) -> bool:
        """Take a slot if one is free now (never waits)."""
        with self._lock:
            if self._in_flight < self.max_concurrent and not self._waiters:
                self._in_flight += 1
                return True
            return False

    async def acquire(self) -> bool:
        """Take a slot, waiting up to ``max_wait`` seconds of the clock; False when refused."""
        if self.try_acquire():
            return True
        if self.max_wait <= 0:
            return False
        loop = asyncio.get_running_loop()
        waiter = _Waiter(loop, loop.create_future())
        with self._lock:
            if self._in_flight < self.max_concurrent and not self._waiters:
                self._in_flight += 1
                return True
            self._waiters.append(waiter)
        try:
            await wait(self._clock, (waiter.future,), self.max_wait)
        except BaseException:
            with self._lock:
                granted = waiter.granted
                if not granted and waiter in self._waiters:
                    self._waiters.remove(waiter)
            if granted:
                self.release()  # handed a slot while being cancelled: pass it on
            raise
        with self._lock:
            if waiter.granted:
                return True
            if waiter in self._waiters:
                self._waiters.remove(waiter)
            return False

    def release(self) -> None:
        """Free a slot, handing it to the longest waiter if there is one."""
        with self._lock:
            while self._waiters:
                waiter = self._waiters.popleft()
                if waiter.future.done():  # cancelled: its coroutine will find it gone
                    continue
                waiter.granted = True
                if not waiter.loop.is_closed():
                    waiter.loop.call_soon_threadsafe(_wake, waiter.future)
                return
            self._in_flight = max(self._in_flight - 1, 0)
