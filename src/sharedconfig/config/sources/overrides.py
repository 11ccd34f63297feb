"""Explicit overrides (``--set monitoring.sample_rate=0.5``) and application defaults as layers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from sharedconfig.config.issues import KeyPath, key_path
from sharedconfig.config.tree import Layer, ReadContext, mark_spots, nesting, number_problem, set_path
from sharedconfig.errors import ConfigError, Location
from sharedconfig.redaction import REDACTED, looks_secret, mask_userinfo

__all__ = ["DefaultsSource", "OverrideSource", "parse_override", "shown_value"]

_Loader: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_override(text: str) -> tuple[KeyPath, Any]:
    """``a.b.0.c=value`` -> (("a", "b", 0, "c"), value).

    Scalars stay text and are coerced by the schema, as environment values are (so ``bucket=123`` is the
    string "123" for a string field and 123 for an int field); ``[...]`` and ``{...}`` are read as YAML
    flow collections; ``null`` is None.
    """
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep:  # the text may be a pasted secret: it is never quoted
        raise ConfigError("an override without '=' is not KEY.PATH=VALUE", code="CONFIG_017")
    if not key or any(not p for p in key.split(".")):
        raise ConfigError(
            f"override key {key[:80]!r} is not a dotted key path (an empty part?)", code="CONFIG_017"
        )
    value: Any = raw
    if raw.strip()[:1] in ("[", "{"):  # lists and mappings are written as YAML flow (or JSON)
        try:
            _plain_only(raw, key)
            value = yaml.load(raw, Loader=_Loader)
        except yaml.YAMLError:  # the parser's message quotes the value, which may be a secret
            raise ConfigError(
                f"override {key}: the value is not a valid YAML flow collection (or JSON)",
                code="CONFIG_017",
                path=key,
            ) from None
        except RecursionError:
            raise ConfigError(
                f"override {key}: the value nests deeper than can be read", code="CONFIG_026", path=key
            ) from None
        except ValueError as exc:  # a scalar its type cannot hold (a 5,000-digit integer, day 99)
            reason = number_problem(exc) if "digits" in str(exc) else "a value does not fit its YAML type"
            raise ConfigError(
                f"override {key}: the value cannot be read: {reason}",
                code="CONFIG_017",
                path=key,
            ) from None
    elif raw.strip() in ("null", "~"):
        value = None
    path = key_path(key.split("."))
    return path, value


# the tags a plain YAML value carries: the same as a file may use (sources/files.py)
_PLAIN_TAGS = frozenset(
    f"tag:yaml.org,2002:{tag}" for tag in ("str", "int", "float", "bool", "null", "timestamp", "map", "seq")
)


def _plain_only(raw: str, key: str) -> None:
    """Refuse what a configuration value has no use for and what would make reading it unbounded: an
    alias (``[&a [x, x], [*a, *a]]`` grows exponentially, ``[&x [*x]]`` never ends) and any tag but the
    plain ones (``!!binary``, ``!!set``, ``!!python/...``), as in files. Nothing of the value is quoted."""
    for event in yaml.parse(raw, Loader=_Loader):
        if isinstance(event, yaml.AliasEvent):
            raise ConfigError(
                f"override {key}: the value uses a YAML alias (*name): write the values out",
                code="CONFIG_017",
                path=key,
            )
        tag = getattr(event, "tag", None)
        if isinstance(event, yaml.NodeEvent) and tag not in (None, "!") and tag not in _PLAIN_TAGS:
            raise ConfigError(
                f"override {key}: the value carries a YAML tag that is not allowed: write plain values",
                code="CONFIG_010",
                path=key,
            )


@dataclass(frozen=True, slots=True)
class OverrideSource:
    """``KEY.PATH=VALUE`` strings, e.g. from ``--set``; the highest precedence by default."""

    overrides: Sequence[str] = ()

    def read(self, ctx: ReadContext) -> list[Layer]:
        """One layer; a malformed override is an issue."""
        layer = Layer("override", "--set")
        for text in self.overrides:
            key, _, raw = text.partition("=")
            key = key.strip()
            try:
                path, value = parse_override(text)
            except ConfigError as exc:
                where = Location("override", key[:80] if "=" in text else "")
                layer.problem(exc.code, (), exc.message, spot=where)
                continue
            if len(path) + nesting(value) > ctx.max_depth:
                message = f"override {key[:80]}: nests more than {ctx.max_depth} levels deep"
                layer.problem("CONFIG_026", (), message, spot=Location("override", key[:80]))
                continue
            layer.put(path, value, Location("override", key, value=shown_value(path, raw, value)))
        return [layer]


_SHOWN_CHARACTERS = 40


def shown_value(path: KeyPath, raw: str, value: Any) -> str:
    """An override's value as its origin text may show it: never a secret (``**********`` under a key
    that looks secret; validation hides it too where the schema types the key as a secret), a URL's
    password masked, ``[...]``/``{...}`` for a collection (keys inside may be secret), long text cut."""
    if any(looks_secret(str(part)) for part in path):
        return REDACTED
    if isinstance(value, list):
        return "[...]"
    if isinstance(value, dict):
        return "{...}"
    text = mask_userinfo(raw)
    return text if len(text) <= _SHOWN_CHARACTERS else f"{text[: _SHOWN_CHARACTERS - 3]}..."


@dataclass(frozen=True, slots=True)
class DefaultsSource:
    """Embedded application defaults (a nested mapping), the lowest layer."""

    defaults: Mapping[str, Any] = field(default_factory=dict)
    name: str = "defaults"

    def read(self, ctx: ReadContext) -> list[Layer]:
        """One layer holding a copy of the defaults."""
        layer = Layer("default", self.name)
        for key, value in self.defaults.items():
            set_path(layer.data, (key,), value)
            mark_spots(layer, value, (key,), self.name)
        return [layer]
