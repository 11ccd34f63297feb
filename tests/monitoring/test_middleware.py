"""Tests of the ASGI and WSGI request-metrics middleware: route-template labels, status class and code,
5xx on errors, in-flight, excluded paths.

Also the span seam: the span hook's trace context is current while the app serves the request.
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any
from wsgiref.util import setup_testing_defaults

import pytest
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from conftest import ASGIClient as Client
from sharedconfig import tracecontext
from sharedconfig.errors import SharedConfigError
from sharedconfig.monitoring.hub import Monitoring, configure, reset
from sharedconfig.monitoring.logging import make_logger
from sharedconfig.monitoring.middleware import (
    ROUTE_ENVIRON_KEY,
    UNMATCHED,
    ASGIMetricsMiddleware,
    DjangoRouteMiddleware,
    PathFilter,
    ServerRequest,
    WSGIMetricsMiddleware,
)
from sharedconfig.monitoring.settings import LoggingSettings, MetricsSettings, MonitoringSettings
from sharedconfig.tracecontext import TraceContext, parse_traceparent, use

REQUESTS = "http_server_requests_total"
DURATION_COUNT = "http_server_request_duration_seconds_count"
IN_FLIGHT = "http_server_requests_in_flight"
ITEM_RULE = "/items/<int:item_id>"


def sample(monitoring: Monitoring, name: str, **labels: str) -> float | None:
    """The value of the sample ``name`` with exactly ``labels``, or None."""
    return monitoring.metrics.sample_value(name, labels)


def series(monitoring: Monitoring, name: str) -> list[dict[str, str]]:
    """The label sets of every sample called ``name``."""
    return [dict(s.labels) for f in monitoring.metrics.collect() for s in f.samples if s.name == name]


@pytest.fixture
def monitoring() -> Iterator[Monitoring]:
    """A fresh Monitoring, logging into a buffer."""
    m = Monitoring(MonitoringSettings(), stream=io.StringIO())
    yield m
    m.stop()


@dataclass
class RecordingSpan:
    """A span that remembers how it was finished."""

    request: ServerRequest
    trace: TraceContext | None = None
    finished: list[tuple[str, int | None, BaseException | None]] = field(default_factory=list)

    def finish(self, route: str, status_code: int | None, error: BaseException | None) -> None:
        """Remember the outcome."""
        self.finished.append((route, status_code, error))


@dataclass
class RecordingHook:
    """A span hook keeping every span it opened; ``traced`` ones continue the caller's traceparent."""

    traced: bool = False
    spans: list[RecordingSpan] = field(default_factory=list)

    def __call__(self, request: ServerRequest) -> RecordingSpan:
        """Open a recording span, a child of the incoming traceparent (or a new trace) when traced."""
        trace = None
        if self.traced:
            parent = parse_traceparent(request.headers.get("traceparent", ""))
            trace = parent.child() if parent is not None else TraceContext.new()
        span = RecordingSpan(request, trace)
        self.spans.append(span)
        return span


PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def seen_inside() -> dict[str, str | None]:
    """What code serving a request sees of the trace: current ids, a new error's ids, a log line's ids."""
    stream = io.StringIO()
    make_logger(LoggingSettings(format="json"), stream=stream).info("serving")
    line = json.loads(stream.getvalue())
    trace = tracecontext.current()
    error = SharedConfigError("inside")
    return {
        "trace_id": trace.trace_id if trace else None,
        "span_id": trace.span_id if trace else None,
        "error_trace_id": error.trace_id,
        "error_span_id": error.span_id,
        "log_trace_id": line.get("trace_id"),
        "log_span_id": line.get("span_id"),
    }


def expect_ids(seen: dict[str, str | None], trace: TraceContext) -> None:
    """Every id in ``seen`` is the one of ``trace``."""
    assert seen == {
        "trace_id": trace.trace_id,
        "span_id": trace.span_id,
        "error_trace_id": trace.trace_id,
        "error_span_id": trace.span_id,
        "log_trace_id": trace.trace_id,
        "log_span_id": trace.span_id,
    }


def fastapi_app(monitoring: Monitoring, hook: RecordingHook | None = None) -> FastAPI:
    """A small FastAPI app with the middleware: a templated route, a failing one, an in-flight probe."""
    app = FastAPI()
    app.add_middleware(ASGIMetricsMiddleware, monitoring=monitoring, span_hook=hook)

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("boom")

    @app.get("/in-flight")
    async def in_flight() -> dict[str, float | None]:
        return {"value": sample(monitoring, IN_FLIGHT)}

    return app


class TestASGI:
    def test_route_template_not_raw_path(self, monitoring: Monitoring) -> None:
        """Two item ids make one series labelled /items/{item_id}, counted twice."""
        with Client(fastapi_app(monitoring)) as client:
            assert client.get("/items/1").status_code == 200
            assert client.get("/items/2").status_code == 200
        routes = {labels["route"] for labels in series(monitoring, REQUESTS)}
        assert routes == {"/items/{item_id}"}
        assert (
            sample(
                monitoring,
                REQUESTS,
                method="GET",
                route="/items/{item_id}",
                status_class="2xx",
                status_code="200",
            )
            == 2
        )
        assert sample(monitoring, DURATION_COUNT, method="GET", route="/items/{item_id}") == 2

    def test_not_found_is_unmatched(self, monitoring: Monitoring) -> None:
        """A path no route matches is labelled 'unmatched', never with the raw path."""
        with Client(fastapi_app(monitoring)) as client:
            assert client.get("/no/such/path/123").status_code == 404
        assert (
            sample(monitoring, REQUESTS, method="GET", route=UNMATCHED, status_class="4xx", status_code="404")
            == 1
        )
        assert all("123" not in labels["route"] for labels in series(monitoring, REQUESTS))

    def test_client_errors_on_a_route_keep_its_template(self, monitoring: Monitoring) -> None:
        """A 422 from a matched route is 4xx under that route's template."""
        with Client(fastapi_app(monitoring)) as client:
            assert client.get("/items/not-a-number").status_code == 422
        assert (
            sample(
                monitoring,
                REQUESTS,
                method="GET",
                route="/items/{item_id}",
                status_class="4xx",
                status_code="422",
            )
            == 1
        )

    def test_exception_counts_as_5xx_and_is_reraised(self, monitoring: Monitoring) -> None:
        """An exception from the app is re-raised and counted as 5xx; in-flight returns to 0."""
        with Client(fastapi_app(monitoring)) as client, pytest.raises(RuntimeError, match="boom"):
            client.get("/boom")
        assert (
            sample(monitoring, REQUESTS, method="GET", route="/boom", status_class="5xx", status_code="500")
            == 1
        )
        assert sample(monitoring, IN_FLIGHT) == 0

    def test_in_flight_counts_the_current_request(self, monitoring: Monitoring) -> None:
        """Inside a handler the gauge shows 1; after the response it is back to 0."""
        with Client(fastapi_app(monitoring)) as client:
            assert client.get("/in-flight").json() == {"value": 1.0}
        assert sample(monitoring, IN_FLIGHT) == 0

    def test_unknown_methods_fold_into_other(self, monitoring: Monitoring) -> None:
        """A made-up method is labelled _OTHER so clients cannot grow the label set."""
        with Client(fastapi_app(monitoring)) as client:
            assert client.request("BREW", "/items/1").status_code == 405
        other = sample(
            monitoring,
            REQUESTS,
            method="_OTHER",
            route="/items/{item_id}",
            status_class="4xx",
            status_code="405",
        )
        assert other == 1

    def test_starlette_converters_and_mounts(self, monitoring: Monitoring) -> None:
        """Converter types are dropped and mount prefixes kept: /api/users/{user_id}, /static/{path}."""

        async def user(request: Request) -> PlainTextResponse:
            return PlainTextResponse(str(request.path_params["user_id"]))

        async def files(scope: Any, receive: Any, send: Any) -> None:
            await PlainTextResponse("file")(scope, receive, send)

        app = Starlette(
            routes=[
                Mount("/api", routes=[Route("/users/{user_id:int}", user)]),
                Mount("/static", app=files),
            ]
        )
        wrapped = ASGIMetricsMiddleware(app, monitoring)
        with Client(wrapped) as client:
            assert client.get("/api/users/7").text == "7"
            assert client.get("/static/css/site.css").text == "file"
        routes = {labels["route"] for labels in series(monitoring, REQUESTS)}
        assert routes == {"/api/users/{user_id}", "/static/{path}"}

    def test_raw_asgi_exception_before_response(self, monitoring: Monitoring) -> None:
        """Wrapping a bare ASGI app: an exception before any response is 5xx and propagates."""

        async def broken(scope: Any, receive: Any, send: Any) -> None:
            raise ValueError("no response")

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b""}

        async def send(message: Any) -> None:
            raise AssertionError("nothing should be sent")

        middleware = ASGIMetricsMiddleware(broken, monitoring)
        scope = {"type": "http", "method": "GET", "path": "/x", "headers": []}
        with pytest.raises(ValueError, match="no response"):
            asyncio.run(middleware(scope, receive, send))
        assert (
            sample(monitoring, REQUESTS, method="GET", route=UNMATCHED, status_class="5xx", status_code="500")
            == 1
        )

    def test_defaults_to_the_configured_monitoring(self, monitoring: Monitoring) -> None:
        """Without a monitoring argument the middleware records into sharedconfig.monitoring.get()."""
        configure(monitoring, start=False)
        try:
            app = FastAPI()
            app.add_middleware(ASGIMetricsMiddleware)

            @app.get("/ping")
            async def ping() -> str:
                return "pong"

            with Client(app) as client:
                client.get("/ping")
        finally:
            reset()
        assert (
            sample(monitoring, REQUESTS, method="GET", route="/ping", status_class="2xx", status_code="200")
            == 1
        )

    def test_non_http_scopes_pass_through(self, monitoring: Monitoring) -> None:
        """A lifespan scope reaches the app untouched and is not measured."""
        seen: list[str] = []

        async def app(scope: Any, receive: Any, send: Any) -> None:
            seen.append(scope["type"])

        async def receive() -> dict[str, Any]:
            return {"type": "lifespan.startup"}

        async def send(message: Any) -> None:
            pass

        asyncio.run(ASGIMetricsMiddleware(app, monitoring)({"type": "lifespan"}, receive, send))
        assert seen == ["lifespan"]
        assert series(monitoring, REQUESTS) == []

    def test_span_hook_sees_request_and_outcome(self, monitoring: Monitoring) -> None:
        """The span hook gets the raw path and headers, then the route template, status and error."""
        hook = RecordingHook()
        with Client(fastapi_app(monitoring, hook)) as client:
            client.get("/items/5", headers={"traceparent": "00-abc-def-01"})
            with pytest.raises(RuntimeError):
                client.get("/boom")
        ok, failed = hook.spans
        assert ok.request.method == "GET" and ok.request.path == "/items/5"
        assert ok.request.headers["traceparent"] == "00-abc-def-01"
        assert ok.finished == [("/items/{item_id}", 200, None)]
        route, _, error = failed.finished[0]
        assert route == "/boom" and isinstance(error, RuntimeError)

    def test_the_spans_trace_is_current_while_the_app_runs(self, monitoring: Monitoring) -> None:
        """Code inside the request (its logs and errors) sees the span's trace, a child of the traceparent."""
        hook = RecordingHook(traced=True)
        app = FastAPI()
        app.add_middleware(ASGIMetricsMiddleware, monitoring=monitoring, span_hook=hook)

        @app.get("/seen")
        async def seen() -> dict[str, str | None]:
            return seen_inside()

        with Client(app) as client:
            body = client.get("/seen", headers={"traceparent": PARENT}).json()
        (span,) = hook.spans
        assert span.trace is not None and span.trace.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
        assert span.trace.span_id != "00f067aa0ba902b7"
        expect_ids(body, span.trace)

    def test_trace_is_restored_after_the_request_and_none_keeps_it(self, monitoring: Monitoring) -> None:
        """After the request the caller's trace is current again; a span without a trace changes nothing."""
        outer = TraceContext("a" * 32, "b" * 16)
        inside: list[TraceContext | None] = []

        async def app(scope: Any, receive: Any, send: Any) -> None:
            inside.append(tracecontext.current())
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b""}

        async def send(message: Any) -> None:
            pass

        async def serve(hook: RecordingHook) -> TraceContext | None:
            scope = {"type": "http", "method": "GET", "path": "/", "headers": []}
            await ASGIMetricsMiddleware(app, monitoring, span_hook=hook)(scope, receive, send)
            return tracecontext.current()

        with use(outer):
            after_traced = asyncio.run(serve(RecordingHook(traced=True)))
            after_untraced = asyncio.run(serve(RecordingHook()))
        assert inside[0] is not None and inside[0] != outer
        assert after_traced == outer
        assert inside[1] == outer and after_untraced == outer


def environ_for(method: str = "GET", path: str = "/") -> dict[str, Any]:
    """A complete WSGI environ for one request."""
    environ: dict[str, Any] = {"REQUEST_METHOD": method, "PATH_INFO": path}
    setup_testing_defaults(environ)
    return environ


def wsgi_call(app: Any, environ: dict[str, Any]) -> tuple[str, bytes]:
    """Run one request like a WSGI server: call, iterate, close; the status line and body."""
    statuses: list[str] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        statuses.append(status)
        return lambda data: None

    body = app(environ, start_response)
    try:
        data = b"".join(body)
    finally:
        close = getattr(body, "close", None)
        if close is not None:
            close()
    return statuses[-1], data


def flask_like_app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    """A WSGI app routing /items/<id> the way Flask leaves it behind: a Werkzeug request with url_rule."""
    path = environ["PATH_INFO"]
    if path.startswith("/items/"):
        environ["werkzeug.request"] = SimpleNamespace(url_rule=SimpleNamespace(rule="/items/<int:item_id>"))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"item"]
    if path == "/boom":
        raise RuntimeError("boom")
    if path == "/broken-body":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return broken_body()
    environ["werkzeug.request"] = SimpleNamespace(url_rule=None)
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"not found"]


def broken_body() -> Iterator[bytes]:
    """A response body that fails half way."""
    yield b"partial"
    raise OSError("disk gone")


class TestWSGI:
    def test_route_template_from_werkzeug_request(self, monitoring: Monitoring) -> None:
        """Two item ids make one series labelled with the Flask rule."""
        app = WSGIMetricsMiddleware(flask_like_app, monitoring)
        assert wsgi_call(app, environ_for(path="/items/1"))[0] == "200 OK"
        assert wsgi_call(app, environ_for(path="/items/2"))[0] == "200 OK"
        assert series(monitoring, REQUESTS) == [
            {"method": "GET", "route": "/items/<int:item_id>", "status_class": "2xx", "status_code": "200"}
        ]
        assert (
            sample(monitoring, REQUESTS, method="GET", route=ITEM_RULE, status_class="2xx", status_code="200")
            == 2
        )
        assert sample(monitoring, DURATION_COUNT, method="GET", route="/items/<int:item_id>") == 2

    def test_not_found_is_unmatched(self, monitoring: Monitoring) -> None:
        """A 404 without a rule is labelled 'unmatched'."""
        app = WSGIMetricsMiddleware(flask_like_app, monitoring)
        assert wsgi_call(app, environ_for(path="/what/ever"))[0] == "404 Not Found"
        assert series(monitoring, REQUESTS) == [
            {"method": "GET", "route": UNMATCHED, "status_class": "4xx", "status_code": "404"}
        ]

    def test_exception_in_app_is_5xx_and_reraised(self, monitoring: Monitoring) -> None:
        """An exception from the app call is counted as 5xx and propagates; in-flight returns to 0."""
        app = WSGIMetricsMiddleware(flask_like_app, monitoring)
        with pytest.raises(RuntimeError, match="boom"):
            wsgi_call(app, environ_for(path="/boom"))
        assert (
            sample(monitoring, REQUESTS, method="GET", route=UNMATCHED, status_class="5xx", status_code="500")
            == 1
        )
        assert sample(monitoring, IN_FLIGHT) == 0

    def test_exception_while_streaming_is_5xx(self, monitoring: Monitoring) -> None:
        """A body that fails after a 200 status still counts as 5xx, once."""
        app = WSGIMetricsMiddleware(flask_like_app, monitoring)
        with pytest.raises(OSError, match="disk gone"):
            wsgi_call(app, environ_for(path="/broken-body"))
        assert series(monitoring, REQUESTS) == [
            {"method": "GET", "route": UNMATCHED, "status_class": "5xx", "status_code": "500"}
        ]

    def test_recorded_when_the_body_is_closed(self, monitoring: Monitoring) -> None:
        """In flight until the server closes the body (so duration covers sending it), then recorded."""
        app = WSGIMetricsMiddleware(flask_like_app, monitoring)
        body = app(environ_for(path="/items/3"), lambda status, headers, exc_info=None: None)
        assert sample(monitoring, IN_FLIGHT) == 1
        assert series(monitoring, REQUESTS) == []
        assert b"".join(body) == b"item"
        body.close()  # type: ignore[attr-defined]
        body.close()  # type: ignore[attr-defined]
        assert sample(monitoring, IN_FLIGHT) == 0
        assert (
            sample(monitoring, REQUESTS, method="GET", route=ITEM_RULE, status_class="2xx", status_code="200")
            == 1
        )

    def test_django_route_middleware(self, monitoring: Monitoring) -> None:
        """DjangoRouteMiddleware puts the resolved pattern in the environ for the WSGI middleware."""
        environ = environ_for(method="POST", path="/orders/12/")
        request = SimpleNamespace(resolver_match=SimpleNamespace(route="orders/<int:pk>/"), META=environ)

        def django_like(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
            route_middleware = DjangoRouteMiddleware(lambda r: None)
            route_middleware.process_view(request, None, (), {})
            start_response("201 Created", [])
            return [b""]

        wsgi_call(WSGIMetricsMiddleware(django_like, monitoring), environ)
        assert environ[ROUTE_ENVIRON_KEY] == "/orders/<int:pk>/"
        assert series(monitoring, REQUESTS) == [
            {"method": "POST", "route": "/orders/<int:pk>/", "status_class": "2xx", "status_code": "201"}
        ]

    def test_span_hook(self, monitoring: Monitoring) -> None:
        """The WSGI span hook gets method, raw path and headers, then route and status."""
        hook = RecordingHook()
        environ = environ_for(path="/items/9")
        environ["HTTP_TRACEPARENT"] = "00-abc-def-01"
        environ["CONTENT_TYPE"] = "text/plain"
        wsgi_call(WSGIMetricsMiddleware(flask_like_app, monitoring, span_hook=hook), environ)
        (span,) = hook.spans
        assert span.request.path == "/items/9"
        assert span.request.headers["traceparent"] == "00-abc-def-01"
        assert span.request.headers["content-type"] == "text/plain"
        assert span.finished == [("/items/<int:item_id>", 200, None)]

    def test_the_spans_trace_is_current_in_the_app_and_its_body(self, monitoring: Monitoring) -> None:
        """The app and each step of its body generator see the span's trace; the server between steps not."""
        seen: list[dict[str, str | None]] = []
        between: list[TraceContext | None] = []

        def streaming(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
            seen.append(seen_inside())
            start_response("200 OK", [("Content-Type", "text/plain")])

            def body() -> Iterator[bytes]:
                seen.append(seen_inside())
                yield b"one"
                seen.append(seen_inside())
                yield b"two"

            return body()

        hook = RecordingHook(traced=True)
        environ = environ_for(path="/stream")
        environ["HTTP_TRACEPARENT"] = PARENT
        response = WSGIMetricsMiddleware(streaming, monitoring, span_hook=hook)(environ, lambda *a: None)
        for _ in response:
            between.append(tracecontext.current())
        response.close()  # type: ignore[attr-defined]  # the WSGI iterable's close (PEP 3333)
        (span,) = hook.spans
        assert span.trace is not None and span.trace.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
        assert len(seen) == 3
        for ids in seen:
            expect_ids(ids, span.trace)
        assert between == [None, None]
        assert tracecontext.current() is None
        assert span.finished == [("unmatched", 200, None)]


class TestRealFlask:
    def test_flask_routes_are_labelled_by_rule(self, monitoring: Monitoring) -> None:
        """With a real Flask app (which clears its request from the environ afterwards), the rule is used."""
        flask = pytest.importorskip("flask")
        app = flask.Flask("t")

        @app.get("/items/<int:item_id>")
        def item(item_id: int) -> str:
            return f"item {item_id}"

        app.wsgi_app = WSGIMetricsMiddleware(app.wsgi_app, monitoring)  # type: ignore[method-assign]
        client = app.test_client()
        for path, status in (("/items/1", 200), ("/items/2", 200), ("/nowhere", 404)):
            with client.get(path) as response:  # closing the body is what a WSGI server does; it records
                assert response.status_code == status
        assert (
            sample(
                monitoring,
                REQUESTS,
                method="GET",
                route="/items/<int:item_id>",
                status_class="2xx",
                status_code="200",
            )
            == 2
        )
        assert (
            sample(
                monitoring, REQUESTS, method="GET", route="unmatched", status_class="4xx", status_code="404"
            )
            == 1
        )


def test_sample_rate_does_not_change_what_metrics_count() -> None:
    """With monitoring.sample_rate 0.5, 9 requests are 9 in the counter and 9 in the duration _count."""
    from sharedconfig.monitoring.settings import MonitoringSettings

    mon = Monitoring(MonitoringSettings(sample_rate=0.5), stream=io.StringIO())

    async def ok(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    app = ASGIMetricsMiddleware(Starlette(routes=[Route("/ok", ok)]), monitoring=mon)
    with Client(app) as client:
        for _ in range(9):  # odd: a weight-2 sample could never add up to it
            client.get("/ok")
    labels = {"method": "GET", "route": "/ok"}
    ok_labels = {**labels, "status_class": "2xx", "status_code": "200"}
    counted = mon.metrics.sample_value("http_server_requests_total", ok_labels)
    observed = mon.metrics.sample_value("http_server_request_duration_seconds_count", labels)
    assert counted == observed == 9


def probe_app(monitoring: Monitoring) -> Starlette:
    """A Starlette app with probe-like routes, /metrics, an item route and one showing the in-flight gauge."""

    async def ok(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    async def in_flight(request: Request) -> PlainTextResponse:
        return PlainTextResponse(str(sample(monitoring, IN_FLIGHT)))

    paths = ("/metrics", "/health", "/health/live", "/health/ready", "/items", "/internal/jobs")
    return Starlette(routes=[*(Route(path, ok) for path in paths), Route("/internal/in-flight", in_flight)])


def measured_routes(monitoring: Monitoring) -> set[str]:
    """The route labels of every request counted so far."""
    return {labels["route"] for labels in series(monitoring, REQUESTS)}


class TestStatusCode:
    """status_code carries the numeric status beside status_class; a failed request is 500."""

    def test_codes_as_text(self, monitoring: Monitoring) -> None:
        """201 and 304 are counted under their own code and class."""

        async def created(request: Request) -> PlainTextResponse:
            return PlainTextResponse("", status_code=201)

        async def cached(request: Request) -> PlainTextResponse:
            return PlainTextResponse("", status_code=304)

        app = Starlette(routes=[Route("/new", created), Route("/old", cached)])
        with Client(ASGIMetricsMiddleware(app, monitoring)) as client:
            client.get("/new")
            client.get("/old")
        assert (
            sample(monitoring, REQUESTS, method="GET", route="/new", status_class="2xx", status_code="201")
            == 1
        )
        assert (
            sample(monitoring, REQUESTS, method="GET", route="/old", status_class="3xx", status_code="304")
            == 1
        )

    def test_no_response_at_all_is_500(self, monitoring: Monitoring) -> None:
        """An app that returns without sending a response is counted as 5xx / 500, as servers answer it."""

        async def silent(scope: Any, receive: Any, send: Any) -> None:
            return None

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b""}

        async def send(message: Any) -> None:
            return None

        scope = {"type": "http", "method": "GET", "path": "/x", "headers": []}
        asyncio.run(ASGIMetricsMiddleware(silent, monitoring)(scope, receive, send))
        assert series(monitoring, REQUESTS) == [
            {"method": "GET", "route": UNMATCHED, "status_class": "5xx", "status_code": "500"}
        ]


class TestExcludedPaths:
    """Paths in monitoring.metrics.exclude_paths (probes and /metrics by default) are not measured."""

    def test_path_filter(self) -> None:
        """Exact paths match exactly; a trailing * makes a prefix."""
        excluded = PathFilter(["/metrics", "/internal/*"])
        assert [excluded(p) for p in ("/metrics", "/metrics/x", "/internal/jobs", "/internals", "/")] == [
            True,
            False,
            True,
            False,
            False,
        ]

    def test_defaults_leave_probes_and_metrics_unmeasured(self, monitoring: Monitoring) -> None:
        """/metrics and the three health paths count nothing, no duration; /items is measured."""
        with Client(ASGIMetricsMiddleware(probe_app(monitoring), monitoring)) as client:
            for path in ("/metrics", "/health", "/health/live", "/health/ready", "/items"):
                assert client.get(path).text == "ok"
        assert measured_routes(monitoring) == {"/items"}
        assert sample(monitoring, DURATION_COUNT, method="GET", route="/items") == 1
        assert {labels["route"] for labels in series(monitoring, DURATION_COUNT)} == {"/items"}

    def test_prefixes_from_settings(self) -> None:
        """monitoring.metrics.exclude_paths is read when the middleware takes no exclude_paths."""
        settings = MonitoringSettings(metrics=MetricsSettings(exclude_paths=("/internal/*",)))
        mon = Monitoring(settings, stream=io.StringIO())
        with Client(ASGIMetricsMiddleware(probe_app(mon), mon)) as client:
            client.get("/internal/jobs")
            client.get("/health")
        assert measured_routes(mon) == {"/health"}

    def test_an_empty_list_measures_everything(self, monitoring: Monitoring) -> None:
        """exclude_paths=() on the middleware measures /metrics and the probes too."""
        with Client(ASGIMetricsMiddleware(probe_app(monitoring), monitoring, exclude_paths=())) as client:
            client.get("/metrics")
            client.get("/health")
        assert measured_routes(monitoring) == {"/metrics", "/health"}

    def test_excluded_requests_are_not_in_flight(self, monitoring: Monitoring) -> None:
        """While an excluded request is served the in-flight gauge does not count it."""
        middleware = ASGIMetricsMiddleware(probe_app(monitoring), monitoring, exclude_paths=["/internal/*"])
        with Client(middleware) as client:
            assert client.get("/internal/in-flight").text == "0.0"
        assert series(monitoring, REQUESTS) == []

    def test_paths_are_relative_to_the_mount(self, monitoring: Monitoring) -> None:
        """Mounted under /ops, /ops/health is the app's /health: excluded, as its route label would say."""
        inner = ASGIMetricsMiddleware(probe_app(monitoring), monitoring)
        outer = Starlette(routes=[Mount("/ops", app=inner)])
        with Client(outer) as client:
            assert client.get("/ops/health").text == "ok"
            assert client.get("/ops/items").text == "ok"
        assert measured_routes(monitoring) == {"/items"}

    def test_websocket_scopes_are_not_requests(self, monitoring: Monitoring) -> None:
        """A websocket scope passes through without touching in-flight or the request counter."""
        seen: list[float | None] = []

        async def app(scope: Any, receive: Any, send: Any) -> None:
            seen.append(sample(monitoring, IN_FLIGHT))

        async def receive() -> dict[str, Any]:
            return {"type": "websocket.connect"}

        async def send(message: Any) -> None:
            return None

        scope = {"type": "websocket", "path": "/items", "headers": []}
        asyncio.run(ASGIMetricsMiddleware(app, monitoring)(scope, receive, send))
        assert seen in ([None], [0.0])
        assert series(monitoring, REQUESTS) == []

    def test_wsgi_excluded_paths(self, monitoring: Monitoring) -> None:
        """The WSGI middleware leaves PATH_INFO /health unmeasured and measures /items/1."""
        app = WSGIMetricsMiddleware(flask_like_app, monitoring)
        wsgi_call(app, environ_for(path="/health"))
        wsgi_call(app, environ_for(path="/items/1"))
        assert measured_routes(monitoring) == {ITEM_RULE}
        assert sample(monitoring, IN_FLIGHT) == 0
