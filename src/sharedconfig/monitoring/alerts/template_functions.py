"""The functions alert templates call: Go's text/template builtins and Prometheus's template.go ones.

Each is a ``Function``: the kinds of its parameters (``string``, ``any`` for Go's ``interface{}``,
``value`` for reflect.Value, where a missing value may come in) and a Python callable that raises
``CallError`` where the Go function returns an error (shown as ``error calling NAME: ...``). Outputs
follow Prometheus's template/template.go to the byte (numbers through ``goformat``); ``template`` parses
and runs templates and checks arguments against these signatures.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final
from urllib.parse import quote_plus

from sharedconfig.monitoring.alerts import goformat
from sharedconfig.monitoring.alerts.goformat import go_type

__all__ = ["FUNCTIONS", "MISSING", "CallError", "Function", "Missing", "truth", "zero_element"]


class CallError(Exception):
    """A function returned an error: shown as ``error calling NAME: message``."""


class Missing:
    """Go's invalid reflect.Value: a missing value (prints ``<no value>``)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<no value>"


MISSING: Final = Missing()


@dataclass(frozen=True, slots=True)
class Function:
    params: tuple[str, ...]  # "string", "any" (interface{}), "value" (reflect.Value: missing allowed)
    variadic: str | None
    call: Callable[..., object]


def truth(value: object) -> bool:
    if value is None or value is MISSING:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str | Mapping | Sequence):
        return len(value) > 0
    return True


_KINDS = {bool: "bool", int: "int", float: "float", str: "string"}


def _kind(value: object) -> str:
    return _KINDS.get(type(value), "other")


def _eq(first: object, *others: object) -> bool:
    if not others:
        raise CallError("missing argument for comparison")
    kind = _kind(first)
    for other in others:
        if first is MISSING or other is MISSING or first is None or other is None:
            if (first in (None, MISSING)) == (other in (None, MISSING)):
                return True
            continue
        if _kind(other) != kind:
            raise CallError("incompatible types for comparison")
        if kind == "other":
            if isinstance(first, Mapping | list) or isinstance(other, Mapping | list):
                raise CallError(f"non-comparable type {goformat.format_value(first)}: {go_type(first)}")
            if first == other:
                return True
        elif first == other:
            return True
    return False


def _lt(first: object, second: object) -> bool:
    kind = _kind(first)
    if kind == "other" or _kind(second) == "other":
        raise CallError("invalid type for comparison")
    if _kind(second) != kind:
        raise CallError("incompatible types for comparison")
    if kind == "bool":
        raise CallError("invalid type for comparison")
    return bool(first < second)  # type: ignore[operator]


def _len(item: object) -> int:
    if item is None or item is MISSING:
        raise CallError("reflect: call of reflect.Value.Type on zero Value")  # Go's recovered panic
    if isinstance(item, str):
        return len(item.encode())
    if isinstance(item, Mapping | list | tuple):
        return len(item)
    raise CallError(f"len of type {go_type(item)}")


def _index(item: object, *indexes: object) -> object:
    for index in indexes:
        if item is None or item is MISSING:
            raise CallError("index of untyped nil")
        if isinstance(item, Mapping):
            if not isinstance(index, str):
                raise CallError(f"value has type {go_type(index)}; should be string")
            item = item[index] if index in item else zero_element(item)
        elif isinstance(item, str | list | tuple):
            if not isinstance(index, int) or isinstance(index, bool):
                raise CallError(f"cannot index slice/array with type {go_type(index)}")
            size = len(item.encode()) if isinstance(item, str) else len(item)
            if not 0 <= index < size:
                raise CallError(f"index out of range: {index}")
            item = item.encode()[index] if isinstance(item, str) else item[index]
        else:
            raise CallError(f"can't index item of type {go_type(item)}")
    return item


def zero_element(mapping: Mapping[str, object]) -> object:
    """Go's zero value for a map's missing key: "" for label maps (``map[string]string``), else none."""
    if all(isinstance(value, str) for value in mapping.values()):
        return ""
    return MISSING


def _to_float(value: object) -> float:
    """Prometheus's ``convertToFloat``: float64, a string Go's ParseFloat reads, or an int."""
    if isinstance(value, float):
        return value
    if isinstance(value, str):
        try:
            return goformat.parse_float(value)
        except ValueError as error:
            raise CallError(str(error)) from None
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    raise CallError(f"can't convert {go_type(value)} to float")


def _g4(value: float) -> str:
    return goformat.format_float(value, "g", 4)


_SI_UP = ("k", "M", "G", "T", "P", "E", "Z", "Y")
_SI_DOWN = ("m", "u", "n", "p", "f", "a", "z", "y")
_BINARY = ("ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi")


def _scale_down(value: float) -> tuple[float, str]:
    prefix = ""
    for step in _SI_DOWN:
        if abs(value) >= 1:
            break
        prefix = step
        value *= 1000
    return value, prefix


def _humanize(arg: object) -> str:
    value = _to_float(arg)
    if value == 0 or math.isnan(value) or math.isinf(value):
        return _g4(value)
    if abs(value) >= 1:
        prefix = ""
        for step in _SI_UP:
            if abs(value) < 1000:
                break
            prefix = step
            value /= 1000
        return _g4(value) + prefix
    value, prefix = _scale_down(value)
    return _g4(value) + prefix


def _humanize1024(arg: object) -> str:
    value = _to_float(arg)
    if abs(value) <= 1 or math.isnan(value) or math.isinf(value):
        return _g4(value)
    prefix = ""
    for step in _BINARY:
        if abs(value) < 1024:
            break
        prefix = step
        value /= 1024
    return _g4(value) + prefix


def _go_int64(value: float) -> int:
    """Go's ``int64(f)`` on amd64: truncation, MinInt64 when out of range."""
    if not -(2.0**63) <= value < 2.0**63:
        return -(2**63)
    return int(value)


def _go_divmod(numerator: int, denominator: int) -> tuple[int, int]:
    """Go's integer ``/`` and ``%``: truncated toward zero."""
    quotient = abs(numerator) // denominator * (1 if numerator >= 0 else -1)
    return quotient, numerator - quotient * denominator


def _humanize_duration(arg: object) -> str:
    value = _to_float(arg)
    if math.isnan(value) or math.isinf(value):
        return _g4(value)
    if value == 0:
        return _g4(value) + "s"
    if abs(value) >= 1:
        sign = ""
        if value < 0:
            sign, value = "-", -value
        whole = _go_int64(value)
        minutes_total, seconds = _go_divmod(whole, 60)
        hours_total, minutes = _go_divmod(minutes_total, 60)
        days, hours = _go_divmod(hours_total, 24)
        if days != 0:
            return f"{sign}{days}d {hours}h {minutes}m {seconds}s"
        if hours != 0:
            return f"{sign}{hours}h {minutes}m {seconds}s"
        if minutes != 0:
            return f"{sign}{minutes}m {seconds}s"
        return f"{sign}{_g4(value)}s"
    value, prefix = _scale_down(value)
    return f"{_g4(value)}{prefix}s"


def _humanize_percentage(arg: object) -> str:
    return _g4(_to_float(arg) * 100) + "%"


_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def _humanize_timestamp(arg: object) -> str:
    value = _to_float(arg)
    if math.isnan(value) or math.isinf(value):
        return _g4(value)
    nanos = value * 1e9
    if nanos > 2.0**63 or nanos < -(2.0**63):
        raise CallError(
            f"{goformat.format_value(value)} cannot be represented as a nanoseconds timestamp since it "
            "overflows int64"
        )
    millis, _ = _go_divmod(_go_int64(nanos), 1_000_000)  # model.Time: milliseconds
    moment = _EPOCH + timedelta(milliseconds=millis)
    fraction = f"{moment.microsecond // 1000:03d}".rstrip("0")
    return moment.strftime("%Y-%m-%d %H:%M:%S") + (f".{fraction}" if fraction else "") + " +0000 UTC"


_RE2_WORDS: Final = {
    "missing ), unterminated subpattern": "missing closing )",
    "unbalanced parenthesis": "unexpected )",
}
"""RE2's words for the commonest mistakes (the pattern is quoted whole in both); others keep Python's."""


_MULTILINE_FLAG = re.compile(r"\(\?[a-zA-Z]*m")


def _python_pattern(pattern: str) -> str:
    """RE2's ``$`` (without the m flag) and ``\\z`` match only at the very end: Python's ``\\Z``."""
    multiline = _MULTILINE_FLAG.search(pattern) is not None
    out: list[str] = []
    position = 0
    in_class = False
    while position < len(pattern):
        char = pattern[position]
        if char == "\\" and position + 1 < len(pattern):
            pair = pattern[position : position + 2]
            out.append("\\Z" if pair == "\\z" and not in_class else pair)
            position += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
            if pattern.startswith("^]", position + 1) or pattern.startswith("]", position + 1):
                out.append(pattern[position : pattern.index("]", position + 1) + 1])
                position = pattern.index("]", position + 1) + 1
                continue
        elif char == "$" and not multiline:
            char = "\\Z"
        out.append(char)
        position += 1
    return "".join(out)


def _compile(pattern: str, *, panic: bool) -> re.Pattern[str]:
    try:
        return re.compile(_python_pattern(pattern), re.ASCII)
    except re.error as error:
        reason = _RE2_WORDS.get(error.msg, str(error))
        message = f"error parsing regexp: {reason}: `{pattern}`"
        if panic:  # reReplaceAll uses MustCompile: its panic reads differently
            message = f"regexp: Compile({goformat.quote(pattern, '`')}): {message}"
        raise CallError(message) from None


_EXPAND = re.compile(r"\$(?:\$|\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+))")


def _expand_replacement(template: str, match: re.Match[str]) -> str:
    """Go's ``Regexp.Expand``: ``$1``, ``${1}``, ``$name``, ``${name}``, ``$$``; unknown groups are empty."""

    def group(found: re.Match[str]) -> str:
        if found.group(0) == "$$":
            return "$"
        name = found.group(1) or found.group(2)
        try:
            value = match.group(int(name) if name.isdigit() else name)
        except IndexError:  # no such group: Go expands it to nothing
            return ""
        return value or ""

    return _EXPAND.sub(group, template)


def _re_replace_all(pattern: str, replacement: str, text: str) -> str:
    """Go's ``ReplaceAllString``: an empty match right after a match is not replaced."""
    regex = _compile(pattern, panic=True)
    out: list[str] = []
    last_end = 0
    search = 0
    while search <= len(text):
        match = regex.search(text, search)
        if match is None:
            break
        start, end = match.span()
        out.append(text[last_end:start])
        if end > last_end or start == 0:
            out.append(_expand_replacement(replacement, match))
        last_end = end
        search = end if end > search else search + 1
    out.append(text[last_end:])
    return "".join(out)


def _match(pattern: str, text: str) -> bool:
    return _compile(pattern, panic=False).search(text) is not None


def _is_separator(char: str) -> bool:
    if char.isascii():
        return not (char.isalnum() or char == "_")
    if char.isalpha() or char.isdigit():
        return False
    return char.isspace()


def _map_chars(text: str, convert: Callable[[str], str]) -> str:
    """Go's rune-by-rune (simple) case mapping: a character whose full mapping is several stays, but for
    U+0130, whose simple lowercase is ``i``."""
    out = []
    for char in text:
        mapped = convert(char)
        if len(mapped) != 1:
            mapped = "i" if char == "\u0130" and convert is str.lower else char
        out.append(mapped)
    return "".join(out)


def _title(text: str) -> str:
    out = []
    previous = " "
    for char in text:
        if _is_separator(previous):
            titled = char.title()
            out.append(titled if len(titled) == 1 else char)
        else:
            out.append(char)
        previous = char
    return "".join(out)


def _printf(template: str, *args: object) -> str:
    return goformat.sprintf(template, *(None if arg is MISSING else arg for arg in args))


def _print(*args: object) -> str:
    return goformat.sprint(*(None if arg is MISSING else arg for arg in args))


def _println(*args: object) -> str:
    return goformat.sprintln(*(None if arg is MISSING else arg for arg in args))


FUNCTIONS: Final[Mapping[str, Function]] = {
    # Go's builtins
    "and": Function(("value",), "value", lambda *a: a),  # evaluated lazily by the executor
    "or": Function(("value",), "value", lambda *a: a),
    "not": Function(("value",), None, lambda a: not truth(a)),
    "eq": Function(("value",), "value", _eq),
    "ne": Function(("value", "value"), None, lambda a, b: not _eq(a, b)),
    "lt": Function(("value", "value"), None, _lt),
    "le": Function(("value", "value"), None, lambda a, b: _lt(a, b) or _eq(a, b)),
    "gt": Function(("value", "value"), None, lambda a, b: not (_lt(a, b) or _eq(a, b))),
    "ge": Function(("value", "value"), None, lambda a, b: not _lt(a, b)),
    "len": Function(("value",), None, _len),
    "index": Function(("value",), "value", _index),
    "print": Function((), "any", _print),
    "printf": Function(("string",), "any", _printf),
    "println": Function((), "any", _println),
    "urlquery": Function((), "any", lambda *a: quote_plus(_print(*a), safe="")),
    # Prometheus's template.go
    "humanize": Function(("any",), None, _humanize),
    "humanize1024": Function(("any",), None, _humanize1024),
    "humanizeDuration": Function(("any",), None, _humanize_duration),
    "humanizePercentage": Function(("any",), None, _humanize_percentage),
    "humanizeTimestamp": Function(("any",), None, _humanize_timestamp),
    "toUpper": Function(("string",), None, lambda s: _map_chars(s, str.upper)),
    "toLower": Function(("string",), None, lambda s: _map_chars(s, str.lower)),
    "title": Function(("string",), None, _title),
    "reReplaceAll": Function(("string", "string", "string"), None, _re_replace_all),
    "match": Function(("string", "string"), None, _match),
}
