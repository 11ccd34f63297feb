"""Durations written the Go way ("250ms", "30s", "1h30m", "7d"): parse them, format them, validate them.

Every duration in every configuration load goes through ``parse_duration``, so the common case is one regex.
"""

from __future__ import annotations

import math
import re
from datetime import timedelta
from typing import Final

from sharedconfig.errors import ValidationError

__all__ = ["DURATION_PATTERN", "format_duration", "parse_duration"]

_CODE: Final = "VALIDATION_004"
_EXPECTED: Final = "expected a number followed by a unit (ns, us, ms, s, m, h, d, w), e.g. 30s, 1h30m"
_MAX_LENGTH: Final = 256  # a longer value is a mistake, and int() refuses >4300 digits anyway
_MAX_SHOWN: Final = 60  # how much of a bad value an error message quotes
_CACHE_SIZE: Final = 512
_CACHE: dict[str, timedelta] = {}  # timedelta is immutable, so parsed strings can be shared

# Nanoseconds per unit. "µs" is accepted as the micro sign (U+00B5) and the Greek mu (U+03BC), like Go.
_UNIT_NS: Final[dict[str, int]] = {
    "ns": 1,
    "us": 1_000,
    "\u00b5s": 1_000,
    "\u03bcs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60 * 1_000_000_000,
    "h": 3_600 * 1_000_000_000,
    "d": 86_400 * 1_000_000_000,
    "w": 7 * 86_400 * 1_000_000_000,
}
# Microseconds per unit, for the fast path (nanoseconds need rounding, so they take the general path).
_UNIT_US: Final[dict[str, int]] = {unit: ns // 1_000 for unit, ns in _UNIT_NS.items() if ns >= 1_000}

# Written once, shared by the parser and the JSON Schema pattern: both accept exactly the same strings.
# Longer units come first so that the alternation never needs to backtrack from "m" to "ms".
_NUMBER: Final = r"(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)"
_UNIT: Final = "(?:ns|us|\u00b5s|\u03bcs|ms|s|m|h|d|w)"
_SPACE: Final = " \t\n\r\f\v"

DURATION_PATTERN: Final[str] = rf"^[ \t\n\r\f\v]*(?:{_NUMBER}|(?:{_NUMBER}{_UNIT})+)[ \t\n\r\f\v]*$"
"""An anchored ECMA-262 / JSON Schema regular expression matching every string ``parse_duration`` accepts.

It matches the same set as the parser except that it cannot see magnitude: a value too large for a
``timedelta`` (over 999999999 days) matches the pattern but fails to parse.
"""

_SINGLE_INT: Final = re.compile(r"([0-9]+)(us|\u00b5s|\u03bcs|ms|s|m|h|d|w)")
_PART: Final = re.compile("([0-9]*)(?:\\.([0-9]+))?(ns|us|\u00b5s|\u03bcs|ms|s|m|h|d|w)")
_PARTS: Final = re.compile(rf"(?:{_NUMBER}{_UNIT})+")
_PLAIN: Final = re.compile(r"([0-9]*)(?:\.([0-9]+))?")  # a fullmatch on this must also be non-empty

# Lenient reading of what people write instead, to suggest the canonical spelling.
_LOOSE_PART: Final = re.compile(r"([0-9]+(?:\.[0-9]+)?|\.[0-9]+)[ \t]*([A-Za-z\u00b5\u03bc]+)")
_LOOSE_SEPARATOR: Final = re.compile(r"(?:[ \t]*(?:,|\band\b)?[ \t]*)")
_SPELLED_UNITS: Final[dict[str, str]] = {
    **dict.fromkeys(("ns", "nsec", "nsecs", "nanosecond", "nanoseconds"), "ns"),
    **dict.fromkeys(("us", "usec", "usecs", "microsecond", "microseconds"), "us"),
    **dict.fromkeys(("ms", "msec", "msecs", "milli", "millis", "millisecond", "milliseconds"), "ms"),
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), "s"),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), "m"),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), "h"),
    **dict.fromkeys(("d", "day", "days"), "d"),
    **dict.fromkeys(("w", "wk", "wks", "week", "weeks"), "w"),
    "\u00b5s": "us",
    "\u03bcs": "us",
}

# Units format_duration writes, largest first. Weeks are never written: "14d" reads better than "2w".
_FORMAT_UNITS: Final[tuple[tuple[str, int], ...]] = (
    ("d", 86_400_000_000),
    ("h", 3_600_000_000),
    ("m", 60_000_000),
    ("s", 1_000_000),
    ("ms", 1_000),
    ("us", 1),
)


def parse_duration(value: str | int | float | timedelta) -> timedelta:
    """Return ``value`` as a ``timedelta``; raise ``ValidationError`` (``VALIDATION_004``) if it is not one.

    Accepted:

    - a ``timedelta`` that is not negative, returned unchanged;
    - an ``int`` or ``float`` (not ``bool``, not NaN or infinite, not negative): a number of seconds;
    - a string of one or more ``<number><unit>`` parts written together, Go-style: ``"250ms"``, ``"30s"``,
      ``"1h30m"``, ``"1.5h"``, ``"7d"``, ``"2w"``, ``"100us"`` (or ``"100µs"``), ``"10ns"``. Units are
      ``ns us µs ms s m h d w`` and are case-sensitive. Parts may repeat and come in any order, as in Go
      (``"30m1h"`` is 90 minutes). Numbers are unsigned decimals (``"1.5"``, ``".5"``; no exponent);
    - a string holding just a number (``"30"``, ``"2.5"``): seconds.

    Leading and trailing ASCII whitespace is ignored; whitespace *between* parts is rejected (``"1h 30m"``),
    with a did-you-mean for the joined form, as are spelled-out units (``"30 seconds"`` -> ``"30s"``).
    A ``timedelta`` counts microseconds, so anything finer is rounded to the nearest microsecond (half to
    even): ``"10ns"`` is zero and ``"1500ns"`` is 2 µs.
    """
    if type(value) is str:  # the hot path: an exact str, usually "<int><unit>" seen many times before
        cached = _CACHE.get(value)
        if cached is not None:
            return cached
        single = _SINGLE_INT.fullmatch(value) if len(value) <= _MAX_LENGTH else None
        if single is None:
            parsed = _parse_string(value)
        else:
            try:
                parsed = timedelta(microseconds=int(single[1]) * _UNIT_US[single[2]])
            except OverflowError:
                raise _too_large(value) from None
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.clear()  # crude but bounded; configurations use a handful of distinct durations
        _CACHE[value] = parsed
        return parsed
    if isinstance(value, timedelta):
        if value < timedelta(0):
            raise _negative(value)
        return value
    if isinstance(value, bool):
        raise _invalid(value, "expected a duration such as 30s, not a boolean")
    if isinstance(value, int):
        if value < 0:
            raise _negative(value)
        try:
            return timedelta(seconds=value)
        except OverflowError:
            raise _too_large(value) from None
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _invalid(value, "expected a finite number of seconds")
        if value < 0:
            raise _negative(value)
        try:
            return timedelta(seconds=value)
        except OverflowError:
            raise _too_large(value) from None
    if isinstance(value, str):  # a str subclass
        return parse_duration(str(value))
    raise _invalid(
        value, f"expected a string, a number of seconds or a timedelta, not {type(value).__name__}"
    )


def _parse_string(value: str) -> timedelta:
    text = value.strip(_SPACE)
    if len(text) > _MAX_LENGTH:
        raise _invalid(value, f"longer than {_MAX_LENGTH} characters")
    if _PARTS.fullmatch(text) is not None:
        total_ns = 0
        for whole, fraction, unit in _PART.findall(text):
            total_ns += _to_ns(whole, fraction, _UNIT_NS[unit])
        return _from_ns(total_ns, value)
    plain = _PLAIN.fullmatch(text)
    if plain is not None and text:
        return _from_ns(_to_ns(plain[1], plain[2] or "", _UNIT_NS["s"]), value)
    if text.startswith("-") and (
        _PARTS.fullmatch(text[1:]) is not None or (_PLAIN.fullmatch(text[1:]) is not None and text[1:])
    ):
        raise _negative(value)
    suggestion = _suggest(text)
    reason = f"{_EXPECTED}; did you mean {suggestion!r}?" if suggestion else _EXPECTED
    raise _invalid(value, reason)


def _to_ns(whole: str, fraction: str, unit_ns: int) -> int:
    """Exact integer arithmetic: "0.1s" must be 100ms, not 100.00000000000001ms."""
    ns = int(whole or "0") * unit_ns
    if fraction:
        ns += int(fraction) * unit_ns // 10 ** len(fraction)  # below a nanosecond is dropped, as in Go
    return ns


def _from_ns(total_ns: int, value: str) -> timedelta:
    micros, rest = divmod(total_ns, 1_000)
    if rest > 500 or (rest == 500 and micros % 2 == 1):  # half to even, as timedelta itself rounds
        micros += 1
    try:
        return timedelta(microseconds=micros)
    except OverflowError:
        raise _too_large(value) from None


def _suggest(text: str) -> str | None:
    """The canonical spelling of a loosely written duration ("30 seconds", "1h 30m", "2 Hours"), if any."""
    position, parts = 0, list[str]()
    while position < len(text):
        if parts:
            separator = _LOOSE_SEPARATOR.match(text, position)
            position = separator.end() if separator else position
        match = _LOOSE_PART.match(text, position)
        if match is None:
            return None
        unit = _SPELLED_UNITS.get(match[2]) or _SPELLED_UNITS.get(match[2].lower())
        if unit is None:
            return None
        parts.append(f"{match[1]}{unit}")
        position = match.end()
    suggestion = "".join(parts)
    return suggestion if suggestion != text and _PARTS.fullmatch(suggestion) else None


def _show(value: object) -> str:
    shown = repr(value)
    return shown if len(shown) <= _MAX_SHOWN else f"{shown[: _MAX_SHOWN - 4]}...{shown[-1]}"


def _invalid(value: object, reason: str) -> ValidationError:
    return ValidationError(
        f"invalid duration {_show(value)}: {reason}", code=_CODE, details={"value": _show(value)}
    )


def _negative(value: object) -> ValidationError:
    return _invalid(value, "durations cannot be negative")


def _too_large(value: object) -> ValidationError:
    return _invalid(value, "too large (the maximum is 999999999 days)")


def format_duration(td: timedelta) -> str:
    """Return the canonical string for ``td``: largest units first, each once, no zero parts.

    ``parse_duration(format_duration(td)) == td`` for every non-negative ``td``. Examples: 90 minutes ->
    ``"1h30m"``, 7 days -> ``"7d"``, 0.25 s -> ``"250ms"``, 1.5 s -> ``"1s500ms"``, zero -> ``"0s"``.
    Days are the largest unit (never weeks) and microseconds the smallest, written ``us``. A negative
    ``td`` raises ``ValidationError`` (``VALIDATION_004``), since no duration string means it.
    """
    if td < timedelta(0):
        raise _negative(td)
    remaining = (td.days * 86_400 + td.seconds) * 1_000_000 + td.microseconds
    if remaining == 0:
        return "0s"
    parts: list[str] = []
    for unit, micros in _FORMAT_UNITS:
        count, remaining = divmod(remaining, micros)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)
