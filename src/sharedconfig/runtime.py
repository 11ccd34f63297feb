"""``Runtime``: an asyncio loop in one daemon thread that runs periodic jobs and flushes them at stop.

Foundation layer, so that ``config`` (provider polling) and ``monitoring`` (every part's jobs) share it.
Every wait goes through the runtime's ``Clock``; with ``testing.FakeClock`` a test drives the jobs.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import itertools
import os
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from sharedconfig.clock import SYSTEM_CLOCK, Clock

__all__ = ["Job", "Periodic", "Runtime", "Scheduler"]

_START_LIMIT = 10.0
"""Real seconds ``start`` waits for the loop thread to come up."""

_TEARDOWN_SHARE = 0.1
"""The part of a stop's budget kept for cancelling jobs and closing the loop; flushes share the rest."""

_DEATH_TEARDOWN = 1.0
"""Real seconds the loop thread spends ending its tasks after a death (no stop gave it a budget)."""

_LAST_WAIT = 0.1
"""Real seconds the loop thread gives tasks still pending after a stop (jobs were awaited already)."""

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

    def on_stop(self, flush: Callable[[], Awaitable[None]], name: str = "") -> None:
        """Run ``flush`` when the scheduler stops (``name`` says what it was, should it be abandoned)."""
        ...


class _Calls(concurrent.futures.ThreadPoolExecutor):
    """The loop's default executor: one daemon thread per call, ended when the call returns.

    A pool's idle workers would have to be joined, and ``concurrent.futures`` joins its (non-daemon)
    workers at interpreter exit, so one sync health check that never returns would hold up ``stop()``
    and the process's exit forever. Here a call that hangs keeps only its own daemon thread, which
    ``stop`` names as abandoned; every other thread is gone when the call returns. (A subclass of
    ``ThreadPoolExecutor`` only because ``loop.set_default_executor`` accepts nothing else; its pool is
    never used.)
    """

    def __init__(self, prefix: str) -> None:
        super().__init__(max_workers=1, thread_name_prefix=prefix)
        self._prefix = prefix
        self._lock = threading.Lock()
        self._running: dict[threading.Thread, str] = {}
        self._numbers = itertools.count(1)
        self._closed = False

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[T]:
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def call() -> None:
            try:
                if future.set_running_or_notify_cancel():
                    try:
                        result = fn(*args, **kwargs)
                    except BaseException as exc:  # handed to the awaiting task, as a pool's worker does
                        future.set_exception(exc)
                    else:
                        future.set_result(result)
            finally:
                with self._lock:
                    self._running.pop(threading.current_thread(), None)

        with self._lock:
            if self._closed:
                raise RuntimeError("cannot schedule new calls after the runtime stopped")
            thread = threading.Thread(
                target=call, name=f"{self._prefix}-call-{next(self._numbers)}", daemon=True
            )
            self._running[thread] = _describe(fn, args)
        thread.start()
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Refuse new calls; with ``wait``, join the running ones (the runtime never waits unbounded)."""
        with self._lock:
            self._closed = True
        if wait:
            for thread in self.running():
                thread.join()

    def running(self) -> list[threading.Thread]:
        """The threads of calls still running."""
        with self._lock:
            return list(self._running)

    def what(self, thread: threading.Thread) -> str:
        """What ``thread`` runs (a function's qualified name), or "" once it has returned."""
        with self._lock:
            return self._running.get(thread, "")


def _describe(fn: Callable[..., Any], args: tuple[Any, ...]) -> str:
    """The qualified name of what a call runs, seen through ``functools.partial`` and ``Context.run``."""
    while isinstance(fn, functools.partial):
        args = fn.args
        fn = fn.func
    if getattr(fn, "__name__", "") == "run" and args and callable(args[0]):  # contextvars.Context.run
        return _describe(args[0], args[1:])
    return str(getattr(fn, "__qualname__", None) or type(fn).__name__)


_RUNTIMES: weakref.WeakSet[Runtime] = weakref.WeakSet()
"""Every runtime, so that a forked child can give each running one a loop of its own."""


def _after_fork_in_child() -> None:
    for runtime in list(_RUNTIMES):
        runtime._after_fork()  # the module's own hook


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_after_fork_in_child)


class Runtime:
    """Runs coroutines and periodic jobs on a private event loop thread; restartable.

    A periodic job is an async function returning how many seconds to wait before its next run (None:
    its interval), so a scheduler can sleep exactly until its next due check; waits use ``clock``. A job
    that raises is reported to ``on_error`` and runs again after its interval: background work never
    dies silently. Jobs and flushes belong to the runtime, not to one run of it: ``start`` after ``stop``
    runs each registered job once again, and ``stop`` runs each flush once per run.

    ``stop(timeout)`` is bounded in real time whatever the clock: flushes share the budget, each one
    cut off at its share of what is left, and it returns what it abandoned. Blocking calls
    (``asyncio.to_thread``, ``sharedconfig.clock.to_thread``) run on daemon threads of their own, so a
    call that never returns cannot hold up a stop or the interpreter's exit. Errors the loop reports
    (a task's exception nobody retrieved, say) go to ``on_error``, not to stderr. In a process forked
    while the runtime runs, the child gets a loop thread of its own, running the same jobs.
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
        self._flushes: list[tuple[str, Callable[[], Awaitable[None]]]] = []
        self._lock = threading.Lock()
        self._lifecycle = threading.Lock()  # serializes start and stop
        self._calls: _Calls | None = None
        self._teardown_until: float | None = None  # when the loop thread must be done ending its tasks
        self.died: BaseException | None = None
        """Why the loop ended without ``stop`` (None while it runs, after a stop, or before a start)."""
        _RUNTIMES.add(self)

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

    def on_stop(self, flush: Callable[[], Awaitable[None]], name: str = "") -> None:
        """Run ``flush`` on the loop at every stop, before jobs are cancelled (in registration order).

        ``name`` is how ``stop`` reports it when it ran out of its share of the budget.
        """
        with self._lock:
            self._flushes.append((name, flush))

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

    def stop(self, timeout: float = 5.0) -> list[str]:
        """Flush, cancel every job, stop the loop and join its thread, within ``timeout`` real seconds.

        Returns what was abandoned, each as a short description (``flush exporters``, ``job
        health:checks``, ``thread sharedconfig-runtime-call-3 (Db.ping)``): flushes that had not ended at
        their share of the budget are cancelled, jobs that ignore cancellation and blocking calls still
        running are left behind (on daemon threads, which cannot hold up the interpreter's exit).
        Idempotent (a second stop returns ``[]``); safe after a death; a job may stop its own runtime.
        """
        deadline = time.monotonic() + max(timeout, 0.0)
        with self._lock:
            thread = self._thread
        if thread is threading.current_thread():  # a job stopping its own runtime: finish after it returns
            threading.Thread(target=self.stop, args=(timeout,), name=f"{self.name}-stop").start()
            return []
        abandoned: list[str] = []
        with self._lifecycle:
            with self._lock:
                loop, thread, calls = self._loop, self._thread, self._calls
            if loop is None or thread is None:
                return []
            if thread.is_alive():
                self._teardown_until = deadline - timeout * _TEARDOWN_SHARE / 4  # the loop's last tasks
                abandoned += self._shut_down(loop, deadline)
                with contextlib.suppress(RuntimeError):  # the loop closed in between: it is stopping anyway
                    loop.call_soon_threadsafe(loop.stop)
                thread.join(max(deadline - time.monotonic(), 0.0))
                if thread.is_alive():
                    abandoned.append(f"thread {thread.name} (the event loop did not stop in time)")
            if calls is not None:
                calls.shutdown(wait=False)
                for call in calls.running():
                    call.join(max(deadline - time.monotonic(), 0.0))
                    if call.is_alive():
                        abandoned.append(f"thread {call.name} ({calls.what(call) or 'a blocking call'})")
            with self._lock:
                self._cleanup()
        return abandoned

    def _shut_down(self, loop: asyncio.AbstractEventLoop, deadline: float) -> list[str]:
        """Run ``_shutdown`` on the loop and wait for it until ``deadline``; what it abandoned."""
        try:
            future = asyncio.run_coroutine_threadsafe(self._shutdown(deadline), loop)
        except RuntimeError:  # the loop closed in between
            return []
        try:
            return future.result(max(deadline - time.monotonic(), 0.0))
        except concurrent.futures.TimeoutError:  # the loop is blocked (a job that never yields)
            future.cancel()
            return ["flushes (the event loop was blocked)"]
        except (RuntimeError, concurrent.futures.CancelledError):  # the loop stopped under it
            return []

    def _cleanup(self) -> None:
        """Forget the last run's loop, thread and tasks (the lock is held)."""
        self._loop = None
        self._thread = None
        self._calls = None
        self._tasks = {}
        self._teardown_until = None

    def _after_fork(self) -> None:
        """In a forked child: forget the parent's loop and thread (gone here), restart if it ran.

        The parent's loop object is dropped, not closed: its selector is shared with the parent, and
        closing it here would unregister the parent's descriptors.
        """
        self._lock = threading.Lock()
        self._lifecycle = threading.Lock()
        was_running = self._thread is not None and self._loop is not None and self.died is None
        self._cleanup()
        if was_running:
            self.start()

    def _run(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        calls = _Calls(self.name)
        loop.set_default_executor(calls)
        loop.set_exception_handler(self._loop_error)
        attach = getattr(self.clock, "attach", None)  # a fake clock waits for this loop when it advances
        if callable(attach):
            attach(loop)
        with self._lock:
            self._loop = loop
            self._calls = calls
            for job in self._jobs:
                self._spawn(job)
        loop.call_soon(ready.set)
        try:
            loop.run_forever()
        except BaseException as exc:  # the loop itself died (a callback raised SystemExit, say): say so
            self.died = exc
            self._report("runtime", exc)
        finally:
            now = time.monotonic()
            stopping = self._teardown_until
            until = now + _DEATH_TEARDOWN if stopping is None else min(stopping, now + _LAST_WAIT)
            pending = asyncio.all_tasks(loop)
            for task in pending:  # after a death they are still there: end them, not "destroyed but pending"
                task.cancel()
            with contextlib.suppress(BaseException):  # bounded: a task may ignore its cancellation
                loop.run_until_complete(_within(until, asyncio.gather(*pending, return_exceptions=True)))
                loop.run_until_complete(_within(until, loop.shutdown_asyncgens()))
            for task in asyncio.all_tasks(loop):  # what would not end: said once, then let go quietly
                task._log_destroy_pending = False  # type: ignore[attr-defined]
                self._report(f"task {task.get_name()}", RuntimeError("did not end when cancelled"))
            calls.shutdown(wait=False)  # stop joins the calls still running, within its budget
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
                if isinstance(exc, GeneratorExit) and not _on_a_loop():
                    raise  # not the job's: its task was abandoned and the collector is closing it
                self._report(job.name, exc)
            await self.clock.sleep(job.interval if delay is None else max(delay, 0.0))

    def _report(self, name: str, error: BaseException) -> None:
        if self._on_error is not None:
            with contextlib.suppress(Exception):  # a broken error handler must not kill the loop
                self._on_error(name, error)

    def _loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """The loop's exception handler: what asyncio would print on stderr goes to ``on_error``."""
        error = context.get("exception")
        if not isinstance(error, BaseException):
            error = RuntimeError(str(context.get("message", "event loop error")))
        task = context.get("task") or context.get("future")
        name = task.get_name() if isinstance(task, asyncio.Task) else "event loop"
        self._report(name, error)

    async def _shutdown(self, deadline: float) -> list[str]:
        """Run the flushes, each within its share of the budget, then cancel the jobs; what it abandoned."""
        with self._lock:
            flushes = list(self._flushes)
        abandoned: list[str] = []
        budget = deadline - time.monotonic()
        flushes_until = deadline - budget * _TEARDOWN_SHARE
        for i, (name, flush) in enumerate(flushes):
            what = f"flush {name}" if name else "flush"
            share = max((flushes_until - time.monotonic()) / (len(flushes) - i), 0.0)
            task = asyncio.ensure_future(flush())
            done, _ = await asyncio.wait({task}, timeout=share)
            if not done:
                task.cancel()
                await asyncio.wait({task}, timeout=max(deadline - time.monotonic(), 0.0) * _TEARDOWN_SHARE)
                abandoned.append(f"{what} (after {share:.3g}s)")
            elif not task.cancelled() and (error := task.exception()) is not None:
                self._report(what, error)
        with self._lock:
            tasks = [t for t in self._tasks.values() if not t.done()]
        for task in tasks:
            task.cancel()
        if tasks:  # half of the teardown share: the loop still has to stop and its thread to end
            until = deadline - budget * _TEARDOWN_SHARE / 2
            _, stuck = await asyncio.wait(tasks, timeout=max(until - time.monotonic(), 0.0))
            abandoned += [f"job {t.get_name()} (ignored its cancellation)" for t in stuck]
        return abandoned


def _on_a_loop() -> bool:
    """True when called from a running event loop (not from the garbage collector closing a coroutine)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


async def _within(until: float, aw: Awaitable[Any]) -> None:
    """Await ``aw`` until the real time ``until`` at the latest (it is cancelled then)."""
    task = asyncio.ensure_future(aw)
    done, _ = await asyncio.wait({task}, timeout=max(until - time.monotonic(), 0.0))
    if not done:
        task.cancel()
