"""Spans to Zipkin's v2 JSON API: a pure encoder and a small exporter over httpx.

The OpenTelemetry specification deprecated Zipkin exporters in favour of OTLP, so this stays small: one
POST per batch with a timeout, no retry (the batch is dropped and logged, as the OTLP exporters do once
their own retries end). Our own rather than ``opentelemetry-exporter-zipkin-json``, which would bring
``requests`` for one POST; the client is made per process, so a forked child never uses its parent's pool.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

import httpx
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind, StatusCode

from sharedconfig.redaction import mask_userinfo

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan

    from sharedconfig.interfaces import Logger

__all__ = ["ZipkinExporter", "encode_spans"]

_KINDS: Final = {
    SpanKind.SERVER: "SERVER",
    SpanKind.CLIENT: "CLIENT",
    SpanKind.PRODUCER: "PRODUCER",
    SpanKind.CONSUMER: "CONSUMER",
}  # INTERNAL has no Zipkin kind: the field is left out


def _micros(nanos: int | None) -> int:
    return (nanos or 0) // 1000


def _tag(value: object) -> str:
    # Zipkin tags are strings; sequences as JSON arrays, as OpenTelemetry's Zipkin exporters wrote them
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (tuple, list)):
        return json.dumps([v if isinstance(v, (str, int, float)) else str(v) for v in value])
    return str(value)


def _encode(span: ReadableSpan) -> dict[str, Any]:
    context = span.get_span_context()
    assert context is not None  # an SDK span always has one
    service = span.resource.attributes.get("service.name", "unknown_service")
    out: dict[str, Any] = {
        "traceId": f"{context.trace_id:032x}",
        "id": f"{context.span_id:016x}",
        "name": span.name,
        "timestamp": _micros(span.start_time),
        "duration": max(_micros(span.end_time) - _micros(span.start_time), 1),
        "localEndpoint": {"serviceName": str(service)},
    }
    if span.parent is not None:
        out["parentId"] = f"{span.parent.span_id:016x}"
    kind = _KINDS.get(span.kind)
    if kind is not None:
        out["kind"] = kind
    tags = {key: _tag(value) for key, value in (span.attributes or {}).items()}
    if span.status.status_code is StatusCode.ERROR:
        tags["otel.status_code"] = "ERROR"
        tags["error"] = span.status.description or "true"
    elif span.status.status_code is StatusCode.OK:
        tags["otel.status_code"] = "OK"
    scope = span.instrumentation_scope
    if scope is not None:
        tags["otel.scope.name"] = scope.name
    if tags:
        out["tags"] = tags
    if span.events:
        out["annotations"] = [
            {"timestamp": _micros(event.timestamp), "value": event.name} for event in span.events
        ]
    return out


def encode_spans(spans: Sequence[ReadableSpan]) -> bytes:
    """A JSON v2 array of ``spans`` (what ``POST /api/v2/spans`` takes)."""
    return json.dumps([_encode(span) for span in spans], separators=(",", ":")).encode()


class ZipkinExporter(SpanExporter):
    """Posts each batch to a Zipkin ``/api/v2/spans`` endpoint; a failure drops the batch with a warning."""

    def __init__(self, endpoint: str, *, timeout: float, logger: Logger) -> None:
        self.endpoint = endpoint
        self.timeout = timeout
        self._logger = logger
        self._client: httpx.Client | None = None
        self._pid = os.getpid()
        self._shutdown = False

    def _session(self) -> httpx.Client:
        if self._client is None or self._pid != os.getpid():
            # a child's first export: the parent's pool is left alone (its sockets are the parent's)
            self._client = httpx.Client(timeout=self.timeout)
            self._pid = os.getpid()
        return self._client

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """POST ``spans``; SUCCESS on a 2xx answer."""
        if self._shutdown:
            return SpanExportResult.FAILURE
        body = encode_spans(spans)
        try:
            response = self._session().post(
                self.endpoint, content=body, headers={"Content-Type": "application/json"}
            )
        except httpx.HTTPError as exc:
            self._failed(len(spans), f"{type(exc).__name__}: {exc}")
            return SpanExportResult.FAILURE
        if not response.is_success:
            self._failed(len(spans), f"HTTP {response.status_code}")
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def _failed(self, count: int, reason: str) -> None:
        self._logger.warning(
            "zipkin export failed; spans dropped",
            endpoint=mask_userinfo(self.endpoint),
            spans=count,
            reason=mask_userinfo(reason),
        )

    def shutdown(self) -> None:
        """Close this process's client; later exports fail."""
        self._shutdown = True
        if self._client is not None and self._pid == os.getpid():
            self._client.close()
        self._client = None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Nothing is buffered here."""
        return True
