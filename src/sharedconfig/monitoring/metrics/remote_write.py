"""Prometheus remote write 1.0: samples as a snappy-compressed ``prometheus.WriteRequest`` protobuf.

The schema is four small messages, so the encoder is written here (varints, length-delimited fields,
doubles) rather than generated; ``RemoteWriteExporter`` pushes one collection per tick.
"""

from __future__ import annotations

import asyncio
import math
import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import cramjam
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
from sharedconfig.monitoring.metrics.model import Labels, MetricFamily

__all__ = [
    "REMOTE_WRITE_HEADERS",
    "RemoteWriteExporter",
    "TimeSeries",
    "encode_write_request",
    "to_timeseries",
]

REMOTE_WRITE_HEADERS: dict[str, str] = {
    "Content-Encoding": "snappy",
    "Content-Type": "application/x-protobuf",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
    "User-Agent": f"sharedconfig/{__version__}",
}
"""The headers remote write 1.0 requires on every request."""

_WIRE_VARINT = 0
_WIRE_FIXED64 = 1
_WIRE_LEN = 2


@dataclass(frozen=True, slots=True)
class TimeSeries:
    """One ``prometheus.TimeSeries``: labels (``__name__`` included, sorted by name) and samples.

    ``samples`` are ``(value, timestamp in milliseconds since the epoch)`` pairs, oldest first.
    """

    labels: Labels
    samples: tuple[tuple[float, int], ...]


def _varint(n: int) -> bytes:
    if n < 0:
        n += 1 << 64  # int64 on the wire: two's complement in ten bytes
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _key(number: int, wire: int) -> bytes:
    return _varint(number << 3 | wire)


def _length_delimited(number: int, payload: bytes) -> bytes:
    return _key(number, _WIRE_LEN) + _varint(len(payload)) + payload


_SAMPLE_VALUE_KEY = _key(1, _WIRE_FIXED64)
_SAMPLE_TIMESTAMP_KEY = _key(2, _WIRE_VARINT)


def _encode_timeseries(series: TimeSeries) -> bytes:
    # message TimeSeries { repeated Label labels = 1; repeated Sample samples = 2; }
    # message Label { string name = 1; string value = 2; }
    # message Sample { double value = 1; int64 timestamp = 2; }
    parts: list[bytes] = []
    for name, text in series.labels:
        label = _length_delimited(1, name.encode()) + _length_delimited(2, text.encode())
        parts.append(_length_delimited(1, label))
    for value, timestamp in series.samples:
        sample = _SAMPLE_VALUE_KEY + struct.pack("<d", value) + _SAMPLE_TIMESTAMP_KEY + _varint(timestamp)
        parts.append(_length_delimited(2, sample))
    return b"".join(parts)


def encode_write_request(series: Iterable[TimeSeries]) -> bytes:
    """The uncompressed ``prometheus.WriteRequest`` (``repeated TimeSeries timeseries = 1``)."""
    return b"".join(_length_delimited(1, _encode_timeseries(s)) for s in series)


def to_timeseries(families: Iterable[MetricFamily], timestamp_ms: int) -> list[TimeSeries]:
    """One series per sample, stamped ``timestamp_ms``; histograms as their _bucket/_sum/_count series.

    Labels with an empty value are left out (remote write forbids them, and Prometheus treats an empty
    label as absent anyway).
    """
    out: list[TimeSeries] = []
    for family in families:
        for sample in family.samples:
            labels = sorted([("__name__", sample.name), *((k, v) for k, v in sample.labels if v)])
            out.append(TimeSeries(tuple(labels), ((sample.value, timestamp_ms),)))
    return out


def _batches(items: Sequence[TimeSeries], size: int) -> Iterator[Sequence[TimeSeries]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class RemoteWriteExporter(PushingExporter):
    """Pushes every collection to ``<endpoint>/api/v1/write`` by Prometheus remote write 1.0.

    Each tick collects once, stamps every sample with the wall-clock time, and sends requests of at most
    ``batch_size`` series. Retries, the circuit and failure counting come from ``Delivery``; nothing is
    raised to the caller. ``flush`` makes one last single-attempt push and closes the client it opened.
    """

    def __init__(
        self,
        endpoint: str,
        collector: Collector,
        *,
        interval: float,
        client: httpx.AsyncClient | None = None,
        timeout: float = 10.0,
        clock: Clock = SYSTEM_CLOCK,
        metrics: MetricsRecorder | None = None,
        headers: dict[str, str] | None = None,
        batch_size: int = 1000,
        retry: RetryPolicy | None = None,
        circuit: CircuitBreaker | None = None,
        sleep: Sleep = asyncio.sleep,
        logger: Logger | None = None,
        name: str = "remote_write",
    ) -> None:
        self._schedule(name, interval, batch_size)
        self.url = endpoint.rstrip("/") + "/api/v1/write"
        parts = urlsplit(self.url)
        # user:password@ in the endpoint is basic auth for httpx; it is never shown (repr, logs, errors)
        self.shown_url = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
        credentials = [SecretStr(p) for p in (parts.username, parts.password) if p]
        self._collector = collector
        self._client = LazyClient(client, timeout=timeout)
        self._timeout = timeout
        self._clock = clock
        self._headers = {**(headers or {}), **REMOTE_WRITE_HEADERS}
        self._batch_size = batch_size
        self.delivery = Delivery(
            name,
            retry=retry,
            circuit=circuit,
            metrics=metrics,
            logger=logger,
            sleep=sleep,
            clock=clock,
            redact=credentials,
        )

    def payloads(self) -> list[bytes]:
        """Collect now and encode: one snappy-compressed WriteRequest per batch."""
        timestamp_ms = math.floor(self._clock.wall().timestamp() * 1000)
        series = to_timeseries(self._collector.collect(), timestamp_ms)
        return [
            bytes(cramjam.snappy.compress_raw(encode_write_request(batch)))
            for batch in _batches(series, self._batch_size)
        ]

    async def aclose(self) -> None:
        """Close the client this exporter opened, without pushing (a given client is left open)."""
        await self._client.aclose()

    async def _push(self, *, single: bool) -> None:
        if not self.delivery.circuit.allow():
            return
        try:
            bodies = self.payloads()
        except Exception as exc:  # a collector or encoding bug: counted, never raised into the runtime
            self.delivery.failed(f"{self._name}: collecting or encoding failed: {type(exc).__name__}: {exc}")
            return
        for body in bodies:

            async def send(body: bytes = body) -> None:
                response = await self._client.get().post(
                    self.url, content=body, headers=self._headers, timeout=self._timeout
                )
                check_response(response, self._name, clock=self._clock)

            if not await self.delivery.deliver(send, single=single):
                return  # later batches go to the same place; the next tick tries again

    def __repr__(self) -> str:
        return f"RemoteWriteExporter(url={self.shown_url!r}, interval={self._interval})"
