"""Go's ``fmt`` and ``strconv`` as alert templates print with them: ``%v`` of a float64, ``printf`` verbs.

Prometheus renders ``{{ $value }}`` with Go's ``fmt.Fprint`` and its ``humanize*`` functions with
``fmt.Sprintf("%.4g", v)``; operators read these strings in notifications, so they must come out the
same here. The rules followed (checked against promtool 2.42 in the tests):

* ``%v`` of a float64 is ``%g`` with the shortest digits that read back as the same float (Python's
  ``repr`` digits), in exponent form when the decimal exponent is below -4 or at least 6 (``100000``,
  ``1e+06``, ``1.23456789e+08``, ``0.0001``, ``1e-05``), integral values without ``.0``, ``+Inf``,
  ``-Inf``, ``NaN``; exponents have at least two digits (``1e+06``, not ``1e+6``).
* ``%.Ng``, ``%e``, ``%f`` round correctly (half to even on exact ties) as Python's ``%`` does.
* A verb that does not fit its operand prints ``%!d(float64=1.5)``; missing operands ``%!d(MISSING)``,
  extra ones ``%!(EXTRA int=2)``, a lone ``%`` at the end ``%!(NOVERB)``.

Values are Go values as templates see them: ``str`` (string), ``float`` (float64), ``int`` (int),
``bool``, ``None`` (nil), mappings (``map[string]string``), lists and tuples (slices), and
``GoStruct`` instances (structs, printed ``{field field ...}``). Not supported: ``%T``, ``%p``,
``%U`` of strings, argument indexes (``%[1]d``) and ``*`` widths.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Protocol, runtime_checkable

__all__ = [
    "GoStruct",
    "format_float",
    "format_value",
    "go_type",
    "parse_float",
    "quote",
    "sprint",
    "sprintf",
    "sprintln",
]


@runtime_checkable
class GoStruct(Protocol):
    """A value that templates see as a Go struct: named fields, in declaration order."""

    def go_fields(self) -> Sequence[tuple[str, object]]:
        """``(name, value)`` of every field, in the order Go declares them."""
        ...

    def go_type(self) -> str:
        """The struct's type as Go prints it in errors (``struct { Labels map[string]string; ... }``)."""
        ...


def go_type(value: object) -> str:
    """The Go type a template value stands for (``float64``, ``map[string]string``, ...)."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, GoStruct):
        return value.go_type()
    if isinstance(value, Mapping):
        strings = all(isinstance(v, str) for v in value.values())
        return "map[string]string" if strings else "map[string]interface {}"
    if isinstance(value, Sequence):
        kinds = {go_type(v) for v in value}
        return f"[]{kinds.pop()}" if len(kinds) == 1 else "[]interface {}"
    return type(value).__name__


# -- floats --------------------------------------------------------------------------------------------


def _shortest_digits(value: float) -> tuple[str, int]:
    """The shortest decimal digits that read back as ``value`` (> 0, finite) and the decimal point's place.

    ``(digits, dp)`` means ``0.digits x 10**dp``: 1234.5 is ``("12345", 4)``. Python's ``repr`` finds the
    same digits as Go's shortest formatting (both pick the shortest string that round-trips).
    """
    _, digit_tuple, exponent = Decimal(repr(value)).as_tuple()
    digits = "".join(map(str, digit_tuple)).rstrip("0") or "0"
    assert isinstance(exponent, int)
    dp = len(digit_tuple) + exponent
    return digits, dp


def _exponent_text(exp: int) -> str:
    return f"e{'-' if exp < 0 else '+'}{abs(exp):02d}"


def format_float(value: float, verb: str = "g", precision: int = -1) -> str:
    """``value`` as Go's ``strconv.FormatFloat(value, verb, precision, 64)`` writes it, with fmt's signs.

    ``verb`` is one of ``e E f F g G``; ``precision`` -1 means the shortest digits that round-trip.
    Infinities print ``+Inf``/``-Inf`` and NaN ``NaN`` whatever the verb (as ``fmt`` prints them).
    """
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    upper = verb in "EG"
    lower = verb.lower()
    if precision >= 0:
        if lower == "f":
            text = f"{value:.{precision}f}"
        elif lower == "e":
            text = f"{value:.{precision}e}"
        else:
            text = f"{value:.{max(precision, 1)}g}"
        return text.upper() if upper else text
    negative = math.copysign(1.0, value) < 0
    sign = "-" if negative else ""
    if value == 0:
        digits, dp = "0", 1
    else:
        digits, dp = _shortest_digits(abs(value))
    exp = dp - 1
    if lower == "e" or (lower == "g" and (exp < -4 or exp >= 6)):
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        text = sign + mantissa + _exponent_text(exp)
        return text.upper() if upper else text
    if dp <= 0:
        return f"{sign}0.{'0' * -dp}{digits}"
    if dp >= len(digits):
        return sign + digits + "0" * (dp - len(digits))
    return f"{sign}{digits[:dp]}.{digits[dp:]}"


def _hex_float(value: float, upper: bool) -> str:
    """Go's ``%x`` of a float64: ``0x1.e848p+19`` (the mantissa without trailing zeros)."""
    if math.isnan(value) or math.isinf(value):
        return format_float(value)
    text = value.hex()  # '-0x1.e848000000000p+19'
    sign = "-" if text.startswith("-") else ""
    mantissa, _, exponent = text.lstrip("-")[2:].partition("p")
    mantissa = mantissa.rstrip("0").rstrip(".")
    exp = int(exponent)
    out = f"{sign}0x{mantissa}p{'-' if exp < 0 else '+'}{abs(exp):02d}"
    return out.upper() if upper else out


_FLOAT_SYNTAX = re.compile(
    r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
    r"|0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)[pP][+-]?[0-9]+)"
)
_SPECIAL = {"inf": math.inf, "infinity": math.inf, "nan": math.nan}


def parse_float(text: str) -> float:
    """Go's ``strconv.ParseFloat(text, 64)``; ``ValueError`` carries Go's message.

    Decimal and hexadecimal (``0x1p-2``) floats, ``Inf``/``Infinity``/``NaN`` in any case with an
    optional sign; a value too large for a float64 is an error (``value out of range``).
    """
    lowered = text.lower()
    unsigned = lowered.lstrip("+-")
    if unsigned in _SPECIAL and len(lowered) - len(unsigned) <= 1:
        value = _SPECIAL[unsigned]
        return -value if lowered.startswith("-") else value
    if not _FLOAT_SYNTAX.fullmatch(text):
        raise ValueError(f"strconv.ParseFloat: parsing {quote(text)}: invalid syntax")
    number = float.fromhex(text) if "x" in lowered else float(text)
    if math.isinf(number):
        raise ValueError(f"strconv.ParseFloat: parsing {quote(text)}: value out of range")
    return number


# -- strings -------------------------------------------------------------------------------------------

_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}


def quote(text: str, quote_char: str = '"') -> str:
    """Go's ``strconv.Quote``: double quotes, Go escapes, printable characters kept as they are."""
    out = [quote_char]
    for char in text:
        if char in (quote_char, "\\"):
            out.append("\\" + char)
        elif char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif char.isprintable():
            out.append(char)
        elif ord(char) < 0x80:
            out.append(f"\\x{ord(char):02x}")
        elif ord(char) < 0x10000:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(f"\\U{ord(char):08x}")
    out.append(quote_char)
    return "".join(out)


# -- fmt -----------------------------------------------------------------------------------------------


class _Spec:
    """One parsed verb: flags, width, precision."""

    __slots__ = ("minus", "plus", "precision", "sharp", "space", "verb", "width", "zero")

    def __init__(self) -> None:
        self.minus = self.plus = self.space = self.zero = self.sharp = False
        self.width = -1
        self.precision = -1
        self.verb = "v"

    def pad(self, text: str, numeric: bool = False) -> str:
        if self.width < 0 or len(text) >= self.width:
            return text
        fill = self.width - len(text)
        if self.minus:
            return text + " " * fill
        if self.zero:
            if numeric and text[:1] in "+- ":
                return text[0] + "0" * fill + text[1:]
            return "0" * fill + text
        return " " * fill + text


_PLAIN = _Spec()


def _bad_verb(value: object, spec: _Spec) -> str:
    """``%!d(float64=1.5)``: the operand in ``%v`` with the verb's flags (``%.2f`` of 1: ``01``)."""
    if value is None:
        return f"%!{spec.verb}(<nil>)"
    as_v = _Spec()
    as_v.minus, as_v.plus, as_v.space, as_v.zero = spec.minus, spec.plus, spec.space, spec.zero
    as_v.width, as_v.precision = spec.width, spec.precision
    return f"%!{spec.verb}({go_type(value)}={_format(value, as_v)})"


def _signed(text: str, spec: _Spec) -> str:
    if text.startswith("-"):
        return text
    if spec.plus:
        return "+" + text
    if spec.space:
        return " " + text
    return text


def _format_int(value: int, spec: _Spec) -> str:
    verb = spec.verb
    magnitude = abs(value)
    if verb in ("d", "v"):
        digits = str(magnitude)
    elif verb in ("x", "X"):
        digits = ("0" + verb if spec.sharp else "") + format(magnitude, verb)
    elif verb == "o":
        digits = ("0" if spec.sharp else "") + format(magnitude, "o")
    elif verb == "b":
        digits = format(magnitude, "b")
    elif verb == "c":
        return spec.pad(chr(value) if 0 <= value <= 0x10FFFF else "\ufffd")
    elif verb == "q":
        return spec.pad(quote(chr(value) if 0 <= value <= 0x10FFFF else "\ufffd", "'"))
    elif verb == "U":
        return spec.pad(f"U+{value:04X}")
    else:
        return _bad_verb(value, spec)
    if spec.precision >= 0:
        digits = digits.rjust(spec.precision, "0") if spec.precision else ("" if value == 0 else digits)
    text = ("-" if value < 0 else "") + digits
    return spec.pad(_signed(text, spec), numeric=spec.precision < 0)


def _format_float_verb(value: float, spec: _Spec) -> str:
    verb = spec.verb
    if verb == "v":
        text = format_float(value, "g", spec.precision)
    elif verb in "eEfFgG":
        precision = spec.precision
        if precision < 0 and verb in "eEfF":
            precision = 6
        text = format_float(value, "f" if verb == "F" else verb, precision)
    elif verb in ("x", "X"):
        text = _hex_float(value, verb == "X")
    else:
        return _bad_verb(value, spec)
    if text in ("NaN", "+Inf", "-Inf"):
        if text == "+Inf" and not spec.plus:
            text = " Inf" if spec.space else "+Inf"
        elif text == "NaN":
            text = "+NaN" if spec.plus else " NaN" if spec.space else "NaN"
        saved, spec.zero = spec.zero, False
        try:
            return spec.pad(text)
        finally:
            spec.zero = saved
    return spec.pad(_signed(text, spec), numeric=True)


def _format_str(value: str, spec: _Spec) -> str:
    verb = spec.verb
    if verb in ("s", "v"):
        text = value[: spec.precision] if spec.precision >= 0 else value
    elif verb == "q":
        text = quote(value)
    elif verb in ("x", "X"):
        text = value.encode().hex()
        text = text.upper() if verb == "X" else text
    else:
        return _bad_verb(value, spec)
    return spec.pad(text)


def _format(value: object, spec: _Spec) -> str:
    verb = spec.verb
    if value is None:
        return spec.pad("<nil>") if verb == "v" else _bad_verb(value, spec)
    if isinstance(value, bool):
        if verb in ("t", "v"):
            return spec.pad("true" if value else "false")
        return _bad_verb(value, spec)
    if isinstance(value, int):
        return _format_int(value, spec)
    if isinstance(value, float):
        return _format_float_verb(value, spec)
    if isinstance(value, str):
        return _format_str(value, spec)
    if isinstance(value, GoStruct):
        return "{" + " ".join(_format(field, spec) for _, field in value.go_fields()) + "}"
    if isinstance(value, Mapping):
        items = sorted(value.items())
        return "map[" + " ".join(f"{_format(k, spec)}:{_format(v, spec)}" for k, v in items) + "]"
    if isinstance(value, Sequence):
        return "[" + " ".join(_format(item, spec) for item in value) + "]"
    return spec.pad(str(value))


def format_value(value: object) -> str:
    """``fmt.Sprint(value)`` of one value (Go's ``%v``)."""
    return _format(value, _PLAIN)


def sprint(*values: object) -> str:
    """``fmt.Sprint``: operands in ``%v``, a space between two operands when neither is a string."""
    out: list[str] = []
    previous_string = True
    for index, value in enumerate(values):
        is_string = isinstance(value, str)
        if index > 0 and not is_string and not previous_string:
            out.append(" ")
        out.append(format_value(value))
        previous_string = is_string
    return "".join(out)


def sprintln(*values: object) -> str:
    """``fmt.Sprintln``: operands in ``%v`` separated by spaces, then a newline."""
    return " ".join(format_value(value) for value in values) + "\n"


_FLAGS = {"-": "minus", "+": "plus", " ": "space", "0": "zero", "#": "sharp"}


def sprintf(template: str, *args: object) -> str:
    """``fmt.Sprintf`` for the verbs templates use: ``%s %v %d %f %F %e %E %g %G %x %X %o %b %c %q %t %%``.

    Flags ``- + space 0 #``, width and ``.precision``; mismatches print the way Go prints them.
    """
    out: list[str] = []
    position = 0
    arg_index = 0
    length = len(template)
    while position < length:
        percent = template.find("%", position)
        if percent < 0:
            out.append(template[position:])
            break
        out.append(template[position:percent])
        position = percent + 1
        spec = _Spec()
        while position < length and template[position] in _FLAGS:
            setattr(spec, _FLAGS[template[position]], True)
            position += 1
        start = position
        while position < length and template[position].isdigit():
            position += 1
        if position > start:
            spec.width = int(template[start:position])
        if position < length and template[position] == ".":
            position += 1
            start = position
            while position < length and template[position].isdigit():
                position += 1
            spec.precision = int(template[start:position] or "0")
        if position >= length:
            out.append("%!(NOVERB)")
            break
        spec.verb = template[position]
        position += 1
        if spec.verb == "v":  # %+v and %#v are Go-syntax and field-name forms, not a sign or prefix
            spec.plus = spec.sharp = False
        if spec.verb == "%":
            out.append("%")
            continue
        if arg_index >= len(args):
            out.append(f"%!{spec.verb}(MISSING)")
            continue
        value = args[arg_index]
        arg_index += 1
        out.append(_format(value, spec))
    if arg_index < len(args):
        extra = ", ".join(
            "<nil>" if value is None else f"{go_type(value)}={format_value(value)}"
            for value in args[arg_index:]
        )
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)
