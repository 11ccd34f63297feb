"""aggregate.py: PromQL aggregations as Prometheus 2.42 computes them (facts from its promql/testdata)."""

from __future__ import annotations

import math

import pytest

from sharedconfig.monitoring.alerts.promql.aggregate import aggregate, is_label_name, quantile
from sharedconfig.monitoring.alerts.promql.errors import PromQLError
from sharedconfig.monitoring.alerts.promql.values import Sample, Vector, labels


def s(name: str, value: float, **pairs: str) -> Sample:
    return Sample(labels({"__name__": name, **pairs}), value, 1000)


# aggregators.test's http_requests at 50m, in the order a selector returns them (sorted by labels)
HTTP: Vector = sorted(
    (
        s("http_requests", value, job=job, instance=instance, group=group)
        for (job, instance, group), value in [
            (("api-server", "0", "production"), 100),
            (("api-server", "1", "production"), 200),
            (("api-server", "0", "canary"), 300),
            (("api-server", "1", "canary"), 400),
            (("app-server", "0", "production"), 500),
            (("app-server", "1", "production"), 600),
            (("app-server", "0", "canary"), 700),
            (("app-server", "1", "canary"), 800),
        ]
    ),
    key=lambda sample: sample.labels,
)


def result(vector: Vector) -> dict[tuple[tuple[str, str], ...], float]:
    return {sample.labels: sample.value for sample in vector}


class TestGrouping:
    @pytest.mark.parametrize(
        ("op", "expected"),
        [
            ("sum", {"api-server": 1000, "app-server": 2600}),
            ("avg", {"api-server": 250, "app-server": 650}),
            ("min", {"api-server": 100, "app-server": 500}),
            ("max", {"api-server": 400, "app-server": 800}),
            ("count", {"api-server": 4, "app-server": 4}),
            ("group", {"api-server": 1, "app-server": 1}),
            ("stdvar", {"api-server": 12500, "app-server": 12500}),
        ],
    )
    def test_by_keeps_only_the_grouping_labels(self, op: str, expected: dict[str, float]) -> None:
        """``op by (job)`` gives one sample per job, labelled with the job only."""
        got = result(aggregate(op, HTTP, grouping=["job"]))
        assert got == pytest.approx({(("job", job),): value for job, value in expected.items()})

    def test_without_drops_those_labels_and_the_name(self) -> None:
        """``sum without (instance)`` keeps every other label but ``__name__``."""
        got = result(aggregate("sum", HTTP, grouping=["instance"], without=True))
        assert got == {
            (("group", "canary"), ("job", "api-server")): 700,
            (("group", "canary"), ("job", "app-server")): 1500,
            (("group", "production"), ("job", "api-server")): 300,
            (("group", "production"), ("job", "app-server")): 1100,
        }

    def test_by_name_keeps_the_name_and_no_grouping_gives_one_unlabelled_sample(self) -> None:
        """``sum by (__name__)`` keeps the metric name; ``sum(x)`` and ``sum by (absent)`` have no labels."""
        assert result(aggregate("sum", HTTP, grouping=["__name__"])) == {
            (("__name__", "http_requests"),): 3600
        }
        assert result(aggregate("sum", HTTP)) == {(): 3600}
        assert result(aggregate("sum", HTTP, grouping=["nope"])) == {(): 3600}

    def test_groups_come_out_in_order_of_first_sight(self) -> None:
        """Groups are listed as their first sample appeared, as Prometheus appends them."""
        vector = [s("x", 1, g="b"), s("x", 2, g="a"), s("x", 3, g="b")]
        assert [sample.labels for sample in aggregate("sum", vector, grouping=["g"])] == [
            (("g", "b"),),
            (("g", "a"),),
        ]

    def test_an_empty_vector_aggregates_to_nothing(self) -> None:
        """No input, no group: even ``count`` returns an empty vector."""
        assert aggregate("count", []) == []


class TestValues:
    def test_avg_is_the_incremental_mean_of_prometheus(self) -> None:
        """``mean += v/n - mean/n`` in input order: 300, 400, 100, 200 average to 249.99999999999997."""
        vector = [s("x", v, i=str(n)) for n, v in enumerate([300, 400, 100, 200])]
        assert aggregate("avg", vector)[0].value == 249.99999999999997
        assert aggregate("avg", [s("x", 1e308, i="1"), s("x", 1e308, i="2")])[0].value == 1e308  # no overflow

    @pytest.mark.parametrize(
        ("values", "expected"),
        [
            ([math.inf, 5, math.inf], math.inf),
            ([math.inf, -math.inf, 1], math.nan),
            ([1, math.inf], math.inf),
        ],
    )
    def test_avg_with_infinities(self, values: list[float], expected: float) -> None:
        """An infinite mean stays infinite under finite values; opposite infinities give NaN."""
        got = aggregate("avg", [s("x", v, i=str(n)) for n, v in enumerate(values)])[0].value
        assert got == expected or (math.isnan(got) and math.isnan(expected))

    def test_min_and_max_skip_nan_unless_all_are_nan(self) -> None:
        """``min``/``max`` ignore NaN samples, and return NaN only when nothing else is there."""
        mixed = [s("x", v, i=str(n)) for n, v in enumerate([math.nan, 3, math.nan, -1])]
        assert aggregate("min", mixed)[0].value == -1
        assert aggregate("max", mixed)[0].value == 3
        assert math.isnan(aggregate("max", [s("x", math.nan, i="1"), s("x", math.nan, i="2")])[0].value)

    def test_stddev_is_the_population_deviation_by_welford(self) -> None:
        """``stddev`` divides by n (not n-1); a single sample has deviation 0."""
        vector = [s("x", v, i=str(n)) for n, v in enumerate([2, 4, 4, 4, 5, 5, 7, 9])]
        assert aggregate("stddev", vector)[0].value == 2.0
        assert aggregate("stdvar", vector)[0].value == 4.0
        assert aggregate("stddev", vector[:1])[0].value == 0.0
        order = [s("x", v, i=str(n)) for n, v in enumerate([300, 400, 100, 200])]
        assert aggregate("stdvar", order)[0].value == 12500.000000000002  # Welford's rounding, in this order

    def test_sum_adds_in_input_order(self) -> None:
        """Plain left-to-right float addition, as Prometheus 2.42 (no compensated summation)."""
        vector = [s("x", v, i=str(n)) for n, v in enumerate([0.1, 0.2, 0.3, 1e16, -1e16, 0.7])]
        assert aggregate("sum", vector)[0].value == 0.7


class TestTopkBottomk:
    def test_topk_keeps_the_series_labels_best_first(self) -> None:
        """``topk(3, x)`` returns the three highest samples with all their labels, highest first."""
        got = aggregate("topk", HTTP, param=3)
        assert [sample.value for sample in got] == [800, 700, 600]
        assert got[0].labels == labels(
            {"__name__": "http_requests", "job": "app-server", "instance": "1", "group": "canary"}
        )

    def test_bottomk_by_group(self) -> None:
        """``bottomk by (job) (2, x)`` keeps the two lowest of each job, lowest first, job by job."""
        got = aggregate("bottomk", HTTP, grouping=["job"], param=2)
        assert [sample.value for sample in got] == [100, 200, 500, 600]

    @pytest.mark.parametrize(("k", "count"), [(0, 0), (-1, 0), (0.9, 0), (2.9, 2), (100, 8)])
    def test_k_is_truncated_and_below_one_gives_nothing(self, k: float, count: int) -> None:
        """k is converted to an integer toward zero; k < 1 returns an empty vector."""
        assert len(aggregate("topk", HTTP, param=k)) == count

    @pytest.mark.parametrize(
        ("k", "shown"), [(math.nan, "NaN"), (math.inf, "+Inf"), (1e19, "1e+19"), (-1.5e19, "-1.5e+19")]
    )
    def test_k_beyond_int64_is_an_error(self, k: float, shown: str) -> None:
        """A NaN or huge k fails with Prometheus's words, the number printed as Go's %v prints it."""
        with pytest.raises(PromQLError) as raised:
            aggregate("topk", HTTP, param=k)
        assert raised.value.message == f"Scalar value {shown} overflows int64"

    def test_ties_come_out_in_prometheus_heap_order(self) -> None:
        """Among equal values, the heap Prometheus keeps decides which series win and their order."""
        tie = [s("tie", v, i=str(n)) for n, v in enumerate([5, 5, 5, 1, 5, 9, 9], start=1)]
        assert [dict(x.labels)["i"] for x in aggregate("topk", tie, param=3)] == ["6", "7", "2"]
        assert [dict(x.labels)["i"] for x in aggregate("topk", tie, param=1)] == ["6"]
        assert [dict(x.labels)["i"] for x in aggregate("bottomk", tie, param=2)] == ["4", "2"]

    def test_nan_ranks_below_every_number(self) -> None:
        """NaN is never among the top or the bottom while numbers remain."""
        mixed = [s("x", v, i=str(n)) for n, v in enumerate([math.nan, 3, math.nan, -1])]
        assert [x.value for x in aggregate("topk", mixed, param=2)] == [3, -1]
        assert [x.value for x in aggregate("bottomk", mixed, param=2)] == [-1, 3]
        tail = aggregate("bottomk", mixed, param=3)
        assert [x.value for x in tail[:2]] == [-1, 3] and math.isnan(tail[2].value)


class TestQuantile:
    @pytest.mark.parametrize(
        ("phi", "expected"),
        [(0, 100), (0.3, 310), (0.5, 450), (0.95, 765), (1, 800), (-1, -math.inf), (2, math.inf)],
    )
    def test_quantile_interpolates_between_ranks(self, phi: float, expected: float) -> None:
        """φ·(n-1) is interpolated linearly; φ outside [0, 1] is ±Inf."""
        assert aggregate("quantile", HTTP, param=phi)[0].value == pytest.approx(expected)

    def test_nan_phi_and_nan_values(self) -> None:
        """A NaN φ gives NaN; NaN values sort first."""
        assert math.isnan(aggregate("quantile", HTTP, param=math.nan)[0].value)
        assert math.isnan(quantile(0.0, [1.0, math.nan]))
        assert quantile(1.0, [1.0, math.nan]) == 1.0
        assert math.isnan(quantile(0.5, []))


class TestCountValues:
    def test_values_become_a_label_formatted_as_go(self) -> None:
        """Each distinct value is counted under the label, written as Go's FormatFloat(v, 'f', -1)."""
        vector = [
            s("x", v, i=str(n)) for n, v in enumerate([1, 1.0, 0.5, 1e21, 1e-7, math.inf, math.nan, -0.0])
        ]
        got = result(aggregate("count_values", vector, param="value"))
        assert got == {
            (("value", "1"),): 2,
            (("value", "0.5"),): 1,
            (("value", "1000000000000000000000"),): 1,
            (("value", "0.0000001"),): 1,
            (("value", "+Inf"),): 1,
            (("value", "NaN"),): 1,
            (("value", "-0"),): 1,
        }

    def test_by_and_without_keep_the_value_label(self) -> None:
        """With ``by`` the value label joins the grouping; with ``without`` it is kept."""
        by_job = result(aggregate("count_values", HTTP, grouping=["job"], param="v"))
        assert by_job[(("job", "api-server"), ("v", "100"))] == 1
        without = aggregate("count_values", HTTP, grouping=["instance", "group"], without=True, param="v")
        assert len(without) == 8 and all(dict(x.labels).keys() == {"job", "v"} for x in without)

    @pytest.mark.parametrize("name", ["1bad", "", "a-b", "é"])
    def test_an_invalid_label_name_is_refused(self, name: str) -> None:
        """The label must be a valid label name, or the query fails as Prometheus fails it."""
        with pytest.raises(PromQLError, match="invalid label name"):
            aggregate("count_values", HTTP, param=name)


def test_label_names_are_checked_as_prometheus_2_checks_them() -> None:
    """``[a-zA-Z_][a-zA-Z0-9_]*`` and nothing else."""
    assert is_label_name("_a1") and is_label_name("Job")
    assert not is_label_name("1a") and not is_label_name("a.b") and not is_label_name("ä")


def test_unknown_operators_and_missing_parameters_fail_clearly() -> None:
    """An unknown operator or a parameter of the wrong kind is a PromQLError, not a crash."""
    with pytest.raises(PromQLError, match="unknown aggregation"):
        aggregate("median", HTTP)
    with pytest.raises(PromQLError, match="number parameter"):
        aggregate("topk", HTTP, param="3")
    with pytest.raises(PromQLError, match="string parameter"):
        aggregate("count_values", HTTP, param=1.0)
