"""In-test trace receivers: OTLP/HTTP (protobuf), OTLP/gRPC (the TraceService) and Zipkin JSON v2.

No collector is installable here, so these stand in for one: each decodes what arrives with the
protocol's own definitions (``opentelemetry-proto``'s messages and gRPC service, Zipkin's JSON model)
and keeps the spans as ``Received`` values. Each listens on a free 127.0.0.1 port, is a context manager
and joins its threads when it stops.
"""

from __future__ import annotations

import gzip
import json
import threading
import time
import zlib
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

TIMEOUT = 10.0
"""Seconds a test waits for spans to arrive."""


@dataclass(frozen=True)
class Received:
    """One span as a receiver decoded it; ids as W3C hex, ``parent_id`` None for a root."""

    name: str
    trace_id: str
    span_id: str
    parent_id: str | None
    attributes: dict[str, Any]
    resource: dict[str, Any]
    kind: str = ""
    error: bool = False
    status_message: str = ""
    events: tuple[str, ...] = ()


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return _attributes(value.kvlist_value.values)
    return getattr(value, kind) if kind else None


def _attributes(pairs: Any) -> dict[str, Any]:
    return {pair.key: _value(pair.value) for pair in pairs if isinstance(pair, KeyValue)}


def decode_otlp(request: trace_service_pb2.ExportTraceServiceRequest) -> list[Received]:
    """The spans of an OTLP ``ExportTraceServiceRequest``."""
    spans = []
    for resource_spans in request.resource_spans:
        resource = _attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                spans.append(
                    Received(
                        name=span.name,
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_id=span.parent_span_id.hex() or None,
                        attributes=_attributes(span.attributes),
                        resource=resource,
                        kind=str(span.kind),
                        error=span.status.code == 2,  # STATUS_CODE_ERROR
                        status_message=span.status.message,
                        events=tuple(event.name for event in span.events),
                    )
                )
    return spans


@dataclass
class _Store:
    spans: list[Received] = field(default_factory=list)
    requests: list[dict[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, spans: list[Received], headers: dict[str, str]) -> None:
        with self.lock:
            self.spans.extend(spans)
            self.requests.append(headers)


class _Receiver:
    """What every receiver offers: the spans so far and a bounded wait for some."""

    def __init__(self) -> None:
        self._store = _Store()
        self.address = ""

    @property
    def spans(self) -> list[Received]:
        """Every span received so far."""
        with self._store.lock:
            return list(self._store.spans)

    @property
    def requests(self) -> list[dict[str, str]]:
        """The headers (HTTP) or metadata (gRPC) of every export request, names lower-cased, and ``peer``:
        the client's address and port, which tells one connection from another."""
        with self._store.lock:
            return list(self._store.requests)

    def wait_for(
        self, predicate: Callable[[list[Received]], bool], timeout: float = TIMEOUT
    ) -> list[Received]:
        """The spans once ``predicate(spans)`` holds; fails after ``timeout`` real seconds."""
        deadline = time.monotonic() + timeout
        while True:
            spans = self.spans
            if predicate(spans):
                return spans
            if time.monotonic() > deadline:
                raise AssertionError(f"spans never matched within {timeout}s; got {[s.name for s in spans]}")
            time.sleep(0.02)

    def named(self, name: str, timeout: float = TIMEOUT) -> Received:
        """The first span called ``name``, waiting for it."""
        spans = self.wait_for(lambda spans: any(s.name == name for s in spans), timeout)
        return next(s for s in spans if s.name == name)


class _HttpReceiver(_Receiver):
    path = "/"

    def __init__(self) -> None:
        super().__init__()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as collectors: a client's pool reuses connections
            timeout = TIMEOUT  # an idle kept-alive connection ends its thread, so the receiver can stop

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                encoding = self.headers.get("Content-Encoding", "")
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding == "deflate":
                    body = zlib.decompress(body)
                if self.path != receiver.path:
                    self.send_response(404)
                    self.end_headers()
                    return
                spans = receiver.decode(body)
                headers = {k.lower(): v for k, v in self.headers.items()}
                receiver._store.add(
                    spans, {**headers, "peer": f"{self.client_address[0]}:{self.client_address[1]}"}
                )
                status, reply, content_type = receiver.reply()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = False  # joined by server_close: nothing outlives the receiver
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="receiver", daemon=True)

    def decode(self, body: bytes) -> list[Received]:
        raise NotImplementedError

    def reply(self) -> tuple[int, bytes, str]:
        raise NotImplementedError

    def __enter__(self) -> _HttpReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(TIMEOUT)


class OtlpHttpReceiver(_HttpReceiver):
    """``POST /v1/traces`` with an ``ExportTraceServiceRequest`` (``application/x-protobuf``)."""

    path = "/v1/traces"

    def __init__(self) -> None:
        super().__init__()
        self.endpoint = f"http://127.0.0.1:{self.port}/v1/traces"

    def decode(self, body: bytes) -> list[Received]:
        request = trace_service_pb2.ExportTraceServiceRequest()
        request.ParseFromString(body)
        return decode_otlp(request)

    def reply(self) -> tuple[int, bytes, str]:
        return (
            200,
            trace_service_pb2.ExportTraceServiceResponse().SerializeToString(),
            "application/x-protobuf",
        )


class ZipkinReceiver(_HttpReceiver):
    """``POST /api/v2/spans`` with a JSON v2 array; spans decoded from Zipkin's model."""

    path = "/api/v2/spans"

    def __init__(self) -> None:
        super().__init__()
        self.endpoint = f"http://127.0.0.1:{self.port}/api/v2/spans"

    def decode(self, body: bytes) -> list[Received]:
        return [
            Received(
                name=span["name"],
                trace_id=span["traceId"],
                span_id=span["id"],
                parent_id=span.get("parentId"),
                attributes=span.get("tags", {}),
                resource={"service.name": span["localEndpoint"]["serviceName"]},
                kind=span.get("kind", ""),
                error="error" in span.get("tags", {}),
                status_message=span.get("tags", {}).get("error", ""),
                events=tuple(a["value"] for a in span.get("annotations", ())),
            )
            for span in json.loads(body)
        ]

    def reply(self) -> tuple[int, bytes, str]:
        return 202, b"", "text/plain"


class OtlpGrpcReceiver(_Receiver):
    """The OTLP ``TraceService`` over gRPC (insecure, on a free port)."""

    def __init__(self) -> None:
        super().__init__()
        store = self._store

        class Service(trace_service_pb2_grpc.TraceServiceServicer):
            def Export(
                self, request: trace_service_pb2.ExportTraceServiceRequest, context: grpc.ServicerContext
            ) -> trace_service_pb2.ExportTraceServiceResponse:
                metadata = {key.lower(): str(value) for key, value in context.invocation_metadata()}
                metadata["peer"] = context.peer()
                store.add(decode_otlp(request), metadata)
                return trace_service_pb2.ExportTraceServiceResponse()

        self._pool = futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="grpc-receiver")
        self._server = grpc.server(self._pool)
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Service(), self._server)
        self.port = self._server.add_insecure_port("127.0.0.1:0")
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> OtlpGrpcReceiver:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop(grace=None).wait(TIMEOUT)
        self._pool.shutdown(wait=True)
