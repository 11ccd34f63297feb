"""Tests for the DataDog exporters: the series mapping, count deltas, the v2 API and DogStatsD over UDP.

An in-test HTTP server checks requests the way the real API does; a UDP socket receives DogStatsD lines.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import math
import socket
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import jsonschema
import pytest
from pydantic import SecretStr

from sharedconfig.delivery import DeliveryError, Jitter, RetryPolicy
from sharedconfig.monitoring.metrics.datadog import (
    DATAGRAM_LIMIT,
    CountDeltas,
    DatadogEncoder,
    DogStatsDEncoder,
    Point,
    PointType,
    datadog_exporter,
    datagrams,
    dogstatsd_exporter,
    statsd_line,
    to_points,
)
from sharedconfig.monitoring.metrics.exporters import Exporter
from sharedconfig.monitoring.metrics.model import MetricFamily, MetricType, Sample
from sharedconfig.monitoring.metrics.push import EXPORT_RETRY, PushExporter
from sharedconfig.monitoring.names import METRICS_EXPORT_FAILURES
from sharedconfig.testing import FakeClock, InMemoryMetricsRecorder, RecordingLogger

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
EPOCH_S = 1_767_225_600
CANARY = "canary-dd-api-key-5f0c1e"

# The request body of POST /api/v2/series as DataDog documents it (MetricPayload / MetricSeries).
SERIES_SCHEMA: dict[str, object] = {
    "type": "object",
    "required": ["series"],
    "additionalProperties": False,
    "properties": {
        "series": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["metric", "points"],
                "additionalProperties": False,
                "properties": {
                    "metric": {"type": "string", "minLength": 1},
                    "type": {"enum": [0, 1, 2, 3]},
                    "interval": {"type": "integer"},
                    "unit": {"type": "string"},
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "points": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["timestamp", "value"],
                            "additionalProperties": False,
                            "properties": {"timestamp": {"type": "integer"}, "value": {"type": "number"}},
                        },
                    },
                    "resources": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["name", "type"],
                            "properties": {"name": {"type": "string"}, "type": {"type": "string"}},
                        },
                    },
                },
            },
        }
    },
}


@dataclass
class Received:
    """One request the fake API accepted or refused: headers, the decoded JSON, and our answer."""

    path: str
    headers: dict[str, str]
    body: dict[str, list[dict[str, object]]]
    status: int


@dataclass
class FakeDatadog:
    """A DataDog series API on 127.0.0.1: validates like the real one; ``statuses`` queues failures."""

    url: str
    received: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    retry_after: str | None = None
    echo_key_on_error: bool = False


def _handler(api: FakeDatadog) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, errors = self._check(headers, raw)
            if status == 202 and api.statuses:
                status, errors = api.statuses.pop(0), ["Internal Server Error"]
            if status != 202 and api.echo_key_on_error:
                errors = [f"bad key {headers.get('dd-api-key')}"]
            body: dict[str, list[dict[str, object]]] = {}
            if status == 202:
                body = json.loads(gzip.decompress(raw) if headers.get("content-encoding") == "gzip" else raw)
            api.received.append(Received(self.path, headers, body, status))
            payload = json.dumps({"errors": errors}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            if status == 429 and api.retry_after:
                self.send_header("Retry-After", api.retry_after)
            self.end_headers()
            self.wfile.write(payload)

        def _check(self, headers: dict[str, str], raw: bytes) -> tuple[int, list[str]]:
            if self.path != "/api/v2/series":
                return 404, ["Not found"]
            if not headers.get("dd-api-key"):
                return 403, ["Forbidden"]
            if headers.get("content-type") != "application/json":
                return 415, ["Unsupported Media Type"]
            try:
                text = gzip.decompress(raw) if headers.get("content-encoding") == "gzip" else raw
                jsonschema.validate(json.loads(text), SERIES_SCHEMA)
            except (OSError, ValueError, jsonschema.ValidationError) as exc:
                return 400, [f"Payload is not in the expected format: {type(exc).__name__}"]
            return 202, []

        def log_message(self, format: str, *args: object) -> None:
            """Keep the test output quiet."""

    return Handler


@pytest.fixture
def fake_datadog() -> Iterator[FakeDatadog]:
    """A fake DataDog API in a thread on a free loopback port."""
    api = FakeDatadog("")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(api))
    api.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield api
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def udp() -> Iterator[socket.socket]:
    """A UDP socket on a free loopback port standing in for the DogStatsD agent."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(5)
    yield sock
    sock.close()


class Collector:
    """A collector whose families tests change between pushes."""

    def __init__(self, families: Sequence[MetricFamily] = ()) -> None:
        self.families = list(families)

    def collect(self) -> list[MetricFamily]:
        """The current families."""
        return self.families


def counter(name: str, value: float, **labels: str) -> MetricFamily:
    """A counter family with one series."""
    return MetricFamily(
        name, MetricType.COUNTER, "test", (Sample(f"{name}_total", tuple(sorted(labels.items())), value),)
    )


def gauge(name: str, value: float, **labels: str) -> MetricFamily:
    """A gauge family with one series."""
    return MetricFamily(name, MetricType.GAUGE, "test", (Sample(name, tuple(sorted(labels.items())), value),))


def histogram(name: str, count: float, total: float) -> MetricFamily:
    """A histogram family with one bucket besides +Inf."""
    return MetricFamily(
        name,
        MetricType.HISTOGRAM,
        "test",
        (
            Sample(f"{name}_bucket", (("le", "0.5"),), count),
            Sample(f"{name}_bucket", (("le", "+Inf"),), count),
            Sample(f"{name}_sum", (), total),
            Sample(f"{name}_count", (), count),
        ),
    )


def api_exporter(url: str, collector: Collector, **kwargs: object) -> PushExporter[Point]:
    """A DataDog API exporter with the canary key, a fake clock and retries without jitter."""
    options: dict[str, object] = {
        "tags": {"env": "test", "service": "api"},
        "interval": 10,
        "clock": FakeClock(epoch=EPOCH),
        "retry": RetryPolicy(max_retries=2, initial_delay=1.0, jitter=Jitter.NONE),
        **kwargs,
    }
    return datadog_exporter(SecretStr(CANARY), url, collector, **options)  # type: ignore[arg-type]


def clock_of(exporter: PushExporter[Point]) -> FakeClock:
    """The fake clock an exporter's delivery waits on."""
    clock = exporter.delivery._clock  # the test built it with a FakeClock
    assert isinstance(clock, FakeClock)
    return clock


def push(exporter: PushExporter[Point], times: int = 1) -> list[float]:
    """Run ``times`` ticks, then close the exporter's client or socket, on one loop; the clock's waits."""
    waits: list[float] = []

    async def run() -> None:
        clock = clock_of(exporter)
        for _ in range(times):
            await clock.autojump(exporter.tick())  # a real socket (the fake API, UDP) gets answered meanwhile
            waits.extend(clock.jumps)
        await exporter.aclose()

    asyncio.run(run())
    return waits


class TestMapping:
    """Families to DataDog series, and counts as deltas."""

    def test_kinds_names_and_tags(self) -> None:
        """Counters become x.count, gauges keep their name, histograms send .count and .sum, no buckets."""
        families = [counter("jobs", 3, queue="a"), gauge("depth", 2.5), histogram("latency_seconds", 4, 1.5)]
        points = to_points(families, {"env": "prod"})
        assert points == [
            Point("jobs.count", PointType.COUNT, 3.0, ("env:prod", "queue:a")),
            Point("depth", PointType.GAUGE, 2.5, ("env:prod",)),
            Point("latency_seconds.sum", PointType.COUNT, 1.5, ("env:prod",)),
            Point("latency_seconds.count", PointType.COUNT, 4.0, ("env:prod",)),
        ]

    def test_label_overrides_configured_tag(self) -> None:
        """A metric label replaces a configured tag with the same name."""
        [point] = to_points([gauge("depth", 1, env="canary")], {"env": "prod", "team": "core"})
        assert point.tags == ("env:canary", "team:core")

    def test_non_finite_values_and_odd_names(self) -> None:
        """NaN and infinite values are skipped; characters DataDog does not allow in names become _."""
        points = to_points([gauge("a", math.nan), gauge("b", math.inf), gauge("ns:c", 1)], {})
        assert [p.metric for p in points] == ["ns_c"]

    def test_deltas(self) -> None:
        """First push sends the total, later ones the increase, a lower total the new total; gauges as-is."""
        deltas = CountDeltas()
        first = Point("jobs.count", PointType.COUNT, 10, ())
        assert deltas.delta(first) == 10
        deltas.commit([first])
        assert deltas.delta(Point("jobs.count", PointType.COUNT, 14, ())) == 4
        assert deltas.delta(Point("jobs.count", PointType.COUNT, 3, ())) == 3
        assert deltas.delta(Point("jobs.count", PointType.COUNT, 14, ("x:y",))) == 14
        assert deltas.delta(Point("depth", PointType.GAUGE, 7, ())) == 7

    @pytest.mark.parametrize("encoder", [DatadogEncoder(interval=10, compression=False), DogStatsDEncoder()])
    def test_prime_takes_totals_as_sent(self, encoder: DatadogEncoder | DogStatsDEncoder) -> None:
        """After prime (a process taking pushes over), a count sends only what was added since."""
        encoder.prime([counter("jobs", 10)])
        [batch] = encoder.encode([counter("jobs", 14)])
        assert [encoder._deltas.delta(p) for p in batch.items] == [4]


class TestApiExporter:
    """DatadogExporter against the fake series API."""

    def test_payload_as_documented(self, fake_datadog: FakeDatadog) -> None:
        """One gzip JSON POST with the key header, types 1/3, unix-second points, merged tags and host."""
        collector = Collector([counter("jobs", 5, queue="a"), gauge("depth", 2.5)])
        push(api_exporter(fake_datadog.url, collector, host="web-1"))
        [request] = fake_datadog.received
        assert request.status == 202
        assert request.headers["dd-api-key"] == CANARY
        assert request.headers["content-encoding"] == "gzip"
        assert request.headers["content-type"] == "application/json"
        resources = [{"name": "web-1", "type": "host"}]
        assert request.body == {
            "series": [
                {
                    "metric": "jobs.count",
                    "type": 1,
                    "points": [{"timestamp": EPOCH_S, "value": 5}],
                    "tags": ["env:test", "service:api", "queue:a"],
                    "interval": 10,
                    "resources": resources,
                },
                {
                    "metric": "depth",
                    "type": 3,
                    "points": [{"timestamp": EPOCH_S, "value": 2.5}],
                    "tags": ["env:test", "service:api"],
                    "resources": resources,
                },
            ]
        }

    def test_uncompressed(self, fake_datadog: FakeDatadog) -> None:
        """With compression off the body is plain JSON and there is no Content-Encoding."""
        push(api_exporter(fake_datadog.url, Collector([gauge("depth", 1)]), compression=False))
        [request] = fake_datadog.received
        assert request.status == 202
        assert "content-encoding" not in request.headers
        assert request.body["series"][0]["metric"] == "depth"

    def test_deltas_across_pushes(self, fake_datadog: FakeDatadog) -> None:
        """Two pushes send the total, then only what was added in between; histograms too."""
        collector = Collector([counter("jobs", 5), histogram("lat", 2, 0.5)])
        exporter = api_exporter(fake_datadog.url, collector)

        async def run() -> None:
            await exporter.tick()
            collector.families = [counter("jobs", 12), histogram("lat", 3, 0.75)]
            await exporter.tick()
            await exporter.flush()

        asyncio.run(run())
        values = [
            {s["metric"]: s["points"][0]["value"] for s in r.body["series"]}  # type: ignore[index]
            for r in fake_datadog.received
        ]
        assert values == [
            {"jobs.count": 5, "lat.sum": 0.5, "lat.count": 2},
            {"jobs.count": 7, "lat.sum": 0.25, "lat.count": 1},
            {"jobs.count": 0, "lat.sum": 0, "lat.count": 0},
        ]

    def test_failed_push_is_sent_again(self, fake_datadog: FakeDatadog) -> None:
        """Counts a push could not deliver are included in the next delta."""
        fake_datadog.statuses = [400]
        collector = Collector([counter("jobs", 5)])
        exporter = api_exporter(fake_datadog.url, collector)

        async def run() -> None:
            await exporter.tick()
            collector.families = [counter("jobs", 8)]
            await exporter.tick()
            await exporter.flush()

        asyncio.run(run())
        accepted = [r.body["series"][0]["points"] for r in fake_datadog.received if r.status == 202]
        assert accepted == [[{"timestamp": EPOCH_S, "value": 8}], [{"timestamp": EPOCH_S, "value": 0}]]

    def test_retries_500_and_429(self, fake_datadog: FakeDatadog) -> None:
        """A 500 and a 429 with Retry-After are retried; the wait honours Retry-After; nothing is counted."""
        fake_datadog.statuses, fake_datadog.retry_after = [500, 429], "7"
        metrics = InMemoryMetricsRecorder()
        waits = push(api_exporter(fake_datadog.url, Collector([gauge("depth", 1)]), metrics=metrics))
        assert [r.status for r in fake_datadog.received] == [500, 429, 202]
        assert waits == [1.0, 7.0]
        assert metrics.get_metrics(METRICS_EXPORT_FAILURES) == []

    def test_bad_request_not_retried(self, fake_datadog: FakeDatadog) -> None:
        """A 400 is sent once, counted under exporter="datadog" and logged with the API's answer."""
        fake_datadog.statuses = [400]
        metrics, logger = InMemoryMetricsRecorder(), RecordingLogger()
        push(api_exporter(fake_datadog.url, Collector([gauge("d", 1)]), metrics=metrics, logger=logger))
        assert [r.status for r in fake_datadog.received] == [400]
        assert metrics.total(METRICS_EXPORT_FAILURES, {"exporter": "datadog"}) == 1.0
        [record] = [r for r in logger.records if r.level == "warning"]
        assert "HTTP 400" in str(record.fields["error"])

    def test_batches(self, fake_datadog: FakeDatadog) -> None:
        """Series are split into requests of at most batch_size series."""
        collector = Collector([gauge(f"g{i}", i) for i in range(5)])
        push(api_exporter(fake_datadog.url, collector, batch_size=2))
        assert [len(r.body["series"]) for r in fake_datadog.received] == [2, 2, 1]

    def test_encoder_commits_only_delivered_batches(self) -> None:
        """The encoder sends deltas against what was delivered: an undelivered batch is sent again in full."""
        encoder = DatadogEncoder(interval=10, compression=False, batch_size=1, clock=FakeClock(epoch=EPOCH))
        first, second = encoder.encode([counter("a", 5), counter("b", 7)])
        encoder.delivered(first)
        values = [
            json.loads(b.body)["series"][0]["points"][0]["value"]
            for b in encoder.encode([counter("a", 6), counter("b", 9)])
        ]
        assert values == [1, 9]
        assert second.items[0].metric == "b.count"

    def test_flush_waits_for_a_tick_in_flight(self) -> None:
        """A flush started while a tick's request is pending runs after it, so counts are not sent twice."""
        bodies: list[dict[str, list[dict[str, object]]]] = []
        release = asyncio.Event()

        async def handler(request: httpx.Request) -> httpx.Response:
            bodies.append(json.loads(gzip.decompress(request.content)))
            if len(bodies) == 1:
                await release.wait()
            return httpx.Response(202, json={"errors": []})

        async def run() -> None:
            client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
            exporter = api_exporter("http://dd.test", Collector([counter("jobs", 5)]), client=client)
            tick = asyncio.create_task(exporter.tick())
            while not bodies:
                await asyncio.sleep(0)
            flush = asyncio.create_task(exporter.flush())
            await asyncio.sleep(0)
            assert len(bodies) == 1
            release.set()
            await asyncio.gather(tick, flush)
            await client.aclose()

        asyncio.run(run())
        assert [b["series"][0]["points"][0]["value"] for b in bodies] == [5, 0]  # type: ignore[index]


class TestApiKeySecrecy:
    """The API key never shows in repr, logs or exceptions (canary)."""

    def test_repr(self) -> None:
        """No repr of the exporter or its parts shows the key; the parts holding it show it masked."""
        exporter = api_exporter("https://api.datadoghq.com", Collector())
        parts = [exporter, exporter.encoder, exporter.delivery, exporter.delivery.sender]
        assert all(CANARY not in repr(p) + repr(vars(p)) for p in parts)
        assert "**********" in repr(vars(exporter.delivery)) + repr(vars(exporter.delivery.sender))
        assert isinstance(exporter, Exporter)

    def test_key_echoed_by_server_is_scrubbed(
        self, fake_datadog: FakeDatadog, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Even when an error response quotes the key, logs through the stdlib logger do not contain it."""
        fake_datadog.statuses, fake_datadog.echo_key_on_error = [403], True
        caplog.set_level(logging.DEBUG)
        push(api_exporter(fake_datadog.url, Collector([gauge("d", 1)])))
        assert fake_datadog.received[0].status == 403
        assert "HTTP 403" in caplog.text
        assert CANARY not in caplog.text
        assert all(CANARY not in repr(record.__dict__) for record in caplog.records)

    def test_connection_error(self, caplog: pytest.LogCaptureFixture) -> None:
        """A refused connection is retried, logged and counted without the key anywhere."""
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        caplog.set_level(logging.DEBUG)
        metrics = InMemoryMetricsRecorder()
        waits = push(api_exporter(f"http://127.0.0.1:{port}", Collector([gauge("d", 1)]), metrics=metrics))
        assert waits == [1.0, 2.0]
        assert metrics.total(METRICS_EXPORT_FAILURES) == 1.0
        assert "ConnectError" in caplog.text
        assert CANARY not in caplog.text

    def test_delivery_error_text(self) -> None:
        """A DeliveryError for a refused push carries status and hint but no credential, and is final."""
        error = DeliveryError("datadog: HTTP 403", status=403)
        assert CANARY not in str(error) + repr(error) + json.dumps(error.to_dict())
        assert error.status == 403 and not error.recoverable and not EXPORT_RETRY.retryable(error)


class TestDogStatsD:
    """DogStatsDExporter and its line format, against a UDP socket."""

    def test_line_format(self) -> None:
        """Counts are |c, gauges |g, tags follow |# joined by commas, reserved characters replaced."""
        assert statsd_line(Point("jobs.count", PointType.COUNT, 3, ("env:prod", "q:a")), 3) == (
            "jobs.count:3|c|#env:prod,q:a"
        )
        assert statsd_line(Point("depth", PointType.GAUGE, 2.5, ()), 2.5) == "depth:2.5|g"
        assert statsd_line(Point("d", PointType.GAUGE, 1, ("path:/a,b|c",)), 1) == "d:1|g|#path:/a_b_c"

    def test_datagram_packing(self) -> None:
        """Lines are packed newline-separated up to the limit; an oversized line travels alone."""
        point = Point("x", PointType.GAUGE, 1, ())
        packed = datagrams([("a" * 600, point), ("b" * 600, point), ("c" * 600, point), ("d" * 2000, point)])
        assert [len(data) for data, _ in packed] == [1201, 600, 2000]
        assert [len(points) for _, points in packed] == [2, 1, 1]

    def test_sends_deltas_over_udp(self, udp: socket.socket) -> None:
        """Two ticks send totals then increases to the agent socket, with the configured tags."""
        port = udp.getsockname()[1]
        collector = Collector([counter("jobs", 5, queue="a"), gauge("depth", 2)])
        exporter = dogstatsd_exporter("127.0.0.1", port, collector, tags={"env": "test"}, interval=10)

        async def run() -> None:
            await exporter.tick()
            collector.families = [counter("jobs", 9, queue="a"), gauge("depth", 1)]
            await exporter.tick()
            await exporter.aclose()

        asyncio.run(run())
        first, second = udp.recv(65535).decode(), udp.recv(65535).decode()
        assert first.split("\n") == ["jobs.count:5|c|#env:test,queue:a", "depth:2|g|#env:test"]
        assert second.split("\n") == ["jobs.count:4|c|#env:test,queue:a", "depth:1|g|#env:test"]

    def test_batches_within_limit(self, udp: socket.socket) -> None:
        """Many series arrive in several datagrams, each at most 1432 bytes, none lost."""
        port = udp.getsockname()[1]
        collector = Collector([gauge(f"metric_number_{i}", i, route=f"/v1/items/{i}") for i in range(200)])
        push(dogstatsd_exporter("127.0.0.1", port, collector, interval=10, clock=FakeClock()))
        lines: list[str] = []
        sizes: list[int] = []
        while len(lines) < 200:
            data = udp.recv(65535)
            sizes.append(len(data))
            lines.extend(data.decode().split("\n"))
        assert len(sizes) > 1
        assert max(sizes) <= DATAGRAM_LIMIT
        assert lines[0] == "metric_number_0:0|g|#route:/v1/items/0"
        assert len(lines) == 200

    def test_send_error_is_counted(self) -> None:
        """A socket error (port 0 is refused by the kernel) is retried, counted and never raised."""
        metrics, clock = InMemoryMetricsRecorder(), FakeClock()
        exporter = dogstatsd_exporter(
            "127.0.0.1", 0, Collector([gauge("d", 1)]), interval=10, metrics=metrics, clock=clock
        )

        async def run() -> float | None:
            try:
                return await clock.autojump(exporter.tick())
            finally:
                await exporter.aclose()

        assert asyncio.run(run()) == 10.0
        waits = clock.jumps
        assert len(waits) == 2 and all(0 <= w <= 1.0 for w in waits)  # the default full jitter
        assert metrics.total(METRICS_EXPORT_FAILURES, {"exporter": "dogstatsd"}) == 1.0
        assert isinstance(exporter, Exporter)
        assert repr(exporter) == (
            "PushExporter(name='dogstatsd', sender=UdpSender(host='127.0.0.1', port=0), interval=10.0)"
        )
