"""The validation pipeline: validators with a priority report issues into one shared context.

Every validator runs, every problem is collected; rule configuration (``validation: {ignore, severity}``)
is applied at the end, as linters do. The built-in validators of the configuration layer live here too.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, TypeAlias, runtime_checkable

from pydantic import BaseModel, SecretStr

from sharedconfig.config.issues import Issue, IssueSeverity, KeyPath, ValidationReport, format_path
from sharedconfig.config.schema_paths import secret_typed
from sharedconfig.config.tree import Provenance, concealed
from sharedconfig.errors import REGISTRY, Location
from sharedconfig.redaction import looks_secret

__all__ = [
    "BUILTIN_VALIDATORS",
    "COMPLIANCE",
    "PERFORMANCE",
    "SCHEMA",
    "SECRETS_IN_FILES",
    "SECURITY",
    "FunctionValidator",
    "Issue",
    "IssueSeverity",
    "KeyPath",
    "RuleConfig",
    "RuleOrigin",
    "ValidationContext",
    "ValidationReport",
    "Validator",
    "did_you_mean",
    "format_path",
    "run_pipeline",
    "validator",
]

SCHEMA = 0
SECURITY = 10
PERFORMANCE = 20
COMPLIANCE = 30

# the name key paths had before ``KeyPath``; kept so that existing imports still work
PathParts = KeyPath


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    """The closest candidate to a misspelt key, or None when nothing is close."""
    matches = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return matches[0] if matches else None


PRODUCTION_PROFILES = ("prod", "production")
"""Profiles that switch on the production checks, whether or not any overlay file exists for them."""

RULES_KEY = "validation"
"""The top-level key of the rule configuration in the files."""

OPTION_LOCATION = Location("option", "ignore")
"""Where codes of ``load(..., ignore=[...])`` and the CLI's ``--ignore`` come from."""

RuleOrigin: TypeAlias = tuple[str, str, KeyPath | None]
"""One rule as written: (``"ignore"`` or ``"severity"``, the code, its key path; None for the option)."""


def _as_list(value: Any) -> list[Any]:
    return [value] if isinstance(value, str | int) else list(value or ())


@dataclass(frozen=True, slots=True)
class RuleConfig:
    """Linter-style switches: codes to ignore and codes whose severity is changed.

    They act only on codes registered as ``ignorable`` (``sharedconfig.errors.ErrorCode``); ``vet`` turns
    unknown codes into ``VALIDATION_040`` errors and codes that cannot be ignored into ``VALIDATION_041``
    warnings, each located where the code was written (``origins``).
    """

    ignore: frozenset[str] = frozenset()
    severity: Mapping[str, IssueSeverity] = field(default_factory=dict)
    origins: tuple[RuleOrigin, ...] = ()

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> RuleConfig:
        """Build from the ``validation:`` section (``{ignore: [...], severity: {CODE: error}}``)."""
        if not data:
            return cls()
        raw_ignore = data.get("ignore")
        severity = data.get("severity") or {}
        if isinstance(raw_ignore, str | int):
            origins: list[RuleOrigin] = [("ignore", str(raw_ignore), (RULES_KEY, "ignore"))]
        else:
            origins = [("ignore", str(c), (RULES_KEY, "ignore", i)) for i, c in enumerate(raw_ignore or ())]
        origins.extend(("severity", str(k), (RULES_KEY, "severity", str(k))) for k in severity)
        return cls(
            ignore=frozenset(code for kind, code, _ in origins if kind == "ignore"),
            severity={str(k): v for k, v in severity.items()},
            origins=tuple(origins),
        )

    @classmethod
    def from_option(cls, codes: Iterable[str] | str | None) -> RuleConfig:
        """Build from the ``ignore=`` option (the CLI's ``--ignore``)."""
        listed = [str(c) for c in _as_list(codes)]
        return cls(ignore=frozenset(listed), origins=tuple(("ignore", c, None) for c in listed))

    def merged(self, other: RuleConfig) -> RuleConfig:
        """``other`` (e.g. CLI flags) on top of this one."""
        return RuleConfig(
            self.ignore | other.ignore, {**self.severity, **other.severity}, self.origins + other.origins
        )

    def vet(self, locate: Callable[[KeyPath], Location | None] | None = None) -> list[Issue]:
        """An issue for each rule that names an unknown code (error) or one that cannot be ignored (warning).

        ``locate`` finds where a key path of the files was written (``Provenance.locate``).
        """
        out: list[Issue] = []
        for kind, code, path in self.origins:
            where = OPTION_LOCATION if path is None else (locate(path) if locate else None)
            written = "the ignore option" if path is None else format_path(path[:2])
            registered = REGISTRY.get(code)
            if registered is None:
                suggestion = did_you_mean(code.strip().upper(), REGISTRY)
                out.append(
                    Issue(
                        code="VALIDATION_040",
                        path=format_path(path or ()),
                        message=f"unknown issue code {code!r} in {written}",
                        hint=f"did you mean {suggestion!r}?"
                        if suggestion
                        else REGISTRY["VALIDATION_040"].hint,
                        location=where,
                        validator="rules",
                    )
                )
            elif not registered.ignorable:
                verb = "ignoring" if kind == "ignore" else "changing the severity of"
                out.append(
                    Issue(
                        code="VALIDATION_041",
                        path=format_path(path or ()),
                        message=f"{verb} {code} ({written}) has no effect: "
                        f"{registered.not_ignorable_because}",
                        severity="warning",
                        location=where,
                        validator="rules",
                    )
                )
        return out

    def apply(self, issues: Iterable[Issue], rejected: Collection[str] = ()) -> tuple[Issue, ...]:
        """Drop ignored codes and apply severity changes, to ``ignorable`` codes only.

        Reading errors (CONFIG_*) and schema errors are never ignored: a missing file or an unset variable
        would otherwise load as if nothing were wrong, as a linter never ignores a syntax error. Nor is an
        issue inside a section of ``rejected`` (sections present but not valid, which would load as their
        defaults): it stays, with a ``VALIDATION_041`` warning beside it when a rule named it.
        """
        out: list[Issue] = []
        for issue in issues:
            registered = REGISTRY.get(issue.code)
            if registered is None or not registered.ignorable:
                out.append(issue)
                continue
            new = self.severity.get(issue.code)
            ignored = issue.code in self.ignore
            if (ignored or new == "warning") and _inside(issue.path, rejected):
                out.append(issue)
                section = issue.path.split(".", 1)[0]
                out.append(
                    Issue(
                        code="VALIDATION_041",
                        path=issue.path,
                        message=f"{'ignoring' if ignored else 'downgrading'} {issue.code} has no effect "
                        f"here: section {section!r} is rejected by its schema and would load with its "
                        "defaults, not as the files say",
                        severity="warning",
                        location=issue.location,
                        validator="rules",
                    )
                )
                continue
            if ignored:
                continue
            out.append(replace(issue, severity=new) if new and new != issue.severity else issue)
        return tuple(out)

    def report(self, ctx: ValidationContext) -> ValidationReport:
        """The report of ``ctx``: its issues and those of :meth:`vet`, with the rules applied, and no
        secret in any origin text (:meth:`ValidationContext.conceal`)."""
        rejected = [name for name in ctx.tree if name not in ctx.modules]
        issues = self.apply([*ctx.issues, *self.vet(ctx.location)], rejected)
        return ValidationReport(ctx.conceal(issues))


def _inside(path: str, sections: Collection[str]) -> bool:
    """True when ``path`` lies below (not at) one of ``sections``."""
    head, dot, _ = path.partition(".")
    return bool(dot) and head in sections


class ValidationContext:
    """What validators see: the merged tree, the typed modules, the profile; and where they report."""

    def __init__(
        self,
        tree: Mapping[str, Any],
        provenance: Provenance,
        *,
        profile: str | None = None,
        modules: Mapping[str, BaseModel] | None = None,
    ) -> None:
        self.tree = tree
        self.provenance = provenance
        self.profile = profile
        self.modules: dict[str, BaseModel] = dict(modules or {})
        self.issues: list[Issue] = []
        # schemas of sections their schema rejected (the valid ones are the types of ``modules``)
        self.schemas: dict[str, type[BaseModel]] = {}
        # paths whose ${VAR} could not be resolved: the schema's complaint about the raw text is noise
        self.unresolved: set[str] = set()
        self._current = ""

    @property
    def production(self) -> bool:
        """True under the production profile (``prod`` and ``production``)."""
        return self.profile in PRODUCTION_PROFILES

    def settings(self, name: str) -> Any:
        """The validated settings of module ``name``, or None when absent or invalid."""
        return self.modules.get(name)

    def location(self, path: KeyPath) -> Location | None:
        """Where the value at ``path`` (or its nearest ancestor) came from."""
        return self.provenance.locate(path)

    def secret_at(self, path: KeyPath) -> bool:
        """True when the value at ``path`` must never be shown: a secret-looking key on the way, a value
        from the secrets directory, or a field its module's schema types as a secret."""
        if any(looks_secret(str(p)) for p in path) or self.provenance.is_secret(path):
            return True
        if not path:
            return False
        settings = self.modules.get(str(path[0]))
        schema = type(settings) if settings is not None else self.schemas.get(str(path[0]))
        return schema is not None and secret_typed(schema, path[1:])

    def conceal(self, issues: Iterable[Issue]) -> tuple[Issue, ...]:
        """``issues`` with no secret in their origin: an override of a secret-typed key shows
        ``--set KEY=**********``. The provenance learns :meth:`secret_at` too, so ``Config.explain``
        hides those values the same way."""
        self.provenance.conceal(self.secret_at)
        out: list[Issue] = []
        for issue in issues:
            loc = issue.location
            hidden = concealed(loc, self.secret_at) if loc is not None else None
            out.append(issue if hidden is loc else replace(issue, location=hidden))
        return tuple(out)

    def report(
        self,
        code: str,
        path: KeyPath,
        message: str,
        *,
        severity: IssueSeverity | None = None,
        hint: str = "",
        location: Location | None = None,
    ) -> None:
        """Record one issue at ``path``; the location is looked up when not given."""
        if severity is None:
            severity = "warning" if code in _WARNING_BY_DEFAULT else "error"
        if self.unresolved and code.startswith("VALIDATION_") and format_path(path) in self.unresolved:
            return
        self.issues.append(
            Issue(
                code=code,
                path=format_path(path),
                message=message,
                severity=severity,
                hint=hint,
                location=location if location is not None else self.location(path),
                validator=self._current,
            )
        )


# codes that describe a risk rather than a config that cannot work
_WARNING_BY_DEFAULT = frozenset({"VALIDATION_010", "VALIDATION_021", "VALIDATION_030"})


@runtime_checkable
class Validator(Protocol):
    """One validation stage: a name, a priority (lower runs first) and a check that reports issues."""

    @property
    def name(self) -> str:
        """Stable name, shown with issues and in ``--format json``."""
        ...

    @property
    def priority(self) -> int:
        """SCHEMA (0), SECURITY (10), PERFORMANCE (20), COMPLIANCE (30) or any other integer."""
        ...

    def validate(self, ctx: ValidationContext) -> None:
        """Inspect ``ctx`` and call ``ctx.report`` for each problem."""
        ...


@dataclass(frozen=True, slots=True)
class FunctionValidator:
    """A validator made from a plain function; see :func:`validator`."""

    name: str
    priority: int
    func: Callable[[ValidationContext], None]

    def validate(self, ctx: ValidationContext) -> None:
        """Run the function."""
        self.func(ctx)


def validator(name: str, priority: int) -> Callable[[Callable[[ValidationContext], None]], FunctionValidator]:
    """Decorator turning ``def check(ctx): ...`` into a :class:`Validator`."""

    def wrap(func: Callable[[ValidationContext], None]) -> FunctionValidator:
        return FunctionValidator(name, priority, func)

    return wrap


def run_pipeline(validators: Sequence[Validator], ctx: ValidationContext) -> None:
    """Run every validator by priority (stable for equal priorities); a crash becomes VALIDATION_099."""
    for v in sorted(validators, key=lambda v: v.priority):
        ctx._current = v.name
        try:
            v.validate(ctx)
        except Exception as exc:  # a broken validator must not hide the other issues
            ctx.report("VALIDATION_099", (), f"validator {v.name!r} raised {type(exc).__name__}: {exc}")
    ctx._current = ""


# The built-in validators: checks of the configuration layer itself, whatever modules are installed.
# A module's own checks live with its schema (``module_check``) and arrive with it through entry points.


def _secret_leaves(value: Any, path: KeyPath) -> Iterable[KeyPath]:
    if isinstance(value, SecretStr):
        yield path
    elif isinstance(value, BaseModel):
        for name, info in type(value).model_fields.items():
            yield from _secret_leaves(getattr(value, name), (*path, info.alias or name))
    elif isinstance(value, tuple | list):
        for i, item in enumerate(value):
            yield from _secret_leaves(item, (*path, i))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _secret_leaves(item, (*path, key))


def _check_secrets(ctx: ValidationContext) -> None:
    """Secrets written in plain text in a file (``VALIDATION_010``), rather than through ``${VAR}``."""
    for name, settings in ctx.modules.items():
        for path in _secret_leaves(settings, (name,)):
            origin = ctx.provenance.origin(path)
            if origin is not None and origin.source == "file" and not origin.interpolated:
                ctx.report("VALIDATION_010", path, "secret value is written in plain text in the file")


SECRETS_IN_FILES = FunctionValidator("secrets_in_files", SECURITY, _check_secrets)
"""``VALIDATION_010`` for a ``Secret`` field written literally in a file (not via ``${VAR}``)."""

BUILTIN_VALIDATORS: tuple[Validator, ...] = (SECRETS_IN_FILES,)
"""The validators every load runs, before the modules' own and the caller's."""
