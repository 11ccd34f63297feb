"""Tests for the exporter composition (push.py) and the factory (exporters.py).

HTTP answers, the push schedule, the breaker's gauge, and the factory from settings; time is a FakeClock.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import httpx
import pytest

from sharedconfig.delivery import (
    CircuitBreakerConfig,
    CircuitState,
    Delivery,
    DeliveryError,
    Jitter,
    RetryPolicy,
)
from sharedconfig.monitoring.metrics.datadog import DatadogEncoder, DogStatsDEncoder, UdpSender
from sharedconfig.monitoring.metrics.exporters import Exporter, build_exporter_entries
from sharedconfig.monitoring.metrics.model import Collector, MetricFamily, MetricType, Sample
from sharedconfig.monitoring.metrics.push import (
    EXPORT_BREAKER,
    EXPORT_RETRY,
    Batch,
    HttpSender,
    PushExporter,
    check_response,
    exporter_delivery,
    parse_retry_after,
)
from sharedconfig.monitoring.metrics.remote_write import RemoteWriteEncoder, remote_write_exporter
from sharedconfig.monitoring.names import CIRCUIT_BREAKER_STATE, METRICS_EXPORT_FAILURES
from sharedconfig.monitoring.settings import MetricsSettings
from sharedconfig.runtime import Runtime
from sharedconfig.testing import FakeClock, InMemoryMetricsRecorder, RecordingLogger


def exporters(*args: Any, **kwargs: Any) -> list[Exporter]:
    """The built exporters without their settings indexes."""
    return [exporter for _, exporter in build_exporter_entries(*args, **kwargs)]


class OneGauge:
    """A collector with one gauge."""

    def collect(self) -> list[MetricFamily]:
        """One gauge family."""
        return [MetricFamily("depth", MetricType.GAUGE, "test", (Sample("depth", (), 1.0),))]


def response(status: int, headers: dict[str, str] | None = None, text: str = "") -> httpx.Response:
    """A response to a POST on a test URL."""
    request = httpx.Request("POST", "http://sink.test/write?token=x")
    return httpx.Response(status, headers=headers, text=text, request=request)


async def send_error(sender: HttpSender) -> DeliveryError:
    """The DeliveryError that sending one batch with ``sender`` raises; fails when the send succeeds."""
    try:
        await sender.send(Batch(b"x"))
    except DeliveryError as exc:
        return exc
    raise AssertionError("no error")  # pragma: no cover


class TestCheckResponse:
    """Which answers are failures; the retry policy decides which of those are retried."""

    def test_success(self) -> None:
        """Any 2xx passes."""
        for status in (200, 202, 204):
            check_response(response(status), "sink")

    @pytest.mark.parametrize("status", [400, 401, 404, 413, 429, 500, 503])
    def test_failures_carry_status_without_the_query(self, status: int) -> None:
        """A non-2xx raises a DeliveryError naming the status and body, never the query string."""
        with pytest.raises(DeliveryError) as caught:
            check_response(response(status, text="nope"), "sink")
        assert caught.value.status == status
        assert caught.value.code == "DELIVERY_001"
        assert f"HTTP {status} from http://sink.test/write: nope" in str(caught.value)
        assert "token" not in str(caught.value)
        assert EXPORT_RETRY.retryable(caught.value) is (status in (429, 500, 503))

    def test_retry_after_in_seconds(self) -> None:
        """A Retry-After in seconds is kept on the error."""
        with pytest.raises(DeliveryError) as caught:
            check_response(response(503, {"Retry-After": "12"}), "sink")
        assert caught.value.retry_after == 12.0

    def test_retry_after_as_http_date(self) -> None:
        """A Retry-After date is turned into seconds from the clock's wall time."""
        clock = FakeClock()
        later = clock.wall() + timedelta(seconds=30)
        header = later.strftime("%a, %d %b %Y %H:%M:%S GMT")
        with pytest.raises(DeliveryError) as caught:
            check_response(response(503, {"Retry-After": header}), "sink", clock=clock)
        assert caught.value.retry_after == 30.0

    def test_unparseable_retry_after_is_ignored(self) -> None:
        """A Retry-After that is neither seconds nor a date is treated as absent; a past date is 0."""
        assert parse_retry_after("soon", FakeClock().wall()) is None
        assert parse_retry_after(None, FakeClock().wall()) is None
        assert parse_retry_after("Thu, 01 Jan 1970 00:00:00 GMT", FakeClock().wall()) == 0.0


class TestHttpSender:
    """Transport failures become DeliveryErrors."""

    def test_transport_errors_are_retryable(self) -> None:
        """A refused connection raises a retryable DeliveryError naming the httpx error."""

        def refuse(request: httpx.Request) -> httpx.Response:
            raise httpx.ConnectError("refused", request=request)

        async def main() -> DeliveryError:
            client = httpx.AsyncClient(transport=httpx.MockTransport(refuse))
            try:
                return await send_error(HttpSender("sink", "http://sink.test/x", headers={}, client=client))
            finally:
                await client.aclose()

        error = asyncio.run(main())
        assert "ConnectError: refused" in error.message
        assert error.retryable is True and isinstance(error.cause, httpx.ConnectError)

    def test_unsupported_scheme_is_final(self) -> None:
        """An endpoint with a scheme httpx cannot speak is not retried."""

        async def main() -> DeliveryError:
            sender = HttpSender("sink", "ftp://sink.test/x", headers={})
            try:
                return await send_error(sender)
            finally:
                await sender.aclose()

        assert asyncio.run(main()).retryable is False


class Recorder:
    """An httpx handler answering with queued statuses (then 204), keeping the requests."""

    def __init__(self, statuses: Sequence[int] = ()) -> None:
        self.statuses = list(statuses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        """Answer with the next queued status."""
        self.requests.append(request)
        return httpx.Response(self.statuses.pop(0) if self.statuses else 204)


def exporter(
    statuses: Sequence[int], clock: FakeClock, **kwargs: object
) -> tuple[PushExporter[object], Recorder, httpx.AsyncClient]:
    """A remote-write exporter on a mock transport (no jitter) and its recorder and client."""
    recorder = Recorder(statuses)
    client = httpx.AsyncClient(transport=httpx.MockTransport(recorder))
    options: dict[str, object] = {
        "interval": 15,
        "client": client,
        "clock": clock,
        "retry": RetryPolicy(max_retries=2, initial_delay=1, jitter=Jitter.NONE),
        **kwargs,
    }
    return remote_write_exporter("http://prom:9090", OneGauge(), **options), recorder, client  # type: ignore[arg-type,return-value]


class TestPushExporter:
    """The composition: ticks, the breaker's effect on the schedule, its gauge, flush."""

    def test_defaults(self) -> None:
        """Exporters retry twice and open after half of at least 5 of the last 10 attempts failed."""
        assert (EXPORT_RETRY.max_retries, EXPORT_RETRY.jitter) == (2, Jitter.FULL)
        assert (EXPORT_BREAKER.sliding_window_size, EXPORT_BREAKER.minimum_number_of_calls) == (10, 5)
        assert EXPORT_BREAKER.permitted_number_of_calls_in_half_open_state == 1

    def test_open_circuit_stretches_the_schedule_and_records_its_state(self) -> None:
        """Failures open the breaker: the state gauge reads 2 and tick waits out the open period."""
        clock, metrics, logger = FakeClock(), InMemoryMetricsRecorder(), RecordingLogger()
        push, recorder, client = exporter([503] * 5, clock, metrics=metrics, logger=logger)
        delay = clock.run(push.tick())
        assert (delay, clock.jumps) == (15.0, (1.0, 2.0))
        delay = clock.run(push.tick())
        assert clock.jumps == (1.0,)
        assert len(recorder.requests) == 5  # the 5th failed attempt opened it: no 6th, no wait for one
        assert delay == 30.0
        labels = {"name": "remote_write", "component": "exporter"}
        assert [(m.value, m.labels) for m in metrics.get_metrics(CIRCUIT_BREAKER_STATE)] == [(2.0, labels)]
        assert metrics.total(METRICS_EXPORT_FAILURES, {"exporter": "remote_write"}) == 2.0
        assert any(r.message == "circuit breaker state changed" for r in logger.records)
        clock.advance(delay)
        delay = clock.run(push.tick())  # the half-open probe succeeds
        assert delay == 15.0
        assert [m.value for m in metrics.get_metrics(CIRCUIT_BREAKER_STATE)] == [2.0, 1.0, 0.0]
        asyncio.run(client.aclose())

    def test_state_changes_reach_a_given_listener(self) -> None:
        """on_state_change hears the exporter's breaker (the hub may log or count it)."""
        clock = FakeClock()
        heard: list[tuple[str, CircuitState, CircuitState]] = []
        push, _, client = exporter(
            [500],
            clock,
            retry=RetryPolicy(max_retries=0),
            breaker=CircuitBreakerConfig(sliding_window_size=1, minimum_number_of_calls=1),
            on_state_change=lambda *c: heard.append(c),
        )
        clock.run(push.tick())
        assert heard == [("remote_write", CircuitState.CLOSED, CircuitState.OPEN)]
        asyncio.run(client.aclose())

    def test_flush_is_one_attempt_then_closes(self) -> None:
        """flush makes a single attempt even when the server fails, then closes the sender."""
        clock = FakeClock()
        push, recorder, client = exporter([500, 500], clock)
        clock.run(push.flush())
        assert len(recorder.requests) == 1
        asyncio.run(client.aclose())

    def test_lock_follows_the_event_loop(self) -> None:
        """After a restart on a new loop a flush beside a tick still waits for it instead of failing."""
        bodies: list[bytes] = []
        gate: list[asyncio.Event] = []

        async def handler(request: httpx.Request) -> httpx.Response:
            bodies.append(request.content)
            if len(bodies) == 1:
                await gate[-1].wait()  # hold the tick's request until the flush is queued behind it
            return httpx.Response(204)

        client = httpx.AsyncClient(transport=httpx.MockTransport(handler))  # a mock holds no loop's sockets
        push = remote_write_exporter("http://prom:9090", OneGauge(), interval=5, client=client)

        async def contend() -> None:
            gate.append(asyncio.Event())
            tick = asyncio.create_task(push.tick())
            while not bodies:
                await asyncio.sleep(0)
            flush = asyncio.create_task(push.flush())
            for _ in range(5):
                await asyncio.sleep(0)
            assert len(bodies) == 1  # the flush waits for the tick
            gate[-1].set()
            await asyncio.gather(tick, flush)

        for _ in range(2):  # two loops, as a stopped and restarted runtime has
            bodies.clear()
            asyncio.run(contend())
            assert len(bodies) == 2
        asyncio.run(client.aclose())

    def test_rejects_bad_arguments(self) -> None:
        """A non-positive interval or batch size is refused at construction."""
        with pytest.raises(ValueError, match="interval"):
            remote_write_exporter("http://p:9090", OneGauge(), interval=0)
        with pytest.raises(ValueError, match="batch_size"):
            remote_write_exporter("http://p:9090", OneGauge(), interval=5, batch_size=0)

    def test_is_an_exporter_with_a_readable_repr(self) -> None:
        """The composition satisfies the Exporter protocol; repr names the sender, not credentials."""
        push = remote_write_exporter("http://u:canary@p:9090", OneGauge(), interval=5)
        assert isinstance(push, Exporter)
        assert repr(push) == (
            "PushExporter(name='remote_write', sender=HttpSender(url='http://p:9090/api/v1/write'), "
            "interval=5.0)"
        )

    def test_custom_encoder_and_sender_compose(self) -> None:
        """Any encoder and sender compose: a batch is committed only after it was delivered."""

        class Encoder:
            def __init__(self) -> None:
                self.delivered_batches: list[Batch[str]] = []

            def encode(self, families: Sequence[MetricFamily]) -> list[Batch[str]]:
                return [Batch(b"a", ("a",)), Batch(b"b", ("b",))]

            def delivered(self, batch: Batch[str]) -> None:
                self.delivered_batches.append(batch)

        class Sender:
            def __init__(self) -> None:
                self.bodies: list[bytes] = []

            async def send(self, payload: Batch[object]) -> None:
                self.bodies.append(payload.body)
                if payload.body == b"b":
                    raise DeliveryError("no", status=400)

        encoder, sender = Encoder(), Sender()
        delivery: Delivery[Batch[str]] = exporter_delivery("custom", sender)
        push = PushExporter(OneGauge(), encoder, delivery, interval=1)
        assert asyncio.run(push.tick()) == 1.0
        assert sender.bodies == [b"a", b"b"]
        assert [b.items for b in encoder.delivered_batches] == [("a",)]


class TestBuildExporters:
    """The factory from MetricsSettings."""

    def settings(self, **overrides: object) -> MetricsSettings:
        """Settings with a scrape-only Prometheus, a pushing Prometheus and a DataDog with an agent."""
        data: dict[str, object] = {
            "collection_interval": "20s",
            "batch_size": 500,
            "exporters": [
                {"type": "prometheus", "endpoint": "http://prom:9090"},
                {"type": "prometheus", "endpoint": "http://prom:9090", "push_interval": "30s"},
                {"type": "datadog", "api_key": "k", "tags": {"env": "prod"}, "statsd_host": "127.0.0.1"},
                {"type": "datadog", "api_key": "k2", "endpoint": "https://api.datadoghq.eu"},
            ],
            **overrides,
        }
        return MetricsSettings.model_validate(data)

    def test_one_exporter_per_destination(self) -> None:
        """Scrape-only Prometheus builds nothing; push and DataDog (plus its agent) build one each."""
        built = exporters(self.settings(), OneGauge(), metrics=InMemoryMetricsRecorder(), host="h")
        assert [e.name for e in built] == ["remote_write", "datadog", "dogstatsd", "datadog_2"]
        assert [e.interval for e in built] == [30.0, 20.0, 20.0, 20.0]
        assert all(isinstance(e, Exporter) and isinstance(e, PushExporter) for e in built)
        remote, api, agent, eu = (e for e in built if isinstance(e, PushExporter))
        assert isinstance(remote.encoder, RemoteWriteEncoder) and remote.encoder.batch_size == 500
        assert isinstance(remote.delivery.sender, HttpSender)
        assert remote.delivery.sender.url == "http://prom:9090/api/v1/write"
        assert isinstance(api.encoder, DatadogEncoder)
        assert (api.encoder.tags, api.encoder.host, api.encoder.batch_size) == ({"env": "prod"}, "h", 500)
        assert isinstance(agent.encoder, DogStatsDEncoder) and agent.encoder.tags == {"env": "prod"}
        assert isinstance(agent.delivery.sender, UdpSender)
        assert (agent.delivery.sender.host, agent.delivery.sender.port) == ("127.0.0.1", 8125)
        assert isinstance(eu.delivery.sender, HttpSender)
        assert eu.delivery.sender.url == "https://api.datadoghq.eu/api/v2/series"

    def test_compression_setting_reaches_datadog(self) -> None:
        """metrics.compression: false turns off gzip for the DataDog API."""
        built = exporters(self.settings(compression=False), OneGauge())
        encoders = [e.encoder for e in built if isinstance(e, PushExporter)]
        assert [c.compression for c in encoders if isinstance(c, DatadogEncoder)] == [False, False]

    def test_policies_are_one_argument_each(self) -> None:
        """A RetryPolicy and a CircuitBreakerConfig given to the factory reach every exporter."""
        retry = RetryPolicy(max_retries=7)
        config = CircuitBreakerConfig(wait_duration_in_open_state=99)
        built = exporters(self.settings(), OneGauge(), retry=retry, breaker=config)
        deliveries = [e.delivery for e in built if isinstance(e, PushExporter)]
        assert len(deliveries) == 4
        assert all(d.retry is retry and d.breaker.config is config for d in deliveries)
        assert {d.breaker.name for d in deliveries} == {"remote_write", "datadog", "dogstatsd", "datadog_2"}

    def test_each_entry_s_retry_and_breaker_blocks_configure_its_delivery(self) -> None:
        """An entry's retry / circuit_breaker settings reach its exporters (DogStatsD takes its datadog
        entry's), forced_open and enabled: false included; other entries keep the defaults."""
        from sharedconfig.delivery import CircuitState

        settings = MetricsSettings.model_validate(
            {
                "exporters": [
                    {
                        "type": "prometheus",
                        "endpoint": "http://prom:9090",
                        "push_interval": "30s",
                        "retry": {"max_retries": 5, "retry_delay": "2s"},
                        "circuit_breaker": {"forced_open": True},
                    },
                    {
                        "type": "datadog",
                        "api_key": "k",
                        "statsd_host": "127.0.0.1",
                        "circuit_breaker": {"enabled": False, "sliding_window_size": 40},
                    },
                    {"type": "datadog", "api_key": "k2"},
                ]
            }
        )
        remote, api, agent, plain = (
            e.delivery for e in exporters(settings, OneGauge()) if isinstance(e, PushExporter)
        )
        assert (remote.retry.max_retries, remote.retry.initial_delay) == (5, 2.0)
        assert remote.breaker.state is CircuitState.FORCED_OPEN
        assert api.breaker.state is agent.breaker.state is CircuitState.DISABLED
        assert api.breaker.config.sliding_window_size == agent.breaker.config.sliding_window_size == 40
        assert plain.breaker.state is CircuitState.CLOSED
        assert plain.retry == EXPORT_RETRY and plain.breaker.config == EXPORT_BREAKER

    def test_disabled_builds_nothing(self) -> None:
        """With metrics disabled there are no exporters."""
        assert exporters(self.settings(enabled=False), OneGauge()) == []


class TestWithRegistry:
    """The real MetricsRegistry is both the collector and the failure counter's recorder."""

    def test_failures_are_counted_in_the_exported_registry(self) -> None:
        """A rejected push shows up as metrics_export_failures_total{exporter} in the next collection."""
        from sharedconfig.monitoring.metrics.registry import MetricsRegistry

        registry = MetricsRegistry()
        registry.record_counter("jobs_total", 3, {"queue": "a"})
        assert isinstance(registry, Collector)
        client = httpx.AsyncClient(transport=httpx.MockTransport(lambda _: httpx.Response(400)))
        push = remote_write_exporter(
            "http://prom:9090", registry, interval=5, client=client, metrics=registry
        )

        async def main() -> None:
            await push.tick()
            await client.aclose()

        asyncio.run(main())
        assert registry.sample_value(METRICS_EXPORT_FAILURES, {"exporter": "remote_write"}) == 1.0


class TestRuntimeWiring:
    """Exporters run as periodic jobs on the monitoring runtime and flush at stop."""

    def test_tick_then_flush_at_stop(self) -> None:
        """The runtime runs tick at start and flush at stop; both reach the server and nothing leaks."""
        requests: list[httpx.Request] = []
        first = threading.Event()

        def handler(request: httpx.Request) -> httpx.Response:
            requests.append(request)
            first.set()
            return httpx.Response(204)

        client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
        push = remote_write_exporter("http://prom:9090", OneGauge(), interval=3600, client=client)
        runtime = Runtime("test-runtime-exporters", clock=FakeClock())
        runtime.every(push.name, push.interval, push.tick)
        runtime.on_stop(push.flush)
        runtime.start()
        assert first.wait(10)
        runtime.stop()
        assert len(requests) == 2
        assert not [t for t in threading.enumerate() if t.name == "test-runtime-exporters"]
        asyncio.run(client.aclose())
