"""Configuration modules: one typed section of the config each, found through entry points.

A module is the seed's ConfigModule: a name, a pydantic schema, defaults, a ``validate`` that turns the
section into typed settings, extra validators for the pipeline, and ``override``. Built-in modules are
registered exactly like third-party ones, in the ``sharedconfig.modules`` entry-point group.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib.metadata import entry_points
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel

from sharedconfig.config.issues import KeyPath
from sharedconfig.config.validation import ValidationContext, Validator
from sharedconfig.errors import ConfigError

__all__ = [
    "ENTRY_POINT_GROUP",
    "BrokenModule",
    "ConfigModule",
    "ModuleCheck",
    "SettingsModule",
    "discover",
    "installed",
    "module_check",
    "resolve",
]

ENTRY_POINT_GROUP = "sharedconfig.modules"
M = TypeVar("M", bound=BaseModel)


@runtime_checkable
class ConfigModule(Protocol):
    """The seed's ConfigModule (name, schema, defaults, validate, override) in Python."""

    @property
    def name(self) -> str:
        """The top-level key of the module's section, e.g. ``monitoring``."""
        ...

    @property
    def schema(self) -> type[BaseModel]:
        """The pydantic model of the section."""
        ...

    @property
    def validators(self) -> Sequence[Validator]:
        """Extra pipeline validators (security, performance, compliance checks) of this module."""
        ...

    def defaults(self) -> Mapping[str, Any]:
        """The section's defaults as plain data (empty when some fields are required)."""
        ...

    def validate(self, data: Mapping[str, Any]) -> BaseModel:
        """Turn the raw section into typed settings; raises ``pydantic.ValidationError``."""
        ...

    def override(self, settings: BaseModel, overrides: Mapping[str, Any]) -> BaseModel:
        """New settings with ``overrides`` (nested mapping) applied and validated again."""
        ...


def _deep_merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        old = out.get(key)
        if isinstance(old, Mapping) and isinstance(value, Mapping):
            out[key] = _deep_merge(old, value)
        else:
            out[key] = value
    return out


@dataclass(frozen=True, slots=True)
class SettingsModule(Generic[M]):
    """The ordinary module: a schema plus validators. Component packages export one as ``module``."""

    name: str
    schema: type[M]
    validators: tuple[Validator, ...] = ()
    description: str = ""

    def defaults(self) -> Mapping[str, Any]:
        """The schema's defaults; empty when the schema has required fields."""
        return _defaults(self.schema)

    def validate(self, data: Mapping[str, Any]) -> M:
        """Validate the raw section (lax mode: env strings are coerced by the schema)."""
        return self.schema.model_validate(data)

    def override(self, settings: BaseModel, overrides: Mapping[str, Any]) -> M:
        """Apply nested ``overrides`` to ``settings`` and validate the result."""
        base = settings.model_dump(mode="python", by_alias=True, round_trip=True)
        return self.schema.model_validate(_deep_merge(base, overrides))


@cache
def _defaults(schema: type[BaseModel]) -> Mapping[str, Any]:
    if any(f.is_required() for f in schema.model_fields.values()):
        return {}
    return schema().model_dump(mode="python", by_alias=True)


class ModuleCheck(Generic[M]):
    """A validator bound to one module: runs only when that module's settings validated."""

    __slots__ = ("func", "module", "name", "priority")

    def __init__(self, module: str, name: str, priority: int, func: Callable[[M, ValidationContext], None]):
        self.module = module
        self.name = name
        self.priority = priority
        self.func = func

    def validate(self, ctx: ValidationContext) -> None:
        """Call the check with the module's settings, when it has them."""
        settings = ctx.settings(self.module)
        if settings is not None:
            self.func(settings, ctx)


def module_check(
    module: str, name: str, priority: int
) -> Callable[[Callable[[Any, ValidationContext], None]], ModuleCheck[Any]]:
    """Decorator: ``@module_check("monitoring", "events_batch", PERFORMANCE) def f(settings, ctx): ...``."""

    def wrap(func: Callable[[Any, ValidationContext], None]) -> ModuleCheck[Any]:
        return ModuleCheck(module, name, priority, func)

    return wrap


@dataclass(frozen=True, slots=True)
class BrokenModule:
    """An installed module's entry point that could not be loaded: its name, target and what went wrong."""

    name: str
    target: str
    problem: str
    hint: str = "Reinstall the package that provides the module, or uninstall it."

    def __str__(self) -> str:
        return f"module {self.name!r} ({self.target}) {self.problem}"


@cache
def installed() -> tuple[Mapping[str, ConfigModule], tuple[BrokenModule, ...]]:
    """Every installed module by name, and the entry points that failed to load; once per process."""
    found: dict[str, ConfigModule] = {}
    broken: list[BrokenModule] = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            obj = ep.load()
        except Exception as exc:
            broken.append(BrokenModule(ep.name, ep.value, f"failed to import: {type(exc).__name__}: {exc}"))
            continue
        if not isinstance(obj, ConfigModule):
            broken.append(
                BrokenModule(
                    ep.name,
                    ep.value,
                    "is not a ConfigModule",
                    "The entry point must name an object with name, schema, validators, defaults, "
                    "validate and override, such as a SettingsModule.",
                )
            )
            continue
        found[obj.name] = obj
    return found, tuple(broken)


def discover() -> Mapping[str, ConfigModule]:
    """Every installed module by name; raises ``ConfigError`` (CONFIG_019) if an entry point is broken.

    ``load()`` does not raise here: a broken module fails only the configurations with its section
    (see ``resolve``).
    """
    found, broken = installed()
    if broken:
        first = broken[0]
        raise ConfigError(str(first), code="CONFIG_019", hint=first.hint)
    return found


def resolve(
    modules: Iterable[ConfigModule] | None, *, discover: bool = True
) -> tuple[dict[str, ConfigModule], tuple[BrokenModule, ...]]:
    """The modules a load validates with, by name, and the broken entry points among the installed ones.

    The installed modules (unless ``discover`` is false) plus ``modules``; a given module replaces an
    installed one of the same name.
    """
    registry: dict[str, ConfigModule] = {}
    broken: tuple[BrokenModule, ...] = ()
    if discover:
        found, broken = installed()
        registry.update(found)
    registry.update((m.name, m) for m in modules or ())
    return registry, tuple(b for b in broken if b.name not in registry)


def path_of(*parts: str | int) -> KeyPath:
    """Spell a path tuple readably in checks: ``path_of("monitoring", "events", "batch_size")``."""
    return parts
