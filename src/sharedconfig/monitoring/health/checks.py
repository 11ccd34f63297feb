"""Health checks: the ``HealthCheck`` description, what a check may return, and the ready-made checks.

Dependency checks (TCP, HTTP, any callable), the ``process`` headroom check and ``ConfigHealth``, which
follows the config loader's hooks to say whether the last load or reload succeeded.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import threading
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeAlias
from urllib.parse import urlsplit

from sharedconfig.interfaces import CheckResult, HealthState
from sharedconfig.redaction import REDACTED

if TYPE_CHECKING:
    import httpx

    from sharedconfig.config.snapshot import Config
    from sharedconfig.config.validation import ValidationReport

__all__ = [
    "CONFIG_CHECK",
    "PROCESS_CHECK",
    "CheckFunction",
    "CheckOutcome",
    "CheckResult",
    "ConfigHealth",
    "HealthCheck",
    "callable_check",
    "describe_exception",
    "http_check",
    "is_async_callable",
    "process_check",
    "safe_url",
    "tcp_check",
    "to_result",
]

PROCESS_CHECK = "process"
"""Name of the built-in process check; the only check the ``live`` scope looks at."""

CONFIG_CHECK = "config_loader"
"""Name of the built-in configuration check (the seed's YAML)."""

_MAX_MESSAGE = 300
_DEGRADED_RATIO = 0.9
_MAX_LISTED = 20


CheckOutcome: TypeAlias = CheckResult | HealthState | bool | None
"""What a check function may return: a result, a bare state, True/False, or None (healthy)."""

CheckFunction: TypeAlias = Callable[[], CheckOutcome | Awaitable[CheckOutcome]]
"""A sync or async function taking no argument; raising counts as unhealthy."""


def _seconds(value: float | timedelta | None, what: str) -> float | None:
    if value is None:
        return None
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if not seconds > 0:
        raise ValueError(f"{what} must be positive, not {seconds:g}s")
    return seconds


@dataclass(frozen=True, slots=True)
class HealthCheck:
    """One health check (the seed's ``HealthCheck``): a name, a function, and how to schedule it.

    ``interval`` and ``timeout`` are seconds or ``timedelta``; None takes ``health.check_interval`` and
    ``health.timeout``. Settings in ``health.checks`` with the same name override what is given here.
    """

    name: str
    check: CheckFunction
    _: KW_ONLY
    description: str = ""
    interval: float | timedelta | None = None
    timeout: float | timedelta | None = None
    critical: bool = False
    enabled: bool = True
    tags: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Reject an empty name, a non-callable check and non-positive durations; copy ``tags``."""
        if not self.name:
            raise ValueError("a health check needs a name")
        if not callable(self.check):
            raise TypeError(f"health check {self.name!r}: check must be callable")
        _seconds(self.interval, f"health check {self.name!r}: interval")
        _seconds(self.timeout, f"health check {self.name!r}: timeout")
        object.__setattr__(self, "tags", dict(self.tags))

    @property
    def interval_seconds(self) -> float | None:
        """``interval`` in seconds, or None when unset."""
        return _seconds(self.interval, "interval")

    @property
    def timeout_seconds(self) -> float | None:
        """``timeout`` in seconds, or None when unset."""
        return _seconds(self.timeout, "timeout")


def describe_exception(exc: BaseException) -> str:
    """``"TypeName: message"`` for a failed check, shortened; never the repr of the call's arguments."""
    text = str(exc).strip()
    described = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return described if len(described) <= _MAX_MESSAGE else described[: _MAX_MESSAGE - 3] + "..."


def to_result(outcome: object) -> CheckResult:
    """Turn what a check returned into a ``CheckResult``; an unexpected type is itself unhealthy."""
    if isinstance(outcome, CheckResult):
        return outcome
    if isinstance(outcome, HealthState):
        return CheckResult(outcome)
    if outcome is None or outcome is True:
        return CheckResult(HealthState.HEALTHY)
    if outcome is False:
        return CheckResult(HealthState.UNHEALTHY, "check returned False")
    return CheckResult(
        HealthState.UNHEALTHY,
        f"check returned a {type(outcome).__name__}; expected CheckResult, HealthState, bool or None",
    )


def is_async_callable(fn: object) -> bool:
    """True for ``async def`` functions, partials of them, and objects with an ``async def __call__``."""
    return inspect.iscoroutinefunction(fn) or (
        callable(fn) and inspect.iscoroutinefunction(type(fn).__call__)
    )


# -- dependency checks --------------------------------------------------------------------------------------


def callable_check(fn: Callable[[], object]) -> CheckFunction:
    """Adapt any sync or async callable (``db.ping``, ``client.health``) into a check function.

    Returning normally means healthy whatever the value, except a ``CheckResult``, a ``HealthState`` or
    ``False``, which keep their meaning; raising means unhealthy with the exception's type and message.
    """

    def interpret(value: object) -> CheckResult:
        if isinstance(value, CheckResult | HealthState) or value is False:
            return to_result(value)
        return CheckResult(HealthState.HEALTHY)

    if is_async_callable(fn):

        async def run_async() -> CheckResult:
            value = fn()
            return interpret(await value if inspect.isawaitable(value) else value)

        return run_async

    def run_sync() -> CheckResult:
        return interpret(fn())

    return run_sync


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def tcp_check(
    host: str, port: int, *, timeout: float = 5.0
) -> Callable[[], Coroutine[Any, Any, CheckResult]]:
    """A check that opens a TCP connection to ``host:port`` and closes it again."""
    where = _host_port(host, port)
    details = {"host": host, "port": port}

    async def check() -> CheckResult:
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
        except TimeoutError:
            return CheckResult(
                HealthState.UNHEALTHY, f"connecting to {where} timed out after {timeout:g}s", details
            )
        except OSError as exc:
            return CheckResult(
                HealthState.UNHEALTHY, f"cannot connect to {where}: {describe_exception(exc)}", details
            )
        writer.close()
        with contextlib.suppress(OSError):  # the connection was made, which is all this check asks
            await writer.wait_closed()
        return CheckResult(HealthState.HEALTHY, f"connected to {where}", details)

    return check


def safe_url(url: str) -> str:
    """``url`` without user info, query string or fragment, fit for logs and ``/health``."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "<invalid URL>"
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{port}" if port is not None else host
    return f"{parts.scheme}://{netloc}{parts.path}"


def _scrub(text: str, url: str) -> str:
    """Remove the URL's secret-bearing parts (password, query, the URL itself) from an error message."""
    try:
        parts = urlsplit(url)
        secrets = [url, parts.query, parts.fragment, parts.password or "", parts.username or ""]
    except ValueError:
        secrets = [url]
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


def http_check(
    url: str,
    *,
    expect_status: int = 200,
    timeout: float = 5.0,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Callable[[], Coroutine[Any, Any, CheckResult]]:
    """A check that sends ``GET url`` and expects ``expect_status`` (redirects are not followed).

    Messages and details name the URL without user info or query string, which often hold credentials.
    ``transport`` replaces the network (``httpx.MockTransport``) in tests.
    """
    import httpx

    shown = safe_url(url)
    client_timeout = httpx.Timeout(timeout)

    async def check() -> CheckResult:
        try:
            async with httpx.AsyncClient(timeout=client_timeout, transport=transport) as client:
                response = await client.get(url)
        except Exception as exc:  # any failure to get an answer is the dependency's ill health
            message = _scrub(describe_exception(exc), url)
            return CheckResult(HealthState.UNHEALTHY, f"GET {shown} failed: {message}", {"url": shown})
        status = response.status_code
        details = {"url": shown, "status": status}
        if status != expect_status:
            return CheckResult(
                HealthState.UNHEALTHY, f"GET {shown} returned {status}, expected {expect_status}", details
            )
        return CheckResult(HealthState.HEALTHY, f"GET {shown} returned {status}", details)

    return check


# -- built-in checks ----------------------------------------------------------------------------------------


def _format_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def _fd_soft_limit() -> int | None:
    try:
        import resource
    except ImportError:  # pragma: no cover  # Windows has no RLIMIT_NOFILE
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return None if soft == resource.RLIM_INFINITY else soft


def _headroom(
    what: str, used: int, limit: int | None, shown: Callable[[float], str]
) -> tuple[HealthState, str]:
    if limit is None:
        return HealthState.HEALTHY, f"{what} {shown(used)}"
    if used > limit:
        return HealthState.UNHEALTHY, f"{what} {shown(used)} is above the limit of {shown(limit)}"
    if used > _DEGRADED_RATIO * limit:
        return HealthState.DEGRADED, f"{what} {shown(used)} is above 90% of the limit of {shown(limit)}"
    return HealthState.HEALTHY, f"{what} {shown(used)} of {shown(limit)}"


_SEVERITY = {
    HealthState.HEALTHY: 0,
    HealthState.UNKNOWN: 1,
    HealthState.DEGRADED: 2,
    HealthState.UNHEALTHY: 3,
}


def process_check(
    *, max_memory_bytes: int | None = None, max_open_fds: int | None = None
) -> Callable[[], CheckResult]:
    """A check of this process's headroom: resident memory and open file descriptors (psutil).

    Degraded above 90% of a limit, unhealthy above it. Without limits, memory is compared with the
    machine's total and descriptors with the soft ``RLIMIT_NOFILE``.
    """
    import psutil

    for name, limit in (("max_memory_bytes", max_memory_bytes), ("max_open_fds", max_open_fds)):
        if limit is not None and limit <= 0:
            raise ValueError(f"{name} must be positive, not {limit}")
    process = psutil.Process()

    def check() -> CheckResult:
        rss = process.memory_info().rss
        memory_limit = max_memory_bytes or psutil.virtual_memory().total
        findings = [_headroom("memory", rss, memory_limit, _format_bytes)]
        details: dict[str, object] = {"rss_bytes": rss, "memory_limit_bytes": memory_limit}
        num_fds = getattr(process, "num_fds", None)
        if num_fds is not None:
            fds: int = num_fds()
            fd_limit = max_open_fds or _fd_soft_limit()
            findings.append(_headroom("open fds", fds, fd_limit, lambda n: f"{n:.0f}"))
            details.update(open_fds=fds, fd_limit=fd_limit)
        state = max((s for s, _ in findings), key=_SEVERITY.__getitem__)
        problems = [m for s, m in findings if s is not HealthState.HEALTHY]
        return CheckResult(state, "; ".join(problems or [m for _, m in findings]), details)

    return check


def _issues(report: ValidationReport) -> dict[str, object]:
    errors = report.errors
    return {
        "errors": len(errors),
        "warnings": len(report.warnings),
        "codes": sorted({i.code for i in errors}),
        "paths": sorted({i.path for i in errors if i.path})[:_MAX_LISTED],
    }


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


class ConfigHealth:
    """The ``config_loader`` check: implements ``ConfigHooks`` and remembers the last load's outcome.

    Healthy after a successful load or reload; degraded when a reload was rejected (the last good
    configuration stays in force), or when a load fails after a good one; unhealthy when the first load
    failed; unknown until a load is seen. Details name issue codes and paths, never values. Thread-safe.
    ``changed`` is called after each load, reload and source change (outside the lock): ``config_part``
    has the health monitor run the check at once, so ``/health`` says it now rather than at the next
    interval.
    """

    REJECTED = "reload rejected, last good config in force"

    def __init__(self, changed: Callable[[], None] | None = None) -> None:
        self._changed = changed
        self._lock = threading.Lock()
        self._good = False
        self._result = CheckResult(HealthState.UNKNOWN, "no configuration load seen yet")
        self._lost: dict[str, str] = {}

    def on_load(self, config: Config | None, report: ValidationReport, seconds: float) -> None:
        """Remember a load: healthy when it produced a config, else unhealthy (degraded after a good one)."""
        details = _issues(report)
        with self._lock:
            if config is not None:
                self._good = True
                self._result = CheckResult(HealthState.HEALTHY, "configuration loaded", details)
            elif self._good:
                self._result = CheckResult(HealthState.DEGRADED, self.REJECTED, details)
            else:
                message = f"configuration failed to load: {_count(len(report.errors), 'error')}"
                self._result = CheckResult(HealthState.UNHEALTHY, message, details)
        self._tell()

    def on_validation(self, report: ValidationReport, seconds: float) -> None:
        """Nothing to remember: ``on_load`` follows with the same report."""

    def on_reload(self, old: Config, new: Config | None, report: ValidationReport, seconds: float) -> None:
        """Remember a reload: healthy when accepted, degraded when rejected."""
        details = _issues(report)
        with self._lock:
            self._good = True  # ``old`` is in force either way
            if new is None:
                self._result = CheckResult(HealthState.DEGRADED, self.REJECTED, details)
            else:
                self._result = CheckResult(HealthState.HEALTHY, "configuration reloaded", details)
        self._tell()

    def on_change(self, old: Config, new: Config, changed: Sequence[str]) -> None:
        """Nothing to remember: ``on_reload`` already said the new snapshot is in force."""

    def on_source(self, source: str, available: bool, message: str) -> None:
        """Remember which watched sources are lost: degraded while any is (the snapshot stays in force)."""
        with self._lock:
            if available:
                self._lost.pop(source, None)
            else:
                self._lost[source] = message
        self._tell()

    def _tell(self) -> None:
        if self._changed is not None:
            self._changed()

    def check(self) -> CheckResult:
        """The outcome of the last load or reload seen; degraded while a watched source is lost."""
        with self._lock:
            if self._lost and self._result.state is HealthState.HEALTHY:
                lost = sorted(self._lost)
                return CheckResult(
                    HealthState.DEGRADED,
                    f"configuration source lost, last snapshot in force: {', '.join(lost)}",
                    {"lost": {name: self._lost[name] for name in lost}},
                )
            return self._result
