"""functions_instant.py: PromQL functions of an instant vector, as Prometheus 2.42 computes them."""

from __future__ import annotations

import math
import re
from typing import ClassVar

import pytest

from sharedconfig.monitoring.alerts.promql import _gomath
from sharedconfig.monitoring.alerts.promql.errors import PromQLError
from sharedconfig.monitoring.alerts.promql.functions_instant import (
    bucket_quantile,
    clamp,
    clamp_max,
    clamp_min,
    expand,
    histogram_quantile,
    label_join,
    label_replace,
    math_function,
    parse_go_float,
    round_vector,
    sort,
    sort_desc,
)
from sharedconfig.monitoring.alerts.promql.values import Sample, Vector, labels


def s(name: str, value: float, **pairs: str) -> Sample:
    return Sample(labels({"__name__": name, **pairs}), value, 0)


def values(vector: Vector) -> list[float]:
    return [x.value for x in vector]


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))


class TestMaths:
    @pytest.mark.parametrize(
        ("name", "value", "expected"),
        [
            ("abs", -2.5, 2.5),
            ("ceil", -0.5, -0.0),
            ("ceil", 1.2, 2.0),
            ("floor", -0.5, -1.0),
            ("floor", math.inf, math.inf),
            ("exp", 0, 1.0),
            ("exp", 1000, math.inf),
            ("exp", -1000, 0.0),
            ("exp", 1.5, 4.481689070338065),  # Go's Exp (promtool 2.42); C's exp gives 4.4816890703380645
            ("ln", 0, -math.inf),
            ("ln", -1, math.nan),
            ("ln", math.e, 1.0),
            ("ln", 1e-310, -709.0850815488945),  # Go's x86-64 Log on a subnormal, as promtool computes it
            ("log2", 1024, 10.0),
            ("log2", 1e-310, -1029.7977094150824),  # promtool 2.42
            ("log10", 1000, 3.0),
            ("sqrt", -1, math.nan),
            ("sqrt", 16, 4.0),
            ("sgn", -3, -1.0),
            ("sgn", 0, 0.0),
            ("sgn", math.nan, math.nan),
        ],
    )
    def test_values_follow_go(self, name: str, value: float, expected: float) -> None:
        """Each function computes what Go's math package gives, never a Python exception."""
        assert same(math_function(name, [s("x", value)])[0].value, expected)

    def test_functions_drop_the_metric_name(self) -> None:
        """abs, round, clamp... return the labels without ``__name__``."""
        vector = [s("x", -1, job="a")]
        for got in (
            math_function("abs", vector),
            round_vector(vector),
            clamp(vector, 0, 1),
            clamp_min(vector, 0),
        ):
            assert got[0].labels == (("job", "a"),)

    def test_an_unknown_function_is_refused(self) -> None:
        """math_function only knows the functions it lists."""
        with pytest.raises(PromQLError, match="unknown function"):
            math_function("tan", [])


class TestRoundAndClamp:
    @pytest.mark.parametrize(
        ("value", "to_nearest", "expected"),
        [
            (2.5, 1, 3),
            (-2.5, 1, -2),
            (1.24, 0.1, 1.2),
            (1.25, 0.1, 1.3),
            (7, 5, 5),
            (8, 5, 10),
            (123, -2, 122),
        ],
    )
    def test_round_rounds_ties_up(self, value: float, to_nearest: float, expected: float) -> None:
        """``floor(v/to_nearest + 0.5) * to_nearest`` via the inverse: -2.5 rounds to -2, 123 by -2 to 122."""
        assert round_vector([s("x", value)], to_nearest)[0].value == pytest.approx(expected)

    def test_clamp(self) -> None:
        """Values are clamped; ``max < min`` returns nothing; NaN stays NaN; an infinite bound wins."""
        vector = [s("x", v, i=str(n)) for n, v in enumerate([-5, 0.5, 5, math.nan])]
        assert values(clamp(vector, -1, 2))[:3] == [-1, 0.5, 2]
        assert math.isnan(clamp(vector, -1, 2)[3].value)
        assert clamp(vector, 2, 1) == []
        assert values(clamp_min(vector, 0))[:3] == [0, 0.5, 5]
        assert values(clamp_max(vector, 0))[:3] == [-5, 0, 0]
        assert clamp_max([s("x", math.nan)], -math.inf)[0].value == -math.inf
        assert math.isnan(clamp_max([s("x", 1)], math.nan)[0].value)


class TestSort:
    VECTOR: ClassVar[Vector] = [s("x", v, i=str(n)) for n, v in enumerate([3, math.nan, 1, 2, math.nan, 1])]

    def test_sort_ascends_with_nan_last_and_keeps_labels(self) -> None:
        """``sort`` orders by value, NaN at the end (in Prometheus's order), names kept."""
        got = sort(self.VECTOR)
        assert [dict(x.labels)["i"] for x in got] == ["2", "5", "3", "0", "4", "1"]
        assert all(dict(x.labels)["__name__"] == "x" for x in got)

    def test_sort_desc_descends_with_nan_last(self) -> None:
        """``sort_desc`` orders from the highest, NaN at the end too."""
        assert [dict(x.labels)["i"] for x in sort_desc(self.VECTOR)] == ["0", "3", "2", "5", "4", "1"]

    def test_long_vectors_sort_by_value(self) -> None:
        """Beyond Go's insertion-sort threshold the order is by value, NaN last."""
        vector = [s("x", float(v), i=str(v)) for v in [5, 3, 9, 1, 7, 2, 8, 4, 6, 0, 11, 10, 12, 13]]
        assert values(sort(vector)) == sorted(values(vector))
        assert values(sort_desc(vector)) == sorted(values(vector), reverse=True)


class TestLabelReplace:
    VECTOR: ClassVar[Vector] = [s("up", 1, src="host-42.example", a="x"), s("up", 2, a="only")]

    def test_groups_expand_into_the_destination(self) -> None:
        """``$1`` and ``${2}`` take the groups of an anchored match; the name and value are kept."""
        got = label_replace(self.VECTOR, "dst", "$1-${2}x", "src", r"([a-z]+)-(\d+).*")
        assert dict(got[0].labels)["dst"] == "host-42x" and got[0].value == 1
        assert got[1] == self.VECTOR[1]  # no match (the absent label reads as ""): unchanged

    def test_the_regex_is_anchored(self) -> None:
        """``host`` does not match ``host-42.example``: the pattern must cover the whole value."""
        assert label_replace(self.VECTOR, "dst", "y", "src", "host") == self.VECTOR

    def test_an_empty_result_deletes_the_label_and_the_name_can_be_set(self) -> None:
        """Replacing with nothing removes the destination; ``__name__`` may be the destination."""
        got = label_replace(self.VECTOR, "a", "", "src", ".*")
        assert "a" not in dict(got[0].labels)
        renamed = label_replace(self.VECTOR, "__name__", "new_$1", "a", "(.*)")
        assert dict(renamed[1].labels)["__name__"] == "new_only"

    def test_dot_matches_a_newline_only_in_prometheus_3(self) -> None:
        """Prometheus 3 compiles ``^(?s:re)$``; ``dot_all=False`` gives Prometheus 2's reading."""
        vector = [s("x", 1, src="a\nb")]
        assert dict(label_replace(vector, "d", "$1", "src", "(.*)")[0].labels)["d"] == "a\nb"
        assert label_replace(vector, "d", "$1", "src", "(.*)", dot_all=False) == vector

    @pytest.mark.parametrize(
        ("regex", "message"),
        [("(a", "invalid regular expression in label_replace"), (r"(a)\1", "invalid regular expression")],
    )
    def test_bad_or_non_re2_patterns_are_refused(self, regex: str, message: str) -> None:
        """A pattern RE2 rejects, or Python would read differently (a backreference), fails clearly."""
        with pytest.raises(PromQLError, match=message):
            label_replace(self.VECTOR, "dst", "", "src", regex)

    def test_an_invalid_destination_is_refused(self) -> None:
        """The destination must be a valid label name."""
        with pytest.raises(PromQLError, match="invalid destination label name in label_replace"):
            label_replace(self.VECTOR, "1bad", "", "src", ".*")


class TestExpand:
    @pytest.mark.parametrize(
        ("template", "expected"),
        [
            ("$1", "ab"),
            ("${1}x", "abx"),
            ("$1x", ""),  # the group named "1x": none
            ("$name-$2", "ab-12"),
            ("${name}", "ab"),
            ("$$1", "$1"),
            ("$", "$"),
            ("a$ b", "a$ b"),
            ("${1", "${1"),
            ("$9", ""),
            ("$01", ""),  # a leading zero makes a name, not a number
            ("$0", "ab12"),
        ],
    )
    def test_as_go_regexp_expand(self, template: str, expected: str) -> None:
        """References expand as Go's Regexp.Expand: names take letters, digits and ``_``."""
        match = re.fullmatch(r"(?P<name>[a-z]+)(\d+)", "ab12")
        assert match is not None
        assert expand(match, template) == expected


class TestLabelJoin:
    def test_joins_source_values_with_the_separator(self) -> None:
        """Absent sources count as empty strings; the name is kept."""
        got = label_join([s("up", 1, a="x", b="y")], "j", "-", "a", "missing", "b")
        assert dict(got[0].labels) == {"__name__": "up", "a": "x", "b": "y", "j": "x--y"}

    def test_an_empty_join_deletes_the_destination(self) -> None:
        """Joining nothing but absent labels removes ``dst``."""
        assert label_join([s("up", 1, a="x")], "a", ",", "nope") == [s("up", 1)]

    @pytest.mark.parametrize(("dst", "src"), [("1bad", "a"), ("ok", "b-c")])
    def test_invalid_names_are_refused(self, dst: str, src: str) -> None:
        """Source and destination must be valid label names."""
        with pytest.raises(PromQLError, match=r"invalid (source|destination) label name in label_join"):
            label_join([s("up", 1)], dst, "", src)


def buckets(name: str, pairs: list[tuple[str, float]], **extra: str) -> Vector:
    return [s(name, count, le=le, **extra) for le, count in pairs]


# histograms.test's testhistogram_bucket at 50m
POSITIVE = buckets(
    "testhistogram_bucket", [("0.1", 50), (".2", 70), ("1e0", 110), ("+Inf", 120)], start="positive"
)
NEGATIVE = buckets(
    "testhistogram_bucket", [("-.2", 10), ("-0.1", 20), ("0.3", 20), ("+Inf", 30)], start="negative"
)


class TestHistogramQuantile:
    @pytest.mark.parametrize(
        ("phi", "positive", "negative"),
        [
            (-0.1, -math.inf, -math.inf),
            (1.01, math.inf, math.inf),
            (0, 0, -0.2),
            (1, 1, 0.3),
            (0.2, 0.048, -0.2),
            (0.5, 0.15, -0.15),
            (0.8, 0.72, 0.3),
        ],
    )
    def test_prometheus_testdata(self, phi: float, positive: float, negative: float) -> None:
        """The quantiles Prometheus's histograms.test expects, per series without ``le`` and the name."""
        got = {x.labels: x.value for x in histogram_quantile(phi, [*POSITIVE, *NEGATIVE])}
        assert got == {
            (("start", "positive"),): pytest.approx(positive),
            (("start", "negative"),): pytest.approx(negative),
        }

    @pytest.mark.parametrize(
        "pairs",
        [
            [(0.1, 10.0), (1.0, 70.0)],  # no +Inf bucket
            [(0.1, 0.0), (math.inf, 0.0)],  # no observations
            [(math.inf, 10.0)],  # the +Inf bucket alone
        ],
    )
    def test_nan_cases(self, pairs: list[tuple[float, float]]) -> None:
        """Without a +Inf bucket, with no observations or with fewer than two buckets: NaN."""
        assert math.isnan(bucket_quantile(0.5, pairs))

    def test_nan_phi_and_a_rank_in_the_inf_bucket(self) -> None:
        """A NaN φ is NaN; a rank beyond the last finite bucket gives that bucket's bound."""
        assert math.isnan(bucket_quantile(math.nan, [(1.0, 1.0), (math.inf, 2.0)]))
        assert bucket_quantile(0.99, [(1.0, 1.0), (2.0, 2.0), (math.inf, 10.0)]) == 2.0

    def test_counts_are_made_monotonic_and_equal_bounds_merged(self) -> None:
        """A bucket lower than the one before takes its count; ``1.0`` and ``1`` are the same bucket."""
        assert bucket_quantile(0.5, [(0.1, 10), (0.5, 5), (1, 70), (math.inf, 60)]) == pytest.approx(
            0.5 + 0.5 * (35 - 10) / (70 - 10)  # the 0.5 bucket counts 10, the +Inf one 70
        )
        merged = histogram_quantile(0.5, buckets("b", [("1.0", 3), ("1", 4), ("+Inf", 10)]))
        assert merged[0].value == pytest.approx(1.0 * 5 / 7)

    def test_series_whose_le_does_not_parse_are_skipped(self) -> None:
        """``le="x"`` and ``le="1e400"`` (out of range for Go's ParseFloat) are ignored."""
        vector = buckets("b", [("1", 5), ("x", 1), ("1e400", 7), ("+Inf", 10)])
        assert histogram_quantile(0.5, vector)[0].value == 1.0
        assert histogram_quantile(0.5, [s("b", 1, job="a")]) == []

    def test_different_metric_names_are_different_histograms(self) -> None:
        """Buckets group by every label but ``le``, the name included (the engine then finds the clash)."""
        vector = [
            *buckets("a_bucket", [("1", 1), ("+Inf", 2)]),
            *buckets("b_bucket", [("1", 1), ("+Inf", 2)]),
        ]
        assert [x.labels for x in histogram_quantile(0.5, vector)] == [(), ()]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1", 1.0),
        ("+Inf", math.inf),
        ("-inf", -math.inf),
        ("Infinity", math.inf),
        ("NaN", math.nan),
        (".2", 0.2),
        ("1e0", 1.0),
        ("0x1p-1", 0.5),
        ("1_000", None),
        (" 1", None),
        ("+NaN", None),
        ("1e400", None),
        ("", None),
        ("١", None),  # an Arabic-Indic digit: Python's float reads it, Go does not
    ],
)
def test_le_parses_as_go_parse_float(text: str, expected: float | None) -> None:
    """``le`` values read as Go's ParseFloat: stricter than Python's float()."""
    got = parse_go_float(text)
    if expected is None:
        assert got is None
    else:
        assert got is not None and same(got, expected)


def test_go_min_max_and_format() -> None:
    """Go's Max/Min (an infinity beats NaN, signed zeros) and FormatFloat(v, 'f', -1)."""
    assert _gomath.go_max(math.inf, math.nan) == math.inf and math.isnan(_gomath.go_max(1, math.nan))
    assert (
        math.copysign(1, _gomath.go_max(-0.0, 0.0)) == 1 and math.copysign(1, _gomath.go_min(0.0, -0.0)) == -1
    )
    assert _gomath.format_f(1e21) == "1000000000000000000000" and _gomath.format_f(2.50) == "2.5"
