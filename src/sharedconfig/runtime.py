"""``Runtime``: an asyncio loop in one daemon thread that runs periodic jobs and flushes them at stop.

Foundation layer, so that ``config`` (provider polling) and ``monitoring`` (every part's jobs) share it.
Every wait goes through the runtime's ``Clock``; with ``testing.FakeClock`` a test drives the jobs.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from sharedconfig.clock import SYSTEM_CLOCK, Clock

__all__ = ["Job", "Periodic", "Runtime", "Scheduler"]

_START_LIMIT = 10.0
"""Real seconds ``start`` waits for the loop thread to come up."""

T = TypeVar("T")
Periodic = Callable[[], Awaitable[float | None]]
"""An async job returning the seconds until its next run (None: its interval)."""


@dataclass(frozen=True, slots=True)
class Job:
    """A periodic job: run now, then after the delay it returns, or ``interval`` seconds."""

    name: str
    interval: float
    run: Periodic


class Scheduler(Protocol):
    """Where periodic jobs run: a ``Runtime``, or anything with the same two methods (a seam for config)."""

    def every(self, name: str, interval: float, job: Periodic) -> Callable[[], None]:
        """Run ``job`` periodically from now on (or from start); return a function that cancels it."""
        ...

    def on_stop(self, flush: Callable[[], Awaitable[None]]) -> None:
        """Run ``flush`` when the scheduler stops."""
        ...


class Runtime:
    """Runs coroutines and periodic jobs on a private event loop thread; restartable.

    A periodic job is an async function returning how many seconds to wait before its next run (None:
    its interval), so a scheduler can sleep exactly until its next due check; waits use ``clock``. A job
    that raises is reported to ``on_error`` and runs again after its interval: background work never
    dies silently. Jobs and flushes belong to the runtime, not to one run of it: ``start`` after ``stop``
    runs each registered job once again, and ``stop`` runs each flush once per run.
    """

    def __init__(
        self,
        name: str = "sharedconfig-runtime",
        on_error: Callable[[str, BaseException], None] | None = None,
        *,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.name = name
        self.clock = clock
        self._on_error = on_error
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._jobs: list[Job] = []
        self._tasks: dict[Job, asyncio.Task[None]] = {}
        self._flushes: list[Callable[[], Awaitable[None]]] = []
        self._lock = threading.Lock()
        self._lifecycle = threading.Lock()  # serializes start and stop
        self.died: BaseException | None = None
        """Why the loop ended without ``stop`` (None while it runs, after a stop, or before a start)."""

    @property
    def running(self) -> bool:
        """True between ``start()`` and ``stop()``."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The runtime's event loop while it runs."""
        return self._loop

    @property
    def jobs(self) -> tuple[Job, ...]:
        """The registered periodic jobs, in registration order."""
        with self._lock:
            return tuple(self._jobs)

    def every(self, name: str, interval: float, job: Periodic) -> Callable[[], None]:
        """Run ``job`` now (or at start) and again after the delay it returns; returns its cancel."""
        entry = Job(name, interval, job)
        with self._lock:
            self._jobs.append(entry)
            loop = self._loop
        if loop is not None:
            loop.call_soon_threadsafe(self._spawn_locked, entry)

        def cancel() -> None:
            with self._lock:
                if entry in self._jobs:
                    self._jobs.remove(entry)
                task = self._tasks.pop(entry, None)
                loop = self._loop
            if task is not None and loop is not None:
                loop.call_soon_threadsafe(task.cancel)

        return cancel

    def on_stop(self, flush: Callable[[], Awaitable[None]]) -> None:
        """Run ``flush`` on the loop at every stop, before jobs are cancelled (in registration order)."""
        with self._lock:
            self._flushes.append(flush)

    def start(self) -> None:
        """Start the loop thread and every registered job (idempotent while running).

        ``start`` and ``stop`` are serialized, so concurrent calls from several threads cannot race; the
        wait for the loop to come up is bounded (``RuntimeError`` if it does not within 10 s).
        """
        with self._lifecycle:
            with self._lock:
                if self._thread is not None and self._thread.is_alive():
                    return
                self._cleanup()
                self.died = None
                ready = threading.Event()
                thread = threading.Thread(target=self._run, args=(ready,), name=self.name, daemon=True)
                self._thread = thread
            thread.start()
            if not ready.wait(_START_LIMIT):  # pragma: no cover - a loop that cannot start at all
                raise RuntimeError(f"the runtime {self.name!r} did not start within {_START_LIMIT:g}s")

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Run ``coro`` on the loop from any thread; the runtime must be running."""
        loop = self._loop
        if loop is None:
            coro.close()
            raise RuntimeError("the runtime is not running: call start() first")
        return asyncio.run_coroutine_threadsafe(coro, loop)

    def stop(self, timeout: float = 5.0) -> None:
        """Flush, cancel every job, stop the loop and join its thread (idempotent; safe after a death)."""
        with self._lock:
            thread = self._thread
        if thread is threading.current_thread():  # a job stopping its own runtime: finish after it returns
            threading.Thread(target=self.stop, args=(timeout,), name=f"{self.name}-stop").start()
            return
        with self._lifecycle:
            with self._lock:
                loop, thread = self._loop, self._thread
            if loop is None or thread is None:
                return
            if thread.is_alive():
                with contextlib.suppress(
                    concurrent.futures.TimeoutError, RuntimeError
                ):  # stopped below anyway
                    asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout)
                with contextlib.suppress(RuntimeError):  # the loop closed in between: it is stopping anyway
                    loop.call_soon_threadsafe(loop.stop)
                thread.join(timeout)
            with self._lock:
                self._cleanup()

    def _cleanup(self) -> None:
        """Forget the last run's loop, thread and tasks (the lock is held)."""
        self._loop = None
        self._thread = None
        self._tasks = {}

    def _run(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        attach = getattr(self.clock, "attach", None)  # a fake clock waits for this loop when it advances
        if callable(attach):
            attach(loop)
        with self._lock:
            self._loop = loop
            for job in self._jobs:
                self._spawn(job)
        loop.call_soon(ready.set)
        try:
            loop.run_forever()
        except BaseException as exc:  # the loop itself died (a callback raised SystemExit, say): say so
            self.died = exc
            self._report("runtime", exc)
        finally:
            pending = asyncio.all_tasks(loop)
            for task in pending:  # after a death they are still there: end them, not "destroyed but pending"
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()

    def _spawn_locked(self, job: Job) -> None:
        with self._lock:
            self._spawn(job)

    def _spawn(self, job: Job) -> None:
        """Start ``job``'s task (the lock is held)."""
        assert self._loop is not None
        if job in self._tasks or job not in self._jobs:  # cancelled before the loop got to it
            return
        self._tasks[job] = self._loop.create_task(self._periodic(job), name=job.name)

    async def _periodic(self, job: Job) -> None:
        while True:
            delay: float | None = job.interval
            try:
                delay = await job.run()
            except asyncio.CancelledError:
                raise
            except BaseException as exc:  # supervised: even SystemExit in a job must not end the runtime
                self._report(job.name, exc)
            await self.clock.sleep(job.interval if delay is None else max(delay, 0.0))

    def _report(self, name: str, error: BaseException) -> None:
        if self._on_error is not None:
            with contextlib.suppress(Exception):  # a broken error handler must not kill the loop
                self._on_error(name, error)

    async def _shutdown(self) -> None:
        with self._lock:
            flushes = list(self._flushes)
        for flush in flushes:
            try:
                await flush()
            except Exception as exc:
                self._report("flush", exc)
        with self._lock:
            tasks = [t for t in self._tasks.values() if not t.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
