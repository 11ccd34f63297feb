"""Server spans of the app's requests (part.py ``server_span``): an incoming W3C traceparent continues."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from fastapi import FastAPI
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from tracing_fixtures import by_name, hex_ids, recorded_monitoring

from conftest import ASGIClient
from sharedconfig import tracecontext
from sharedconfig.monitoring import middleware
from sharedconfig.monitoring.hub import Monitoring
from sharedconfig.monitoring.tracing import span
from sharedconfig.monitoring.tracing.part import UNMATCHED
from sharedconfig.server.app import create_app

INCOMING = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def app_of(mon: Monitoring) -> FastAPI:
    app = create_app(mon, manage_monitoring=False)

    @app.get("/orders/{order_id}")
    def order(order_id: int) -> dict[str, Any]:
        with span("orders.load", order=order_id):
            mon.logger.info("loading")
        trace = tracecontext.current()
        return {"trace_id": trace.trace_id if trace else None}

    @app.get("/broken")
    def broken() -> None:
        raise RuntimeError("db down")

    return app


@pytest.fixture
def memory() -> InMemorySpanExporter:
    return InMemorySpanExporter()


def test_the_unmatched_route_is_the_middlewares() -> None:
    """part.py spells the middleware's UNMATCHED itself (no import of the middleware): the same text."""
    assert UNMATCHED == middleware.UNMATCHED


def test_an_incoming_traceparent_continues_the_trace(memory: InMemorySpanExporter) -> None:
    """The server span is a child of the caller's span, named by route; the app's span and log are inside."""
    stream = io.StringIO()
    mon = recorded_monitoring(memory, stream=stream).start()
    try:
        response = ASGIClient(app_of(mon)).get("/orders/42", headers={"traceparent": INCOMING})
    finally:
        mon.stop()
    assert response.json() == {"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736"}
    spans = by_name(memory.get_finished_spans())
    server, inner = spans["GET /orders/{order_id}"], spans["orders.load"]
    assert server.kind is SpanKind.SERVER
    assert hex_ids(server)[0] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert server.parent is not None and f"{server.parent.span_id:016x}" == "00f067aa0ba902b7"
    assert server.parent.is_remote
    assert inner.parent is not None and inner.parent.span_id == server.context.span_id
    attributes = dict(server.attributes or {})
    assert attributes["http.route"] == "/orders/{order_id}"
    assert attributes["http.response.status_code"] == 200
    assert attributes["http.request.method"] == "GET"
    log = next(json.loads(line) for line in stream.getvalue().splitlines() if '"loading"' in line)
    assert log["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert log["span_id"] == hex_ids(inner)[1]


def test_without_traceparent_a_new_trace_and_errors_are_marked(memory: InMemorySpanExporter) -> None:
    """No header: a root server span; an app exception gives error status and the exception event."""
    mon = recorded_monitoring(memory).start()
    try:
        with pytest.raises(RuntimeError):
            ASGIClient(app_of(mon)).get("/broken")
    finally:
        mon.stop()
    (server,) = memory.get_finished_spans()
    assert server.parent is None and server.name == "GET /broken"
    assert server.status.status_code is StatusCode.ERROR
    assert [e.name for e in server.events] == ["exception"]


def test_probes_and_excluded_paths_are_not_traced(memory: InMemorySpanExporter) -> None:
    """/health and /metrics (monitoring.metrics.exclude_paths) get no span."""
    mon = recorded_monitoring(memory).start()
    try:
        client = ASGIClient(app_of(mon))
        assert client.get("/health").status_code in (200, 503)
        assert client.get("/metrics").status_code == 200
    finally:
        mon.stop()
    assert memory.get_finished_spans() == ()


def test_a_stopped_monitoring_traces_no_request(memory: InMemorySpanExporter) -> None:
    """Before start (and after stop) the hook gives a span with no trace: requests are served untraced."""
    mon = recorded_monitoring(memory)
    response = ASGIClient(app_of(mon)).get("/orders/1", headers={"traceparent": INCOMING})
    assert response.json() == {"trace_id": None}
    assert memory.get_finished_spans() == ()


def test_a_wsgi_app_gets_server_spans_without_being_told(memory: InMemorySpanExporter) -> None:
    """middleware.py: ``WSGIMetricsMiddleware`` (Flask, Django) takes the tracing part's span hook by default,
    so an incoming traceparent continues there too."""
    from wsgiref.util import setup_testing_defaults

    seen: list[str | None] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        trace = tracecontext.current()
        seen.append(trace.trace_id if trace else None)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    mon = recorded_monitoring(memory).start()
    try:
        wrapped = middleware.WSGIMetricsMiddleware(app, mon)  # type: ignore[arg-type]
        environ: dict[str, Any] = {"PATH_INFO": "/work", "HTTP_TRACEPARENT": INCOMING}
        setup_testing_defaults(environ)
        body = wrapped(environ, lambda status, headers, exc_info=None: None)
        b"".join(body)
        close = getattr(body, "close", None)
        if close is not None:
            close()
    finally:
        mon.stop()
    (server,) = [s for s in memory.get_finished_spans() if s.kind is SpanKind.SERVER]
    assert hex_ids(server)[0] == INCOMING.split("-")[1] == seen[0]
