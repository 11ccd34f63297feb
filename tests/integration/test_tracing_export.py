"""Spans leave the process over OTLP/HTTP, OTLP/gRPC and Zipkin to in-test receivers, and the trace of a
configuration load is the one its logs and events carry.

The receivers (``otlp_receivers.py``) decode with the protocols' own definitions; every test stops its
``Monitoring`` first, so what arrives was flushed by ``stop()`` (the batch processor's own delay is 5 s).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from integration.otlp_receivers import OtlpGrpcReceiver, OtlpHttpReceiver, ZipkinReceiver
from sharedconfig.config.loader import load
from sharedconfig.monitoring.events.channels.sqlite import EventStore
from sharedconfig.monitoring.hub import Monitoring
from sharedconfig.monitoring.settings import MonitoringSettings
from sharedconfig.monitoring.tracing import span, traced

SERVICE = {
    "service_name": "checkout",
    "service_version": "2.4.1",
    "attributes": {"deployment.environment.name": "ci"},
}


def monitoring(exporter: dict[str, Any], stream: io.StringIO | None = None, **extra: Any) -> Monitoring:
    """A Monitoring tracing everything to ``exporter``; JSON logs to ``stream``."""
    settings = MonitoringSettings.model_validate(
        {
            "logging": {"format": "json", "capture_stdlib": False},
            "health": {"enabled": False},
            "tracing": {**SERVICE, "sample_rate": 1.0, "exporters": [exporter]},
            **extra,
        }
    )
    return Monitoring(settings, stream=stream or io.StringIO())


@pytest.fixture
def otlp_http() -> Iterator[OtlpHttpReceiver]:
    with OtlpHttpReceiver() as receiver:
        yield receiver


@pytest.fixture
def otlp_grpc() -> Iterator[OtlpGrpcReceiver]:
    with OtlpGrpcReceiver() as receiver:
        yield receiver


@pytest.fixture
def zipkin() -> Iterator[ZipkinReceiver]:
    with ZipkinReceiver() as receiver:
        yield receiver


@traced("orders.place", shop="eu")
def place_order(items: int) -> int:
    with span("orders.reserve", items=items):
        return items


def run_and_stop(mon: Monitoring) -> None:
    mon.start()
    try:
        place_order(3)
    finally:
        assert mon.stop(timeout=10) == []


class TestOtlp:
    def test_http_exports_spans_with_the_service_and_resource(self, otlp_http: OtlpHttpReceiver) -> None:
        """exporters.py (``HttpExporter``): two spans, parent and child, with service name, version, resource
        attributes and the span attributes, decoded as protobuf; the secret header arrives."""
        exporter = {"type": "otlp", "endpoint": otlp_http.endpoint, "headers": {"x-api-key": "k-123"}}
        run_and_stop(monitoring(exporter))
        outer, inner = otlp_http.named("orders.place"), otlp_http.named("orders.reserve")
        assert outer.resource["service.name"] == "checkout"
        assert outer.resource["service.version"] == "2.4.1"
        assert outer.resource["deployment.environment.name"] == "ci"
        assert outer.attributes == {"shop": "eu"} and inner.attributes == {"items": 3}
        assert (inner.trace_id, inner.parent_id) == (outer.trace_id, outer.span_id)
        assert outer.parent_id is None
        assert otlp_http.requests[0]["x-api-key"] == "k-123"

    def test_grpc_exports_spans_with_the_service_and_resource(self, otlp_grpc: OtlpGrpcReceiver) -> None:
        """exporters.py (``GrpcExporter``): the same two spans through the OTLP TraceService."""
        exporter = {
            "type": "otlp",
            "protocol": "grpc",
            "endpoint": otlp_grpc.endpoint,
            "headers": {"x-k": "v"},
        }
        run_and_stop(monitoring(exporter))
        outer, inner = otlp_grpc.named("orders.place"), otlp_grpc.named("orders.reserve")
        assert outer.resource["service.name"] == "checkout"
        assert outer.resource["service.version"] == "2.4.1"
        assert outer.attributes == {"shop": "eu"}
        assert (inner.trace_id, inner.parent_id) == (outer.trace_id, outer.span_id)
        assert otlp_grpc.requests[0]["x-k"] == "v"

    def test_an_exception_leaves_an_error_span(self, otlp_http: OtlpHttpReceiver) -> None:
        """tracer.py ``end_span``: error status with the message, an ``exception`` event, ``error.type``."""
        mon = monitoring({"type": "otlp", "endpoint": otlp_http.endpoint}).start()
        with pytest.raises(KeyError), span("lookup"):
            raise KeyError("sku-9")
        mon.stop(timeout=10)
        failed = otlp_http.named("lookup")
        assert failed.error and "sku-9" in failed.status_message
        assert failed.events == ("exception",)
        assert failed.attributes["error.type"] == "KeyError"


class TestZipkin:
    def test_json_v2_spans_with_service_tags_and_parent(self, zipkin: ZipkinReceiver) -> None:
        """zipkin.py ``encode_spans``: localEndpoint.serviceName, string tags, parentId of the child."""
        run_and_stop(monitoring({"type": "zipkin", "endpoint": zipkin.endpoint}))
        outer, inner = zipkin.named("orders.place"), zipkin.named("orders.reserve")
        assert outer.resource == {"service.name": "checkout"}
        assert outer.attributes["shop"] == "eu" and inner.attributes["items"] == "3"
        assert (inner.trace_id, inner.parent_id) == (outer.trace_id, outer.span_id)
        assert "parentId" not in json.dumps(outer.parent_id or "")


class TestConfigLoadTrace:
    """THE DONE-WHEN TEST: loader.py's ``config.load``/``config.validate`` spans, exported over OTLP; the
    config hooks' log line and event emitted inside them carry the same trace id."""

    def test_load_and_validation_spans_share_their_trace_with_a_log_line_and_an_event(
        self, otlp_http: OtlpHttpReceiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """One trace: config.load (root) > config.validate; ``configuration loaded`` in the JSON log and
        the ``config_loaded`` event in the sqlite store have its trace id, the validated event too."""
        monkeypatch.chdir(tmp_path)
        store = tmp_path / "events.sqlite3"
        events = {
            "flush_interval": "1s",
            "journal": {"path": str(tmp_path / "journal")},
            "exporters": [{"type": "sqlite", "path": str(store)}],
        }
        stream = io.StringIO()
        mon = monitoring({"type": "otlp", "endpoint": otlp_http.endpoint}, stream, events=events).start()
        app = tmp_path / "app.yaml"
        app.write_text("monitoring:\n  enabled: true\n")
        load([app], environ={}, env_file=None, hooks=mon.config_hooks)
        assert mon.stop(timeout=10) == []

        loaded = otlp_http.named("config.load")
        validated = otlp_http.named("config.validate")
        assert loaded.parent_id is None
        assert (validated.trace_id, validated.parent_id) == (loaded.trace_id, loaded.span_id)

        logs = [json.loads(line) for line in stream.getvalue().splitlines()]
        line = next(r for r in logs if r["event"] == "configuration loaded")
        assert (line["trace_id"], line["span_id"]) == (loaded.trace_id, loaded.span_id)

        with EventStore(store) as opened:
            kept = {e.type: e for e in opened.query(limit=100).events}
        assert kept["config_loaded"].trace_id == loaded.trace_id
        assert kept["config_loaded"].span_id == loaded.span_id
        assert kept["config_validated"].span_id == validated.span_id
