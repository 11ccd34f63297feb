"""Tests for the reusable settings types: durations, byte sizes, ratios, secrets and endpoints."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import jsonschema
import pytest
from pydantic import Field, SecretStr, ValidationError

from sharedconfig.config.modules import discover
from sharedconfig.config.types import (
    ERROR_CODES,
    ByteSize,
    Duration,
    HttpEndpoint,
    Port,
    PositiveDuration,
    Ratio,
    Secret,
    SecretUrl,
    Settings,
    parse_byte_size,
    plaintext_http,
)
from sharedconfig.errors import REGISTRY


class Sample(Settings):
    """A model using every type, as a settings module would."""

    every: Duration = timedelta(seconds=5)
    timeout: PositiveDuration = timedelta(seconds=1)
    size: ByteSize = 0
    rate: Ratio = 1.0
    port: Port = 80
    url: HttpEndpoint = "http://localhost:9090"
    token: Secret | None = None
    hook: SecretUrl | None = None


def error_of(**data: Any) -> dict[str, Any]:
    """The single pydantic error of validating ``data`` into ``Sample``."""
    with pytest.raises(ValidationError) as info:
        Sample.model_validate(data)
    errors = info.value.errors(include_url=False)
    assert len(errors) == 1
    return dict(errors[0])


class TestSettings:
    """The base class every settings schema derives from."""

    def test_unknown_keys_are_errors(self) -> None:
        """A misspelt key is reported, not silently ignored."""
        assert error_of(evrey="5s")["type"] == "extra_forbidden"

    def test_instances_are_frozen(self) -> None:
        """A validated snapshot cannot be changed by assignment."""
        sample = Sample()
        with pytest.raises(ValidationError):
            sample.rate = 0.5  # type: ignore[misc]

    def test_inputs_are_hidden_from_error_text(self) -> None:
        """The text of a validation error never quotes the input, which may be a secret."""
        with pytest.raises(ValidationError) as info:
            Sample.model_validate({"token": 12345678})
        assert "12345678" not in str(info.value)

    def test_error_codes_are_registered(self) -> None:
        """Every custom error type maps to a code that exists in the registry."""
        assert ERROR_CODES["duration"] == "VALIDATION_004"
        assert ERROR_CODES["byte_size"] == "VALIDATION_007"
        assert ERROR_CODES["url"] == "VALIDATION_008"
        assert all(code in REGISTRY for code in ERROR_CODES.values())

    def test_json_schema_is_valid_draft_2020_12(self) -> None:
        """The generated schema is itself a valid JSON Schema."""
        jsonschema.Draft202012Validator.check_schema(Sample.model_json_schema())


class TestDuration:
    """Durations written as people write them, kept as ``timedelta``."""

    @pytest.mark.parametrize(
        ("written", "expected"),
        [
            ("30s", timedelta(seconds=30)),
            ("1h30m", timedelta(minutes=90)),
            ("250ms", timedelta(milliseconds=250)),
            ("7d", timedelta(days=7)),
            (15, timedelta(seconds=15)),
            (0.5, timedelta(milliseconds=500)),
            ("0s", timedelta(0)),
            (timedelta(minutes=2), timedelta(minutes=2)),
        ],
    )
    def test_parses(self, written: Any, expected: timedelta) -> None:
        """Strings, numbers of seconds and timedeltas all become the same timedelta."""
        assert Sample.model_validate({"every": written}).every == expected

    def test_dumps_as_text_in_json_mode(self) -> None:
        """JSON dumps write durations back in the configuration's own notation."""
        sample = Sample.model_validate({"every": "1h30m"})
        assert sample.model_dump(mode="json")["every"] == "1h30m"
        assert sample.model_dump()["every"] == timedelta(minutes=90)

    def test_bad_value_has_duration_error_with_suggestion(self) -> None:
        """A bad duration is a ``duration`` error quoting the value and suggesting a fix."""
        error = error_of(every="30 seconds")
        assert error["type"] == "duration"
        assert "'30 seconds'" in error["msg"]
        assert "did you mean '30s'" in error["msg"]

    def test_negative_is_rejected(self) -> None:
        """A negative duration is an error."""
        assert error_of(every=-1)["type"] == "duration"

    def test_positive_duration_rejects_zero(self) -> None:
        """Timeouts and intervals must be longer than zero."""
        error = error_of(timeout="0s")
        assert error["type"] == "duration"
        assert "longer than 0s" in error["msg"]

    def test_json_schema(self) -> None:
        """The schema accepts a duration string or a non-negative number and shows defaults as text."""
        prop = Sample.model_json_schema()["properties"]["every"]
        assert [branch["type"] for branch in prop["anyOf"]] == ["string", "number"]
        assert prop["anyOf"][1]["minimum"] == 0
        assert prop["default"] == "5s"
        validator = jsonschema.Draft202012Validator(Sample.model_json_schema())
        assert validator.is_valid({"every": "1h30m"})
        assert validator.is_valid({"every": 3})
        assert not validator.is_valid({"every": "1 hour"})
        assert not validator.is_valid({"every": -3})


class TestByteSize:
    """Sizes as ints or with decimal and binary units."""

    @pytest.mark.parametrize(
        ("written", "expected"),
        [
            (512, 512),
            ("2147483648", 2_147_483_648),
            ("512MB", 512_000_000),
            ("2GiB", 2 * 1024**3),
            ("10 KB", 10_000),
            ("1.5GB", 1_500_000_000),
            ("0.5KiB", 512),
            ("3kb", 3000),
            ("1TiB", 1024**4),
            ("7B", 7),
            (2.0e9, 2_000_000_000),
        ],
    )
    def test_parses(self, written: Any, expected: int) -> None:
        """Units are powers of 1000 (kB, MB, ...) or 1024 (KiB, MiB, ...)."""
        assert Sample.model_validate({"size": written}).size == expected

    @pytest.mark.parametrize("written", [-1, "1.0001KB", "12 parsecs", True, "1.5", 3.5, "-5MB", None])
    def test_rejects(self, written: Any) -> None:
        """Negative, fractional-byte and unknown-unit sizes are ``byte_size`` errors with examples."""
        error = error_of(size=written)
        assert error["type"] == "byte_size"
        assert f"invalid byte size {written!r}" in error["msg"]

    def test_message_gives_examples(self) -> None:
        """The message shows what a valid size looks like."""
        assert "512MB" in error_of(size="lots")["msg"]

    def test_parse_byte_size_directly(self) -> None:
        """The parser is usable outside a model."""
        assert parse_byte_size("1MiB") == 1_048_576

    def test_json_schema_matches_parser(self) -> None:
        """The schema's pattern accepts what the parser accepts and rejects what it rejects."""
        validator = jsonschema.Draft202012Validator(Sample.model_json_schema())
        for good in ("512MB", "2GiB", "10 KB", "1.5GB", 10):
            assert validator.is_valid({"size": good})
        for bad in ("12 parsecs", -1, "MB"):
            assert not validator.is_valid({"size": bad})


class TestRatioAndPort:
    """Bounded numbers."""

    @pytest.mark.parametrize("value", [-0.1, 1.01])
    def test_ratio_bounds(self, value: float) -> None:
        """A ratio outside 0..1 is a range error."""
        assert error_of(rate=value)["type"] in ("greater_than_equal", "less_than_equal")

    def test_port_bounds(self) -> None:
        """Port 0 and 65536 are rejected."""
        assert error_of(port=0)["type"] == "greater_than_equal"
        assert error_of(port=65536)["type"] == "less_than_equal"


class TestSecrets:
    """Secret strings stay out of reprs and dumps."""

    def test_secret_is_redacted(self) -> None:
        """repr and JSON dumps show stars; the value is still readable on purpose."""
        sample = Sample.model_validate({"token": "canary-7f3a"})
        assert isinstance(sample.token, SecretStr)
        assert "canary-7f3a" not in repr(sample)
        assert "canary-7f3a" not in sample.model_dump_json()
        assert sample.token.get_secret_value() == "canary-7f3a"

    def test_secret_url_checks_scheme_without_quoting(self) -> None:
        """A webhook URL without a scheme is a ``url`` error that never repeats the value."""
        error = error_of(hook="hooks.slack.com/services/canary-7f3a")
        assert error["type"] == "url"
        assert "canary-7f3a" not in error["msg"]

    def test_secret_url_accepts_https(self) -> None:
        """A proper webhook URL validates and is redacted."""
        sample = Sample.model_validate({"hook": "https://hooks.slack.com/services/canary"})
        assert "canary" not in repr(sample)


class Nested(Settings):
    """Plain containers of strings, as tags, servers and annotations are."""

    tags: dict[str, str] = Field(default_factory=dict)
    servers: tuple[str, ...] = ()
    inner: Sample | None = None


class TestRepr:
    """repr() and str() of settings reach logs: the key and URL rules apply at any depth."""

    def test_secret_looking_keys_and_url_passwords_inside_containers(self) -> None:
        """A tag named like a secret is hidden; URL passwords in tuples, maps and nested models are masked."""
        settings = Nested.model_validate(
            {
                "tags": {
                    "team": "shop",
                    "api_token": "t-canary-T2",
                    "runbook": "https://w:pw-canary-T3@wiki",
                },
                "servers": ["nats://n:pw-canary-T4@nats:4222", "nats://plain:4222"],
                "inner": {"url": "http://writer:pw-canary-T5@prom:9090"},
            }
        )
        for shown in (repr(settings), str(settings)):
            assert "canary" not in shown
            assert "'api_token': '**********'" in shown and "'team': 'shop'" in shown
            assert "nats://n:**********@nats:4222" in shown and "nats://plain:4222" in shown
        assert settings.servers[0] == "nats://n:pw-canary-T4@nats:4222"  # the value itself is untouched


class TestHttpEndpoint:
    """URLs kept exactly as written."""

    def test_kept_as_written(self) -> None:
        """No normalisation: case, trailing slash and default port survive."""
        assert Sample.model_validate({"url": "HTTP://Prom:80/"}).url == "HTTP://Prom:80/"

    def test_other_schemes(self) -> None:
        """Any scheme is accepted (udp, nats, grpc, ...)."""
        assert Sample.model_validate({"url": "udp://jaeger:6831"}).url == "udp://jaeger:6831"

    def test_missing_scheme(self) -> None:
        """A host:port without a scheme is a ``url`` error naming the value."""
        error = error_of(url="prometheus:9090")
        assert error["type"] == "url"
        assert "'prometheus:9090'" in error["msg"]

    def test_missing_scheme_with_user_info_names_only_the_host(self) -> None:
        """user:password@host without a scheme is not quoted whole: the part before '@' may be a password."""
        error = error_of(url="writer:pw-canary-T1@prom:9090")
        assert error["type"] == "url"
        assert "canary" not in error["msg"]
        assert "'...@prom:9090'" in error["msg"]

    @pytest.mark.parametrize(
        ("url", "plain"),
        [("http://a", True), ("HTTP://a", True), ("https://a", False), ("minio:9000", False)],
    )
    def test_plaintext_http(self, url: str, plain: bool) -> None:
        """Only http:// URLs count as plain text."""
        assert plaintext_http(url) is plain


class TestBuiltinModules:
    """Every built-in module's schema, as editors will see it."""

    @pytest.mark.parametrize("name", ["monitoring", "storage", "security", "http", "pipeline", "triggers"])
    def test_schema_is_valid_and_documented(self, name: str) -> None:
        """The module is installed, its schema is valid draft 2020-12 and every property has a description."""
        schema = discover()[name].schema.model_json_schema()
        jsonschema.Draft202012Validator.check_schema(schema)
        models = [schema, *schema.get("$defs", {}).values()]
        missing = [
            f"{model.get('title')}.{prop}"
            for model in models
            for prop, spec in model.get("properties", {}).items()
            if "description" not in spec
        ]
        assert missing == []
