"""``create_app(monitoring)``: the FastAPI app serving /metrics, /health and the JSON API of one service.

Mount it in your ASGI app or run it with ``sharedconfig serve``; only ``/api/*`` needs a token.
"""

from __future__ import annotations

import gzip
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from types import GenericAlias
from typing import TYPE_CHECKING, Any, get_args, get_origin

from fastapi import FastAPI, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field, SecretStr, create_model
from starlette.routing import Match, Route
from starlette.types import Receive, Send
from starlette.types import Scope as ASGIScope

import sharedconfig
from sharedconfig.interfaces import HealthStatus
from sharedconfig.monitoring.events.channels.sqlite import EventStore
from sharedconfig.monitoring.health import HealthReport, Scope
from sharedconfig.monitoring.health.wire import Memo, encode, wire_fields
from sharedconfig.monitoring.metrics.exposition import generate
from sharedconfig.monitoring.middleware import ASGIMetricsMiddleware
from sharedconfig.server.api import APIErrorCode, api_router, error_response, install_error_handlers
from sharedconfig.server.auth import configured_token
from sharedconfig.server.events import Streams, events_router
from sharedconfig.server.lifespan import monitoring_lifespan

if TYPE_CHECKING:
    from sharedconfig.config.snapshot import Config
    from sharedconfig.monitoring.hub import Monitoring

__all__ = ["CheckBody", "HealthBody", "create_app"]

# below this size compressing /metrics costs more than it saves
_GZIP_MIN_BYTES = 1024
_NO_STORE = {"Cache-Control": "no-store"}


def _body_type(hint: object, models: Mapping[object, type[BaseModel]]) -> object:
    """``hint`` with the health dataclasses in it replaced by their body models (mappings become dicts)."""
    if hint in models:
        return models[hint]
    if get_origin(hint) in (Mapping, dict):
        key, value = get_args(hint)
        return GenericAlias(dict, (key, _body_type(value, models)))
    return hint


def _body_model(cls: type, name: str, doc: str, models: Mapping[object, type[BaseModel]]) -> type[BaseModel]:
    """A pydantic model of the JSON form of the dataclass ``cls`` (``wire_fields``), for OpenAPI."""
    definitions: dict[str, Any] = {
        w.key: (_body_type(w.hint, models), Field(description=w.description or None))
        for w in wire_fields(cls)
    }
    return create_model(name, __doc__=doc, __module__=__name__, **definitions)


# Derived from the dataclasses, never written out: a field added to CheckResult, HealthStatus or
# HealthReport shows in the body (``HealthReport.to_dict``) and in these schemas at once.
CheckBody = _body_model(
    HealthStatus,
    "CheckBody",
    "One check in a health body: its name, its last result's fields and how it counts.",
    {},
)
HealthBody = _body_model(
    HealthReport,
    "HealthBody",
    "The body of /health, /health/live and /health/ready.",
    {HealthStatus: CheckBody},
)

_HEALTH_ROUTES: tuple[tuple[str, Scope, str, str], ...] = (
    ("/health", "all", "Aggregate health", "Every check's last result and the aggregate."),
    ("/health/live", "live", "Liveness", "Is the process itself working; never looks at dependencies."),
    ("/health/ready", "ready", "Readiness", "Can the service take traffic: the critical checks only."),
)


def _health_operation(scope: Scope, summary: str, description: str) -> dict[str, Any]:
    body = {"application/json": {"schema": {"$ref": "#/components/schemas/HealthBody"}}}
    return {
        "get": {
            "tags": ["health"],
            "summary": summary,
            "description": f"{description} Results come from the cache; no check runs for the request.",
            "operationId": f"health_{scope}",
            "responses": {
                "200": {"description": "Healthy or degraded.", "content": body},
                "503": {
                    "description": "Unhealthy (for ready: a critical check has no result yet).",
                    "content": body,
                },
            },
        }
    }


class _LabelledRoute(Route):
    """A plain Starlette route that puts itself in ``scope["route"]``, as FastAPI's own routes do.

    FastAPI's router leaves ``scope["route"]`` to the route; without this the request metrics would label
    these requests ``unmatched``.
    """

    def matches(self, scope: MutableMapping[str, Any]) -> tuple[Match, MutableMapping[str, Any]]:
        """Starlette's match, with the route added to the child scope."""
        match, child_scope = super().matches(scope)
        if match is not Match.NONE:
            child_scope = {**child_scope, "route": self}
        return match, child_scope


_Probe = Callable[[], tuple[int, bytes]]
"""A health probe's answer: the status code and the JSON body."""
_JSON_TYPE = (b"content-type", b"application/json")


class _ProbeFront:
    """Answers ``GET``/``HEAD`` of the health routes ahead of FastAPI's middleware stack and router.

    Probes and load balancers hit these routes constantly; FastAPI's telemetry switch, Starlette's error and
    exception middlewares, FastAPI's exit stack and the router cost more than the body itself (a bare FastAPI
    route serves a third of the requests per second a plain ASGI app does on bench/health_load.sh). The
    request is measured by the same ``ASGIMetricsMiddleware`` instruments, with the route in
    ``scope["route"]``; ``takes`` leaves everything else (other methods, a ``root_path``, every other path)
    to FastAPI.
    """

    def __init__(self, probes: Mapping[str, tuple[Route, _Probe]], monitoring: Monitoring) -> None:
        self.probes = probes
        self._measured = ASGIMetricsMiddleware(self._serve, monitoring=monitoring)

    def takes(self, scope: ASGIScope) -> bool:
        """Whether ``scope`` is a probe this front answers."""
        return (
            scope["type"] == "http"
            and scope["path"] in self.probes
            and scope["method"] in ("GET", "HEAD")
            and not scope.get("root_path")
        )

    async def __call__(self, scope: ASGIScope, receive: Receive, send: Send) -> None:
        await self._measured(scope, receive, send)

    async def _serve(self, scope: ASGIScope, receive: Receive, send: Send) -> None:
        route, respond = self.probes[scope["path"]]
        scope["route"] = route
        try:
            status, body = respond()
        except Exception:
            # as Starlette's ServerErrorMiddleware does: the coded 500 body, then the error for the server log
            await error_response(
                500, APIErrorCode.INTERNAL_ERROR, "internal server error", "the server log has the details"
            )(scope, receive, send)
            raise
        # the headers Response(body, status, headers=_NO_STORE, media_type=JSON) sends, built directly
        headers = [(b"cache-control", b"no-store"), (b"content-length", b"%d" % len(body)), _JSON_TYPE]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class _App(FastAPI):
    """FastAPI whose OpenAPI also documents the health routes, which are plain Starlette routes.

    With ``probe_front`` set (``create_app`` does), the health probes are answered by it first.
    ``close_streams()`` ends the open event streams (servers call it as they shut down).
    """

    probe_front: _ProbeFront | None = None
    event_streams: Streams | None = None

    def close_streams(self) -> None:
        """End every open ``/api/v1/events/stream`` response, so a graceful shutdown need not wait for
        clients that never leave (``BackgroundServer.stop`` calls it); later streams end at once."""
        if self.event_streams is not None:
            self.event_streams.close()

    async def __call__(self, scope: ASGIScope, receive: Receive, send: Send) -> None:
        """The probe front for the probes it takes, FastAPI for everything else."""
        front = self.probe_front
        if front is not None and not self.root_path and front.takes(scope):
            scope["app"] = self
            await front(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)

    def openapi(self) -> dict[str, Any]:
        """The generated schema plus the three health paths and the ``HealthBody`` schema."""
        schema = super().openapi()
        paths = schema.setdefault("paths", {})
        if "/health" not in paths:
            schemas = schema.setdefault("components", {}).setdefault("schemas", {})
            health = HealthBody.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas.update(health.pop("$defs", {}))
            schemas["HealthBody"] = health
            for path, scope, summary, description in _HEALTH_ROUTES:
                paths[path] = _health_operation(scope, summary, description)
        return schema


def create_app(
    monitoring: Monitoring,
    config: Config | None = None,
    *,
    api_token: SecretStr | str | None = None,
    title: str = "sharedconfig",
    manage_monitoring: bool = True,
    event_store: EventStore | None = None,
) -> FastAPI:
    """Build the app serving ``monitoring``.

    ``config`` is what ``/api/v1/config`` shows (default: ``monitoring.config``). ``/api/v1/events`` and
    its stream read ``event_store`` when given, else the store of ``monitoring``'s first sqlite channel
    (``monitoring.events.store``); without either they answer 404 ``events_not_stored``. The API token is
    ``api_token`` when given, else ``$SHAREDCONFIG_API_TOKEN``, else ``monitoring.settings.server.api_token``;
    without one ``/api/*`` answers 401 explaining how to set it. Request metrics of the app itself are
    recorded by ``ASGIMetricsMiddleware`` into ``monitoring.metrics``; with tracing enabled each request
    (probes aside) gets a server span continuing the request's W3C ``traceparent``. With
    ``manage_monitoring`` the app's lifespan starts ``monitoring`` and stops it at shutdown
    (``monitoring_lifespan``); a server runs that lifespan for the app it serves, never for a mounted one
    (give the outer app that lifespan).
    """
    if api_token is not None:
        token = configured_token(api_token, explicit=True)
    else:
        token = configured_token(monitoring.settings.server.api_token)
    app = _App(
        title=title,
        version=sharedconfig.__version__,
        description="Metrics, health and configuration of a service using sharedconfig.",
        docs_url="/docs",
        redoc_url=None,
        lifespan=monitoring_lifespan(monitoring) if manage_monitoring else None,
    )
    install_error_handlers(app)
    # tracing enabled: the middleware opens a server span per request (the tracing part's span hook)
    app.add_middleware(ASGIMetricsMiddleware, monitoring=monitoring)
    health = monitoring.health
    exposition = monitoring.exposition

    @app.get(
        "/metrics",
        tags=["metrics"],
        summary="Prometheus metrics",
        response_class=Response,
        responses={
            200: {
                "description": "Prometheus text 0.0.4 or OpenMetrics 1.0, negotiated by the Accept header.",
                "content": {"text/plain": {}, "application/openmetrics-text": {}},
            }
        },
    )
    def metrics(request: Request) -> Response:
        """Every metric in Prometheus text format, or OpenMetrics when the Accept header asks for it."""
        # a plain def: rendering many series is CPU work, so it runs in the thread pool, off the loop
        # in multiprocess mode the merge of every worker's series (Monitoring.exposition)
        body, content_type = generate(exposition, request.headers.get("accept"))
        headers = {"Vary": "Accept, Accept-Encoding", **_NO_STORE}
        if len(body) >= _GZIP_MIN_BYTES and "gzip" in request.headers.get("accept-encoding", ""):
            body = gzip.compress(body, compresslevel=1)
            headers["Content-Encoding"] = "gzip"
        return Response(body, media_type=content_type, headers=headers)

    # HEAD (uptime probes send it) answers as GET does, the server dropping the body; documented once, as GET
    app.add_api_route("/metrics", metrics, methods=["HEAD"], include_in_schema=False)

    # each check's text is encoded once per result, not once per request
    memo = Memo((HealthStatus,))

    def health_probe(scope: Scope) -> _Probe:
        def respond() -> tuple[int, bytes]:
            report = health.report(scope)
            return report.http_status, encode(report, memo).encode()

        return respond

    def health_endpoint(respond: _Probe) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            status, body = respond()
            return Response(body, status, headers=_NO_STORE, media_type="application/json")

        return endpoint

    # plain Starlette routes, documented by _App.openapi, and answered by _ProbeFront before FastAPI's
    # machinery; the routes stay (first in the list) for the methods and mounts the front leaves alone
    probes: dict[str, tuple[Route, _Probe]] = {}
    for index, (path, scope, _, _) in enumerate(_HEALTH_ROUTES):
        respond = health_probe(scope)
        route = _LabelledRoute(path, health_endpoint(respond), methods=["GET"])
        app.router.routes.insert(index, route)
        probes[path] = (route, respond)
    app.probe_front = _ProbeFront(probes, monitoring)

    def current_config() -> Config | None:
        return config if config is not None else monitoring.config

    app.include_router(api_router(current_config, token))

    def current_store() -> EventStore | None:
        # read per request: the events part attaches the store when Monitoring builds its channels
        return event_store if event_store is not None else monitoring.events.store

    app.event_streams = Streams()
    app.include_router(events_router(current_store, token, clock=monitoring.clock, streams=app.event_streams))
    return app
