"""The PromQL evaluator: an expression at a time over a ``SampleStore``, with Prometheus's semantics.

``Engine(store).instant("rate(errors_total[5m]) > 0.1", t_ms)`` returns a ``Vector`` (list of
``Sample``), a ``Matrix`` (for a range selector or subquery at the top), a float (scalar) or a str.
What it follows (``promql/engine.go``):

- An instant selector takes, per series, the newest point in the lookback window before the reference
  time (the evaluation time minus ``offset``, or the ``@`` time minus ``offset``); a stale marker as the
  newest point means the series is absent. Prometheus 3 (``compat="v3"``, the default) reads the window
  left-open, ``(ref - lookback, ref]``; Prometheus 2 (``compat="v2"``) closed, ``[ref - lookback, ref]``.
- A range selector takes the points in ``(ref - range, ref]`` (v3) or ``[ref - range, ref]`` (v2),
  stale markers dropped; series with no point are left out.
- ``@ start()`` and ``@ end()`` are the query's time (a rule's evaluation is an instant query).
- A subquery ``expr[range:step]`` evaluates ``expr`` at every multiple of ``step`` (counted from the
  epoch, as Prometheus aligns them) after ``ref - range`` (v3: strictly after; v2: from it) up to
  ``ref``; ``step`` defaults to ``default_step_ms`` (the rules' evaluation interval).
- Range functions are ``functions_range``'s; aggregations ``aggregate``'s; operators ``binary``'s;
  other functions ``functions_instant``'s (those three are imported when first used, and a missing
  one is a "not supported yet" ``PromQLError``). ``absent``, ``absent_over_time``, ``time``, ``timestamp``,
  ``vector`` and ``scalar`` are here. Functions, operators and aggregations that would return two
  samples with the same labels fail as Prometheus does ("vector cannot contain metrics with the same
  labelset").
"""

from __future__ import annotations

import importlib
import math
from typing import Any, Literal, TypeAlias

from sharedconfig.monitoring.alerts.promql.ast import (
    Aggregate,
    AtModifier,
    Binary,
    Call,
    Expr,
    MatchOp,
    MatrixSelector,
    NumberLiteral,
    Paren,
    StringLiteral,
    SubqueryExpr,
    Unary,
    VectorSelector,
)
from sharedconfig.monitoring.alerts.promql.errors import PromQLError
from sharedconfig.monitoring.alerts.promql.functions_range import (
    KEEPS_METRIC_NAME,
    RANGE_FUNCTIONS,
    RangeWindow,
)
from sharedconfig.monitoring.alerts.promql.parse import parse
from sharedconfig.monitoring.alerts.promql.store import SampleStore
from sharedconfig.monitoring.alerts.promql.values import (
    METRIC_NAME,
    Labels,
    Matrix,
    Sample,
    Series,
    Vector,
    drop_name,
    is_stale,
    labels,
)

__all__ = ["Compat", "Engine", "Value"]

Value: TypeAlias = Vector | Matrix | float | str
Compat: TypeAlias = Literal["v2", "v3"]

DEFAULT_LOOKBACK_MS = 300_000
DEFAULT_STEP_MS = 60_000


class Engine:
    """Evaluates PromQL over ``store``; ``compat`` picks Prometheus 3's or 2's window ends."""

    def __init__(
        self,
        store: SampleStore,
        *,
        lookback_ms: int = DEFAULT_LOOKBACK_MS,
        compat: Compat = "v3",
        default_step_ms: int = DEFAULT_STEP_MS,
    ) -> None:
        if compat not in ("v2", "v3"):
            raise ValueError(f"compat must be 'v2' or 'v3', not {compat!r}")
        if lookback_ms <= 0 or default_step_ms <= 0:
            raise ValueError("lookback_ms and default_step_ms must be positive")
        self.store = store
        self.lookback_ms = lookback_ms
        self.compat: Compat = compat
        self.default_step_ms = default_step_ms

    def instant(self, expr: Expr | str, t_ms: int) -> Value:
        """The value of ``expr`` (text or a parsed tree) at ``t_ms``; ``PromQLError`` if it fails."""
        node = parse(expr) if isinstance(expr, str) else expr
        return _Evaluation(self, t_ms).eval(node, t_ms)

    def range_query(self, expr: Expr | str, start_ms: int, end_ms: int, step_ms: int) -> Matrix:
        """``expr`` at ``start_ms``, ``start_ms + step_ms``, ... ``<= end_ms``, as one series per labels.

        Each step is an instant evaluation (so ``@ start()`` is that step's time, not the range's
        start, which differs from Prometheus's range queries); a scalar becomes a series without labels.
        """
        if step_ms <= 0 or end_ms < start_ms:
            raise ValueError("step_ms must be positive and end_ms >= start_ms")
        node = parse(expr) if isinstance(expr, str) else expr
        collected: dict[Labels, list[tuple[int, float]]] = {}
        for t in range(start_ms, end_ms + 1, step_ms):
            value = self.instant(node, t)
            if isinstance(value, float):
                collected.setdefault((), []).append((t, value))
            elif isinstance(value, list) and all(isinstance(s, Sample) for s in value):
                for sample in value:
                    assert isinstance(sample, Sample)
                    collected.setdefault(sample.labels, []).append((t, sample.value))
            else:
                raise PromQLError("a range query needs an expression of scalar or instant vector type")
        return [Series(k, tuple(v)) for k, v in sorted(collected.items())]


class _Evaluation:
    """One query: the engine's settings and the query time (what ``@ start()``/``@ end()`` mean)."""

    def __init__(self, engine: Engine, query_t: int) -> None:
        self.store = engine.store
        self.lookback = engine.lookback_ms
        self.v2 = engine.compat == "v2"
        self.default_step = engine.default_step_ms
        self.query_t = query_t

    def reference(self, t: int, offset: int, at: AtModifier | None) -> int:
        if at is None:
            return t - offset
        return (at.ms if at.kind == "at" else self.query_t) - offset

    def eval(self, node: Expr, t: int) -> Value:
        match node:
            case NumberLiteral(value=value):
                return value
            case StringLiteral(value=value):
                return value
            case Paren(expr=inner):
                return self.eval(inner, t)
            case VectorSelector():
                return [Sample(k, v, t) for k, _, v in self.select_instant(node, t)]
            case MatrixSelector():
                return self.select_range(node, t)[0]
            case SubqueryExpr():
                return self.subquery(node, t)[0]
            case Unary(expr=inner):
                operand = self.eval(inner, t)
                if isinstance(operand, float):
                    return -operand
                return [Sample(drop_name(s.labels), -s.value, s.t) for s in self.vector(operand, node)]
            case Call():
                return _unique(self.call(node, t))
            case Aggregate():
                return _unique(self.aggregate(node, t))
            case Binary():
                return _unique(self.binary(node, t))
        raise PromQLError(f"cannot evaluate {type(node).__name__}")  # pragma: no cover - Expr is closed

    # selectors ---------------------------------------------------------------------------------

    def select_instant(self, node: VectorSelector, t: int) -> list[tuple[Labels, int, float]]:
        """Per matching series its newest point in the lookback window: ``(labels, point time, value)``."""
        ref = self.reference(t, node.offset, node.at)
        start = ref - self.lookback
        found = []
        for series_labels, (point_t, value) in self.store.latest(node.matchers, start, ref, v2=self.v2):
            if (point_t > start or self.v2) and not is_stale(value):
                found.append((series_labels, point_t, value))
        return found

    def select_range(self, node: MatrixSelector, t: int) -> tuple[Matrix, RangeWindow]:
        selector = node.vector
        end = self.reference(t, selector.offset, selector.at)
        start = end - node.range
        matrix = []
        for series in self.store.select(selector.matchers, start, end, v2=self.v2):
            points = tuple(p for p in series.points if not is_stale(p[1]) and (p[0] > start or self.v2))
            if points:
                matrix.append(Series(series.labels, points))
        return matrix, RangeWindow(start, end, node.range, t, v2=self.v2)

    def subquery(self, node: SubqueryExpr, t: int) -> tuple[Matrix, RangeWindow]:
        end = self.reference(t, node.offset, node.at)
        step = node.step or self.default_step
        first = step * ((end - node.range) // step)
        if first < end - node.range or (first == end - node.range and not self.v2):
            first += step
        collected: dict[Labels, list[tuple[int, float]]] = {}
        for inner_t in range(first, end + 1, step):
            value = self.eval(node.expr, inner_t)
            for sample in self.vector(value, node):
                collected.setdefault(sample.labels, []).append((inner_t, sample.value))
        matrix = [Series(k, tuple(v)) for k, v in sorted(collected.items())]
        return matrix, RangeWindow(end - node.range, end, node.range, t, v2=self.v2)

    def vector(self, value: Value, node: Expr) -> Vector:
        if isinstance(value, list) and all(isinstance(s, Sample) for s in value):
            return [s for s in value if isinstance(s, Sample)]
        raise PromQLError(f"expected an instant vector, got {_kind(value)} in {type(node).__name__}")

    def scalar(self, value: Value, node: Expr) -> float:
        if isinstance(value, float):
            return value
        raise PromQLError(f"expected a scalar, got {_kind(value)} in {type(node).__name__}")

    def string(self, value: Value, node: Expr) -> str:
        if isinstance(value, str):
            return value
        raise PromQLError(f"expected a string, got {_kind(value)} in {type(node).__name__}")

    # functions ---------------------------------------------------------------------------------

    def range_argument(self, node: Expr, t: int) -> tuple[Matrix, RangeWindow]:
        while isinstance(node, Paren):
            node = node.expr
        if isinstance(node, MatrixSelector):
            return self.select_range(node, t)
        if isinstance(node, SubqueryExpr):
            return self.subquery(node, t)
        raise PromQLError(f"expected a range vector, got {type(node).__name__}")

    def call(self, node: Call, t: int) -> Value:
        name, args = node.func, node.args
        if name in RANGE_FUNCTIONS:
            matrix_at = 1 if name == "quantile_over_time" else 0
            params = tuple(self.scalar(self.eval(a, t), node) for i, a in enumerate(args) if i != matrix_at)
            matrix, window = self.range_argument(args[matrix_at], t)
            window = RangeWindow(window.start, window.end, window.range_ms, t, params, self.v2)
            function = RANGE_FUNCTIONS[name]
            keep_name = name in KEEPS_METRIC_NAME
            out: Vector = []
            for series in matrix:
                result = function(series.points, window)
                if result is not None:
                    out.append(Sample(series.labels if keep_name else drop_name(series.labels), result, t))
            return out
        if name == "absent_over_time":
            matrix, _ = self.range_argument(args[0], t)
            return [] if matrix else [Sample(_absent_labels(args[0]), 1.0, t)]
        if name == "absent":
            present = self.vector(self.eval(args[0], t), node)
            return [] if present else [Sample(_absent_labels(args[0]), 1.0, t)]
        if name == "time":
            return t / 1000
        if name == "vector":
            return [Sample((), self.scalar(self.eval(args[0], t), node), t)]
        if name == "scalar":
            samples = self.vector(self.eval(args[0], t), node)
            return samples[0].value if len(samples) == 1 else math.nan
        if name == "timestamp":
            return self.timestamp(args[0], t)
        return self.instant_function(node, t)

    def timestamp(self, arg: Expr, t: int) -> Vector:
        while isinstance(arg, Paren):
            arg = arg.expr
        if isinstance(arg, VectorSelector):  # the points' own times, as Prometheus does for a selector
            return [Sample(drop_name(k), point_t / 1000, t) for k, point_t, _ in self.select_instant(arg, t)]
        return [Sample(drop_name(s.labels), t / 1000, t) for s in self.vector(self.eval(arg, t), arg)]

    def instant_function(self, node: Call, t: int) -> Value:
        name = node.func
        values = [self.eval(arg, t) for arg in node.args]
        f = _sibling("functions_instant", f"function {name}()")
        result: Vector
        if name in f.MATH_FUNCTIONS:
            result = f.math_function(name, self.vector(values[0], node))
        elif name == "round":
            to_nearest = self.scalar(values[1], node) if len(values) > 1 else 1.0
            result = f.round_vector(self.vector(values[0], node), to_nearest)
        elif name == "clamp":
            low, high = self.scalar(values[1], node), self.scalar(values[2], node)
            result = f.clamp(self.vector(values[0], node), low, high)
        elif name == "clamp_min":
            result = f.clamp_min(self.vector(values[0], node), self.scalar(values[1], node))
        elif name == "clamp_max":
            result = f.clamp_max(self.vector(values[0], node), self.scalar(values[1], node))
        elif name == "sort":
            result = f.sort(self.vector(values[0], node))
        elif name == "sort_desc":
            result = f.sort_desc(self.vector(values[0], node))
        elif name == "label_replace":
            dst, replacement, src, regex = (self.string(v, node) for v in values[1:5])
            vector = self.vector(values[0], node)
            result = f.label_replace(vector, dst, replacement, src, regex, dot_all=not self.v2)
        elif name == "label_join":
            dst, separator, *sources = (self.string(v, node) for v in values[1:])
            result = f.label_join(self.vector(values[0], node), dst, separator, *sources)
        elif name == "histogram_quantile":
            result = f.histogram_quantile(self.scalar(values[0], node), self.vector(values[1], node))
        else:
            raise PromQLError(f"function {name}() is not supported yet")
        return result

    # aggregations and operators ----------------------------------------------------------------

    def aggregate(self, node: Aggregate, t: int) -> Vector:
        param: float | str | None = None
        if node.param is not None:
            value = self.eval(node.param, t)
            if not isinstance(value, float | str):
                raise PromQLError(
                    f"{node.op}: the parameter must be a scalar or a string, got {_kind(value)}"
                )
            param = value
        vector = self.vector(self.eval(node.expr, t), node)
        aggregations = _sibling("aggregate", f"aggregation {node.op}")
        result: Vector = aggregations.aggregate(
            node.op, vector, grouping=node.grouping, without=node.without, param=param
        )
        return result

    def binary(self, node: Binary, t: int) -> Value:
        lhs, rhs = self.eval(node.lhs, t), self.eval(node.rhs, t)
        operators = _sibling("binary", f"operator {node.op}")
        result: Value
        if isinstance(lhs, float) and isinstance(rhs, float):
            result = operators.scalar_binop(node.op, lhs, rhs)
        elif isinstance(rhs, float):
            result = operators.vector_scalar_binop(
                node.op, self.vector(lhs, node), rhs, return_bool=node.return_bool
            )
        elif isinstance(lhs, float):
            result = operators.vector_scalar_binop(
                node.op, self.vector(rhs, node), lhs, scalar_on_left=True, return_bool=node.return_bool
            )
        else:
            result = operators.vector_binop(
                node.op,
                self.vector(lhs, node),
                self.vector(rhs, node),
                matching=node.matching,
                return_bool=node.return_bool,
            )
        return result


def _sibling(module: str, what: str) -> Any:
    """A sibling module written as a separate piece (``aggregate``, ``binary``, ``functions_instant``).

    Imported when first needed, so the evaluator works, and says clearly what it cannot do yet, while
    a piece is missing: ``PromQLError("... is not supported yet")``.
    """
    name = f"{__package__}.{module}"
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as error:
        if error.name != name:
            raise
        raise PromQLError(f"{what} is not supported yet") from None


def _kind(value: Value) -> str:
    if isinstance(value, float):
        return "scalar"
    if isinstance(value, str):
        return "string"
    if value and isinstance(value[0], Series):
        return "range vector"
    return "instant vector"


def _unique(value: Value) -> Value:
    """``value``, or ``PromQLError`` when two of its samples have the same labels (Prometheus refuses)."""
    if isinstance(value, list) and len(value) > 1:
        seen = {s.labels for s in value if isinstance(s, Sample)}
        if len(seen) != len(value):
            raise PromQLError("vector cannot contain metrics with the same labelset")
    return value


def _absent_labels(arg: Expr) -> Labels:
    """The labels ``absent(selector)`` reports: the selector's ``=`` matchers, as Prometheus picks them.

    A label matched twice, or matched by anything but ``=``, is left out; ``__name__`` always is.
    """
    while isinstance(arg, Paren):
        arg = arg.expr
    if isinstance(arg, MatrixSelector):
        arg = arg.vector
    if not isinstance(arg, VectorSelector):
        return ()
    chosen: dict[str, str] = {}
    seen: set[str] = set()
    for m in arg.matchers:
        if m.name == METRIC_NAME:
            continue
        if m.op is MatchOp.EQUAL and m.name not in seen:
            chosen[m.name] = m.value
            seen.add(m.name)
        else:
            chosen.pop(m.name, None)
    return labels(chosen)
