"""A bounded stop: flushes share a real-time budget, what hangs is abandoned and said, no thread stays.

These wait in real time on purpose: the budget is a promise about real seconds (a SIGTERM's grace
period), whatever clock the jobs use. Each budget is short and every wait below is bounded.
"""

from __future__ import annotations

import asyncio
import gc
import io
import json
import os
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest

from sharedconfig.monitoring.health import HealthCheck
from sharedconfig.monitoring.hub import Monitoring
from sharedconfig.monitoring.settings import MonitoringSettings
from sharedconfig.runtime import Runtime

pytestmark = pytest.mark.integration

BUDGET = 1.0
SLACK = 0.5
"""Real seconds a stop may run past its budget on a loaded two-core machine (joins, thread wake-ups)."""


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """Set at the end of the test: blocking calls the test abandoned return, so their threads end."""
    event = threading.Event()
    yield event
    event.set()


@pytest.fixture
def black_hole() -> Iterator[str]:
    """A TCP endpoint that accepts connections and never answers (the exporter's worst peer)."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    done = threading.Event()

    def accept() -> None:
        listener.settimeout(0.05)
        while not done.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            held.append(conn)

    thread = threading.Thread(target=accept, name="black-hole", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    done.set()
    thread.join(2)
    for conn in held:
        conn.close()
    listener.close()


T = TypeVar("T")


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    """``fn()`` and the real seconds it took."""
    start = time.monotonic()
    result = fn()
    return result, time.monotonic() - start


class TestRuntimeStop:
    def test_a_hanging_flush_is_cut_at_its_share_and_the_next_flush_still_runs(self) -> None:
        """Two flushes, the first never ends: stop returns in budget, names it, and runs the second."""
        ran: list[str] = []

        async def hang() -> None:
            await asyncio.Event().wait()

        async def push() -> None:
            ran.append("push")

        rt = Runtime("test-budget-flush")
        rt.on_stop(hang, "stuck")
        rt.on_stop(push, "pusher")
        rt.start()
        abandoned, took = timed(lambda: rt.stop(BUDGET))
        assert took < BUDGET + SLACK
        assert ran == ["push"]
        assert len(abandoned) == 1 and abandoned[0].startswith("flush stuck (after")
        assert not rt.running

    def test_a_blocking_call_that_never_returns_is_abandoned_on_a_daemon_thread(
        self, release: threading.Event
    ) -> None:
        """A job in asyncio.to_thread that blocks: stop returns in budget and names the call's thread."""
        started = threading.Event()

        def blocked_forever() -> None:
            started.set()
            release.wait(30)

        async def job() -> None:
            await asyncio.to_thread(blocked_forever)

        rt = Runtime("test-budget-call")
        rt.every("blocking", 60, job)
        rt.start()
        assert started.wait(5)
        abandoned, took = timed(lambda: rt.stop(BUDGET))
        assert took < BUDGET + SLACK
        assert abandoned == [
            "thread test-budget-call-call-1 (TestRuntimeStop."
            "test_a_blocking_call_that_never_returns_is_abandoned_on_a_daemon_thread.<locals>.blocked_forever)"
        ]
        left = [t for t in threading.enumerate() if t.name.startswith("test-budget-call")]
        assert [t.name for t in left] == ["test-budget-call-call-1"] and left[0].daemon
        release.set()
        left[0].join(5)
        assert not left[0].is_alive()  # returned: its thread ends (no idle pool worker stays)

    def test_a_job_that_ignores_cancellation_is_named_and_nothing_reaches_stderr(
        self, capfd: pytest.CaptureFixture[str]
    ) -> None:
        """A job swallowing CancelledError: stop still returns in budget, no "Task was destroyed"."""
        errors: list[str] = []

        async def stubborn() -> None:
            while True:
                try:
                    await asyncio.sleep(3600)
                except asyncio.CancelledError:
                    continue

        rt = Runtime("test-budget-job", on_error=lambda name, exc: errors.append(name))
        rt.every("stubborn", 60, stubborn)
        rt.start()
        abandoned, took = timed(lambda: rt.stop(BUDGET))
        assert took < BUDGET + SLACK
        assert abandoned == ["job stubborn (ignored its cancellation)"]
        assert errors == ["task stubborn"]  # said once through on_error, not printed by asyncio
        rt = None  # its loop and the stubborn task go with it: still nothing on stderr
        gc.collect()
        assert "Task was destroyed" not in capfd.readouterr().err

    def test_loop_errors_go_to_on_error_not_stderr(self, capfd: pytest.CaptureFixture[str]) -> None:
        """A callback that raises is reported through on_error; asyncio prints nothing."""
        errors: list[tuple[str, str]] = []

        def broken() -> None:
            raise ValueError("callback broke")

        async def schedule() -> None:
            asyncio.get_running_loop().call_soon(broken)
            await asyncio.sleep(0)
            await asyncio.sleep(0)

        rt = Runtime("test-budget-loop", on_error=lambda name, exc: errors.append((name, str(exc))))
        rt.start()
        try:
            rt.submit(schedule()).result(5)
        finally:
            rt.stop(BUDGET)
        assert errors == [("event loop", "callback broke")]
        assert "callback broke" not in capfd.readouterr().err


class TestMonitoringStop:
    def settings(self, endpoint: str) -> MonitoringSettings:
        return MonitoringSettings.model_validate(
            {
                "shutdown_timeout": f"{BUDGET}s",
                "logging": {"format": "json", "capture_stdlib": False},
                "health": {"check_interval": "60s", "timeout": "30s"},
                "metrics": {
                    "exporters": [
                        {
                            "type": "prometheus",
                            "endpoint": endpoint,
                            "push_interval": "60s",
                            "retry": {"max_retries": 0},
                        }
                    ]
                },
            }
        )

    def test_stop_is_bounded_with_a_hanging_exporter_and_a_hanging_check(
        self, black_hole: str, release: threading.Event
    ) -> None:
        """The issue's case: an endpoint that never answers and a sync check that never returns."""
        stream = io.StringIO()
        mon = Monitoring(self.settings(black_hole), stream=stream)
        checking = threading.Event()

        def hanging_check() -> bool:
            checking.set()
            release.wait(30)
            return True

        mon.health.register(HealthCheck("hangs", hanging_check))
        before = set(threading.enumerate())
        mon.start()
        assert checking.wait(5)
        abandoned, took = timed(mon.stop)
        assert took < BUDGET + SLACK
        kinds = sorted(a.split(" ", 1)[0] for a in abandoned)
        assert "flush" in kinds and "thread" in kinds, abandoned
        assert any(a.startswith("flush exporters") for a in abandoned)
        assert any(a.endswith("(health check 'hangs')") for a in abandoned), abandoned
        assert mon.metrics.sample_value("shutdown_abandoned_total", {"kind": "flush"}) == 1.0
        lines = [json.loads(line) for line in stream.getvalue().splitlines()]
        warning = next(r for r in lines if r["event"] == "monitoring stopped, abandoning work")
        assert warning["abandoned"] == abandoned and warning["budget_s"] == BUDGET
        left = [t for t in threading.enumerate() if t not in before and t.is_alive()]
        assert all(t.daemon and "-call-" in t.name for t in left), [t.name for t in left]
        release.set()
        for thread in left:
            thread.join(5)
        assert not [t for t in threading.enumerate() if t not in before and t.is_alive()]

    def test_a_clean_stop_abandons_nothing(self) -> None:
        """Nothing hangs: stop returns [] and logs the plain line."""
        stream = io.StringIO()
        mon = Monitoring(
            MonitoringSettings.model_validate({"logging": {"format": "json", "capture_stdlib": False}}),
            stream=stream,
        )
        mon.start()
        assert mon.stop() == []
        assert '"monitoring stopped"' in stream.getvalue()
        assert mon.stop() == []  # idempotent


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX only")
class TestFork:
    def test_a_forked_child_gets_a_runtime_of_its_own_and_exits_promptly(self) -> None:
        """After fork the child's runtime runs jobs on a thread of its own, and its exit is quick."""
        stream = io.StringIO()
        mon = Monitoring(
            MonitoringSettings.model_validate(
                {"shutdown_timeout": "2s", "logging": {"format": "json", "capture_stdlib": False}}
            ),
            stream=stream,
        )
        mon.start()
        ran_in: list[int] = []

        async def where() -> int:
            return os.getpid()

        read, write = os.pipe()
        try:
            pid = os.fork()
            if pid == 0:  # the child: report, stop, and leave without the parent's pytest teardown
                code = 1
                try:
                    child = os.getpid()
                    ok = (
                        mon.started and mon.runtime.running and mon.runtime.submit(where()).result(5) == child
                    )
                    start = time.monotonic()
                    mon.stop()
                    code = 0 if ok and time.monotonic() - start < 2.5 and not mon.runtime.running else 2
                finally:
                    os.write(write, bytes([code]))
                    os._exit(code)
            os.close(write)
            ready, _, _ = select.select([read], [], [], 15)
            assert ready, "the child did not answer within 15 s"
            answer = os.read(read, 1)
            _, status = os.waitpid(pid, 0)
            assert answer == b"\x00" and os.waitstatus_to_exitcode(status) == 0
            ran_in.append(mon.runtime.submit(where()).result(5))
            assert ran_in == [os.getpid()]  # the parent's runtime is untouched by the child's
        finally:
            os.close(read)
            mon.stop()
