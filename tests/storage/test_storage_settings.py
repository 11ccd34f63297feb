"""Tests for the storage settings (seed Deliverable 1.3) and its production TLS check."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import jsonschema
import pytest
from pydantic import SecretStr, ValidationError

from sharedconfig.config.policies import RetrySettings
from sharedconfig.config.validation import Issue, ValidationContext, run_pipeline
from sharedconfig.errors import Location
from sharedconfig.storage.settings import StorageSettings, module


class NoProvenance:
    """Stand-in for ``Provenance``: nothing has a known location."""

    def locate(self, path: tuple[str | int, ...]) -> Location | None:
        """No location for any path."""
        return None


def check(data: dict[str, Any], profile: str | None = "production") -> list[Issue]:
    """Validate ``data`` and run the module's checks; return the issues."""
    ctx = ValidationContext(
        {"storage": data},
        NoProvenance(),  # type: ignore[arg-type]
        profile=profile,
        modules={"storage": module.validate(data)},
    )
    run_pipeline(module.validators, ctx)
    return ctx.issues


CREDENTIALS = {"access_key": "AKIA-canary", "secret_key": "canary-secret"}


class TestSchema:
    """Defaults, required endpoint and credentials."""

    def test_seed_defaults(self) -> None:
        """The seed's defaults: minio, TLS on, us-east-1, 30s timeout, 3 retries 5s apart."""
        settings = module.validate({"endpoint": "minio:9000"})
        assert settings.type == "minio"
        assert settings.use_ssl is True
        assert settings.region == "us-east-1"
        assert settings.connection.timeout == timedelta(seconds=30)
        assert settings.connection.max_retries == 3
        assert settings.connection.retry_delay == timedelta(seconds=5)
        assert list(settings.connection.delays()) == [5.0, 5.0, 5.0]  # the seed's fixed delay

    def test_connection_speaks_the_retry_vocabulary(self) -> None:
        """storage.connection keeps the seed's flat keys and takes every other retry key beside them."""
        connection = module.validate(
            {
                "endpoint": "minio:9000",
                "connection": {"max_retries": 5, "multiplier": 2, "max_retry_delay": "12s"},
            }
        ).connection
        assert isinstance(connection, RetrySettings)
        assert list(connection.delays()) == [5.0, 10.0, 12.0, 12.0, 12.0]
        assert connection.timeout == timedelta(seconds=30)
        policy = connection.policy()
        assert [policy.delay(n) for n in range(5)] == [5.0, 10.0, 12.0, 12.0, 12.0]  # no jitter by default

    def test_retry_delay_above_cap(self) -> None:
        """The shared policy check reports storage.connection.retry_delay above max_retry_delay."""
        issues = check({"endpoint": "minio:9000", "connection": {"retry_delay": "1m"}})
        assert [(i.code, i.severity, i.path) for i in issues] == [
            ("VALIDATION_021", "warning", "storage.connection.retry_delay")
        ]

    def test_endpoint_is_required(self) -> None:
        """The seed's "storage endpoint is required": no defaults, and a missing endpoint is an error."""
        assert module.defaults() == {}
        with pytest.raises(ValidationError) as info:
            module.validate({})
        assert [e["type"] for e in info.value.errors()] == ["missing"]

    def test_credentials_are_secret(self) -> None:
        """Both keys are SecretStr and stay out of reprs and dumps."""
        settings = module.validate({"endpoint": "minio:9000", **CREDENTIALS})
        assert isinstance(settings.secret_key, SecretStr)
        assert "canary" not in repr(settings) + settings.model_dump_json()

    def test_keys_go_together(self) -> None:
        """An access key without a secret key is an error naming the missing one."""
        with pytest.raises(ValidationError, match="secret_key is missing"):
            module.validate({"endpoint": "minio:9000", "access_key": "AKIA"})

    def test_unknown_type(self) -> None:
        """Only minio and s3 are storage types."""
        with pytest.raises(ValidationError, match="'minio' or 's3'"):
            module.validate({"endpoint": "x", "type": "gcs"})

    def test_json_schema(self) -> None:
        """The schema is valid draft 2020-12, requires the endpoint and names its classes ``*Settings``."""
        schema = StorageSettings.model_json_schema()
        jsonschema.Draft202012Validator.check_schema(schema)
        assert schema["required"] == ["endpoint"]
        assert all(name.endswith("Settings") for name in schema["$defs"])
        connection = schema["$defs"]["ConnectionSettings"]["properties"]
        assert (connection["max_retries"]["default"], connection["retry_delay"]["default"]) == (3, "5s")


class TestPlaintextCredentials:
    """VALIDATION_011: credentials without TLS in production."""

    def test_use_ssl_false(self) -> None:
        """use_ssl false with credentials is an error at use_ssl."""
        issues = check({"endpoint": "minio:9000", "use_ssl": False, **CREDENTIALS})
        assert [(i.code, i.severity, i.path) for i in issues] == [
            ("VALIDATION_011", "error", "storage.use_ssl")
        ]
        assert "canary" not in issues[0].message

    def test_http_endpoint(self) -> None:
        """An http:// endpoint with credentials is an error at the endpoint, whatever use_ssl says."""
        issues = check({"endpoint": "http://minio:9000", **CREDENTIALS})
        assert [(i.code, i.path) for i in issues] == [("VALIDATION_011", "storage.endpoint")]

    @pytest.mark.parametrize(
        ("data", "profile"),
        [
            ({"endpoint": "minio:9000", "use_ssl": False, **CREDENTIALS}, "development"),
            ({"endpoint": "minio:9000", "use_ssl": False}, "production"),
            ({"endpoint": "https://s3.amazonaws.com", **CREDENTIALS}, "production"),
            ({"endpoint": "minio:9000", **CREDENTIALS}, "prod"),
        ],
    )
    def test_silent(self, data: dict[str, Any], profile: str) -> None:
        """Outside production, without credentials, or over TLS, nothing is reported."""
        assert check(data, profile) == []
