"""The frozen ``Config`` snapshot: typed module settings, the merged tree, provenance and the report."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Generic, cast, overload

from pydantic import BaseModel, SecretStr
from pydantic import ValidationError as PydanticValidationError
from typing_extensions import TypeVar

from sharedconfig.config.issues import KeyPath, ValidationReport, format_path
from sharedconfig.config.modules import ConfigModule
from sharedconfig.config.root import RootSettings
from sharedconfig.config.tree import REDACTED, Provenance, looks_secret
from sharedconfig.durations import format_duration
from sharedconfig.errors import ConfigError, Location
from sharedconfig.redaction import mask_userinfo

__all__ = ["MISSING", "Config", "LoadTimings", "Sections", "leaves", "redacted_tree"]

MISSING: Any = type("Missing", (), {"__repr__": lambda self: "MISSING"})()
"""Stands for the absent side of a ``Config.diff`` row."""

M = TypeVar("M", bound=BaseModel)
S_co = TypeVar("S_co", bound=RootSettings, covariant=True, default=Any)
"""The root settings type of a ``Config`` (a ``RootSettings``); ``Any`` when loaded without ``settings=``."""


def leaves(value: Any, path: KeyPath = ()) -> Iterator[tuple[KeyPath, Any]]:
    """Every leaf of a nested mapping/list with its path (empty containers count as leaves)."""
    if isinstance(value, Mapping) and value:
        for key, item in value.items():
            yield from leaves(item, (*path, key))
    elif isinstance(value, list | tuple) and value:
        for index, item in enumerate(value):
            yield from leaves(item, (*path, index))
    else:
        yield path, value


def _mask(value: Any, path: KeyPath, provenance: Provenance) -> Any:
    if isinstance(value, Mapping):
        return {k: _mask(v, (*path, k), provenance) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mask(v, (*path, i), provenance) for i, v in enumerate(value)]
    if isinstance(value, SecretStr):
        return REDACTED
    if value is None or value in ("", REDACTED):
        return value
    key = path[-1] if path else ""
    if provenance.is_secret(path) or (isinstance(value, str) and looks_secret(str(key))):
        return REDACTED
    return mask_userinfo(value) if isinstance(value, str) else value


def redacted_tree(value: Any, provenance: Provenance, path: KeyPath = ()) -> Any:
    """A copy of ``value`` with every secret replaced by ``**********``.

    Secret means: a ``SecretStr`` field, a value from the secrets directory (or interpolated from one),
    or a key whose name looks secret (``password``, ``token``, ``api_key``, ...).
    """
    return _mask(value, path, provenance)


@dataclass(frozen=True, slots=True)
class LoadTimings:
    """How long the load that made a ``Config`` took, so a Monitoring built later can record it."""

    validation_seconds: float
    """The validation stage (schemas and validators)."""
    load_seconds: float
    """The whole load: reading, merging and validation."""


class Config(Generic[S_co]):
    """An immutable snapshot of validated configuration, generic in its root settings type.

    ``config.settings`` is the root the load was given (``load(..., settings=AppSettings)`` gives a
    ``Config[AppSettings]`` whose ``config.settings.orders`` a type checker knows); without one it is
    :class:`Sections`, every module by attribute, typed ``Any``. ``config.module("storage")`` (or
    ``config.storage``) gives one module's settings; ``config.get("monitoring.sample_rate")`` reads the
    merged tree; ``provenance`` says where values came from and ``report`` holds the warnings of the
    validation that produced it.
    """

    __slots__ = (
        "_absent",
        "_modules",
        "_registry",
        "_settings",
        "_tree",
        "profile",
        "provenance",
        "report",
        "timings",
    )
    _absent: dict[str, BaseModel]
    _modules: dict[str, BaseModel]
    _registry: dict[str, ConfigModule]
    _settings: S_co | None
    _tree: Mapping[str, Any]
    profile: str | None
    provenance: Provenance
    report: ValidationReport
    timings: LoadTimings | None
    """How long the load took (None for a Config made by hand)."""

    def __init__(
        self,
        modules: Mapping[str, BaseModel],
        tree: Mapping[str, Any],
        provenance: Provenance,
        report: ValidationReport,
        *,
        registry: Mapping[str, ConfigModule] | None = None,
        profile: str | None = None,
        timings: LoadTimings | None = None,
        settings: S_co | None = None,
    ) -> None:
        setter = object.__setattr__
        setter(self, "_modules", dict(modules))
        setter(self, "_tree", tree)
        setter(self, "provenance", provenance)
        setter(self, "report", report)
        setter(self, "_registry", dict(registry or {}))
        setter(self, "profile", profile)
        setter(self, "timings", timings)
        setter(self, "_absent", {})
        setter(self, "_settings", settings)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Config is immutable: load a new one (or reload) to change it")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("Config is immutable")

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self.module(name)
        except ConfigError as exc:
            if exc.code == "CONFIG_018":
                raise AttributeError(f"Config has no module {name!r}") from None
            raise

    @overload
    def module(self, name: str) -> BaseModel: ...
    @overload
    def module(self, name: str, schema: type[M]) -> M: ...

    def module(self, name: str, schema: type[M] | None = None) -> BaseModel:
        """The settings of module ``name``; defaults when its section is absent (and allowed to be)."""
        settings = self._modules.get(name) or self._absent.get(name)
        if settings is None:
            mod = self._registry.get(name)
            if mod is None:
                raise ConfigError(f"no configuration module named {name!r}", code="CONFIG_018", path=name)
            try:
                settings = mod.validate({})
            except PydanticValidationError as exc:
                missing = ", ".join(format_path(e["loc"]) for e in exc.errors())
                raise ConfigError(
                    f"section {name!r} is absent and has required keys ({missing})",
                    code="CONFIG_022",
                    path=name,
                ) from None
            self._absent[name] = settings
        if schema is not None and not isinstance(settings, schema):
            raise TypeError(f"module {name!r} holds {type(settings).__name__}, not {schema.__name__}")
        return settings

    @property
    def settings(self) -> S_co:
        """The typed root: ``config.settings.orders.max_batch`` (see ``RootSettings``); frozen.

        Made from the module settings this load validated (the same objects ``module()`` returns). For a
        Config loaded without ``settings=`` it is :class:`Sections`, where every attribute is ``Any``.
        """
        if self._settings is None:  # made on access: a view held here would be a reference cycle
            return cast(S_co, Sections(self))
        return self._settings

    @property
    def modules(self) -> tuple[str, ...]:
        """Names of the modules whose sections were present (or required)."""
        return tuple(self._modules)

    @property
    def tree(self) -> Mapping[str, Any]:
        """The merged, interpolated configuration tree as the sources gave it (secrets included)."""
        return self._tree

    def get(self, dotted: str, default: Any = None) -> Any:
        """A value of the merged tree by dotted path (``monitoring.metrics.exporters.0.type``)."""
        node: Any = self._tree
        for part in dotted.split("."):
            if isinstance(node, Mapping) and part in node:
                node = node[part]
            elif isinstance(node, list | tuple) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                return default
        return node

    def to_dict(self, *, redact: bool = True) -> dict[str, Any]:
        """The effective configuration (sources plus schema defaults), secrets redacted by default."""
        out: dict[str, Any] = {}
        for name, settings in self._modules.items():
            if redact:
                out[name] = redacted_tree(
                    settings.model_dump(mode="json", by_alias=True), self.provenance, (name,)
                )
            else:
                out[name] = _reveal(settings.model_dump(mode="python", by_alias=True))
        return out

    def explain(self) -> list[tuple[str, Any, Location | None]]:
        """Every effective leaf as (dotted path, redacted value, origin); origin None is a default."""
        data = self.to_dict()
        return [(format_path(path), value, self.provenance.origin(path)) for path, value in leaves(data)]

    def diff(self, other: Config[Any]) -> list[tuple[str, Any, Any]]:
        """Leaves that differ from ``other``: (dotted path, this value, other value), both redacted.

        A missing side is ``MISSING``; a changed secret shows as REDACTED on both sides.
        """
        mine, theirs = self.to_dict(redact=False), other.to_dict(redact=False)
        a = {format_path(p): v for p, v in leaves(mine)}
        b = {format_path(p): v for p, v in leaves(theirs)}
        shown_a = {format_path(p): v for p, v in leaves(self.to_dict())}
        shown_b = {format_path(p): v for p, v in leaves(other.to_dict())}
        return [
            (path, shown_a.get(path, MISSING), shown_b.get(path, MISSING))
            for path in sorted(a.keys() | b.keys())
            if a.get(path, MISSING) != b.get(path, MISSING)
        ]

    def __repr__(self) -> str:
        return f"Config(modules={list(self._modules)}, profile={self.profile!r})"

    def __eq__(self, other: object) -> bool:
        """Two snapshots are equal when their typed settings are (provenance is not compared)."""
        if not isinstance(other, Config):
            return NotImplemented
        return bool(self._modules == other._modules)

    __hash__ = None  # type: ignore[assignment]


class Sections:
    """``config.settings`` of a Config loaded without ``settings=``: every module's settings by attribute.

    ``config.settings.monitoring`` is ``config.module("monitoring")``, typed ``Any`` as ``config.monitoring``
    is; declare a ``RootSettings`` and pass it as ``load(..., settings=...)`` for names a type checker knows.
    """

    __slots__ = ("_config",)
    _config: Config[Any]

    def __init__(self, config: Config[Any]) -> None:
        object.__setattr__(self, "_config", config)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._config, name)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("settings are immutable: load a new Config (or reload) to change them")

    def __dir__(self) -> list[str]:
        return sorted({*self._config.modules, *self._config._registry})

    def __repr__(self) -> str:
        return f"Sections({', '.join(self._config.modules)})"


def _reveal(value: Any) -> Any:
    """Plain data for saving: secrets as their values, durations as strings."""
    if isinstance(value, Mapping):
        return {k: _reveal(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_reveal(v) for v in value]
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, timedelta):
        return format_duration(value)
    return value
