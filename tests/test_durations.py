"""Tests for sharedconfig.durations: parsing, formatting, error messages and the JSON Schema pattern.

Table tests pin the accepted forms; hypothesis checks round trips and that pattern and parser agree.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import timedelta

import jsonschema  # type: ignore[import-untyped]  # no types-jsonschema in the dev extra yet
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from sharedconfig.durations import DURATION_PATTERN, format_duration, parse_duration
from sharedconfig.errors import ValidationError

EXPECTED = "expected a number followed by a unit (ns, us, ms, s, m, h, d, w), e.g. 30s, 1h30m"
MAX = timedelta.max


def _error(value: object) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        parse_duration(value)  # type: ignore[arg-type]  # wrong types are part of what is tested
    return caught.value


class TestParseAccepted:
    """The forms parse_duration accepts."""

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("250ms", timedelta(milliseconds=250)),
            ("30s", timedelta(seconds=30)),
            ("2m", timedelta(minutes=2)),
            ("1h30m", timedelta(hours=1, minutes=30)),
            ("7d", timedelta(days=7)),
            ("1.5h", timedelta(hours=1, minutes=30)),
            ("2w", timedelta(weeks=2)),
            ("100us", timedelta(microseconds=100)),
            ("100\u00b5s", timedelta(microseconds=100)),
            ("100\u03bcs", timedelta(microseconds=100)),
            ("10ns", timedelta(0)),
            ("1500ns", timedelta(microseconds=2)),
            ("2500ns", timedelta(microseconds=2)),
            ("2501ns", timedelta(microseconds=3)),
            ("0s", timedelta(0)),
            ("0", timedelta(0)),
            ("30", timedelta(seconds=30)),
            ("2.5", timedelta(seconds=2.5)),
            (".5s", timedelta(milliseconds=500)),
            ("0.1s", timedelta(milliseconds=100)),
            ("1h1m1s1ms1us", timedelta(hours=1, minutes=1, seconds=1, milliseconds=1, microseconds=1)),
            ("30m1h", timedelta(minutes=90)),
            ("1s1s", timedelta(seconds=2)),
            ("  30s\t\n", timedelta(seconds=30)),
            (" 30 ", timedelta(seconds=30)),
            ("999999999d", timedelta(days=999_999_999)),
            ("0.000001s", timedelta(microseconds=1)),
            ("1.0000001s", timedelta(seconds=1)),
        ],
    )
    def test_string_forms(self, text: str, expected: timedelta) -> None:
        """Each documented string form parses to the exact timedelta."""
        assert parse_duration(text) == expected

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            (0, timedelta(0)),
            (30, timedelta(seconds=30)),
            (2.5, timedelta(seconds=2.5)),
            (0.000001, timedelta(microseconds=1)),
            (-0.0, timedelta(0)),
        ],
    )
    def test_numbers_are_seconds(self, value: float, expected: timedelta) -> None:
        """Ints and floats are taken as seconds."""
        assert parse_duration(value) == expected

    def test_timedelta_is_returned_unchanged(self) -> None:
        """A non-negative timedelta is returned as it is."""
        td = timedelta(hours=3, microseconds=7)
        assert parse_duration(td) is td

    def test_str_subclass_is_accepted(self) -> None:
        """A str subclass (as some YAML loaders produce) parses like a plain str."""

        class Text(str):
            """A str subclass."""

        assert parse_duration(Text("1h")) == timedelta(hours=1)

    def test_repeated_parses_return_equal_values(self) -> None:
        """The parse cache returns the same value as the first parse, again and again."""
        first = parse_duration("17m")
        assert [parse_duration("17m") for _ in range(3)] == [first] * 3 == [timedelta(minutes=17)] * 3


class TestParseRejected:
    """Bad input raises ValidationError VALIDATION_004 with a message a person can act on."""

    @pytest.mark.parametrize(
        ("value", "suggestion"),
        [
            ("30 seconds", "30s"),
            ("30 second", "30s"),
            ("30sec", "30s"),
            ("5 minutes", "5m"),
            ("5min", "5m"),
            ("2 hours", "2h"),
            ("2 Hours", "2h"),
            ("1 day", "1d"),
            ("3 weeks", "3w"),
            ("250 milliseconds", "250ms"),
            ("1h 30m", "1h30m"),
            ("1h, 30m", "1h30m"),
            ("1 hour and 30 minutes", "1h30m"),
            ("30S", "30s"),
            ("1.5 hours", "1.5h"),
        ],
    )
    def test_spelled_out_units_get_a_did_you_mean(self, value: str, suggestion: str) -> None:
        """Spelled-out units and spaces between parts are rejected with the canonical spelling suggested."""
        error = _error(value)
        assert error.code == "VALIDATION_004"
        assert error.message == f"invalid duration {value!r}: {EXPECTED}; did you mean {suggestion!r}?"
        assert parse_duration(suggestion) is not None

    def test_thirty_seconds_message_exactly(self) -> None:
        """The message for '30 seconds' quotes the value, says what is expected and suggests '30s'."""
        error = _error("30 seconds")
        assert error.message == (
            "invalid duration '30 seconds': expected a number followed by a unit "
            "(ns, us, ms, s, m, h, d, w), e.g. 30s, 1h30m; did you mean '30s'?"
        )
        assert error.category.value == "VALIDATION"
        assert "VALIDATION_004" in str(error)

    @pytest.mark.parametrize(
        "value",
        ["", "   ", "1x", "h", "s1", "1.", ".", "1..5s", "+5s", "1e3s", "1e3", "5 parsecs", "1h-30m", "NaN"],
    )
    def test_malformed_strings(self, value: str) -> None:
        """Strings that are not a number with units are rejected with the generic expectation."""
        error = _error(value)
        assert error.code == "VALIDATION_004"
        assert error.message == f"invalid duration {value!r}: {EXPECTED}"

    @pytest.mark.parametrize("value", ["-5s", "-1h30m", "-2", -1, -0.5, timedelta(seconds=-1)])
    def test_negative_values(self, value: object) -> None:
        """Negative durations are rejected and the message says so."""
        error = _error(value)
        assert error.code == "VALIDATION_004"
        assert error.message == f"invalid duration {value!r}: durations cannot be negative"

    @pytest.mark.parametrize("value", [True, False])
    def test_booleans(self, value: bool) -> None:
        """Booleans are rejected although bool is a subclass of int."""
        error = _error(value)
        assert error.code == "VALIDATION_004"
        assert error.message == f"invalid duration {value!r}: expected a duration such as 30s, not a boolean"

    @pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
    def test_non_finite_floats(self, value: float) -> None:
        """NaN and infinities are rejected."""
        assert _error(value).message == f"invalid duration {value!r}: expected a finite number of seconds"

    @pytest.mark.parametrize("value", [None, [1], {"s": 1}, b"30s"])
    def test_other_types(self, value: object) -> None:
        """Values of other types are rejected, naming the type."""
        error = _error(value)
        assert error.code == "VALIDATION_004"
        assert error.message.endswith(f"not {type(value).__name__}")

    @pytest.mark.parametrize("value", ["1000000000d", "99999999999999999999w", "9" * 30, 10**20, 1e300])
    def test_too_large(self, value: object) -> None:
        """Values beyond timedelta's range are rejected as too large, never with OverflowError."""
        assert _error(value).message.endswith("too large (the maximum is 999999999 days)")

    def test_long_input_is_rejected_and_truncated_in_the_message(self) -> None:
        """An absurdly long value is rejected without parsing it, and the message quotes only its start."""
        error = _error("1s" * 200)
        assert error.message.endswith("longer than 256 characters")
        assert len(error.message) < 120
        assert "..." in error.message

    @pytest.mark.parametrize("value", ["9" * 5000 + "s", "9" * 5000, "0." + "1" * 5000 + "s"])
    def test_huge_digit_strings_are_rejected_cleanly(self, value: str) -> None:
        """Thousands of digits give a ValidationError, never int()'s digit-limit ValueError."""
        assert _error(value).message.endswith("longer than 256 characters")

    def test_error_details_and_hint(self) -> None:
        """The error carries the value in details and the registered hint."""
        error = _error("soon")
        assert error.details == {"value": "'soon'"}
        assert error.hint.startswith("Write durations as a number and a unit")


class TestFormat:
    """format_duration writes the canonical form."""

    @pytest.mark.parametrize(
        ("td", "text"),
        [
            (timedelta(minutes=90), "1h30m"),
            (timedelta(days=7), "7d"),
            (timedelta(weeks=2), "14d"),
            (timedelta(seconds=0.25), "250ms"),
            (timedelta(0), "0s"),
            (timedelta(seconds=1.5), "1s500ms"),
            (timedelta(microseconds=1), "1us"),
            (timedelta(days=1, microseconds=1), "1d1us"),
            (timedelta(hours=25), "1d1h"),
            (timedelta(seconds=59, milliseconds=999, microseconds=999), "59s999ms999us"),
            (MAX, "999999999d23h59m59s999ms999us"),
        ],
    )
    def test_canonical_forms(self, td: timedelta, text: str) -> None:
        """Largest units first, each once, zero parts left out, microseconds written 'us'."""
        assert format_duration(td) == text

    def test_negative_is_rejected(self) -> None:
        """A negative timedelta has no duration string."""
        with pytest.raises(ValidationError) as caught:
            format_duration(timedelta(seconds=-1))
        assert caught.value.code == "VALIDATION_004"


class TestProperties:
    """Round trips and agreement between the parser and DURATION_PATTERN."""

    @given(st.timedeltas(min_value=timedelta(0)))
    @example(timedelta(0))
    @example(MAX)
    def test_parse_of_format_is_identity(self, td: timedelta) -> None:
        """parse(format(td)) == td for every non-negative whole-microsecond timedelta."""
        assert parse_duration(format_duration(td)) == td

    @given(st.timedeltas(min_value=timedelta(0)))
    def test_format_of_parse_is_identity_on_canonical_strings(self, td: timedelta) -> None:
        """format(parse(x)) == x for every canonical string x."""
        text = format_duration(td)
        assert format_duration(parse_duration(text)) == text

    @given(
        st.lists(
            st.tuples(
                st.integers(0, 10**6), st.sampled_from(["us", "\u00b5s", "ms", "s", "m", "h", "d", "w"])
            ),
            min_size=1,
            max_size=6,
        )
    )
    def test_parts_add_up(self, parts: list[tuple[int, str]]) -> None:
        """A string of integer parts parses to the sum of its parts, in any order."""
        micros = {"us": 1, "\u00b5s": 1, "ms": 10**3, "s": 10**6, "m": 6 * 10**7, "h": 36 * 10**8}
        micros |= {"d": 864 * 10**8, "w": 6048 * 10**8}
        text = "".join(f"{n}{unit}" for n, unit in parts)
        assert parse_duration(text) == timedelta(microseconds=sum(n * micros[unit] for n, unit in parts))

    @given(st.integers(0, 10**9), st.integers(0, 999_999))
    def test_decimal_seconds_are_exact(self, whole: int, fraction: int) -> None:
        """'W.FFFFFFs' and the bare number 'W.FFFFFF' are exact to the microsecond, with no float error."""
        expected = timedelta(seconds=whole, microseconds=fraction)
        assert parse_duration(f"{whole}.{fraction:06d}s") == expected
        assert parse_duration(f"{whole}.{fraction:06d}") == expected

    @given(st.text(alphabet="0123456789.nsu\u00b5mhdwx -\t", max_size=16))
    @example("1h30m")
    @example(" 30 ")
    @example("1.s")
    def test_pattern_matches_exactly_what_parses(self, text: str) -> None:
        """DURATION_PATTERN (used as JSON Schema does, with search) matches a string iff parsing succeeds."""
        matches = re.search(DURATION_PATTERN, text) is not None
        error: ValidationError | None = None
        try:
            parse_duration(text)
        except ValidationError as exc:
            error = exc
        if error is None:
            assert matches
        else:
            assert not matches or error.message.endswith("too large (the maximum is 999999999 days)")


class TestPattern:
    """DURATION_PATTERN works as a JSON Schema pattern."""

    ACCEPTED = ("250ms", "1h30m", "7d", "1.5h", "100\u00b5s", "10ns", "30", "2.5", " 30s ")
    REJECTED = ("30 seconds", "", "1x", "h", "1h 30m", "-5s", "1e3", "30s\nx")

    def test_pattern_is_anchored(self) -> None:
        """The pattern starts with ^ and ends with $, as a JSON Schema pattern must to match whole values."""
        assert DURATION_PATTERN.startswith("^")
        assert DURATION_PATTERN.endswith("$")

    def test_jsonschema_validates_with_it(self) -> None:
        """A JSON Schema using the pattern accepts the documented forms and rejects the bad ones."""
        validator = jsonschema.Draft202012Validator({"type": "string", "pattern": DURATION_PATTERN})
        assert all(validator.is_valid(text) for text in self.ACCEPTED)
        assert not any(validator.is_valid(text) for text in self.REJECTED)

    @pytest.mark.skipif(shutil.which("node") is None, reason="needs node to run an ECMA-262 regex engine")
    def test_ecma262_engine_agrees(self) -> None:
        """Node's RegExp with the unicode flag compiles the pattern and gives the same answers as Python."""
        script = (
            "const [p, xs] = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
            "const r = new RegExp(p, 'u'); console.log(JSON.stringify(xs.map(x => r.test(x))));"
        )
        samples = [*self.ACCEPTED, *self.REJECTED]
        result = subprocess.run(
            ["node", "-e", script],
            input=json.dumps([DURATION_PATTERN, samples]),
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        )
        assert json.loads(result.stdout) == [re.search(DURATION_PATTERN, s) is not None for s in samples]
