"""Tests for Prometheus remote write: the hand-written protobuf encoder, snappy framing and the exporter.

Payloads are decoded with ``google.protobuf`` messages built at run time from the remote write schema.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import cramjam
import httpx
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import Message

from sharedconfig import __version__
from sharedconfig.delivery import Jitter, RetryPolicy
from sharedconfig.monitoring.metrics.exporters import Exporter
from sharedconfig.monitoring.metrics.model import MetricFamily, MetricType, Sample
from sharedconfig.monitoring.metrics.push import HttpSender, PushExporter
from sharedconfig.monitoring.metrics.remote_write import (
    REMOTE_WRITE_HEADERS,
    RemoteWriteEncoder,
    TimeSeries,
    encode_write_request,
    remote_write_exporter,
    to_timeseries,
)
from sharedconfig.monitoring.names import METRICS_EXPORT_FAILURES
from sharedconfig.testing import FakeClock, InMemoryMetricsRecorder

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
EPOCH_MS = 1_767_225_600_000


def _write_request_class() -> type[Message]:
    """``prometheus.WriteRequest`` as in prompb/remote.proto and types.proto (only the 1.0 fields)."""
    field = descriptor_pb2.FieldDescriptorProto
    proto = descriptor_pb2.FileDescriptorProto(name="rw_test.proto", package="prometheus", syntax="proto3")

    def message(name: str, *fields: tuple[int, str, int, int, str]) -> None:
        described = proto.message_type.add(name=name)
        for number, field_name, kind, label, type_name in fields:
            added = described.field.add(name=field_name, number=number, type=kind, label=label)
            if type_name:
                added.type_name = type_name

    one, many = field.LABEL_OPTIONAL, field.LABEL_REPEATED
    message("Label", (1, "name", field.TYPE_STRING, one, ""), (2, "value", field.TYPE_STRING, one, ""))
    message("Sample", (1, "value", field.TYPE_DOUBLE, one, ""), (2, "timestamp", field.TYPE_INT64, one, ""))
    message(
        "TimeSeries",
        (1, "labels", field.TYPE_MESSAGE, many, ".prometheus.Label"),
        (2, "samples", field.TYPE_MESSAGE, many, ".prometheus.Sample"),
    )
    message("WriteRequest", (1, "timeseries", field.TYPE_MESSAGE, many, ".prometheus.TimeSeries"))
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("prometheus.WriteRequest"))


WriteRequest = _write_request_class()

Decoded = list[tuple[dict[str, str], list[str], list[tuple[float, int]]]]


def decode(raw: bytes) -> Decoded:
    """Each series of an uncompressed WriteRequest: labels as a dict, label names in order, samples."""
    request = WriteRequest()
    request.ParseFromString(raw)
    out: Decoded = []
    for series in request.timeseries:
        names = [label.name for label in series.labels]
        labels = {label.name: label.value for label in series.labels}
        samples = [(sample.value, sample.timestamp) for sample in series.samples]
        out.append((labels, names, samples))
    return out


def decode_body(body: bytes) -> Decoded:
    """Undo the snappy block format, then decode the protobuf."""
    return decode(bytes(cramjam.snappy.decompress_raw(body)))


class StaticCollector:
    """A collector that returns the families it was given, or raises ``error`` when set."""

    def __init__(self, families: Sequence[MetricFamily] = (), error: Exception | None = None) -> None:
        self.families = list(families)
        self.error = error

    def collect(self) -> list[MetricFamily]:
        """The families, or the configured error."""
        if self.error is not None:
            raise self.error
        return self.families


def counter(name: str, value: float, **labels: str) -> MetricFamily:
    """A counter family with one series."""
    return MetricFamily(
        name, MetricType.COUNTER, "test", (Sample(f"{name}_total", tuple(sorted(labels.items())), value),)
    )


def histogram(name: str) -> MetricFamily:
    """A histogram with two buckets after observing 0.05 and 0.7."""
    labels = (("route", "/x"),)
    return MetricFamily(
        name,
        MetricType.HISTOGRAM,
        "test",
        (
            Sample(f"{name}_bucket", (("le", "0.1"), *labels), 1.0),
            Sample(f"{name}_bucket", (("le", "+Inf"), *labels), 2.0),
            Sample(f"{name}_sum", labels, 0.75),
            Sample(f"{name}_count", labels, 2.0),
        ),
    )


class Recorder:
    """An httpx transport handler that keeps requests and answers with queued statuses (then 204)."""

    def __init__(self, statuses: Sequence[int] = ()) -> None:
        self.requests: list[httpx.Request] = []
        self.statuses = list(statuses)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        """Keep the request; answer with the next queued status."""
        self.requests.append(request)
        status = self.statuses.pop(0) if self.statuses else 204
        return httpx.Response(status, text="" if status < 300 else "try later")


def make_exporter(
    families: Sequence[MetricFamily],
    recorder: Recorder,
    *,
    metrics: InMemoryMetricsRecorder | None = None,
    batch_size: int = 1000,
) -> tuple[PushExporter[TimeSeries], FakeClock, Callable[[], None]]:
    """An exporter on a mock transport with a fake clock; returns it, its clock and a closer."""
    client = httpx.AsyncClient(transport=httpx.MockTransport(recorder))
    clock = FakeClock(epoch=EPOCH)
    exporter = remote_write_exporter(
        "http://prom.test:9090/",
        StaticCollector(families),
        interval=30,
        client=client,
        clock=clock,
        metrics=metrics,
        retry=RetryPolicy(max_retries=2, initial_delay=1.0, jitter=Jitter.NONE),
        batch_size=batch_size,
    )
    return exporter, clock, lambda: asyncio.run(client.aclose())


class TestEncoding:
    """The WriteRequest encoder and the mapping from families to series."""

    def test_round_trip_through_protobuf(self) -> None:
        """A series encoded by hand decodes with the protobuf runtime to the same labels and samples."""
        series = TimeSeries((("__name__", "up"), ("job", "api")), ((1.5, EPOCH_MS), (2.0, EPOCH_MS + 1000)))
        assert decode(encode_write_request([series])) == [
            ({"__name__": "up", "job": "api"}, ["__name__", "job"], [(1.5, EPOCH_MS), (2.0, EPOCH_MS + 1000)])
        ]

    def test_special_values_and_large_numbers(self) -> None:
        """NaN, infinities, negative values, negative timestamps and UTF-8 label values survive encoding."""
        series = [
            TimeSeries((("__name__", "a"), ("v", "ünïcode ✓")), ((math.inf, 2**62),)),
            TimeSeries((("__name__", "b"),), ((-math.inf, -1),)),
            TimeSeries((("__name__", "c"),), ((-3.25, 0),)),
            TimeSeries((("__name__", "d"),), ((math.nan, 1),)),
        ]
        decoded = decode(encode_write_request(series))
        assert decoded[0][0]["v"] == "ünïcode ✓"
        assert decoded[0][2] == [(math.inf, 2**62)]
        assert decoded[1][2] == [(-math.inf, -1)]
        assert decoded[2][2] == [(-3.25, 0)]
        assert math.isnan(decoded[3][2][0][0])

    def test_empty_request(self) -> None:
        """No series encode to an empty message, which decodes to no series."""
        assert encode_write_request([]) == b""
        assert decode(b"") == []

    def test_labels_sorted_with_name_included(self) -> None:
        """Every series carries __name__ and its labels sorted by name, upper case before underscore."""
        family = counter("jobs", 7, zone="b", Alpha="1", method="GET")
        [series] = to_timeseries([family], EPOCH_MS)
        names = [name for name, _ in series.labels]
        assert names == ["Alpha", "__name__", "method", "zone"]
        assert dict(series.labels)["__name__"] == "jobs_total"
        assert series.samples == ((7.0, EPOCH_MS),)

    def test_empty_label_values_are_left_out(self) -> None:
        """A label with an empty value is omitted, as remote write requires."""
        [series] = to_timeseries([counter("jobs", 1, queue="", kind="x")], EPOCH_MS)
        assert series.labels == (("__name__", "jobs_total"), ("kind", "x"))

    def test_histogram_as_classic_series(self) -> None:
        """A histogram becomes its _bucket (with le), _sum and _count series."""
        series = to_timeseries([histogram("latency_seconds")], EPOCH_MS)
        got = [(dict(s.labels)["__name__"], dict(s.labels).get("le"), s.samples[0][0]) for s in series]
        assert got == [
            ("latency_seconds_bucket", "0.1", 1.0),
            ("latency_seconds_bucket", "+Inf", 2.0),
            ("latency_seconds_sum", None, 0.75),
            ("latency_seconds_count", None, 2.0),
        ]


class TestExporter:
    """RemoteWriteExporter over a mock transport."""

    def test_request_shape(self) -> None:
        """One POST to /api/v1/write with the 1.0 headers and a snappy-framed WriteRequest stamped in ms."""
        recorder = Recorder()
        exporter, _, close = make_exporter(
            [counter("jobs", 42, job="x"), histogram("latency_seconds")], recorder
        )
        assert asyncio.run(exporter.tick()) == 30.0
        close()
        [request] = recorder.requests
        assert request.method == "POST"
        assert str(request.url) == "http://prom.test:9090/api/v1/write"
        assert request.headers["Content-Encoding"] == "snappy"
        assert request.headers["Content-Type"] == "application/x-protobuf"
        assert request.headers["X-Prometheus-Remote-Write-Version"] == "0.1.0"
        assert request.headers["User-Agent"] == f"sharedconfig/{__version__}"
        decoded = decode_body(request.content)
        assert decoded[0] == ({"__name__": "jobs_total", "job": "x"}, ["__name__", "job"], [(42.0, EPOCH_MS)])
        assert len(decoded) == 5
        assert all(names == sorted(names) and "__name__" in names for _, names, _ in decoded)
        assert {samples[0][1] for _, _, samples in decoded} == {EPOCH_MS}

    def test_batches(self) -> None:
        """Series are split into requests of at most batch_size series."""
        recorder = Recorder()
        families = [counter(f"c{i}", i) for i in range(5)]
        exporter, _, close = make_exporter(families, recorder, batch_size=2)
        asyncio.run(exporter.tick())
        close()
        assert [len(decode_body(r.content)) for r in recorder.requests] == [2, 2, 1]

    def test_retries_server_errors_with_backoff(self) -> None:
        """503 and 429 are retried after growing delays; the third attempt succeeds and nothing is counted."""
        recorder, metrics = Recorder([503, 429]), InMemoryMetricsRecorder()
        exporter, clock, close = make_exporter([counter("jobs", 1)], recorder, metrics=metrics)
        clock.run(exporter.tick())
        close()
        assert len(recorder.requests) == 3
        assert clock.jumps == (1.0, 2.0) and clock.now() == 3.0
        assert metrics.get_metrics(METRICS_EXPORT_FAILURES) == []

    def test_bad_request_is_not_retried_and_is_counted(self) -> None:
        """A 400 is tried once, counted under exporter="remote_write", and tick still returns the interval."""
        recorder, metrics = Recorder([400]), InMemoryMetricsRecorder()
        exporter, _, close = make_exporter([counter("jobs", 1)], recorder, metrics=metrics)
        assert asyncio.run(exporter.tick()) == 30.0
        close()
        assert len(recorder.requests) == 1
        assert metrics.total(METRICS_EXPORT_FAILURES, {"exporter": "remote_write"}) == 1.0

    def test_collector_failure_is_counted_not_raised(self) -> None:
        """A collector that raises makes tick count a failure and return normally."""
        metrics = InMemoryMetricsRecorder()
        exporter = remote_write_exporter(
            "http://prom.test:9090",
            StaticCollector(error=RuntimeError("boom")),
            interval=10,
            metrics=metrics,
        )
        assert asyncio.run(exporter.tick()) == 10.0
        assert metrics.total(METRICS_EXPORT_FAILURES) == 1.0
        assert exporter.delivery.breaker.metrics.calls == 0  # our bug, not the destination's

    def test_flush_sends_once_without_retrying(self) -> None:
        """flush makes a single attempt even when the server fails."""
        recorder = Recorder([500, 500])
        exporter, clock, close = make_exporter([counter("jobs", 1)], recorder)
        clock.run(exporter.flush())
        assert clock.jumps == ()
        close()
        assert len(recorder.requests) == 1

    def test_protocol_and_repr(self) -> None:
        """The exporter satisfies the Exporter protocol, sends extra headers, and its repr names the URL."""
        exporter = remote_write_exporter(
            "http://p:9090", StaticCollector(), interval=5, headers={"X-A": "1", "Content-Type": "text/plain"}
        )
        assert isinstance(exporter, Exporter)
        assert exporter.name == "remote_write"
        assert isinstance(exporter.encoder, RemoteWriteEncoder)
        sender = exporter.delivery.sender
        assert isinstance(sender, HttpSender)
        assert sender.headers == {"X-A": "1", **REMOTE_WRITE_HEADERS}  # the protocol's headers win
        assert repr(exporter) == (
            "PushExporter(name='remote_write', sender=HttpSender(url='http://p:9090/api/v1/write'), "
            "interval=5.0)"
        )

    @pytest.mark.parametrize("kwargs", [{"interval": 0}, {"interval": 5, "batch_size": 0}])
    def test_rejects_bad_arguments(self, kwargs: dict[str, int]) -> None:
        """A non-positive interval or batch size is refused at construction."""
        with pytest.raises(ValueError, match="must be"):
            remote_write_exporter("http://p:9090", StaticCollector(), **kwargs)  # type: ignore[arg-type]


def test_endpoint_credentials_are_never_shown() -> None:
    """user:password@ in the endpoint is kept out of repr and scrubbed from messages."""
    exporter = remote_write_exporter("http://svc:canary-pass@prom:9090", StaticCollector([]), interval=15)
    assert "canary-pass" not in repr(exporter)
    sender = exporter.delivery.sender
    assert isinstance(sender, HttpSender)
    assert sender.shown_url == "http://prom:9090/api/v1/write"
    scrubbed = exporter.delivery.scrub("POST http://svc:canary-pass@prom:9090/api/v1/write")
    assert "canary-pass" not in scrubbed and "svc" not in scrubbed


def test_a_password_httpx_percent_encodes_never_reaches_the_log() -> None:
    """user:pä ss@ in the endpoint: neither the raw nor the percent-encoded password is logged on failure."""
    import io

    import httpx

    from sharedconfig.delivery import Jitter, RetryPolicy
    from sharedconfig.monitoring.logging import make_logger
    from sharedconfig.monitoring.metrics.registry import MetricsRegistry
    from sharedconfig.monitoring.settings import LoggingSettings
    from sharedconfig.testing import FakeClock

    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(500, text=f"upstream said no to {request.url}")

    registry = MetricsRegistry()
    registry.record_counter("jobs_total", 1)
    stream, clock = io.StringIO(), FakeClock()

    async def push() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
            exporter = remote_write_exporter(
                "http://writer:pä ss-canary@prom:9090",
                registry,
                interval=15,
                client=client,
                clock=clock,
                logger=make_logger(LoggingSettings(format="json", level="debug"), stream=stream),
                retry=RetryPolicy(max_retries=1, jitter=Jitter.NONE),
            )
            await exporter.tick()

    clock.run(push())
    assert seen, "the request was sent"
    logged = stream.getvalue()
    assert "delivery failed" in logged
    assert "canary" not in logged and "%C3%A4" not in logged and "p%C3" not in logged


def test_user_info_is_sent_as_basic_auth_never_in_the_request_url(caplog: pytest.LogCaptureFixture) -> None:
    """The request URL has no user info (so httpx's own log line cannot show it), basic auth is still sent,
    and a receiver quoting the Authorization header back gets neither form of the password logged."""
    import base64
    import io
    import logging

    from sharedconfig.monitoring.logging import make_logger
    from sharedconfig.monitoring.metrics.registry import MetricsRegistry
    from sharedconfig.monitoring.settings import LoggingSettings

    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(401, text=f"you sent {request.headers['authorization']}")

    registry = MetricsRegistry()
    registry.record_counter("jobs_total", 1)
    stream, clock = io.StringIO(), FakeClock()

    async def push() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
            exporter = remote_write_exporter(
                "http://writer:pw%40canary-R1@prom:9090",
                registry,
                interval=15,
                client=client,
                clock=clock,
                logger=make_logger(LoggingSettings(format="json"), stream=stream),
                retry=RetryPolicy(max_retries=0, jitter=Jitter.NONE),
            )
            await exporter.tick()

    with caplog.at_level(logging.DEBUG):
        clock.run(push())
    (request,) = seen
    assert str(request.url) == "http://prom:9090/api/v1/write"
    expected = base64.b64encode(b"writer:pw@canary-R1").decode()
    assert request.headers["authorization"] == f"Basic {expected}"
    logged = stream.getvalue() + caplog.text
    assert "delivery failed" in logged and "you sent Basic **********" in logged
    assert "canary" not in logged and expected not in logged
