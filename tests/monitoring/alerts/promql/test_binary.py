"""binary.py: PromQL binary operators and vector matching as Prometheus 2.42 applies them."""

from __future__ import annotations

import math
from typing import ClassVar

import pytest

from sharedconfig.monitoring.alerts.promql.ast import VectorMatching
from sharedconfig.monitoring.alerts.promql.binary import (
    format_labels,
    scalar_binop,
    vector_binop,
    vector_scalar_binop,
)
from sharedconfig.monitoring.alerts.promql.errors import PromQLError
from sharedconfig.monitoring.alerts.promql.values import Sample, Vector, labels


def s(name: str, value: float, **pairs: str) -> Sample:
    return Sample(labels({"__name__": name, **pairs}), value, 0)


def result(vector: Vector) -> dict[tuple[tuple[str, str], ...], float]:
    return {sample.labels: sample.value for sample in vector}


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))


# the vector matching examples of Prometheus's documentation
ERRORS: Vector = [
    s("method_code:http_errors:rate5m", 24, method="get", code="500"),
    s("method_code:http_errors:rate5m", 30, method="get", code="404"),
    s("method_code:http_errors:rate5m", 3, method="put", code="501"),
    s("method_code:http_errors:rate5m", 6, method="post", code="500"),
    s("method_code:http_errors:rate5m", 21, method="post", code="404"),
]
REQUESTS: Vector = [
    s("method:http_requests:rate5m", 600, method="get"),
    s("method:http_requests:rate5m", 34, method="del"),
    s("method:http_requests:rate5m", 120, method="post"),
]
ONE_TO_ONE = VectorMatching()
SETS = VectorMatching(card="many-to-many")


class TestScalars:
    @pytest.mark.parametrize(
        ("op", "lhs", "rhs", "expected"),
        [
            ("+", 1, 2, 3),
            ("-", 1, 2, -1),
            ("*", 3, -2, -6),
            ("/", 1, 0, math.inf),
            ("/", -1, 0, -math.inf),
            ("/", 1, -0.0, -math.inf),
            ("/", 0, 0, math.nan),
            ("%", 7, -3, 1),
            ("%", -7, 3, -1),
            ("%", 5.5, 0, math.nan),
            ("%", math.inf, 2, math.nan),
            ("%", 5, math.inf, 5),
            ("^", 2, 10, 1024),
            ("^", 2, 0.5, math.sqrt(2)),
            ("^", 10, -2, 0.01),
            ("^", -8, 1 / 3, math.nan),
            ("^", 0, -1, math.inf),
            ("^", -0.0, -1, -math.inf),
            ("^", math.nan, 0, 1),
            ("^", 1, math.nan, 1),
            ("^", 3, 17, 129140163),
            ("^", 10, 400, math.inf),
            ("^", -10, 401, -math.inf),
            ("atan2", 1, -1, 3 * math.pi / 4),
            ("atan2", 0.0, -0.0, math.pi),
            ("==", 1, 1, 1),
            (">", 1, 2, 0),
            ("<=", math.nan, math.nan, 0),
            ("!=", math.nan, math.nan, 1),
        ],
    )
    def test_values_follow_go(self, op: str, lhs: float, rhs: float, expected: float) -> None:
        """Division by zero, Go's Mod and Pow special cases, and comparisons as 0/1 between scalars."""
        assert same(scalar_binop(op, lhs, rhs), expected)

    def test_pow_rounds_as_go_does(self) -> None:
        """Go's Pow (repeated squaring, Exp·Log for fractions) differs from C's pow: promtool's values."""
        assert scalar_binop("^", 1.0001, 100000) == 22015.456048481854  # C's pow: 22015.456048527954
        assert scalar_binop("^", 7.1, 3.3) == 644.395576887843  # C's pow: 644.3955768878429


class TestVectorScalar:
    VALS: ClassVar[Vector] = [s("vals", v, i=str(n)) for n, v in enumerate([1.5, -2.25, 0.0, math.nan])]

    def test_arithmetic_drops_the_name(self) -> None:
        """``x + 1`` drops ``__name__`` and keeps every element."""
        got = vector_scalar_binop("+", self.VALS, 1.0)
        assert [x.labels for x in got] == [(("i", str(n)),) for n in range(4)]
        assert [x.value for x in got][:3] == [2.5, -1.25, 1.0]

    def test_a_comparison_filters_and_keeps_the_name_and_the_vector_value(self) -> None:
        """``x > 0`` keeps matching elements as they are; ``1 < x`` keeps x's value, not the scalar's."""
        assert result(vector_scalar_binop(">", self.VALS, 0.0)) == {self.VALS[0].labels: 1.5}
        assert result(vector_scalar_binop("<", self.VALS, 1.0, scalar_on_left=True)) == {
            self.VALS[0].labels: 1.5
        }

    def test_bool_keeps_every_element_as_0_or_1_without_the_name(self) -> None:
        """``x > bool 0`` gives 1/0 for every element (NaN compares false) and drops ``__name__``."""
        got = vector_scalar_binop(">", self.VALS, 0.0, return_bool=True)
        assert [x.value for x in got] == [1, 0, 0, 0]
        assert all(dict(x.labels).keys() == {"i"} for x in got)

    def test_the_scalar_side_matters_for_arithmetic(self) -> None:
        """``10 - x`` and ``2 ^ x`` put the scalar on the left."""
        got = vector_scalar_binop("-", self.VALS[:2], 10.0, scalar_on_left=True)
        assert [x.value for x in got] == [8.5, 12.25]

    def test_atan2_keeps_the_name(self) -> None:
        """Prometheus 2.42 does not list atan2 among the operators that drop the metric name."""
        assert vector_scalar_binop("atan2", self.VALS[:1], 1.0)[0].labels == self.VALS[0].labels

    def test_set_operators_need_two_vectors(self) -> None:
        """``x and 1`` is refused, as Prometheus's parser refuses it."""
        with pytest.raises(PromQLError, match="set operator"):
            vector_scalar_binop("and", self.VALS, 1.0)


class TestVectorMatching:
    def test_one_to_one_ignoring(self) -> None:
        """The documentation's ``errors{code="500"} / ignoring(code) requests``."""
        code_500 = [x for x in ERRORS if dict(x.labels)["code"] == "500"]
        got = result(vector_binop("/", code_500, REQUESTS, matching=VectorMatching(labels=("code",))))
        assert got == {(("method", "get"),): 0.04, (("method", "post"),): 0.05}

    def test_many_to_one_group_left(self) -> None:
        """``errors / ignoring(code) group_left requests`` keeps the "many" side's labels."""
        matching = VectorMatching(card="many-to-one", labels=("code",))
        got = result(vector_binop("/", ERRORS, REQUESTS, matching=matching))
        assert got == {
            (("code", "500"), ("method", "get")): 0.04,
            (("code", "404"), ("method", "get")): 0.05,
            (("code", "500"), ("method", "post")): 0.05,
            (("code", "404"), ("method", "post")): 0.175,
        }

    def test_one_to_many_group_right_swaps_the_sides_for_the_value(self) -> None:
        """``requests / ignoring(code) group_right errors`` divides requests by errors."""
        matching = VectorMatching(card="one-to-many", labels=("code",))
        got = result(vector_binop("/", REQUESTS, ERRORS, matching=matching))
        assert got[(("code", "500"), ("method", "get"))] == 25.0

    def test_on_keeps_only_the_on_labels_for_one_to_one(self) -> None:
        """``a + on(instance) b`` is labelled with ``instance`` only."""
        lhs = [s("a", 1, instance="x", job="j")]
        rhs = [s("b", 2, instance="x", other="o")]
        got = vector_binop("+", lhs, rhs, matching=VectorMatching(on=True, labels=("instance",)))
        assert result(got) == {(("instance", "x"),): 3}

    def test_group_left_copies_include_labels_from_the_one_side(self) -> None:
        """``cpu * on(instance) group_left(version, os) info`` copies them, deleting those the info lacks."""
        cpu = [
            s("cpu", 4, instance="a", mode="user", os="stale"),
            s("cpu", 8, instance="b", mode="user", os="old"),
        ]
        info = [
            s("node_info", 1, instance="a", version="1.2", os="linux"),
            s("node_info", 1, instance="b", version="1.3"),
        ]
        matching = VectorMatching(
            card="many-to-one", on=True, labels=("instance",), include=("version", "os")
        )
        got = result(vector_binop("*", cpu, info, matching=matching))
        assert got == {
            (("instance", "a"), ("mode", "user"), ("os", "linux"), ("version", "1.2")): 4,
            (("instance", "b"), ("mode", "user"), ("version", "1.3")): 8,
        }

    def test_a_comparison_keeps_the_left_name_and_bool_drops_it(self) -> None:
        """``a > ignoring(y) b`` keeps ``__name__="a"``; with ``bool`` it is dropped and 0 results stay."""
        lhs = [s("a", 3, x="1", y="p"), s("a", 1, x="2", y="p")]
        rhs = [s("b", 2, x="1", y="q"), s("b", 2, x="2", y="q")]
        matching = VectorMatching(labels=("y",))
        assert result(vector_binop(">", lhs, rhs, matching=matching)) == {(("__name__", "a"), ("x", "1")): 3}
        assert result(vector_binop(">", lhs, rhs, matching=matching, return_bool=True)) == {
            (("x", "1"),): 1,
            (("x", "2"),): 0,
        }

    def test_nan_and_division_by_zero_between_vectors(self) -> None:
        """Element values follow IEEE and Go: x/0 is ±Inf, 0/0 NaN, NaN == NaN is false."""
        lhs = [s("a", 1, i="1"), s("a", 0, i="2"), s("a", math.nan, i="3")]
        rhs = [s("b", 0, i="1"), s("b", 0, i="2"), s("b", math.nan, i="3")]
        got = vector_binop("/", lhs, rhs, matching=ONE_TO_ONE)
        assert got[0].value == math.inf and math.isnan(got[1].value) and math.isnan(got[2].value)
        assert vector_binop("==", lhs, rhs, matching=ONE_TO_ONE) == [s("a", 0, i="2")]

    def test_duplicates_on_the_one_side_are_refused_in_prometheus_words(self) -> None:
        """Two series with the same match group on the "one" side: Prometheus's exact message."""
        lhs = [s("b", 2, x="1", y="q")]
        rhs = [s("a", 1, x="1", y="p"), s("a", 2, x="1", y="q")]
        with pytest.raises(PromQLError) as raised:
            vector_binop("+", lhs, rhs, matching=VectorMatching(labels=("y",)))
        assert raised.value.message == (
            'found duplicate series for the match group {x="1"} on the right hand-side of the operation: '
            '[{__name__="a", x="1", y="q"}, {__name__="a", x="1", y="p"}];many-to-many matching not allowed: '
            "matching labels must be unique on one side"
        )

    def test_the_one_side_of_group_right_is_the_left(self) -> None:
        """With ``group_right`` the duplicate check runs on the left and says so."""
        lhs = [s("a", 1, x="1", y="p"), s("a", 2, x="1", y="q")]
        with pytest.raises(PromQLError, match="on the left hand-side"):
            vector_binop(
                "+", lhs, [s("b", 1, x="1")], matching=VectorMatching(card="one-to-many", labels=("y",))
            )

    def test_many_to_one_without_group_left_is_refused(self) -> None:
        """Several left series matching one right series need ``group_left``."""
        with pytest.raises(PromQLError, match="many-to-one matching must be explicit"):
            vector_binop("/", ERRORS, REQUESTS, matching=VectorMatching(labels=("code",)))

    def test_group_left_results_must_stay_unique(self) -> None:
        """When ``on`` drops what told the "many" side apart, results collide: Prometheus's error."""
        lhs = [s("a", 1, x="1", y="p"), s("a", 2, x="1", y="q")]
        matching = VectorMatching(card="many-to-one", on=True, labels=("x",))
        with pytest.raises(PromQLError, match="grouping labels must ensure unique matches"):
            vector_binop("==", [*lhs, *lhs], [s("b", 1, x="1")], matching=matching)

    def test_many_to_many_is_only_for_set_operators(self) -> None:
        """An arithmetic operator with many-to-many matching is an error, not a guess."""
        with pytest.raises(PromQLError, match="only allowed for set operators"):
            vector_binop("+", ERRORS, REQUESTS, matching=SETS)


class TestSetOperators:
    LEFT: ClassVar[Vector] = [s("x", 1, i="1"), s("x", 2, i="2"), s("x", 3, i="3")]
    RIGHT: ClassVar[Vector] = [s("y", 20, i="2"), s("y", 40, i="4")]

    def test_and_keeps_left_elements_with_a_match(self) -> None:
        """``x and y`` keeps x's elements (with their names and values) that y also has."""
        assert vector_binop("and", self.LEFT, self.RIGHT, matching=SETS) == [self.LEFT[1]]

    def test_or_adds_the_unmatched_right_elements_after_the_left(self) -> None:
        """``x or y``: all of x, then y's elements x lacks."""
        assert vector_binop("or", self.LEFT, self.RIGHT, matching=SETS) == [*self.LEFT, self.RIGHT[1]]

    def test_unless_keeps_left_elements_without_a_match(self) -> None:
        """``x unless y`` keeps x's elements that y lacks; an empty right side keeps them all."""
        assert vector_binop("unless", self.LEFT, self.RIGHT, matching=SETS) == [self.LEFT[0], self.LEFT[2]]
        assert vector_binop("unless", self.LEFT, [], matching=SETS) == self.LEFT
        assert vector_binop("and", self.LEFT, [], matching=SETS) == []
        assert vector_binop("or", [], self.RIGHT, matching=SETS) == self.RIGHT

    def test_on_and_ignoring_choose_what_must_match(self) -> None:
        """``on(job)`` compares only the job; ``ignoring(i)`` everything but i and the name."""
        lhs = [s("x", 1, job="a", i="1"), s("x", 2, job="b", i="2")]
        rhs = [s("y", 1, job="a", i="9")]
        assert vector_binop(
            "and", lhs, rhs, matching=VectorMatching(card="many-to-many", on=True, labels=("job",))
        ) == [lhs[0]]
        assert vector_binop("and", lhs, rhs, matching=VectorMatching(card="many-to-many", labels=("i",))) == [
            lhs[0]
        ]
        assert vector_binop("and", lhs, rhs, matching=SETS) == []


def test_labels_print_as_prometheus_prints_them() -> None:
    """``{__name__="up", job="a\\"b"}``: Go-quoted values, comma and space between pairs."""
    assert format_labels(labels({"__name__": "up", "job": 'a"b\n'})) == '{__name__="up", job="a\\"b\\n"}'
    assert format_labels(()) == "{}"
