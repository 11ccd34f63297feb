"""Typed access to a whole configuration: a root settings class whose fields are the modules' sections.

``RootSettings`` is what an application declares (``orders: OrdersSettings``); ``plan`` checks it against
the installed modules once per load (``CONFIG_028``), and ``build`` fills it with the validated settings.
"""

from __future__ import annotations

import inspect
import os
import re
import types
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar, Union, cast, get_args, get_origin

from pydantic import BaseModel, ConfigDict, PydanticUndefinedAnnotation
from pydantic.fields import FieldInfo

from sharedconfig.config.modules import BrokenModule, ConfigModule
from sharedconfig.config.validation import did_you_mean
from sharedconfig.errors import ConfigError, Location

__all__ = ["RootSettings", "Section", "build", "plan"]


R = TypeVar("R", bound="RootSettings")


class RootSettings(BaseModel):
    """Base of an application's root settings: one field per configuration module it reads.

    A field's name is the module's name (or its alias, for a name that is not an identifier) and its type
    is exactly the module's schema::

        class AppSettings(sharedconfig.RootSettings):
            monitoring: MonitoringSettings            # the section must validate (defaults when absent)
            orders: OrdersSettings
            storage: StorageSettings | None = None    # None when the section is absent

    ``load(..., settings=AppSettings)`` gives a ``Config[AppSettings]`` whose ``settings`` is an instance
    made from the module settings the load validated (not validated twice); it is frozen. Sections the
    root does not name load as before and stay reachable through ``config.module(name)``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")


@dataclass(frozen=True, slots=True)
class Section:
    """One field of a root: the field, the module it reads, and whether its section must validate."""

    field: str
    module: str
    required: bool
    """True for ``orders: OrdersSettings``: an absent section is validated from the module's defaults."""


_OPTIONAL_HINT = (
    "Declare `{field}: {schema}` (the section must validate; the schema's defaults when it is absent) "
    "or `{field}: {schema} | None = None` (None when it is absent)."
)


def _optional(annotation: Any) -> Any:
    """``X`` for ``X | None`` / ``Optional[X]``, else None."""
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1 and len(get_args(annotation)) == 2:
            return args[0]
    return None


def _type_name(annotation: Any) -> str:
    return annotation.__name__ if isinstance(annotation, type) else repr(annotation).replace("typing.", "")


def _problem(name: str, info: FieldInfo, registry: Mapping[str, ConfigModule]) -> tuple[str, str] | None:
    """(message, hint) when the field does not describe a module's section, else None."""
    module_name = info.alias or name
    module = registry.get(module_name)
    if module is None:
        suggestion = did_you_mean(module_name, registry)
        hint = (
            f"did you mean {suggestion!r}?"
            if suggestion
            else f"installed modules: {', '.join(sorted(registry)) or 'none'}"
        )
        alias = f" (through its alias {module_name!r})" if info.alias else ""
        return f"names no configuration module{alias}", hint
    schema = module.schema
    annotation = info.annotation
    inner = _optional(annotation)
    shown = {"field": name, "schema": schema.__name__}
    if annotation is not schema and inner is not schema:
        return (
            f"is typed {_type_name(annotation)}, but module {module_name!r} holds "
            f"{schema.__module__}.{schema.__name__}",
            f"Type the field `{name}: {schema.__name__}` (imported from {schema.__module__}).",
        )
    if annotation is schema and info.is_required():
        return None
    if inner is schema and not info.is_required() and info.default is None:
        return None
    if inner is schema and info.is_required():
        return "may be None but has no default: an optional section is `= None`", _OPTIONAL_HINT.format(
            **shown
        )
    return (
        "has a default other than None: a section's defaults come from its module's schema",
        _OPTIONAL_HINT.format(**shown),
    )


def _field_location(root: type[BaseModel], name: str) -> Location | None:
    """Where field ``name`` is declared (file:line:column of its line in the class that declares it).

    The class statement's line for a field not found (or ``name`` empty)."""
    owner = next((c for c in root.__mro__ if name in inspect.get_annotations(c)), root)
    try:
        path = inspect.getsourcefile(owner)
        lines, first = inspect.getsourcelines(owner)
    except (OSError, TypeError):
        return None
    if path is None:
        return None
    shown = os.path.relpath(path) if not os.path.relpath(path).startswith("..") else path
    pattern = re.compile(rf"^(\s*){re.escape(name)}\s*:")
    for offset, text in enumerate(lines):
        match = pattern.match(text) if name else None
        if match:
            return Location("file", shown, first + offset, len(match.group(1)) + 1)
    return Location("file", shown, first, 1)


def plan(
    root: type[RootSettings], registry: Mapping[str, ConfigModule], broken: Iterable[BrokenModule] = ()
) -> tuple[Section, ...]:
    """The sections ``root`` reads; raises ``ConfigError`` (CONFIG_028) when a field matches no module.

    Every field must be named like a module (or aliased to one) and typed exactly as its schema:
    ``X`` (the section must validate) or ``X | None = None`` (None when absent). The error is located at
    the first wrong field's line; ``details["fields"]`` names every wrong one. A field naming a module whose
    entry point is ``broken`` raises CONFIG_019 as a configuration with that section would.
    """
    if not (isinstance(root, type) and issubclass(root, RootSettings)):
        raise TypeError(f"settings= takes a subclass of sharedconfig.RootSettings, not {root!r}")
    if not root.__pydantic_complete__:  # an annotation named something undefined when the class was made
        try:
            root.model_rebuild()
        except PydanticUndefinedAnnotation as exc:
            raise ConfigError(
                f"{root.__qualname__} has an annotation that cannot be resolved: {exc.name!r}",
                code="CONFIG_028",
                location=_field_location(root, ""),
                hint=f"Import {exc.name} in the module that defines {root.__qualname__}.",
            ) from None
    if not root.model_config.get("frozen"):
        raise ConfigError(
            f"{root.__qualname__} is not frozen: the settings of a snapshot never change",
            code="CONFIG_028",
            location=_field_location(root, ""),
            hint=f"Remove frozen=False from the model_config of {root.__qualname__}.",
        )
    unloadable = {b.name: b for b in broken}
    for name, info in root.model_fields.items():
        failed = unloadable.get(info.alias or name)
        if failed is not None:
            raise ConfigError(
                str(failed),
                code="CONFIG_019",
                location=_field_location(root, name),
                path=failed.name,
                hint=failed.hint,
            )
    problems: dict[str, tuple[str, str]] = {}
    sections: list[Section] = []
    for name, info in root.model_fields.items():
        problem = _problem(name, info, registry)
        if problem is not None:
            problems[name] = problem
        else:
            module = info.alias or name
            sections.append(Section(name, module, required=info.annotation is registry[module].schema))
    if problems:
        name, (message, hint) = next(iter(problems.items()))
        message = f"{root.__qualname__}.{name} {message}"
        if len(problems) > 1:
            message += f" (also wrong: {', '.join(list(problems)[1:])})"
        raise ConfigError(
            message,
            code="CONFIG_028",
            location=_field_location(root, name),
            path=root.model_fields[name].alias or name,
            hint=hint,
            details={"root": f"{root.__module__}.{root.__qualname__}", "fields": list(problems)},
        )
    return tuple(sections)


def build(root: type[R], sections: tuple[Section, ...], modules: Mapping[str, BaseModel]) -> R:
    """An instance of ``root`` holding the validated ``modules`` (not validated again); frozen.

    A required section is in ``modules`` (the load validated it even when absent); an optional one that
    is absent is None.
    """
    values: dict[str, Any] = {
        s.field: modules[s.module] if s.required else modules.get(s.module) for s in sections
    }
    # the pydantic mypy plugin types model_construct on type[R] as the bound's, not R
    return cast(R, root.model_construct(set(values), **values))
