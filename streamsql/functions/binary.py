"""Numbers read from their bytes: INT_FROM_BYTES, BIGINT_FROM_BYTES, DOUBLE_FROM_BYTES.

The bytes are read as one unsigned integer through their hex text (DuckDB has no bit
casts); a DOUBLE is rebuilt from its IEEE 754 sign, exponent and fraction fields.
"""
from __future__ import annotations

from sqlglot import exp

from streamsql.catalog.types import BIGINT, BYTES, DOUBLE, INTEGER, STRING, SqlType
from streamsql.functions import casts
from streamsql.functions.registry import Call, FunctionRegistry
from streamsql.functions.sqltree import case, concat, fn, lit, paren
from streamsql.functions.typed import Typed

CATEGORY = "CONVERSIONS"
_FRACTION_BITS = 52


def _unsigned(value: exp.Expression, order: exp.Expression) -> exp.Expression:
    """The bytes as an unsigned HUGEINT, big-endian unless `order` is 'LITTLE_ENDIAN'."""
    hex_text = fn("HEX", value)
    reversed_text = fn("ARRAY_TO_STRING", fn("LIST_REVERSE", fn(
        "REGEXP_EXTRACT_ALL", hex_text, lit(".."))), lit(""))
    little = exp.EQ(this=fn("UPPER", order), expression=lit("LITTLE_ENDIAN"))
    digits = case((little, reversed_text), default=hex_text)
    return exp.cast(concat(lit("0x"), digits), "HUGEINT")


def _bits(bits: exp.Expression, shift: int, width: int) -> exp.Expression:
    shifted = paren(exp.BitwiseRightShift(this=bits, expression=lit(shift))) if shift else bits
    return exp.BitwiseAnd(this=shifted, expression=exp.cast(lit((1 << width) - 1), "HUGEINT"))


def _ieee_double(bits: exp.Expression) -> exp.Expression:
    """The DOUBLE whose IEEE 754 bit pattern is `bits` (an unsigned 64-bit integer)."""
    sign = case((exp.EQ(this=_bits(bits, 63, 1), expression=lit(1)), lit(-1.0)), default=lit(1.0))
    exponent = exp.cast(_bits(bits, _FRACTION_BITS, 11), "INT")
    fraction = exp.cast(_bits(bits, 0, _FRACTION_BITS), "DOUBLE")
    scale = lit(float(1 << _FRACTION_BITS))
    normal = exp.Mul(this=exp.Mul(this=sign, expression=paren(exp.Add(
        this=lit(1.0), expression=exp.Div(this=fraction, expression=scale)))),
        expression=fn("POW", lit(2.0), exp.Sub(this=exponent, expression=lit(1023))))
    subnormal = exp.Mul(this=exp.Mul(this=sign, expression=fraction),
                        expression=fn("POW", lit(2.0), lit(-1074)))
    special = case((exp.EQ(this=fraction, expression=lit(0)),
                    exp.Mul(this=sign, expression=exp.cast(lit("Infinity"), "DOUBLE"))),
                   default=exp.cast(lit("NaN"), "DOUBLE"))
    return case((exp.EQ(this=exponent, expression=lit(2047)), special),
                (exp.EQ(this=exponent, expression=lit(0)), subnormal), default=normal)


def register(registry: FunctionRegistry) -> None:
    def from_bytes(name: str, result: SqlType, width: int, description: str) -> None:
        @registry.scalar(name, category=CATEGORY, display_name=name.lower(),
                         description=description,
                         signatures=[f"{name}(BYTES)", f"{name}(BYTES, STRING byte_order)"])
        def bind(call: Call) -> Typed:
            args = call.match(BYTES) or call.match(BYTES, STRING) or call.reject()
            order = args[1].sql if len(args) == 2 else lit("BIG_ENDIAN")
            bits = _unsigned(args[0].sql, order)
            value = _ieee_double(bits) if result == DOUBLE else casts.wrap_integer(bits, result)
            # ksqlDB fails (NULL for the row) unless there are exactly `width` bytes.
            right_size = exp.EQ(this=fn("OCTET_LENGTH", args[0].sql), expression=lit(width))
            return Typed(case((right_size, value)), result)

    from_bytes("INT_FROM_BYTES", INTEGER, 4, "The INTEGER in 4 bytes (big-endian by default).")
    from_bytes("BIGINT_FROM_BYTES", BIGINT, 8, "The BIGINT in 8 bytes (big-endian by default).")
    from_bytes("DOUBLE_FROM_BYTES", DOUBLE, 8, "The DOUBLE in 8 IEEE 754 bytes (big-endian by "
                                               "default).")
