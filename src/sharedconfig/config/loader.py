"""``load()``: read the sources, merge them, validate every module and the pipeline, return a snapshot.

Every problem is collected into one report. ``check`` is the one code path and returns an ``Outcome``
(the CLI's ``validate`` uses it); ``load`` is ``check`` plus ``Outcome.config_or_raise()``, which raises
``ConfigValidationError`` when the report has errors. Their options are declared once, in ``LoadOptions``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from typing import Any, Generic, TypedDict, TypeVar, Unpack, overload

from pydantic import ValidationError as PydanticValidationError

from sharedconfig import tracecontext
from sharedconfig.config.hooks import NO_HOOKS, ConfigHooks
from sharedconfig.config.issues import ValidationReport
from sharedconfig.config.modules import ConfigModule, resolve
from sharedconfig.config.root import RootSettings, build, plan
from sharedconfig.config.schema_errors import report_schema_errors
from sharedconfig.config.snapshot import Config, LoadTimings, S_co
from sharedconfig.config.sources import (
    DefaultsSource,
    DotenvSource,
    EnvSource,
    FileSource,
    OverrideSource,
    ProfileSource,
    SecretsSource,
    Source,
)
from sharedconfig.config.sources.env import DEFAULT_PREFIX, read_dotenv
from sharedconfig.config.sources.secrets import read_secret_files, secret_path
from sharedconfig.config.stores import StoreSource
from sharedconfig.config.tree import Layer, Provenance, ReadContext, merge
from sharedconfig.config.validation import (
    BUILTIN_VALIDATORS,
    RULES_KEY,
    RuleConfig,
    ValidationContext,
    Validator,
    did_you_mean,
    run_pipeline,
)
from sharedconfig.errors import ConfigValidationError

__all__ = ["LoadOptions", "Outcome", "check", "default_sources", "load", "resolve_options"]

PROFILE_VAR = "SHAREDCONFIG_PROFILE"
SECRETS_DIR_VAR = "SHAREDCONFIG_SECRETS_DIR"
DEFAULT_ENV_FILE = ".env"
DEFAULT_MAX_FILE_SIZE = 10 * 1024 * 1024

R = TypeVar("R", bound=RootSettings)
Files = Iterable[str | os.PathLike[str]] | str | os.PathLike[str]


class LoadOptions(TypedDict, total=False):
    """How to read and check configuration: the keywords of ``load``, ``check`` and ``FileConfigProvider``.

    Declared here once; every key is optional and its default is given below. Build one to keep options
    (``LoadOptions(profile="production")``) and spread it into a call (``check(files, **options)``).
    """

    profile: str | None
    """The profile whose overlays (``app.<profile>.yaml``) are read; default ``$SHAREDCONFIG_PROFILE``."""
    env_prefix: str
    """Prefix of the configuration variables in the environment and the .env file; ``SHAREDCONFIG_``."""
    env_file: str | None
    """The .env file read when it exists, None for none; default ``.env``."""
    secrets_dir: str | None
    """Directory of secret files; default ``$SHAREDCONFIG_SECRETS_DIR``, else none."""
    overrides: Collection[str]
    """``KEY.PATH=VALUE`` strings (the CLI's ``--set``), the highest precedence."""
    defaults: Mapping[str, Any] | None
    """Application defaults, the lowest precedence."""
    require: Collection[str]
    """Modules that must be valid even when their section is absent."""
    ignore: Collection[str]
    """Issue codes to ignore, on top of the files' ``validation.ignore``."""
    modules: Collection[ConfigModule] | None
    """Modules to validate with, added to the installed ones (one of the same name replaces it)."""
    discover: bool
    """Whether the installed modules (entry points) are used; default True. False: ``modules`` only."""
    validators: Collection[Validator]
    """Validators run after the built-in ones and the modules' own, by priority."""
    stores: Collection[str | Source]
    """Shared stores (``etcd://HOST:PORT/PREFIX``, ``redis://HOST:PORT/DB/PREFIX`` or a ``StoreSource``),
    low to high: above the files and profile overlays, below .env, secrets, env and ``--set``."""
    sources: Sequence[Source | str] | None
    """Replaces the standard precedence (``default_sources``), low to high; a string is a store URL."""
    environ: Mapping[str, str] | None
    """The environment to read, for keys and ``${VAR}``; default ``os.environ``."""
    hooks: ConfigHooks
    """Told about every validation and load; default no hooks."""
    max_file_size: int
    """Largest file read, in bytes; default 10 MiB."""


_OPTION_NAMES = frozenset(LoadOptions.__annotations__)


@dataclass(frozen=True, slots=True)
class Outcome(Generic[S_co]):
    """What one load produced: the snapshot (None when invalid) and the full report.

    Generic like the ``Config`` it holds: ``check(..., settings=AppSettings)`` gives ``Outcome[AppSettings]``.
    """

    config: Config[S_co] | None
    report: ValidationReport

    def config_or_raise(self) -> Config[S_co]:
        """The snapshot; raises ``ConfigValidationError`` (CONFIG_002) carrying every issue when invalid."""
        if self.config is not None:
            return self.config
        errors, warnings = len(self.report.errors), len(self.report.warnings)
        first = self.report.errors[0]  # the report is ordered by file and line
        summary = f"configuration has {errors} error{'s' if errors != 1 else ''}"
        if warnings:
            summary += f" and {warnings} warning{'s' if warnings != 1 else ''}"
        raise ConfigValidationError(
            summary, issues=self.report.issues, location=first.location, path=first.path
        )


def _environ(options: LoadOptions) -> Mapping[str, str]:
    environ = options.get("environ")
    return os.environ if environ is None else environ


def file_paths(files: Files) -> tuple[str, ...]:
    """``files`` as a tuple of paths; one ``str`` or ``Path`` is one file, not its characters."""
    if isinstance(files, str | os.PathLike):
        return (os.fspath(files),)
    return tuple(os.fspath(f) for f in files)


_TEXT_LISTS = ("overrides", "require", "ignore", "stores")
"""Options holding strings, where one string means a list of one (``overrides="a.b=1"``)."""


def resolve_options(options: LoadOptions) -> LoadOptions:
    """``options`` with the environment's defaults filled in: ``environ``, ``profile``, ``secrets_dir``.

    ``load`` resolves on every call; ``FileConfigProvider`` once, so every reload uses the same profile.
    Raises ``TypeError`` for a key that is not an option, as a misspelt keyword argument does.
    """
    unknown = options.keys() - _OPTION_NAMES
    if unknown:
        names = ", ".join(repr(name) for name in sorted(unknown))
        raise TypeError(f"unexpected load option{'s' if len(unknown) > 1 else ''} {names}")
    environ = _environ(options)
    resolved = options.copy()
    resolved["environ"] = environ
    for key in _TEXT_LISTS:
        value = options.get(key)
        if isinstance(value, str):
            resolved[key] = (value,)  # type: ignore[literal-required]
    if options.get("profile") is None:
        resolved["profile"] = environ.get(PROFILE_VAR) or None
    if options.get("secrets_dir") is None:
        resolved["secrets_dir"] = environ.get(SECRETS_DIR_VAR) or None
    return resolved


def default_sources(
    files: Iterable[str | os.PathLike[str]] = (), **options: Unpack[LoadOptions]
) -> tuple[Source, ...]:
    """The standard precedence, low to high: defaults, files, profile overlays, stores, .env, secrets,
    env, --set."""
    opts = resolve_options(options)
    paths = tuple(os.fspath(f) for f in files)
    prefix = opts.get("env_prefix", DEFAULT_PREFIX)
    env_file = opts.get("env_file", DEFAULT_ENV_FILE)
    defaults = opts.get("defaults")
    sources: list[Source] = []
    if defaults:
        sources.append(DefaultsSource(defaults))
    sources.append(FileSource(paths))
    sources.append(ProfileSource(paths, opts.get("profile")))
    sources.extend(store_source(store) for store in opts.get("stores", ()))
    if env_file:  # a file the caller named must exist; the default .env is read when it exists
        sources.append(DotenvSource(env_file, prefix, required="env_file" in options))
    sources.append(SecretsSource(opts.get("secrets_dir"), prefix))
    sources.append(EnvSource(prefix, opts.get("environ")))
    sources.append(OverrideSource(tuple(opts.get("overrides", ()))))
    return tuple(sources)


def store_source(source: str | Source) -> Source:
    """A source as given, or a ``StoreSource`` for a store URL (CONFIG_041 when it is not one)."""
    return StoreSource.parse(source) if isinstance(source, str) else source


def _read_context(opts: LoadOptions) -> ReadContext:
    """The context of one load; its interpolation variables are secrets-dir files named like variables,
    then .env, then the environment (what it reads here, the sources find in its cache)."""
    ctx = ReadContext(max_file_size=opts.get("max_file_size", DEFAULT_MAX_FILE_SIZE))
    prefix = opts.get("env_prefix", DEFAULT_PREFIX)
    variables: dict[str, str] = {}
    secret: set[str] = set()
    directory = opts.get("secrets_dir")
    if directory:
        # problems are reported by SecretsSource, which reads the same cached result
        files, _problems = ctx.once("secrets", directory, lambda: read_secret_files(directory))
        for name, value in files.items():
            if secret_path(name, prefix) is None:
                variables[name] = value
                secret.add(name)
    env_file = opts.get("env_file", DEFAULT_ENV_FILE)
    if env_file:
        # problems are reported by DotenvSource, which reads the same cached result
        variables.update(ctx.once("dotenv", env_file, lambda: read_dotenv(env_file))[0])
    for name, value in _environ(opts).items():
        variables[name] = value
        secret.discard(name)
    return replace(ctx, variables=variables, secret_variables=frozenset(secret))


def _validate_modules(
    ctx: ValidationContext, registry: Mapping[str, ConfigModule], require: Collection[str]
) -> None:
    for name, section in ctx.tree.items():
        module = registry.get(name)
        if module is None:
            suggestion = did_you_mean(name, [*registry, RULES_KEY])
            ctx.report(
                "VALIDATION_001",
                (name,),
                f"unknown configuration module {name!r}",
                hint=f"did you mean {suggestion!r}?"
                if suggestion
                else f"installed modules: {', '.join(sorted(registry))}",
            )
            continue
        data = {} if section is None else section
        if not isinstance(data, Mapping):
            ctx.report(
                "VALIDATION_002", (name,), f"section {name!r} must be a mapping, not {type(data).__name__}"
            )
            continue
        try:
            ctx.modules[name] = module.validate(data)
        except PydanticValidationError as exc:
            report_schema_errors(ctx, name, module.schema, data, exc)
    for name in require:
        if name in ctx.tree:
            continue
        module = registry.get(name)
        if module is None:
            ctx.report(
                "CONFIG_018",
                (name,),
                f"required module {name!r} is not installed",
                hint=f"installed modules: {', '.join(sorted(registry))}",
            )
            continue
        try:
            ctx.modules[name] = module.validate({})
        except PydanticValidationError as exc:
            ctx.report("CONFIG_022", (name,), f"required section {name!r} is absent")
            report_schema_errors(ctx, name, module.schema, {}, exc)


def _rules(tree: dict[str, Any]) -> tuple[RuleConfig, list[tuple[str, str]]]:
    section = tree.pop(RULES_KEY, None)
    problems: list[tuple[str, str]] = []
    if section is None:
        return RuleConfig(), problems
    if not isinstance(section, Mapping) or not set(section) <= {"ignore", "severity"}:
        problems.append(
            (
                "VALIDATION_001",
                "validation: takes only 'ignore' (list of codes) and 'severity' (code: error|warning)",
            )
        )
        return RuleConfig(), problems
    ignore = section.get("ignore") or ()
    if not isinstance(ignore, str) and not (
        isinstance(ignore, list | tuple) and all(isinstance(c, str | int) for c in ignore)
    ):
        problems.append(("VALIDATION_002", "validation.ignore must be a code or a list of codes"))
        return RuleConfig(), problems
    severity = section.get("severity") or {}
    if not isinstance(severity, Mapping) or any(v not in ("error", "warning") for v in severity.values()):
        problems.append(("VALIDATION_006", "validation.severity values must be 'error' or 'warning'"))
        return RuleConfig(), problems
    return RuleConfig.from_mapping(section), problems


@overload
def check(files: Files = (), *, settings: type[R], **options: Unpack[LoadOptions]) -> Outcome[R]: ...
@overload
def check(files: Files = (), *, settings: None = None, **options: Unpack[LoadOptions]) -> Outcome: ...


def check(
    files: Files = (), *, settings: type[RootSettings] | None = None, **options: Unpack[LoadOptions]
) -> Outcome[Any]:
    """Load and validate like :func:`load`, but return the report instead of raising.

    ``settings`` (a ``RootSettings`` subclass) is checked against the modules first: a field that matches
    none raises ``ConfigError`` (CONFIG_028), a mistake in code rather than in the configuration.
    Runs in a ``config.load`` span, its validation in a ``config.validate`` span (``tracecontext.span``).
    """
    with _load_span(options):
        return _check(files, settings, **options)


def _load_span(options: LoadOptions) -> AbstractContextManager[object]:
    """The ``config.load`` span of one load (``load`` raises inside it, so a failed load is an error)."""
    profile = options.get("profile")
    return tracecontext.span("config.load", **({"config.profile": profile} if profile else {}))


def _check(
    files: Files, settings: type[RootSettings] | None, /, **options: Unpack[LoadOptions]
) -> Outcome[Any]:
    started = time.perf_counter()
    opts = resolve_options(options)
    files = file_paths(files)
    registry, broken = resolve(opts.get("modules"), discover=opts.get("discover", True))
    sections = () if settings is None else plan(settings, registry, broken)  # before any I/O: a code bug
    read_ctx = _read_context(opts)
    sources = opts.get("sources")
    layers: list[Layer] = []
    chosen = [store_source(s) for s in sources] if sources is not None else default_sources(files, **opts)
    for source in chosen:
        layers.extend(source.read(read_ctx))
    tree = merge(layers)
    provenance = Provenance(layers)
    rules, rule_problems = _rules(tree)
    profile = opts.get("profile")
    ctx = ValidationContext(tree, provenance, profile=profile)
    for layer in layers:
        ctx.issues.extend(layer.issues)
        ctx.unresolved.update(i.path for i in layer.issues if i.code in ("CONFIG_015", "CONFIG_016"))
    for module in broken:  # fails the configurations that use its section, warns the others
        used = module.name in tree
        ctx.report(
            "CONFIG_019",
            (module.name,) if used else (),
            str(module),
            severity="error" if used else "warning",
            hint=module.hint,
        )
    for code, message in rule_problems:
        ctx.report(code, (RULES_KEY,), message)
    with tracecontext.span("config.validate"):
        validation_started = time.perf_counter()
        ctx._current = "schema"
        required = [*opts.get("require", ()), *(s.module for s in sections if s.required)]
        _validate_modules(ctx, registry, dict.fromkeys(required))
        pipeline: list[Validator] = list(BUILTIN_VALIDATORS)
        for name in ctx.modules:
            pipeline.extend(registry[name].validators)
        pipeline.extend(opts.get("validators", ()))
        run_pipeline(pipeline, ctx)
        rules = rules.merged(RuleConfig.from_option(opts.get("ignore", ())))
        report = rules.report(ctx)  # vets the rules' codes, applies them, orders the issues by file and line
        hooks = opts.get("hooks", NO_HOOKS)
        validation_seconds = time.perf_counter() - validation_started
        hooks.on_validation(report, validation_seconds)
    config = None
    if report.ok:
        timings = LoadTimings(validation_seconds, time.perf_counter() - started)
        root = None if settings is None else build(settings, sections, ctx.modules)
        config = Config(
            ctx.modules,
            tree,
            provenance,
            report,
            registry=registry,
            profile=profile,
            timings=timings,
            settings=root,
        )
    hooks.on_load(config, report, time.perf_counter() - started)
    return Outcome(config, report)


@overload
def load(files: Files = (), *, settings: type[R], **options: Unpack[LoadOptions]) -> Config[R]: ...
@overload
def load(files: Files = (), *, settings: None = None, **options: Unpack[LoadOptions]) -> Config: ...


def load(
    files: Files = (), *, settings: type[RootSettings] | None = None, **options: Unpack[LoadOptions]
) -> Config[Any]:
    """Load, merge and validate configuration; return a frozen :class:`Config`.

    ``files`` are YAML/JSON/TOML paths or globs, low to high (a single path is one file); the options are
    those of :class:`LoadOptions`. ``settings`` is the application's ``RootSettings`` subclass, whose
    fields are the modules it reads: the result is a ``Config[AppSettings]`` and ``config.settings`` an
    ``AppSettings`` (see ``check`` for how it is checked). Raises ``ConfigValidationError`` (CONFIG_002)
    carrying every issue when the configuration has errors: ``check(files, **options).config_or_raise()``,
    raised inside the ``config.load`` span so that a tracer records the failure on it.
    """
    with _load_span(options):
        return _check(files, settings, **options).config_or_raise()
