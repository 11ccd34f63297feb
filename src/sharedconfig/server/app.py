"""``create_app(monitoring)``: the FastAPI app serving /metrics, /health and the JSON API of one service.

Mount it in your ASGI app or run it with ``sharedconfig serve``; only ``/api/*`` needs a token.
"""

from __future__ import annotations

import gzip
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from types import GenericAlias
from typing import TYPE_CHECKING, Any, get_args, get_origin

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field, SecretStr, create_model
from starlette.routing import Match, Route

import sharedconfig
from sharedconfig.interfaces import HealthStatus
from sharedconfig.monitoring.health import HealthReport, Scope
from sharedconfig.monitoring.health.wire import wire_fields
from sharedconfig.monitoring.metrics.exposition import generate
from sharedconfig.monitoring.middleware import ASGIMetricsMiddleware
from sharedconfig.server.api import api_router, install_error_handlers
from sharedconfig.server.auth import configured_token

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


class _App(FastAPI):
    """FastAPI whose OpenAPI also documents the health routes, which are plain Starlette routes."""

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
) -> FastAPI:
    """Build the app serving ``monitoring``.

    ``config`` is what ``/api/v1/config`` shows (default: ``monitoring.config``). The API token is
    ``api_token`` when given, else ``$SHAREDCONFIG_API_TOKEN``, else ``monitoring.settings.server.api_token``;
    without one ``/api/*`` answers 401 explaining how to set it. Request metrics of the app itself are
    recorded by ``ASGIMetricsMiddleware`` into ``monitoring.metrics``.
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
    )
    install_error_handlers(app)
    app.add_middleware(ASGIMetricsMiddleware, monitoring=monitoring)
    health = monitoring.health
    registry = monitoring.metrics

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
        body, content_type = generate(registry, request.headers.get("accept"))
        headers = {"Vary": "Accept, Accept-Encoding", **_NO_STORE}
        if len(body) >= _GZIP_MIN_BYTES and "gzip" in request.headers.get("accept-encoding", ""):
            body = gzip.compress(body, compresslevel=1)
            headers["Content-Encoding"] = "gzip"
        return Response(body, media_type=content_type, headers=headers)

    def health_endpoint(scope: Scope) -> Callable[[Request], Awaitable[JSONResponse]]:
        async def endpoint(request: Request) -> JSONResponse:
            report = health.report(scope)
            return JSONResponse(report.to_dict(), status_code=report.http_status, headers=_NO_STORE)

        return endpoint

    # plain Starlette routes: probes and load balancers hit these constantly, and FastAPI's per-request
    # dependency machinery would cost ~40% of the request; _App.openapi documents them instead
    # first in the route list, so the most frequent requests are matched first
    for index, (path, scope, _, _) in enumerate(_HEALTH_ROUTES):
        app.router.routes.insert(index, _LabelledRoute(path, health_endpoint(scope), methods=["GET"]))

    def current_config() -> Config | None:
        return config if config is not None else monitoring.config

    app.include_router(api_router(current_config, token))
    return app
