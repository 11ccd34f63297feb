"""The ``http`` section: named HTTP client profiles with timeouts, retries, circuit breaker and pool.

A ``default`` profile always exists; the checks catch pools and backoffs that cannot behave as written.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from pydantic import Field, field_validator

from sharedconfig.config.modules import SettingsModule, module_check
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
from sharedconfig.durations import format_duration

__all__ = [
    "CircuitBreakerSettings",
    "HTTPClientProfile",
    "HTTPSettings",
    "PoolSettings",
    "RetrySettings",
    "TimeoutSettings",
    "module",
]

ProfileName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$")]
StatusCode = Annotated[int, Field(ge=100, le=599)]


def _s(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)


class TimeoutSettings(Settings):
    """Per-phase timeouts of one request."""

    connect: PositiveDuration = Field(_s(5), description="Time to establish a connection.")
    read: PositiveDuration = Field(_s(30), description="Time to wait for each chunk of the response.")
    write: PositiveDuration = Field(_s(30), description="Time to send each chunk of the request.")
    pool: PositiveDuration = Field(_s(5), description="Time to wait for a free connection from the pool.")


class RetrySettings(Settings):
    """Retries with exponential backoff."""

    max_attempts: PositiveInt = Field(3, description="Attempts in total, the first included (1: no retry).")
    backoff: PositiveDuration = Field(_s(0.5), description="Wait before the first retry; doubles each time.")
    max_backoff: PositiveDuration = Field(_s(30), description="Longest wait between retries.")
    retry_on_status: tuple[StatusCode, ...] = Field(
        (429, 502, 503, 504), description="Response statuses that are retried."
    )


class CircuitBreakerSettings(Settings):
    """Stop calling a failing service for a while instead of piling up requests."""

    enabled: bool = Field(True, description="Use a circuit breaker.")
    failure_threshold: PositiveInt = Field(5, description="Consecutive failures that open the circuit.")
    recovery_timeout: PositiveDuration = Field(_s(30), description="How long the circuit stays open.")
    half_open_max_calls: PositiveInt = Field(1, description="Trial calls allowed while half open.")


class PoolSettings(Settings):
    """Connection pooling."""

    max_connections: PositiveInt = Field(100, description="Connections open at once.")
    max_keepalive_connections: NonNegativeInt = Field(
        20, description="Idle connections kept for reuse; at most max_connections."
    )
    keepalive_expiry: PositiveDuration = Field(_s(5), description="How long an idle connection is kept.")


class HTTPClientProfile(Settings):
    """One named client configuration."""

    base_url: HttpEndpoint | None = Field(None, description="Prefix of relative request URLs.")
    timeouts: TimeoutSettings = Field(default_factory=TimeoutSettings, description="Timeouts.")
    retries: RetrySettings = Field(default_factory=RetrySettings, description="Retries.")
    circuit_breaker: CircuitBreakerSettings = Field(
        default_factory=CircuitBreakerSettings, description="Circuit breaker."
    )
    pool: PoolSettings = Field(default_factory=PoolSettings, description="Connection pool.")
    headers: dict[str, str] = Field(default_factory=dict, description="Headers sent with every request.")
    auth_token: Secret | None = Field(None, description="Bearer token sent in the Authorization header.")
    verify_tls: bool = Field(True, description="Verify server certificates.")


_DEFAULT_PROFILE = HTTPClientProfile()


class HTTPSettings(Settings):
    """The ``http`` section: client profiles by name; ``default`` is added when not given."""

    profiles: dict[ProfileName, HTTPClientProfile] = Field(
        default_factory=lambda: {"default": _DEFAULT_PROFILE},
        description="Client profiles by name; 'default' exists even when not written.",
    )

    @field_validator("profiles")
    @classmethod
    def _with_default(cls, profiles: dict[str, HTTPClientProfile]) -> dict[str, HTTPClientProfile]:
        if "default" not in profiles:
            return {"default": _DEFAULT_PROFILE, **profiles}
        return profiles


@module_check("http", "http.pool_and_backoff", PERFORMANCE)
def check_pool_and_backoff(settings: HTTPSettings, ctx: ValidationContext) -> None:
    """Keep-alive pools larger than the pool, backoffs above their cap (VALIDATION_021)."""
    for name, profile in settings.profiles.items():
        pool, retries = profile.pool, profile.retries
        if pool.max_keepalive_connections > pool.max_connections:
            ctx.report(
                "VALIDATION_021",
                ("http", "profiles", name, "pool", "max_keepalive_connections"),
                f"profile {name!r}: max_keepalive_connections {pool.max_keepalive_connections} is more than "
                f"max_connections {pool.max_connections}",
                severity="error",
            )
        if retries.backoff > retries.max_backoff:
            ctx.report(
                "VALIDATION_021",
                ("http", "profiles", name, "retries", "backoff"),
                f"profile {name!r}: backoff {format_duration(retries.backoff)} is longer than max_backoff "
                f"{format_duration(retries.max_backoff)}, so every retry waits max_backoff",
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
    validators=(check_plaintext_credentials, check_pool_and_backoff),
    description="HTTP client profiles: timeouts, retries, circuit breaker, connection pool and auth.",
)
