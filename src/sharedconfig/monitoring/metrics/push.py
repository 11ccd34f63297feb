"""What a push exporter is made of: an encoder (families to batches) and a sender, composed by delivery.

``PushExporter`` collects, encodes and hands each batch to a ``sharedconfig.delivery.Delivery``; the
formats (remote write, DataDog, DogStatsD) supply only an encoder and a sender. ``HttpSender`` posts.
"""

from __future__ import annotations

import asyncio
import email.utils
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Generic, Protocol, TypedDict, TypeVar, Unpack, runtime_checkable

import httpx

from sharedconfig.clock import SYSTEM_CLOCK, Clock
from sharedconfig.delivery import (
    CircuitBreakerConfig,
    Delivery,
    DeliveryError,
    RetryPolicy,
    SecretLike,
    Sender,
    Series,
    StateListener,
)
from sharedconfig.interfaces import Logger, MetricsRecorder
from sharedconfig.monitoring.metrics.model import Collector, MetricFamily
from sharedconfig.monitoring.names import CIRCUIT_BREAKER_STATE, METRICS_EXPORT_FAILURES
from sharedconfig.stdlog import StdlibLogger

__all__ = [
    "EXPORT_BREAKER",
    "EXPORT_RETRY",
    "Batch",
    "Encoder",
    "Exporter",
    "ExporterOptions",
    "HttpSender",
    "LazyClient",
    "PushExporter",
    "check_response",
    "exporter_delivery",
    "parse_retry_after",
    "push_exporter",
]

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

_BODY_EXCERPT = 200  # characters of an error response kept in the message

EXPORT_RETRY = RetryPolicy(max_retries=2, initial_delay=0.5, max_delay=10.0)
"""Exporters' default retries: 3 attempts per batch, waits drawn from [0, 0.5 s] then [0, 1 s]."""

EXPORT_BREAKER = CircuitBreakerConfig(
    sliding_window_size=10,
    minimum_number_of_calls=5,
    failure_rate_threshold=50.0,
    wait_duration_in_open_state=30.0,
    permitted_number_of_calls_in_half_open_state=1,
)
"""Exporters' default breaker: opens when half of the last 10 attempts (at least 5) failed; one probe."""


@runtime_checkable
class Exporter(Protocol):
    """What the hub runs: ``tick`` periodically on the runtime, ``flush`` once at stop.

    Neither raises on delivery problems: failures are retried, counted in
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
        """Push one collection; seconds until the next call (longer while the circuit is open)."""
        ...

    async def flush(self) -> None:
        """Push one last time (a single attempt) and release connections and sockets."""
        ...


@dataclass(frozen=True, slots=True)
class Batch(Generic[T_co]):
    """One request's worth of a collection: the encoded ``body`` and the ``items`` it carries."""

    body: bytes
    items: tuple[T_co, ...] = ()


class Encoder(Protocol[T]):
    """Turns a collection into batches, and learns which batches were delivered (for count deltas)."""

    def encode(self, families: Sequence[MetricFamily]) -> Sequence[Batch[T]]:
        """The batches to send for this collection (nothing is remembered yet)."""
        ...

    def delivered(self, batch: Batch[T]) -> None:
        """``batch`` reached the destination."""
        ...


class PushExporter(Generic[T]):
    """An ``Exporter`` composed of a collector, an encoder and a delivery (which owns the sender).

    ``tick`` collects once, encodes, and delivers batch after batch with retries; a batch that fails
    ends the push (the rest go to the same place; the next tick collects again). A collector or
    encoder that raises is counted and logged like a failed push. A push holds a lock, so a ``flush``
    at stop never runs beside a tick (a count delta sent by both would be counted twice).
    """

    def __init__(
        self, collector: Collector, encoder: Encoder[T], delivery: Delivery[Batch[T]], *, interval: float
    ) -> None:
        if interval <= 0:
            raise ValueError("interval must be positive")
        self.collector = collector
        self.encoder = encoder
        self.delivery = delivery
        self._interval = float(interval)
        self._lock = asyncio.Lock()
        self._lock_loop: asyncio.AbstractEventLoop | None = None

    @property
    def name(self) -> str:
        """The ``exporter`` label: the delivery's name."""
        return self.delivery.name

    @property
    def interval(self) -> float:
        """Seconds between pushes."""
        return self._interval

    def next_delay(self) -> float:
        """Seconds until the next tick: the interval, or longer while the circuit is open."""
        return max(self._interval, self.delivery.retry_in())

    async def tick(self) -> float | None:
        """Push one collection (with retries); seconds until the next tick."""
        async with self._loop_lock():
            await self._push(single=False)
        return self.next_delay()

    async def flush(self) -> None:
        """Push once more with a single attempt, then close the sender's connection."""
        try:
            async with self._loop_lock():
                await self._push(single=True)
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        """Close the sender without pushing; the next push opens a new connection."""
        await self.delivery.aclose()

    def _loop_lock(self) -> asyncio.Lock:
        # an asyncio.Lock belongs to one loop; a restarted runtime runs on a new one
        loop = asyncio.get_running_loop()
        if self._lock_loop is not loop:
            self._lock, self._lock_loop = asyncio.Lock(), loop
        return self._lock

    async def _push(self, *, single: bool) -> None:
        try:
            batches = self.encoder.encode(self.collector.collect())
        except Exception as exc:  # a collector or encoding bug: counted, never raised into the runtime
            self.delivery.failed(f"{self.name}: collecting or encoding failed: {type(exc).__name__}: {exc}")
            return
        for batch in batches:
            if not await self.delivery.deliver(batch, single=single):
                return
            self.encoder.delivered(batch)

    def __repr__(self) -> str:
        return f"PushExporter(name={self.name!r}, sender={self.delivery.sender!r}, interval={self._interval})"


ExporterGiveUp = Callable[[str, BaseException], None]
"""``on_give_up(exporter, error)``: an exporter gave up on a push (retries spent, breaker open)."""


def exporter_delivery(
    name: str,
    sender: Sender[Batch[T]],
    *,
    retry: RetryPolicy | None = None,
    breaker: CircuitBreakerConfig | None = None,
    metrics: MetricsRecorder | None = None,
    logger: Logger | None = None,
    clock: Clock = SYSTEM_CLOCK,
    redact: Sequence[str | SecretLike] = (),
    on_state_change: StateListener | None = None,
    on_give_up: ExporterGiveUp | None = None,
) -> Delivery[Batch[T]]:
    """The delivery every exporter uses: failures in ``metrics_export_failures_total{exporter}``, the
    breaker's state in ``circuit_breaker_state{name, component="exporter"}``, logs bound ``exporter=name``;
    ``on_give_up(name, error)`` hears of every push given up on (the events part publishes it).
    """
    return Delivery(
        name,
        sender,
        retry=retry or EXPORT_RETRY,
        breaker=breaker or EXPORT_BREAKER,
        max_in_flight=None,  # one push at a time already (the exporter's lock)
        metrics=metrics,
        failures=Series(METRICS_EXPORT_FAILURES, {"exporter": name}),
        state=Series(CIRCUIT_BREAKER_STATE, {"name": name, "component": "exporter"}),
        on_state_change=on_state_change,
        on_give_up=(lambda _batch, error: on_give_up(name, error)) if on_give_up is not None else None,
        logger=(logger or StdlibLogger("sharedconfig.monitoring.metrics")).bind(exporter=name),
        clock=clock,
        redact=redact,
    )


class ExporterOptions(TypedDict, total=False):
    """The keywords every exporter factory passes on to ``exporter_delivery`` (its time, too)."""

    clock: Clock
    metrics: MetricsRecorder | None
    logger: Logger | None
    retry: RetryPolicy | None
    breaker: CircuitBreakerConfig | None
    on_state_change: StateListener | None
    on_give_up: ExporterGiveUp | None


def push_exporter(
    name: str,
    collector: Collector,
    encoder: Encoder[T],
    sender: Sender[Batch[T]],
    *,
    interval: float,
    redact: Sequence[str | SecretLike] = (),
    **options: Unpack[ExporterOptions],
) -> PushExporter[T]:
    """What every format's factory returns: ``encoder`` and ``sender`` composed by ``exporter_delivery``."""
    delivery = exporter_delivery(name, sender, redact=redact, **options)
    return PushExporter(collector, encoder, delivery, interval=interval)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
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


def check_response(response: httpx.Response, name: str, *, clock: Clock = SYSTEM_CLOCK) -> None:
    """Raise ``DeliveryError`` (with ``status`` and ``retry_after``) unless the response is 2xx.

    Whether it is retried is the retry policy's call (``RetryPolicy.retryable_statuses``). The message
    names the URL without its query and quotes the start of the body.
    """
    status = response.status_code
    if 200 <= status < 300:
        return
    body = response.text[:_BODY_EXCERPT].strip()
    raise DeliveryError(
        f"{name}: HTTP {status} from {response.request.url.copy_with(query=None)}"
        + (f": {body}" if body else ""),
        status=status,
        retry_after=parse_retry_after(response.headers.get("retry-after"), clock.wall()),
        component="metrics",
        operation=f"export:{name}",
    )


class LazyClient:
    """The HTTP client of one sender: the one given, or one opened on first use and closed by ``aclose``.

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


class HttpSender:
    """POSTs a batch's body to ``url``: a non-2xx answer raises ``DeliveryError`` (``check_response``).

    A transport failure (refused, reset, timed out) raises a retryable ``DeliveryError`` naming the
    httpx error; an unsupported scheme a final one. ``on_response`` sees every accepted response (DataDog
    reads partial errors from it). ``shown_url`` is what ``repr`` prints (credentials left out).
    """

    def __init__(
        self,
        name: str,
        url: str,
        *,
        headers: Mapping[str, str],
        client: httpx.AsyncClient | None = None,
        timeout: float = 10.0,
        auth: httpx.Auth | None = None,
        clock: Clock = SYSTEM_CLOCK,
        shown_url: str | None = None,
        on_response: Callable[[httpx.Response], None] | None = None,
    ) -> None:
        self.name = name
        self.url = url
        self.shown_url = shown_url if shown_url is not None else url
        self.headers = dict(headers)
        self._client = LazyClient(client, timeout=timeout)
        self._timeout = timeout
        self._auth = auth
        self._clock = clock
        self._on_response = on_response

    async def send(self, payload: Batch[object]) -> None:
        """POST ``payload.body`` once."""
        try:
            response = await self._client.get().post(
                self.url,
                content=payload.body,
                headers=self.headers,
                timeout=self._timeout,
                auth=self._auth if self._auth is not None else httpx.USE_CLIENT_DEFAULT,
            )
        except httpx.TransportError as exc:
            raise DeliveryError(
                f"{self.name}: {type(exc).__name__}: {exc}",
                retryable=not isinstance(exc, httpx.UnsupportedProtocol),
                cause=exc,
                component="metrics",
                operation=f"export:{self.name}",
            ) from exc
        check_response(response, self.name, clock=self._clock)
        if self._on_response is not None:
            self._on_response(response)

    async def aclose(self) -> None:
        """Close the client this sender opened (a given client is left open)."""
        await self._client.aclose()

    def __repr__(self) -> str:
        return f"HttpSender(url={self.shown_url!r})"
