"""Tests for sharedconfig.errors: the code registry, the exception tree and ErrorHandler.

Retries use the delivery module's RetryPolicy without jitter and an injected sleep that records its
delays, so nothing here waits.
"""

from __future__ import annotations

import pickle
import re
from datetime import UTC, datetime

import pytest

from sharedconfig.errors import (
    REGISTRY,
    BulkheadFull,
    CallNotPermitted,
    Category,
    ConfigError,
    ConfigFileError,
    ConfigValidationError,
    DeliveryError,
    HTTPError,
    InterpolationError,
    Location,
    SecurityError,
    Severity,
    SharedConfigError,
    TriggerError,
    ValidationError,
    describe,
)
from sharedconfig.tracecontext import TraceContext, use


class TestRegistry:
    """Every registered code is well formed and actionable."""

    @pytest.mark.parametrize("code", sorted(REGISTRY))
    def test_code_is_well_formed_and_keyed_by_itself(self, code: str) -> None:
        """Codes look like PREFIX_NNN and the registry key is the code."""
        assert re.fullmatch(r"[A-Z]+_\d{3}", code)
        assert REGISTRY[code].code == code

    @pytest.mark.parametrize("code", sorted(REGISTRY))
    def test_category_matches_prefix(self, code: str) -> None:
        """Each code's category is the category named by its prefix."""
        assert REGISTRY[code].category is Category(code.partition("_")[0])
        assert REGISTRY[code].category.value == code.partition("_")[0]

    @pytest.mark.parametrize("code", sorted(REGISTRY))
    def test_has_title_and_hint(self, code: str) -> None:
        """Each code has a title and a hint a person can act on, written as a sentence."""
        entry = REGISTRY[code]
        assert entry.title.strip()
        assert not entry.title.endswith(".")
        assert entry.hint.strip()
        assert entry.hint.endswith(".")

    def test_every_category_has_a_code(self) -> None:
        """No category is left without at least one registered code."""
        assert {entry.category for entry in REGISTRY.values()} == set(Category)

    def test_duration_code_exists(self) -> None:
        """VALIDATION_004, used by durations, is registered as an invalid duration."""
        assert describe("VALIDATION_004").title == "Invalid duration"

    def test_describe_unknown_code_raises_key_error(self) -> None:
        """describe names the missing code in a KeyError."""
        with pytest.raises(KeyError, match="NOPE_001"):
            describe("NOPE_001")


class TestLocation:
    """Location renders as a compiler-style position or as its source."""

    @pytest.mark.parametrize(
        ("location", "text"),
        [
            (Location("file", "app.yaml", 3, 7), "app.yaml:3:7"),
            (Location("file", "app.yaml", 3), "app.yaml:3:1"),
            (Location("file", "app.yaml"), "app.yaml"),
            (Location("secret", "/run/secrets/db", 1, 1), "/run/secrets/db:1:1"),
            (Location("env", "APP_PORT"), "$APP_PORT"),
            (Location("env"), "environment"),
            (Location("dotenv", ".env", 2, variable="APP_PORT"), ".env:2 APP_PORT"),
            (Location("dotenv", ".env", 3, 5), ".env:3:5"),
            (Location("dotenv", ".env"), ".env"),
            (Location("override", "a.b", value="2"), "--set a.b=2"),
            (Location("override", "a.b"), "--set a.b"),
            (Location("override"), "--set"),
            (Location("option", "ignore"), "option ignore"),
            (Location("default"), "default"),
        ],
    )
    def test_str(self, location: Location, text: str) -> None:
        """Each source kind renders as documented."""
        assert str(location) == text

    def test_to_dict_gives_the_origin_text_of_any_location(self) -> None:
        """An error located at a variable carries its origin text in ``source``; ``file`` stays None."""
        data = SharedConfigError("bad port", location=Location("env", "APP_PORT")).to_dict()
        assert (data["source"], data["file"]) == ("$APP_PORT", None)
        dotenv = SharedConfigError(
            "bad", location=Location("dotenv", ".env", 2, variable="APP_PORT")
        ).to_dict()
        assert (dotenv["source"], dotenv["file"], dotenv["line"]) == (".env:2 APP_PORT", ".env", 2)


class TestSharedConfigError:
    """SharedConfigError carries everything a person needs and renders it in one line."""

    def test_defaults_come_from_the_registry(self) -> None:
        """Without arguments the code is CONFIG_001, with its registered hint and retryability."""
        error = SharedConfigError("could not load")
        assert error.code == "CONFIG_001"
        assert error.category is Category.CONFIG
        assert error.hint == REGISTRY["CONFIG_001"].hint
        assert error.recoverable is True
        assert error.severity is Severity.ERROR
        assert (error.location, error.path, error.details, error.cause) == (None, "", {}, None)
        assert (error.file, error.line, error.column) == (None, None, None)

    def test_explicit_fields(self) -> None:
        """Every keyword argument is kept as given."""
        cause = OSError("disk")
        error = SharedConfigError(
            "bad port",
            code="VALIDATION_003",
            location=Location("file", "app.yaml", 4, 9),
            path="http.port",
            hint="Use 1-65535.",
            details={"value": 70000},
            cause=cause,
            module="http",
            component="server",
            operation="load",
            recoverable=True,
            severity=Severity.WARNING,
        )
        assert (error.code, error.category, error.hint) == (
            "VALIDATION_003",
            Category.VALIDATION,
            "Use 1-65535.",
        )
        assert (error.file, error.line, error.column, error.path) == ("app.yaml", 4, 9, "http.port")
        assert (error.module, error.component, error.operation) == ("http", "server", "load")
        assert error.recoverable is True
        assert error.cause is cause
        assert error.__cause__ is cause

    def test_location_outside_a_file_has_no_file(self) -> None:
        """An env-var location gives no file, line or column."""
        error = SharedConfigError("x", location=Location("env", "APP_PORT"))
        assert (error.file, error.line, error.column) == (None, None, None)

    def test_details_are_copied(self) -> None:
        """Changing the caller's details afterwards does not change the error."""
        details = {"a": 1}
        error = SharedConfigError("x", details=details)
        details["a"] = 2
        assert error.details == {"a": 1}

    def test_unregistered_code_has_no_hint_and_is_not_recoverable(self) -> None:
        """A code missing from the registry gives an empty hint and recoverable False."""
        error = SharedConfigError("x", code="CONFIG_999")
        assert (error.hint, error.recoverable) == ("", False)

    def test_explicit_empty_hint_overrides_registry(self) -> None:
        """hint='' is kept rather than replaced by the registered hint."""
        assert SharedConfigError("x", hint="").hint == ""

    @pytest.mark.parametrize(
        ("kwargs", "text"),
        [
            ({}, "error CONFIG_001: boom"),
            ({"path": "a.b"}, "error CONFIG_001 a.b: boom"),
            (
                {"location": Location("file", "c.yaml", 2, 5), "path": "a.b", "code": "CONFIG_009"},
                "c.yaml:2:5: error CONFIG_009 a.b: boom",
            ),
            ({"severity": Severity.WARNING, "code": "VALIDATION_030"}, "warning VALIDATION_030: boom"),
        ],
    )
    def test_format_and_str(self, kwargs: dict[str, object], text: str) -> None:
        """format() is 'where: severity CODE path: message' and str() is the same text."""
        error = SharedConfigError("boom", **kwargs)  # type: ignore[arg-type]  # kwargs vary per case
        assert error.format() == text
        assert str(error) == text

    def test_to_dict(self) -> None:
        """to_dict holds every documented field in JSON-ready form."""
        with use(TraceContext("trace-1", "span-1")):
            error = ConfigFileError(
                "tab in indentation",
                code="CONFIG_008",
                location=Location("file", "app.yaml", 3, 1),
                path="monitoring",
                details={"char": "\t"},
                cause=ValueError("tab"),
                module="monitoring",
            )
        data = error.to_dict()
        timestamp = data.pop("timestamp")
        assert data == {
            "code": "CONFIG_008",
            "category": "CONFIG",
            "message": "tab in indentation",
            "file": "app.yaml",
            "line": 3,
            "column": 1,
            "source": "app.yaml:3:1",
            "path": "monitoring",
            "hint": REGISTRY["CONFIG_008"].hint,
            "details": {"char": "\t"},
            "cause": "ValueError: tab",
            "module": "monitoring",
            "component": "",
            "operation": "",
            "recoverable": False,
            "severity": "error",
            "trace_id": "trace-1",
            "span_id": "span-1",
        }
        assert isinstance(timestamp, str)
        assert datetime.fromisoformat(timestamp).tzinfo is not None

    def test_timestamp_is_aware_utc_now(self) -> None:
        """The timestamp is the creation time in UTC."""
        before = datetime.now(UTC)
        error = SharedConfigError("x")
        assert before <= error.timestamp <= datetime.now(UTC)

    def test_no_trace_outside_a_span(self) -> None:
        """Without an active trace the ids are empty strings."""
        error = SharedConfigError("x")
        assert (error.trace_id, error.span_id) == ("", "")

    @pytest.mark.parametrize(
        "error",
        [
            SharedConfigError("x", path="a.b", details={"k": 1}),
            ConfigValidationError("invalid", issues=("a: bad", "b: worse"), path="p"),
            ValidationError("bad duration", code="VALIDATION_004", cause=ValueError("v")),
        ],
    )
    def test_pickle_round_trip_keeps_text_and_fields(self, error: SharedConfigError) -> None:
        """An error crossing a process boundary keeps its text, type and fields (not formatted twice)."""
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error)
        assert str(copy) == str(error)
        assert copy.to_dict() == error.to_dict()


class TestSubclasses:
    """Each subclass has its category's default code and sits in the documented tree."""

    @pytest.mark.parametrize(
        ("cls", "code", "parent"),
        [
            (ConfigError, "CONFIG_001", SharedConfigError),
            (ConfigFileError, "CONFIG_007", ConfigError),
            (InterpolationError, "CONFIG_015", ConfigError),
            (ConfigValidationError, "CONFIG_002", ConfigError),
            (ValidationError, "VALIDATION_008", SharedConfigError),
            (SecurityError, "SECURITY_001", SharedConfigError),
            (HTTPError, "HTTP_001", SharedConfigError),
            (TriggerError, "TRIGGER_001", SharedConfigError),
        ],
    )
    def test_default_code_and_parent(self, cls: type[SharedConfigError], code: str, parent: type) -> None:
        """The default code is registered, used when none is given, and the class has its parent."""
        error = cls("x")
        assert error.code == cls.default_code == code
        assert code in REGISTRY
        assert issubclass(cls, parent)
        assert isinstance(error, Exception)

    def test_explicit_code_overrides_default(self) -> None:
        """A code passed to a subclass wins over its default."""
        assert ValidationError("x", code="VALIDATION_004").code == "VALIDATION_004"

    def test_config_validation_error_lists_issues(self) -> None:
        """ConfigValidationError keeps its issues and prints one indented line per issue."""
        error = ConfigValidationError("2 errors", issues=("a.b: wrong type", "c: unknown key"))
        assert error.issues == ("a.b: wrong type", "c: unknown key")
        assert str(error) == "error CONFIG_002: 2 errors\n  a.b: wrong type\n  c: unknown key"


class TestDeliveryErrors:
    """The delivery branch of the tree: DeliveryError, CallNotPermitted, BulkheadFull."""

    @pytest.mark.parametrize(
        ("error", "recoverable"),
        [
            (DeliveryError("x"), True),
            (DeliveryError("x", retryable=False), False),
            (DeliveryError("x", status=503), True),
            (DeliveryError("x", status=400), False),
            (DeliveryError("x", status=400, retryable=True), True),
        ],
    )
    def test_recoverable_follows_flag_then_status(self, error: DeliveryError, recoverable: bool) -> None:
        """An explicit retryable flag wins; else the status decides; else the code's registered default."""
        assert error.code == "DELIVERY_001"
        assert error.recoverable is recoverable

    def test_refusals_carry_their_code_and_details(self) -> None:
        """A refused call and a full bulkhead have their own codes, are not retryable and say who refused."""
        refused = CallNotPermitted("open", breaker="sink", state="OPEN", retry_in=3.0)
        assert (refused.code, refused.recoverable, refused.details) == (
            "DELIVERY_002",
            False,
            {"breaker": "sink", "state": "OPEN", "retry_in": 3.0},
        )
        full = BulkheadFull("full", delivery="sink")
        assert (full.code, full.recoverable, full.details) == ("DELIVERY_003", False, {"delivery": "sink"})
        assert isinstance(refused, DeliveryError) and isinstance(full, DeliveryError)
        assert refused.category is Category.DELIVERY

    def test_delivery_error_pickles(self) -> None:
        """Status and Retry-After survive a pickle round trip."""
        error = DeliveryError("x", status=429, retry_after=7.0)
        copy = pickle.loads(pickle.dumps(error))
        assert (copy.status, copy.retry_after, copy.retryable, str(copy)) == (429, 7.0, None, str(error))
