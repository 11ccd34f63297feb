"""promtool's rule unit-test files: durations, series, the expanding notation and the loader's errors.

The expected expansions are what promtool 2.42 stores for each ``values`` string (checked by evaluating
``count_over_time``, ``sum_over_time`` and ``timestamp`` over them); the refused ones are refused by it.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from sharedconfig.monitoring.alerts import testfile
from sharedconfig.monitoring.alerts.promql.values import STALE_NAN, is_stale

CORPUS = Path(__file__).parent / "testdata"
CORPUS_FILES = sorted(CORPUS.glob("*.test.yml")) + sorted((CORPUS / "failing").glob("*.test.yml"))
inf, nan = math.inf, math.nan


def same(a: tuple[float | None, ...], b: tuple[float | None, ...]) -> bool:
    """Equal item by item, where NaN equals NaN and the stale marker only itself."""

    def key(value: float | None) -> object:
        if value is None or not math.isnan(value):
            return value
        return "stale" if is_stale(value) else "nan"

    return [key(x) for x in a] == [key(y) for y in b]


class TestExpandValues:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("", ()),
            ("1", (1.0,)),
            ("1x3", (1.0, 1.0, 1.0, 1.0)),  # n+1 samples
            ("1x0", (1.0,)),
            ("1x03", (1.0, 1.0, 1.0, 1.0)),
            ("0x15", (0.0,) * 16),  # not hexadecimal
            ("1+2x2 10-3x2", (1.0, 3.0, 5.0, 10.0, 7.0, 4.0)),
            ("1-2x3", (1.0, -1.0, -3.0, -5.0)),
            ("1 -2x3", (1.0, -2.0, -2.0, -2.0, -2.0)),
            ("-1-1x2", (-1.0, -2.0, -3.0)),
            ("+1+1x2", (1.0, 2.0, 3.0)),
            ("1 +2", (1.0, 2.0)),
            ("1.5+0.5x2", (1.5, 2.0, 2.5)),
            ("1e3+1e2x2", (1000.0, 1100.0, 1200.0)),
            ("1+1e1x2", (1.0, 11.0, 21.0)),
            ("1e-3 1E3 .5 5.", (0.001, 1000.0, 0.5, 5.0)),
            ("_", (None,)),
            ("1 _x3 5", (1.0, None, None, None, 5.0)),  # _xn is n missing samples, not n+1
            ("_x0 1", (1.0,)),
            ("-1e2 +Inf -Inf NaN 0x1", (-100.0, inf, -inf, nan, 0.0, 0.0)),
            ("inf nan Inf+1x2", (inf, nan, inf, inf, inf)),
            ("1   2\t3\n4", (1.0, 2.0, 3.0, 4.0)),
            ("1 _ 2 stale", (1.0, None, 2.0, STALE_NAN)),
        ],
    )
    def test_expands_as_promtool(self, text: str, expected: tuple[float | None, ...]) -> None:
        """Each notation expands to the samples promtool 2.42 stores for it."""
        assert same(testfile.expand_values(text), expected), testfile.expand_values(text)

    def test_stale_is_the_stale_marker(self) -> None:
        """``stale`` is Prometheus's stale NaN, not any NaN; ``NaN`` is an ordinary NaN."""
        stale, plain = testfile.expand_values("stale NaN")
        assert stale is not None and is_stale(stale)
        assert plain is not None and math.isnan(plain) and not is_stale(plain)

    def test_stale_with_a_step_is_followed_by_plain_nans(self) -> None:
        """``stale+1x2`` is a stale marker, then two ordinary NaNs (the stale NaN plus 1), as in promtool."""
        values = testfile.expand_values("stale+1x2")
        assert len(values) == 3
        assert values[0] is not None and is_stale(values[0])
        assert all(v is not None and math.isnan(v) and not is_stale(v) for v in values[1:])

    def test_steps_accumulate_by_addition(self) -> None:
        """``a+bxn`` adds b n times, as promtool does: 0.1+0.1x9 ends at 0.9999999999999999, not 1."""
        assert testfile.expand_values("0.1+0.1x9")[-1] == 0.9999999999999999

    @pytest.mark.parametrize(
        ("text", "offset"),
        [
            ("1+-2x3", 0),
            ("1--2x3", 0),
            ("1 stalex2 2", 2),
            ("1x3x2", 0),
            ("1+1", 0),  # a step needs its count
            ("0x1F", 0),
            ("0x7fffffff", 0),
            ("1_000", 0),
            ("1 x", 2),
            ("1+2 x3", 0),
            ("1+2x 3", 0),
            ("1+2x3.5", 0),
            ("1,2", 0),
            ("infinity", 0),
            ("1 1+Infx2", 2),
            ("_+1x2", 0),
            ("1e400", 0),
            ("1 {{schema:0 sum:5 count:4 buckets:[1 2 1]}}", 2),  # native histograms: not in 2.42
        ],
    )
    def test_refuses_what_promtool_refuses(self, text: str, offset: int) -> None:
        """An item promtool 2.42 refuses is a ValueError pointing at the item."""
        with pytest.raises(ValueError, match=r"series values|out of range") as caught:
            testfile.expand_values(text)
        assert getattr(caught.value, "offset", None) == offset

    def test_size_is_bounded(self) -> None:
        """A series that would hold more samples than the limit is refused before it is built."""
        with pytest.raises(ValueError, match="more than 10 samples"):
            testfile.expand_values("1 _x5 0x5", limit=10)
        assert len(testfile.expand_values("0x9", limit=10)) == 10


class TestDurations:
    @pytest.mark.parametrize(
        ("text", "ms"),
        [
            ("0", 0),
            ("0s", 0),
            ("90s", 90_000),
            ("1m", 60_000),
            ("1h30m", 5_400_000),
            ("1d", 86_400_000),
            ("1w", 604_800_000),
            ("1y", 31_536_000_000),
            ("500ms", 500),
            ("1m30s250ms", 90_250),
            ("300001ms", 300_001),
        ],
    )
    def test_parses_prometheus_durations(self, text: str, ms: int) -> None:
        """Prometheus durations in milliseconds, every unit from ms to y."""
        assert testfile.parse_prometheus_duration(text) == ms

    @pytest.mark.parametrize(
        "text", ["", "5", "1.5m", "-1m", "1m1h", "1 m", "1ns", "1us", "1mm", "m", "1m1m"]
    )
    def test_refuses_what_prometheus_refuses(self, text: str) -> None:
        """Fractions, bare numbers, signs, spaces, units out of order or repeated, ns/us: refused."""
        with pytest.raises(ValueError, match="duration"):
            testfile.parse_prometheus_duration(text)

    def test_out_of_range(self) -> None:
        """A duration beyond Go's int64 nanoseconds is refused."""
        with pytest.raises(ValueError, match="out of range"):
            testfile.parse_prometheus_duration("300y")


class TestParseMetric:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("up", (("__name__", "up"),)),
            ("x:sum", (("__name__", "x:sum"),)),
            (
                'up{job="prometheus", instance="localhost:9090"}',
                (("__name__", "up"), ("instance", "localhost:9090"), ("job", "prometheus")),
            ),
            ("{a='b',}", (("a", "b"),)),
            ('  up { a = "b" , c=`d\\e` }  ', (("__name__", "up"), ("a", "b"), ("c", "d\\e"))),
            (
                '{a="x\\"y", b="\\n\\t\\\\", c="\\u00e9\\x41\\101"}',
                (("a", 'x"y'), ("b", "\n\t\\"), ("c", "éAA")),
            ),
            ("{a='it\\'s'}", (("a", "it's"),)),
            ('up{empty=""}', (("__name__", "up"),)),  # an empty value is no label
            ('{__name__="up", sum="by"}', (("__name__", "up"), ("sum", "by"))),
            ("{}", ()),
            ('{a=""}', ()),
        ],
    )
    def test_reads_series(self, text: str, expected: tuple[tuple[str, str], ...]) -> None:
        """A series as promtool writes it: sorted labels, the name as ``__name__``, Go escapes read."""
        assert testfile.parse_metric(text) == expected

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ('up{job=~"x"}', "expected '='"),
            ('up{job!="x"}', "expected '='"),
            ('up{job="x"', "expected ',' or '}'"),
            ("", "empty series"),
            ("  ", "empty series"),
            ('up{a="\\q"}', "unknown escape"),
            ('up{a="b", a="c"}', "given twice"),
            ('up{a="b}', "unterminated"),
            ("up{a=b}", "quoted value"),
            ("up x", "unexpected 'x'"),
            ('up{1a="b"}', "label name"),
            ("9up", "metric name"),
            ('{a="\\xZZ"}', "hex digits"),
            ('{a="\\ud800"}', "not a Unicode code point"),
        ],
    )
    def test_refuses_bad_series(self, text: str, message: str) -> None:
        """A series promtool would not parse is a ValueError saying what is wrong."""
        with pytest.raises(ValueError, match=message):
            testfile.parse_metric(text)


GOOD = """\
rule_files: [rules.yml, "more/*.yml", missing.yml]
evaluation_interval: 30s
group_eval_order: [b, a]
tests:
  - name: first
    interval: 1m
    external_labels: {region: eu}
    external_url: http://prom
    input_series:
      - series: 'up{job="api"}'
        values: '1+1x2 _ stale'
    alert_rule_test:
      - eval_time: 5m
        alertname: Down
        exp_alerts:
          - exp_labels: {severity: page}
            exp_annotations: {summary: down}
      - eval_time: 6m
        alertname: Down
    promql_expr_test:
      - expr: up == 1
        eval_time: 1m
        exp_samples:
          - labels: 'up{job="api"}'
            value: 1
          - value: .inf
      - expr: vector(1)
  - input_series:
      - series: x
        values: 1 2 3
"""


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A test file beside its rule files (one of three patterns matching nothing)."""
    (tmp_path / "rules.yml").write_text("groups: []\n")
    (tmp_path / "more").mkdir()
    (tmp_path / "more" / "b.yml").write_text("groups: []\n")
    (tmp_path / "more" / "a.yml").write_text("groups: []\n")
    test = tmp_path / "t.test.yml"
    test.write_text(GOOD)
    return test


class TestLoad:
    def test_reads_every_part(self, tree: Path) -> None:
        """Every key of the format lands in the typed model, durations in ms, defaults filled in."""
        loaded = testfile.load_test_file(tree)
        base = tree.parent
        assert loaded.rule_files == (base / "rules.yml", base / "more" / "a.yml", base / "more" / "b.yml")
        assert loaded.unmatched_rule_patterns == (str(base / "missing.yml"),)
        assert loaded.evaluation_interval_ms == 30_000
        assert loaded.group_eval_order == ("b", "a")
        first, second = loaded.tests
        assert (first.name, first.interval_ms, first.line) == ("first", 60_000, 5)
        assert first.external_labels == (("region", "eu"),)
        assert first.external_url == "http://prom"
        (series,) = first.input_series
        assert series.labels == (("__name__", "up"), ("job", "api"))
        assert same(series.values, (1.0, 2.0, 3.0, None, STALE_NAN))
        alert, no_alerts = first.alert_rule_tests
        assert (alert.eval_time_ms, alert.alertname) == (300_000, "Down")
        assert alert.expected == (
            testfile.ExpectedAlert((("severity", "page"),), (("summary", "down"),), 16),
        )
        assert no_alerts.expected == ()
        expr, bare = first.promql_expr_tests
        assert (expr.expr, expr.eval_time_ms, expr.expr_line, expr.expr_column) == ("up == 1", 60_000, 21, 15)
        assert [(s.labels, s.value) for s in expr.expected] == [
            ((("__name__", "up"), ("job", "api")), 1.0),
            ((), inf),
        ]
        assert (bare.eval_time_ms, bare.expected) == (0, ())
        assert first.max_eval_time_ms() == 360_000
        assert second.interval_ms is None and second.name == "" and second.max_eval_time_ms() == 0

    def test_samples_step_from_zero(self, tree: Path) -> None:
        """Sample i sits at i * interval; missing ones are None in samples() and left out of stored()."""
        series = testfile.load_test_file(tree).tests[0].input_series[0]
        assert [t for t, _ in series.samples(60_000)] == [0, 60_000, 120_000, 180_000, 240_000]
        stored = series.stored(60_000)
        assert [t for t, _ in stored] == [0, 60_000, 120_000, 240_000]
        assert is_stale(stored[-1][1])

    def test_interval_left_out(self, tree: Path) -> None:
        """Without ``interval`` promtool 2.42 steps by 0 (the store keeps the first sample); newer ones
        step by evaluation_interval."""
        loaded = testfile.load_test_file(tree)
        group = loaded.tests[1]
        assert group.series_step_ms(loaded.evaluation_interval_ms) == 0
        assert group.series_step_ms(loaded.evaluation_interval_ms, promtool_242=False) == 30_000
        assert group.input_series[0].stored(0) == ((0, 1.0),)
        assert loaded.tests[0].series_step_ms(loaded.evaluation_interval_ms) == 60_000

    def test_empty_file_and_defaults(self, tmp_path: Path) -> None:
        """An empty file is a file with no tests; evaluation_interval defaults to 1m."""
        loaded = testfile.parse_test_file("", tmp_path / "e.yml")
        assert (loaded.tests, loaded.evaluation_interval_ms) == ((), 60_000)
        assert testfile.parse_test_file("tests: []\n", tmp_path / "e.yml").evaluation_interval_ms == 60_000

    @pytest.mark.parametrize("corpus_file", CORPUS_FILES, ids=[p.name for p in CORPUS_FILES])
    def test_every_corpus_file_loads(self, corpus_file: Path) -> None:
        """Every corpus file (passing and failing ones) loads, finds its rule file, and has tests; the
        failing ones with a bad values string are the exception the loader reports."""
        if corpus_file.name == "f05_bad_series_values.test.yml":
            with pytest.raises(testfile.TestFileError, match="invalid item '1\\+2'") as caught:
                testfile.load_test_file(corpus_file)
            assert (caught.value.line, caught.value.column) == (7, 18)
            return
        loaded = testfile.load_test_file(corpus_file)
        assert loaded.rule_files == (corpus_file.with_name(corpus_file.name.replace(".test.", ".rules.")),)
        assert loaded.unmatched_rule_patterns == ()
        assert loaded.tests
        for group in loaded.tests:
            assert group.input_series
            assert group.alert_rule_tests or group.promql_expr_tests or corpus_file.parent.name == "failing"


class TestErrors:
    @pytest.mark.parametrize(
        ("text", "where", "line", "column", "message"),
        [
            ("bogus: 1\n", "bogus", 1, 1, "unknown key 'bogus'"),
            ("tests:\n  - intervall: 1m\n", "tests[0].intervall", 2, 5, "unknown key"),
            ("tests: {}\n", "tests", 1, 8, "expected a list"),
            ("tests: [1]\n", "tests[0]", 1, 9, "expected a mapping"),
            ("evaluation_interval: 1.5m\n", "evaluation_interval", 1, 22, "not a valid duration"),
            (
                "tests:\n  - promql_expr_test:\n      - expr: x\n        eval_time: 5\n",
                "tests[0].promql_expr_test[0].eval_time",
                4,
                20,
                "not a valid duration: '5'",
            ),
            (
                "tests:\n  - promql_expr_test:\n      - exp_samples:\n          - value: '3'\n",
                "tests[0].promql_expr_test[0].exp_samples[0].value",
                4,
                20,
                "expected a number",
            ),
            (
                "tests:\n  - input_series:\n      - series: 'up{job=~\"x\"}'\n",
                "tests[0].input_series[0].series",
                3,
                24,
                "expected '='",
            ),
            (
                "tests:\n  - input_series:\n      - values: '1'\n",
                "tests[0].input_series[0]",
                3,
                9,
                "missing key 'series'",
            ),
            (
                "tests:\n  - input_series:\n      - series: '{}'\n",
                "tests[0].input_series[0].series",
                3,
                17,
                "empty label set",
            ),
            (
                "tests:\n  - input_series:\n      - series: x\n        values: 1 2 1+\n",
                "tests[0].input_series[0].values",
                4,
                21,
                "invalid item '1\\+'",
            ),
            (
                'tests:\n  - input_series:\n      - series: x\n        values: "1 ,"\n',
                "tests[0].input_series[0].values",
                4,
                20,
                "invalid item ','",
            ),
            (
                "tests:\n  - alert_rule_test:\n      - exp_alerts:\n          - exp_labels: [a]\n",
                "tests[0].alert_rule_test[0].exp_alerts[0].exp_labels",
                4,
                25,
                "expected a mapping of strings",
            ),
            ("tests:\n  - name: a\n    name: b\n", "tests[0].name", 3, 5, "duplicate key"),
            ("group_eval_order: [[a]]\n", "group_eval_order[0]", 1, 20, "expected a string"),
        ],
    )
    def test_points_at_the_value(
        self, tmp_path: Path, text: str, where: str, line: int, column: int, message: str
    ) -> None:
        """A value that breaks the format is a CONFIG_050 at its file:line:column, with its key path."""
        with pytest.raises(testfile.TestFileError, match=message) as caught:
            testfile.parse_test_file(text, tmp_path / "t.yml")
        error = caught.value
        assert (error.code, error.path, error.line, error.column) == ("CONFIG_050", where, line, column)
        assert error.file == str(tmp_path / "t.yml")
        assert str(error).startswith(f"{tmp_path / 't.yml'}:{line}:{column}: error CONFIG_050 {where}: ")
        assert error.hint

    def test_yaml_syntax_error(self, tmp_path: Path) -> None:
        """Broken YAML is CONFIG_007 with the parser's position."""
        with pytest.raises(testfile.TestFileError) as caught:
            testfile.parse_test_file("tests:\n  - [unclosed\n", tmp_path / "t.yml")
        assert caught.value.code == "CONFIG_007"
        assert caught.value.line == 3

    def test_missing_and_undecodable_files(self, tmp_path: Path) -> None:
        """A missing file is CONFIG_003 and a file that is not UTF-8 CONFIG_006, both naming the file."""
        with pytest.raises(testfile.TestFileError) as caught:
            testfile.load_test_file(tmp_path / "none.yml")
        assert (caught.value.code, caught.value.file) == ("CONFIG_003", str(tmp_path / "none.yml"))
        bad = tmp_path / "bad.yml"
        bad.write_bytes(b"tests: [\xff]\n")
        with pytest.raises(testfile.TestFileError) as caught:
            testfile.load_test_file(bad)
        assert caught.value.code == "CONFIG_006"

    def test_aliases_repeating_nodes_are_bounded(self, tmp_path: Path) -> None:
        """YAML aliases that repeat a group of series thousands of times stop at the node budget."""
        text = "tests:\n  - &g\n    input_series:\n      - &one {series: x, values: ''}\n"
        text += "      - *one\n" * 1000 + "  - *g\n" * 1100
        with pytest.raises(testfile.TestFileError, match="more than 1000000 YAML nodes"):
            testfile.parse_test_file(text, tmp_path / "t.yml")

    def test_aliases_repeating_samples_are_bounded(self, tmp_path: Path) -> None:
        """Aliases repeating a long series stop at the file's sample budget, not at memory's end."""
        text = "tests:\n  - &g\n    input_series:\n      - &one {series: x, values: '0x99999'}\n"
        text += "      - *one\n" * 9 + "  - *g\n" * 20
        with pytest.raises(testfile.TestFileError, match="more than") as caught:
            testfile.parse_test_file(text, tmp_path / "t.yml")
        assert caught.value.path.endswith(".values")

    def test_error_is_not_a_pytest_class(self) -> None:
        """TestFileError's name starts with Test, but pytest must not collect it."""
        assert testfile.TestFileError.__test__ is False
