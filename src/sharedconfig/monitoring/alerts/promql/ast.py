"""The PromQL syntax tree the evaluator walks: small frozen dataclasses, times in integer milliseconds.

``parse.parse`` builds it from ``promql-parser``'s tree; functions, aggregations and operators read it.
Every node is hashable and compares by value, so a parsed rule can key a cache. The node kinds::

    Expr = NumberLiteral | StringLiteral | VectorSelector | MatrixSelector | SubqueryExpr
         | Call | Aggregate | Binary | Unary | Paren

Durations (``offset``, ``range``, ``step``) are ``int`` milliseconds; ``offset`` may be negative. ``at`` is
``None`` or an ``AtModifier``: a fixed time, or ``start()``/``end()`` (both the evaluation time of an
instant query, as Prometheus reads them for rules).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal, TypeAlias

from sharedconfig.monitoring.alerts.promql.re2 import compile_re2

__all__ = [
    "SET_OPERATORS",
    "Aggregate",
    "AtModifier",
    "Binary",
    "Call",
    "Expr",
    "MatchOp",
    "Matcher",
    "MatrixSelector",
    "NumberLiteral",
    "Paren",
    "StringLiteral",
    "SubqueryExpr",
    "Unary",
    "VectorMatching",
    "VectorSelector",
    "children",
    "reach_ms",
    "walk",
]

SET_OPERATORS = frozenset({"and", "or", "unless"})
COMPARISON_OPERATORS = frozenset({"==", "!=", ">", "<", ">=", "<="})


class MatchOp(StrEnum):
    """A label matcher's operator, spelled as in PromQL."""

    EQUAL = "="
    NOT_EQUAL = "!="
    REGEX = "=~"
    NOT_REGEX = "!~"


@dataclass(frozen=True, slots=True)
class Matcher:
    """``name op "value"``; regex matchers match the whole value (anchored), an absent label reads ``""``.

    ``regex`` is the pattern compiled as Prometheus 3 reads it (``.`` matches a newline too),
    ``regex_v2`` as Prometheus 2 does; both are ``None`` for ``=`` and ``!=``.
    """

    name: str
    op: MatchOp
    value: str
    regex: re.Pattern[str] | None = field(default=None, compare=False, repr=False)
    regex_v2: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def of(cls, name: str, op: MatchOp | str, value: str) -> Matcher:
        """A matcher with its regex compiled (``PromQLError`` for a pattern RE2 and Python read apart)."""
        op = MatchOp(op)
        if op in (MatchOp.REGEX, MatchOp.NOT_REGEX):
            return cls(name, op, value, compile_re2(value, dot_all=True), compile_re2(value, dot_all=False))
        return cls(name, op, value)

    def matches(self, value: str, *, v2: bool = False) -> bool:
        """Whether a label value (``""`` for an absent label) satisfies this matcher."""
        op = self.op
        if op is MatchOp.EQUAL:
            return value == self.value
        if op is MatchOp.NOT_EQUAL:
            return value != self.value
        pattern = self.regex_v2 if v2 else self.regex
        assert pattern is not None  # built by Matcher.of
        found = pattern.fullmatch(value) is not None
        return found if op is MatchOp.REGEX else not found

    def __str__(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'{self.name}{self.op.value}"{escaped}"'


@dataclass(frozen=True, slots=True)
class AtModifier:
    """``@ <time>`` (``kind="at"``, ``ms`` the time), ``@ start()`` or ``@ end()``."""

    kind: Literal["at", "start", "end"]
    ms: int = 0


@dataclass(frozen=True, slots=True)
class NumberLiteral:
    """A float literal (``1``, ``1e3``, ``0x10``, ``Inf``, ``NaN``); a leading minus is folded in."""

    value: float


@dataclass(frozen=True, slots=True)
class StringLiteral:
    """A string literal, unescaped."""

    value: str


@dataclass(frozen=True, slots=True)
class VectorSelector:
    """An instant selector. ``matchers`` includes ``__name__="name"`` when the metric name was written."""

    name: str | None
    matchers: tuple[Matcher, ...]
    offset: int = 0
    at: AtModifier | None = None


@dataclass(frozen=True, slots=True)
class MatrixSelector:
    """A range selector ``vector[range]``; the offset and ``@`` are the vector selector's."""

    vector: VectorSelector
    range: int


@dataclass(frozen=True, slots=True)
class SubqueryExpr:
    """``expr[range:step]``; ``step`` is ``None`` when left out (the evaluation interval is used)."""

    expr: Expr
    range: int
    step: int | None = None
    offset: int = 0
    at: AtModifier | None = None


@dataclass(frozen=True, slots=True)
class Call:
    """A function call; ``func`` is the function's name."""

    func: str
    args: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Aggregate:
    """``op [by|without (grouping)] ([param,] expr)``; ``by ()`` and no clause at all are the same."""

    op: str
    expr: Expr
    param: Expr | None = None
    grouping: tuple[str, ...] = ()
    without: bool = False


@dataclass(frozen=True, slots=True)
class VectorMatching:
    """How a binary operator pairs the series of two vectors.

    ``card`` is ``one-to-one`` (the default), ``many-to-one`` (``group_left``), ``one-to-many``
    (``group_right``) or ``many-to-many`` (``and``/``or``/``unless``). ``on=True`` matches on ``labels``
    only; ``on=False`` ignores ``labels`` (plain ``a + b`` ignores nothing). ``include`` are the labels
    ``group_left(...)``/``group_right(...)`` copy from the "one" side.
    """

    card: Literal["one-to-one", "many-to-one", "one-to-many", "many-to-many"] = "one-to-one"
    on: bool = False
    labels: tuple[str, ...] = ()
    include: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Binary:
    """``lhs op rhs``; ``op`` as written (``+ - * / % ^ atan2 == != > < >= <= and or unless``).

    ``matching`` is always set (defaults as ``VectorMatching`` documents); it only matters when both
    sides are vectors.
    """

    op: str
    lhs: Expr
    rhs: Expr
    return_bool: bool = False
    matching: VectorMatching = field(default_factory=VectorMatching)


@dataclass(frozen=True, slots=True)
class Unary:
    """``-expr`` (a unary plus is dropped by the parser)."""

    op: str
    expr: Expr


@dataclass(frozen=True, slots=True)
class Paren:
    """``(expr)``: kept so ``timestamp((x))`` and printing see what was written."""

    expr: Expr


Expr: TypeAlias = (
    NumberLiteral
    | StringLiteral
    | VectorSelector
    | MatrixSelector
    | SubqueryExpr
    | Call
    | Aggregate
    | Binary
    | Unary
    | Paren
)


def children(node: Expr) -> tuple[Expr, ...]:
    """The direct sub-expressions of ``node``, in the order they are written."""
    match node:
        case MatrixSelector(vector=vector):
            return (vector,)
        case SubqueryExpr(expr=expr) | Unary(expr=expr) | Paren(expr=expr):
            return (expr,)
        case Call(args=args):
            return args
        case Aggregate(expr=expr, param=param):
            return (expr,) if param is None else (param, expr)
        case Binary(lhs=lhs, rhs=rhs):
            return (lhs, rhs)
        case _:
            return ()


def walk(node: Expr) -> list[Expr]:
    """``node`` and all its sub-expressions, depth first, parents before children."""
    found: list[Expr] = []
    stack = [node]
    while stack:
        current = stack.pop()
        found.append(current)
        stack.extend(reversed(children(current)))
    return found


def reach_ms(node: Expr) -> int:
    """How far before the evaluation time ``node`` reads samples, not counting the lookback.

    The sum of ranges and offsets along the deepest path (``rate(x[5m] offset 1m)`` reaches 6 m). A
    store keeping ``reach_ms + lookback`` of history answers the expression as if it kept everything,
    except for ``@`` with a fixed time, which can point anywhere.
    """
    match node:
        case VectorSelector(offset=offset):
            return max(0, offset)
        case MatrixSelector(vector=vector, range=range_ms):
            return max(0, range_ms + vector.offset)
        case SubqueryExpr(expr=expr, range=range_ms, offset=offset):
            return max(0, range_ms + offset + reach_ms(expr))
        case _:
            return max((reach_ms(child) for child in children(node)), default=0)
