"""JSON Schema (draft 2020-12) of the whole configuration or of one module, for editors and CI."""

from __future__ import annotations

from typing import Any

from pydantic.json_schema import models_json_schema

from sharedconfig.config.modules import discover
from sharedconfig.config.types import SettingsJsonSchema
from sharedconfig.errors import ConfigError

__all__ = ["DIALECT", "config_schema"]

DIALECT = "https://json-schema.org/draft/2020-12/schema"

_RULES: dict[str, Any] = {
    "type": "object",
    "description": "Validation rule configuration: switch checks off or change their severity.",
    "properties": {
        "ignore": {"type": "array", "items": {"type": "string", "pattern": "^[A-Z]+_[0-9]{3}$"}},
        "severity": {
            "type": "object",
            "propertyNames": {"pattern": "^[A-Z]+_[0-9]{3}$"},
            "additionalProperties": {"enum": ["error", "warning"]},
        },
    },
    "additionalProperties": False,
}


# any scalar in a file may be written as ${VAR}; editors must not flag what the loader accepts
INTERPOLATED: dict[str, Any] = {
    "type": "string",
    "pattern": r"\$\{[A-Za-z_][A-Za-z0-9_]*(:[-?][^}]*)?\}",
    "description": "A ${VAR}, ${VAR:-default} or ${VAR:?message} reference, resolved when loading.",
}
_SCALAR_TYPES = {"number", "integer", "boolean", "string"}


def _allow_interpolation(node: Any) -> Any:
    if isinstance(node, list):
        return [_allow_interpolation(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {k: _allow_interpolation(v) for k, v in node.items()}
    kind = out.get("type")  # inside "properties", "type" may be a property's name: check it is a keyword
    constrained = isinstance(kind, str) and kind in _SCALAR_TYPES and not {"enum", "const"} & out.keys()
    if constrained and (kind != "string" or {"pattern", "format", "minLength"} & out.keys()):
        keep = {k: out.pop(k) for k in ("title", "description", "default", "examples") if k in out}
        return {**keep, "anyOf": [out, INTERPOLATED]}
    return out


def config_schema(module: str | None = None) -> dict[str, Any]:
    """The schema of every installed module (or of ``module`` alone) as one document."""
    registry = discover()
    if module is not None:
        if module not in registry:
            raise ConfigError(
                f"no configuration module named {module!r}",
                code="CONFIG_018",
                path=module,
                hint=f"installed modules: {', '.join(sorted(registry))}",
            )
        single = registry[module].schema.model_json_schema(
            mode="validation", schema_generator=SettingsJsonSchema
        )
        return {"$schema": DIALECT, **_allow_interpolation(single), "title": f"sharedconfig {module}"}
    names = sorted(registry)
    keyed, defs = models_json_schema(
        [(registry[n].schema, "validation") for n in names], ref_template="#/$defs/{model}"
    )
    properties: dict[str, Any] = {n: keyed[(registry[n].schema, "validation")] for n in names}
    defs = _allow_interpolation(defs)
    properties["validation"] = _RULES
    return {
        "$schema": DIALECT,
        "title": "sharedconfig configuration",
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
        **defs,
    }
