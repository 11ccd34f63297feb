"""Tests for sharedconfig.monitoring.metrics.naming: the name, label, unit and bucket rules.

Each rule is checked here directly; test_registry.py checks how recording and declaring apply them.
"""

from __future__ import annotations

import math
import subprocess
from collections.abc import Callable
from itertools import pairwise

import pytest

from sharedconfig.monitoring.metrics.exposition import render
from sharedconfig.monitoring.metrics.model import MetricFamily, MetricType, Sample
from sharedconfig.monitoring.metrics.naming import (
    DEFAULT_BUCKETS,
    SIZE_BUCKETS,
    Rejected,
    base_name,
    check_buckets,
    check_conventions,
    check_declaration,
    check_label_name,
    check_metric_name,
    check_unit,
    default_buckets,
    exposed_name,
    label_value,
    sample_names,
    unit_of,
)

Promtool = Callable[[bytes], subprocess.CompletedProcess[bytes]]

# (type, name as declared, what the refusal says): each one is a name promtool check metrics flags
REFUSED = [
    (MetricType.GAUGE, "queue_total", "only counters end in _total"),
    (MetricType.HISTOGRAM, "latency_total", "only counters end in _total"),
    (MetricType.GAUGE, "queue_count", "only histograms and summaries end in _count"),
    (MetricType.GAUGE, "queue_sum", "only histograms and summaries end in _sum"),
    (MetricType.GAUGE, "queue_bucket", "only histograms end in _bucket"),
    (MetricType.HISTOGRAM, "latency_ms", "_seconds, not _ms"),
    (MetricType.GAUGE, "uptime_sec", "_seconds, not _sec"),
    (MetricType.COUNTER, "sent_kb_total", "_bytes, not _kb"),
    (MetricType.HISTOGRAM, "latency_milliseconds", "_seconds, not _milliseconds"),
    (MetricType.GAUGE, "uptime_minutes", "_seconds, not _minutes"),
    (MetricType.GAUGE, "heap_kilobytes", "_bytes, not _kilobytes"),
    (MetricType.GAUGE, "heap_kibibytes", "_bytes, not _kibibytes"),
    (MetricType.COUNTER, "sent_bits_total", "_bytes, not _bits"),
    (MetricType.GAUGE, "queue_gauge", "drop _gauge"),
    (MetricType.COUNTER, "jobs_counter_total", "drop _counter"),
    (MetricType.GAUGE, "queueDepth", "snake_case"),
    (MetricType.GAUGE, "job:queue_depth", "recording rules"),
]
ACCEPTED = [
    (MetricType.COUNTER, "http_requests_total"),
    (MetricType.COUNTER, "process_cpu_seconds_total"),
    (MetricType.COUNTER, "retries_count_total"),
    (MetricType.GAUGE, "queue_depth"),
    (MetricType.GAUGE, "process_start_time_seconds"),
    (MetricType.HISTOGRAM, "http_request_duration_seconds"),
    (MetricType.HISTOGRAM, "payload_bytes"),
    (MetricType.GAUGE, "ms_queue_depth"),  # promtool only flags an abbreviation after the first word
]


def one_family(kind: MetricType, name: str) -> bytes:
    """The text exposition of one family ``name`` of ``kind`` with HELP and one sample."""
    base = base_name(kind, name)
    samples: tuple[Sample, ...]
    if kind is MetricType.HISTOGRAM:
        samples = (
            Sample(f"{base}_bucket", (("le", "+Inf"),), 1.0),
            Sample(f"{base}_sum", (), 1.0),
            Sample(f"{base}_count", (), 1.0),
        )
    else:
        samples = (Sample(exposed_name(base, kind), (), 1.0),)
    return render([MetricFamily(base, kind, "Help.", samples)])


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

    def test_camel_case_label_names(self) -> None:
        """A camelCase label name is Rejected (promtool lints it), snake_case passes."""
        with pytest.raises(Rejected, match="snake_case"):
            check_label_name("statusCode", MetricType.COUNTER)
        assert check_label_name("status_code", MetricType.COUNTER) == "status_code"

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


class TestConventions:
    """check_conventions refuses the names promtool check metrics flags, saying how to fix them."""

    @pytest.mark.parametrize(("kind", "name", "message"), REFUSED)
    def test_refused(self, kind: MetricType, name: str, message: str) -> None:
        """A name promtool flags is Rejected (invalid_name) with the fix in the message."""
        with pytest.raises(Rejected, match=message) as caught:
            check_conventions(kind, base_name(kind, name))
        assert caught.value.reason == "invalid_name"

    @pytest.mark.parametrize(("kind", "name"), ACCEPTED)
    def test_accepted(self, kind: MetricType, name: str) -> None:
        """Conventional names pass unchanged."""
        assert check_conventions(kind, base_name(kind, name)) == base_name(kind, name)

    def test_declarations_raise_value_error(self) -> None:
        """A declaration of a refused name raises ValueError with the same message."""
        with pytest.raises(ValueError, match="only counters end in _total"):
            check_declaration(MetricType.GAUGE, "queue_total", ())

    @pytest.mark.parametrize(("kind", "name", "message"), REFUSED)
    def test_promtool_flags_what_we_refuse(
        self, promtool: Promtool, kind: MetricType, name: str, message: str
    ) -> None:
        """promtool check metrics reports a problem for each name we refuse (the differential check)."""
        done = promtool(one_family(kind, name))
        assert done.returncode != 0
        assert base_name(kind, name).encode() in done.stdout + done.stderr

    def test_promtool_passes_what_we_accept(self, promtool: Promtool) -> None:
        """promtool check metrics is silent on every name we accept."""
        text = b"".join(one_family(kind, name) for kind, name in ACCEPTED)
        done = promtool(text)
        assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"")


class TestBucketsByUnit:
    """Histograms get buckets that fit their unit, and OpenMetrics gets the unit from the name."""

    def test_size_buckets(self) -> None:
        """Powers of 4 from 64 B to 1 GiB, strictly increasing and finite."""
        assert SIZE_BUCKETS[0] == 64.0
        assert SIZE_BUCKETS[-1] == 1024.0**3
        assert check_buckets(SIZE_BUCKETS) == SIZE_BUCKETS
        assert all(b / a == 4 for a, b in pairwise(SIZE_BUCKETS))

    def test_default_buckets_follow_the_unit(self) -> None:
        """_bytes gets SIZE_BUCKETS; _seconds and names without a unit get the latency buckets given."""
        latency = (0.1, 1.0)
        assert default_buckets("payload_bytes", latency) == SIZE_BUCKETS
        assert default_buckets("checkout_seconds", latency) == latency
        assert default_buckets("batch_size", latency) == latency
        assert default_buckets("x_seconds", DEFAULT_BUCKETS) == DEFAULT_BUCKETS

    def test_unit_of(self) -> None:
        """A name ending in a base unit has that unit; other names have none."""
        assert unit_of("process_cpu_seconds") == "seconds"
        assert unit_of("payload_bytes") == "bytes"
        assert unit_of("queue_depth") == ""
        assert unit_of("bytes") == ""
