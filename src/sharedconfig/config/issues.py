"""The issue vocabulary of configuration: key paths, one ``Issue``, and the report that collects them.

The bottom of ``sharedconfig.config``: it imports nothing else from the package, so sources, layers,
validation and the snapshot all use it without forming an import circle.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from sharedconfig.errors import REGISTRY, Location, printable

__all__ = [
    "Issue",
    "IssueSeverity",
    "KeyPath",
    "ValidationReport",
    "format_path",
    "issue_order",
    "key_path",
]

KeyPath: TypeAlias = tuple[str | int, ...]
"""Where a value sits in the tree: mapping keys and list indexes, ``("monitoring", "exporters", 1)``."""

IssueSeverity: TypeAlias = Literal["error", "warning"]
"""How bad an issue is: an error makes the configuration invalid, a warning does not."""


def format_path(parts: Iterable[str | int]) -> str:
    """``("monitoring", "metrics", "exporters", 1)`` -> ``monitoring.metrics.exporters.1``."""
    return ".".join(str(p) for p in parts)


def key_path(parts: Iterable[str]) -> KeyPath:
    """The key path spelt by ``parts`` (split from ``a.b.0`` or ``A__B__0``): digit parts index lists.

    Only ASCII digits index: ``²`` or ``٣`` are digits to ``str.isdigit`` but not to ``int``, so they stay
    key names (which the schema then reports as unknown keys, located).
    """
    return tuple(int(p) if p.isascii() and p.isdigit() else p for p in parts)


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
        path = f" {printable(self.path)}" if self.path else ""
        return f"{where}{self.severity} {self.code}{path}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape printed by ``sharedconfig validate --format json``: ``source`` is the origin's
        text as the console shows it, ``origin`` its kind (``file``, ``dotenv``, ``secret``, ``env``,
        ``override``, ...); ``file``/``line``/``column`` are set for origins a person can open."""
        loc = self.location
        in_file = loc is not None and loc.in_file
        return {
            "file": loc.name if in_file and loc else None,
            "line": loc.line if loc else None,
            "column": loc.column if loc else None,
            "source": str(loc) if loc else None,
            "origin": loc.source if loc else None,
            "path": self.path,
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "hint": self.hint,
        }


def issue_order(issue: Issue) -> tuple[Any, ...]:
    """Sort key of a report: issues in files (YAML/JSON/TOML, ``.env``, secret files) by file, line,
    column and key path; then those of other origins (``$VAR``, ``--set``, options) by the origin's text
    and key path; then the unlocated ones."""
    loc = issue.location
    if loc is not None and loc.in_file:
        return (0, loc.name, loc.line or 0, loc.column or 0, issue.path)
    if loc is not None:
        return (1, str(loc), "", 0, issue.path)
    return (2, "", 0, 0, issue.path)


@dataclass(frozen=True, slots=True)
class ValidationReport:
    """Every issue found, ordered by :func:`issue_order` (file, line, column, key path); ``ok`` when none
    is an error. Issues at the same place keep the order they were reported in."""

    issues: tuple[Issue, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "issues", tuple(sorted(self.issues, key=issue_order)))

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
