"""Push exporters for metrics: the Exporter protocol, retry with backoff, a circuit per exporter, the factory.

``build_exporters(settings, collector, ...)`` turns ``monitoring.metrics.exporters`` into exporters whose
``tick`` the runtime runs periodically; a failed push is retried, counted and logged, never raised.
"""

from __future__ import annotations

import abc
import asyncio
import email.utils
import random
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import httpx
from pydantic import SecretStr

from sharedconfig.clock import SYSTEM_CLOCK, Clock
from sharedconfig.errors import HTTPError
from sharedconfig.interfaces import Logger, MetricsRecorder
from sharedconfig.monitoring.metrics.model import MetricFamily
from sharedconfig.monitoring.names import METRICS_EXPORT_FAILURES
from sharedconfig.redaction import REDACTED
from sharedconfig.stdlog import StdlibLogger

if TYPE_CHECKING:
    from sharedconfig.monitoring.settings import MetricsSettings

__all__ = [
    "CircuitBreaker",
    "CircuitState",
    "Collector",
    "Delivery",
    "ExportError",
    "Exporter",
    "LazyClient",
    "RetryPolicy",
    "Sleep",
    "build_exporters",
    "check_response",
]

Sleep = Callable[[float], Awaitable[None]]
"""An async sleep, ``asyncio.sleep`` by default; tests pass one that records the delays."""

_BODY_EXCERPT = 200  # characters of an error response kept in the log message


@runtime_checkable
class Collector(Protocol):
    """Anything that can hand over its current metric families (``MetricsRegistry`` does)."""

    def collect(self) -> Sequence[MetricFamily]:
        """Every family with its current samples."""
        ...


@runtime_checkable
class Exporter(Protocol):
    """Pushes collected metrics somewhere; the runtime calls ``tick`` periodically and ``flush`` at stop.

    Neither method raises on delivery problems: failures are retried, counted in
    ``metrics_export_failures_total{exporter}`` and logged.
    """

    @property
    def name(self) -> str:
        """The ``exporter`` label of the failure counter, e.g. ``remote_write``."""
        ...

    @property
    def interval(self) -> float:
        """Seconds between pushes."""
        ...

    async def tick(self) -> float | None:
        """Push one collection; seconds until the next call."""
        ...

    async def flush(self) -> None:
        """Push one last time (a single attempt) and release connections and sockets."""
        ...


class ExportError(HTTPError):
    """One push failed; ``recoverable`` says whether trying again may help.

    ``status`` is the HTTP status when the server answered; ``retry_after`` the seconds it asked us to
    wait (``Retry-After``). Messages never contain credentials.
    """

    def __init__(
        self,
        message: str,
        *,
        exporter: str,
        retryable: bool,
        status: int | None = None,
        retry_after: float | None = None,
        cause: BaseException | None = None,
    ) -> None:
        self.exporter = exporter
        self.status = status
        self.retry_after = retry_after
        super().__init__(
            message,
            component="metrics",
            operation=f"export:{exporter}",
            recoverable=retryable,
            cause=cause,
            hint=None if retryable else "The request was rejected; retrying will not help. See the message.",
        )


def _retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds from a ``Retry-After`` header (delta seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - now).total_seconds(), 0.0)


def check_response(response: httpx.Response, exporter: str, *, clock: Clock = SYSTEM_CLOCK) -> None:
    """Raise ``ExportError`` unless the response is 2xx; 429 and 5xx are retryable, other 4xx not."""
    status = response.status_code
    if 200 <= status < 300:
        return
    retryable = status == 429 or status >= 500
    body = response.text[:_BODY_EXCERPT].strip()
    raise ExportError(
        f"{exporter}: HTTP {status} from {response.request.url.copy_with(query=None)}"
        + (f": {body}" if body else ""),
        exporter=exporter,
        retryable=retryable,
        status=status,
        retry_after=_retry_after(response.headers.get("retry-after"), clock.wall()) if retryable else None,
    )


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounded attempts with exponential backoff and jitter.

    The delay after attempt ``n`` (0-based) is ``min(max_delay, initial * multiplier**n)``, reduced by up
    to ``jitter`` of itself at random so that many processes do not retry in step. A server's
    ``Retry-After`` raises the delay, never above ``max_delay``.
    """

    attempts: int = 3
    initial: float = 0.5
    multiplier: float = 2.0
    max_delay: float = 10.0
    jitter: float = 0.5
    random: Callable[[], float] = field(default=random.random, compare=False, repr=False)

    def __post_init__(self) -> None:
        """Reject settings that would never try or never wait sensibly."""
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError("jitter must be between 0 and 1")
        if self.initial < 0 or self.max_delay < 0 or self.multiplier < 1:
            raise ValueError("delays must be >= 0 and multiplier >= 1")

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after the failed attempt number ``attempt`` (0-based)."""
        base = min(self.max_delay, self.initial * self.multiplier**attempt)
        wait = base * (1.0 - self.jitter * self.random())
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.max_delay))
        return wait


class CircuitState(StrEnum):
    """Closed: pushes go out. Open: pushes are skipped until the cooldown ends. Half-open: one probe."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Stops pushing to a destination that keeps failing, and probes it again after a cooldown.

    After ``threshold`` consecutive failed pushes the circuit opens for ``cooldown`` seconds; then one
    probe push is allowed (half-open). Success closes it; failure reopens it with the cooldown doubled,
    up to ``max_cooldown``.
    """

    def __init__(
        self,
        *,
        threshold: int = 5,
        cooldown: float = 30.0,
        max_cooldown: float = 600.0,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if threshold < 1:
            raise ValueError("threshold must be at least 1")
        self.threshold = threshold
        self.cooldown = cooldown
        self.max_cooldown = max(max_cooldown, cooldown)
        self._clock = clock
        self._failures = 0
        self._state = CircuitState.CLOSED
        self._current_cooldown = cooldown
        self._open_until = 0.0

    @property
    def state(self) -> CircuitState:
        """The current state (an open circuit whose cooldown has ended reports half-open)."""
        if self._state is CircuitState.OPEN and self._clock.now() >= self._open_until:
            return CircuitState.HALF_OPEN
        return self._state

    @property
    def failures(self) -> int:
        """Consecutive failed pushes so far."""
        return self._failures

    def remaining(self) -> float:
        """Seconds until an open circuit allows its probe; 0 otherwise."""
        if self._state is not CircuitState.OPEN:
            return 0.0
        return max(self._open_until - self._clock.now(), 0.0)

    def allow(self) -> bool:
        """Whether a push may go out now."""
        return self.state is not CircuitState.OPEN

    def record_success(self) -> None:
        """A push succeeded: close the circuit and reset the cooldown."""
        self._failures = 0
        self._state = CircuitState.CLOSED
        self._current_cooldown = self.cooldown

    def record_failure(self) -> bool:
        """A push failed; True when this failure opened the circuit."""
        self._failures += 1
        probing = self.state is CircuitState.HALF_OPEN
        if probing:
            self._current_cooldown = min(self._current_cooldown * 2, self.max_cooldown)
        elif self._failures < self.threshold:
            return False
        self._state = CircuitState.OPEN
        self._open_until = self._clock.now() + self._current_cooldown
        return True


class Delivery:
    """Runs one exporter's pushes: retries with backoff, its circuit, failure counting and logging.

    ``deliver(send)`` never raises (except cancellation): it returns True when ``send`` succeeded.
    ``redact`` lists credentials replaced in every logged message, a second line of defence: messages are
    built without them in the first place.
    """

    def __init__(
        self,
        name: str,
        *,
        retry: RetryPolicy | None = None,
        circuit: CircuitBreaker | None = None,
        metrics: MetricsRecorder | None = None,
        logger: Logger | None = None,
        sleep: Sleep = asyncio.sleep,
        clock: Clock = SYSTEM_CLOCK,
        redact: Sequence[SecretStr] = (),
    ) -> None:
        self.name = name
        self.retry = retry or RetryPolicy()
        self.circuit = circuit or CircuitBreaker(clock=clock)
        self._metrics = metrics
        self._logger = (logger or StdlibLogger("sharedconfig.monitoring.metrics")).bind(exporter=name)
        self._sleep = sleep
        self._redact = tuple(redact)
        # held by the exporter for a whole push, so a flush at stop never runs beside a tick (a count
        # delta computed by both would be sent twice)
        self.lock = asyncio.Lock()

    @property
    def logger(self) -> Logger:
        """The logger this exporter reports through (bound with ``exporter=<name>``)."""
        return self._logger

    def next_delay(self, interval: float) -> float:
        """Seconds until the next tick: the interval, or longer while the circuit is open."""
        return max(interval, self.circuit.remaining())

    async def deliver(self, send: Callable[[], Awaitable[None]], *, single: bool = False) -> bool:
        """Run ``send`` with retries unless the circuit is open; True when it succeeded."""
        if not self.circuit.allow():
            self._logger.debug(
                "metrics export skipped: circuit open", retry_in=round(self.circuit.remaining())
            )
            return False
        probing = self.circuit.state is CircuitState.HALF_OPEN
        attempts = 1 if single or probing else self.retry.attempts
        error: ExportError | None = None
        made = 0
        for attempt in range(attempts):
            made = attempt + 1
            try:
                await send()
            except ExportError as exc:
                error = exc
            except (httpx.TransportError, OSError) as exc:
                error = ExportError(
                    f"{self.name}: {type(exc).__name__}: {exc}", exporter=self.name, retryable=True, cause=exc
                )
            except Exception as exc:  # e.g. an invalid URL, or a bug: the same next time, so no retry
                error = ExportError(
                    f"{self.name}: {type(exc).__name__}: {exc}",
                    exporter=self.name,
                    retryable=False,
                    cause=exc,
                )
            else:
                if probing:
                    self._logger.info("metrics export recovered: circuit closed")
                self.circuit.record_success()
                return True
            if not error.recoverable or made == attempts:
                break
            await self._sleep(self.retry.delay(attempt, error.retry_after))
        assert error is not None
        self.failed(error.message, attempts=made, status=error.status)
        return False

    def failed(self, message: str, **fields: object) -> None:
        """Count, log and feed the circuit one failed push (also for failures before sending)."""
        if self._metrics is not None:
            try:
                self._metrics.record_counter(METRICS_EXPORT_FAILURES, 1.0, {"exporter": self.name})
            except Exception as exc:  # a broken recorder must not break the exporter
                self._logger.error("could not count a metrics export failure", error=self.scrub(str(exc)))
        opened = self.circuit.record_failure()
        self._logger.warning("metrics export failed", error=self.scrub(message), **fields)
        if opened:
            self._logger.warning(
                "metrics export circuit open: pushes paused",
                failures=self.circuit.failures,
                retry_in=round(self.circuit.remaining(), 3),
            )

    def scrub(self, text: str) -> str:
        """``text`` with every credential replaced by a placeholder."""
        for secret in self._redact:
            value = secret.get_secret_value()
            if value:
                text = text.replace(value, REDACTED)
        return text


class PushingExporter(abc.ABC):
    """The schedule every push exporter shares: ``tick`` pushes with retries, ``flush`` once more at stop.

    A subclass sets ``delivery`` and ``_interval`` and implements ``_push(single=...)`` and ``aclose()``.
    """

    delivery: Delivery
    _name: str
    _interval: float

    def _schedule(self, name: str, interval: float, batch_size: int = 1) -> None:
        """Validate and keep the settings every push exporter has."""
        if interval <= 0:
            raise ValueError("interval must be positive")
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self._name = name
        self._interval = float(interval)

    @property
    def name(self) -> str:
        """The ``exporter`` label of the failure counter."""
        return self._name

    @property
    def interval(self) -> float:
        """Seconds between pushes."""
        return self._interval

    @abc.abstractmethod
    async def _push(self, *, single: bool) -> None:
        """Collect and deliver once; ``single`` means one attempt, no retries."""

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Release the connection; the next push opens a new one."""

    async def tick(self) -> float | None:
        """Push one collection (with retries); seconds until the next tick."""
        async with self.delivery.lock:
            await self._push(single=False)
        return self.delivery.next_delay(self._interval)

    async def flush(self) -> None:
        """Push once more with a single attempt, then close the connection."""
        try:
            async with self.delivery.lock:
                await self._push(single=True)
        finally:
            await self.aclose()


class LazyClient:
    """The HTTP client of one exporter: the one given, or one opened on first use and closed by ``aclose``.

    An opened client belongs to the event loop it was opened on; on another loop a new one is opened.
    """

    def __init__(self, client: httpx.AsyncClient | None, *, timeout: float) -> None:
        self._given = client
        self._timeout = timeout
        self._owned: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def get(self) -> httpx.AsyncClient:
        """The client to send with (call from a coroutine)."""
        if self._given is not None:
            return self._given
        loop = asyncio.get_running_loop()
        if self._owned is None or self._loop is not loop:
            self._owned = httpx.AsyncClient(timeout=self._timeout)
            self._loop = loop
        return self._owned

    async def aclose(self) -> None:
        """Close the client this object opened (a given client is left to its owner)."""
        owned, self._owned, self._loop = self._owned, None, None
        if owned is not None:
            await owned.aclose()


def _unique(name: str, taken: set[str]) -> str:
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        candidate = f"{name}_{n}"
    taken.add(candidate)
    return candidate


def build_exporters(
    settings: MetricsSettings,
    collector: Collector,
    *,
    metrics: MetricsRecorder | None = None,
    clock: Clock = SYSTEM_CLOCK,
    logger: Logger | None = None,
    host: str | None = None,
) -> list[Exporter]:
    """One exporter per configured destination in ``settings.exporters``.

    ``prometheus`` with ``push_interval`` becomes remote write (without it Prometheus scrapes /metrics and
    no exporter is needed); ``datadog`` becomes the series API exporter, plus DogStatsD when
    ``statsd_host`` is set, both every ``collection_interval``. ``host`` is the DataDog host resource
    (default: this machine's hostname). Nothing is built when metrics are disabled.
    """
    from sharedconfig.monitoring.metrics.datadog import DatadogExporter, DogStatsDExporter
    from sharedconfig.monitoring.metrics.remote_write import RemoteWriteExporter

    if not settings.enabled:
        return []
    built: list[Exporter] = []
    taken: set[str] = set()
    every = settings.collection_interval.total_seconds()
    for config in settings.exporters:
        if config.type == "prometheus":
            if config.push_interval is None:
                continue
            built.append(
                RemoteWriteExporter(
                    config.endpoint,
                    collector,
                    interval=config.push_interval.total_seconds(),
                    batch_size=settings.batch_size,
                    clock=clock,
                    metrics=metrics,
                    logger=logger,
                    name=_unique("remote_write", taken),
                )
            )
        else:
            built.append(
                DatadogExporter(
                    config.api_key,
                    config.endpoint,
                    collector,
                    tags=config.tags,
                    interval=every,
                    compression=settings.compression,
                    batch_size=settings.batch_size,
                    host=host if host is not None else socket.gethostname(),
                    clock=clock,
                    metrics=metrics,
                    logger=logger,
                    name=_unique("datadog", taken),
                )
            )
            if config.statsd_host:
                built.append(
                    DogStatsDExporter(
                        config.statsd_host,
                        config.statsd_port or 8125,
                        collector,
                        tags=config.tags,
                        interval=every,
                        clock=clock,
                        metrics=metrics,
                        logger=logger,
                        name=_unique("dogstatsd", taken),
                    )
                )
    return built
