"""Label matchers: Alertmanager's four operators, its list syntaxes, anchored RE2-compatible regexes."""

from __future__ import annotations

import pytest

from sharedconfig.monitoring.alerts.matchers import (
    InvalidMatcher,
    Matcher,
    MatchType,
    format_matchers,
    matches,
    parse_matchers,
)


class TestMatching:
    @pytest.mark.parametrize(
        ("text", "value", "expected"),
        [
            ('a="x"', "x", True),
            ('a="x"', "xy", False),
            ('a!="x"', "y", True),
            ('a!="x"', "x", False),
            ('a=~"x|y"', "y", True),
            ('a=~"x"', "xx", False),  # anchored: the whole value
            ('a=~"x"', "x\n", False),  # no '$ before a final newline' as Python's re would allow
            ('a!~"crit.*"', "critical", False),
            ('a!~"crit.*"', "warning", True),
            ('a=""', "", True),
        ],
    )
    def test_operators(self, text: str, value: str, expected: bool) -> None:
        """Each operator selects the values Alertmanager's does, regexes over the whole value."""
        assert Matcher.parse(text).matches(value) is expected

    def test_absent_label_is_empty(self) -> None:
        """A label an alert lacks reads as "", so team="" selects alerts without team."""
        found = parse_matchers('{team="", alertname="A"}')
        assert matches(found, (("alertname", "A"),))
        assert not matches(found, (("alertname", "A"), ("team", "x")))
        assert matches([], (("alertname", "A"),))

    def test_matches_empty(self) -> None:
        """``matches_empty`` tells matchers that also select an absent label."""
        assert Matcher.parse('a=~".*"').matches_empty
        assert Matcher.parse('a!="x"').matches_empty
        assert not Matcher.parse('a="x"').matches_empty


class TestParsing:
    def test_braces_quotes_and_spaces(self) -> None:
        """The PromQL-like form with braces, quotes and spaces around commas and operators."""
        found = parse_matchers('{alertname="X", severity =~ "crit.*" ,team!~"a,b"}')
        assert found == [
            Matcher("alertname", MatchType.EQUAL, "X"),
            Matcher("severity", MatchType.REGEX, "crit.*"),
            Matcher("team", MatchType.NOT_REGEX, "a,b"),
        ]

    def test_unquoted_amtool_form(self) -> None:
        """``alertname=X`` and bare values up to the next comma, trimmed."""
        assert parse_matchers("alertname=X, job != api ") == [
            Matcher("alertname", MatchType.EQUAL, "X"),
            Matcher("job", MatchType.NOT_EQUAL, "api"),
        ]
        assert parse_matchers("{}") == []
        assert parse_matchers("") == []

    def test_escapes(self) -> None:
        """Quoted values read Go escapes; str() writes them back the way Alertmanager does."""
        (m,) = parse_matchers(r'{a="say \"hi\"\n\\"}')
        assert m.value == 'say "hi"\n\\'
        assert str(m) == r'a="say \"hi\"\n\\"'
        assert format_matchers(parse_matchers('a="1", b=~"2"')) == '{a="1",b=~"2"}'

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ('{a="x"', "missing closing brace"),
            ('a="x"}', "missing opening brace"),
            ('a="x', "unterminated"),
            ("1a=x", "expected a label name"),
            ("a x", "expected =, !=, =~ or !~"),
            ('a="x" b="y"', "expected a comma"),
            ('a=x"y', "stray quote"),
            (r'a="\q"', "unknown escape"),
            ('a=~"("', "invalid regular expression"),
        ],
    )
    def test_bad_text(self, text: str, message: str) -> None:
        """Malformed matchers fail with a ValueError carrying a stable code and a hint."""
        with pytest.raises(InvalidMatcher, match=message) as info:
            parse_matchers(text)
        assert isinstance(info.value, ValueError)
        assert info.value.code == "VALIDATION_008"
        assert info.value.hint

    def test_parse_wants_one(self) -> None:
        """``Matcher.parse`` takes exactly one matcher."""
        with pytest.raises(InvalidMatcher, match="expected one matcher, found 2"):
            Matcher.parse("a=1,b=2")

    def test_bad_label_name(self) -> None:
        """A matcher's name must be a label name."""
        with pytest.raises(InvalidMatcher, match="invalid label name"):
            Matcher("a-b", MatchType.EQUAL, "x")


class TestRE2:
    @pytest.mark.parametrize(
        "pattern",
        [
            r"(a)\1",
            r"(?P<x>a)(?P=x)",
            r"a(?=b)",
            r"a(?!b)",
            r"(?<=a)b",
            r"(?<!a)b",
            r"(?>a)",
            r"a*+",
            r"(a)?(?(1)b|c)",
            r"a\Z",
        ],
    )
    def test_refused(self, pattern: str) -> None:
        """Patterns that RE2 does not have (or reads differently) are refused with a hint naming RE2."""
        with pytest.raises(InvalidMatcher, match="invalid regular expression") as info:
            Matcher("a", MatchType.REGEX, pattern)
        assert "RE2" in (info.value.hint or "")
        assert isinstance(info.value, ValueError)

    @pytest.mark.parametrize(
        "pattern",
        [r"[(?=]x", r"(?:a|b)+", r"(?P<name>a)", r"(?<name>a)", r"(?i)crit", r"a{2}", r"[]\]]+", r"\(?="],
    )
    def test_accepted(self, pattern: str) -> None:
        """Character classes, escapes, non-capturing and named groups and flags are fine."""
        Matcher("a", MatchType.REGEX, pattern)

    def test_read_as_re2_reads_them(self) -> None:
        """\\d is ASCII only and '.' does not match a newline, as in Alertmanager's RE2 matchers."""
        assert not Matcher.parse(r'a=~"\\d"').matches("\u0663")  # ARABIC-INDIC DIGIT THREE
        assert Matcher.parse(r'a=~"\\d"').matches("3")
        assert not Matcher.parse('a=~"a.b"').matches("a\nb")

    def test_flag_groups_scope_as_in_re2(self) -> None:
        """A bare (?i) applies to the rest of its own group, anywhere in the pattern, as in RE2."""
        assert Matcher.parse('a=~"(?i)CRIT.*"').matches("critical")
        mid = Matcher.parse('a=~"a(?i)b"')
        assert mid.matches("aB")
        assert not mid.matches("AB")
        nested = Matcher.parse('a=~"(x(?i)y)z"')
        assert nested.matches("xYz")
        assert not nested.matches("xYZ")
        assert Matcher.parse('a=~"(?i)a|b"').matches("B")  # the flag spans the alternation
