"""Tests for the shared exporter machinery: backoff, the circuit, delivery, error classes and the factory.

Time is a FakeClock and sleeps only record their delays: no test waits or reads the wall clock.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from datetime import timedelta

import httpx
import pytest

from sharedconfig.monitoring.metrics.datadog import DatadogExporter, DogStatsDExporter
from sharedconfig.monitoring.metrics.exporters import (
    CircuitBreaker,
    CircuitState,
    Collector,
    Delivery,
    Exporter,
    ExportError,
    RetryPolicy,
    build_exporters,
    check_response,
)
from sharedconfig.monitoring.metrics.model import MetricFamily, MetricType, Sample
from sharedconfig.monitoring.metrics.remote_write import RemoteWriteExporter
from sharedconfig.monitoring.names import METRICS_EXPORT_FAILURES
from sharedconfig.runtime import Runtime
from sharedconfig.monitoring.settings import MetricsSettings
from sharedconfig.testing import FakeClock, InMemoryMetricsRecorder, RecordingLogger


class OneGauge:
    """A collector with one gauge."""

    def collect(self) -> list[MetricFamily]:
        """One gauge family."""
        return [MetricFamily("depth", MetricType.GAUGE, "test", (Sample("depth", (), 1.0),))]


def response(status: int, headers: dict[str, str] | None = None, text: str = "") -> httpx.Response:
    """A response to a POST on a test URL."""
    request = httpx.Request("POST", "http://sink.test/write?token=x")
    return httpx.Response(status, headers=headers, text=text, request=request)


class Sleeps:
    """An async sleep that records delays and advances a FakeClock by them."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        """Record and advance."""
        self.delays.append(seconds)
        self.clock.advance(seconds)


def failing(*errors: BaseException) -> tuple[Callable[[], object], list[int]]:
    """A send that raises each error in turn, then succeeds; and the list counting its calls."""
    calls: list[int] = []
    queue = list(errors)

    async def send() -> None:
        calls.append(1)
        if queue:
            raise queue.pop(0)

    return send, calls


def delivery(clock: FakeClock, **kwargs: object) -> tuple[Delivery, Sleeps, InMemoryMetricsRecorder]:
    """A Delivery with deterministic backoff (no jitter), a recording sleep and an in-memory recorder."""
    sleeps, metrics = Sleeps(clock), InMemoryMetricsRecorder()
    options: dict[str, object] = {
        "retry": RetryPolicy(attempts=4, initial=0.5, multiplier=2, max_delay=3, jitter=0),
        "circuit": CircuitBreaker(threshold=2, cooldown=60, max_cooldown=200, clock=clock),
        "metrics": metrics,
        "sleep": sleeps,
        "clock": clock,
        **kwargs,
    }
    return Delivery("sink", **options), sleeps, metrics  # type: ignore[arg-type]


class TestRetryPolicy:
    """Backoff delays."""

    def test_exponential_capped(self) -> None:
        """Without jitter delays double from initial and stop at max_delay."""
        policy = RetryPolicy(attempts=6, initial=0.5, multiplier=2, max_delay=3, jitter=0)
        assert [policy.delay(n) for n in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]

    def test_jitter_shortens_within_bounds(self) -> None:
        """Jitter takes up to its fraction off the delay, as drawn by the injected random source."""
        draws = iter([0.0, 1.0, 0.5])
        policy = RetryPolicy(initial=4, jitter=0.5, random=lambda: next(draws))
        assert [policy.delay(0), policy.delay(0), policy.delay(0)] == [4.0, 2.0, 3.0]

    def test_retry_after_raises_the_delay_up_to_the_cap(self) -> None:
        """A server's Retry-After lengthens the wait but never beyond max_delay."""
        policy = RetryPolicy(initial=1, max_delay=10, jitter=0)
        assert policy.delay(0, retry_after=4) == 4
        assert policy.delay(0, retry_after=600) == 10
        assert policy.delay(3, retry_after=0.1) == 8

    @pytest.mark.parametrize("kwargs", [{"attempts": 0}, {"jitter": 1.5}, {"multiplier": 0.5}])
    def test_rejects_nonsense(self, kwargs: dict[str, float]) -> None:
        """Zero attempts, jitter above 1 and shrinking backoff are refused."""
        with pytest.raises(ValueError, match="must be"):
            RetryPolicy(**kwargs)  # type: ignore[arg-type]


class TestCheckResponse:
    """Which answers are failures, and which of those are worth retrying."""

    def test_success(self) -> None:
        """Any 2xx passes."""
        for status in (200, 202, 204):
            check_response(response(status), "sink")

    @pytest.mark.parametrize(
        ("status", "retryable"), [(400, False), (401, False), (404, False), (413, False)]
    )
    def test_client_errors_are_final(self, status: int, retryable: bool) -> None:
        """4xx other than 429 raise a non-retryable ExportError naming the status, without the query."""
        with pytest.raises(ExportError) as caught:
            check_response(response(status, text="nope"), "sink")
        assert caught.value.status == status
        assert caught.value.recoverable is retryable
        assert caught.value.code == "HTTP_001"
        assert f"HTTP {status} from http://sink.test/write: nope" in str(caught.value)
        assert "token" not in str(caught.value)

    @pytest.mark.parametrize("status", [429, 500, 502, 503])
    def test_throttling_and_server_errors_are_retryable(self, status: int) -> None:
        """429 and 5xx raise a retryable ExportError with Retry-After in seconds."""
        with pytest.raises(ExportError) as caught:
            check_response(response(status, {"Retry-After": "12"}), "sink")
        assert caught.value.recoverable
        assert caught.value.retry_after == 12.0

    def test_retry_after_as_http_date(self) -> None:
        """A Retry-After date is turned into seconds from the clock's wall time."""
        clock = FakeClock()
        later = clock.wall() + timedelta(seconds=30)
        header = later.strftime("%a, %d %b %Y %H:%M:%S GMT")
        with pytest.raises(ExportError) as caught:
            check_response(response(503, {"Retry-After": header}), "sink", clock=clock)
        assert caught.value.retry_after == 30.0

    def test_unparseable_retry_after_is_ignored(self) -> None:
        """A Retry-After that is neither seconds nor a date is treated as absent."""
        with pytest.raises(ExportError) as caught:
            check_response(response(503, {"Retry-After": "soon"}), "sink")
        assert caught.value.retry_after is None


class TestCircuitBreaker:
    """Opening after repeated failures, probing after the cooldown, closing on success."""

    def test_lifecycle(self) -> None:
        """Closed -> open after threshold failures -> half-open after cooldown -> closed on success."""
        clock = FakeClock()
        circuit = CircuitBreaker(threshold=3, cooldown=10, clock=clock)
        assert not circuit.record_failure()
        assert not circuit.record_failure()
        assert circuit.allow()
        assert circuit.record_failure()
        assert circuit.state is CircuitState.OPEN
        assert not circuit.allow()
        assert circuit.remaining() == 10
        clock.advance(10)
        assert circuit.state is CircuitState.HALF_OPEN
        assert circuit.allow()
        circuit.record_success()
        assert circuit.state is CircuitState.CLOSED
        assert circuit.failures == 0
        assert circuit.remaining() == 0

    def test_failed_probe_doubles_cooldown_up_to_max(self) -> None:
        """Each failed probe reopens the circuit for twice as long, capped at max_cooldown."""
        clock = FakeClock()
        circuit = CircuitBreaker(threshold=1, cooldown=10, max_cooldown=25, clock=clock)
        circuit.record_failure()
        cooldowns = []
        for _ in range(3):
            clock.advance(circuit.remaining())
            assert circuit.record_failure()
            cooldowns.append(circuit.remaining())
        assert cooldowns == [20, 25, 25]
        clock.advance(25)
        circuit.record_success()
        circuit.record_failure()
        assert circuit.remaining() == 10

    def test_rejects_zero_threshold(self) -> None:
        """A threshold below one is refused."""
        with pytest.raises(ValueError, match="threshold"):
            CircuitBreaker(threshold=0)


class TestDelivery:
    """Retries, counting, logging and the circuit around one send."""

    def test_retries_until_success(self) -> None:
        """Retryable errors are retried with the backoff sequence; success is not counted."""
        clock = FakeClock()
        deliver, sleeps, metrics = delivery(clock)
        send, calls = failing(
            httpx.ConnectError("refused"),
            ExportError("503", exporter="sink", retryable=True, status=503),
            OSError("unreachable"),
        )
        assert asyncio.run(deliver.deliver(send))  # type: ignore[arg-type]
        assert len(calls) == 4
        assert sleeps.delays == [0.5, 1.0, 2.0]
        assert metrics.get_metrics(METRICS_EXPORT_FAILURES) == []

    def test_gives_up_after_attempts_and_counts_once(self) -> None:
        """When every attempt fails the push is counted once under its exporter label."""
        clock = FakeClock()
        deliver, sleeps, metrics = delivery(clock)
        send, calls = failing(*(httpx.ReadTimeout("slow") for _ in range(9)))
        assert not asyncio.run(deliver.deliver(send))  # type: ignore[arg-type]
        assert len(calls) == 4
        assert sleeps.delays == [0.5, 1.0, 2.0]
        assert metrics.total(METRICS_EXPORT_FAILURES, {"exporter": "sink"}) == 1.0

    def test_no_retry_on_final_errors(self) -> None:
        """A non-retryable ExportError (a 400) and an unexpected exception are tried once."""
        clock = FakeClock()
        deliver, sleeps, metrics = delivery(clock, circuit=CircuitBreaker(threshold=5, clock=clock))
        for error in (ExportError("400", exporter="sink", retryable=False, status=400), KeyError("bug")):
            send, calls = failing(error)
            assert not asyncio.run(deliver.deliver(send))  # type: ignore[arg-type]
            assert len(calls) == 1
        assert sleeps.delays == []
        assert metrics.total(METRICS_EXPORT_FAILURES) == 2.0

    def test_circuit_opens_skips_and_probes(self) -> None:
        """After two failed pushes the circuit opens: pushes are skipped, then one probe closes it."""
        clock = FakeClock()
        logger = RecordingLogger()
        deliver, _, metrics = delivery(clock, logger=logger)
        bad = ExportError("400", exporter="sink", retryable=False, status=400)
        for _ in range(2):
            send, _calls = failing(bad)
            asyncio.run(deliver.deliver(send))  # type: ignore[arg-type]
        assert deliver.circuit.state is CircuitState.OPEN
        assert deliver.next_delay(15) == 60
        assert any("circuit open" in r.message for r in logger.records)
        send, calls = failing()
        assert not asyncio.run(deliver.deliver(send))  # type: ignore[arg-type]
        assert calls == []
        clock.advance(60)
        send, calls = failing(httpx.ConnectError("still down"), httpx.ConnectError("still down"))
        assert not asyncio.run(deliver.deliver(send))  # type: ignore[arg-type]
        assert len(calls) == 1  # a half-open circuit allows a single probe, no retries
        assert deliver.circuit.remaining() == 120
        clock.advance(120)
        send, calls = failing()
        assert asyncio.run(deliver.deliver(send))  # type: ignore[arg-type]
        assert deliver.circuit.state is CircuitState.CLOSED
        assert deliver.next_delay(15) == 15
        assert any(r.message == "metrics export recovered: circuit closed" for r in logger.records)
        assert metrics.total(METRICS_EXPORT_FAILURES) == 3.0

    def test_broken_recorder_does_not_break_delivery(self) -> None:
        """A metrics recorder that raises is logged; the failure is still handled."""

        class Broken(InMemoryMetricsRecorder):
            def record_counter(self, name: str, value: float = 1.0, labels: object = None) -> None:
                raise RuntimeError("recorder down")

        logger = RecordingLogger()
        deliver = Delivery("sink", metrics=Broken(), logger=logger)
        deliver.failed("sink: boom")
        assert [r.level for r in logger.records] == ["error", "warning"]

    def test_single_attempt(self) -> None:
        """single=True (used by flush) makes one attempt even for retryable errors."""
        deliver, sleeps, _ = delivery(FakeClock())
        send, calls = failing(httpx.ConnectError("refused"))
        assert not asyncio.run(deliver.deliver(send, single=True))  # type: ignore[arg-type]
        assert len(calls) == 1
        assert sleeps.delays == []


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
        built = build_exporters(self.settings(), OneGauge(), metrics=InMemoryMetricsRecorder(), host="h")
        assert [type(e) for e in built] == [
            RemoteWriteExporter,
            DatadogExporter,
            DogStatsDExporter,
            DatadogExporter,
        ]
        assert [e.name for e in built] == ["remote_write", "datadog", "dogstatsd", "datadog_2"]
        assert [e.interval for e in built] == [30.0, 20.0, 20.0, 20.0]
        assert all(isinstance(e, Exporter) for e in built)
        remote, api, agent, eu = built
        assert isinstance(remote, RemoteWriteExporter) and remote.url == "http://prom:9090/api/v1/write"
        assert isinstance(api, DatadogExporter) and api.tags == {"env": "prod"} and api.host == "h"
        assert isinstance(agent, DogStatsDExporter) and (agent.host, agent.port) == ("127.0.0.1", 8125)
        assert isinstance(eu, DatadogExporter) and eu.url == "https://api.datadoghq.eu/api/v2/series"

    def test_compression_setting_reaches_datadog(self) -> None:
        """metrics.compression: false turns off gzip for the DataDog API."""
        built = build_exporters(self.settings(compression=False), OneGauge())
        assert [e.compression for e in built if isinstance(e, DatadogExporter)] == [False, False]

    def test_disabled_builds_nothing(self) -> None:
        """With metrics disabled there are no exporters."""
        assert build_exporters(self.settings(enabled=False), OneGauge()) == []


class TestWithRegistry:
    """The real MetricsRegistry is both the collector and the failure counter's recorder."""

    def test_failures_are_counted_in_the_exported_registry(self) -> None:
        """A rejected push shows up as metrics_export_failures_total{exporter} in the next collection."""
        from sharedconfig.monitoring.metrics.registry import MetricsRegistry

        registry = MetricsRegistry()
        registry.record_counter("jobs_total", 3, {"queue": "a"})
        assert isinstance(registry, Collector)
        client = httpx.AsyncClient(transport=httpx.MockTransport(lambda _: httpx.Response(400)))
        exporter = RemoteWriteExporter(
            "http://prom:9090", registry, interval=5, client=client, metrics=registry
        )

        async def run() -> None:
            await exporter.tick()
            await client.aclose()

        asyncio.run(run())
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
        exporter = RemoteWriteExporter("http://prom:9090", OneGauge(), interval=3600, client=client)
        runtime = Runtime("test-runtime-exporters")
        runtime.every(exporter.name, exporter.interval, exporter.tick)
        runtime.on_stop(exporter.flush)
        runtime.start()
        assert first.wait(10)
        runtime.stop()
        assert len(requests) == 2
        assert not [t for t in threading.enumerate() if t.name == "test-runtime-exporters"]
        asyncio.run(client.aclose())
