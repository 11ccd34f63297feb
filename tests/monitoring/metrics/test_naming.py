"""Tests for sharedconfig.monitoring.metrics.naming: the name, label, unit and bucket rules.

Each rule is checked here directly; test_registry.py checks how recording and declaring apply them.
"""

from __future__ import annotations

import math

import pytest

from sharedconfig.monitoring.metrics.model import MetricType
from sharedconfig.monitoring.metrics.naming import (
    Rejected,
    base_name,
    check_buckets,
    check_declaration,
    check_label_name,
    check_metric_name,
    check_unit,
    exposed_name,
    label_value,
    sample_names,
)


class TestNames:
    """Metric and label names follow the Prometheus rules."""

    @pytest.mark.parametrize("name", ["a", "_x", "ns:sub_metric", "http_requests_total", "A1"])
    def test_valid_metric_names(self, name: str) -> None:
        """Letters, digits, underscores and colons, not starting with a digit, pass unchanged."""
        assert check_metric_name(name) == name

    @pytest.mark.parametrize("name", ["", "1a", "with space", "dash-ed", None, 3])
    def test_invalid_metric_names(self, name: object) -> None:
        """Anything else is Rejected as invalid_name."""
        with pytest.raises(Rejected) as caught:
            check_metric_name(name)
        assert caught.value.reason == "invalid_name"

    @pytest.mark.parametrize(
        ("name", "kind"),
        [
            ("a:b", MetricType.GAUGE),
            ("__x", MetricType.GAUGE),
            ("le", MetricType.HISTOGRAM),
            (1, MetricType.GAUGE),
        ],
    )
    def test_invalid_label_names(self, name: object, kind: MetricType) -> None:
        """Colons, a leading __, ``le`` on a histogram and non-strings are Rejected as invalid_labels."""
        with pytest.raises(Rejected) as caught:
            check_label_name(name, kind)
        assert caught.value.reason == "invalid_labels"

    def test_le_is_fine_outside_histograms(self) -> None:
        """Only histograms reserve ``le``."""
        assert check_label_name("le", MetricType.GAUGE) == "le"

    def test_label_values_become_wire_text(self) -> None:
        """Non-strings go through str(); lone surrogates become a replacement character."""
        assert label_value(200) == "200"
        assert label_value("a\udcffb") == "a?b"

    def test_units(self) -> None:
        """A valid unit passes; an invalid one becomes the empty string."""
        assert (check_unit("bytes"), check_unit("not a unit"), check_unit(None)) == ("bytes", "", "")


class TestFamilyNames:
    """How a family is named and which sample names it takes."""

    def test_counters_drop_total(self) -> None:
        """A counter's base name has no ``_total``; other kinds keep their names."""
        assert base_name(MetricType.COUNTER, "jobs_total") == "jobs"
        assert base_name(MetricType.COUNTER, "_total") == "_total"
        assert base_name(MetricType.GAUGE, "jobs_total") == "jobs_total"
        assert exposed_name("jobs", MetricType.COUNTER) == "jobs_total"
        assert exposed_name("depth", MetricType.GAUGE) == "depth"

    def test_sample_names_per_kind(self) -> None:
        """Counters take x, x_total, x_created; histograms their buckets, sum, count; gauges one name."""
        assert sample_names("x", MetricType.COUNTER) == ("x", "x_total", "x_created")
        assert sample_names("x", MetricType.GAUGE) == ("x",)
        assert sample_names("x", MetricType.HISTOGRAM) == ("x", "x_bucket", "x_sum", "x_count", "x_created")


class TestBucketsAndDeclarations:
    """Bucket bounds and instrument declarations raise ValueError when wrong."""

    def test_buckets_drop_a_trailing_inf(self) -> None:
        """+Inf at the end is implied; ints become floats."""
        assert check_buckets([1, 2.5, math.inf]) == (1.0, 2.5)

    @pytest.mark.parametrize(
        "buckets", [(), (math.inf,), (2.0, 1.0), (1.0, 1.0), (math.nan,), (-math.inf, 1.0)]
    )
    def test_bad_buckets(self, buckets: tuple[float, ...]) -> None:
        """Empty, infinite, NaN, unordered or repeated bounds raise ValueError."""
        with pytest.raises(ValueError, match="buckets"):
            check_buckets(buckets)

    def test_a_declaration(self) -> None:
        """A declaration gives the base name and the label names."""
        assert check_declaration(MetricType.COUNTER, "jobs_total", ["queue"]) == ("jobs", ("queue",))

    @pytest.mark.parametrize(
        ("name", "labelnames", "match"),
        [
            ("bad name", (), "invalid metric name"),
            ("ok", ("a", "a"), "duplicate"),
            ("ok", "ab", "not the string"),
            ("ok", ("bad-label",), "invalid label name"),
        ],
    )
    def test_bad_declarations(self, name: str, labelnames: tuple[str, ...], match: str) -> None:
        """Bad names, duplicate or invalid label names, or a string for labelnames raise ValueError."""
        with pytest.raises(ValueError, match=match):
            check_declaration(MetricType.GAUGE, name, labelnames)
