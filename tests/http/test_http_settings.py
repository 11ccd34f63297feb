"""Tests for the HTTP client profiles and their pool, backoff and transport checks."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from pydantic import SecretStr, ValidationError

from sharedconfig.config.validation import Issue, ValidationContext, run_pipeline
from sharedconfig.errors import Location
from sharedconfig.http.settings import HTTPProfileSettings, HTTPSettings, module


class NoProvenance:
    """Stand-in for ``Provenance``: nothing has a known location."""

    def locate(self, path: tuple[str | int, ...]) -> Location | None:
        """No location for any path."""
        return None


def check(data: dict[str, Any], profile: str | None = None) -> list[Issue]:
    """Validate ``data`` and run the module's checks; return the issues."""
    ctx = ValidationContext(
        {"http": data},
        NoProvenance(),  # type: ignore[arg-type]
        profile=profile,
        modules={"http": module.validate(data)},
    )
    run_pipeline(module.validators, ctx)
    return ctx.issues


def issues_of(data: dict[str, Any], profile: str | None = None) -> list[tuple[str, str, str]]:
    """(code, severity, path) of each issue."""
    return [(i.code, i.severity, i.path) for i in check(data, profile)]


class TestProfiles:
    """Profiles, the default profile and their fields."""

    def test_default_profile_exists(self) -> None:
        """With nothing configured there is one profile, ``default``, with httpx-like defaults."""
        settings = HTTPSettings()
        assert list(settings.profiles) == ["default"]
        default = settings.profiles["default"]
        assert default.timeouts.connect == timedelta(seconds=5)
        assert default.retry.retry_on_status == (408, 429, 500, 502, 503, 504)
        assert default.retry.max_retries == 2
        assert default.retry.max_retry_delay == timedelta(seconds=30)
        assert default.pool.max_connections == 100
        assert check({}) == []

    def test_default_added_to_named_profiles(self) -> None:
        """Naming other profiles keeps ``default``; writing ``default`` replaces it."""
        settings = module.validate({"profiles": {"payments": {"base_url": "https://pay"}}})
        assert list(settings.profiles) == ["default", "payments"]
        custom = module.validate({"profiles": {"default": {"retry": {"max_retries": 0}}}})
        assert custom.profiles["default"].retry.max_retries == 0

    def test_values_parse(self) -> None:
        """Durations and secrets in a profile are typed."""
        settings = module.validate(
            {
                "profiles": {
                    "api": {"timeouts": {"read": "2m"}, "auth_token": "canary-tok", "headers": {"X-A": "1"}}
                }
            }
        )
        api = settings.profiles["api"]
        assert api.timeouts.read == timedelta(minutes=2)
        assert isinstance(api.auth_token, SecretStr)
        assert "canary" not in repr(settings) + settings.model_dump_json()

    def test_header_values_are_secrets_by_default(self, tmp_path: Path) -> None:
        """Cookie, X-Auth and session headers need no secret-looking name: every value is redacted."""
        from sharedconfig import load

        path = tmp_path / "app.yaml"
        path.write_text(
            "http:\n  profiles:\n    api:\n      headers:\n"
            "        Cookie: session=c-canary-1\n        X-Auth: a-canary-2\n"
            "        X-Session-Id: s-canary-3\n"
        )
        config = load([path], environ={}, env_file=None)
        headers = config.module("http").profiles["api"].headers  # type: ignore[attr-defined]
        assert all(isinstance(v, SecretStr) for v in headers.values())
        assert headers["X-Auth"].get_secret_value() == "a-canary-2"
        assert "canary" not in repr(config.module("http")) + str(config.to_dict())

    @pytest.mark.parametrize(
        "profile",
        [
            {"retry": {"max_retries": -1}},
            {"retry": {"retry_on_status": [700]}},
            {"circuit_breaker": {"sliding_window_size": 0}},
            {"retries": {"max_attempts": 3}},
            {"timeouts": {"connect": "0s"}},
            {"base_url": "api.example.com"},
        ],
    )
    def test_invalid(self, profile: dict[str, Any]) -> None:
        """Out-of-range values, scheme-less URLs and the old ``retries`` block are schema errors."""
        with pytest.raises(ValidationError):
            module.validate({"profiles": {"api": profile}})

    def test_profile_names(self) -> None:
        """Profile names are label-safe words."""
        with pytest.raises(ValidationError):
            module.validate({"profiles": {"my api": {}}})

    def test_json_schema(self) -> None:
        """The schema is valid draft 2020-12, and every class in it is named ``*Settings``."""
        schema = HTTPSettings.model_json_schema()
        jsonschema.Draft202012Validator.check_schema(schema)
        jsonschema.Draft202012Validator.check_schema(HTTPProfileSettings.model_json_schema())
        assert all(name.endswith("Settings") for name in schema["$defs"])

    def test_retry_and_breaker_use_the_vocabulary(self) -> None:
        """A profile's retry and circuit_breaker blocks take the shared keys; unwritten keys keep defaults."""
        profile = module.validate(
            {
                "profiles": {
                    "api": {
                        "retry": {"max_retries": 4, "retry_delay": "1s", "retry_on_status": [503, "4xx"]},
                        "circuit_breaker": {"failure_rate_threshold": 50, "sliding_window_type": "time"},
                    }
                }
            }
        ).profiles["api"]
        assert profile.retry.max_retries == 4
        assert profile.retry.max_retry_delay == timedelta(seconds=30)  # the profile default, not overwritten
        assert profile.retry.statuses() == {503, *range(400, 500)}
        assert profile.circuit_breaker.failure_rate_threshold == 50.0
        assert profile.circuit_breaker.sliding_window_type == "time"
        default = HTTPSettings().profiles["default"].circuit_breaker
        assert default.wait_duration_in_open_state == timedelta(seconds=30)
        assert default.permitted_number_of_calls_in_half_open_state == 1


class TestChecks:
    """VALIDATION_021 for pools and backoff; VALIDATION_011 in production."""

    def test_keepalive_above_max_connections(self) -> None:
        """More keep-alive connections than connections is an error."""
        data = {"profiles": {"api": {"pool": {"max_connections": 10, "max_keepalive_connections": 20}}}}
        assert issues_of(data) == [
            ("VALIDATION_021", "error", "http.profiles.api.pool.max_keepalive_connections")
        ]

    def test_retry_delay_above_max_retry_delay(self) -> None:
        """A first retry delay above its cap is a warning, reported by the shared policy check."""
        data = {"profiles": {"api": {"retry": {"retry_delay": "1m", "max_retry_delay": "10s"}}}}
        issues = check(data)
        assert [(i.code, i.severity, i.path) for i in issues] == [
            ("VALIDATION_021", "warning", "http.profiles.api.retry.retry_delay")
        ]
        assert issues[0].validator == "http.policies"
        assert "1m" in issues[0].message
        assert "10s" in issues[0].message

    def test_token_over_http_in_production(self) -> None:
        """An auth token sent to an http:// base URL is an error in production only."""
        data = {"profiles": {"api": {"base_url": "http://api", "auth_token": "canary-tok"}}}
        assert issues_of(data) == []
        issues = check(data, "production")
        assert [(i.code, i.path) for i in issues] == [("VALIDATION_011", "http.profiles.api.base_url")]
        assert "canary" not in issues[0].message

    def test_unverified_tls_in_production(self) -> None:
        """Turning off certificate verification is an error in production."""
        data = {"profiles": {"default": {"verify_tls": False}}}
        assert issues_of(data, "production") == [
            ("VALIDATION_011", "error", "http.profiles.default.verify_tls")
        ]

    def test_https_with_token_is_fine(self) -> None:
        """A token over https is not reported."""
        assert (
            check({"profiles": {"api": {"base_url": "https://api", "auth_token": "t"}}}, "production") == []
        )
