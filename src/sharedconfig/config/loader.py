"""``load()``: read the sources, merge them, validate every module and the pipeline, return a snapshot.

Every problem is collected into one report; ``load`` raises ``ConfigValidationError`` when the report
has errors, and ``check`` returns the report without raising (the CLI's ``validate`` uses it).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypedDict

from pydantic import BaseModel, SecretStr
from pydantic import ValidationError as PydanticValidationError
from typing_extensions import Unpack

from sharedconfig.config.hooks import NO_HOOKS, ConfigHooks
from sharedconfig.config.modules import ConfigModule, resolve
from sharedconfig.config.schema_errors import report_schema_errors
from sharedconfig.config.snapshot import Config
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
from sharedconfig.config.tree import Layer, Provenance, ReadContext, merge
from sharedconfig.config.validation import (
    SECURITY,
    FunctionValidator,
    PathParts,
    RuleConfig,
    ValidationContext,
    ValidationReport,
    Validator,
    did_you_mean,
    run_pipeline,
)
from sharedconfig.errors import ConfigValidationError

__all__ = ["LoadKwargs", "LoadOptions", "Outcome", "check", "check_options", "default_sources", "load"]

PROFILE_VAR = "SHAREDCONFIG_PROFILE"
SECRETS_DIR_VAR = "SHAREDCONFIG_SECRETS_DIR"
RULES_KEY = "validation"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one load produced: the snapshot (None when invalid) and the full report."""

    config: Config | None
    report: ValidationReport


@dataclass(frozen=True, slots=True)
class LoadOptions:
    """Everything ``load`` takes, kept so a provider or watcher can load again the same way."""

    files: tuple[str, ...] = ()
    profile: str | None = None
    env_prefix: str = DEFAULT_PREFIX
    env_file: str | None = ".env"
    secrets_dir: str | None = None
    overrides: tuple[str, ...] = ()
    defaults: Mapping[str, Any] | None = None
    require: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    environ: Mapping[str, str] | None = None
    max_file_size: int = 10 * 1024 * 1024


def default_sources(opts: LoadOptions) -> tuple[Source, ...]:
    """The standard precedence, low to high: defaults, files, profile overlays, .env, secrets, env, --set."""
    sources: list[Source] = []
    if opts.defaults:
        sources.append(DefaultsSource(opts.defaults))
    sources.append(FileSource(opts.files))
    sources.append(ProfileSource(opts.files, opts.profile))
    if opts.env_file:
        sources.append(DotenvSource(opts.env_file, opts.env_prefix))
    sources.append(SecretsSource(opts.secrets_dir, opts.env_prefix))
    sources.append(EnvSource(opts.env_prefix, opts.environ))
    sources.append(OverrideSource(opts.overrides))
    return tuple(sources)


def _read_context(opts: LoadOptions, environ: Mapping[str, str]) -> ReadContext:
    """The context of one load; its interpolation variables are secrets-dir files named like variables,
    then .env, then the environment (what it reads here, the sources find in its cache)."""
    ctx = ReadContext(max_file_size=opts.max_file_size)
    variables: dict[str, str] = {}
    secret: set[str] = set()
    if opts.secrets_dir:
        directory = opts.secrets_dir
        # problems are reported by SecretsSource, which reads the same cached result
        files, _problems = ctx.once("secrets", directory, lambda: read_secret_files(directory))
        for name, value in files.items():
            if secret_path(name, opts.env_prefix) is None:
                variables[name] = value
                secret.add(name)
    if opts.env_file:
        env_file = opts.env_file
        variables.update(ctx.once("dotenv", env_file, lambda: read_dotenv(env_file)))
    for name, value in environ.items():
        variables[name] = value
        secret.discard(name)
    return replace(ctx, variables=variables, secret_variables=frozenset(secret))


def _secret_leaves(value: Any, path: PathParts) -> Iterable[PathParts]:
    if isinstance(value, SecretStr):
        yield path
    elif isinstance(value, BaseModel):
        for name, field in type(value).model_fields.items():
            yield from _secret_leaves(getattr(value, name), (*path, field.alias or name))
    elif isinstance(value, tuple | list):
        for i, item in enumerate(value):
            yield from _secret_leaves(item, (*path, i))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _secret_leaves(item, (*path, key))


def _check_secrets(ctx: ValidationContext) -> None:
    """Secrets written in plain text in a file, and credentials sent without TLS in production."""
    for name, settings in ctx.modules.items():
        for path in _secret_leaves(settings, (name,)):
            origin = ctx.provenance.origin(path)
            if origin is not None and origin.source == "file" and not origin.interpolated:
                ctx.report("VALIDATION_010", path, "secret value is written in plain text in the file")


SECRETS_IN_FILES = FunctionValidator("secrets_in_files", SECURITY, _check_secrets)


def _validate_modules(
    ctx: ValidationContext, registry: Mapping[str, ConfigModule], require: Sequence[str]
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
    severity = section.get("severity") or {}
    if not isinstance(severity, Mapping) or any(v not in ("error", "warning") for v in severity.values()):
        problems.append(("VALIDATION_006", "validation.severity values must be 'error' or 'warning'"))
        return RuleConfig(), problems
    return RuleConfig.from_mapping(section), problems


def check(
    files: Iterable[str | os.PathLike[str]] = (),
    *,
    profile: str | None = None,
    env_prefix: str = DEFAULT_PREFIX,
    env_file: str | None = ".env",
    secrets_dir: str | None = None,
    overrides: Iterable[str] = (),
    defaults: Mapping[str, Any] | None = None,
    require: Iterable[str] = (),
    ignore: Iterable[str] = (),
    modules: Iterable[ConfigModule] | None = None,
    validators: Iterable[Validator] = (),
    sources: Sequence[Source] | None = None,
    environ: Mapping[str, str] | None = None,
    hooks: ConfigHooks = NO_HOOKS,
    max_file_size: int = 10 * 1024 * 1024,
) -> Outcome:
    """Load and validate like :func:`load`, but return the report instead of raising."""
    environ = os.environ if environ is None else environ
    opts = LoadOptions(
        files=tuple(os.fspath(f) for f in files),
        profile=profile if profile is not None else (environ.get(PROFILE_VAR) or None),
        env_prefix=env_prefix,
        env_file=env_file,
        secrets_dir=secrets_dir if secrets_dir is not None else (environ.get(SECRETS_DIR_VAR) or None),
        overrides=tuple(overrides),
        defaults=defaults,
        require=tuple(require),
        ignore=tuple(ignore),
        environ=environ,
        max_file_size=max_file_size,
    )
    return check_options(opts, modules=modules, validators=validators, sources=sources, hooks=hooks)


def check_options(
    opts: LoadOptions,
    *,
    modules: Iterable[ConfigModule] | None = None,
    validators: Iterable[Validator] = (),
    sources: Sequence[Source] | None = None,
    hooks: ConfigHooks = NO_HOOKS,
) -> Outcome:
    """:func:`check` with its options gathered in a :class:`LoadOptions`."""
    started = time.perf_counter()
    environ = os.environ if opts.environ is None else opts.environ
    read_ctx = _read_context(opts, environ)
    layers: list[Layer] = []
    for source in sources if sources is not None else default_sources(opts):
        layers.extend(source.read(read_ctx))
    tree = merge(layers)
    provenance = Provenance(layers)
    rules, rule_problems = _rules(tree)
    registry = resolve(modules)
    ctx = ValidationContext(tree, provenance, profile=opts.profile)
    for layer in layers:
        ctx.issues.extend(layer.issues)
        ctx.unresolved.update(i.path for i in layer.issues if i.code in ("CONFIG_015", "CONFIG_016"))
    for code, message in rule_problems:
        ctx.report(code, (RULES_KEY,), message)
    validation_started = time.perf_counter()
    ctx._current = "schema"
    _validate_modules(ctx, registry, opts.require)
    pipeline: list[Validator] = [SECRETS_IN_FILES]
    for name in ctx.modules:
        pipeline.extend(registry[name].validators)
    pipeline.extend(validators)
    run_pipeline(pipeline, ctx)
    rules = rules.merged(RuleConfig(ignore=frozenset(opts.ignore)))
    report = ValidationReport(rules.apply(ctx.issues))
    hooks.on_validation(report, time.perf_counter() - validation_started)
    config = None
    if report.ok:
        config = Config(ctx.modules, tree, provenance, report, registry=registry, profile=opts.profile)
    hooks.on_load(config, report, time.perf_counter() - started)
    return Outcome(config, report)


class LoadKwargs(TypedDict, total=False):
    """The keyword options of :func:`load` and :func:`check`."""

    profile: str | None
    env_prefix: str
    env_file: str | None
    secrets_dir: str | None
    overrides: Iterable[str]
    defaults: Mapping[str, Any] | None
    require: Iterable[str]
    ignore: Iterable[str]
    modules: Iterable[ConfigModule] | None
    validators: Iterable[Validator]
    sources: Sequence[Source] | None
    environ: Mapping[str, str] | None
    hooks: ConfigHooks
    max_file_size: int


def load(files: Iterable[str | os.PathLike[str]] = (), **options: Unpack[LoadKwargs]) -> Config:
    """Load, merge and validate configuration; return a frozen :class:`Config`.

    ``files`` are YAML/JSON/TOML paths or globs. Options: ``profile``, ``env_prefix``, ``env_file``,
    ``secrets_dir``, ``overrides`` (``"a.b=1"`` strings), ``defaults``, ``require`` (module names that must
    be valid even when absent), ``ignore`` (issue codes), ``modules``, ``validators``, ``sources`` (replaces
    the standard precedence), ``environ``, ``hooks``, ``max_file_size``.

    Raises ``ConfigValidationError`` (CONFIG_002) carrying every issue when the configuration has errors.
    """
    outcome = check(files, **options)
    if outcome.config is None:
        errors = outcome.report.errors
        first = errors[0]
        raise ConfigValidationError(
            f"configuration has {len(errors)} error{'s' if len(errors) != 1 else ''}; first: {first}",
            issues=outcome.report.issues,
            location=first.location,
            path=first.path,
        )
    return outcome.config
