"""Go's float arithmetic where Python's differs, so results match Prometheus to the last bit.

Python raises where Go returns ``±Inf``/``NaN`` (``math.log(0)``, ``math.exp(1000)``,
``math.floor(inf)``), ``max``/``min`` ignore Go's NaN and signed-zero rules, and C's libm rounds some
results differently from Go's own algorithms. What is followed here, each checked against promtool 2.42
(``tests/integration/test_promql_operators_promtool.py``):

- ``go_log``: Go's ``Log`` (the fdlibm reduction and polynomial; on x86-64 a subnormal is read without
  normalising, as Go's assembly does), hence ``ln``, ``log10`` (``Log·(1/Ln10)``) and ``log2``;
- ``go_exp``: Go's x86-64 ``Exp`` with FMA (SLEEF's method); ``go_pow``: Go's ``Pow`` (repeated
  squaring, ``Exp(yf·Log(x))`` for the fraction); ``go_atan2``: Go's ``Atan2`` over Cephes' ``atan``;
- ``go_mod`` (exact, as C's ``fmod``), ``go_floor``/``go_ceil``, ``go_max``/``go_min``, ``format_f``
  (``FormatFloat(v, 'f', -1)``) and ``go_sort`` (``sort.Sort``'s order for short slices).

A Prometheus built for another CPU (arm64, or x86-64 without FMA) may differ in the last place of
``exp`` and fractional ``^``; Go's portable ``Log`` gives the true logarithm of a subnormal.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, MutableSequence
from decimal import Decimal, localcontext
from fractions import Fraction
from typing import Final, TypeVar

__all__ = [
    "format_f",
    "go_atan2",
    "go_ceil",
    "go_exp",
    "go_floor",
    "go_log",
    "go_log2",
    "go_log10",
    "go_max",
    "go_min",
    "go_mod",
    "go_pow",
    "go_sort",
]

T = TypeVar("T")

_LN2_HI: Final = 6.93147180369123816490e-01
_LN2_LO: Final = 1.90821492927058770002e-10
_L1: Final = 6.666666666666735130e-01
_L2: Final = 3.999999999940941908e-01
_L3: Final = 2.857142874366239149e-01
_L4: Final = 2.222219843214978396e-01
_L5: Final = 1.818357216161805012e-01
_L6: Final = 1.531383769920937332e-01
_L7: Final = 1.479819860511658591e-01
_SQRT2_HALF: Final = math.sqrt(2) / 2
_SMALLEST_NORMAL: Final = 2.2250738585072014e-308


def _inverse(constant: str) -> float:
    # Go folds 1/Ln2 and 1/Ln10 at arbitrary precision, then rounds once: do the same
    with localcontext() as context:
        context.prec = 60
        return float(Decimal(1) / Decimal(constant))


_INV_LN2: Final = _inverse("0.693147180559945309417232121458176568075500134360255254120680009")
_INV_LN10: Final = _inverse("2.30258509299404568401799145468436420760110148862877297603332790")


def go_log(x: float) -> float:
    """Go's ``math.Log``: ``-Inf`` at 0, ``NaN`` below 0, the fdlibm reduction and polynomial."""
    if math.isnan(x) or x == math.inf:
        return x
    if x < 0:
        return math.nan
    if x == 0:
        return -math.inf
    if x < _SMALLEST_NORMAL:
        # Go's x86-64 assembly reads the exponent bits without normalising a subnormal: 0.5 + its
        # mantissa, times 2**-1022 (C and Go's portable code give the true logarithm instead)
        bits: int = struct.unpack("<q", struct.pack("<d", x))[0]
        mantissa = bits & ((1 << 52) - 1)
        f1, ki = 0.5 + mantissa / 2.0**53, -1022
    else:
        f1, ki = math.frexp(x)
    if f1 < _SQRT2_HALF:
        f1 *= 2
        ki -= 1
    f = f1 - 1
    k = float(ki)
    s = f / (2 + f)
    s2 = s * s
    s4 = s2 * s2
    t1 = s2 * (_L1 + s4 * (_L3 + s4 * (_L5 + s4 * _L7)))
    t2 = s4 * (_L2 + s4 * (_L4 + s4 * _L6))
    r = t1 + t2
    hfsq = 0.5 * f * f
    return k * _LN2_HI - ((hfsq - (s * (hfsq + r) + k * _LN2_LO)) - f)


def go_log2(x: float) -> float:
    """Go's ``math.Log2``: exact for powers of two, else ``Log(frac)/Ln2 + exp``."""
    frac, exp = math.frexp(x)
    if frac == 0.5:
        return float(exp - 1)
    return go_log(frac) * _INV_LN2 + float(exp)


def go_log10(x: float) -> float:
    """Go's ``math.Log10``: ``Log(x) * (1/Ln10)``."""
    return go_log(x) * _INV_LN10


_LOG2E: Final = 1.4426950408889634073599246810018920
_LN2U: Final = 0.69314718055966295651160180568695068359375
_LN2L: Final = 0.28235290563031577122588448175013436025525412068e-12
_EXP_TAYLOR: Final = (  # highest power first: 1/8!, ..., 1/3!, 1/2, 1
    2.4801587301587301587e-5,
    1.9841269841269841270e-4,
    1.3888888888888888889e-3,
    8.3333333333333333333e-3,
    4.1666666666666666667e-2,
    1.6666666666666666667e-1,
    0.5,
    1.0,
)
_EXP_OVERFLOW: Final = 7.09782712893384e02


def _fma(a: float, b: float, c: float) -> float:
    """``a*b + c`` rounded once, as an FMA instruction computes it (Python 3.13 has ``math.fma``)."""
    return float(Fraction(a) * Fraction(b) + Fraction(c))


def go_exp(x: float) -> float:
    """Go's ``math.Exp`` as built for x86-64 with FMA (every current x86-64 CPU has it).

    Go's assembly (after Shibata's SLEEF method) reduces ``x = k·ln2 + r`` with ``k`` rounded and ln2 in
    two parts, evaluates a Taylor polynomial of ``e^(r/16) - 1`` with fused multiply-adds, squares back
    four times (the last fused with the ``+ 1``) and scales by ``2^k``, returning 0 where the result
    would be subnormal. It differs from C's ``exp`` in the last place for some inputs; following it
    makes ``exp`` and fractional ``^`` agree with Prometheus bit for bit.
    """
    if math.isnan(x) or x == math.inf:
        return x
    if x == -math.inf:
        return 0.0
    if x > _EXP_OVERFLOW:
        return math.inf
    scaled = x * _LOG2E
    if scaled < -(2.0**31):
        return 0.0
    k = round(scaled)  # CVTSD2SL: to nearest, ties to even
    r = _fma(-float(k), _LN2L, _fma(-float(k), _LN2U, x)) * 0.0625
    poly = _EXP_TAYLOR[0]
    for term in _EXP_TAYLOR[1:]:
        poly = _fma(poly, r, term)
    y = r * poly
    for _ in range(3):
        y *= y + 2.0
    y = _fma(y, y + 2.0, 1.0)
    biased = k + 0x3FF
    if biased <= 0:
        return 0.0
    if biased >= 0x7FF:
        return math.inf
    return y * math.ldexp(1.0, k)


_ATAN_P: Final = (
    -8.750608600031904122785e-01,
    -1.615753718733365076637e01,
    -7.500855792314704667340e01,
    -1.228866684490136173410e02,
    -6.485021904942025371773e01,
)
_ATAN_Q: Final = (
    2.485846490142306297962e01,
    1.650270098316988542046e02,
    4.328810604912902668951e02,
    4.853903996359136964868e02,
    1.945506571482613964425e02,
)
_MOREBITS: Final = 6.123233995736765886130e-17
_TAN_3PI_8: Final = 2.41421356237309504880
_THREE_PI_4: Final = float(Decimal("2.35619449019234492884698253745962716314787704953132936573120844"))


def _xatan(x: float) -> float:
    p0, p1, p2, p3, p4 = _ATAN_P
    q0, q1, q2, q3, q4 = _ATAN_Q
    z = x * x
    z = (
        z
        * ((((p0 * z + p1) * z + p2) * z + p3) * z + p4)
        / (((((z + q0) * z + q1) * z + q2) * z + q3) * z + q4)
    )
    return x * z + x


def _satan(x: float) -> float:
    if x <= 0.66:
        return _xatan(x)
    if x > _TAN_3PI_8:
        return math.pi / 2 - _xatan(1 / x) + _MOREBITS
    return math.pi / 4 + _xatan((x - 1) / (x + 1)) + 0.5 * _MOREBITS


def _go_atan(x: float) -> float:
    if x == 0:
        return x
    return _satan(x) if x > 0 else -_satan(-x)


def go_atan2(y: float, x: float) -> float:
    """Go's ``math.Atan2``: its special cases, then its Cephes ``Atan(y/x)`` moved to the quadrant."""
    if math.isnan(y) or math.isnan(x):
        return math.nan
    if y == 0:
        if x >= 0 and math.copysign(1, x) > 0:
            return math.copysign(0.0, y)
        return math.copysign(math.pi, y)
    if x == 0:
        return math.copysign(math.pi / 2, y)
    if math.isinf(x):
        if x > 0:
            return math.copysign(math.pi / 4, y) if math.isinf(y) else math.copysign(0.0, y)
        return math.copysign(_THREE_PI_4, y) if math.isinf(y) else math.copysign(math.pi, y)
    if math.isinf(y):
        return math.copysign(math.pi / 2, y)
    q = _go_atan(y / x)
    if x < 0:
        return q + math.pi if q <= 0 else q - math.pi
    return q


def go_floor(x: float) -> float:
    """Go's ``math.Floor``: ``±Inf``, ``NaN`` and ``±0`` come back unchanged."""
    if not math.isfinite(x) or x == 0:
        return x
    return float(math.floor(x))


def go_ceil(x: float) -> float:
    """Go's ``math.Ceil``: like ``go_floor``, and ``Ceil(-0.5)`` is ``-0``."""
    if not math.isfinite(x) or x == 0:
        return x
    return math.copysign(float(math.ceil(x)), x)


def go_max(x: float, y: float) -> float:
    """Go's ``math.Max``: ``+Inf`` wins over ``NaN``, then ``NaN`` wins, and ``Max(-0, +0)`` is ``+0``."""
    if math.inf in (x, y):
        return math.inf
    if math.isnan(x) or math.isnan(y):
        return math.nan
    if x == 0 and x == y:
        return y if math.copysign(1, x) < 0 else x
    return x if x > y else y


def go_min(x: float, y: float) -> float:
    """Go's ``math.Min``: ``-Inf`` wins over ``NaN``, then ``NaN`` wins, and ``Min(-0, +0)`` is ``-0``."""
    if -math.inf in (x, y):
        return -math.inf
    if math.isnan(x) or math.isnan(y):
        return math.nan
    if x == 0 and x == y:
        return x if math.copysign(1, x) < 0 else y
    return x if x < y else y


def go_mod(x: float, y: float) -> float:
    """Go's ``math.Mod``: the sign of ``x``, ``NaN`` for ``y == 0`` or an infinite ``x``."""
    if y == 0 or math.isinf(x) or math.isnan(x) or math.isnan(y):
        return math.nan
    return math.fmod(x, y)  # C's fmod is exact and keeps the sign of x, as Go's Mod does


def _odd_integer(y: float) -> bool:
    return math.isfinite(y) and abs(y) < 2**53 and y == math.floor(y) and int(y) % 2 == 1


def go_pow(x: float, y: float) -> float:
    """Go's ``math.Pow``: its special cases, then its own algorithm (not C's ``pow``).

    Go multiplies by repeated squaring for the integral part of ``y`` and uses ``Exp(yf*Log(x))`` for the
    fraction, so ``10^-2`` and friends round as in Prometheus, which C's correctly rounded ``pow`` may not.
    """
    if y == 0 or x == 1:
        return 1.0
    if y == 1:
        return x
    if math.isnan(x) or math.isnan(y):
        return math.nan
    if x == 0:
        if y < 0:
            if _odd_integer(y):
                return math.copysign(math.inf, x)
            return math.inf
        return x if _odd_integer(y) else 0.0
    if math.isinf(y):
        if x == -1:
            return 1.0
        return math.inf if (abs(x) < 1) == (y < 0) else 0.0
    if math.isinf(x):
        if x < 0:
            return go_pow(1 / x, -y)  # Pow(-0, -y)
        return math.inf if y > 0 else 0.0
    if y in (0.5, -0.5):
        if x < 0:
            return math.nan
        return math.sqrt(x) if y > 0 else 1 / math.sqrt(x)
    yf, yi = math.modf(abs(y))
    if yf != 0 and x < 0:
        return math.nan
    if yi >= 2**63:
        if x == -1:
            return 1.0
        return 0.0 if (abs(x) < 1) == (y > 0) else math.inf
    a1 = 1.0
    ae = 0
    if yf != 0:
        if yf > 0.5:
            yf -= 1
            yi += 1
        a1 = go_exp(yf * go_log(x))
    x1, xe = math.frexp(x)
    i = int(yi)
    while i != 0:
        if xe < -(1 << 12) or xe > (1 << 12):
            ae += xe  # catastrophic overflow: the Ldexp below saturates
            break
        if i & 1 == 1:
            a1 *= x1
            ae += xe
        x1 *= x1
        xe <<= 1
        if x1 < 0.5:
            x1 += x1
            xe -= 1
        i >>= 1
    if y < 0:
        a1 = 1 / a1
        ae = -ae
    return _ldexp(a1, ae)


def _ldexp(frac: float, exp: int) -> float:
    try:
        return math.ldexp(frac, exp)
    except OverflowError:
        return math.copysign(math.inf, frac)


def format_f(value: float) -> str:
    """Go's ``strconv.FormatFloat(value, 'f', -1, 64)``: shortest digits, never an exponent."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    text = format(Decimal(repr(value)), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


_MAX_INSERTION: Final = 12
"""Go's ``sort.Sort`` (pdqsort) insertion-sorts slices this short: a stable order Prometheus shows."""


def go_sort(items: MutableSequence[T], less: Callable[[T, T], bool], key: Callable[[T], object]) -> None:
    """Sort ``items`` in place as Go's ``sort.Sort`` with ``less`` does, for up to 12 items.

    Go insertion-sorts short slices, so ties (and NaNs, which ``less`` may order oddly) land where
    Prometheus puts them. Longer slices go through pdqsort, whose order among ties is unspecified;
    there ``key`` gives the same order for all distinct values with a stable sort.
    """
    n = len(items)
    if n > _MAX_INSERTION:
        items[:] = sorted(items, key=key)  # type: ignore[arg-type]  # keys are tuples of floats
        return
    for i in range(1, n):
        j = i
        while j > 0 and less(items[j], items[j - 1]):
            items[j], items[j - 1] = items[j - 1], items[j]
            j -= 1
