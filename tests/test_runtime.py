"""Tests for the runtime: periodic jobs on a fake clock, errors, flushes, restart and a leak-free stop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest

from sharedconfig.runtime import Runtime
from sharedconfig.testing import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def runtime(clock: FakeClock) -> Iterator[Runtime]:
    rt = Runtime("test-runtime", clock=clock)
    yield rt
    rt.stop()


def runtime_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("test-runtime")]


class TestJobs:
    def test_a_job_runs_at_start_and_after_each_interval(self, runtime: Runtime, clock: FakeClock) -> None:
        """Advancing 90 s of fake time runs a 30 s job at 0, 30, 60 and 90 s: no real wait."""
        runs: list[float] = []

        async def job() -> None:
            runs.append(clock.now())

        runtime.every("job", 30.0, job)
        runtime.start()
        clock.advance(90)
        assert runs == [0.0, 30.0, 60.0, 90.0]

    def test_the_delay_a_job_returns_decides_its_next_run(self, runtime: Runtime, clock: FakeClock) -> None:
        """A job returning 5 runs again after 5 s, not after its 60 s interval."""
        runs: list[float] = []

        async def job() -> float:
            runs.append(clock.now())
            return 5.0

        runtime.every("job", 60.0, job)
        runtime.start()
        clock.advance(12)
        assert runs == [0.0, 5.0, 10.0]

    def test_jobs_wake_in_deadline_order(self, runtime: Runtime, clock: FakeClock) -> None:
        """Two jobs with different intervals interleave by their deadlines, deterministically."""
        order: list[tuple[str, float]] = []

        def job(name: str):  # type: ignore[no-untyped-def]
            async def run() -> None:
                order.append((name, clock.now()))

            return run

        runtime.every("slow", 3.0, job("slow"))
        runtime.every("fast", 2.0, job("fast"))
        runtime.start()
        clock.advance(6)
        assert order == [
            ("slow", 0.0),
            ("fast", 0.0),
            ("fast", 2.0),
            ("slow", 3.0),
            ("fast", 4.0),
            ("slow", 6.0),
            ("fast", 6.0),
        ]

    def test_failing_job_is_reported_and_keeps_running(self, clock: FakeClock) -> None:
        """An exception goes to on_error and the job runs again after its interval."""
        errors: list[tuple[str, str]] = []
        calls: list[float] = []

        async def job() -> None:
            calls.append(clock.now())
            if len(calls) == 1:
                raise ValueError("first run fails")

        rt = Runtime(
            "test-runtime-b", on_error=lambda name, exc: errors.append((name, str(exc))), clock=clock
        )
        rt.every("flaky", 10.0, job)
        rt.start()
        clock.advance(10)
        rt.stop()
        assert errors == [("flaky", "first run fails")]
        assert calls == [0.0, 10.0]

    @pytest.mark.parametrize("error", [SystemExit, KeyboardInterrupt, GeneratorExit])
    def test_a_job_raising_a_base_exception_is_supervised(
        self, clock: FakeClock, error: type[BaseException]
    ) -> None:
        """SystemExit and the like from a job are reported; that job and the others keep running."""
        errors: list[str] = []
        runs: list[float] = []

        def on_error(name: str, exc: BaseException) -> None:
            errors.append(type(exc).__name__)

        rt = Runtime("test-runtime-f", on_error=on_error, clock=clock)

        async def dying() -> None:
            raise error("bye")

        async def steady() -> None:
            runs.append(clock.now())

        rt.every("dying", 10.0, dying)
        rt.every("steady", 10.0, steady)
        rt.start()
        try:
            clock.advance(20)
            assert rt.running
        finally:
            rt.stop()
        assert errors == [error.__name__] * 3
        assert runs == [0.0, 10.0, 20.0]

    def test_job_added_while_running_starts(self, runtime: Runtime, clock: FakeClock) -> None:
        """every() on a running runtime schedules the job right away."""
        runs: list[float] = []

        async def job() -> None:
            runs.append(clock.now())

        runtime.start()
        clock.advance(5)
        runtime.every("late", 60.0, job)
        clock.advance(0)
        assert runs == [5.0]

    def test_cancel_stops_a_job(self, runtime: Runtime, clock: FakeClock) -> None:
        """The function every() returns cancels the job: it neither runs again nor after a restart."""
        runs: list[float] = []

        async def job() -> None:
            runs.append(clock.now())

        cancel = runtime.every("job", 10.0, job)
        runtime.start()
        clock.advance(10)
        cancel()
        clock.advance(30)
        runtime.stop()
        runtime.start()
        clock.advance(10)
        assert runs == [0.0, 10.0]
        assert runtime.jobs == ()

    def test_thread_work_is_awaited_before_time_moves_on(self, runtime: Runtime, clock: FakeClock) -> None:
        """A job that offloads to a thread finishes that work before the clock takes its next step."""
        from sharedconfig.clock import to_thread

        seen: list[float] = []

        async def job() -> None:
            seen.append(await to_thread(clock.now))

        runtime.every("job", 1.0, job)
        runtime.start()
        clock.advance(3)
        assert seen == [0.0, 1.0, 2.0, 3.0]


class TestLifecycle:
    def test_stop_joins_the_thread(self, clock: FakeClock) -> None:
        """After stop() the runtime's thread is gone."""
        rt = Runtime("test-runtime-a", clock=clock)
        rt.start()
        assert rt.running
        rt.stop()
        assert not rt.running
        assert runtime_threads() == []

    def test_restart_runs_each_job_once(self, runtime: Runtime, clock: FakeClock) -> None:
        """start, stop, start: each job runs once per start, never twice (jobs belong to the runtime)."""
        runs: list[float] = []

        async def job() -> None:
            runs.append(clock.now())

        runtime.every("job", 30.0, job)
        runtime.start()
        runtime.stop()
        clock.advance(100)
        runtime.start()
        clock.advance(30)
        assert runs == [0.0, 100.0, 130.0]

    def test_flushes_run_at_every_stop_and_submit_works(self, clock: FakeClock) -> None:
        """on_stop flushes run on the loop at each stop; a failing one is reported; submit runs coroutines."""
        flushed: list[str] = []

        async def flush() -> None:
            flushed.append("flushed")

        async def broken_flush() -> None:
            raise RuntimeError("flush failed")

        async def answer() -> int:
            await asyncio.sleep(0)
            return 42

        errors: list[str] = []
        rt = Runtime("test-runtime-c", on_error=lambda name, exc: errors.append(name), clock=clock)
        rt.on_stop(broken_flush)
        rt.on_stop(flush)
        rt.start()
        rt.start()  # idempotent
        assert rt.submit(answer()).result(10) == 42
        rt.stop()
        rt.stop()  # idempotent
        rt.start()
        rt.stop()
        assert flushed == ["flushed", "flushed"]
        assert errors == ["flush", "flush"]

    def test_submit_before_start_is_refused(self) -> None:
        """Submitting to a stopped runtime raises instead of hanging."""

        async def nothing() -> None:
            return None

        with pytest.raises(RuntimeError, match="not running"):
            Runtime("test-runtime-e").submit(nothing())


class TestBlockingCalls:
    def test_blocking_calls_run_on_daemon_threads_that_end_with_the_call(
        self, runtime: Runtime, clock: FakeClock
    ) -> None:
        """asyncio.to_thread in a job runs on '<runtime>-call-N', a daemon thread gone once it returns."""
        seen: list[tuple[str, bool]] = []

        def blocking() -> None:
            me = threading.current_thread()
            seen.append((me.name, me.daemon))

        async def job() -> None:
            await asyncio.to_thread(blocking)

        runtime.every("blocking", 30, job)
        runtime.start()
        clock.advance(30)
        assert seen == [("test-runtime-call-1", True), ("test-runtime-call-2", True)]
        assert [t.name for t in runtime_threads()] == ["test-runtime"]  # no idle worker stays
        assert runtime.stop() == []

    def test_a_call_is_described_by_what_it_runs(self) -> None:
        """The description a stop gives an abandoned call sees through partial and Context.run."""
        import contextvars
        import functools

        from sharedconfig.runtime import _describe

        def probe() -> None:
            return None

        wrapped = functools.partial(contextvars.copy_context().run, functools.partial(probe))
        assert _describe(wrapped, ()) == (
            "TestBlockingCalls.test_a_call_is_described_by_what_it_runs.<locals>.probe"
        )
        assert _describe(len, ()) == "len"
