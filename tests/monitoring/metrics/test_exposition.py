"""Tests for sharedconfig.monitoring.metrics.exposition: text 0.0.4, OpenMetrics 1.0.0 and negotiation.

Our output is checked by the real ``promtool check metrics`` and parsed back by prometheus_client's parsers.
"""

from __future__ import annotations

import math
import subprocess
from collections.abc import Callable

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text

from sharedconfig.monitoring.metrics.exposition import (
    OPENMETRICS_CONTENT_TYPE,
    TEXT_CONTENT_TYPE,
    format_bound,
    format_value,
    generate,
    negotiate,
    render,
)
from sharedconfig.monitoring.metrics.model import MetricFamily, MetricType, Sample
from sharedconfig.monitoring.metrics.registry import MetricsRegistry

Promtool = Callable[[bytes], subprocess.CompletedProcess[bytes]]
ODD = {"path": '/a b/"c"\\d', "note": "line one\nline two", "city": "Zürich 東京"}


def rich_registry() -> MetricsRegistry:
    """A registry exercising every feature the exposition must carry."""
    registry = MetricsRegistry(cardinality_limit=3, buckets=(0.1, 1.0, 2_500_000.0))
    registry.record_counter("http_requests_total", 3, {"method": "GET", "status": "200"})
    registry.record_counter("http_requests_total", 1, {"method": "POST", "status": "500"})
    registry.record_counter("process_restarts_total")
    for user in ("a", "b", "c", "d", "e"):
        registry.record_counter("logins_total", 1, {"user": user})
    registry.record_gauge("queue_depth", -2.5, {"queue": "a"})
    registry.record_gauge("queue_depth", 1e21, {"queue": "big"})
    registry.record_gauge("temperature_celsius", 21.5, ODD)
    registry.record_histogram("http_request_duration_seconds", 0.05, {"route": "/a"})
    registry.record_histogram("http_request_duration_seconds", 3_000_000.0, {"route": "/a"})
    registry.record_histogram("http_request_duration_seconds", 0.5, ODD)
    declared = registry.counter(
        "jobs_processed_total", 'Jobs "processed"; a backslash \\ and\na newline.', ("queue",)
    )
    declared.labels("default").inc(7)
    registry.histogram("batch_size_bytes", "Batch sizes.", buckets=(10.0, 100.0)).observe(42)
    registry.record_counter("bad name")  # counted in metrics_dropped_total
    return registry


def index(families: list[MetricFamily]) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Samples by (name, labels)."""
    return {(s.name, frozenset(s.labels)): s.value for f in families for s in f.samples}


def assert_same_values(
    ours: dict[tuple[str, frozenset[tuple[str, str]]], float], parsed: dict[object, float]
) -> None:
    """Same keys, same values (NaN equal to NaN)."""
    assert set(parsed) == set(ours)
    for key, value in ours.items():
        other = parsed[key]
        assert other == value or (math.isnan(other) and math.isnan(value)), key


class TestFormatting:
    """Values and bucket bounds are spelled as Prometheus expects."""

    @pytest.mark.parametrize(
        ("value", "text"),
        [
            (1.0, "1.0"),
            (0.25, "0.25"),
            (-3.0, "-3.0"),
            (1e21, "1e+21"),
            (math.inf, "+Inf"),
            (-math.inf, "-Inf"),
        ],
    )
    def test_values(self, value: float, text: str) -> None:
        """Finite values use Python's shortest repr; infinities are +Inf and -Inf."""
        assert format_value(value) == text

    def test_nan(self) -> None:
        """NaN is spelled NaN."""
        assert format_value(math.nan) == "NaN"

    @pytest.mark.parametrize(
        ("bound", "text"),
        [
            (0.005, "0.005"),
            (1, "1.0"),
            (10.0, "10.0"),
            (2_500_000.0, "2.5e+06"),
            (1e6, "1e+06"),
            (math.inf, "+Inf"),
        ],
    )
    def test_bounds_are_go_canonical(self, bound: float, text: str) -> None:
        """Bucket bounds match Go's (and prometheus_client's) canonical spelling."""
        from prometheus_client.utils import floatToGoString

        assert format_bound(bound) == text == floatToGoString(bound)


class TestRender:
    """render writes HELP, TYPE and samples in the order given."""

    FAMILIES = (
        MetricFamily(
            "jobs",
            MetricType.COUNTER,
            "Jobs done.",
            (Sample("jobs_total", (("queue", "a"),), 3.0), Sample("jobs_total", (("queue", "b"),), 1.0)),
        ),
        MetricFamily(
            "temp_celsius", MetricType.GAUGE, "", (Sample("temp_celsius", (), -1.5),), unit="celsius"
        ),
        MetricFamily(
            "lat_seconds",
            MetricType.HISTOGRAM,
            "Latency.",
            (
                Sample("lat_seconds_bucket", (("le", "1.0"),), 1.0),
                Sample("lat_seconds_bucket", (("le", "+Inf"),), 2.0),
                Sample("lat_seconds_sum", (), 2.5),
                Sample("lat_seconds_count", (), 2.0),
            ),
            unit="bytes",
        ),
    )

    def test_text_format(self) -> None:
        """Counters are named with _total in HELP and TYPE; no UNIT line; no HELP when empty."""
        assert render(self.FAMILIES).decode() == (
            "# HELP jobs_total Jobs done.\n"
            "# TYPE jobs_total counter\n"
            'jobs_total{queue="a"} 3.0\n'
            'jobs_total{queue="b"} 1.0\n'
            "# TYPE temp_celsius gauge\n"
            "temp_celsius -1.5\n"
            "# HELP lat_seconds Latency.\n"
            "# TYPE lat_seconds histogram\n"
            'lat_seconds_bucket{le="1.0"} 1.0\n'
            'lat_seconds_bucket{le="+Inf"} 2.0\n'
            "lat_seconds_sum 2.5\n"
            "lat_seconds_count 2.0\n"
        )

    def test_openmetrics_format(self) -> None:
        """Counter families drop _total; UNIT only when it is the name's suffix; # EOF ends the output."""
        text = render(self.FAMILIES, openmetrics=True).decode()
        assert text.startswith('# HELP jobs Jobs done.\n# TYPE jobs counter\njobs_total{queue="a"} 3.0\n')
        assert "# TYPE temp_celsius gauge\n# UNIT temp_celsius celsius\n" in text
        assert "# UNIT lat_seconds" not in text
        assert text.endswith("lat_seconds_count 2.0\n# EOF\n")

    def test_empty(self) -> None:
        """No families: nothing in text format, only # EOF in OpenMetrics."""
        assert render([]) == b""
        assert render([], openmetrics=True) == b"# EOF\n"

    def test_escaping(self) -> None:
        """Label values escape \\, " and newline; HELP escapes \\ and newline, and " in OpenMetrics only."""
        family = MetricFamily(
            "x", MetricType.GAUGE, 'say "hi"\\\n', (Sample("x", (("v", 'a"b\\c\nd'),), 1.0),)
        )
        text = render([family]).decode()
        assert '# HELP x say "hi"\\\\\\n\n' in text
        assert 'x{v="a\\"b\\\\c\\nd"} 1.0\n' in text
        assert '# HELP x say \\"hi\\"\\\\\\n\n' in render([family], openmetrics=True).decode()

    def test_output_is_utf8(self) -> None:
        """Non-ASCII label values are written as UTF-8."""
        family = MetricFamily("x", MetricType.GAUGE, "", (Sample("x", (("city", "Zürich 東京"),), 1.0),))
        assert 'city="Zürich 東京"'.encode() in render([family])


class TestPromtool:
    """``promtool check metrics`` reports nothing on what we render."""

    def assert_clean(self, promtool: Promtool, registry: MetricsRegistry) -> None:
        """Render the registry and check it with promtool: exit 0, nothing printed."""
        done = promtool(render(registry.collect()))
        assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"")

    def test_counters_with_and_without_labels(self, promtool: Promtool) -> None:
        """Counters, recorded and declared, with and without labels."""
        registry = MetricsRegistry()
        registry.record_counter("http_requests_total", 1, {"method": "GET"})
        registry.record_counter("process_restarts_total")
        registry.counter("jobs_processed_total", "Jobs processed.", ("queue",)).labels("a").inc()
        registry.counter("cache_hits_total", "Cache hits.").inc()
        self.assert_clean(promtool, registry)

    def test_gauges(self, promtool: Promtool) -> None:
        """Gauges with negative, huge and infinite values."""
        registry = MetricsRegistry()
        registry.record_gauge("queue_depth", -2.0, {"queue": "a"})
        registry.record_gauge("queue_depth", 1e300, {"queue": "b"})
        registry.record_gauge("queue_depth", math.inf, {"queue": "c"})
        registry.gauge("in_flight_requests", "Requests in flight.").set(3)
        self.assert_clean(promtool, registry)

    def test_histograms(self, promtool: Promtool) -> None:
        """Histograms with default and custom buckets, labelled and not."""
        registry = MetricsRegistry()
        for i in range(100):
            registry.record_histogram("http_request_duration_seconds", i / 10, {"route": "/a"})
            registry.record_duration("job_duration_seconds", i / 100)
        registry.histogram("payload_size_bytes", "Payload sizes.", ("kind",), buckets=(1e3, 1e6)).labels(
            "j"
        ).observe(7)
        self.assert_clean(promtool, registry)

    def test_units_and_size_buckets(self, promtool: Promtool) -> None:
        """Recorded *_bytes (size buckets, 1.073741824e+09 included) and *_seconds families pass."""
        registry = MetricsRegistry()
        registry.record_histogram("payload_bytes", 512, {"route": "/orders"})
        registry.record_counter("work_seconds_total", 1.5)
        registry.record_gauge("heap_bytes", 1024)
        self.assert_clean(promtool, registry)

    def test_odd_label_values(self, promtool: Promtool) -> None:
        """Label values with quotes, backslashes, newlines and non-ASCII text."""
        registry = MetricsRegistry()
        registry.record_counter("odd_labels_total", 1, ODD)
        registry.record_histogram("odd_labels_seconds", 0.1, ODD)
        self.assert_clean(promtool, registry)

    def test_our_help_texts(self, promtool: Promtool) -> None:
        """Our help texts: the default, the overflow and dropped counters', and a tricky declared one."""
        self.assert_clean(promtool, rich_registry())


class TestDifferential:
    """prometheus_client's parsers read back exactly what collect() returned."""

    def test_text_format_round_trips(self) -> None:
        """The 0.0.4 parser finds the same families, types, help texts and sample values."""
        families = rich_registry().collect()
        parsed = list(parse_text(render(families).decode()))
        assert [(f.name, f.type, f.documentation) for f in parsed] == [
            (f.name, f.type.value, f.help) for f in families
        ]
        assert_same_values(
            index(families),
            {(s.name, frozenset(s.labels.items())): s.value for f in parsed for s in f.samples},
        )

    def test_openmetrics_round_trips(self) -> None:
        """The OpenMetrics parser (strict about counts, le values and # EOF) reads the same values."""
        registry = rich_registry()
        registry.describe("request_size_bytes", "Request sizes.", unit="bytes")
        registry.record_histogram("request_size_bytes", 100.0)
        families = registry.collect()
        parsed = list(parse_openmetrics(render(families, openmetrics=True).decode()))
        assert [(f.name, f.type, f.documentation, f.unit) for f in parsed] == [
            (f.name, f.type.value, f.help, f.unit) for f in families
        ]
        assert_same_values(
            index(families),
            {(s.name, frozenset(s.labels.items())): s.value for f in parsed for s in f.samples},
        )


class TestUnits:
    """OpenMetrics output carries # UNIT for families named after their unit, recorded ones included."""

    def test_unit_lines_for_seconds_and_bytes(self) -> None:
        """payload_bytes and cpu_seconds_total get # UNIT without describe(); queue_depth gets none."""
        registry = MetricsRegistry()
        registry.record_histogram("payload_bytes", 512)
        registry.record_counter("cpu_seconds_total", 1)
        registry.record_gauge("queue_depth", 1)
        text = render(registry.collect(), openmetrics=True).decode()
        assert "# UNIT payload_bytes bytes\n" in text
        assert "# UNIT cpu_seconds seconds\n" in text
        assert "# UNIT queue_depth" not in text
        units = {f.name: f.unit for f in parse_openmetrics(text)}
        assert (units["payload_bytes"], units["cpu_seconds"], units["queue_depth"]) == (
            "bytes",
            "seconds",
            "",
        )


class TestNegotiate:
    """negotiate follows the Accept header's media ranges and quality values."""

    @pytest.mark.parametrize(
        ("accept", "openmetrics"),
        [
            (None, False),
            ("", False),
            ("*/*", False),
            ("text/plain", False),
            ("text/plain; version=0.0.4", False),
            ("application/json", False),
            ("application/openmetrics-text", True),
            ("Application/OpenMetrics-Text; version=1.0.0; charset=utf-8", True),
            ("application/openmetrics-text;version=0.0.1", True),
            ("application/openmetrics-text;version=2.0.0", False),
            ("application/openmetrics-text;q=0", False),
            ("application/openmetrics-text;q=abc", False),
            ("application/openmetrics-text, text/plain", False),
            ("application/openmetrics-text, */*", True),
            ("text/plain;version=0.0.4;q=0.9, application/openmetrics-text;q=0.5", False),
            ("text/plain;q=0, */*", True),
            ("text/*, application/*;q=0.5", False),
            ("application/*", True),
            # Prometheus 2.x and 3.x scrape headers
            (
                "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
                "text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
                True,
            ),
            (
                "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,"
                "application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;"
                "q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1",
                True,
            ),
        ],
    )
    def test_choice(self, accept: str | None, openmetrics: bool) -> None:
        """The format chosen and its content type."""
        expected = OPENMETRICS_CONTENT_TYPE if openmetrics else TEXT_CONTENT_TYPE
        assert negotiate(accept) == (openmetrics, expected)

    def test_content_types(self) -> None:
        """The content types are the ones Prometheus expects, charset included."""
        assert TEXT_CONTENT_TYPE == "text/plain; version=0.0.4; charset=utf-8"
        assert OPENMETRICS_CONTENT_TYPE == "application/openmetrics-text; version=1.0.0; charset=utf-8"


class TestGenerate:
    """generate collects a registry and renders the negotiated format."""

    def test_text_by_default(self) -> None:
        """Without an Accept header the body is text 0.0.4."""
        registry = MetricsRegistry()
        registry.record_counter("hits_total")
        body, content_type = generate(registry, None)
        assert content_type == TEXT_CONTENT_TYPE
        assert body == (
            b"# HELP hits_total hits_total (no help text declared)\n"
            b"# TYPE hits_total counter\n"
            b"hits_total 1.0\n"
        )

    def test_openmetrics_when_asked(self) -> None:
        """An OpenMetrics Accept header gets OpenMetrics, ending in # EOF."""
        registry = MetricsRegistry()
        registry.record_counter("hits_total")
        body, content_type = generate(registry, "application/openmetrics-text; version=1.0.0")
        assert content_type == OPENMETRICS_CONTENT_TYPE
        assert body.endswith(b"hits_total 1.0\n# EOF\n")
