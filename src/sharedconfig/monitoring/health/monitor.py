"""``HealthMonitor``: runs registered checks concurrently on their intervals and reports cached results.

The runtime drives ``run_due()``; ``/health`` reads ``report(scope)``, which never runs a check, so a slow
dependency never slows the endpoint.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import inspect
import threading
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final, Literal, get_args

from sharedconfig.clock import SYSTEM_CLOCK, Clock, to_thread, wait
from sharedconfig.config.validation import did_you_mean
from sharedconfig.interfaces import CheckResult, HealthState, HealthStatus, Logger, MetricsRecorder
from sharedconfig.monitoring.health.checks import (
    PROCESS_CHECK,
    CheckOutcome,
    HealthCheck,
    describe_exception,
    is_async_callable,
    to_result,
)
from sharedconfig.monitoring.health.wire import to_json
from sharedconfig.monitoring.names import HEALTH_CHECK_DURATION, HEALTH_CHECK_STATUS, HEALTH_CHECK_TRANSITIONS
from sharedconfig.monitoring.settings import HealthCheckSettings, HealthSettings
from sharedconfig.redaction import mask_userinfo, scrub

__all__ = ["STATE_VALUES", "HealthMonitor", "HealthReport", "Scope", "TransitionListener", "aggregate"]

Scope = Literal["all", "live", "ready"]

TransitionListener = Callable[[str, HealthState, HealthState, str, bool], None]
"""``listener(check, old, new, message, critical)``: one check's state changed (``HealthMonitor.listen``)."""
"""``all``: every check; ``live``: the ``process`` check only; ``ready``: critical checks only."""

STATE_VALUES: Final[Mapping[HealthState, float]] = {
    HealthState.HEALTHY: 1.0,
    HealthState.DEGRADED: 0.5,
    HealthState.UNHEALTHY: 0.0,
    HealthState.UNKNOWN: -1.0,
}
"""The ``health_check_status{check}`` gauge value of each state."""

_SCOPES: Final = frozenset(get_args(Scope))
_NOT_RUN: Final = CheckResult(HealthState.UNKNOWN, "not run yet")
_NOT_REGISTERED: Final = CheckResult(HealthState.UNKNOWN, "not registered")


def aggregate(checks: Iterable[HealthStatus]) -> HealthState:
    """The overall state of ``checks``; the rules, first match wins.

    1. no checks: healthy (nothing is wrong);
    2. every check unknown (nothing has run yet): unknown;
    3. any critical check unhealthy: unhealthy;
    4. any non-critical check unhealthy, any check degraded, or any critical check unknown: degraded;
    5. otherwise healthy (a non-critical unknown check does not count).
    """
    checks = list(checks)
    if not checks:
        return HealthState.HEALTHY
    if all(c.state is HealthState.UNKNOWN for c in checks):
        return HealthState.UNKNOWN
    if any(c.critical and c.state is HealthState.UNHEALTHY for c in checks):
        return HealthState.UNHEALTHY
    if any(
        c.state in (HealthState.UNHEALTHY, HealthState.DEGRADED)
        or (c.critical and c.state is HealthState.UNKNOWN)
        for c in checks
    ):
        return HealthState.DEGRADED
    return HealthState.HEALTHY


def _http_status(scope: Scope, status: HealthState, checks: Iterable[HealthStatus]) -> int:
    if status is HealthState.UNHEALTHY:
        return 503
    if scope == "ready" and any(c.critical and c.state is HealthState.UNKNOWN for c in checks):
        return 503
    return 200


@dataclass(frozen=True, slots=True)
class HealthReport:
    """The aggregate of the cached results in one scope: what ``/health``, ``/live`` and ``/ready`` serve.

    ``http_status`` is 503 when the status is unhealthy and, for ``ready``, when a critical check has no
    result yet (unknown); 200 otherwise (healthy, degraded, or unknown outside ``ready``).
    """

    scope: Scope = field(
        metadata={"description": "all: every check; live: the process check; ready: critical checks."}
    )
    status: HealthState = field(metadata={"description": "The aggregate of the checks in this scope."})
    http_status: int = field(metadata={"json": False})  # the response's status code, not part of the body
    checks: Mapping[str, HealthStatus] = field(metadata={"description": "Each check by name."})
    checked_at: datetime = field(
        metadata={"description": "When this report was made from the cached results."}
    )

    def __post_init__(self) -> None:
        """Copy ``checks`` so the report cannot change after it is made."""
        object.__setattr__(self, "checks", dict(self.checks))

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form: scope, status, each check by name (flat: its result's fields inline), time."""
        data = to_json(self)
        assert isinstance(data, dict)
        return data


class _Entry:
    """A registered check with its effective settings, schedule and last result (guarded by the lock)."""

    __slots__ = (
        "check",
        "critical",
        "description",
        "enabled",
        "in_thread",
        "interval",
        "next_due",
        "pending",
        "result",
        "tags",
        "task",
        "timeout",
    )

    def __init__(
        self, check: HealthCheck, settings: HealthSettings, override: HealthCheckSettings | None
    ) -> None:
        pick = _picker(override)
        self.check = check
        self.interval, self.timeout = _timing(check, settings, override)
        self.critical = bool(pick("critical", check.critical))
        self.enabled = bool(pick("enabled", check.enabled))
        self.description = mask_userinfo(str(pick("description", check.description)))
        self.tags = _shown_tags({**check.tags, **(override.tags if override is not None else {})})
        self.next_due = float("-inf")
        self.result: HealthStatus | None = None
        self.pending = self.status(_NOT_RUN)
        """What a report shows before the first result; one value, so /health encodes it once."""
        self.task: asyncio.Task[CheckResult] | None = None
        self.in_thread = False

    @property
    def name(self) -> str:
        """The check's name."""
        return self.check.name

    @property
    def busy(self) -> bool:
        """True while an earlier run (one that timed out, say) is still executing."""
        return self.in_thread or (self.task is not None and not self.task.done())

    def status(self, result: CheckResult) -> HealthStatus:
        """``result`` under this check's name, with its effective critical flag, tags and description."""
        return HealthStatus(
            self.name, result, critical=self.critical, tags=self.tags, description=self.description
        )


def _picker(override: HealthCheckSettings | None) -> Callable[[str, object], object]:
    """``pick(name, own)``: the override's field when the settings set it, else the check's own value."""
    given = override.model_fields_set if override is not None else frozenset()

    def pick(name: str, own: object) -> object:
        value = getattr(override, name) if name in given else None
        return own if value is None else value

    return pick


def _timing(
    check: HealthCheck, settings: HealthSettings, override: HealthCheckSettings | None
) -> tuple[float, float]:
    """A check's effective (interval, timeout) in seconds: its settings entry, its own, the defaults."""
    pick = _picker(override)
    interval = (
        _as_seconds(pick("interval", check.interval_seconds)) or settings.check_interval.total_seconds()
    )
    timeout = _as_seconds(pick("timeout", check.timeout_seconds)) or settings.timeout.total_seconds()
    return interval, timeout


def _redacted(result: CheckResult) -> CheckResult:
    """The result as it may be shown: message and details through the one redaction rule."""
    message = mask_userinfo(result.message)
    if message == result.message and not result.details:
        return result
    details = scrub(result.details)
    assert isinstance(details, dict)
    return dataclasses.replace(result, message=message, details=details)


def _shown_tags(tags: Mapping[str, str]) -> dict[str, str]:
    """A check's tags as /health may show them: the same rule (a tag named ``auth_token`` is hidden)."""
    return {k: str(scrub(v, k)) for k, v in tags.items()}


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _as_seconds(value: object) -> float | None:
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, int | float):
        return float(value)
    return None


class HealthMonitor:
    """Runs health checks concurrently, each under its own timeout and on its own interval; caches results.

    Implements ``HealthChecker`` from the cache. Per-check settings in ``settings.checks`` are matched by
    name and override the registered check's fields they set; a name there that nobody registered is
    reported unknown with message ``"not registered"`` (components such as ``security_manager`` register
    later). Disabled checks are neither run nor reported; with ``settings.enabled`` false, no check is.

    Every run records ``health_check_status{check}`` (see ``STATE_VALUES``) and
    ``health_check_duration_seconds{check}``; a change of state is logged (warning when the new state is
    degraded or unhealthy, info otherwise) and counted in ``health_check_transitions_total{check,from,to}``.
    The first result of a check is a transition from ``unknown``. Thread-safe: run on one event loop,
    read from any thread.

    Time is ``clock``'s: timeouts are measured on it (``sharedconfig.clock.wait``) and sync checks run in
    ``sharedconfig.clock.to_thread``, so a ``FakeClock`` waits for them. Scheduling is the caller's: a
    runtime calls ``run_due`` and sleeps the seconds it returns.
    """

    def __init__(
        self,
        settings: HealthSettings,
        *,
        metrics: MetricsRecorder,
        logger: Logger,
        clock: Clock = SYSTEM_CLOCK,
        name: str = "service",
    ) -> None:
        self.settings = settings
        self.name = name
        self._metrics = metrics
        self._logger = logger
        self._clock = clock
        self._overrides = {s.name: s for s in settings.checks}
        self._listeners: tuple[TransitionListener, ...] = ()
        # what a report shows for a configured check nobody registered; made once, as the settings are fixed
        self._unregistered = {
            s.name: HealthStatus(
                s.name,
                _NOT_REGISTERED,
                critical=s.critical,
                tags=_shown_tags(s.tags),
                description=mask_userinfo(s.description),
            )
            for s in self._overrides.values()
            if s.enabled
        }
        self._entries: dict[str, _Entry] = {}
        self._guards: dict[str, tuple[Callable[[], CheckResult | None], str]] = {}
        self._lock = threading.Lock()
        self._wake: tuple[asyncio.AbstractEventLoop, asyncio.Future[None]] | None = None

    def settle(self) -> list[str]:
        """Warn about every check named in settings that nobody registered; ``Monitoring.start`` calls it.

        Each one is logged (``health check configured but not registered``, with a did-you-mean over the
        registered names) and its report entry says why it is unknown. A critical one keeps
        ``/health/ready`` at 503 until a check of that name registers. Returns the names.
        """
        with self._lock:
            registered = sorted(self._entries)
        missing = [name for name in self._unregistered if name not in registered]
        for name in missing:
            status = self._unregistered[name]
            suggestion = did_you_mean(name, registered)
            reason = "not registered: no check of this name was registered when monitoring started"
            if suggestion:
                reason += f"; did you mean {suggestion!r}?"
            self._unregistered[name] = dataclasses.replace(
                status, result=CheckResult(HealthState.UNKNOWN, reason)
            )
            self._logger.warning(
                "health check configured but not registered",
                check=name,
                critical=status.critical,
                did_you_mean=suggestion or "",
                registered=registered,
            )
        return missing

    def register(self, check: HealthCheck) -> None:
        """Add ``check``, due at once; raises ``ValueError`` when its name is taken."""
        entry = _Entry(check, self.settings, self._overrides.get(check.name))
        with self._lock:
            if check.name in self._entries:
                raise ValueError(f"a health check named {check.name!r} is already registered")
            self._entries[check.name] = entry

    def guard(self, name: str, probe: Callable[[], CheckResult | None], *, description: str = "") -> None:
        """Add a probe that ``report`` asks at every call (it must be cheap and never block).

        For what a scheduled check cannot tell, such as the runtime that runs the checks having died:
        when ``probe`` returns a result, it is listed under ``name`` as a critical check in every scope,
        ``live`` included; when it returns None, nothing is listed.
        """
        self._guards[name] = (probe, description)

    def unregister(self, name: str) -> None:
        """Remove the check called ``name`` and its cached result (nothing happens if there is none)."""
        with self._lock:
            self._entries.pop(name, None)

    def __contains__(self, name: object) -> bool:
        """True when a check called ``name`` is registered."""
        with self._lock:
            return name in self._entries

    def reschedule(self, settings: HealthSettings) -> None:
        """Apply new intervals and timeouts while running: ``check_interval``, ``timeout`` and each
        check's ``interval``/``timeout`` in ``settings.checks`` (matched by name, as at registration).

        A check's next run moves to its last run plus the new interval (at once when that has passed), and
        a scheduler waiting in ``run_scheduled`` wakes to recompute its sleep. Nothing else of ``settings``
        is applied: ``Monitoring.apply`` names the other keys as needing a restart.
        """
        overrides = {s.name: s for s in settings.checks}
        with self._lock:
            self.settings = self.settings.model_copy(
                update={"check_interval": settings.check_interval, "timeout": settings.timeout}
            )
            for name, entry in self._entries.items():
                override = overrides.get(name)
                if override is not None and name in self._overrides:
                    kept = self._overrides[name]
                    self._overrides[name] = kept.model_copy(
                        update={"interval": override.interval, "timeout": override.timeout}
                    )
                interval, timeout = _timing(entry.check, self.settings, self._overrides.get(name))
                if entry.next_due != float("-inf"):
                    entry.next_due += interval - entry.interval
                entry.interval, entry.timeout = interval, timeout
        self._wake_scheduler()

    def due_now(self, name: str) -> None:
        """Run the check called ``name`` at once (the scheduler wakes for it), not at its next interval:
        for a check whose answer just changed, such as ``config_loader`` after a reload. Nothing happens
        when there is no such check."""
        with self._lock:
            entry = self._entries.get(name)
            if entry is None:
                return
            entry.next_due = min(entry.next_due, self._clock.now())
        self._wake_scheduler()

    def _wake_scheduler(self) -> None:
        """Wake a scheduler sleeping in ``run_scheduled``, so it recomputes what is due."""
        with self._lock:
            wake = self._wake
        if wake is not None:
            loop, future = wake
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nothing is waiting
                loop.call_soon_threadsafe(_settle, future)

    async def run_scheduled(self) -> float:
        """The scheduler's job: ``run_due``, then sleep until the next check is due or ``reschedule``
        wakes it; returns 0 (the runtime calls it again at once)."""
        delay = await self.run_due()
        loop = asyncio.get_running_loop()
        woken: asyncio.Future[None] = loop.create_future()
        with self._lock:
            self._wake = (loop, woken)
        try:
            await wait(self._clock, (woken,), delay)
        finally:
            with self._lock:
                if self._wake is not None and self._wake[1] is woken:
                    self._wake = None
            woken.cancel()
        return 0.0

    # -- running ------------------------------------------------------------------------------------------

    async def run_due(self) -> float:
        """Run every check that is due, concurrently; return the seconds until the next one is due."""
        now = self._clock.now()
        with self._lock:
            due = [e for e in self._active() if e.next_due <= now]
            for entry in due:  # reserved before awaiting, so an overlapping call cannot run them twice
                entry.next_due = now + entry.interval
        await self._run(due)
        return self._delay()

    async def run_all(self) -> None:
        """Run every enabled check now, concurrently, and restart their intervals from now."""
        now = self._clock.now()
        with self._lock:
            entries = self._active()
            for entry in entries:
                entry.next_due = now + entry.interval
        await self._run(entries)

    def _active(self) -> list[_Entry]:
        if not self.settings.enabled:
            return []
        return [e for e in self._entries.values() if e.enabled]

    def _delay(self) -> float:
        with self._lock:
            dues = [e.next_due for e in self._active()]
        if not dues:
            return self.settings.check_interval.total_seconds()
        return max(0.0, min(dues) - self._clock.now())

    async def _run(self, entries: Sequence[_Entry]) -> None:
        await asyncio.gather(*(self._run_one(e) for e in entries))

    async def _run_one(self, entry: _Entry) -> None:
        running = entry.task
        if running is not None and not running.done():
            # an overlapping call (the scheduler and run_all, say) is running this check now: wait for
            # that run's result instead of starting a second one, bounded by the check's own timeout
            await wait(self._clock, (running,), entry.timeout)
            return
        if entry.busy:  # a timed-out run is still going: never pile a second one on top of it
            self._logger.debug(
                "health check still running after a timeout; not started again", check=entry.name
            )
            return
        started = self._clock.now()
        checked_at = self._clock.wall()
        task = asyncio.create_task(self._invoke(entry), name=f"health-check-{entry.name}")
        entry.task = task
        try:
            await wait(self._clock, (task,), entry.timeout)  # the timeout runs on the monitor's clock
        finally:
            if not task.done():
                task.cancel()  # not awaited: a check that ignores cancellation must not hold the others up
        if not task.done():
            result = CheckResult(HealthState.UNHEALTHY, f"timed out after {entry.timeout:g}s")
            duration = entry.timeout
        elif task.cancelled():
            result = CheckResult(HealthState.UNHEALTHY, "cancelled")
            duration = max(0.0, self._clock.now() - started)
        else:
            result = task.result()
            duration = max(0.0, self._clock.now() - started)
        self._record(entry, result.stamped(checked_at, duration))

    async def _invoke(self, entry: _Entry) -> CheckResult:
        fn = entry.check.check
        try:
            outcome: CheckOutcome | Awaitable[CheckOutcome]
            if is_async_callable(fn):
                outcome = fn()
            else:

                def call() -> CheckOutcome | Awaitable[CheckOutcome]:
                    entry.in_thread = True
                    try:
                        return fn()
                    finally:
                        entry.in_thread = False

                call.__qualname__ = f"health check {entry.name!r}"  # how a stop names it, should it hang
                outcome = await to_thread(call)  # counted, so a fake clock waits for the thread
            if inspect.isawaitable(outcome):  # async functions, and sync ones returning a coroutine
                outcome = await outcome
            return to_result(outcome)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # a failing check is a result, even SystemExit: the runtime lives on
            return CheckResult(HealthState.UNHEALTHY, describe_exception(exc))

    def _record(self, entry: _Entry, result: CheckResult) -> None:
        result = _redacted(result)  # /health is unauthenticated: no secret of a check's text gets there
        status = entry.status(result)
        with self._lock:
            if self._entries.get(entry.name) is not entry:
                return  # unregistered while it ran
            previous = entry.result
            entry.result = status
        labels = {"check": entry.name}
        self._metrics.record_gauge(HEALTH_CHECK_STATUS, STATE_VALUES[result.state], labels)
        self._metrics.record_duration(HEALTH_CHECK_DURATION, result.duration_seconds, labels)
        old = previous.state if previous is not None else HealthState.UNKNOWN
        if old is result.state:
            return
        self._metrics.record_counter(
            HEALTH_CHECK_TRANSITIONS, 1.0, {"check": entry.name, "from": old.value, "to": result.state.value}
        )
        log = (
            self._logger.warning
            if result.state in (HealthState.DEGRADED, HealthState.UNHEALTHY)
            else self._logger.info
        )
        log(
            "health check changed state",
            check=entry.name,
            old=old.value,
            new=result.state.value,
            reason=result.message,
            critical=entry.critical,
        )
        for listener in self._listeners:
            try:
                listener(entry.name, old, result.state, result.message, entry.critical)
            except Exception as exc:  # a listener's failure is logged, never the check's
                self._logger.error(
                    "health transition listener failed",
                    check=entry.name,
                    error=f"{type(exc).__name__}: {exc}",
                )

    def listen(self, listener: TransitionListener) -> None:
        """Call ``listener(check, old, new, message, critical)`` at every state change of a check (the
        message already redacted), on the thread that recorded the result."""
        self._listeners = (*self._listeners, listener)

    # -- reporting ----------------------------------------------------------------------------------------

    def report(self, scope: Scope = "all") -> HealthReport:
        """The cached results in ``scope``, aggregated by ``aggregate``; never runs a check."""
        if scope not in _SCOPES:
            raise ValueError(f"unknown health scope {scope!r}; use one of {sorted(_SCOPES)}")
        with self._lock:
            found = [e.result or e.pending for e in self._active()]
            registered = set(self._entries)
        if self.settings.enabled:
            found.extend(s for name, s in self._unregistered.items() if name not in registered)
        for name, (probe, description) in self._guards.items():
            outcome = probe()
            if outcome is not None:  # a guard shows only when something is wrong; its text is redacted
                found.append(HealthStatus(name, _redacted(outcome), critical=True, description=description))
        if scope == "live":
            found = [c for c in found if c.name == PROCESS_CHECK or c.name in self._guards]
        elif scope == "ready":
            found = [c for c in found if c.critical]
        found.sort(key=lambda c: c.name)
        status = aggregate(found)
        return HealthReport(
            scope,
            status,
            _http_status(scope, status, found),
            {c.name: c for c in found},
            self._clock.wall(),
        )

    def health_check(self) -> HealthStatus:
        """The aggregate of every check from the cache (``HealthChecker``); the scheduler keeps it fresh.

        The message names the checks that are not healthy; ``details["checks"]`` maps each check to its
        state; ``checked_at`` is the latest run (the report's time before any run).
        """
        report = self.report("all")
        checks = list(report.checks.values())
        times = [c.checked_at for c in checks if c.checked_at is not None]
        problems = [
            f"{state.value}: {', '.join(c.name for c in checks if c.state is state)}"
            for state in (HealthState.UNHEALTHY, HealthState.DEGRADED, HealthState.UNKNOWN)
            if any(c.state is state for c in checks)
        ]
        result = CheckResult(
            report.status,
            "; ".join(problems),
            {"checks": {c.name: c.state.value for c in checks}},
            duration_seconds=max((c.duration_seconds for c in checks), default=0.0),
            checked_at=max(times) if times else report.checked_at,
        )
        return HealthStatus(self.name, result)

    def dependencies(self) -> Sequence[HealthStatus]:
        """Each check's cached status, sorted by name, as ``/health`` lists them (``HealthChecker``)."""
        return list(self.report("all").checks.values())

    def status(self) -> str:
        """The overall state's value, e.g. ``"healthy"`` (``HealthChecker``)."""
        return self.report("all").status.value
