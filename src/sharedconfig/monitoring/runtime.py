"""The one background runtime ``Monitoring`` owns: an asyncio loop in one daemon thread.

Health scheduling and exporters run here, never in the caller's thread; ``stop()`` runs the registered
flushes, cancels what is left and joins the thread, so nothing leaks.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["Runtime"]

T = TypeVar("T")
Periodic = Callable[[], Awaitable[float | None]]


class Runtime:
    """Runs coroutines and periodic jobs on a private event loop thread.

    A periodic job is an async function returning how many seconds to wait before its next run (None:
    its default interval), so a scheduler can sleep exactly until its next due check. A job that raises
    is reported to ``on_error`` and runs again after its interval: background work never dies silently.
    """

    def __init__(
        self, name: str = "sharedconfig-runtime", on_error: Callable[[str, BaseException], None] | None = None
    ) -> None:
        self.name = name
        self._on_error = on_error
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._jobs: list[tuple[str, float, Periodic]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._flushes: list[Callable[[], Awaitable[None]]] = []
        self._lock = threading.Lock()

    @property
    def running(self) -> bool:
        """True between ``start()`` and ``stop()``."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The runtime's event loop while it runs."""
        return self._loop

    def every(self, name: str, interval: float, job: Periodic) -> None:
        """Run ``job`` now and then again after the delay it returns (or ``interval``)."""
        with self._lock:
            self._jobs.append((name, interval, job))
            if self._loop is not None:
                self._loop.call_soon_threadsafe(self._spawn, name, interval, job)

    def on_stop(self, flush: Callable[[], Awaitable[None]]) -> None:
        """Run ``flush`` on the loop when stopping, before tasks are cancelled (in registration order)."""
        self._flushes.append(flush)

    def start(self) -> None:
        """Start the loop thread (idempotent)."""
        with self._lock:
            if self._thread is not None:
                return
            ready = threading.Event()
            self._thread = threading.Thread(target=self._run, args=(ready,), name=self.name, daemon=True)
            self._thread.start()
        ready.wait()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Run ``coro`` on the loop from any thread; the runtime must be running."""
        if self._loop is None:
            coro.close()
            raise RuntimeError("the monitoring runtime is not running: call start() first")
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def stop(self, timeout: float = 5.0) -> None:
        """Flush, cancel every job, stop the loop and join its thread (idempotent)."""
        with self._lock:
            loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        with contextlib.suppress(concurrent.futures.TimeoutError, RuntimeError):  # stopped below either way
            asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        with self._lock:
            self._loop = None
            self._thread = None
            self._tasks = []

    def _run(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        with self._lock:
            for name, interval, job in self._jobs:
                self._spawn(name, interval, job)
        loop.call_soon(ready.set)
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()

    def _spawn(self, name: str, interval: float, job: Periodic) -> None:
        assert self._loop is not None
        self._tasks.append(self._loop.create_task(self._periodic(name, interval, job), name=name))

    async def _periodic(self, name: str, interval: float, job: Periodic) -> None:
        while True:
            delay: float | None = interval
            try:
                delay = await job()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # background work must survive its own failures
                if self._on_error is not None:
                    self._on_error(name, exc)
            await asyncio.sleep(interval if delay is None else max(delay, 0.0))

    async def _shutdown(self) -> None:
        for flush in self._flushes:
            try:
                await flush()
            except Exception as exc:
                if self._on_error is not None:
                    self._on_error("flush", exc)
        tasks = [t for t in self._tasks if not t.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
