"""Number text and integer semantics as the JVM produces them (Double.toString, BigDecimal,
int/long narrowing), so that bytes we write match what ksqlDB writes.

Pure functions over Python numbers; no Arrow, no I/O.
"""
from __future__ import annotations

import math
from decimal import Context, Decimal

# Wide enough for any DECIMAL(p, s) (p <= 38) with room for the digits being checked.
_DECIMAL_CONTEXT = Context(prec=200)

INT_MIN, INT_MAX = -(1 << 31), (1 << 31) - 1
LONG_MIN, LONG_MAX = -(1 << 63), (1 << 63) - 1


def java_double_text(x: float) -> str:
    """The text Java's Double.toString gives for x: `1.0`, `0.001`, `1.0E7`, `1.5E-4`, `NaN`."""
    if x != x:
        return "NaN"
    if x == math.inf:
        return "Infinity"
    if x == -math.inf:
        return "-Infinity"
    magnitude = abs(x)
    # Both languages print the shortest round-trip digits; inside Java's fixed-notation range
    # Python's repr is also fixed notation with at least one fraction digit, so it is the same text.
    if 1e-3 <= magnitude < 1e7:
        return repr(x)
    if magnitude == 0.0:
        return "-0.0" if math.copysign(1.0, x) < 0 else "0.0"
    sign, digits, exponent = Decimal(repr(x)).as_tuple()
    digit_text = "".join(map(str, digits)).rstrip("0") or "0"
    scientific_exponent = exponent + len(digits) - 1
    if len(digit_text) == 1:
        # Java prints at least two significant digits and takes the two-digit decimal nearest
        # the exact binary value; only for the sparsest subnormals is that not d.0 (4.9E-324).
        exact = abs(Decimal(x))
        shift = exact.adjusted() - 1
        nearest = int(exact.scaleb(-shift).to_integral_value())
        if nearest == 100:
            nearest, shift = 10, shift + 1
        if float(Decimal(nearest).scaleb(shift)) == magnitude:
            digit_text = str(nearest).rstrip("0")
            scientific_exponent = shift + 1
    mantissa = digit_text[0] + "." + (digit_text[1:] or "0")
    return ("-" if sign else "") + mantissa + "E" + str(scientific_exponent)


def decimal_text(d: Decimal, scale: int, *, plain: bool = False) -> str:
    """d with exactly `scale` fraction digits, as Java's BigDecimal.toString (or toPlainString)."""
    fitted = d if d.as_tuple().exponent == -scale else \
        d.quantize(Decimal(1).scaleb(-scale), context=_DECIMAL_CONTEXT)
    # Decimal's str follows the same to-scientific-string rules as BigDecimal.toString.
    return format(fitted, "f") if plain else str(fitted)


def fit_decimal(value: Decimal, precision: int, scale: int) -> Decimal:
    """value rescaled to DECIMAL(precision, scale) without rounding, or ValueError with ksqlDB's
    wording when it does not fit."""
    integer_digits = precision - scale
    # Plain text like Java's toPlainString, unless an absurd exponent would make it huge.
    shown = format(value, "f") if abs(value.adjusted()) < 1000 else str(value)
    if abs(value) >= Decimal(10) ** integer_digits:
        raise ValueError(
            f"Numeric field overflow: A field with precision {precision} and scale {scale} must "
            f"round to an absolute value less than 10^{integer_digits}. Got {shown}")
    fitted = value.quantize(Decimal(1).scaleb(-scale), context=_DECIMAL_CONTEXT)
    if fitted != value:
        raise ValueError(f"Cannot fit decimal '{shown}' into DECIMAL({precision}, {scale}) "
                         "without rounding.")
    return fitted


def integer_part(value: float | Decimal) -> int:
    """The integer part of a number (truncated toward zero), only as far as its low 64 bits
    matter: a multiple of 10**64 is a multiple of 2**64, so its low bits are all zero."""
    if isinstance(value, Decimal) and value.as_tuple().exponent >= 64:
        return 0
    return int(value)


def wrap_int(value: int) -> int:
    """The low 32 bits of value as a signed int (Java's (int) narrowing of a long/BigInteger)."""
    return ((value - INT_MIN) & 0xFFFFFFFF) + INT_MIN


def wrap_long(value: int) -> int:
    """The low 64 bits of value as a signed long."""
    return ((value - LONG_MIN) & 0xFFFFFFFFFFFFFFFF) + LONG_MIN


def parse_java_int(text: str, low: int = INT_MIN, high: int = INT_MAX) -> int:
    """Integer.parseInt / Long.parseLong: optional sign, ASCII digits only, in range."""
    body = text[1:] if text[:1] in ("+", "-") else text
    if not body or not body.isascii() or not body.isdigit():
        raise ValueError(f'For input string: "{text}"')
    value = int(text)
    if not low <= value <= high:
        raise ValueError(f'For input string: "{text}"')
    return value


def parse_java_long(text: str) -> int:
    return parse_java_int(text, LONG_MIN, LONG_MAX)


def parse_java_double(text: str) -> float:
    """Double.parseDouble for decimal text: surrounding blanks, NaN/Infinity, f/d suffixes."""
    stripped = text.strip()
    core = stripped[:-1] if stripped[-1:] in ("d", "D", "f", "F") else stripped
    unsigned = core[1:] if core[:1] in ("+", "-") else core
    if unsigned in ("NaN", "Infinity"):
        return float(core)
    if not unsigned or not all(c in "0123456789.eE+-" for c in unsigned):
        raise ValueError(f'For input string: "{text}"')
    try:
        return float(core)
    except ValueError:
        raise ValueError(f'For input string: "{text}"') from None
