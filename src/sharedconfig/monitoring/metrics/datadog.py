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
from typing import Unpack

import httpx
from pydantic import SecretStr

from sharedconfig import __version__
from sharedconfig.clock import SYSTEM_CLOCK, Clock
from sharedconfig.monitoring.metrics.model import Collector, MetricFamily, MetricType
from sharedconfig.monitoring.metrics.push import (
    Batch,
    ExporterOptions,
    HttpSender,
    PushExporter,
    push_exporter,
)

__all__ = [
    "DATAGRAM_LIMIT",
    "CountDeltas",
    "DatadogEncoder",
    "DogStatsDEncoder",
    "Point",
    "PointType",
    "UdpSender",
    "datadog_exporter",
    "datagrams",
    "dogstatsd_exporter",
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


class DatadogEncoder:
    """Families to DataDog series API batches, counts as deltas committed per delivered batch.

    Payload: ``{"series": [{"metric", "type": 1 (count) | 3 (gauge), "points": [{"timestamp": unix
    seconds, "value"}], "tags": ["k:v", ...], "interval" (counts only), "resources": [{"name": host,
    "type": "host"}] (when ``host`` is set)}]}``, gzip-compressed when ``compression``, at most
    ``batch_size`` series per batch.
    """

    def __init__(
        self,
        *,
        tags: Mapping[str, str] | None = None,
        interval: float,
        compression: bool = True,
        batch_size: int = 1000,
        host: str | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.tags: dict[str, str] = dict(tags or {})
        self.interval = interval
        self.compression = compression
        self.batch_size = batch_size
        self.host = host
        self._clock = clock
        self._deltas = CountDeltas()

    @property
    def headers(self) -> dict[str, str]:
        """The request headers the body needs (the API key is added by the sender's auth)."""
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": f"sharedconfig/{__version__}",
        }
        if self.compression:
            headers["Content-Encoding"] = "gzip"
        return headers

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
                item["interval"] = max(1, round(self.interval))
            if self.host:
                item["resources"] = [{"name": self.host, "type": "host"}]
            series.append(item)
        return {"series": series}

    def body(self, points: Sequence[Point], timestamp: int) -> bytes:
        """The request body for ``points``: JSON, gzip-compressed when ``compression`` is on."""
        body = json.dumps(self.payload(points, timestamp), separators=(",", ":"), allow_nan=False).encode()
        return gzip.compress(body, mtime=0) if self.compression else body

    def encode(self, families: Sequence[MetricFamily]) -> list[Batch[Point]]:
        """One batch per ``batch_size`` series, stamped now (unix seconds)."""
        points = to_points(families, self.tags)
        timestamp = math.floor(self._clock.wall().timestamp())
        return [
            Batch(self.body(chunk, timestamp), tuple(chunk)) for chunk in _chunks(points, self.batch_size)
        ]

    def delivered(self, batch: Batch[Point]) -> None:
        """Remember the totals the batch carried, so the next push sends only what was added."""
        self._deltas.commit(batch.items)

    def prime(self, families: Sequence[MetricFamily]) -> None:
        """Remember these totals as sent, sending nothing: a process taking the pushes over from another
        (multiprocess mode) then sends what is added from now on, not the run's whole totals again."""
        self._deltas.commit(to_points(families, self.tags))

    def __repr__(self) -> str:
        return f"DatadogEncoder(tags={self.tags!r}, interval={self.interval}, compression={self.compression})"


def datadog_exporter(
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
    name: str = "datadog",
    **options: Unpack[ExporterOptions],
) -> PushExporter[Point]:
    """An exporter pushing every collection to DataDog's metrics API v2 (``POST {endpoint}/api/v2/series``).

    The API key is a ``SecretStr`` sent only as the ``DD-API-KEY`` header, added as the request leaves;
    it is scrubbed from every logged message. A 2xx answer that lists errors is logged as a warning.
    ``options`` (clock, metrics, logger, retry, breaker, on_state_change) go to ``exporter_delivery``.
    """
    clock = options.get("clock", SYSTEM_CLOCK)
    encoder = DatadogEncoder(
        tags=tags, interval=interval, compression=compression, batch_size=batch_size, host=host, clock=clock
    )

    def warn_partial(response: httpx.Response) -> None:
        try:
            errors = response.json().get("errors")
        except (ValueError, AttributeError):
            return
        if errors:
            delivery = exporter.delivery
            delivery.logger.warning(
                "DataDog accepted the series with errors", errors=delivery.scrub(str(errors)[:200])
            )

    sender = HttpSender(
        name,
        endpoint.rstrip("/") + "/api/v2/series",
        headers=encoder.headers,
        client=client,
        timeout=timeout,
        auth=_ApiKeyAuth(api_key),
        clock=clock,
        on_response=warn_partial,
    )
    exporter = push_exporter(  # warn_partial logs through its delivery
        name, collector, encoder, sender, interval=interval, redact=(api_key,), **options
    )
    return exporter


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


class DogStatsDEncoder:
    """Families to DogStatsD datagrams: the same mapping and count deltas as ``DatadogEncoder``, lines
    packed into datagrams of at most ``limit`` bytes."""

    def __init__(self, *, tags: Mapping[str, str] | None = None, limit: int = DATAGRAM_LIMIT) -> None:
        self.tags: dict[str, str] = dict(tags or {})
        self.limit = limit
        self._deltas = CountDeltas()

    def lines(self, families: Sequence[MetricFamily]) -> list[tuple[str, Point]]:
        """One DogStatsD line per series (deltas applied, nothing committed)."""
        return [(statsd_line(p, self._deltas.delta(p)), p) for p in to_points(families, self.tags)]

    def encode(self, families: Sequence[MetricFamily]) -> list[Batch[Point]]:
        """One batch per datagram."""
        return [Batch(data, tuple(points)) for data, points in datagrams(self.lines(families), self.limit)]

    def delivered(self, batch: Batch[Point]) -> None:
        """Remember the totals the datagram carried."""
        self._deltas.commit(batch.items)

    def prime(self, families: Sequence[MetricFamily]) -> None:
        """Remember these totals as sent, sending nothing (``DatadogEncoder.prime``)."""
        self._deltas.commit(to_points(families, self.tags))

    def __repr__(self) -> str:
        return f"DogStatsDEncoder(tags={self.tags!r}, limit={self.limit})"


class UdpSender:
    """Sends each batch as one UDP datagram to ``host:port``, resolving and opening the socket lazily.

    UDP has no acknowledgement: a datagram counts as delivered once the socket took it. A socket error
    closes the socket (the next attempt resolves and opens it again) and is raised as it is (an
    ``OSError``, which the retry policy retries).
    """

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._target: tuple[socket.socket, _Address] | None = None

    async def _connect(self) -> tuple[socket.socket, _Address]:
        if self._target is None:
            loop = asyncio.get_running_loop()
            infos = await loop.getaddrinfo(self.host, self.port, type=socket.SOCK_DGRAM)
            family, kind, proto, _, address = infos[0]
            sock = socket.socket(family, kind, proto)
            sock.setblocking(False)
            self._target = (sock, address)
        return self._target

    async def send(self, payload: Batch[object]) -> None:
        """Send ``payload.body`` as one datagram."""
        try:
            sock, address = await self._connect()
            sock.sendto(payload.body, address)
        except OSError:
            await self.aclose()
            raise

    async def aclose(self) -> None:
        """Close the socket; the next send opens a new one."""
        target, self._target = self._target, None
        if target is not None:
            target[0].close()

    def __repr__(self) -> str:
        return f"UdpSender(host={self.host!r}, port={self.port})"


def dogstatsd_exporter(
    host: str,
    port: int,
    collector: Collector,
    *,
    tags: Mapping[str, str] | None = None,
    interval: float,
    name: str = "dogstatsd",
    datagram_limit: int = DATAGRAM_LIMIT,
    **options: Unpack[ExporterOptions],
) -> PushExporter[Point]:
    """An exporter sending every collection to a DogStatsD agent over UDP (``name:value|c|#k:v``).

    ``options`` (clock, metrics, logger, retry, breaker, on_state_change) go to ``exporter_delivery``.
    """
    sender = UdpSender(host, port)
    encoder = DogStatsDEncoder(tags=tags, limit=datagram_limit)
    return push_exporter(name, collector, encoder, sender, interval=interval, **options)
