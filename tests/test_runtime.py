"""Tests for the background runtime: periodic jobs, errors, flushes and a clean, leak-free stop."""

from __future__ import annotations

import asyncio
import threading

import pytest

from sharedconfig.clock import SYSTEM_CLOCK, Clock, SystemClock
from sharedconfig.runtime import Runtime


def runtime_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("test-runtime")]


class TestRuntime:
    def test_periodic_job_runs_and_stop_joins_the_thread(self) -> None:
        """A job runs repeatedly; after stop() no runtime thread is left."""
        ran = threading.Event()
        count = 0

        async def job() -> float:
            nonlocal count
            count += 1
            if count >= 3:
                ran.set()
            return 0.0

        rt = Runtime("test-runtime-a")
        rt.every("job", 10.0, job)
        rt.start()
        assert rt.running
        assert ran.wait(10)
        rt.stop()
        assert not rt.running
        assert runtime_threads() == []

    def test_failing_job_is_reported_and_keeps_running(self) -> None:
        """An exception goes to on_error and the job is scheduled again."""
        errors: list[tuple[str, str]] = []
        again = threading.Event()
        calls = 0

        async def job() -> float:
            nonlocal calls
            calls += 1
            if calls == 1:
                raise ValueError("first run fails")
            again.set()
            return 0.0

        rt = Runtime("test-runtime-b", on_error=lambda name, exc: errors.append((name, str(exc))))
        rt.every("flaky", 0.0, job)
        rt.start()
        assert again.wait(10)
        rt.stop()
        assert errors == [("flaky", "first run fails")]

    def test_flushes_run_at_stop_and_submit_works(self) -> None:
        """on_stop flushes run on the loop before it ends; submit runs a coroutine from another thread."""
        flushed: list[str] = []

        async def flush() -> None:
            flushed.append("flushed")

        async def broken_flush() -> None:
            raise RuntimeError("flush failed")

        async def answer() -> int:
            await asyncio.sleep(0)
            return 42

        errors: list[str] = []
        rt = Runtime("test-runtime-c", on_error=lambda name, exc: errors.append(name))
        rt.on_stop(broken_flush)
        rt.on_stop(flush)
        rt.start()
        rt.start()  # idempotent
        assert rt.submit(answer()).result(10) == 42
        rt.stop()
        rt.stop()  # idempotent
        assert flushed == ["flushed"]
        assert errors == ["flush"]

    def test_job_added_while_running_starts(self) -> None:
        """every() on a running runtime schedules the job right away."""
        ran = threading.Event()

        async def job() -> None:
            ran.set()

        rt = Runtime("test-runtime-d")
        rt.start()
        rt.every("late", 60.0, job)
        assert ran.wait(10)
        rt.stop()

    def test_submit_before_start_is_refused(self) -> None:
        """Submitting to a stopped runtime raises instead of hanging."""

        async def nothing() -> None:
            return None

        with pytest.raises(RuntimeError, match="not running"):
            Runtime("test-runtime-e").submit(nothing())


def test_system_clock() -> None:
    """The system clock is a Clock: monotonic seconds and an aware UTC wall time."""
    assert isinstance(SYSTEM_CLOCK, Clock)
    clock = SystemClock()
    assert clock.now() <= clock.now()
    assert clock.wall().tzinfo is not None
