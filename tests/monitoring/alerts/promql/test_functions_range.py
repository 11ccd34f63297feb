"""Range functions on given points: extrapolation of rate, Prometheus 2 vs 3 arithmetic, statistics."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pytest

from sharedconfig.monitoring.alerts.promql.functions_range import (
    RANGE_FUNCTIONS,
    RangeWindow,
    extrapolated_rate,
    kahan_sum,
    linear_regression,
    quantile,
)

MIN = 60_000


def window(end: int = 5 * MIN, range_ms: int = 5 * MIN, *params: float, v2: bool = False) -> RangeWindow:
    return RangeWindow(end - range_ms, end, range_ms, end, params, v2)


def call(name: str, points: Sequence[tuple[int, float]], w: RangeWindow | None = None) -> float | None:
    return RANGE_FUNCTIONS[name](points, w or window())


class TestExtrapolatedRate:
    def test_points_on_both_window_ends_need_no_extrapolation(self) -> None:
        """Points covering the whole window: increase is the plain difference."""
        points = [(t * MIN, 10.0 * t) for t in range(6)]
        assert extrapolated_rate(points, window(v2=True), counter=True, rate=False) == pytest.approx(50.0)

    def test_extrapolates_to_the_zero_point_of_a_counter(self) -> None:
        """A counter starting at 10 one minute in would have been 0 at the window start: 50/300 s."""
        points = [(t * MIN, 10.0 * t) for t in range(1, 6)]
        for v2 in (True, False):
            assert extrapolated_rate(points, window(v2=v2), counter=True, rate=True) == pytest.approx(
                50 / 300
            )

    def test_counter_resets_are_added_back(self) -> None:
        """A drop means the counter restarted: the value before the drop is added."""
        points = [(0, 5.0), (MIN, 10.0), (2 * MIN, 2.0), (3 * MIN, 6.0)]
        assert extrapolated_rate(points, window(3 * MIN, 3 * MIN), counter=True, rate=False) == pytest.approx(
            11.0
        )
        assert extrapolated_rate(
            points, window(3 * MIN, 3 * MIN), counter=False, rate=False
        ) == pytest.approx(1.0)

    def test_far_from_an_end_extrapolates_half_an_interval(self) -> None:
        """Beyond 1.1 average intervals from the window end, only half an interval is added."""
        points = [(0, 0.0), (MIN, 10.0)]  # window ends 4 minutes after the last point
        assert extrapolated_rate(points, window(), counter=False, rate=False) == pytest.approx(15.0)

    def test_v2_and_v3_differ_when_the_zero_point_is_past_half_an_interval(self) -> None:
        """Prometheus 2 caps the start by the zero point before the 1.1x test; Prometheus 3 after it.

        First point 3 min into a 5 min window, +10 a minute from 9: the zero point is 54 s before the
        first point. v2 extrapolates those 54 s (under the 66 s threshold); v3 only half an interval (30 s).
        """
        points = [(3 * MIN, 9.0), (4 * MIN, 19.0), (5 * MIN, 29.0)]
        v2 = extrapolated_rate(points, window(v2=True), counter=True, rate=False)
        v3 = extrapolated_rate(points, window(v2=False), counter=True, rate=False)
        assert v2 == pytest.approx(20 * (120 + 54) / 120)
        assert v3 == pytest.approx(20 * (120 + 30) / 120)

    def test_one_point_has_no_rate(self) -> None:
        """rate, increase and delta need two points."""
        assert call("rate", [(0, 1.0)]) is None


class TestInstantAndRegression:
    def test_irate_and_idelta_use_the_last_two_points(self) -> None:
        """irate treats a drop as a reset (the new value is the increase); idelta does not."""
        points = [(0, 1.0), (MIN, 10.0), (2 * MIN, 4.0)]
        assert call("irate", points) == pytest.approx(4.0 / 60)
        assert call("idelta", points) == pytest.approx(-6.0)

    def test_deriv_and_predict_linear(self) -> None:
        """A line of slope 2/s: deriv is 2, predict_linear extrapolates from the evaluation time."""
        points = [(t * 1000, 2.0 * t) for t in range(10)]
        assert call("deriv", points) == pytest.approx(2.0)
        w = RangeWindow(0, 10_000, 10_000, 10_000, (5.0,))
        assert call("predict_linear", points, w) == pytest.approx(2.0 * 15)

    def test_constant_series_has_slope_zero(self) -> None:
        """A constant gives slope 0 exactly, an infinite constant NaN."""
        assert linear_regression([(0, 3.0), (1000, 3.0)], 0) == (0.0, 3.0)
        assert all(math.isnan(v) for v in linear_regression([(0, math.inf), (1000, math.inf)], 0))


class TestOverTime:
    POINTS = ((0, 1.0), (MIN, 4.0), (2 * MIN, 2.0), (3 * MIN, 8.0))

    @pytest.mark.parametrize(
        ("name", "expected"),
        [
            ("avg_over_time", 3.75),
            ("min_over_time", 1.0),
            ("max_over_time", 8.0),
            ("sum_over_time", 15.0),
            ("count_over_time", 4.0),
            ("last_over_time", 8.0),
            ("present_over_time", 1.0),
            ("stdvar_over_time", 7.1875),
            ("stddev_over_time", math.sqrt(7.1875)),
            ("changes", 3.0),
            ("resets", 1.0),
        ],
    )
    def test_values(self, name: str, expected: float) -> None:
        """Each aggregation over time on 1, 4, 2, 8."""
        assert call(name, self.POINTS) == pytest.approx(expected)

    def test_quantile_interpolates_and_handles_bounds(self) -> None:
        """Between ranks linearly; below 0 -inf, above 1 +inf, NaN sorts lowest."""
        assert quantile(0.5, [1.0, 4.0, 2.0, 8.0]) == pytest.approx(3.0)
        assert quantile(-1, [1.0]) == -math.inf and quantile(2, [1.0]) == math.inf
        assert math.isnan(quantile(0, [math.nan, 1.0]))
        w = RangeWindow(0, 3 * MIN, 3 * MIN, 3 * MIN, (0.9,))
        assert call("quantile_over_time", self.POINTS, w) == pytest.approx(6.8)

    def test_min_max_skip_nan_unless_all_are(self) -> None:
        """A NaN does not win min/max over numbers."""
        points = [(0, math.nan), (MIN, 3.0), (2 * MIN, 1.0)]
        assert call("min_over_time", points) == 1.0 and call("max_over_time", points) == 3.0

    def test_changes_treats_nan_to_nan_as_no_change(self) -> None:
        """NaN followed by NaN is not a change."""
        assert call("changes", [(0, math.nan), (MIN, math.nan), (2 * MIN, 1.0)]) == 1.0

    def test_kahan_sum_keeps_small_terms(self) -> None:
        """Compensated summation keeps what a naive sum loses."""
        assert kahan_sum([1e16, 1.0, -1e16]) == 1.0
