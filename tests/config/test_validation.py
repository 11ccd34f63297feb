"""Tests for the validation pipeline's built-in validators (the checks of the configuration layer)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, SecretStr

from sharedconfig.config.tree import Layer, Provenance
from sharedconfig.config.validation import (
    BUILTIN_VALIDATORS,
    SECRETS_IN_FILES,
    SECURITY,
    ValidationContext,
    run_pipeline,
)


class Exporter(BaseModel):
    """A list item holding a secret."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    api_key: SecretStr | None = None


class Demo(BaseModel):
    """A section with secrets at the top, in a list, and in a mapping."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    token: SecretStr | None = None
    exporters: tuple[Exporter, ...] = ()
    keys: dict[str, SecretStr] = {}


def context(layer: Layer, settings: Demo) -> ValidationContext:
    return ValidationContext({}, Provenance([layer]), modules={"demo": settings})


class TestSecretsInFiles:
    def test_is_built_in_at_security_priority(self) -> None:
        """secrets_in_files runs in every load, at SECURITY priority, under its stable name."""
        assert SECRETS_IN_FILES in BUILTIN_VALIDATORS
        assert (SECRETS_IN_FILES.name, SECRETS_IN_FILES.priority) == ("secrets_in_files", SECURITY)

    def test_literal_secrets_in_a_file_warn_wherever_they_sit(self) -> None:
        """A secret written in a file warns VALIDATION_010 at its path, in lists and mappings too."""
        layer = Layer("file", "a.yaml")
        for path in [("demo", "token"), ("demo", "exporters", 0, "api_key"), ("demo", "keys", "k")]:
            layer.spots[path] = (1, 1)
        settings = Demo(token="t", exporters=(Exporter(api_key="a"),), keys={"k": "v"})
        ctx = context(layer, settings)
        run_pipeline(BUILTIN_VALIDATORS, ctx)
        assert [(i.code, i.path, i.severity, i.validator) for i in ctx.issues] == [
            ("VALIDATION_010", "demo.token", "warning", "secrets_in_files"),
            ("VALIDATION_010", "demo.exporters.0.api_key", "warning", "secrets_in_files"),
            ("VALIDATION_010", "demo.keys.k", "warning", "secrets_in_files"),
        ]

    def test_interpolated_or_non_file_secrets_do_not_warn(self) -> None:
        """A secret from ${VAR} or from the environment is not plain text in a file."""
        from_file = Layer("file", "a.yaml")
        from_file.spots[("demo", "token")] = (1, 1)
        from_file.interpolated.add(("demo", "token"))
        from_env = Layer("env", "environment")
        from_env.spots[("demo", "token")] = "SHAREDCONFIG_DEMO__TOKEN"
        for layer in (from_file, from_env):
            ctx = context(layer, Demo(token="t"))
            run_pipeline(BUILTIN_VALIDATORS, ctx)
            assert ctx.issues == []
