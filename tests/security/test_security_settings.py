"""Tests for the security settings and the production check for authentication without TLS."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from pydantic import SecretStr, ValidationError

from sharedconfig.config.validation import Issue, ValidationContext, run_pipeline
from sharedconfig.errors import Location
from sharedconfig.security.settings import SecuritySettings, module


class NoProvenance:
    """Stand-in for ``Provenance``: nothing has a known location."""

    def locate(self, path: tuple[str | int, ...]) -> Location | None:
        """No location for any path."""
        return None


def check(data: dict[str, Any], profile: str | None = "production") -> list[Issue]:
    """Validate ``data`` and run the module's checks; return the issues."""
    ctx = ValidationContext(
        {"security": data},
        NoProvenance(),  # type: ignore[arg-type]
        profile=profile,
        modules={"security": module.validate(data)},
    )
    run_pipeline(module.validators, ctx)
    return ctx.issues


TLS = {"enabled": True, "cert_file": "/tls/cert.pem", "key_file": "/tls/key.pem"}


class TestSchema:
    """Defaults and combinations that cannot work."""

    def test_defaults(self) -> None:
        """Everything optional is off by default; audit logging is on."""
        settings = SecuritySettings()
        assert settings.auth.enabled is False
        assert settings.auth.methods == ("token",)
        assert settings.tls.min_version == "1.2"
        assert settings.secrets.provider == "env"
        assert settings.audit.enabled is True
        assert module.validate({}) == settings
        assert check({}) == []

    def test_token_is_secret(self) -> None:
        """The auth token is a SecretStr kept out of reprs and dumps."""
        settings = module.validate({"auth": {"enabled": True, "token": "canary-tok"}, "tls": TLS})
        assert isinstance(settings.auth.token, SecretStr)
        assert "canary" not in repr(settings) + settings.model_dump_json()

    @pytest.mark.parametrize(
        ("data", "message"),
        [
            ({"tls": {"enabled": True, "cert_file": "c.pem"}}, "cert_file and key_file"),
            ({"secrets": {"provider": "file"}}, "needs a directory"),
            ({"auth": {"enabled": True, "methods": ["mtls"]}, "tls": TLS}, "tls.ca_file"),
            ({"auth": {"methods": []}}, "at least 1 item"),
            ({"auth": {"methods": ["kerberos"]}}, "'token', 'basic', 'mtls' or 'oauth2'"),
            ({"tls": {"min_version": "1.1"}}, "'1.2' or '1.3'"),
            ({"rate_limit": {"requests_per_second": 0}}, "greater than 0"),
        ],
    )
    def test_invalid(self, data: dict[str, Any], message: str) -> None:
        """Each impossible setting is a schema error with a message saying why."""
        with pytest.raises(ValidationError, match=message):
            module.validate(data)

    def test_mtls_with_ca(self) -> None:
        """mTLS validates once TLS is on and a CA bundle is given."""
        settings = module.validate(
            {"auth": {"enabled": True, "methods": ["mtls"]}, "tls": {**TLS, "ca_file": "/tls/ca.pem"}}
        )
        assert settings.auth.methods == ("mtls",)

    def test_json_schema(self) -> None:
        """The schema is valid draft 2020-12."""
        jsonschema.Draft202012Validator.check_schema(SecuritySettings.model_json_schema())


class TestAuthWithoutTLS:
    """VALIDATION_011: authentication enabled without TLS in production."""

    def test_reported_in_production(self) -> None:
        """Auth on and TLS off in production is an error at tls.enabled with a hint about proxies."""
        issues = check({"auth": {"enabled": True, "token": "canary-tok"}})
        assert [(i.code, i.severity, i.path) for i in issues] == [
            ("VALIDATION_011", "error", "security.tls.enabled")
        ]
        assert "proxy" in issues[0].hint
        assert "canary" not in issues[0].message

    @pytest.mark.parametrize(
        ("data", "profile"),
        [
            ({"auth": {"enabled": True}}, "development"),
            ({"auth": {"enabled": True}, "tls": TLS}, "production"),
            ({"auth": {"enabled": False}}, "production"),
        ],
    )
    def test_silent(self, data: dict[str, Any], profile: str) -> None:
        """Outside production, with TLS, or without auth, nothing is reported."""
        assert check(data, profile) == []
