"""Tests for HealthMonitor: concurrency, timeouts, scheduling, settings overrides, transitions, reports.

Time is a FakeClock throughout: timeouts fire when a test advances it, and a real ``Runtime`` on the fake
clock runs the monitor as a periodic job, so nothing waits in real time.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import pytest

from sharedconfig.interfaces import HealthChecker, HealthState
from sharedconfig.monitoring.health import (
    STATE_VALUES,
    CheckResult,
    HealthCheck,
    HealthMonitor,
)
from sharedconfig.monitoring.health.monitor import Scope
from sharedconfig.monitoring.names import HEALTH_CHECK_DURATION, HEALTH_CHECK_STATUS, HEALTH_CHECK_TRANSITIONS
from sharedconfig.monitoring.settings import HealthCheckSettings, HealthSettings
from sharedconfig.runtime import Runtime
from sharedconfig.testing import FakeClock, HealthCheckerContract, InMemoryMetricsRecorder, RecordingLogger

T = TypeVar("T")


@dataclass
class Rig:
    """A monitor wired to in-memory fakes."""

    monitor: HealthMonitor
    metrics: InMemoryMetricsRecorder
    logger: RecordingLogger
    clock: FakeClock


def rig(
    *checks: HealthCheck,
    interval: float = 30,
    timeout: float = 10,
    overrides: tuple[HealthCheckSettings, ...] = (),
    enabled: bool = True,
) -> Rig:
    settings = HealthSettings(
        enabled=enabled,
        check_interval=timedelta(seconds=interval),
        timeout=timedelta(seconds=timeout),
        checks=overrides,
    )
    metrics, logger, clock = InMemoryMetricsRecorder(), RecordingLogger(), FakeClock(start=100.0)
    monitor = HealthMonitor(settings, metrics=metrics, logger=logger, clock=clock)
    for check in checks:
        monitor.register(check)
    return Rig(monitor, metrics, logger, clock)


@dataclass
class Switch:
    """A check function whose state the test sets, counting its calls."""

    state: HealthState = HealthState.HEALTHY
    message: str = ""
    calls: int = 0

    def __call__(self) -> CheckResult:
        self.calls += 1
        return CheckResult(self.state, self.message)


async def advancing(clock: FakeClock, seconds: float, work: Awaitable[T]) -> T:
    """Run ``work`` while ``clock`` advances ``seconds`` (firing the timeouts due), then await its end."""
    task = asyncio.ensure_future(work)
    await clock.advance_async(seconds)
    return await task


def returning(result: CheckResult) -> Callable[[], CheckResult]:
    """A check function that always returns ``result``."""
    return lambda: result


async def forever() -> None:
    """A check that never returns."""
    await asyncio.Event().wait()


class TestHealthMonitorContract(HealthCheckerContract):
    """HealthMonitor passes the reusable HealthChecker contract, its checks run once."""

    def make_with(self, dependencies: Mapping[str, CheckResult]) -> HealthChecker:
        """A monitor with one check per dependency, each returning its result, run once."""
        r = rig(*(HealthCheck(name, returning(result)) for name, result in dependencies.items()))
        asyncio.run(r.monitor.run_all())
        return r.monitor


class TestConcurrency:
    def test_async_checks_run_concurrently(self) -> None:
        """Two async checks that each wait for the other to start only finish when run together."""
        a_started, b_started = asyncio.Event(), asyncio.Event()

        async def a() -> bool:
            a_started.set()
            await b_started.wait()
            return True

        async def b() -> bool:
            b_started.set()
            await a_started.wait()
            return True

        r = rig(HealthCheck("a", a, timeout=5), HealthCheck("b", b, timeout=5))
        asyncio.run(r.monitor.run_all())
        states = {name: c.state for name, c in r.monitor.report().checks.items()}
        assert states == {"a": HealthState.HEALTHY, "b": HealthState.HEALTHY}

    def test_sync_checks_run_concurrently_in_threads(self) -> None:
        """Two blocking checks that each wait for the other to start only finish when run in threads."""
        a_started, b_started = threading.Event(), threading.Event()

        def a() -> bool:
            a_started.set()
            return b_started.wait(5)

        def b() -> bool:
            b_started.set()
            return a_started.wait(5)

        r = rig(HealthCheck("a", a), HealthCheck("b", b))
        asyncio.run(r.monitor.run_all())
        assert r.monitor.report().status is HealthState.HEALTHY

    def test_report_reads_the_cache_while_a_check_is_running(self) -> None:
        """report() answers from the cache while a slow check is still in progress."""
        release = asyncio.Event()
        seen: list[HealthState] = []

        async def slow() -> bool:
            await release.wait()
            return True

        r = rig(HealthCheck("slow", slow, timeout=5))

        async def scenario() -> None:
            run = asyncio.create_task(r.monitor.run_all())
            await asyncio.sleep(0)  # let the check start
            seen.append(r.monitor.report().checks["slow"].state)
            release.set()
            await run
            seen.append(r.monitor.report().checks["slow"].state)

        asyncio.run(scenario())
        assert seen == [HealthState.UNKNOWN, HealthState.HEALTHY]


class GatedClock:
    """A clock whose sleeps end only when the test opens the gate: a timeout fires on command.

    A FakeClock waits for thread work before it moves, so it cannot time out a sync check that hangs in
    its thread; this clock can, with no real wait either.
    """

    def __init__(self) -> None:
        self.time = 0.0
        self.gate = asyncio.Event()

    def now(self) -> float:
        """The time the test set."""
        return self.time

    def wall(self) -> datetime:
        """A fixed day plus ``time``."""
        return datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=self.time)

    async def sleep(self, seconds: float) -> None:
        """Wait for the gate."""
        await self.gate.wait()


class TestTimeouts:
    def test_an_async_check_that_never_returns_times_out(self) -> None:
        """A check awaiting forever is unhealthy "timed out after 5s" once 5 s pass; its neighbours finish."""
        r = rig(HealthCheck("stuck", forever, timeout=5), HealthCheck("ok", Switch()))

        async def scenario() -> None:
            run = asyncio.create_task(r.monitor.run_all())
            await r.clock.advance_async(4.9)
            assert not run.done()  # still within the timeout
            assert r.monitor.report().checks["ok"].state is HealthState.HEALTHY
            await advancing(r.clock, 0.1, run)

        asyncio.run(scenario())
        checks = r.monitor.report().checks
        assert checks["stuck"].state is HealthState.UNHEALTHY
        assert checks["stuck"].message == "timed out after 5s"
        assert checks["stuck"].duration_seconds == 5
        assert checks["ok"].state is HealthState.HEALTHY

    def test_a_check_ignoring_cancellation_is_not_started_again_until_it_ends(self) -> None:
        """A timed-out check that swallows its cancellation is skipped on later runs until it finishes."""
        release = asyncio.Event()
        calls: list[int] = []

        async def stubborn() -> bool:
            calls.append(1)
            while not release.is_set():
                try:
                    await release.wait()
                except asyncio.CancelledError:
                    continue  # deliberately misbehaving
            return True

        r = rig(HealthCheck("stubborn", stubborn, timeout=1, interval=10))

        async def scenario() -> list[HealthState]:
            states = []
            await advancing(r.clock, 1, r.monitor.run_due())
            states.append(r.monitor.report().checks["stubborn"].state)
            await r.clock.advance_async(9)
            await advancing(r.clock, 1, r.monitor.run_due())  # still running: not started again, result kept
            states.append(r.monitor.report().checks["stubborn"].state)
            release.set()
            await r.clock.advance_async(0)  # let the abandoned task finish
            await r.clock.advance_async(9)
            await r.monitor.run_due()
            states.append(r.monitor.report().checks["stubborn"].state)
            return states

        states = asyncio.run(scenario())
        assert states == [HealthState.UNHEALTHY, HealthState.UNHEALTHY, HealthState.HEALTHY]
        assert len(calls) == 2

    def test_a_hung_sync_check_keeps_its_thread_but_times_out_and_is_not_restarted(self) -> None:
        """A blocking check past its timeout is recorded as timed out and not run again while it blocks."""
        release, started = threading.Event(), threading.Event()
        calls: list[int] = []

        def hung() -> bool:
            calls.append(1)
            started.set()
            return release.wait(30)

        clock = GatedClock()
        monitor = HealthMonitor(
            HealthSettings(check_interval=timedelta(seconds=10), timeout=timedelta(seconds=1)),
            metrics=InMemoryMetricsRecorder(),
            logger=RecordingLogger(),
            clock=clock,
        )
        monitor.register(HealthCheck("hung", hung))

        async def scenario() -> list[str]:
            messages = []
            run = asyncio.create_task(monitor.run_due())
            await asyncio.to_thread(started.wait, 5)  # the check blocks in its thread now
            clock.gate.set()  # its 1 s timeout passes
            await run
            messages.append(monitor.report().checks["hung"].message)
            clock.time = 10
            await monitor.run_due()  # due again, but its thread still blocks: not started a second time
            messages.append(monitor.report().checks["hung"].message)
            clock.gate.clear()
            release.set()
            while calls == [1]:
                clock.time += 10
                await monitor.run_due()  # started again once the blocked thread has returned
            messages.append(monitor.report().checks["hung"].state.value)
            return messages

        assert asyncio.run(scenario()) == ["timed out after 1s", "timed out after 1s", "healthy"]
        assert len(calls) == 2

    def test_settings_timeout_applies_when_the_check_gives_none(self) -> None:
        """Without its own timeout a check gets health.timeout from the settings."""
        r = rig(HealthCheck("stuck", forever), interval=30, timeout=2)
        asyncio.run(advancing(r.clock, 2, r.monitor.run_all()))
        assert r.monitor.report().checks["stuck"].message == "timed out after 2s"


class TestOutcomes:
    @pytest.mark.parametrize(
        ("outcome", "state"),
        [
            (None, HealthState.HEALTHY),
            (True, HealthState.HEALTHY),
            (False, HealthState.UNHEALTHY),
            (HealthState.DEGRADED, HealthState.DEGRADED),
            (CheckResult(HealthState.UNKNOWN, "no data"), HealthState.UNKNOWN),
            ("ok", HealthState.UNHEALTHY),
        ],
    )
    def test_every_return_type_maps_to_a_state(self, outcome: object, state: HealthState) -> None:
        """None/True are healthy, False unhealthy, states and results kept, other types unhealthy."""
        for fn in (lambda: outcome, self._async(outcome)):
            r = rig(HealthCheck("c", fn))  # type: ignore[arg-type]  # wrong return types on purpose
            asyncio.run(r.monitor.run_all())
            assert r.monitor.report().checks["c"].state is state

    @staticmethod
    def _async(outcome: object) -> Callable[[], object]:
        async def fn() -> object:
            return outcome

        return fn

    def test_raising_is_unhealthy_with_type_and_message_only(self) -> None:
        """An exception becomes "Type: message"; the check's arguments are never shown."""

        def connect(password: str = "canary-pw-91") -> None:
            raise ConnectionError("refused by db:5432")

        r = rig(HealthCheck("db", connect))
        asyncio.run(r.monitor.run_all())
        check = r.monitor.report().checks["db"]
        assert (check.state, check.message) == (HealthState.UNHEALTHY, "ConnectionError: refused by db:5432")
        assert "canary-pw-91" not in json.dumps(r.monitor.report().to_dict())

    def test_a_sync_function_returning_a_coroutine_is_awaited(self) -> None:
        """A lambda wrapping an async call works like an async check."""

        async def ping() -> HealthState:
            return HealthState.DEGRADED

        def start_ping() -> Coroutine[None, None, HealthState]:
            return ping()

        r = rig(HealthCheck("c", start_ping))
        asyncio.run(r.monitor.run_all())
        assert r.monitor.report().checks["c"].state is HealthState.DEGRADED

    def test_duration_comes_from_the_injected_clock(self) -> None:
        """duration_seconds is measured with the monitor's clock."""
        r = rig()

        async def slow() -> bool:
            await r.clock.advance_async(0.25)
            return True

        r.monitor.register(HealthCheck("slow", slow))
        asyncio.run(r.monitor.run_all())
        assert r.monitor.report().checks["slow"].duration_seconds == pytest.approx(0.25)
        assert r.metrics.get_metrics(HEALTH_CHECK_DURATION)[0].value == pytest.approx(0.25)


class TestScheduling:
    def test_run_due_runs_each_check_on_its_interval_and_returns_the_next_delay(self) -> None:
        """Checks run when due by the clock; run_due returns the seconds until the next is due."""
        fast, slow = Switch(), Switch()
        r = rig(HealthCheck("fast", fast, interval=10), HealthCheck("slow", slow, interval=30))
        m, clock = r.monitor, r.clock

        assert asyncio.run(m.run_due()) == 10  # both ran at t=0
        assert (fast.calls, slow.calls) == (1, 1)
        clock.advance(4)
        assert asyncio.run(m.run_due()) == pytest.approx(6)  # nothing due yet
        assert (fast.calls, slow.calls) == (1, 1)
        clock.advance(6)
        assert asyncio.run(m.run_due()) == 10  # t=10: fast again; slow due at 30
        assert (fast.calls, slow.calls) == (2, 1)
        clock.advance(20)
        assert asyncio.run(m.run_due()) == 10  # t=30: both
        assert (fast.calls, slow.calls) == (3, 2)

    def test_intervals_default_to_check_interval(self) -> None:
        """A check without an interval runs every health.check_interval."""
        r = rig(HealthCheck("c", Switch()), interval=45)
        assert asyncio.run(r.monitor.run_due()) == 45

    def test_no_checks_means_waiting_the_default_interval(self) -> None:
        """With nothing registered run_due returns check_interval so new checks are picked up."""
        assert asyncio.run(rig(interval=30).monitor.run_due()) == 30

    def test_a_newly_registered_check_is_due_at_once(self) -> None:
        """Registering makes the check due immediately, so run_due then returns 0 or runs it."""
        r = rig(HealthCheck("a", Switch(), interval=60))
        asyncio.run(r.monitor.run_due())
        late = Switch()
        r.monitor.register(HealthCheck("late", late, interval=60))
        assert asyncio.run(r.monitor.run_due()) == 60
        assert late.calls == 1

    def test_run_all_runs_everything_now_and_restarts_intervals(self) -> None:
        """run_all runs checks that are not due and reschedules them from now."""
        a = Switch()
        r = rig(HealthCheck("a", a, interval=10))
        asyncio.run(r.monitor.run_due())
        r.clock.advance(5)
        asyncio.run(r.monitor.run_all())
        assert a.calls == 2
        assert asyncio.run(r.monitor.run_due()) == 10

    def test_disabled_checks_and_disabled_health_run_nothing(self) -> None:
        """enabled=False on a check, or on the whole health section, means it never runs or shows."""
        off = Switch()
        r = rig(HealthCheck("off", off, enabled=False), HealthCheck("on", Switch()))
        asyncio.run(r.monitor.run_all())
        assert off.calls == 0
        assert set(r.monitor.report().checks) == {"on"}
        whole = Switch()
        r = rig(HealthCheck("c", whole), enabled=False, interval=30)
        assert asyncio.run(r.monitor.run_due()) == 30
        assert whole.calls == 0
        report = r.monitor.report("ready")
        assert (report.status, report.http_status, dict(report.checks)) == (HealthState.HEALTHY, 200, {})


class TestOnTheRuntime:
    """A real Runtime on a FakeClock runs ``monitor.run_due`` as its periodic job."""

    def test_a_30s_check_runs_on_schedule_as_fake_time_passes(self) -> None:
        """Advancing 90 s of fake time runs 30 s checks at 0, 30, 60 and 90 s: four runs each, no sleep."""
        threaded, ran_at = Switch(), []
        r = rig()

        async def ping() -> bool:
            ran_at.append(r.clock.now())
            return True

        r.monitor.register(HealthCheck("sync", threaded, interval=30))
        r.monitor.register(HealthCheck("async", ping, interval=30))
        runtime = Runtime("health-schedule-test", clock=r.clock)
        runtime.every("health", 30, r.monitor.run_due)
        runtime.start()
        try:
            r.clock.advance(90)
        finally:
            runtime.stop()
        assert threaded.calls == 4  # the initial run and three more
        assert ran_at == [100.0, 130.0, 160.0, 190.0]
        assert r.monitor.report().checks["sync"].checked_at == r.clock.wall()

    def test_a_check_past_its_timeout_is_unhealthy_once_the_timeout_has_passed(self) -> None:
        """A check that never returns stays unknown for 5 s of fake time, then is unhealthy "timed out"."""
        r = rig(
            HealthCheck("stuck", forever, timeout=5, interval=30), HealthCheck("ok", Switch(), interval=30)
        )
        runtime = Runtime("health-timeout-test", clock=r.clock)
        runtime.every("health", 30, r.monitor.run_due)
        runtime.start()
        try:
            r.clock.advance(4.5)
            before = r.monitor.report().checks["stuck"]
            r.clock.advance(0.5)
            after = r.monitor.report()
        finally:
            runtime.stop()
        assert (before.state, before.message) == (HealthState.UNKNOWN, "not run yet")
        stuck = after.checks["stuck"]
        assert (stuck.state, stuck.message, stuck.duration_seconds) == (
            HealthState.UNHEALTHY,
            "timed out after 5s",
            5.0,
        )
        assert after.checks["ok"].state is HealthState.HEALTHY
        assert after.status is HealthState.DEGRADED  # a non-critical check is unhealthy


class TestRegistration:
    def test_duplicate_names_are_rejected(self) -> None:
        """Registering a second check under a taken name raises ValueError."""
        r = rig(HealthCheck("a", Switch()))
        with pytest.raises(ValueError, match="already registered"):
            r.monitor.register(HealthCheck("a", Switch()))

    def test_unregister_forgets_the_check_and_tolerates_unknown_names(self) -> None:
        """unregister removes the check and its result; an unknown name is ignored."""
        r = rig(HealthCheck("a", Switch()))
        asyncio.run(r.monitor.run_all())
        assert "a" in r.monitor
        r.monitor.unregister("a")
        r.monitor.unregister("never")
        assert "a" not in r.monitor
        assert r.monitor.report().checks == {}

    def test_a_result_arriving_after_unregister_is_dropped(self) -> None:
        """A check unregistered while it runs leaves no result behind."""
        r = rig()

        async def leaving() -> bool:
            r.monitor.unregister("leaving")
            return True

        r.monitor.register(HealthCheck("leaving", leaving))
        asyncio.run(r.monitor.run_all())
        assert r.monitor.report().checks == {}
        assert r.metrics.get_metrics(HEALTH_CHECK_STATUS) == []

    def test_a_check_named_only_in_settings_is_unknown_not_registered(self) -> None:
        """security_manager listed in settings but never registered shows unknown "not registered"."""
        r = rig(
            HealthCheck("db", Switch()),
            overrides=(
                HealthCheckSettings(name="security_manager", critical=True, tags={"team": "sec"}),
                HealthCheckSettings(name="retired", enabled=False),
            ),
        )
        asyncio.run(r.monitor.run_all())
        checks = r.monitor.report().checks
        assert set(checks) == {"db", "security_manager"}
        seam = checks["security_manager"]
        assert (seam.state, seam.message, seam.critical, dict(seam.tags)) == (
            HealthState.UNKNOWN,
            "not registered",
            True,
            {"team": "sec"},
        )
        r.monitor.register(HealthCheck("security_manager", Switch()))
        asyncio.run(r.monitor.run_due())
        assert r.monitor.report().checks["security_manager"].state is HealthState.HEALTHY
        assert r.monitor.report().checks["security_manager"].critical

    def test_settings_override_only_the_fields_they_set(self) -> None:
        """Settings set interval, timeout, critical, enabled, description; unset fields keep the check's."""
        a = Switch()
        r = rig(
            HealthCheck("a", a, interval=10, critical=True, tags={"x": "1"}, description="own"),
            HealthCheck("b", Switch(), interval=10, critical=True),
            HealthCheck("c", Switch(), enabled=False),
            overrides=(
                HealthCheckSettings(name="a", interval=timedelta(seconds=60), tags={"y": "2"}),
                HealthCheckSettings(name="b", critical=False, description="from settings"),
                HealthCheckSettings(name="c", enabled=True),
            ),
        )
        assert asyncio.run(r.monitor.run_due()) == 10  # b keeps its own 10s; a now runs every 60s
        checks = r.monitor.report().checks
        assert (checks["a"].critical, dict(checks["a"].tags), checks["a"].description) == (
            True,
            {"x": "1", "y": "2"},
            "own",
        )
        assert (checks["b"].critical, checks["b"].description) == (False, "from settings")
        assert checks["c"].state is HealthState.HEALTHY
        r.clock.advance(10)
        asyncio.run(r.monitor.run_due())
        assert a.calls == 1
        r.clock.advance(50)
        asyncio.run(r.monitor.run_due())
        assert a.calls == 2

    def test_settings_timeout_overrides_the_checks_own(self) -> None:
        """A timeout in settings replaces the one the check was registered with."""
        r = rig(
            HealthCheck("stuck", forever, timeout=5),
            overrides=(HealthCheckSettings(name="stuck", timeout=timedelta(milliseconds=20)),),
        )
        asyncio.run(advancing(r.clock, 0.02, r.monitor.run_all()))
        assert r.monitor.report().checks["stuck"].message == "timed out after 0.02s"


class TestTransitionsAndMetrics:
    def test_transitions_are_logged_and_counted(self) -> None:
        """Each change of state logs old and new state and counts check/from/to; repeats do not."""
        switch = Switch()
        r = rig(HealthCheck("db", switch, interval=1))
        m = r.monitor
        asyncio.run(m.run_all())
        switch.state, switch.message = HealthState.UNHEALTHY, "down"
        asyncio.run(m.run_all())
        asyncio.run(m.run_all())
        switch.state = HealthState.HEALTHY
        asyncio.run(m.run_all())
        moves = [(x.labels["from"], x.labels["to"]) for x in r.metrics.get_metrics(HEALTH_CHECK_TRANSITIONS)]
        assert moves == [("unknown", "healthy"), ("healthy", "unhealthy"), ("unhealthy", "healthy")]
        assert {x.labels["check"] for x in r.metrics.get_metrics(HEALTH_CHECK_TRANSITIONS)} == {"db"}
        logged = [(x.level, x.fields["old"], x.fields["new"]) for x in r.logger.records if "old" in x.fields]
        assert logged == [
            ("info", "unknown", "healthy"),
            ("warning", "healthy", "unhealthy"),
            ("info", "unhealthy", "healthy"),
        ]
        down = next(x for x in r.logger.records if x.level == "warning")
        assert (down.fields["check"], down.fields["reason"]) == ("db", "down")

    def test_every_run_records_the_status_gauge_and_duration(self) -> None:
        """health_check_status is 1/0.5/0/-1 per state and a duration is observed on every run."""
        switch = Switch()
        r = rig(HealthCheck("db", switch))
        for state in (HealthState.HEALTHY, HealthState.DEGRADED, HealthState.UNHEALTHY, HealthState.UNKNOWN):
            switch.state = state
            asyncio.run(r.monitor.run_all())
        gauge = r.metrics.get_metrics(HEALTH_CHECK_STATUS)
        assert [g.value for g in gauge] == [1.0, 0.5, 0.0, -1.0]
        assert [g.value for g in gauge] == [STATE_VALUES[s] for s in HealthState]
        assert all(g.labels == {"check": "db"} for g in gauge)
        durations = r.metrics.get_metrics(HEALTH_CHECK_DURATION)
        assert len(durations) == 4 and all(d.labels == {"check": "db"} for d in durations)


class TestReports:
    def test_unchanged_checks_are_the_same_values_in_every_report(self) -> None:
        """Until a check runs again, reports share its status object (what /health's memo keys on)."""
        r = rig(
            HealthCheck("db", Switch()),
            HealthCheck("cache", Switch()),
            overrides=(HealthCheckSettings(name="security_manager"),),
        )
        first, second = r.monitor.report().checks, r.monitor.report().checks  # db and cache: not run yet
        assert all(first[name] is second[name] for name in ("db", "cache", "security_manager"))
        asyncio.run(r.monitor.run_all())
        after = r.monitor.report().checks
        assert after["db"] is not first["db"]  # a new result is a new value
        assert after["db"] is r.monitor.report().checks["db"]

    def test_report_to_dict_is_json_ready(self) -> None:
        """to_dict has status, scope, time and per-check fields, and survives json.dumps."""
        r = rig()

        def detailed() -> CheckResult:
            return CheckResult(
                HealthState.DEGRADED,
                "slow",
                {"latency": timedelta(milliseconds=250), "hosts": ("a", "b"), "state": HealthState.HEALTHY},
            )

        r.monitor.register(HealthCheck("db", detailed, critical=True, tags={"tier": "data"}))
        asyncio.run(r.monitor.run_all())
        data = json.loads(json.dumps(r.monitor.report().to_dict()))
        assert data["status"] == "degraded" and data["scope"] == "all"
        assert data["checked_at"] == "2026-01-01T00:00:00+00:00"
        assert data["checks"]["db"] == {
            "name": "db",
            "state": "degraded",
            "message": "slow",
            "critical": True,
            "duration_seconds": 0.0,
            "checked_at": "2026-01-01T00:00:00+00:00",
            "description": "",
            "tags": {"tier": "data"},
            "details": {"latency": 0.25, "hosts": ["a", "b"], "state": "healthy"},
        }

    def test_reports_are_frozen(self) -> None:
        """A report and its check entries cannot be changed."""
        report = rig(HealthCheck("a", Switch())).monitor.report()
        with pytest.raises(AttributeError):
            report.status = HealthState.UNHEALTHY  # type: ignore[misc]
        with pytest.raises(AttributeError):
            report.checks["a"].result = CheckResult(HealthState.UNHEALTHY)  # type: ignore[misc]
        with pytest.raises(AttributeError):
            report.checks["a"].result.state = HealthState.UNHEALTHY  # type: ignore[misc]

    def test_an_unknown_scope_is_rejected(self) -> None:
        """report() accepts only all, live and ready."""
        with pytest.raises(ValueError, match="unknown health scope"):
            rig().monitor.report("deep")  # type: ignore[arg-type]

    def test_health_checker_views_summarise_the_cache(self) -> None:
        """health_check names the failing checks; dependencies lists every check; status is the value."""
        r = rig(
            HealthCheck("db", Switch(HealthState.UNHEALTHY, "down"), critical=True),
            HealthCheck("cache", Switch(HealthState.DEGRADED)),
            HealthCheck("queue", Switch()),
        )
        r.clock.advance(1)
        asyncio.run(r.monitor.run_all())
        status = r.monitor.health_check()
        assert (status.state, status.message) == (HealthState.UNHEALTHY, "unhealthy: db; degraded: cache")
        assert status.details == {"checks": {"cache": "degraded", "db": "unhealthy", "queue": "healthy"}}
        assert status.checked_at == r.clock.wall()
        assert [(d.name, d.state, d.message) for d in r.monitor.dependencies()] == [
            ("cache", HealthState.DEGRADED, ""),
            ("db", HealthState.UNHEALTHY, "down"),
            ("queue", HealthState.HEALTHY, ""),
        ]
        assert r.monitor.status() == "unhealthy"

    def test_dependencies_not_checked_yet_are_unknown_without_a_time(self) -> None:
        """A check not run yet, or only named in settings, is unknown with checked_at None."""
        r = rig(HealthCheck("db", Switch()), overrides=(HealthCheckSettings(name="security_manager"),))
        assert [(d.name, d.state, d.message, d.checked_at) for d in r.monitor.dependencies()] == [
            ("db", HealthState.UNKNOWN, "not run yet", None),
            ("security_manager", HealthState.UNKNOWN, "not registered", None),
        ]
        status = r.monitor.health_check()
        assert (status.state, status.checked_at) == (HealthState.UNKNOWN, r.clock.wall())

    def test_dependencies_are_the_reports_entries(self) -> None:
        """dependencies() lists the very values report() holds: one model for a check's outcome."""
        r = rig(HealthCheck("db", Switch(), critical=True, tags={"tier": "data"}))
        asyncio.run(r.monitor.run_all())
        (dependency,) = r.monitor.dependencies()
        assert dependency == r.monitor.report().checks["db"]
        assert (dependency.critical, dict(dependency.tags)) == (True, {"tier": "data"})
        assert dependency.result == CheckResult(HealthState.HEALTHY, "", {}, 0.0, r.clock.wall())


def test_overlapping_runs_wait_for_the_check_in_flight() -> None:
    """run_all started while another run of the same check is in flight returns with its result."""
    import asyncio

    from sharedconfig.interfaces import HealthState
    from sharedconfig.monitoring.health import HealthCheck, HealthMonitor
    from sharedconfig.monitoring.settings import HealthSettings
    from sharedconfig.testing.clock import FakeClock
    from sharedconfig.testing.fakes import InMemoryMetricsRecorder, RecordingLogger

    release = asyncio.Event()
    calls = 0

    async def slow() -> bool:
        nonlocal calls
        calls += 1
        await release.wait()
        return True

    monitor = HealthMonitor(
        HealthSettings(), metrics=InMemoryMetricsRecorder(), logger=RecordingLogger(), clock=FakeClock()
    )
    monitor.register(HealthCheck("slow", slow, timeout=30))

    async def scenario() -> HealthState:
        first = asyncio.create_task(monitor.run_all())
        while calls == 0:  # until the first run's check is in flight
            await asyncio.sleep(0)
        second = asyncio.create_task(monitor.run_all())
        for _ in range(5):  # let the second run reach the check
            await asyncio.sleep(0)
        release.set()
        await second
        state = monitor.report().checks["slow"].state
        await first
        return state

    assert asyncio.run(scenario()) is HealthState.HEALTHY
    assert calls == 1


class TestRedactedResults:
    """/health is unauthenticated: what a check says goes through the one redaction rule."""

    def test_messages_and_details_lose_their_secrets(self) -> None:
        """A DSN in an exception and password/token keys in details never reach the report or the logs."""
        import asyncio

        from sharedconfig.interfaces import CheckResult, HealthState
        from sharedconfig.monitoring.health import HealthCheck, HealthMonitor
        from sharedconfig.monitoring.settings import HealthSettings
        from sharedconfig.testing import InMemoryMetricsRecorder, RecordingLogger

        dsn = "postgresql://app:pw-canary-H3@db:5432/shop"

        def failing() -> bool:
            raise ConnectionError(f"cannot connect to {dsn}")

        def detailed() -> CheckResult:
            details = {"password": "pw-canary-H4", "nested": {"api_token": "t-canary-H5", "url": dsn}, "n": 3}
            return CheckResult(HealthState.DEGRADED, f"slow: {dsn}", details)

        logger = RecordingLogger()
        monitor = HealthMonitor(HealthSettings(), metrics=InMemoryMetricsRecorder(), logger=logger)
        monitor.register(HealthCheck("db", failing))
        monitor.register(HealthCheck("cache", detailed))
        asyncio.run(monitor.run_all())
        body = str(monitor.report().to_dict()) + str(logger.records)
        assert "canary" not in body
        assert monitor.report().checks["cache"].details["n"] == 3
        assert "app:**********@db" in monitor.report().checks["db"].message

    def test_tags_and_descriptions_from_settings_go_through_the_rule(self) -> None:
        """A tag named like a secret is hidden and a URL password masked, registered or not, on /health."""
        overrides = tuple(
            HealthCheckSettings(
                name=name,
                description="pings redis://app:pw-canary-H6@cache",
                tags={"team": "shop", "auth_token": "t-canary-H7"},
            )
            for name in ("db", "unregistered")
        )
        r = rig(HealthCheck("db", returning(CheckResult(HealthState.HEALTHY))), overrides=overrides)
        asyncio.run(r.monitor.run_all())
        report = r.monitor.report()
        assert "canary" not in json.dumps(report.to_dict(), default=str)
        for name in ("db", "unregistered"):
            assert report.checks[name].tags == {"team": "shop", "auth_token": "**********"}
            assert report.checks[name].description == "pings redis://app:**********@cache"

    def test_a_guards_result_goes_through_the_rule(self) -> None:
        """What a report-time guard says (a dead runtime's exception text) is redacted like a check's."""
        r = rig()
        r.monitor.guard(
            "runtime", lambda: CheckResult(HealthState.UNHEALTHY, "lost postgresql://rt:pw-canary-H8@db")
        )
        scopes: tuple[Scope, ...] = ("all", "live", "ready")
        for scope in scopes:
            shown = r.monitor.report(scope).checks["runtime"]
            assert shown.message == "lost postgresql://rt:**********@db"
