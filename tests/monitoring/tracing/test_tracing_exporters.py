"""Exporters from settings (exporters.py), the fork-safe wrapper, and the Zipkin JSON v2 encoder."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode
from pydantic import TypeAdapter

from sharedconfig.monitoring.settings import TracingSettings
from sharedconfig.monitoring.tracing import exporters
from sharedconfig.monitoring.tracing.exporters import (
    ForkSafe,
    build_span_exporters,
    describe,
    exporter_factory,
)
from sharedconfig.monitoring.tracing.zipkin import encode_spans
from sharedconfig.testing import RecordingLogger

EXPORTERS = TypeAdapter(TracingSettings)


def exporter_settings(**data: Any) -> Any:
    return EXPORTERS.validate_python({"exporters": [data]}).exporters[0]


class TestFromSettings:
    def test_jaeger_sends_otlp_http_to_port_4318_of_its_host(self) -> None:
        """The seed's Thrift endpoint http://jaeger:14268/api/traces becomes http://jaeger:4318/v1/traces."""
        settings = exporter_settings(type="jaeger", endpoint="http://jaeger:14268/api/traces")
        made = exporter_factory(settings, RecordingLogger())()
        assert isinstance(made, HttpExporter)
        assert made._endpoint == "http://jaeger:4318/v1/traces"
        assert describe(settings) == "jaeger (otlp http/protobuf) http://jaeger:4318/v1/traces"

    def test_otlp_grpc_defaults_to_4317(self) -> None:
        """protocol grpc with the schema's (HTTP) default endpoint goes to localhost:4317."""
        made = exporter_factory(exporter_settings(type="otlp", protocol="grpc"), RecordingLogger())()
        assert isinstance(made, GrpcExporter)
        assert made._endpoint == "localhost:4317"
        made.shutdown()

    def test_header_values_are_never_described_or_logged(self) -> None:
        """describe() gives kind and endpoint with credentials masked; the header value is nowhere."""
        settings = exporter_settings(
            type="otlp",
            endpoint="https://user:pw-secret@otel.example/v1/traces",
            headers={"api-key": "hdr-secret"},
        )
        text = describe(settings)
        assert "hdr-secret" not in text and "pw-secret" not in text and "otel.example" in text

    def test_a_missing_package_is_one_warning_and_the_others_still_build(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """build_span_exporters: an ImportError skips that exporter with the extra to install."""
        real = exporters.exporter_factory

        def factory(settings: Any, logger: Any) -> Any:
            if settings.type == "zipkin":
                raise ImportError("No module named 'httpx'")
            return real(settings, logger)

        monkeypatch.setattr(exporters, "exporter_factory", factory)
        logger = RecordingLogger()
        tracing = EXPORTERS.validate_python({"exporters": [{"type": "zipkin"}, {"type": "console"}]})
        built = build_span_exporters(tracing, logger)
        assert [e.name for e in built] == ["console"]
        assert [r.message for r in logger.records] == ["trace exporter unavailable"]


class Counting(SpanExporter):
    made = 0

    def __init__(self) -> None:
        Counting.made += 1
        self.exported = 0

    def export(self, spans: Any) -> SpanExportResult:
        self.exported += len(spans)
        return SpanExportResult.SUCCESS


class TestForkSafe:
    def test_a_child_makes_its_own_exporter(self) -> None:
        """After the at-fork hook (and in another pid), the next export makes a new exporter; the parent's
        is kept unused."""
        Counting.made = 0
        safe = ForkSafe(Counting, "counting")
        parent = safe._exporter
        safe.export([])
        assert Counting.made == 1
        exporters._after_fork_in_child()  # what os.register_at_fork runs in a child
        safe.export([object()])  # type: ignore[list-item]
        assert Counting.made == 2 and safe._exporter is not parent
        assert isinstance(parent, Counting) and parent.exported == 0

    def test_the_same_process_keeps_one_exporter(self) -> None:
        """No fork: every export goes through the exporter made first."""
        Counting.made = 0
        safe = ForkSafe(Counting, "counting")
        for _ in range(3):
            safe.export([])
        assert Counting.made == 1 and safe._pid == os.getpid()


class TestZipkinEncoding:
    def test_a_server_child_span_in_json_v2(self) -> None:
        """encode_spans: hex ids, parentId, kind, µs timestamps, string tags, error tag, annotations."""
        memory = InMemorySpanExporter()
        provider = TracerProvider(resource=Resource.create({"service.name": "shop"}))
        provider.add_span_processor(SimpleSpanProcessor(memory))
        tracer = provider.get_tracer("t")
        with (
            tracer.start_as_current_span("root"),
            tracer.start_as_current_span(
                "GET /x", kind=SpanKind.SERVER, attributes={"n": 2, "ok": True}
            ) as s,
        ):
            s.add_event("retry")
            s.set_status(Status(StatusCode.ERROR, "timeout"))
        child, root = memory.get_finished_spans()
        (encoded,) = json.loads(encode_spans([child]))
        assert encoded["traceId"] == f"{child.context.trace_id:032x}"
        assert encoded["id"] == f"{child.context.span_id:016x}"
        assert encoded["parentId"] == f"{root.context.span_id:016x}"
        assert encoded["kind"] == "SERVER" and encoded["localEndpoint"] == {"serviceName": "shop"}
        assert encoded["tags"]["n"] == "2" and encoded["tags"]["ok"] == "true"
        assert encoded["tags"]["error"] == "timeout"
        assert [a["value"] for a in encoded["annotations"]] == ["retry"]
        assert encoded["timestamp"] == child.start_time // 1000 and encoded["duration"] >= 1
        (encoded_root,) = json.loads(encode_spans([root]))
        assert "parentId" not in encoded_root and "kind" not in encoded_root
        provider.shutdown()
