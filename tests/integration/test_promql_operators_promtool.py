"""Aggregations, binary operators and instant functions against the real promtool 2.42 (a differential test).

One promtool unit-test file loads the series below and asks for every expression in ``CASES`` with an
expectation that cannot hold, so promtool prints what Prometheus's engine got (values in Go's shortest
``%E``, exact). Each expression is also computed by our functions straight from the same input samples
(the evaluator is not involved), and the two must agree exactly: labels, values to the last bit, NaN
and the sign of zero included, or the same error. promtool sorts what it prints, so order is checked by
the unit tests, not here. The expressions then run end to end through ``Engine`` (compat v2) as well.
"""

from __future__ import annotations

import itertools
import math
import random
import re
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import require_binary
from sharedconfig.monitoring.alerts.promql import aggregate as agg
from sharedconfig.monitoring.alerts.promql import binary
from sharedconfig.monitoring.alerts.promql import functions_instant as fn
from sharedconfig.monitoring.alerts.promql._gomath import format_f
from sharedconfig.monitoring.alerts.promql.ast import VectorMatching
from sharedconfig.monitoring.alerts.promql.engine import Engine
from sharedconfig.monitoring.alerts.promql.errors import PromQLError
from sharedconfig.monitoring.alerts.promql.store import SampleStore
from sharedconfig.monitoring.alerts.promql.values import Labels, Sample, Vector, labels

# --- the input series: (metric name, labels, value) -------------------------------------------------------

_rng = random.Random(20240611)
RANDOM_VALUES = [
    *(_rng.uniform(0, 1) for _ in range(12)),
    *(_rng.uniform(1, 1000) for _ in range(12)),
    *(10 ** _rng.uniform(-300, 300) for _ in range(12)),
    *(_rng.uniform(-50, 50) for _ in range(12)),
]

SERIES: list[tuple[str, dict[str, str], float]] = [
    *(
        ("http_requests", {"job": job, "instance": inst, "group": grp}, value)
        for (job, inst, grp), value in zip(
            [
                (j, i, g)
                for j in ("api-server", "app-server")
                for g in ("production", "canary")
                for i in ("0", "1")
            ],
            [100, 200, 300, 400, 500, 600, 700, 800],
            strict=True,
        )
    ),
    *(
        ("vals", {"i": name}, value)
        for name, value in [
            ("a", 1.5),
            ("b", -2.25),
            ("c", 0.0),
            ("d", math.nan),
            ("e", math.inf),
            ("f", -math.inf),
            ("g", 0.1),
            ("h", 1e300),
            ("j", 3.0),
            ("k", -0.5),
            ("l", 2.5),
            ("m", -7.3),
            ("n", 1e-310),
        ]
    ),
    *(("rnd", {"i": f"{n:02d}"}, value) for n, value in enumerate(RANDOM_VALUES)),
    *(("fl", {"i": str(n)}, value) for n, value in enumerate([0.1, 0.2, 0.3, 1e16, -1e16, 0.7, 1 / 3])),
    *(("tie", {"i": str(n)}, value) for n, value in enumerate([5, 5, 5, 1, 5, 9, 9], start=1)),
    *(("nans", {"i": str(n)}, value) for n, value in enumerate([math.nan, 3, math.nan, -1], start=1)),
    ("allnan", {"i": "1"}, math.nan),
    ("allnan", {"i": "2"}, math.nan),
    ("infs", {"i": "1"}, math.inf),
    ("infs", {"i": "2"}, 5),
    ("infs", {"i": "3"}, math.inf),
    ("infs2", {"i": "1"}, math.inf),
    ("infs2", {"i": "2"}, -math.inf),
    ("infs2", {"i": "3"}, 1),
    ("method_code:http_errors:rate5m", {"method": "get", "code": "500"}, 24),
    ("method_code:http_errors:rate5m", {"method": "get", "code": "404"}, 30),
    ("method_code:http_errors:rate5m", {"method": "put", "code": "501"}, 3),
    ("method_code:http_errors:rate5m", {"method": "post", "code": "500"}, 6),
    ("method_code:http_errors:rate5m", {"method": "post", "code": "404"}, 21),
    ("method:http_requests:rate5m", {"method": "get"}, 600),
    ("method:http_requests:rate5m", {"method": "del"}, 34),
    ("method:http_requests:rate5m", {"method": "post"}, 120),
    ("node_info", {"instance": "a", "version": "1.2", "os": "linux"}, 1),
    ("node_info", {"instance": "b", "version": "1.3"}, 1),
    ("cpu", {"instance": "a", "mode": "user"}, 4),
    ("cpu", {"instance": "a", "mode": "idle"}, 6),
    ("cpu", {"instance": "b", "mode": "user"}, 8),
    ("cpu", {"instance": "c", "mode": "user"}, 2),
    *(
        ("req_bucket", {"job": job, "le": le}, value)
        for job, buckets in [
            ("a", [("0.1", 10), ("0.5", 40), ("1", 70), ("+Inf", 100)]),
            ("b", [("0.1", 10), ("0.5", 5), ("1", 70), ("+Inf", 60)]),  # not monotonic
            ("c", [("0.1", 10), ("1", 70)]),  # no +Inf bucket
            ("d", [("0.1", 0), ("1", 0), ("+Inf", 0)]),  # no observations
            ("e", [("-1", 5), ("0", 8), ("2", 10), ("+Inf", 10)]),  # negative bounds; rank in +Inf
            ("f", [("1.0", 3), ("1", 4), ("2e0", 9), ("Inf", 10), ("1e400", 7), ("x", 1)]),  # merged, odd
            ("g", [("+Inf", 10)]),  # only the +Inf bucket
            ("h", [("0x1p-1", 2), ("5", 4), ("+inf", 4)]),  # hex, lower-case inf; rank at a bound
        ]
        for le, value in buckets
    ),
    ("other_bucket", {"job": "a", "le": "1"}, 1),
    ("other_bucket", {"job": "a", "le": "+Inf"}, 3),
    ("labelled", {"src": "host-42.example", "a": "x", "b": "y"}, 1),
    ("labelled", {"src": "plain", "a": "x"}, 2),
    ("labelled", {"a": "only"}, 3),
    ("byzero", {"i": "a"}, 0),
    ("byzero", {"i": "b"}, -0.0),
]


def _go_value(value: float) -> str:
    """A value in promtool's series notation: no exponent, whose sign would read as ``a+bxn``."""
    if math.isinf(value):
        return "Inf" if value > 0 else "-Inf"
    return format_f(value)


def _series_text(name: str, pairs: dict[str, str]) -> str:
    inner = ",".join(f'{k}="{v}"' for k, v in pairs.items())
    return f"{name}{{{inner}}}"


_ORDER: dict[str, tuple[int, ...]] = {}
"""Per metric name, the order ``v`` gives its samples in (by default sorted by labels)."""


def v(name: str, **match: str) -> Vector:
    """The instant vector ``name{match...}`` at time 0: the samples of ``SERIES`` in ``_ORDER``'s order.

    promtool loads its input series in a random order (its loader keeps them in a Go map), and a
    selector returns series in the order they were created, so order-sensitive results (sums of floats,
    ties in topk) are compared with ours for every possible order: see ``ORDER_SENSITIVE``.
    """
    everything = sorted(
        (Sample(labels({"__name__": n, **pairs}), value, 0) for n, pairs, value in SERIES if n == name),
        key=lambda s: s.labels,
    )
    if name in _ORDER:
        everything = [everything[i] for i in _ORDER[name]]
    return [s for s in everything if all(dict(s.labels).get(k, "") == want for k, want in match.items())]


def m(
    card: str = "one-to-one", *, on: bool = False, names: tuple[str, ...] = (), include: tuple[str, ...] = ()
) -> VectorMatching:
    return VectorMatching(card=card, on=on, labels=names, include=include)  # type: ignore[arg-type]


ONE = m()
SET = m("many-to-many")


def scalar(value: float) -> Vector:
    """A scalar result as promtool shows it: one sample with no labels."""
    return [Sample((), value, 0)]


def each_math(name: str) -> list[tuple[str, Callable[[], Vector]]]:
    return [
        (f"{name}(vals)", lambda: fn.math_function(name, v("vals"))),
        (f"{name}(rnd)", lambda: fn.math_function(name, v("rnd"))),
    ]


CASES: list[tuple[str, Callable[[], Vector]]] = [
    # aggregations
    *(
        (
            f"{op} by (job) (http_requests)",
            lambda op=op: agg.aggregate(op, v("http_requests"), grouping=["job"]),
        )
        for op in ("sum", "avg", "min", "max", "count", "group", "stddev", "stdvar")
    ),
    *(
        (
            f"{op} without (instance) (http_requests)",
            lambda op=op: agg.aggregate(op, v("http_requests"), grouping=["instance"], without=True),
        )
        for op in ("sum", "avg", "stddev", "count")
    ),
    *(
        (f"{op}(vals)", lambda op=op: agg.aggregate(op, v("vals")))
        for op in ("sum", "avg", "min", "max", "stddev")
    ),
    *((f"{op}(rnd)", lambda op=op: agg.aggregate(op, v("rnd"))) for op in ("min", "max", "count")),
    *((f"{op}(fl)", lambda op=op: agg.aggregate(op, v("fl"))) for op in ("sum", "avg", "stddev", "stdvar")),
    *((f"{op}(nans)", lambda op=op: agg.aggregate(op, v("nans"))) for op in ("min", "max", "sum", "avg")),
    *((f"{op}(allnan)", lambda op=op: agg.aggregate(op, v("allnan"))) for op in ("min", "max")),
    *((f"avg({name})", lambda name=name: agg.aggregate("avg", v(name))) for name in ("infs", "infs2")),
    (
        "sum by (__name__) (http_requests)",
        lambda: agg.aggregate("sum", v("http_requests"), grouping=["__name__"]),
    ),
    ("sum by (nope) (http_requests)", lambda: agg.aggregate("sum", v("http_requests"), grouping=["nope"])),
    ("sum without () (http_requests)", lambda: agg.aggregate("sum", v("http_requests"), without=True)),
    ("topk(3, http_requests)", lambda: agg.aggregate("topk", v("http_requests"), param=3)),
    (
        "topk by (group) (1, http_requests)",
        lambda: agg.aggregate("topk", v("http_requests"), grouping=["group"], param=1),
    ),
    (
        "bottomk by (job) (2, http_requests)",
        lambda: agg.aggregate("bottomk", v("http_requests"), grouping=["job"], param=2),
    ),
    ("topk(2.9, tie)", lambda: agg.aggregate("topk", v("tie"), param=2.9)),
    ("topk(3, tie)", lambda: agg.aggregate("topk", v("tie"), param=3)),
    ("topk(1, tie)", lambda: agg.aggregate("topk", v("tie"), param=1)),
    ("bottomk(2, tie)", lambda: agg.aggregate("bottomk", v("tie"), param=2)),
    ("bottomk(3, tie)", lambda: agg.aggregate("bottomk", v("tie"), param=3)),
    ("topk(2, nans)", lambda: agg.aggregate("topk", v("nans"), param=2)),
    ("bottomk(3, nans)", lambda: agg.aggregate("bottomk", v("nans"), param=3)),
    ("topk(0, tie)", lambda: agg.aggregate("topk", v("tie"), param=0)),
    ("topk(100, vals)", lambda: agg.aggregate("topk", v("vals"), param=100)),
    ("bottomk(5, rnd)", lambda: agg.aggregate("bottomk", v("rnd"), param=5)),
    ("topk(NaN, tie)", lambda: agg.aggregate("topk", v("tie"), param=math.nan)),
    ("topk(1e19, http_requests)", lambda: agg.aggregate("topk", v("http_requests"), param=1e19)),
    ("bottomk(-1.5e19, http_requests)", lambda: agg.aggregate("bottomk", v("http_requests"), param=-1.5e19)),
    ("quantile(NaN, http_requests)", lambda: agg.aggregate("quantile", v("http_requests"), param=math.nan)),
    ('count_values("__name__", tie)', lambda: agg.aggregate("count_values", v("tie"), param="__name__")),
    ("round(vals, 0)", lambda: fn.round_vector(v("vals"), 0.0)),
    *(
        (
            f"quantile({phi}, http_requests)",
            lambda phi=phi: agg.aggregate("quantile", v("http_requests"), param=phi),
        )
        for phi in (0, 0.3, 0.5, 0.95, 1, -1, 2)
    ),
    (
        "quantile by (job) (0.5, http_requests)",
        lambda: agg.aggregate("quantile", v("http_requests"), grouping=["job"], param=0.5),
    ),
    ("quantile(0.4, nans)", lambda: agg.aggregate("quantile", v("nans"), param=0.4)),
    ("quantile(0.9, rnd)", lambda: agg.aggregate("quantile", v("rnd"), param=0.9)),
    ('count_values("value", tie)', lambda: agg.aggregate("count_values", v("tie"), param="value")),
    ('count_values("value", vals)', lambda: agg.aggregate("count_values", v("vals"), param="value")),
    ('count_values("v", rnd)', lambda: agg.aggregate("count_values", v("rnd"), param="v")),
    (
        'count_values by (job) ("job", http_requests)',
        lambda: agg.aggregate("count_values", v("http_requests"), grouping=["job"], param="job"),
    ),
    (
        'count_values without (instance) ("value", http_requests)',
        lambda: agg.aggregate(
            "count_values", v("http_requests"), grouping=["instance"], without=True, param="value"
        ),
    ),
    ('count_values("1bad", tie)', lambda: agg.aggregate("count_values", v("tie"), param="1bad")),
    # binary operators: scalar-scalar, vector-scalar
    *(
        (
            f"{a} {op} {b}",
            lambda op=op, a=a, b=b: scalar(
                binary.scalar_binop(op.split()[0], float(a.strip("()")), float(b))
            ),
        )
        for op, a, b in [
            ("+", "1", "2"),
            ("/", "1", "0"),
            ("/", "-1", "0"),
            ("/", "0", "0"),
            ("%", "7", "-3"),
            ("%", "-7", "3"),
            ("%", "5.5", "0"),
            ("^", "2", "0.5"),
            ("^", "10", "-2"),
            ("^", "(-8)", "0.3333"),
            ("^", "0", "-1"),
            ("^", "1.0001", "100000"),
            ("^", "3", "17"),
            ("^", "7.1", "3.3"),
            ("atan2", "1", "-1"),
            ("== bool", "1", "1"),
            ("> bool", "1", "2"),
            ("<= bool", "NaN", "NaN"),
        ]
    ),
    *(
        (
            f"vals {op} {s}",
            lambda op=op, s=s: binary.vector_scalar_binop(
                op.removesuffix(" bool"), v("vals"), float(s), return_bool=op.endswith("bool")
            ),
        )
        for op, s in [
            ("+", "1"),
            ("-", "0.1"),
            ("*", "-2"),
            ("/", "0"),
            ("%", "2"),
            ("^", "2"),
            ("^", "0.5"),
            ("atan2", "1"),
            (">", "1"),
            ("<", "0"),
            ("==", "3"),
            ("!=", "3"),
            (">=", "2.5"),
            ("<=", "-0.5"),
            ("> bool", "1"),
            ("== bool", "NaN"),
        ]
    ),
    *(
        (
            f"{s} {op} vals",
            lambda op=op, s=s: binary.vector_scalar_binop(
                op.removesuffix(" bool"),
                v("vals"),
                float(s),
                scalar_on_left=True,
                return_bool=op.endswith("bool"),
            ),
        )
        for op, s in [
            ("-", "1"),
            ("/", "1"),
            ("%", "10"),
            ("^", "2"),
            ("<", "1"),
            (">=", "0"),
            ("< bool", "1"),
            ("atan2", "-1"),
        ]
    ),
    ("rnd ^ 3", lambda: binary.vector_scalar_binop("^", v("rnd"), 3.0)),
    ("rnd ^ -1.5", lambda: binary.vector_scalar_binop("^", v("rnd"), -1.5)),
    ("1.5 ^ rnd", lambda: binary.vector_scalar_binop("^", v("rnd"), 1.5, scalar_on_left=True)),
    ("rnd % 7", lambda: binary.vector_scalar_binop("%", v("rnd"), 7.0)),
    ("vals / byzero", lambda: binary.vector_binop("/", v("vals"), v("byzero"), matching=ONE)),
    ("1 / byzero", lambda: binary.vector_scalar_binop("/", v("byzero"), 1.0, scalar_on_left=True)),
    ("-1 / byzero", lambda: binary.vector_scalar_binop("/", v("byzero"), -1.0, scalar_on_left=True)),
    # vector matching
    (
        'method_code:http_errors:rate5m{code="500"} / ignoring(code) method:http_requests:rate5m',
        lambda: binary.vector_binop(
            "/",
            v("method_code:http_errors:rate5m", code="500"),
            v("method:http_requests:rate5m"),
            matching=m(names=("code",)),
        ),
    ),
    (
        "method_code:http_errors:rate5m / ignoring(code) group_left method:http_requests:rate5m",
        lambda: binary.vector_binop(
            "/",
            v("method_code:http_errors:rate5m"),
            v("method:http_requests:rate5m"),
            matching=m("many-to-one", names=("code",)),
        ),
    ),
    (
        "method:http_requests:rate5m / ignoring(code) group_right method_code:http_errors:rate5m",
        lambda: binary.vector_binop(
            "/",
            v("method:http_requests:rate5m"),
            v("method_code:http_errors:rate5m"),
            matching=m("one-to-many", names=("code",)),
        ),
    ),
    (
        "method_code:http_errors:rate5m > on(method) group_left method:http_requests:rate5m / 100",
        lambda: binary.vector_binop(
            ">",
            v("method_code:http_errors:rate5m"),
            binary.vector_scalar_binop("/", v("method:http_requests:rate5m"), 100.0),
            matching=m("many-to-one", on=True, names=("method",)),
        ),
    ),
    (
        "method_code:http_errors:rate5m > bool on(method) group_left method:http_requests:rate5m / 100",
        lambda: binary.vector_binop(
            ">",
            v("method_code:http_errors:rate5m"),
            binary.vector_scalar_binop("/", v("method:http_requests:rate5m"), 100.0),
            matching=m("many-to-one", on=True, names=("method",)),
            return_bool=True,
        ),
    ),
    (
        "method_code:http_errors:rate5m / ignoring(code) method:http_requests:rate5m",
        lambda: binary.vector_binop(
            "/",
            v("method_code:http_errors:rate5m"),
            v("method:http_requests:rate5m"),
            matching=m(names=("code",)),
        ),
    ),
    (
        "method:http_requests:rate5m / ignoring(code) group_left method_code:http_errors:rate5m",
        lambda: binary.vector_binop(
            "/",
            v("method:http_requests:rate5m"),
            v("method_code:http_errors:rate5m"),
            matching=m("many-to-one", names=("code",)),
        ),
    ),
    (
        'method_code:http_errors:rate5m / on() group_left method:http_requests:rate5m{method="get"}',
        lambda: binary.vector_binop(
            "/",
            v("method_code:http_errors:rate5m"),
            v("method:http_requests:rate5m", method="get"),
            matching=m("many-to-one", on=True),
        ),
    ),
    (
        "cpu * on(instance) group_left(version, os) node_info",
        lambda: binary.vector_binop(
            "*",
            v("cpu"),
            v("node_info"),
            matching=m("many-to-one", on=True, names=("instance",), include=("version", "os")),
        ),
    ),
    (
        "node_info * on(instance) group_right(version) cpu",
        lambda: binary.vector_binop(
            "*",
            v("node_info"),
            v("cpu"),
            matching=m("one-to-many", on=True, names=("instance",), include=("version",)),
        ),
    ),
    (
        "cpu == on(instance) group_left(os) node_info",
        lambda: binary.vector_binop(
            "==",
            v("cpu"),
            v("node_info"),
            matching=m("many-to-one", on=True, names=("instance",), include=("os",)),
        ),
    ),
    (
        'cpu{mode="user"} + on(instance) node_info',
        lambda: binary.vector_binop(
            "+", v("cpu", mode="user"), v("node_info"), matching=m(on=True, names=("instance",))
        ),
    ),
    (
        'cpu{mode="user"} > ignoring(mode, version, os) node_info',
        lambda: binary.vector_binop(
            ">", v("cpu", mode="user"), v("node_info"), matching=m(names=("mode", "version", "os"))
        ),
    ),
    (
        'cpu{mode="user"} atan2 ignoring(mode, version, os) node_info',
        lambda: binary.vector_binop(
            "atan2", v("cpu", mode="user"), v("node_info"), matching=m(names=("mode", "version", "os"))
        ),
    ),
    (
        "cpu * on(instance, mode) group_left node_info",
        lambda: binary.vector_binop(
            "*", v("cpu"), v("node_info"), matching=m("many-to-one", on=True, names=("instance", "mode"))
        ),
    ),
    ("vals - vals", lambda: binary.vector_binop("-", v("vals"), v("vals"), matching=ONE)),
    (
        "vals == bool vals",
        lambda: binary.vector_binop("==", v("vals"), v("vals"), matching=ONE, return_bool=True),
    ),
    ("vals >= vals", lambda: binary.vector_binop(">=", v("vals"), v("vals"), matching=ONE)),
    # set operators
    (
        "http_requests and on(instance) cpu",
        lambda: binary.vector_binop("and", v("http_requests"), v("cpu"), matching=SET),
    ),
    (
        'http_requests{instance="0"} or http_requests{group="canary"}',
        lambda: binary.vector_binop(
            "or", v("http_requests", instance="0"), v("http_requests", group="canary"), matching=SET
        ),
    ),
    (
        'http_requests{instance="0"} or on(job) cpu',
        lambda: binary.vector_binop(
            "or",
            v("http_requests", instance="0"),
            v("cpu"),
            matching=m("many-to-many", on=True, names=("job",)),
        ),
    ),
    (
        'http_requests unless on(job, instance) http_requests{group="canary", job="api-server"}',
        lambda: binary.vector_binop(
            "unless",
            v("http_requests"),
            v("http_requests", group="canary", job="api-server"),
            matching=m("many-to-many", on=True, names=("job", "instance")),
        ),
    ),
    (
        'http_requests and ignoring(group) http_requests{group="canary", instance="1"}',
        lambda: binary.vector_binop(
            "and",
            v("http_requests"),
            v("http_requests", group="canary", instance="1"),
            matching=m("many-to-many", names=("group",)),
        ),
    ),
    ("cpu unless node_info", lambda: binary.vector_binop("unless", v("cpu"), v("node_info"), matching=SET)),
    ("cpu unless nothing", lambda: binary.vector_binop("unless", v("cpu"), v("nothing"), matching=SET)),
    ("nothing or cpu", lambda: binary.vector_binop("or", v("nothing"), v("cpu"), matching=SET)),
    # instant functions
    *(case for name in fn.MATH_FUNCTIONS for case in each_math(name)),
    ("round(vals)", lambda: fn.round_vector(v("vals"))),
    ("round(rnd, 0.1)", lambda: fn.round_vector(v("rnd"), 0.1)),
    ("round(vals, 0.3)", lambda: fn.round_vector(v("vals"), 0.3)),
    ("round(vals, 5)", lambda: fn.round_vector(v("vals"), 5.0)),
    ("round(vals, -2)", lambda: fn.round_vector(v("vals"), -2.0)),
    ("clamp(vals, -1, 2)", lambda: fn.clamp(v("vals"), -1.0, 2.0)),
    ("clamp(vals, 2, 1)", lambda: fn.clamp(v("vals"), 2.0, 1.0)),
    ("clamp(vals, NaN, 1)", lambda: fn.clamp(v("vals"), math.nan, 1.0)),
    ("clamp_min(vals, 0)", lambda: fn.clamp_min(v("vals"), 0.0)),
    ("clamp_max(vals, 0)", lambda: fn.clamp_max(v("vals"), 0.0)),
    ("clamp_max(vals, NaN)", lambda: fn.clamp_max(v("vals"), math.nan)),
    ("sort(vals)", lambda: fn.sort(v("vals"))),
    ("sort_desc(http_requests)", lambda: fn.sort_desc(v("http_requests"))),
    *(
        (
            f"histogram_quantile({phi}, req_bucket)",
            lambda phi=phi: fn.histogram_quantile(phi, v("req_bucket")),
        )
        for phi in (0, 0.25, 0.5, 0.9, 0.99, 1, -0.5, 1.5)
    ),
    ("histogram_quantile(NaN, req_bucket)", lambda: fn.histogram_quantile(math.nan, v("req_bucket"))),
    ("histogram_quantile(0.5, other_bucket)", lambda: fn.histogram_quantile(0.5, v("other_bucket"))),
    (
        'label_replace(labelled, "dst", "$1-${2}x", "src", "([a-z]+)-(\\\\d+).*")',
        lambda: fn.label_replace(v("labelled"), "dst", "$1-${2}x", "src", r"([a-z]+)-(\d+).*", dot_all=False),
    ),
    (
        'label_replace(labelled, "dst", "$1x $$ $ ${9} $name", "src", "(?P<name>[a-z]+).*")',
        lambda: fn.label_replace(
            v("labelled"), "dst", "$1x $$ $ ${9} $name", "src", "(?P<name>[a-z]+).*", dot_all=False
        ),
    ),
    (
        'label_replace(labelled, "a", "", "src", ".*")',
        lambda: fn.label_replace(v("labelled"), "a", "", "src", ".*", dot_all=False),
    ),
    (
        'label_replace(labelled, "__name__", "renamed_$1", "a", "(.*)")',
        lambda: fn.label_replace(v("labelled"), "__name__", "renamed_$1", "a", "(.*)", dot_all=False),
    ),
    (
        'label_replace(labelled, "src", "$0!", "src", "plain|host")',
        lambda: fn.label_replace(v("labelled"), "src", "$0!", "src", "plain|host", dot_all=False),
    ),
    (
        'label_replace(labelled, "1bad", "x", "src", ".*")',
        lambda: fn.label_replace(v("labelled"), "1bad", "x", "src", ".*", dot_all=False),
    ),
    (
        'label_join(labelled, "j", "-", "a", "b", "src")',
        lambda: fn.label_join(v("labelled"), "j", "-", "a", "b", "src"),
    ),
    (
        'label_join(labelled, "a", ",", "missing", "nope")',
        lambda: fn.label_join(v("labelled"), "a", ",", "missing", "nope"),
    ),
    ('label_join(labelled, "a", "", "b")', lambda: fn.label_join(v("labelled"), "a", "", "b")),
]


ORDER_SENSITIVE: dict[str, tuple[str, ...]] = dict(
    [
        *((f"{op} by (job) (http_requests)", ("http_requests",)) for op in ("avg", "stddev", "stdvar")),
        *((f"{op} without (instance) (http_requests)", ("http_requests",)) for op in ("avg", "stddev")),
        *((f"{op}(fl)", ("fl",)) for op in ("sum", "avg", "stddev", "stdvar")),
        *((f"{op}(nans)", ("nans",)) for op in ("sum", "avg", "min", "max")),
        *((f"avg({name})", (name,)) for name in ("infs", "infs2")),
        *(
            (expr, ("tie",))
            for expr in (
                "topk(2.9, tie)",
                "topk(3, tie)",
                "topk(1, tie)",
                "bottomk(2, tie)",
                "bottomk(3, tie)",
            )
        ),
        ("topk(2, nans)", ("nans",)),
        ("bottomk(3, nans)", ("nans",)),
        (
            "method:http_requests:rate5m / ignoring(code) group_left method_code:http_errors:rate5m",
            ("method_code:http_errors:rate5m",),
        ),
    ]
)
"""Expressions whose result depends on the order promtool happened to load the named series in."""


def _orders(names: tuple[str, ...]) -> Iterator[None]:
    """Set ``_ORDER`` to every combination of orders of the named metrics' series, in turn."""
    sizes = [sum(1 for n, _, _ in SERIES if n == name) for name in names]
    assert math.prod(math.factorial(size) for size in sizes) <= 50_000, "too many orders to try"
    for combination in itertools.product(*(itertools.permutations(range(size)) for size in sizes)):
        _ORDER.update(zip(names, combination, strict=True))
        yield
    _ORDER.clear()


# --- running promtool and reading what it got ----------------------------------------------------------


@dataclass(frozen=True)
class Got:
    """What promtool printed for one expression: samples, or an error message."""

    samples: tuple[tuple[Labels, float], ...] = ()
    error: str | None = None


_BLOCK = re.compile(
    r'^    expr: "(?P<expr>(?:[^"\\]|\\.)*)", time: \S+,(?: err: (?P<err>.*))?$', re.MULTILINE
)
_SAMPLE = re.compile(r"\{(?P<labels>[^{}]*)\} (?P<value>\S+?)(?:, |$)")
_PAIR = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def _unquote(text: str) -> str:
    return text.encode().decode("unicode_escape")


def _yaml_quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def run_promtool(tmp_path: Path, exprs: list[str]) -> dict[str, Got]:
    binary_path = require_binary("promtool")
    lines = ["evaluation_interval: 1m", "tests:", "  - interval: 1m", "    input_series:"]
    for name, pairs, value in SERIES:
        lines += [
            f"      - series: {_yaml_quote(_series_text(name, pairs))}",
            f"        values: '{_go_value(value)}'",
        ]
    lines.append("    promql_expr_test:")
    for expr in exprs:
        lines += [
            f"      - expr: {_yaml_quote(expr)}",
            "        eval_time: 0",
            "        exp_samples:",
            "          - labels: '{never_matches=\"1\"}'",
            "            value: 0",
        ]
    path = tmp_path / "operators_test.yml"
    path.write_text("\n".join(lines) + "\n")
    done = subprocess.run(
        [binary_path, "test", "rules", str(path)], capture_output=True, text=True, timeout=120, check=False
    )
    out = done.stdout + done.stderr
    found: dict[str, Got] = {}
    blocks = list(_BLOCK.finditer(out))
    for n, block in enumerate(blocks):
        expr = _unquote(block["expr"])
        if block["err"] is not None:
            found[expr] = Got(error=block["err"])
            continue
        end = blocks[n + 1].start() if n + 1 < len(blocks) else len(out)
        got_line = next(
            line for line in out[block.end() : end].splitlines() if line.strip().startswith("got:")
        )
        text = got_line.strip().removeprefix("got:").strip()
        samples = (
            []
            if text == "nil"
            else [
                (labels((k, _unquote(val)) for k, val in _PAIR.findall(s["labels"])), float(s["value"]))
                for s in _SAMPLE.finditer(text)
            ]
        )
        found[expr] = Got(samples=tuple(samples))
    assert len(found) == len(exprs), (
        f"promtool answered {len(found)} of {len(exprs)} expressions:\n{out[-3000:]}"
    )
    return found


def _same(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b and math.copysign(1, a) == math.copysign(1, b)


@pytest.fixture(scope="module")
def promtool_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Got]:
    return run_promtool(tmp_path_factory.mktemp("promtool"), [expr for expr, _ in CASES])


@pytest.mark.parametrize(("expr", "ours"), CASES, ids=[expr for expr, _ in CASES])
def test_agrees_with_promtool(
    expr: str, ours: Callable[[], Vector], promtool_results: dict[str, Got]
) -> None:
    """Our functions give exactly what Prometheus 2.42 gives for the expression, or fail the same way."""
    got = promtool_results[expr]
    if expr not in ORDER_SENSITIVE:
        assert _differences(ours, got) is None
        return
    first = None
    for _ in _orders(ORDER_SENSITIVE[expr]):
        difference = _differences(ours, got)
        if difference is None:
            return
        first = first or difference
    pytest.fail(f"no input order gives what promtool got; in label order: {first}")


def _differences(ours: Callable[[], Vector], got: Got) -> str | None:
    """How our result differs from promtool's, or ``None`` when they agree exactly."""
    try:
        result = ours()
    except PromQLError as error:
        return None if error.message == got.error else f"we raised {error.message!r}, promtool: {got}"
    if got.error is not None:
        return f"promtool failed with {got.error!r}, we gave {result}"
    mine = sorted(((s.labels, s.value) for s in result), key=lambda pair: pair[0])
    theirs = sorted(got.samples, key=lambda pair: pair[0])
    if [lbls for lbls, _ in mine] != [lbls for lbls, _ in theirs]:
        return f"labels: ours {mine}, promtool {theirs}"
    mismatched = [(lbls, a, b) for (lbls, a), (_, b) in zip(mine, theirs, strict=True) if not _same(a, b)]
    return f"(labels, ours, promtool): {mismatched}" if mismatched else None


@pytest.fixture(scope="module")
def engine() -> Engine:
    store = SampleStore()
    for name, pairs, value in SERIES:
        store.write(labels({"__name__": name, **pairs}), [(0, float(value))])
    return Engine(store, compat="v2")


@pytest.mark.parametrize("expr", [expr for expr, _ in CASES if expr not in ORDER_SENSITIVE])
def test_the_engine_agrees_with_promtool(expr: str, engine: Engine, promtool_results: dict[str, Got]) -> None:
    """The same expressions parsed and evaluated end to end (parser, engine, these functions) agree too."""

    def evaluate() -> Vector:
        value = engine.instant(expr, 0)
        if isinstance(value, float):
            return scalar(value)
        assert isinstance(value, list) and all(isinstance(x, Sample) for x in value)
        return [x for x in value if isinstance(x, Sample)]

    assert _differences(evaluate, promtool_results[expr]) is None
