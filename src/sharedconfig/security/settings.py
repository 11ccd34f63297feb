"""The ``security`` section: authentication, TLS, where secrets come from, rate limiting and audit logging.

Combinations that cannot work are schema errors; in production, authentication without TLS is reported.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from sharedconfig.config.modules import SettingsModule, module_check
from sharedconfig.config.types import NonEmptyStr, PositiveFloat, PositiveInt, Secret, Settings
from sharedconfig.config.validation import SECURITY, ValidationContext

__all__ = [
    "AuditSettings",
    "AuthSettings",
    "RateLimitSettings",
    "SecretsSettings",
    "SecuritySettings",
    "TLSSettings",
    "module",
]

AuthMethod = Literal["token", "basic", "mtls", "oauth2"]


class AuthSettings(Settings):
    """How callers authenticate."""

    enabled: bool = Field(False, description="Require authentication.")
    methods: tuple[AuthMethod, ...] = Field(
        ("token",), min_length=1, description="Accepted methods, tried in order."
    )
    token: Secret | None = Field(None, description="Shared bearer token for the token method.")
    token_header: NonEmptyStr = Field("Authorization", description="Header carrying the token.")


class TLSSettings(Settings):
    """TLS for the service's listeners (and client certificates for mTLS)."""

    enabled: bool = Field(False, description="Serve over TLS.")
    cert_file: str | None = Field(None, description="PEM certificate chain.")
    key_file: str | None = Field(None, description="PEM private key of the certificate.")
    ca_file: str | None = Field(None, description="PEM CA bundle that client certificates must chain to.")
    min_version: Literal["1.2", "1.3"] = Field("1.2", description="Oldest TLS version accepted.")

    @model_validator(mode="after")
    def _certificate(self) -> TLSSettings:
        if self.enabled and (self.cert_file is None or self.key_file is None):
            raise ValueError("tls.enabled needs both cert_file and key_file")
        return self


class SecretsSettings(Settings):
    """Where the security layer looks up secrets at run time."""

    provider: Literal["env", "file", "vault"] = Field(
        "env",
        description="env: environment variables; file: one file per secret; vault: HashiCorp Vault "
        "(address and token from VAULT_ADDR and VAULT_TOKEN).",
    )
    directory: str | None = Field(None, description="Directory of secret files, for the file provider.")

    @model_validator(mode="after")
    def _directory(self) -> SecretsSettings:
        if self.provider == "file" and not self.directory:
            raise ValueError("secrets.provider 'file' needs a directory, e.g. /run/secrets")
        return self


class RateLimitSettings(Settings):
    """A token bucket per caller."""

    enabled: bool = Field(False, description="Limit request rates.")
    requests_per_second: PositiveFloat = Field(10.0, description="Sustained rate per caller.")
    burst: PositiveInt = Field(20, description="Requests allowed at once above the sustained rate.")


class AuditSettings(Settings):
    """The audit log of security decisions."""

    enabled: bool = Field(True, description="Write audit events.")
    log_failures: bool = Field(True, description="Also log failed authentication attempts.")


class SecuritySettings(Settings):
    """The ``security`` section."""

    auth: AuthSettings = Field(default_factory=AuthSettings, description="Authentication.")
    tls: TLSSettings = Field(default_factory=TLSSettings, description="TLS.")
    secrets: SecretsSettings = Field(default_factory=SecretsSettings, description="Secret lookup.")
    rate_limit: RateLimitSettings = Field(default_factory=RateLimitSettings, description="Rate limiting.")
    audit: AuditSettings = Field(default_factory=AuditSettings, description="Audit logging.")

    @model_validator(mode="after")
    def _mtls(self) -> SecuritySettings:
        if self.auth.enabled and "mtls" in self.auth.methods and not (self.tls.enabled and self.tls.ca_file):
            raise ValueError(
                "auth method 'mtls' needs tls.enabled and tls.ca_file to verify client certificates"
            )
        return self


@module_check("security", "security.auth_without_tls", SECURITY)
def check_auth_without_tls(settings: SecuritySettings, ctx: ValidationContext) -> None:
    """In production, authentication without TLS sends credentials in plain text (VALIDATION_011)."""
    if ctx.production and settings.auth.enabled and not settings.tls.enabled:
        ctx.report(
            "VALIDATION_011",
            ("security", "tls", "enabled"),
            "authentication is enabled without TLS in production: credentials would travel in plain text",
            hint="Enable tls; if a proxy in front of the service terminates TLS, "
            "ignore VALIDATION_011 in the validation section.",
        )


module: SettingsModule[SecuritySettings] = SettingsModule(
    name="security",
    schema=SecuritySettings,
    validators=(check_auth_without_tls,),
    description="Authentication, TLS, secret lookup, rate limiting and audit logging.",
)
