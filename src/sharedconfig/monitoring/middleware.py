"""Server-side request metrics for ASGI (FastAPI, Starlette) and WSGI (Flask, Django) applications.

Labels use the route template, never the raw path (``unmatched`` if none matched), and the status as class
and code; paths in ``monitoring.metrics.exclude_paths`` (probes, ``/metrics``) are not measured. Tracers use
``span_hook``, whose span's trace context is current while the app serves the request; by default it is the
Monitoring's tracing part's (``tracing.part.server_span_hook``), so with tracing enabled every measured
request is a server span continuing an incoming W3C ``traceparent``.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Protocol

from sharedconfig.monitoring.names import (
    HTTP_SERVER_IN_FLIGHT,
    HTTP_SERVER_REQUEST_DURATION,
    HTTP_SERVER_REQUESTS,
)
from sharedconfig.monitoring.tracing.part import server_span_hook
from sharedconfig.tracecontext import TraceContext, use

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

    from sharedconfig.monitoring.hub import Monitoring

__all__ = [
    "ROUTE_ENVIRON_KEY",
    "UNMATCHED",
    "ASGIMetricsMiddleware",
    "DjangoRouteMiddleware",
    "PathFilter",
    "ServerRequest",
    "ServerSpan",
    "ServerSpanHook",
    "WSGIMetricsMiddleware",
    "asgi_route",
    "wsgi_route",
]

UNMATCHED: Final = "unmatched"
"""The route label of requests that matched no route (404s), instead of their raw path."""

ROUTE_ENVIRON_KEY: Final = "sharedconfig.route"
"""WSGI environ key an application may set to the route template of the request (Django does, below)."""

_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"})
_OTHER_METHOD: Final = "_OTHER"  # as OpenTelemetry's http.request.method: arbitrary methods stay bounded
_STATUS_CLASSES: Final = {1: "1xx", 2: "2xx", 3: "3xx", 4: "4xx", 5: "5xx"}
_STATUS_CODES: Final = {code: str(code) for code in range(100, 600)}  # the label text, made once
_FAILED: Final = ("5xx", "500")  # no response, or the app raised: what Starlette and the servers answer

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class ServerRequest:
    """What a span hook knows when a request starts; ``path`` is for span attributes, never labels."""

    method: str
    path: str
    headers: Mapping[str, str]
    scheme: str = "http"


class ServerSpan(Protocol):
    """A span opened by a ``ServerSpanHook``, finished once when the response is complete."""

    @property
    def trace(self) -> TraceContext | None:
        """The span's trace context: current (``sharedconfig.tracecontext``) while the app runs, or None.

        Logs written and errors raised while serving the request then carry its ``trace_id`` and
        ``span_id``. None leaves the context as it was (a span that is not being traced).
        """
        ...

    def finish(self, route: str, status_code: int | None, error: BaseException | None) -> None:
        """End the span: ``route`` template, response status (None if none was sent), the app's exception."""
        ...


ServerSpanHook = Callable[[ServerRequest], ServerSpan]
"""Opens the server span of a request: the tracer's entry point (None means no tracing, at no cost).

It is called in the request's own context before the app runs (the incoming ``traceparent`` is in
``request.headers``); the middleware makes the span's ``trace`` current for the app, so the span is the
parent of everything the app does, and restores the previous context afterwards.

Not a hook protocol of ``sharedconfig.hooks``: it returns a value (the span), so no-op and fan-out have
no single meaning for it; pass None for no tracing.
"""


def _method(raw: str) -> str:
    return raw if raw in _METHODS else _OTHER_METHOD


def _status(status: int | None, error: BaseException | None) -> tuple[str, str]:
    """The ``status_class`` and ``status_code`` labels: ``("5xx", "500")`` for a failed request.

    A request fails when the app raised (even after its response started) or sent no response at all;
    a status outside 100-599 counts as failed too, so both labels stay bounded.
    """
    if error is not None or status is None:
        return _FAILED
    code = _STATUS_CODES.get(status)
    if code is None:
        return _FAILED
    return _STATUS_CLASSES[status // 100], code


class PathFilter:
    """Which request paths are left unmeasured: exact paths, and prefixes written with a trailing ``*``.

    ``PathFilter(["/metrics", "/internal/*"])("/internal/jobs")`` is True. An exact path is one set lookup;
    prefixes are tried in order after it.
    """

    __slots__ = ("exact", "prefixes")

    def __init__(self, paths: Iterable[str]) -> None:
        paths = tuple(paths)
        self.exact = frozenset(path for path in paths if not path.endswith("*"))
        self.prefixes = tuple(path[:-1] for path in paths if path.endswith("*"))

    def __call__(self, path: str) -> bool:
        """True when ``path`` is excluded."""
        if path in self.exact:
            return True
        return any(path.startswith(prefix) for prefix in self.prefixes)


class _Instruments:
    """The three declared instruments, shared by both middlewares."""

    __slots__ = ("duration", "in_flight", "requests")

    def __init__(self, monitoring: Monitoring) -> None:
        metrics = monitoring.metrics
        self.requests = metrics.counter(
            HTTP_SERVER_REQUESTS,
            "HTTP requests served, by method, route template, status class and status code.",
            ("method", "route", "status_class", "status_code"),
        )
        self.duration = metrics.histogram(
            HTTP_SERVER_REQUEST_DURATION,
            "Time to serve an HTTP request, from the request to the end of the response body.",
            ("method", "route"),
        )
        self.in_flight = metrics.gauge(HTTP_SERVER_IN_FLIGHT, "HTTP requests being served now.", ())

    def record(
        self, method: str, route: str, status: int | None, error: BaseException | None, seconds: float
    ) -> None:
        self.requests.labels(method, route, *_status(status, error)).inc()
        self.duration.labels(method, route).observe(seconds)


def _monitoring(monitoring: Monitoring | None) -> Monitoring:
    if monitoring is not None:
        return monitoring
    from sharedconfig.monitoring.hub import get

    return get()


def _path_filter(monitoring: Monitoring, exclude_paths: Iterable[str] | None) -> PathFilter:
    """``exclude_paths`` when given, else ``monitoring.metrics.exclude_paths`` of its settings."""
    if exclude_paths is None:
        exclude_paths = monitoring.settings.metrics.exclude_paths
    return PathFilter(exclude_paths)


# -- ASGI --------------------------------------------------------------------------------------------------


def asgi_route(scope: Scope, root_path: str = "") -> str:
    """The route template of a routed Starlette/FastAPI request, or ``UNMATCHED``.

    Starlette's router leaves the matched route in ``scope["route"]``; its ``path_format`` drops converter
    types (``{id:int}`` shows as ``{id}``). Requests routed through ``Mount``s get the mount prefixes
    added (``root_path`` is the one the middleware saw, so labels are relative to where it is installed).
    FastAPI's own router leaves ``scope["route"]`` to its routes: its ``APIRoute``s set it, but plain
    Starlette routes and mounted non-router apps added to a FastAPI app do not, and are labelled
    ``unmatched`` (bounded, never the raw path).
    """
    route = scope.get("route")
    if route is None:
        return UNMATCHED
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    if not isinstance(template, str):
        return UNMATCHED
    current = scope.get("root_path", "")
    prefix = current[len(root_path) :] if isinstance(current, str) and current.startswith(root_path) else ""
    own = getattr(route, "path", "")
    if hasattr(route, "routes") and isinstance(own, str) and own and prefix.endswith(own):
        # a Mount that was the final match: its own prefix is already in root_path and in path_format
        prefix = prefix[: -len(own)]
    return prefix + template


def _app_path(scope: Scope) -> str:
    """The request path inside the app the middleware wraps: ``scope["path"]`` without its ``root_path``.

    A mounted app (``Mount("/monitoring", app)``) or one behind ``--root-path`` sees the full path; the
    excluded paths, like the route labels, are the app's own (``/health``, not ``/monitoring/health``).
    """
    path: str = scope.get("path", "")
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        return path[len(root) :] or "/"
    return path


def _asgi_headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", ())}


class ASGIMetricsMiddleware:
    """ASGI middleware recording ``http_server_requests_total``, the duration histogram and in-flight.

    ``app.add_middleware(ASGIMetricsMiddleware, monitoring=m)`` for FastAPI/Starlette, or wrap any ASGI
    app. Without ``monitoring`` it records into ``sharedconfig.monitoring.get()`` as configured when the
    middleware is built. An exception from the app is counted as 5xx (``status_code="500"``) and
    re-raised. Only ``http`` requests are measured (not websocket or lifespan scopes), and not those whose
    path inside the app (without ``root_path``) is excluded (``exclude_paths``, default
    ``monitoring.metrics.exclude_paths``). ``span_hook`` defaults to the tracing part's (None without one).
    """

    def __init__(
        self,
        app: ASGIApp,
        monitoring: Monitoring | None = None,
        *,
        span_hook: ServerSpanHook | None = None,
        exclude_paths: Iterable[str] | None = None,
    ) -> None:
        self.app = app
        monitoring = _monitoring(monitoring)
        self.span_hook = span_hook if span_hook is not None else server_span_hook(monitoring)
        self._instruments = _Instruments(monitoring)
        self._excluded = _path_filter(monitoring, exclude_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one connection; only ``http`` requests to paths not excluded are measured."""
        if scope["type"] != "http" or self._excluded(_app_path(scope)):
            await self.app(scope, receive, send)
            return
        instruments = self._instruments
        method = _method(scope["method"])
        root_path = scope.get("root_path", "")
        status: int | None = None

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        span = None
        trace = None
        if self.span_hook is not None:
            request = ServerRequest(
                scope["method"], scope.get("path", ""), _asgi_headers(scope), scope.get("scheme", "http")
            )
            span = self.span_hook(request)
            trace = span.trace
        error: BaseException | None = None
        instruments.in_flight.inc()
        started = time.perf_counter()
        try:
            if trace is None:
                await self.app(scope, receive, send_status)
            else:
                with use(trace):
                    await self.app(scope, receive, send_status)
        except Exception as exc:
            error = exc
            raise
        finally:
            seconds = time.perf_counter() - started
            instruments.in_flight.dec()
            route = asgi_route(scope, root_path)
            instruments.record(method, route, status, error, seconds)
            if span is not None:
                span.finish(route, status, error)


# -- WSGI --------------------------------------------------------------------------------------------------


def wsgi_route(environ: WSGIEnvironment) -> str | None:
    """The route template of a WSGI request after the app ran, or None when no route matched.

    ``environ["sharedconfig.route"]`` when the app set it (see ``DjangoRouteMiddleware``); else Flask's
    ``request.url_rule.rule``, found through the Werkzeug request Flask keeps in the environ.
    """
    explicit = environ.get(ROUTE_ENVIRON_KEY)
    if isinstance(explicit, str):
        return explicit
    rule = getattr(environ.get("werkzeug.request"), "url_rule", None)
    template = getattr(rule, "rule", None)
    return template if isinstance(template, str) else None


def _wsgi_headers(environ: WSGIEnvironment) -> dict[str, str]:
    headers = {k[5:].replace("_", "-").lower(): str(v) for k, v in environ.items() if k.startswith("HTTP_")}
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            headers[key.replace("_", "-").lower()] = str(environ[key])
    return headers


class _Exchange:
    """One WSGI request in progress: its status and the single place it is recorded."""

    __slots__ = (
        "environ",
        "error",
        "method",
        "middleware",
        "recorded",
        "route",
        "span",
        "started",
        "status",
        "trace",
    )

    def __init__(self, middleware: WSGIMetricsMiddleware, environ: WSGIEnvironment) -> None:
        self.middleware = middleware
        self.environ = environ
        self.method = _method(str(environ.get("REQUEST_METHOD", "")))
        self.status: int | None = None
        self.route: str | None = None
        self.error: BaseException | None = None
        self.recorded = False
        self.span: ServerSpan | None = None
        self.trace: TraceContext | None = None
        self.started = time.perf_counter()

    def finish(self) -> None:
        if self.recorded:
            return
        self.recorded = True
        seconds = time.perf_counter() - self.started
        instruments = self.middleware._instruments
        instruments.in_flight.dec()
        route = self.route or self.middleware.route(self.environ) or UNMATCHED
        instruments.record(self.method, route, self.status, self.error, seconds)
        if self.span is not None:
            self.span.finish(route, self.status, self.error)


class _Body:
    """The app's response iterable, recording the request when the server closes it (PEP 3333)."""

    __slots__ = ("_body", "_exchange")

    def __init__(self, body: Iterable[bytes], exchange: _Exchange) -> None:
        self._body = body
        self._exchange = exchange

    def __iter__(self) -> Iterator[bytes]:
        trace = self._exchange.trace
        try:
            if trace is None:
                yield from self._body
                return
            # the app's code runs at each step of a streamed body: in the trace, but not while we yield,
            # since the server writes the chunk (and may serve others) between steps
            chunks = iter(self._body)
            while True:
                with use(trace):
                    chunk = next(chunks, None)
                if chunk is None:
                    return
                yield chunk
        except Exception as exc:
            self._exchange.error = exc
            raise

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                trace = self._exchange.trace
                if trace is None:
                    close()
                else:
                    with use(trace):
                        close()
        finally:
            self._exchange.finish()


class WSGIMetricsMiddleware:
    """WSGI middleware recording the same metrics as ``ASGIMetricsMiddleware``.

    Flask: ``app.wsgi_app = WSGIMetricsMiddleware(app.wsgi_app, monitoring)``. Django: wrap the WSGI
    application and add ``DjangoRouteMiddleware`` to ``MIDDLEWARE`` so routes are labelled. The request is
    recorded when the server closes the response, so the duration includes sending the body. Requests
    whose ``PATH_INFO`` is excluded (``exclude_paths``, default ``monitoring.metrics.exclude_paths``) go
    straight to the app. ``span_hook`` defaults to the tracing part's, as for ASGI.
    """

    def __init__(
        self,
        app: WSGIApplication,
        monitoring: Monitoring | None = None,
        *,
        span_hook: ServerSpanHook | None = None,
        route: Callable[[WSGIEnvironment], str | None] = wsgi_route,
        exclude_paths: Iterable[str] | None = None,
    ) -> None:
        self.app = app
        self.route = route
        monitoring = _monitoring(monitoring)
        self.span_hook = span_hook if span_hook is not None else server_span_hook(monitoring)
        self._instruments = _Instruments(monitoring)
        self._excluded = _path_filter(monitoring, exclude_paths)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """Serve one request."""
        if self._excluded(str(environ.get("PATH_INFO", ""))):
            return self.app(environ, start_response)
        exchange = _Exchange(self, environ)

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            exchange.status = int(status[:3])
            # read the route now: Flask drops its request from the environ once the response is returned
            exchange.route = self.route(environ)
            return start_response(status, headers, exc_info)

        if self.span_hook is not None:
            request = ServerRequest(
                str(environ.get("REQUEST_METHOD", "")),
                str(environ.get("PATH_INFO", "")),
                _wsgi_headers(environ),
                str(environ.get("wsgi.url_scheme", "http")),
            )
            exchange.span = self.span_hook(request)
            exchange.trace = exchange.span.trace
        self._instruments.in_flight.inc()
        exchange.started = time.perf_counter()
        try:
            if exchange.trace is None:
                body = self.app(environ, capture)
            else:
                with use(exchange.trace):
                    body = self.app(environ, capture)
        except Exception as exc:
            exchange.error = exc
            exchange.finish()
            raise
        return _Body(body, exchange)


class DjangoRouteMiddleware:
    """Django middleware telling ``WSGIMetricsMiddleware`` the matched URL pattern (``/items/<int:id>/``).

    Add ``"sharedconfig.monitoring.middleware.DjangoRouteMiddleware"`` to ``MIDDLEWARE``; Django itself is
    not imported here.
    """

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        """Pass the request on."""
        return self.get_response(request)

    def process_view(self, request: Any, view_func: Any, view_args: Any, view_kwargs: Any) -> None:
        """Store the resolved route pattern in the WSGI environ (Django's ``request.META``)."""
        match = getattr(request, "resolver_match", None)
        route = getattr(match, "route", None)
        if isinstance(route, str):
            request.META[ROUTE_ENVIRON_KEY] = route if route.startswith("/") else f"/{route}"
