"""PromQL binary operators on scalars and instant vectors, as Prometheus 2.42's engine applies them.

Arithmetic ``+ - * / % ^ atan2``, comparison ``== != > < >= <=`` and the set operators ``and or unless``
(``promql/engine.go``: ``scalarBinop``, ``VectorscalarBinop``, ``VectorBinop``, ``VectorAnd/Or/Unless``):

- Values follow Go: ``x/0`` is ``±Inf`` or ``NaN``, ``%`` is ``math.Mod`` (the sign of the dividend, NaN
  for a zero divisor), ``^`` is ``math.Pow`` (its own rounding, see ``_gomath``).
- A comparison without ``bool`` filters: a vector element is kept, with its value (the vector's value,
  whichever side the scalar is on), when the comparison holds; with ``bool`` every element is kept
  with value 1 or 0. Between two scalars a comparison is always 0 or 1.
- ``__name__`` is dropped by ``+ - * / % ^`` and by ``bool``; a filtering comparison and ``atan2`` keep
  it (Prometheus 2.42 does not list ``atan2`` among the operators that drop it).
- Vector matching pairs series by all labels but ``__name__`` (``ignoring``: minus those too; ``on``:
  only those). One-to-one results keep the left side's labels (only the ``on`` labels, or without the
  ``ignoring`` ones); ``group_left``/``group_right`` keep the "many" side's labels and copy the
  ``include`` labels from the "one" side (deleting those the "one" side lacks). Duplicates on the
  "one" side, or results that would collide, are errors worded as Prometheus words them.
- ``and`` keeps the left elements with a match on the right, ``unless`` those without, ``or`` all of
  the left then the unmatched right; their elements keep all labels, ``__name__`` included.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Final, Protocol

from sharedconfig.monitoring.alerts.promql._gomath import go_atan2, go_mod, go_pow
from sharedconfig.monitoring.alerts.promql.errors import PromQLError
from sharedconfig.monitoring.alerts.promql.values import METRIC_NAME, Labels, Sample, Vector, drop_name

__all__ = [
    "ARITHMETIC_OPERATORS",
    "COMPARISON_OPERATORS",
    "SET_OPERATORS",
    "Matching",
    "format_labels",
    "scalar_binop",
    "vector_binop",
    "vector_scalar_binop",
]

ARITHMETIC_OPERATORS: Final = frozenset({"+", "-", "*", "/", "%", "^", "atan2"})
COMPARISON_OPERATORS: Final = frozenset({"==", "!=", ">", "<", ">=", "<="})
SET_OPERATORS: Final = frozenset({"and", "or", "unless"})
_DROPS_NAME: Final = frozenset({"+", "-", "*", "/", "%", "^"})
_MANY_TO_ONE: Final = (
    "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)"
)


class Matching(Protocol):
    """What ``vector_binop`` reads of ``ast.VectorMatching`` (card, on/ignoring labels, include)."""

    @property
    def card(self) -> str: ...
    @property
    def on(self) -> bool: ...
    @property
    def labels(self) -> tuple[str, ...]: ...
    @property
    def include(self) -> tuple[str, ...]: ...


def _elem(op: str, lhs: float, rhs: float) -> tuple[float, bool]:
    """Prometheus's ``vectorElemBinop``: the value, and whether a comparison holds."""
    match op:
        case "+":
            return lhs + rhs, True
        case "-":
            return lhs - rhs, True
        case "*":
            return lhs * rhs, True
        case "/":
            return _divide(lhs, rhs), True
        case "%":
            return go_mod(lhs, rhs), True
        case "^":
            return go_pow(lhs, rhs), True
        case "atan2":
            return go_atan2(lhs, rhs), True
        case "==":
            return lhs, lhs == rhs
        case "!=":
            return lhs, lhs != rhs
        case ">":
            return lhs, lhs > rhs
        case "<":
            return lhs, lhs < rhs
        case ">=":
            return lhs, lhs >= rhs
        case "<=":
            return lhs, lhs <= rhs
    raise PromQLError(f"operator {op!r} is not a binary operator between numbers")


def _divide(lhs: float, rhs: float) -> float:
    if rhs != 0:
        return lhs / rhs
    if lhs == 0 or math.isnan(lhs):
        return math.nan
    # IEEE: the sign is the XOR of the operands' signs, the zero's sign included
    return math.copysign(math.inf, lhs) * math.copysign(1.0, rhs)


def scalar_binop(op: str, lhs: float, rhs: float) -> float:
    """``lhs op rhs`` between two scalars; a comparison gives 1.0 or 0.0 (the parser requires ``bool``)."""
    value, holds = _elem(op, lhs, rhs)
    if op in COMPARISON_OPERATORS:
        return 1.0 if holds else 0.0
    return value


def vector_scalar_binop(
    op: str,
    vector: Sequence[Sample],
    scalar: float,
    *,
    scalar_on_left: bool = False,
    return_bool: bool = False,
) -> Vector:
    """``vector op scalar`` (or ``scalar op vector`` with ``scalar_on_left``), element by element."""
    if op in SET_OPERATORS:
        raise PromQLError(f"set operator {op!r} not allowed in binary scalar expression")
    comparison = op in COMPARISON_OPERATORS
    out: Vector = []
    for sample in vector:
        lhs, rhs = (scalar, sample.value) if scalar_on_left else (sample.value, scalar)
        value, keep = _elem(op, lhs, rhs)
        if comparison and scalar_on_left:
            value = rhs  # a filter keeps the vector's value whichever side it is on
        if return_bool:
            value = 1.0 if keep else 0.0
            keep = True
        if keep:
            metric = drop_name(sample.labels) if op in _DROPS_NAME or return_bool else sample.labels
            out.append(Sample(metric, value, sample.t))
    return out


def vector_binop(
    op: str, lhs: Sequence[Sample], rhs: Sequence[Sample], *, matching: Matching, return_bool: bool = False
) -> Vector:
    """``lhs op rhs`` between two instant vectors, matched as ``matching`` says; see the module docstring.

    Raises ``PromQLError`` with Prometheus's words when a match is ambiguous.
    """
    signature = _signature(matching.on, matching.labels)
    if op in SET_OPERATORS:
        return _set_binop(op, lhs, rhs, signature)
    if matching.card == "many-to-many":
        raise PromQLError("many-to-many matching is only allowed for set operators (and, or, unless)")
    one_to_many = matching.card == "one-to-many"
    many, one = (rhs, lhs) if one_to_many else (lhs, rhs)
    one_by_sig: dict[Labels, Sample] = {}
    for sample in one:
        sig = signature(sample.labels)
        duplicate = one_by_sig.get(sig)
        if duplicate is not None:
            side = "left" if one_to_many else "right"
            raise PromQLError(
                f"found duplicate series for the match group {format_labels(sig)} on the {side} hand-side of "
                f"the operation: [{format_labels(sample.labels)}, {format_labels(duplicate.labels)}];"
                "many-to-many matching not allowed: matching labels must be unique on one side"
            )
        one_by_sig[sig] = sample
    matched: dict[Labels, set[Labels] | None] = {}
    out: Vector = []
    for sample in many:
        sig = signature(sample.labels)
        other = one_by_sig.get(sig)
        if other is None:
            continue
        vl, vr = (other.value, sample.value) if one_to_many else (sample.value, other.value)
        value, keep = _elem(op, vl, vr)
        if return_bool:
            value = 1.0 if keep else 0.0
        elif not keep:
            continue
        metric = _result_labels(sample.labels, other.labels, op, matching)
        if return_bool:
            metric = drop_name(metric)
        if matching.card == "one-to-one":
            if sig in matched:
                raise PromQLError(_MANY_TO_ONE)
            matched[sig] = None
        else:
            inserted = matched.get(sig)
            if inserted is None:
                inserted = set()
                matched[sig] = inserted
            elif metric in inserted:
                raise PromQLError("multiple matches for labels: grouping labels must ensure unique matches")
            inserted.add(metric)
        out.append(Sample(metric, value, sample.t))
    return out


def _set_binop(
    op: str, lhs: Sequence[Sample], rhs: Sequence[Sample], signature: Callable[[Labels], Labels]
) -> Vector:
    if op == "and":
        if not lhs or not rhs:
            return []
        right = {signature(s.labels) for s in rhs}
        return [s for s in lhs if signature(s.labels) in right]
    if op == "unless":
        if not lhs or not rhs:
            return list(lhs)
        right = {signature(s.labels) for s in rhs}
        return [s for s in lhs if signature(s.labels) not in right]
    if not lhs or not rhs:
        return [*lhs, *rhs]
    left = {signature(s.labels) for s in lhs}
    return [*lhs, *(s for s in rhs if signature(s.labels) not in left)]


def _signature(on: bool, names: Sequence[str]) -> Callable[[Labels], Labels]:
    """The labels two series must share to match: ``on`` those only, else all but those and ``__name__``."""
    if on:
        keep = frozenset(names)
        return lambda metric: tuple(pair for pair in metric if pair[0] in keep)
    drop = frozenset(names) | {METRIC_NAME}
    return lambda metric: tuple(pair for pair in metric if pair[0] not in drop)


def _result_labels(many: Labels, one: Labels, op: str, matching: Matching) -> Labels:
    """Prometheus's ``resultMetric``: the "many" side's labels, trimmed and enriched from the "one" side."""
    result = dict(many)
    if op in _DROPS_NAME:
        result.pop(METRIC_NAME, None)
    if matching.card == "one-to-one":
        names = frozenset(matching.labels)
        if matching.on:
            result = {k: v for k, v in result.items() if k in names}
        else:
            result = {k: v for k, v in result.items() if k not in names}
    if matching.include:
        from_one = dict(one)
        for name in matching.include:
            value = from_one.get(name, "")
            if value:
                result[name] = value
            else:
                result.pop(name, None)
    return tuple(sorted(result.items()))


_GO_ESCAPES: Final = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
}


def _go_quote(text: str) -> str:
    """Go's ``strconv.Quote`` for label values: backslash escapes for quotes and control characters."""
    parts = ['"']
    for ch in text:
        if ch in ('"', "\\"):
            parts.append("\\" + ch)
        elif ch in _GO_ESCAPES:
            parts.append(_GO_ESCAPES[ch])
        elif ch.isprintable():
            parts.append(ch)
        elif ord(ch) < 0x80:
            parts.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            parts.append(f"\\u{ord(ch):04x}")
        else:
            parts.append(f"\\U{ord(ch):08x}")
    parts.append('"')
    return "".join(parts)


def format_labels(of: Labels) -> str:
    """Labels as Prometheus's ``labels.String`` prints them: ``{__name__="up", job="api"}``."""
    return "{" + ", ".join(f"{name}={_go_quote(value)}" for name, value in of) + "}"
