"""Reusable field types for settings schemas: durations, byte sizes, ratios, secrets and endpoints.

Each type validates in one cheap step, serialises back to what a person writes, and documents itself in
JSON Schema so that editors can check a YAML file as it is typed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Final

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    SecretStr,
    WithJsonSchema,
)
from pydantic.json_schema import DEFAULT_REF_TEMPLATE, GenerateJsonSchema, JsonSchemaMode
from pydantic_core import PydanticCustomError

from sharedconfig.durations import DURATION_PATTERN, format_duration, parse_duration
from sharedconfig.errors import ValidationError
from sharedconfig.redaction import scrub

__all__ = [
    "BYTE_SIZE_PATTERN",
    "ERROR_CODES",
    "ByteSize",
    "Duration",
    "HttpEndpoint",
    "NonEmptyStr",
    "NonNegativeInt",
    "Port",
    "PositiveDuration",
    "PositiveFloat",
    "PositiveInt",
    "Ratio",
    "Secret",
    "SecretUrl",
    "Settings",
    "SettingsJsonSchema",
    "parse_byte_size",
    "plaintext_http",
]

ERROR_CODES: Final[dict[str, str]] = {
    "duration": "VALIDATION_004",
    "byte_size": "VALIDATION_007",
    "url": "VALIDATION_008",
    "cron": "VALIDATION_008",
}
"""The custom error types raised by settings types (``cron``: triggers), mapped to registered issue codes."""


class SettingsJsonSchema(GenerateJsonSchema):
    """JSON Schema generator writing duration defaults as people do (``"30s"``, not ``"PT30S"``)."""

    def encode_default(self, dft: Any) -> Any:
        """Durations through ``format_duration``; everything else as pydantic does."""
        if isinstance(dft, timedelta):
            return format_duration(dft)
        return super().encode_default(dft)


class Settings(BaseModel):
    """Base of every settings schema: unknown keys are errors, values are frozen, aliases optional.

    Containers in schemas are tuples so that a validated snapshot cannot change under its readers. Inputs
    are hidden from the text of pydantic's errors because a bad value may be a secret. ``model_json_schema``
    uses :class:`SettingsJsonSchema` unless told otherwise.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, hide_input_in_errors=True)

    def __repr_args__(self) -> Iterable[tuple[str | None, Any]]:
        """Fields as pydantic shows them through the redaction rule (``repr`` reaches logs): URL passwords
        masked and values under secret-looking keys hidden, inside tuples and maps too."""
        for name, value in super().__repr_args__():
            yield name, scrub(value)

    @classmethod
    def model_json_schema(
        cls,
        by_alias: bool | None = None,
        ref_template: str = DEFAULT_REF_TEMPLATE,
        schema_generator: type[GenerateJsonSchema] = SettingsJsonSchema,
        mode: JsonSchemaMode = "validation",
        **kwargs: Any,
    ) -> dict[str, Any]:
        """The model's JSON Schema (draft 2020-12), with durations written as in configuration files."""
        return super().model_json_schema(by_alias, ref_template, schema_generator, mode, **kwargs)


# -- durations ---------------------------------------------------------------------------------------------


def _duration(value: Any) -> timedelta:
    try:
        return parse_duration(value)
    except ValidationError as exc:
        raise PydanticCustomError("duration", "{reason}", {"reason": exc.message}) from None


def _positive_duration(value: Any) -> timedelta:
    parsed = _duration(value)
    if not parsed:
        raise PydanticCustomError("duration", "{reason}", {"reason": "must be longer than 0s"})
    return parsed


_DURATION_DOC: Final = "A duration: a number and a unit (250ms, 30s, 2m, 1h30m, 7d), or a number of seconds."
_serialize_duration: Final = PlainSerializer(format_duration, return_type=str, when_used="json")


def _duration_schema(minimum: dict[str, float]) -> WithJsonSchema:
    return WithJsonSchema(
        {
            "anyOf": [{"type": "string", "pattern": DURATION_PATTERN}, {"type": "number", **minimum}],
            "description": _DURATION_DOC,
        }
    )


Duration = Annotated[
    timedelta, BeforeValidator(_duration), _serialize_duration, _duration_schema({"minimum": 0})
]
"""A non-negative ``timedelta`` written as ``"30s"``, ``"1h30m"`` or a number of seconds; dumps as text."""

PositiveDuration = Annotated[
    timedelta,
    BeforeValidator(_positive_duration),
    _serialize_duration,
    _duration_schema({"exclusiveMinimum": 0}),
]
"""A ``Duration`` longer than zero: for intervals and timeouts, where 0s cannot work."""


# -- byte sizes --------------------------------------------------------------------------------------------

_BYTE_UNITS: Final[dict[str, int]] = {
    "": 1,
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}
BYTE_SIZE_PATTERN: Final[str] = r"^\s*[0-9]+(\.[0-9]+)?\s*([kKmMgGtT][iI]?[bB]|[bB])?\s*$"
"""An anchored JSON Schema regular expression matching every byte-size string ``parse_byte_size`` accepts."""

_BYTE_SIZE: Final = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([kKmMgGtT][iI]?[bB]|[bB])?\s*")
_BYTE_EXAMPLES: Final = "a whole number of bytes or a number and a unit, e.g. 512MB, 2GiB, 1.5GB"


def _byte_error(value: object, reason: str) -> PydanticCustomError:
    shown = repr(value)
    shown = shown if len(shown) <= 60 else f"{shown[:56]}...{shown[-1]}"
    return PydanticCustomError("byte_size", "{reason}", {"reason": f"invalid byte size {shown}: {reason}"})


def parse_byte_size(value: object) -> int:
    """Bytes from an int or a string such as ``"512MB"`` (decimal SI) or ``"2GiB"`` (binary).

    Units are B, kB/MB/GB/TB (powers of 1000) and KiB/MiB/GiB/TiB (powers of 1024), in any letter case;
    a fraction is allowed when the result is a whole number of bytes (``"1.5GB"``). Raises
    ``PydanticCustomError`` of type ``byte_size`` with the bad value and examples.
    """
    if type(value) is int:
        if value < 0:
            raise _byte_error(value, "cannot be negative")
        return value
    if isinstance(value, bool):
        raise _byte_error(value, f"expected {_BYTE_EXAMPLES}, not a boolean")
    if isinstance(value, int | float):
        if not math.isfinite(value) or value != int(value):
            raise _byte_error(value, "not a whole number of bytes")
        return parse_byte_size(int(value))
    if not isinstance(value, str):
        raise _byte_error(value, f"expected {_BYTE_EXAMPLES}, not {type(value).__name__}")
    match = _BYTE_SIZE.fullmatch(value)
    if match is None:
        raise _byte_error(value, f"expected {_BYTE_EXAMPLES}")
    number, unit = match.groups()
    if "." not in number:
        return int(number) * _BYTE_UNITS[(unit or "").lower()]
    try:
        exact = Decimal(number) * _BYTE_UNITS[(unit or "").lower()]
    except InvalidOperation:  # pragma: no cover - the regex only lets decimal numbers through
        raise _byte_error(value, f"expected {_BYTE_EXAMPLES}") from None
    if exact != exact.to_integral_value():
        raise _byte_error(value, "not a whole number of bytes")
    return int(exact)


ByteSize = Annotated[
    int,
    BeforeValidator(parse_byte_size),
    WithJsonSchema(
        {
            "anyOf": [{"type": "integer", "minimum": 0}, {"type": "string", "pattern": BYTE_SIZE_PATTERN}],
            "description": "A size in bytes: a whole number, or a number and a unit (512MB, 2GiB, 1.5GB).",
        }
    ),
]
"""A non-negative number of bytes written as an int or ``"512MB"`` / ``"2GiB"``; dumps as an int."""


# -- numbers and strings -----------------------------------------------------------------------------------

Ratio = Annotated[float, Field(ge=0.0, le=1.0)]
"""A fraction from 0.0 to 1.0 (sample rates, thresholds, CPU shares)."""

PositiveInt = Annotated[int, Field(gt=0)]
"""An int of at least 1."""

NonNegativeInt = Annotated[int, Field(ge=0)]
"""An int of at least 0."""

PositiveFloat = Annotated[float, Field(gt=0.0)]
"""A float greater than 0."""

Port = Annotated[int, Field(ge=1, le=65535)]
"""A TCP or UDP port number."""

NonEmptyStr = Annotated[str, Field(min_length=1)]
"""A string with at least one character."""

Secret = SecretStr
"""A secret string: ``repr`` and JSON dumps show ``**********``; read it with ``get_secret_value()``."""


# -- endpoints ---------------------------------------------------------------------------------------------

_SCHEME_PATTERN: Final = r"^[a-z][a-z0-9+.-]*://"
_SCHEME: Final = re.compile(_SCHEME_PATTERN, re.IGNORECASE)


def _endpoint(value: str) -> str:
    if _SCHEME.match(value) is None:
        shown = repr(value) if len(value) <= 60 else repr(value[:56] + "...")
        if "@" in value:  # user:password@host without its scheme: the user info is no less secret
            shown = repr("...@" + value.rpartition("@")[2][:56])
        raise PydanticCustomError(
            "url",
            "{reason}",
            {"reason": f"{shown} is not a URL: write the scheme too, e.g. http://host:9090 or https://host"},
        )
    return value


def _secret_url(value: SecretStr) -> SecretStr:
    if _SCHEME.match(value.get_secret_value()) is None:
        # never quote the value: a webhook URL is itself the credential
        raise PydanticCustomError(
            "url", "{reason}", {"reason": "is not a URL: it must start with a scheme, e.g. https://"}
        )
    return value


HttpEndpoint = Annotated[
    str,
    AfterValidator(_endpoint),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": _SCHEME_PATTERN,
            "description": "A URL with its scheme, e.g. http://host:9090.",
        }
    ),
]
"""A URL kept exactly as written, checked only to start with a scheme (``http://``, ``https://``, ...)."""

SecretUrl = Annotated[
    SecretStr,
    AfterValidator(_secret_url),
    WithJsonSchema(
        {
            "type": "string",
            "format": "password",
            "writeOnly": True,
            "pattern": _SCHEME_PATTERN,
            "description": "A URL that is itself a credential (a webhook URL); redacted everywhere.",
        }
    ),
]
"""A secret URL such as a Slack webhook: redacted like ``Secret``, checked to start with a scheme."""


def plaintext_http(url: str) -> bool:
    """True when ``url`` is plain ``http://`` (so anything sent to it, credentials included, is readable)."""
    return url[:7].lower() == "http://"
