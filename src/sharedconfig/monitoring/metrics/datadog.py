"""DataDog: the metrics API v2 (``POST /api/v2/series``, JSON, gzip) and DogStatsD over UDP for agents.

Prometheus-style cumulative counters become DataDog counts of what happened since the previous push;
gauges stay gauges; histograms send ``<name>.count`` and ``<name>.sum`` as counts (buckets are not sent).
"""

from __future__ import annotations

import asyncio
import gzip
import json
import math
import re
import socket
from collections.abc import Generator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum

import httpx
from pydantic import SecretStr

from sharedconfig import __version__
from sharedconfig.clock import SYSTEM_CLOCK, Clock
from sharedconfig.interfaces import Logger, MetricsRecorder
from sharedconfig.monitoring.metrics.exporters import (
    CircuitBreaker,
    Collector,
    Delivery,
    LazyClient,
    PushingExporter,
    RetryPolicy,
    Sleep,
    check_response,
)
from sharedconfig.monitoring.metrics.model import MetricFamily, MetricType

__all__ = [
    "DATAGRAM_LIMIT",
    "CountDeltas",
    "DatadogExporter",
    "DogStatsDExporter",
    "Point",
    "PointType",
    "datagrams",
    "statsd_line",
    "to_points",
]

DATAGRAM_LIMIT = 1432
"""Largest DogStatsD datagram we send: fits a 1500-byte Ethernet MTU after IP and UDP headers."""

_NAME_INVALID = re.compile(r"[^A-Za-z0-9_.]")
_STATSD_RESERVED = re.compile(r"[|,#\r\n]")

_Address = tuple[str, int] | tuple[str, int, int, int] | tuple[int, bytes]  # what getaddrinfo gives

SeriesKey = tuple[str, tuple[str, ...]]
"""A DataDog series: metric name and tags."""


class PointType(IntEnum):
    """The v2 API's ``type`` field (``0`` unspecified and ``2`` rate are not sent)."""

    COUNT = 1
    GAUGE = 3


@dataclass(frozen=True, slots=True)
class Point:
    """One DataDog series' current value: a cumulative total for counts, the value for gauges."""

    metric: str
    type: PointType
    value: float
    tags: tuple[str, ...]

    @property
    def key(self) -> SeriesKey:
        """What identifies the series across pushes."""
        return (self.metric, self.tags)


def _metric_name(name: str) -> str:
    return _NAME_INVALID.sub("_", name)


def to_points(families: Iterable[MetricFamily], tags: Mapping[str, str]) -> list[Point]:
    """Map families to DataDog series, the way DataDog's own OpenMetrics integration names them.

    Counter ``x`` (sample ``x_total``) -> count ``x.count``; gauge ``x`` -> gauge ``x``; histogram ``x``
    -> counts ``x.count`` and ``x.sum`` (``_bucket`` series are skipped). Tags are ``tags`` then the
    sample's labels as ``label:value`` (a label replaces a configured tag of the same name). Non-finite
    values are skipped: neither JSON nor DogStatsD can carry them.
    """
    points: list[Point] = []
    for family in families:
        base = _metric_name(family.name)
        for sample in family.samples:
            if not math.isfinite(sample.value):
                continue
            if family.type is MetricType.GAUGE:
                metric, kind = _metric_name(sample.name), PointType.GAUGE
            elif family.type is MetricType.COUNTER:
                metric, kind = f"{base}.count", PointType.COUNT
            elif sample.name.endswith("_sum"):
                metric, kind = f"{base}.sum", PointType.COUNT
            elif sample.name.endswith("_count"):
                metric, kind = f"{base}.count", PointType.COUNT
            else:
                continue  # histogram buckets
            merged = {**tags, **dict(sample.labels)}
            points.append(Point(metric, kind, sample.value, tuple(f"{k}:{v}" for k, v in merged.items())))
    return points


class CountDeltas:
    """Turns cumulative totals into what was counted since the last successful push.

    The first push of a series sends its whole total; a total lower than the last one (the process
    restarted, or a histogram sum fell) sends the new total. Totals are remembered only on ``commit``,
    so what a failed push carried is sent again by the next one.
    """

    def __init__(self) -> None:
        self._last: dict[SeriesKey, float] = {}

    def delta(self, point: Point) -> float:
        """The value to send for ``point``: the delta for counts, the value itself for gauges."""
        if point.type is not PointType.COUNT:
            return point.value
        last = self._last.get(point.key)
        if last is None or point.value < last:
            return point.value
        return point.value - last

    def commit(self, points: Iterable[Point]) -> None:
        """Remember the totals of counts that were delivered."""
        for point in points:
            if point.type is PointType.COUNT:
                self._last[point.key] = point.value


def _chunks(items: Sequence[Point], size: int) -> Iterator[Sequence[Point]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _number(value: float) -> float | int:
    value = float(value)  # an int that slipped in as a float-typed value
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


class _ApiKeyAuth(httpx.Auth):
    """Adds ``DD-API-KEY`` as the request leaves, so the key never sits in our headers or locals."""

    def __init__(self, api_key: SecretStr) -> None:
        self._api_key = api_key

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Set the header and send."""
        request.headers["DD-API-KEY"] = self._api_key.get_secret_value()
        yield request

    def __repr__(self) -> str:
        return "_ApiKeyAuth(api_key=SecretStr('**********'))"


class DatadogExporter(PushingExporter):
    """Pushes every collection to DataDog's metrics API v2 (``POST {endpoint}/api/v2/series``).

    Payload: ``{"series": [{"metric", "type": 1 (count) | 3 (gauge), "points": [{"timestamp": unix
    seconds, "value"}], "tags": ["k:v", ...], "interval" (counts only), "resources": [{"name": host,
    "type": "host"}] (when ``host`` is set)}]}``, gzip-compressed when ``compression``, at most
    ``batch_size`` series per request. Counts are deltas (see ``CountDeltas``), committed per request
    that DataDog accepted. The API key is a ``SecretStr`` sent only as the ``DD-API-KEY`` header.
    """

    def __init__(
        self,
        api_key: SecretStr,
        endpoint: str,
        collector: Collector,
        *,
        tags: Mapping[str, str] | None = None,
        interval: float,
        compression: bool = True,
        batch_size: int = 1000,
        host: str | None = None,
        client: httpx.AsyncClient | None = None,
        timeout: float = 10.0,
        clock: Clock = SYSTEM_CLOCK,
        metrics: MetricsRecorder | None = None,
        retry: RetryPolicy | None = None,
        circuit: CircuitBreaker | None = None,
        sleep: Sleep = asyncio.sleep,
        logger: Logger | None = None,
        name: str = "datadog",
    ) -> None:
        self._schedule(name, interval, batch_size)
        self.url = endpoint.rstrip("/") + "/api/v2/series"
        self._collector = collector
        self.tags: dict[str, str] = dict(tags or {})
        self.compression = compression
        self.host = host
        self._batch_size = batch_size
        self._auth = _ApiKeyAuth(api_key)
        self._client = LazyClient(client, timeout=timeout)
        self._timeout = timeout
        self._clock = clock
        self._deltas = CountDeltas()
        self.delivery = Delivery(
            name,
            retry=retry,
            circuit=circuit,
            metrics=metrics,
            logger=logger,
            sleep=sleep,
            clock=clock,
            redact=(api_key,),
        )
        self._logger = self.delivery.logger

    def payload(self, points: Sequence[Point], timestamp: int) -> dict[str, list[dict[str, object]]]:
        """The JSON document for ``points`` (deltas applied, nothing committed)."""
        series: list[dict[str, object]] = []
        for point in points:
            item: dict[str, object] = {
                "metric": point.metric,
                "type": int(point.type),
                "points": [{"timestamp": timestamp, "value": _number(self._deltas.delta(point))}],
                "tags": list(point.tags),
            }
            if point.type is PointType.COUNT:
                item["interval"] = max(1, round(self._interval))
            if self.host:
                item["resources"] = [{"name": self.host, "type": "host"}]
            series.append(item)
        return {"series": series}

    def encode(self, points: Sequence[Point], timestamp: int) -> bytes:
        """The request body for ``points``: JSON, gzip-compressed when ``compression`` is on."""
        body = json.dumps(self.payload(points, timestamp), separators=(",", ":"), allow_nan=False).encode()
        return gzip.compress(body, mtime=0) if self.compression else body

    def _headers(self) -> dict[str, str]:
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": f"sharedconfig/{__version__}",
        }
        if self.compression:
            headers["Content-Encoding"] = "gzip"
        return headers

    async def aclose(self) -> None:
        """Close the client this exporter opened, without pushing (a given client is left open)."""
        await self._client.aclose()

    async def _push(self, *, single: bool) -> None:
        if not self.delivery.circuit.allow():
            return
        try:
            points = to_points(self._collector.collect(), self.tags)
            timestamp = math.floor(self._clock.wall().timestamp())
            batches = [(batch, self.encode(batch, timestamp)) for batch in _chunks(points, self._batch_size)]
        except Exception as exc:  # a collector or encoding bug: counted, never raised into the runtime
            self.delivery.failed(f"{self._name}: collecting or encoding failed: {type(exc).__name__}: {exc}")
            return
        headers = self._headers()
        for batch, body in batches:

            async def send(body: bytes = body) -> None:
                response = await self._client.get().post(
                    self.url, content=body, headers=headers, auth=self._auth, timeout=self._timeout
                )
                check_response(response, self._name, clock=self._clock)
                self._warn_partial(response)

            if not await self.delivery.deliver(send, single=single):
                return  # later batches go to the same place; the next tick tries again
            self._deltas.commit(batch)

    def _warn_partial(self, response: httpx.Response) -> None:
        try:
            errors = response.json().get("errors")
        except (ValueError, AttributeError):
            return
        if errors:
            self._logger.warning(
                "DataDog accepted the series with errors", errors=self.delivery.scrub(str(errors)[:200])
            )

    def __repr__(self) -> str:
        return (
            f"DatadogExporter(url={self.url!r}, api_key=SecretStr('**********'), tags={self.tags!r}, "
            f"interval={self._interval})"
        )


def _statsd_value(value: float) -> str:
    number = _number(value)
    return str(number) if isinstance(number, int) else repr(number)


def statsd_line(point: Point, value: float) -> str:
    """One DogStatsD line: ``name:value|c`` or ``|g``, then ``|#tag:value,...`` when there are tags."""
    kind = "c" if point.type is PointType.COUNT else "g"
    line = f"{point.metric}:{_statsd_value(value)}|{kind}"
    if point.tags:
        line += "|#" + ",".join(_STATSD_RESERVED.sub("_", tag) for tag in point.tags)
    return line


def datagrams(
    lines: Iterable[tuple[str, Point]], limit: int = DATAGRAM_LIMIT
) -> list[tuple[bytes, list[Point]]]:
    """Pack lines, newline-separated, into datagrams of at most ``limit`` bytes.

    A single line longer than ``limit`` travels alone (the agent's default buffer takes 8 KiB).
    """
    packed: list[tuple[bytes, list[Point]]] = []
    current: list[bytes] = []
    points: list[Point] = []
    size = 0
    for text, point in lines:
        line = text.encode()
        extra = len(line) + (1 if current else 0)
        if current and size + extra > limit:
            packed.append((b"\n".join(current), points))
            current, points, size = [], [], 0
            extra = len(line)
        current.append(line)
        points.append(point)
        size += extra
    if current:
        packed.append((b"\n".join(current), points))
    return packed


class DogStatsDExporter(PushingExporter):
    """Sends every collection to a DogStatsD agent over UDP (``name:value|c|#k:v``; ``|g`` for gauges).

    The same mapping and count deltas as ``DatadogExporter``; lines are batched into datagrams of at
    most 1432 bytes. UDP has no acknowledgement: a datagram counts as delivered once the socket took it.
    """

    def __init__(
        self,
        host: str,
        port: int,
        collector: Collector,
        *,
        tags: Mapping[str, str] | None = None,
        interval: float,
        clock: Clock = SYSTEM_CLOCK,
        metrics: MetricsRecorder | None = None,
        retry: RetryPolicy | None = None,
        circuit: CircuitBreaker | None = None,
        sleep: Sleep = asyncio.sleep,
        logger: Logger | None = None,
        name: str = "dogstatsd",
        datagram_limit: int = DATAGRAM_LIMIT,
    ) -> None:
        self._schedule(name, interval)
        self.host = host
        self.port = port
        self.tags: dict[str, str] = dict(tags or {})
        self._collector = collector
        self._limit = datagram_limit
        self._deltas = CountDeltas()
        self._target: tuple[socket.socket, _Address] | None = None
        self.delivery = Delivery(
            name, retry=retry, circuit=circuit, metrics=metrics, logger=logger, sleep=sleep, clock=clock
        )

    def lines(self) -> list[tuple[str, Point]]:
        """Collect now: one DogStatsD line per series (deltas applied, nothing committed)."""
        points = to_points(self._collector.collect(), self.tags)
        return [(statsd_line(p, self._deltas.delta(p)), p) for p in points]

    async def aclose(self) -> None:
        """Close the socket without sending; the next tick opens a new one."""
        self._close()

    async def _connect(self) -> tuple[socket.socket, _Address]:
        if self._target is None:
            loop = asyncio.get_running_loop()
            infos = await loop.getaddrinfo(self.host, self.port, type=socket.SOCK_DGRAM)
            family, kind, proto, _, address = infos[0]
            sock = socket.socket(family, kind, proto)
            sock.setblocking(False)
            self._target = (sock, address)
        return self._target

    def _close(self) -> None:
        target, self._target = self._target, None
        if target is not None:
            target[0].close()

    async def _push(self, *, single: bool) -> None:
        if not self.delivery.circuit.allow():
            return
        try:
            packed = datagrams(self.lines(), self._limit)
        except Exception as exc:  # a collector bug: counted, never raised into the runtime
            self.delivery.failed(f"{self._name}: collecting failed: {type(exc).__name__}: {exc}")
            return
        for data, points in packed:

            async def send(data: bytes = data) -> None:
                try:
                    sock, address = await self._connect()
                    sock.sendto(data, address)
                except OSError:
                    self._close()  # resolve and open again on the next attempt
                    raise

            if not await self.delivery.deliver(send, single=single):
                return
            self._deltas.commit(points)

    def __repr__(self) -> str:
        return f"DogStatsDExporter(host={self.host!r}, port={self.port}, interval={self._interval})"
