"""The ``storage`` section (seed Deliverable 1.3): where objects are stored and how to connect.

MinIO and S3 share one schema; in production, credentials must travel over TLS.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field, model_validator

from sharedconfig.config.modules import SettingsModule, module_check
from sharedconfig.config.policies import RetrySettings, policy_check
from sharedconfig.config.types import (
    NonEmptyStr,
    PositiveDuration,
    Secret,
    Settings,
    plaintext_http,
)
from sharedconfig.config.validation import SECURITY, ValidationContext

__all__ = ["ConnectionSettings", "StorageSettings", "module"]


class ConnectionSettings(
    RetrySettings,
    defaults={"max_retries": 3, "retry_delay": timedelta(seconds=5), "multiplier": 1.0, "jitter": "none"},
):
    """How storage requests are timed out and retried: the seed's flat keys, in the retry vocabulary.

    ``max_retries`` and ``retry_delay`` (seed Deliverable 1.3) and the other retry keys are those of
    :class:`~sharedconfig.config.policies.RetrySettings`; by default every retry waits ``retry_delay``,
    as the seed's ``RetryDelay``.
    """

    timeout: PositiveDuration = Field(timedelta(seconds=30), description="Time one request may take.")


class StorageSettings(Settings):
    """The ``storage`` section: a MinIO or S3 endpoint, bucket and credentials."""

    type: Literal["minio", "s3"] = Field("minio", description="Storage service.")
    endpoint: NonEmptyStr = Field(
        description="Host and port (minio:9000) or URL (https://s3.eu-west-1.amazonaws.com)."
    )
    use_ssl: bool = Field(True, description="Connect with TLS (an https:// endpoint always does).")
    region: NonEmptyStr = Field("us-east-1", description="Region of the bucket.")
    bucket: str | None = Field(None, description="Default bucket.")
    access_key: Secret | None = Field(None, description="Access key ID; give it with secret_key.")
    secret_key: Secret | None = Field(None, description="Secret access key; write it as ${ENV_VAR}.")
    connection: ConnectionSettings = Field(
        default_factory=ConnectionSettings, description="Timeouts and retries."
    )

    @model_validator(mode="after")
    def _keys_together(self) -> StorageSettings:
        if (self.access_key is None) != (self.secret_key is None):
            missing = "secret_key" if self.secret_key is None else "access_key"
            raise ValueError(f"access_key and secret_key go together: {missing} is missing")
        return self

    @property
    def credentials(self) -> bool:
        """True when access and secret keys are set."""
        return self.access_key is not None and self.secret_key is not None

    @property
    def secure(self) -> bool:
        """True when requests go over TLS: ``use_ssl`` and no plain ``http://`` endpoint."""
        return self.use_ssl and not plaintext_http(self.endpoint)


@module_check("storage", "storage.plaintext_credentials", SECURITY)
def check_plaintext_credentials(settings: StorageSettings, ctx: ValidationContext) -> None:
    """In production, storage credentials must not be sent without TLS (VALIDATION_011)."""
    if not ctx.production or not settings.credentials or settings.secure:
        return
    if plaintext_http(settings.endpoint):
        path: tuple[str, ...] = ("storage", "endpoint")
        why = "the endpoint is plain http://"
    else:
        path = ("storage", "use_ssl")
        why = "use_ssl is false"
    ctx.report(
        "VALIDATION_011",
        path,
        f"storage credentials would be sent without TLS in production: {why}",
        severity="error",
    )


module: SettingsModule[StorageSettings] = SettingsModule(
    name="storage",
    schema=StorageSettings,
    validators=(check_plaintext_credentials, policy_check("storage")),
    description="Object storage (MinIO or S3): endpoint, bucket, credentials, timeouts and retries.",
)
