"""Table tests for health aggregation: every rule of ``aggregate``, the three scopes and their HTTP codes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

import pytest

from sharedconfig.interfaces import CheckResult, HealthState, HealthStatus
from sharedconfig.monitoring.health import (
    PROCESS_CHECK,
    HealthCheck,
    HealthMonitor,
    Scope,
    aggregate,
)
from sharedconfig.monitoring.settings import HealthCheckSettings, HealthSettings
from sharedconfig.testing import FakeClock, InMemoryMetricsRecorder, RecordingLogger

H, D, U, K = HealthState.HEALTHY, HealthState.DEGRADED, HealthState.UNHEALTHY, HealthState.UNKNOWN


def reports(*specs: tuple[HealthState, bool]) -> list[HealthStatus]:
    """One status per (state, critical) pair, named c0, c1..."""
    return [
        HealthStatus(f"c{i}", CheckResult(state), critical=critical)
        for i, (state, critical) in enumerate(specs)
    ]


@pytest.mark.parametrize(
    ("specs", "expected"),
    [
        pytest.param((), H, id="no checks: healthy"),
        pytest.param(((H, True), (H, False)), H, id="all healthy"),
        pytest.param(((K, True), (K, False)), K, id="nothing ran yet: unknown"),
        pytest.param(((U, True), (H, False)), U, id="critical unhealthy"),
        pytest.param(((U, True), (D, True), (U, False)), U, id="critical unhealthy beats the rest"),
        pytest.param(((U, True), (K, True)), U, id="critical unhealthy beats unknown"),
        pytest.param(((H, True), (U, False)), D, id="non-critical unhealthy: degraded"),
        pytest.param(((D, True), (H, False)), D, id="critical degraded"),
        pytest.param(((H, True), (D, False)), D, id="non-critical degraded"),
        pytest.param(((H, False), (K, True)), D, id="critical unknown among healthy: degraded"),
        pytest.param(((H, True), (K, False)), H, id="non-critical unknown is ignored"),
        pytest.param(((U, False), (K, False)), D, id="non-critical unhealthy with unknown"),
    ],
)
def test_aggregate_rules(specs: tuple[tuple[HealthState, bool], ...], expected: HealthState) -> None:
    """Each aggregation rule yields the documented overall state."""
    assert aggregate(reports(*specs)) is expected


def fixed(state: HealthState) -> Callable[[], HealthState]:
    """A check function that always reports ``state``."""
    return lambda: state


def monitor(*checks: tuple[str, HealthState, bool], settings_only: tuple[str, ...] = ()) -> HealthMonitor:
    """A monitor whose checks report fixed states, run once; ``settings_only`` names critical seams."""
    settings = HealthSettings(
        check_interval=timedelta(seconds=30),
        timeout=timedelta(seconds=5),
        checks=tuple(HealthCheckSettings(name=n, critical=True) for n in settings_only),
    )
    m = HealthMonitor(
        settings, metrics=InMemoryMetricsRecorder(), logger=RecordingLogger(), clock=FakeClock()
    )
    for name, state, critical in checks:
        m.register(HealthCheck(name, fixed(state), critical=critical))
    asyncio.run(m.run_all())
    return m


@pytest.mark.parametrize(
    ("checks", "settings_only", "scope", "status", "http", "names"),
    [
        pytest.param(
            [("db", H, True), ("cache", U, False), (PROCESS_CHECK, H, False)],
            (),
            "all",
            D,
            200,
            {"db", "cache", PROCESS_CHECK},
            id="all: non-critical failure degrades, still 200",
        ),
        pytest.param(
            [("db", U, True), (PROCESS_CHECK, H, False)],
            (),
            "all",
            U,
            503,
            {"db", PROCESS_CHECK},
            id="all: critical failure is 503",
        ),
        pytest.param(
            [("db", U, True), (PROCESS_CHECK, H, False)],
            (),
            "live",
            H,
            200,
            {PROCESS_CHECK},
            id="live: only the process check, never dependencies",
        ),
        pytest.param(
            [("db", H, True), (PROCESS_CHECK, U, True)],
            (),
            "live",
            U,
            503,
            {PROCESS_CHECK},
            id="live: an unhealthy critical process check is 503",
        ),
        pytest.param(
            [("db", H, True)],
            (),
            "live",
            H,
            200,
            set(),
            id="live: no process check registered is healthy",
        ),
        pytest.param(
            [("db", H, True), ("cache", U, False)],
            (),
            "ready",
            H,
            200,
            {"db"},
            id="ready: non-critical checks are left out",
        ),
        pytest.param(
            [("db", D, True), ("cache", H, False)],
            (),
            "ready",
            D,
            200,
            {"db"},
            id="ready: critical degraded is degraded, still 200",
        ),
        pytest.param(
            [("db", U, True)],
            (),
            "ready",
            U,
            503,
            {"db"},
            id="ready: critical unhealthy is 503",
        ),
        pytest.param(
            [("db", H, True)],
            ("security_manager",),
            "ready",
            D,
            503,
            {"db", "security_manager"},
            id="ready: a critical check that never ran is 503",
        ),
        pytest.param(
            [("db", H, True)],
            ("security_manager",),
            "all",
            D,
            200,
            {"db", "security_manager"},
            id="all: a critical check that never ran degrades, still 200",
        ),
        pytest.param(
            [("cache", H, False)],
            (),
            "ready",
            H,
            200,
            set(),
            id="ready: no critical checks is ready",
        ),
    ],
)
def test_scopes_and_http_status(
    checks: list[tuple[str, HealthState, bool]],
    settings_only: tuple[str, ...],
    scope: Scope,
    status: HealthState,
    http: int,
    names: set[str],
) -> None:
    """Each scope selects its checks, aggregates them and maps the result to 200 or 503."""
    report = monitor(*checks, settings_only=settings_only).report(scope)
    assert (report.status, report.http_status, set(report.checks)) == (status, http, names)
    assert report.scope == scope


@pytest.mark.parametrize(("scope", "http"), [("all", 200), ("live", 200), ("ready", 503)])
def test_before_any_run_everything_is_unknown(scope: Scope, http: int) -> None:
    """Before the first run the status is unknown: 200 for all and live, 503 for ready."""
    settings = HealthSettings(check_interval=timedelta(seconds=30), timeout=timedelta(seconds=5))
    m = HealthMonitor(
        settings, metrics=InMemoryMetricsRecorder(), logger=RecordingLogger(), clock=FakeClock()
    )
    m.register(HealthCheck(PROCESS_CHECK, lambda: True, critical=True))
    m.register(HealthCheck("db", lambda: True, critical=True))
    report = m.report(scope)
    assert (report.status, report.http_status) == (K, http)
    assert {c.message for c in report.checks.values()} == {"not run yet"}
