"""Parsing PromQL into our syntax tree: node shapes, durations in ms, errors with columns, RE2 regexes."""

from __future__ import annotations

import math

import pytest

from sharedconfig.monitoring.alerts.promql.ast import (
    Aggregate,
    AtModifier,
    Binary,
    Call,
    Matcher,
    MatchOp,
    MatrixSelector,
    NumberLiteral,
    Paren,
    StringLiteral,
    SubqueryExpr,
    Unary,
    VectorMatching,
    VectorSelector,
    reach_ms,
    walk,
)
from sharedconfig.monitoring.alerts.promql.parse import PromQLError, parse
from sharedconfig.monitoring.alerts.promql.re2 import compile_re2, translate_re2


def selector(name: str, *matchers: Matcher, offset: int = 0, at: AtModifier | None = None) -> VectorSelector:
    return VectorSelector(name, (Matcher.of("__name__", "=", name), *matchers), offset, at)


class TestNodes:
    def test_selector_with_every_matcher_kind(self) -> None:
        """The name becomes a __name__ matcher first; the four operators keep their values."""
        node = parse('http_requests{a="1", b!="2", c=~"x.*", d!~"y"}')
        assert node == selector(
            "http_requests",
            Matcher.of("a", "=", "1"),
            Matcher.of("b", "!=", "2"),
            Matcher.of("c", "=~", "x.*"),
            Matcher.of("d", "!~", "y"),
        )
        assert isinstance(node, VectorSelector)
        assert [m.op for m in node.matchers] == [
            MatchOp.EQUAL,
            MatchOp.EQUAL,
            MatchOp.NOT_EQUAL,
            MatchOp.REGEX,
            MatchOp.NOT_REGEX,
        ]

    def test_selector_by_name_matcher_only(self) -> None:
        """{__name__="x"} has no separate name and no duplicated matcher."""
        assert parse('{__name__="x"}') == VectorSelector(None, (Matcher.of("__name__", "=", "x"),))

    def test_range_offset_and_at_in_milliseconds(self) -> None:
        """Offsets (negative too), ranges and @ times are integer milliseconds."""
        assert parse("rate(x[5m] offset -1m30s @ 100.5)") == Call(
            "rate", (MatrixSelector(selector("x", offset=-90_000, at=AtModifier("at", 100_500)), 300_000),)
        )

    def test_subquery_keeps_its_step(self) -> None:
        """A subquery's step survives (the binding's str() would drop it); a missing step is None."""
        assert parse("max_over_time(x[10m:30s] offset 1m @ end())") == Call(
            "max_over_time", (SubqueryExpr(selector("x"), 600_000, 30_000, 60_000, AtModifier("end")),)
        )
        assert parse("x[5m:] @ start()") == SubqueryExpr(selector("x"), 300_000, None, 0, AtModifier("start"))

    def test_aggregations(self) -> None:
        """by/without and parameters land in their fields; a clause after the body is the same."""
        assert (
            parse("sum by (a, b) (x)")
            == parse("sum(x) by (a, b)")
            == Aggregate("sum", selector("x"), None, ("a", "b"))
        )
        assert parse("topk without (c) (3, x)") == Aggregate(
            "topk", selector("x"), NumberLiteral(3.0), ("c",), True
        )
        assert parse('count_values("v", x)') == Aggregate("count_values", selector("x"), StringLiteral("v"))

    def test_binary_matching_and_precedence(self) -> None:
        """Vector matching is always filled in, and * binds tighter than +, ^ to the right."""
        node = parse("a + on(x) group_left(y) b")
        assert node == Binary(
            "+", selector("a"), selector("b"), False, VectorMatching("many-to-one", True, ("x",), ("y",))
        )
        assert parse("a > bool ignoring(z) b") == Binary(
            ">", selector("a"), selector("b"), True, VectorMatching("one-to-one", False, ("z",))
        )
        assert parse("a or b").matching == VectorMatching("many-to-many")  # type: ignore[union-attr]
        assert parse("1 + 2 * 3") == Binary(
            "+", NumberLiteral(1), Binary("*", NumberLiteral(2), NumberLiteral(3))
        )
        assert parse("2 ^ 3 ^ 2") == Binary(
            "^", NumberLiteral(2), Binary("^", NumberLiteral(3), NumberLiteral(2))
        )

    def test_unary_paren_and_literals(self) -> None:
        """Unary minus, parentheses, hex, Inf/NaN and strings."""
        assert parse("-(x)") == Unary("-", Paren(selector("x")))
        assert parse("0x10") == NumberLiteral(16.0)
        value = parse("NaN")
        assert isinstance(value, NumberLiteral) and math.isnan(value.value)
        assert parse('"a\\tb"') == StringLiteral("a\tb")

    def test_walk_and_reach(self) -> None:
        """walk visits every node; reach_ms is the longest range plus offsets a query reads back."""
        node = parse("sum(rate(x[5m] offset 1m)) / max_over_time(y[10m:1m] offset 2m)")
        assert sum(isinstance(n, VectorSelector) for n in walk(node)) == 2
        assert reach_ms(node) == 12 * 60_000
        assert reach_ms(parse("x offset -5m")) == 0


class TestErrors:
    @pytest.mark.parametrize(
        ("query", "message", "column"),
        [
            ("sum(x", "unclosed left parenthesis", 4),
            ("unknownfn(x)", "unknown function with name 'unknownfn'", 1),
            ('x{a="b"', "unexpected end of input inside braces", 8),
            ("rate(x)", "expected type matrix in call to function 'rate', got vector", 1),
            ("x @ 1 @ 2", "@ <timestamp> may not be set multiple times", 7),
            ("x and bool y", "bool modifier can only be used on comparison operators", 7),
            ("x @ -5", "a negative @ time is not supported", 3),
        ],
    )
    def test_message_and_column(self, query: str, message: str, column: int) -> None:
        """The parser's message, with the column of the offending token found in the text."""
        with pytest.raises(PromQLError) as caught:
            parse(query)
        assert caught.value.message == message
        assert caught.value.column == column
        assert caught.value.query == query
        assert isinstance(caught.value, ValueError)

    def test_line_and_column_in_a_query_of_several_lines(self) -> None:
        """A query written over several lines gets the line too."""
        with pytest.raises(PromQLError) as caught:
            parse('sum(rate(x[5m]))\n  / on(a) bogus_fn(y{a="b"})')
        assert (caught.value.line, caught.value.column) == (2, 11)
        assert "line 2, column 11" in str(caught.value)

    def test_a_message_without_a_token_has_no_column(self) -> None:
        """When nothing in the message points at the text, no column is made up."""
        with pytest.raises(PromQLError) as caught:
            parse("foo bar")
        assert caught.value.column is None

    def test_string_contents_are_not_searched(self) -> None:
        """A token inside a label value is not mistaken for the offending one."""
        with pytest.raises(PromQLError) as caught:
            parse('x{a="@ -5 sum("} + sum(y')
        assert caught.value.column == 23


class TestRegexes:
    def test_anchored_on_the_whole_value(self) -> None:
        """=~ matches whole label values only, as Prometheus anchors ^(?:re)$."""
        m = Matcher.of("a", "=~", "b.*")
        assert m.matches("bcd") and not m.matches("abc")
        assert Matcher.of("a", "!~", "b|c").matches("bc")

    @pytest.mark.parametrize(
        "pattern",
        [
            "(?=a)b",
            "(?!a)b",
            "(?<=a)b",
            "(?>a)",
            "a*+",
            "a**",
            "\\1",
            "\\pL",
            "(?x)a",
            "a{1001}",
            "\\Z",
            "\\u0041",
        ],
    )
    def test_patterns_read_differently_are_refused(self, pattern: str) -> None:
        """Lookarounds, atomic groups, possessive or nested quantifiers, backreferences, \\p, x flag, \\Z."""
        with pytest.raises(PromQLError, match="RE2"):
            compile_re2(pattern, dot_all=True)

    def test_refused_in_a_query_with_its_column(self) -> None:
        """A refused pattern in a selector is a PromQLError pointing at the pattern."""
        with pytest.raises(PromQLError) as caught:
            parse('x{a=~"a*+"}')
        assert caught.value.column == 7

    @pytest.mark.parametrize(
        ("pattern", "value", "matches"),
        [
            ("\\d+", "١٢", False),  # RE2's \d is ASCII; Python's would match Arabic-Indic digits
            ("\\w+", "é", False),
            ("a$", "a\n", False),  # RE2's $ is the end of the text; Python's also matches before "\n"
            ("a(?i)b|c", "C", True),  # a mid-pattern flag covers the rest of the group, alternatives too
            ("a(?i)b|c", "aB", True),
            ("[[:alpha:]]+", "abc", True),
            ("[[:alpha:]]+", ":", False),
            ("a{,3}", "a{,3}", True),  # not a repeat in RE2
            ("\\Qa.b\\E", "axb", False),
            ("(?<n>x)", "x", True),
            ("\\x{e9}", "é", True),
            ("(?i)K", "k", True),
        ],
    )
    def test_matches_as_re2_does(self, pattern: str, value: str, matches: bool) -> None:
        """Translated patterns keep RE2's meaning where Python's syntax differs."""
        assert bool(compile_re2(pattern, dot_all=True).fullmatch(value)) is matches

    def test_ungreedy_flag_swaps_greediness(self) -> None:
        """(?U) makes quantifiers lazy (and a lazy one greedy), which captures see."""
        assert translate_re2("(?U)a+b*?") == "a+?b*"
        m = compile_re2("(?U)(a+)(a*)", dot_all=True).fullmatch("aaa")
        assert m is not None and m.groups() == ("a", "aa")

    def test_dot_matches_newline_in_v3_only(self) -> None:
        """Prometheus 3 lets . match a newline; Prometheus 2 does not."""
        m = Matcher.of("a", "=~", "x.y")
        assert m.matches("x\ny") and not m.matches("x\ny", v2=True)
