"""Label matchers as Alertmanager reads them: ``name="value"``, ``!=``, ``=~``, ``!~``, in lists.

A list is written ``{alertname="X", severity=~"crit.*"}`` or without braces and quotes
(``alertname=X, severity!=info``), as ``amtool`` and the ``matchers:`` of Alertmanager's routes and
inhibition rules accept. A label that an alert lacks has the value ``""``, so ``team=""`` matches
alerts without ``team``. Regular expressions are anchored (``^(?:re)$``, the whole value) and read as
Go's RE2 reads them (``promql/re2.py`` translates them for Python's ``re``); what has no equivalent
(backreferences, lookarounds, atomic groups, possessive quantifiers) is refused with ``InvalidMatcher``:
a matcher must select the same alerts here as in Alertmanager. ``str()`` gives Alertmanager's own
spelling, used in group keys.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from sharedconfig.errors import Location, ValidationError
from sharedconfig.monitoring.alerts.promql.errors import PromQLError
from sharedconfig.monitoring.alerts.promql.re2 import compile_re2
from sharedconfig.monitoring.alerts.promql.values import Labels

__all__ = [
    "InvalidMatcher",
    "MatchType",
    "Matcher",
    "compile_anchored",
    "format_matchers",
    "matches",
    "parse_matchers",
]

_LABEL_NAME: Final = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_OPERATOR: Final = re.compile(r"\s*(=~|!~|!=|=)\s*")


class InvalidMatcher(ValidationError, ValueError):
    """A matcher cannot be read or its regular expression is not one RE2 reads alike (``VALIDATION_008``)."""


def _invalid(message: str, text: str, hint: str | None = None) -> InvalidMatcher:
    return InvalidMatcher(
        message,
        hint=hint or 'Write matchers as name="value", name!="value", name=~"regex" or name!~"regex".',
        location=Location("matcher", text),
        component="alerts",
    )


class MatchType(StrEnum):
    """The four operators, spelled as in Alertmanager."""

    EQUAL = "="
    NOT_EQUAL = "!="
    REGEX = "=~"
    NOT_REGEX = "!~"


# -- regular expressions -----------------------------------------------------------------------------

_RE2_HINT: Final = (
    "Write the pattern in Go's RE2 syntax (what Alertmanager uses): no backreferences, lookarounds, atomic "
    "groups or possessive quantifiers."
)


def compile_anchored(pattern: str) -> re.Pattern[str]:
    """``pattern`` (RE2 syntax) compiled to match whole values the way Alertmanager's ``^(?:re)$`` does
    (``.`` does not match a newline); use ``fullmatch``. The translation is PromQL's (``promql/re2.py``).

    Raises ``InvalidMatcher`` when the pattern is not valid, or uses what RE2 does not have."""
    try:
        return compile_re2(pattern, dot_all=False)
    except PromQLError as error:
        raise _invalid(f"invalid regular expression: {error.message}", pattern, _RE2_HINT) from None


# -- matchers ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Matcher:
    """One label matcher; ``matches(value)`` tests a label's value (``""`` when the label is absent)."""

    name: str
    type: MatchType
    value: str
    _regex: re.Pattern[str] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not _LABEL_NAME.fullmatch(self.name):
            raise _invalid(
                f"invalid label name {self.name!r} in a matcher",
                self.name,
                "Label names are letters, digits and underscores, not starting with a digit.",
            )
        object.__setattr__(self, "type", MatchType(self.type))
        if self.type in (MatchType.REGEX, MatchType.NOT_REGEX):
            object.__setattr__(self, "_regex", compile_anchored(self.value))

    @classmethod
    def parse(cls, text: str) -> Matcher:
        """One matcher: ``name="value"`` or ``name=value`` (any of the four operators)."""
        found = parse_matchers(text)
        if len(found) != 1:
            raise _invalid(f"expected one matcher, found {len(found)} in {text!r}", text)
        return found[0]

    def matches(self, value: str) -> bool:
        """Whether a label with ``value`` is selected by this matcher."""
        if self.type is MatchType.EQUAL:
            return value == self.value
        if self.type is MatchType.NOT_EQUAL:
            return value != self.value
        assert self._regex is not None
        found = self._regex.fullmatch(value) is not None
        return found if self.type is MatchType.REGEX else not found

    @property
    def matches_empty(self) -> bool:
        """Whether it selects an absent label (Alertmanager refuses silences made only of these)."""
        return self.matches("")

    @property
    def is_regex(self) -> bool:
        """``=~`` or ``!~`` (the ``isRegex`` of Alertmanager's API)."""
        return self.type in (MatchType.REGEX, MatchType.NOT_REGEX)

    @property
    def is_equal(self) -> bool:
        """``=`` or ``=~`` (the ``isEqual`` of Alertmanager's API)."""
        return self.type in (MatchType.EQUAL, MatchType.REGEX)

    def __str__(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
        return f'{self.name}{self.type.value}"{escaped}"'


def matches(matchers: Iterable[Matcher], labels: Labels | Mapping[str, str]) -> bool:
    """Whether every matcher selects ``labels`` (an empty list selects everything)."""
    values = labels if isinstance(labels, Mapping) else dict(labels)
    return all(m.matches(values.get(m.name, "")) for m in matchers)


def format_matchers(matchers: Iterable[Matcher]) -> str:
    """``{a="b",c=~"d"}``: Alertmanager's ``Matchers.String()`` (no spaces), as route keys spell it."""
    return "{" + ",".join(str(m) for m in matchers) + "}"


def _quoted(text: str, start: int, whole: str) -> tuple[str, int]:
    """The Go-quoted string starting at ``text[start] == '"'``, and the index after its closing quote."""
    out: list[str] = []
    escapes = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'"}
    i = start + 1
    while i < len(text):
        c = text[i]
        if c == '"':
            return "".join(out), i + 1
        if c == "\\":
            nxt = text[i + 1 : i + 2]
            if nxt not in escapes:
                raise _invalid(
                    f"unknown escape \\{nxt} in {whole!r}", whole, 'Escape only \\" \\\\ \\n \\t \\r.'
                )
            out.append(escapes[nxt])
            i += 2
            continue
        out.append(c)
        i += 1
    raise _invalid(f"unterminated quoted value in {whole!r}", whole)


def parse_matchers(text: str) -> list[Matcher]:
    """The matchers in ``text``: ``{a="b", c=~"d"}``, ``a=b,c!=d`` or a single ``a="b"``.

    Values are quoted (Go escapes ``\\"`` ``\\\\`` ``\\n``) or bare up to the next comma (spaces around
    them trimmed). ``{}`` and ``""`` are the empty list. Raises ``InvalidMatcher``."""
    body = text.strip()
    if body.startswith("{"):
        if not body.endswith("}"):
            raise _invalid(f"missing closing brace in {text!r}", text)
        body = body[1:-1]
    elif body.endswith("}"):
        raise _invalid(f"missing opening brace in {text!r}", text)
    found: list[Matcher] = []
    i, n = 0, len(body)
    while True:
        while i < n and body[i].isspace():
            i += 1
        if i >= n:
            break
        name_match = _LABEL_NAME.match(body, i)
        if name_match is None:
            raise _invalid(f"expected a label name at {body[i:]!r} in {text!r}", text)
        op_match = _OPERATOR.match(body, name_match.end())
        if op_match is None:
            raise _invalid(f"expected =, !=, =~ or !~ after {name_match.group()!r} in {text!r}", text)
        i = op_match.end()
        if body[i : i + 1] == '"':
            value, i = _quoted(body, i, text)
        else:
            end = body.find(",", i)
            end = n if end < 0 else end
            value = body[i:end].strip()
            if '"' in value:
                raise _invalid(f"stray quote in the value {value!r} in {text!r}", text)
            i = end
        found.append(Matcher(name_match.group(), MatchType(op_match.group(1)), value))
        while i < n and body[i].isspace():
            i += 1
        if i < n:
            if body[i] != ",":
                raise _invalid(f"expected a comma at {body[i:]!r} in {text!r}", text)
            i += 1
    return found
