"""Parse PromQL text into our syntax tree (``ast``), with ``promql-parser`` doing the grammar.

``promql-parser`` (a binding of GreptimeTeam's Rust parser, which follows Prometheus's grammar, types
and precedence) parses; this module converts its tree into the frozen dataclasses of ``ast`` and adds
what it lacks: a column for errors (the parser gives none: the offending token is looked for in the
text), regexes checked against RE2 (``re2``), and a refusal where the binding cannot carry a value
(a negative ``@`` time, which it cannot represent) or the syntax is not Prometheus's (``{a="b" or c="d"}``,
``fill`` modifiers). Install it with the ``alerts`` extra.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from sharedconfig.monitoring.alerts.promql.ast import (
    SET_OPERATORS,
    Aggregate,
    AtModifier,
    Binary,
    Call,
    Expr,
    Matcher,
    MatchOp,
    MatrixSelector,
    NumberLiteral,
    Paren,
    StringLiteral,
    SubqueryExpr,
    Unary,
    VectorMatching,
    VectorSelector,
)
from sharedconfig.monitoring.alerts.promql.errors import PromQLError

if TYPE_CHECKING:
    from types import ModuleType

__all__ = ["PromQLError", "parse"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
_MATCH_OPS = {
    "Equal": MatchOp.EQUAL,
    "NotEqual": MatchOp.NOT_EQUAL,
    "Re": MatchOp.REGEX,
    "NotRe": MatchOp.NOT_REGEX,
}
_CARDS: dict[str, Literal["one-to-one", "many-to-one", "one-to-many", "many-to-many"]] = {
    "OneToOne": "one-to-one",
    "ManyToOne": "many-to-one",
    "OneToMany": "one-to-many",
    "ManyToMany": "many-to-many",
}


def _name(member: Any) -> str:
    """The member name of one of the binding's enum-like values (they are not ``enum.Enum``)."""
    return repr(member).rsplit(".", 1)[-1]


def _parser() -> ModuleType:
    try:
        import promql_parser
    except ImportError:  # pragma: no cover - the extra is installed wherever the tests run
        raise PromQLError(
            "PromQL needs the promql-parser package: pip install 'sharedconfig[alerts]'"
        ) from None
    return promql_parser


def parse(text: str) -> Expr:
    """The syntax tree of the PromQL ``text``; ``PromQLError`` (with a column when found) if invalid."""
    masked = _mask_strings(text)
    negative_at = re.search(r"@\s*-", masked)
    if negative_at:
        raise _error("a negative @ time is not supported", text, negative_at.start())
    parser = _parser()
    try:
        tree = parser.parse(text)
    except ValueError as error:
        message = str(error)
        raise _error(message, text, _find_column(message, text, masked)) from None
    except BaseException as error:  # a panic in the Rust code arrives as pyo3's PanicException
        if type(error).__name__ != "PanicException":
            raise
        raise _error(f"the parser failed on this query: {error}", text, None) from None
    try:
        return _convert(tree)
    except PromQLError as error:
        if error.column is not None:
            raise
        raise _error(error.message, text, _find_column(error.message, text, masked)) from None


def _error(message: str, text: str, offset: int | None) -> PromQLError:
    if offset is None:
        return PromQLError(message, query=text)
    line = text.count("\n", 0, offset) + 1 if "\n" in text else None
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return PromQLError(message, query=text, line=line, column=column)


def _mask_strings(text: str) -> str:
    """``text`` with the inside of string literals blanked, so token searches skip label values."""
    out = list(text)
    quote: str | None = None
    i = 0
    while i < len(text):
        c = text[i]
        if quote is None:
            if c in "\"'`":
                quote = c
            elif c == "#":  # a comment runs to the end of the line
                end = text.find("\n", i)
                end = len(text) if end < 0 else end
                out[i:end] = " " * (end - i)
                i = end
                continue
        elif c == "\\" and quote != "`":
            out[i] = " "
            if i + 1 < len(text):
                out[i + 1] = " "
            i += 2
            continue
        elif c == quote:
            quote = None
        else:
            out[i] = " "
        i += 1
    return "".join(out)


def _unmatched(masked: str, opening: str, closing: str) -> int | None:
    stack: list[int] = []
    for i, c in enumerate(masked):
        if c == opening:
            stack.append(i)
        elif c == closing:
            if not stack:
                return i
            stack.pop()
    return stack[-1] if stack else None


def _find_column(message: str, text: str, masked: str) -> int | None:
    """Where in ``text`` the token ``message`` complains about is (0-based), when it can be told."""
    lowered = message.lower()
    if "unexpected end of input" in lowered or lowered.startswith("no expression found"):
        return len(text.rstrip())
    if "parenthes" in lowered:
        return _unmatched(masked, "(", ")")
    if "brace" in lowered:
        return _unmatched(masked, "{", "}")
    if "bracket" in lowered:
        return _unmatched(masked, "[", "]")
    if lowered.startswith(("illegal regex for ", "regex ")):
        pattern = message.split("for ", 1)[1] if lowered.startswith("illegal") else message.split("'")[1]
        found = text.find(pattern)
        return None if found < 0 else found
    if "may not be set multiple times" in lowered:
        ats = [m.start() for m in re.finditer("@", masked)]
        return ats[1] if len(ats) > 1 else None
    if "bool modifier" in lowered:
        return _token(masked, "bool")
    for quoted in re.findall(r"'([^']+)'", message):
        at = _token(masked, quoted)
        if at is not None:
            return at
    return None


def _token(masked: str, word: str) -> int | None:
    match = re.search(rf"(?<![\w:]){re.escape(word)}(?![\w:])", masked)
    return match.start() if match else None


def _ms(delta: timedelta | None) -> int:
    return 0 if delta is None else round(delta / _MS)


def _at(node: Any) -> AtModifier | None:
    at = node.at
    if at is None:
        return None
    kind = _name(at.type)
    if kind == "Start":
        return AtModifier("start")
    if kind == "End":
        return AtModifier("end")
    return AtModifier("at", round((at.at - _EPOCH) / _MS))


def _selector(node: Any) -> VectorSelector:
    if node.matchers.or_matchers:
        raise PromQLError("'or' between label matchers is not PromQL (write two selectors and `or` them)")
    matchers = tuple(Matcher.of(m.name, _MATCH_OPS[_name(m.op)], m.value) for m in node.matchers.matchers)
    name = node.name
    if name is not None and not any(m.name == "__name__" for m in matchers):
        matchers = (Matcher.of("__name__", MatchOp.EQUAL, name), *matchers)
    return VectorSelector(name=name, matchers=matchers, offset=_ms(node.offset), at=_at(node))


def _convert(node: Any) -> Expr:
    p = _parser()
    if isinstance(node, p.NumberLiteral):
        return NumberLiteral(float(node.val))
    if isinstance(node, p.StringLiteral):
        return StringLiteral(str(node.val))
    if isinstance(node, p.VectorSelector):
        return _selector(node)
    if isinstance(node, p.MatrixSelector):
        return MatrixSelector(_selector(node.vector_selector), _ms(node.range))
    if isinstance(node, p.SubqueryExpr):
        step = None if node.step is None else _ms(node.step)
        return SubqueryExpr(_convert(node.expr), _ms(node.range), step, _ms(node.offset), _at(node))
    if isinstance(node, p.Call):
        return Call(node.func.name, tuple(_convert(arg) for arg in node.args))
    if isinstance(node, p.AggregateExpr):
        param = None if node.param is None else _convert(node.param)
        modifier = node.modifier
        grouping = tuple(modifier.labels) if modifier is not None else ()
        without = modifier is not None and _name(modifier.type) == "Without"
        return Aggregate(str(node.op), _convert(node.expr), param, grouping, without)
    if isinstance(node, p.BinaryExpr):
        return _binary(node)
    if isinstance(node, p.UnaryExpr):
        return Unary("-", _convert(node.expr))
    if isinstance(node, p.ParenExpr):
        return Paren(_convert(node.expr))
    raise PromQLError(f"unsupported expression {type(node).__name__}")  # pragma: no cover - a newer parser


def _binary(node: Any) -> Binary:
    op = str(node.op)
    modifier = node.modifier
    lhs, rhs = _convert(node.lhs), _convert(node.rhs)
    default_card: Literal["one-to-one", "many-to-many"] = (
        "many-to-many" if op in SET_OPERATORS else "one-to-one"
    )
    if modifier is None:
        return Binary(op, lhs, rhs, False, VectorMatching(default_card))
    fill = modifier.fill_values
    if fill is not None and (fill.lhs is not None or fill.rhs is not None):
        raise PromQLError("fill modifiers are not PromQL as Prometheus 2 and 3 parse it")
    matching = modifier.matching
    card = _CARDS[_name(modifier.card)]
    if op in SET_OPERATORS:
        card = "many-to-many"
    return Binary(
        op,
        lhs,
        rhs,
        bool(modifier.return_bool),
        VectorMatching(
            card=card,
            on=matching is not None and _name(matching.type) == "Include",
            labels=tuple(matching.labels) if matching is not None else (),
            include=tuple(modifier.group_labels or ()),
        ),
    )
