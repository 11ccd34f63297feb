"""The JSON API under ``/api/v1`` (bearer token required) and the error body every endpoint shares.

Errors are ``{"error": {"code", "message", "hint"}}`` with a stable code from ``APIErrorCode``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field, SecretStr
from starlette.exceptions import HTTPException as StarletteHTTPException

from sharedconfig.server.auth import check_bearer

if TYPE_CHECKING:
    from sharedconfig.config.snapshot import Config

__all__ = [
    "APIError",
    "APIErrorCode",
    "ConfigResponse",
    "ErrorBody",
    "ErrorDetail",
    "ProvenanceEntry",
    "api_router",
    "error_response",
    "install_error_handlers",
    "require_token",
]


class APIErrorCode(StrEnum):
    """The ``error.code`` values of the server's JSON errors."""

    UNAUTHORIZED = "unauthorized"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    INVALID_REQUEST = "invalid_request"
    CONFIG_NOT_LOADED = "config_not_loaded"
    INVALID_PARAMETER = "invalid_parameter"
    EVENTS_NOT_STORED = "events_not_stored"
    EVENTS_UNAVAILABLE = "events_unavailable"
    INTERNAL_ERROR = "internal_error"
    HTTP_ERROR = "http_error"


class ErrorDetail(BaseModel):
    """What went wrong and what to do about it."""

    code: APIErrorCode = Field(description="Stable machine-readable code.")
    message: str = Field(description="What went wrong, for people.")
    hint: str = Field("", description="What to do about it.")


class ErrorBody(BaseModel):
    """The body of every error response."""

    error: ErrorDetail


class ProvenanceEntry(BaseModel):
    """Where one effective value came from."""

    path: str = Field(description="Dotted key path, e.g. monitoring.metrics.enabled.")
    value: Any = Field(description="The effective value; secrets are shown as **********.")
    origin: str = Field(description="file:line:column, 'env NAME', 'override', ... or 'default'.")
    source: str = Field(description="Kind of origin: file, env, dotenv, secret, override, remote or default.")


class ConfigResponse(BaseModel):
    """The effective configuration, redacted, with the origin of every value."""

    profile: str | None = Field(description="The profile overlay in force, if any.")
    config: dict[str, Any] = Field(description="Effective settings per module, secrets redacted.")
    provenance: list[ProvenanceEntry] = Field(description="One entry per leaf of `config`.")


class APIError(Exception):
    """An error response: raise it from an endpoint or dependency and the handler renders ``ErrorBody``."""

    def __init__(
        self,
        status_code: int,
        code: APIErrorCode,
        message: str,
        hint: str = "",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = code
        self.message = message
        self.hint = hint
        self.headers = dict(headers or {})


def error_response(
    status_code: int,
    code: APIErrorCode,
    message: str,
    hint: str = "",
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """A JSON error response in the ``ErrorBody`` shape."""
    body = {"error": {"code": code.value, "message": message, "hint": hint}}
    return JSONResponse(body, status_code=status_code, headers=dict(headers or {}))


_STATUS_CODES = {
    401: APIErrorCode.UNAUTHORIZED,
    404: APIErrorCode.NOT_FOUND,
    405: APIErrorCode.METHOD_NOT_ALLOWED,
}


def install_error_handlers(app: FastAPI) -> None:
    """Render ``APIError``, HTTP errors, invalid requests and unexpected failures as ``ErrorBody``."""

    async def on_api_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, APIError)
        return error_response(exc.status_code, exc.code, exc.message, exc.hint, exc.headers)

    async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = _STATUS_CODES.get(exc.status_code, APIErrorCode.HTTP_ERROR)
        hint = "GET /openapi.json lists the endpoints" if exc.status_code in (404, 405) else ""
        return error_response(exc.status_code, code, str(exc.detail), hint, exc.headers)

    async def on_invalid_request(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}" for e in exc.errors()
        )
        return error_response(422, APIErrorCode.INVALID_REQUEST, problems or "invalid request")

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        return error_response(
            500, APIErrorCode.INTERNAL_ERROR, "internal server error", "the server log has the details"
        )

    app.add_exception_handler(APIError, on_api_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_invalid_request)
    app.add_exception_handler(Exception, on_unexpected)


_bearer = HTTPBearer(auto_error=False, description="The API token (SHAREDCONFIG_API_TOKEN).")


def require_token(token: SecretStr | None) -> Callable[..., Any]:
    """The dependency of every ``/api/*`` route: a 401 (``WWW-Authenticate``) unless it gets ``token``."""

    async def check_token(
        request: Request,
        _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> None:
        # HTTPBearer documents the scheme in OpenAPI; the raw header is checked so that a malformed one
        # gets its own message instead of looking like a missing one
        refusal = check_bearer(request.headers.get("authorization"), token)
        if refusal is not None:
            raise APIError(
                401,
                APIErrorCode.UNAUTHORIZED,
                refusal.message,
                refusal.hint,
                headers={"WWW-Authenticate": refusal.www_authenticate},
            )

    return check_token


_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "Missing or wrong bearer token, or no token configured."},
}


def api_router(config: Callable[[], Config | None], token: SecretStr | None) -> APIRouter:
    """The ``/api/v1`` routes; ``config`` returns the snapshot in force (None when there is none)."""
    router = APIRouter(prefix="/api/v1", tags=["api"], dependencies=[Depends(require_token(token))])

    @router.get(
        "/config",
        response_model=ConfigResponse,
        summary="Effective configuration with provenance",
        responses={**_ERRORS, 404: {"model": ErrorBody, "description": "No configuration was loaded."}},
    )
    async def get_config() -> ConfigResponse:
        """The effective configuration (secrets redacted) and where each value came from."""
        snapshot = config()
        if snapshot is None:
            raise APIError(
                404,
                APIErrorCode.CONFIG_NOT_LOADED,
                "this server was started without a configuration",
                "start it with `sharedconfig serve CONFIG.yaml`, or pass the Config to "
                "create_app(monitoring, config) / Monitoring.from_config(config)",
            )
        rows = [
            ProvenanceEntry(
                path=path,
                value=value,
                origin=str(origin) if origin is not None else "default",
                source=origin.source if origin is not None else "default",
            )
            for path, value, origin in snapshot.explain()
        ]
        return ConfigResponse(profile=snapshot.profile, config=snapshot.to_dict(), provenance=rows)

    return router
