"""The ``http`` section: named HTTP client profiles with timeouts, retries, circuit breaker and pool.

A ``default`` profile always exists; the checks catch pools and backoffs that cannot behave as written.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from pydantic import Field, field_validator

from sharedconfig.config.modules import SettingsModule, module_check
from sharedconfig.config.policies import (
    CircuitBreakerSettings,
    RetrySettings,
    circuit_breaker_field,
    policy_check,
    retry_field,
)
from sharedconfig.config.types import (
    HttpEndpoint,
    NonNegativeInt,
    PositiveDuration,
    PositiveInt,
    Secret,
    Settings,
    plaintext_http,
)
from sharedconfig.config.validation import PERFORMANCE, SECURITY, ValidationContext

__all__ = [
    "HTTPProfileSettings",
    "HTTPRetrySettings",
    "HTTPSettings",
    "PoolSettings",
    "TimeoutSettings",
    "module",
]

ProfileName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$")]


def _s(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)


class TimeoutSettings(Settings):
    """Per-phase timeouts of one request."""

    connect: PositiveDuration = Field(_s(5), description="Time to establish a connection.")
    read: PositiveDuration = Field(_s(30), description="Time to wait for each chunk of the response.")
    write: PositiveDuration = Field(_s(30), description="Time to send each chunk of the request.")
    pool: PositiveDuration = Field(_s(5), description="Time to wait for a free connection from the pool.")


class HTTPRetrySettings(RetrySettings, defaults={"max_retry_delay": _s(30)}):
    """Retries of a client profile: the shared vocabulary, waiting up to 30s between requests."""


class PoolSettings(Settings):
    """Connection pooling."""

    max_connections: PositiveInt = Field(100, description="Connections open at once.")
    max_keepalive_connections: NonNegativeInt = Field(
        20, description="Idle connections kept for reuse; at most max_connections."
    )
    keepalive_expiry: PositiveDuration = Field(_s(5), description="How long an idle connection is kept.")


class HTTPProfileSettings(Settings):
    """One named client configuration."""

    base_url: HttpEndpoint | None = Field(None, description="Prefix of relative request URLs.")
    timeouts: TimeoutSettings = Field(default_factory=TimeoutSettings, description="Timeouts.")
    retry: HTTPRetrySettings = retry_field(HTTPRetrySettings, what="each request")
    circuit_breaker: CircuitBreakerSettings = circuit_breaker_field()
    pool: PoolSettings = Field(default_factory=PoolSettings, description="Connection pool.")
    headers: dict[str, Secret] = Field(
        default_factory=dict, description="Headers sent with every request (values are secret: cookies...)."
    )
    auth_token: Secret | None = Field(None, description="Bearer token sent in the Authorization header.")
    verify_tls: bool = Field(True, description="Verify server certificates.")


_DEFAULT_PROFILE = HTTPProfileSettings()


class HTTPSettings(Settings):
    """The ``http`` section: client profiles by name; ``default`` is added when not given."""

    profiles: dict[ProfileName, HTTPProfileSettings] = Field(
        default_factory=lambda: {"default": _DEFAULT_PROFILE},
        description="Client profiles by name; 'default' exists even when not written.",
    )

    @field_validator("profiles")
    @classmethod
    def _with_default(cls, profiles: dict[str, HTTPProfileSettings]) -> dict[str, HTTPProfileSettings]:
        if "default" not in profiles:
            return {"default": _DEFAULT_PROFILE, **profiles}
        return profiles


@module_check("http", "http.pool", PERFORMANCE)
def check_pool(settings: HTTPSettings, ctx: ValidationContext) -> None:
    """Keep-alive pools larger than the pool (VALIDATION_021); retries are checked by ``policy_check``."""
    for name, profile in settings.profiles.items():
        pool = profile.pool
        if pool.max_keepalive_connections > pool.max_connections:
            ctx.report(
                "VALIDATION_021",
                ("http", "profiles", name, "pool", "max_keepalive_connections"),
                f"profile {name!r}: max_keepalive_connections {pool.max_keepalive_connections} is more than "
                f"max_connections {pool.max_connections}",
                severity="error",
            )


@module_check("http", "http.plaintext_credentials", SECURITY)
def check_plaintext_credentials(settings: HTTPSettings, ctx: ValidationContext) -> None:
    """In production, tokens must not go over http:// and certificates must be verified (VALIDATION_011)."""
    if not ctx.production:
        return
    for name, profile in settings.profiles.items():
        if profile.auth_token is not None and profile.base_url and plaintext_http(profile.base_url):
            ctx.report(
                "VALIDATION_011",
                ("http", "profiles", name, "base_url"),
                f"profile {name!r} sends its auth_token over plain http:// in production",
            )
        if not profile.verify_tls:
            ctx.report(
                "VALIDATION_011",
                ("http", "profiles", name, "verify_tls"),
                f"profile {name!r} does not verify server certificates in production",
            )


module: SettingsModule[HTTPSettings] = SettingsModule(
    name="http",
    schema=HTTPSettings,
    validators=(check_plaintext_credentials, check_pool, policy_check("http")),
    description="HTTP client profiles: timeouts, retries, circuit breaker, connection pool and auth.",
)
