"""The validation pipeline: validators with a priority report issues into one shared context.

Every validator runs, every problem is collected; rule configuration (``validation: {ignore, severity}``)
is applied at the end, as linters do.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from sharedconfig.errors import REGISTRY, Location

if TYPE_CHECKING:
    from pydantic import BaseModel

    from sharedconfig.config.tree import Provenance

__all__ = [
    "COMPLIANCE",
    "PERFORMANCE",
    "SCHEMA",
    "SECURITY",
    "Issue",
    "IssueSeverity",
    "RuleConfig",
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

IssueSeverity = Literal["error", "warning"]
PathParts = tuple[str | int, ...]


def format_path(parts: Iterable[str | int]) -> str:
    """``("monitoring", "metrics", "exporters", 1)`` -> ``monitoring.metrics.exporters.1``."""
    return ".".join(str(p) for p in parts)


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    """The closest candidate to a misspelt key, or None when nothing is close."""
    matches = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return matches[0] if matches else None


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem: what (code, message), where (path, location), how bad, and how to fix it (hint)."""

    code: str
    path: str
    message: str
    severity: IssueSeverity = "error"
    hint: str = ""
    location: Location | None = None
    validator: str = ""

    def __post_init__(self) -> None:
        if not self.hint and self.code in REGISTRY:
            object.__setattr__(self, "hint", REGISTRY[self.code].hint)

    def __str__(self) -> str:
        where = f"{self.location}: " if self.location else ""
        path = f" {self.path}" if self.path else ""
        return f"{where}{self.severity} {self.code}{path}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape printed by ``sharedconfig validate --format json``."""
        loc = self.location
        in_file = loc is not None and loc.source in ("file", "secret")
        return {
            "file": loc.name if in_file and loc else None,
            "line": loc.line if loc else None,
            "column": loc.column if loc else None,
            "source": str(loc) if loc else None,
            "path": self.path,
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "hint": self.hint,
        }


@dataclass(frozen=True, slots=True)
class ValidationReport:
    """Every issue found, in source order; ``ok`` when none is an error."""

    issues: tuple[Issue, ...] = ()

    @property
    def errors(self) -> tuple[Issue, ...]:
        """Issues of severity error."""
        return tuple(i for i in self.issues if i.severity == "error")

    @property
    def warnings(self) -> tuple[Issue, ...]:
        """Issues of severity warning."""
        return tuple(i for i in self.issues if i.severity == "warning")

    @property
    def ok(self) -> bool:
        """True when there is no error (warnings allowed)."""
        return not any(i.severity == "error" for i in self.issues)

    def __iter__(self) -> Iterator[Issue]:
        return iter(self.issues)

    def __len__(self) -> int:
        return len(self.issues)


@dataclass(frozen=True, slots=True)
class RuleConfig:
    """Linter-style switches: codes to ignore and codes whose severity is changed."""

    ignore: frozenset[str] = frozenset()
    severity: Mapping[str, IssueSeverity] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> RuleConfig:
        """Build from the ``validation:`` section (``{ignore: [...], severity: {CODE: error}}``)."""
        if not data:
            return cls()
        ignore = data.get("ignore") or ()
        severity = data.get("severity") or {}
        if isinstance(ignore, str):
            ignore = [ignore]
        return cls(
            ignore=frozenset(str(c) for c in ignore), severity={str(k): v for k, v in severity.items()}
        )

    def merged(self, other: RuleConfig) -> RuleConfig:
        """``other`` (e.g. CLI flags) on top of this one."""
        return RuleConfig(self.ignore | other.ignore, {**self.severity, **other.severity})

    def apply(self, issues: Iterable[Issue]) -> tuple[Issue, ...]:
        """Drop ignored codes and apply severity changes, to VALIDATION_* checks only.

        Reading errors (CONFIG_*) are never ignored: a missing file or an unset variable would otherwise
        load as if nothing were wrong, as a linter never ignores a syntax error.
        """
        out: list[Issue] = []
        for issue in issues:
            if not issue.code.startswith("VALIDATION_"):
                out.append(issue)
                continue
            if issue.code in self.ignore:
                continue
            new = self.severity.get(issue.code)
            out.append(replace(issue, severity=new) if new and new != issue.severity else issue)
        return tuple(out)


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
        # paths whose ${VAR} could not be resolved: the schema's complaint about the raw text is noise
        self.unresolved: set[str] = set()
        self._current = ""

    @property
    def production(self) -> bool:
        """True under the production profile (``prod`` and ``production``)."""
        return self.profile in ("prod", "production")

    def settings(self, name: str) -> Any:
        """The validated settings of module ``name``, or None when absent or invalid."""
        return self.modules.get(name)

    def location(self, path: PathParts) -> Location | None:
        """Where the value at ``path`` (or its nearest ancestor) came from."""
        return self.provenance.locate(path)

    def report(
        self,
        code: str,
        path: PathParts,
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
