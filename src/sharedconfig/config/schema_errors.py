"""Turn pydantic's validation errors into issues: our codes, real key paths, did-you-mean, no secrets.

pydantic's ``loc`` names discriminator tags and model internals; users think in the keys they wrote, so
every ``loc`` is mapped back onto the data.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from sharedconfig.config.issues import KeyPath
from sharedconfig.config.schema_paths import secret_typed, tag_values, unwrap
from sharedconfig.config.tree import looks_secret
from sharedconfig.config.types import ERROR_CODES
from sharedconfig.config.validation import ValidationContext, did_you_mean
from sharedconfig.errors import REGISTRY

__all__ = ["report_schema_errors"]

_RANGE = {
    "greater_than",
    "greater_than_equal",
    "less_than",
    "less_than_equal",
    "multiple_of",
    "too_short",
    "too_long",
    "finite_number",
}
_CHOICE = {"literal_error", "enum", "union_tag_invalid"}


def _code(kind: str) -> str:
    if kind in ERROR_CODES:
        return ERROR_CODES[kind]
    if kind == "extra_forbidden":
        return "VALIDATION_001"
    if kind in ("missing", "union_tag_not_found"):
        return "VALIDATION_005"
    if kind in _RANGE:
        return "VALIDATION_003"
    if kind in _CHOICE:
        return "VALIDATION_006"
    if kind in ("value_error", "assertion_error", "string_pattern_mismatch"):
        return "VALIDATION_008"
    return "VALIDATION_002"


def _has(node: Any, part: int | str) -> bool:
    if isinstance(node, Mapping):
        return part in node
    return isinstance(node, list | tuple) and isinstance(part, int) and 0 <= part < len(node)


def _data_path(data: Any, loc: tuple[int | str, ...]) -> tuple[KeyPath, tuple[str, ...]]:
    """Map a pydantic ``loc`` onto the data: (path in the data, the tags skipped on the way)."""
    path: list[str | int] = []
    tags: list[str] = []
    node = data
    last = len(loc) - 1
    for i, part in enumerate(loc):
        if part == "[key]":  # pydantic's step into a mapping's key: the key itself is already in the path
            continue
        if _has(node, part):
            path.append(part)
            node = node[part]
        elif i < last and isinstance(part, str) and not isinstance(node, list | tuple):
            tags.append(part)  # a discriminator tag or a model-internal step
        else:
            path.append(part)
            node = None
    return tuple(path), tuple(tags)


def _keys_at(schema: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    """Valid keys of the model that holds the last element of ``loc`` (for did-you-mean)."""
    models: list[type[BaseModel]] = [schema]
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        nxt: list[type[BaseModel]] = []
        for model in models:
            field = model.model_fields.get(part)
            if field is not None:
                nxt.extend(unwrap(field.annotation))
            elif part in tag_values(model):
                nxt.append(model)
        if nxt:
            models = _narrow(nxt, loc, part)
    keys: list[str] = []
    for model in models:
        for name, field in model.model_fields.items():
            keys.append(field.alias or name)
    return keys


def _narrow(
    models: list[type[BaseModel]], loc: tuple[int | str, ...], part: int | str
) -> list[type[BaseModel]]:
    # inside a discriminated union, pydantic's loc names the tag next: keep that member only
    idx = loc.index(part)
    following = [p for p in loc[idx + 1 : -1] if isinstance(p, str)]
    if following:
        tagged = [m for m in models if following[0] in tag_values(m)]
        if tagged:
            return tagged
    return models


def _shown(value: Any) -> str | None:
    if isinstance(value, bool | int | float) or value is None:
        return repr(value)
    if isinstance(value, str) and len(value) <= 60:
        return repr(value)
    return None


def report_schema_errors(
    ctx: ValidationContext, module: str, schema: type[BaseModel], data: Any, error: PydanticValidationError
) -> None:
    """Report each error of ``error`` as an issue under ``module``."""
    ctx.schemas[module] = schema  # origin texts of the rejected section are checked against it
    for err in error.errors(include_url=False):
        kind = err["type"]
        loc = tuple(err["loc"])
        path, _tags = _data_path(data, loc)
        full = (module, *path)
        code = _code(kind)
        message = err["msg"]
        hint = ""
        if kind == "extra_forbidden":
            key = str(path[-1]) if path else ""
            message = f"unknown key {key!r}"
            suggestion = did_you_mean(key, _keys_at(schema, loc))
            if suggestion:
                hint = f"did you mean {suggestion!r}?"
        elif kind == "missing":
            message = f"required key {path[-1]!r} is missing" if path else "required value is missing"
        elif kind == "union_tag_invalid":
            full = (*full, "type")
            got = err.get("ctx", {}).get("tag")
            expected = err.get("ctx", {}).get("expected_tags", "")
            message = f"type {got!r} is not one of {expected}"
            tags = [t.strip(" '") for t in str(expected).split(",")]
            suggestion = did_you_mean(str(got), tags)
            if suggestion:
                hint = f"did you mean {suggestion!r}?"
        elif kind == "union_tag_not_found":
            full = (*full, "type")
            message = "required key 'type' is missing"
        secret = (
            any(looks_secret(str(p)) for p in full)
            or ctx.provenance.is_secret(full)
            or secret_typed(schema, loc)
        )
        if secret and code in ("VALIDATION_004", "VALIDATION_007", "VALIDATION_008"):
            message = f"{REGISTRY[code].title.lower()} (the value is secret and not shown)"
        elif code in ("VALIDATION_002", "VALIDATION_003", "VALIDATION_006") and not secret:
            shown = _shown(err.get("input"))
            if shown is not None:
                message = f"{message} (got {shown})"
        ctx.report(code, full, message, hint=hint)
