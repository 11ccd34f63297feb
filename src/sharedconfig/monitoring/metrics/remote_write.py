"""Prometheus remote write 1.0: samples as a snappy-compressed ``prometheus.WriteRequest`` protobuf.

The schema is four small messages, so the encoder is written here (varints, length-delimited fields,
doubles) rather than generated; ``remote_write_exporter`` composes it with an ``HttpSender``.
"""

from __future__ import annotations

import base64
import math
import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Unpack
from urllib.parse import unquote, urlsplit, urlunsplit

import cramjam
import httpx
from pydantic import SecretStr

from sharedconfig import __version__
from sharedconfig.clock import SYSTEM_CLOCK, Clock
from sharedconfig.monitoring.metrics.model import Collector, Labels, MetricFamily
from sharedconfig.monitoring.metrics.push import (
    Batch,
    ExporterOptions,
    HttpSender,
    PushExporter,
    push_exporter,
)

__all__ = [
    "REMOTE_WRITE_HEADERS",
    "RemoteWriteEncoder",
    "TimeSeries",
    "encode_write_request",
    "remote_write_exporter",
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


class RemoteWriteEncoder:
    """Families to remote-write batches: every sample stamped with the wall clock, ``batch_size`` series
    per snappy-compressed ``WriteRequest``. Stateless: nothing to remember once a batch is delivered."""

    def __init__(self, *, batch_size: int = 1000, clock: Clock = SYSTEM_CLOCK) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.batch_size = batch_size
        self._clock = clock

    def encode(self, families: Sequence[MetricFamily]) -> list[Batch[TimeSeries]]:
        """One batch per ``batch_size`` series, stamped now."""
        timestamp_ms = math.floor(self._clock.wall().timestamp() * 1000)
        series = to_timeseries(families, timestamp_ms)
        return [
            Batch(bytes(cramjam.snappy.compress_raw(encode_write_request(batch))), tuple(batch))
            for batch in _batches(series, self.batch_size)
        ]

    def delivered(self, batch: Batch[TimeSeries]) -> None:
        """Nothing to remember: remote write sends absolute values."""

    def __repr__(self) -> str:
        return f"RemoteWriteEncoder(batch_size={self.batch_size})"


def remote_write_exporter(
    endpoint: str,
    collector: Collector,
    *,
    interval: float,
    client: httpx.AsyncClient | None = None,
    timeout: float = 10.0,
    headers: dict[str, str] | None = None,
    batch_size: int = 1000,
    name: str = "remote_write",
    **options: Unpack[ExporterOptions],
) -> PushExporter[TimeSeries]:
    """An exporter pushing every collection to ``<endpoint>/api/v1/write`` by Prometheus remote write 1.0.

    ``user:password@`` in the endpoint is sent as basic auth and never shown: it is taken out of the URL
    the request is made with (so no log line built from that URL, httpx's own included, can carry it),
    the sender's ``shown_url`` and ``repr`` leave it out and logged messages have both parts (and their
    basic-auth encoding) scrubbed. Retries, the breaker and failure counting come from
    ``exporter_delivery``, which takes ``options`` (clock, metrics, logger, retry, breaker,
    on_state_change).
    """
    clock = options.get("clock", SYSTEM_CLOCK)
    url = endpoint.rstrip("/") + "/api/v1/write"
    parts = urlsplit(url)
    credentials = [SecretStr(p) for p in (parts.username, parts.password) if p]
    bare = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    auth = None
    if parts.username is not None:  # as httpx reads user info from a URL, but kept out of the URL
        user, password = unquote(parts.username), unquote(parts.password or "")
        auth = httpx.BasicAuth(user, password)
        credentials += [SecretStr(p) for p in (user, password) if p]
        # as sent: a receiver quoting the request's Authorization header back must not get it logged
        credentials.append(SecretStr(base64.b64encode(f"{user}:{password}".encode()).decode()))
    sender = HttpSender(
        name,
        bare,
        headers={**(headers or {}), **REMOTE_WRITE_HEADERS},
        client=client,
        timeout=timeout,
        auth=auth,
        clock=clock,
        shown_url=bare,
    )
    encoder = RemoteWriteEncoder(batch_size=batch_size, clock=clock)
    return push_exporter(name, collector, encoder, sender, interval=interval, redact=credentials, **options)
