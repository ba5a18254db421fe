"""ksqlDB's casts as DuckDB trees: SQL type -> DuckDB type, implicit widening, CAST, and to-string.

Where a value cannot be converted ksqlDB logs the row and yields NULL; these trees yield
NULL too (TRY_CAST / guards) but cannot tell the processing log.
"""
from __future__ import annotations

from sqlglot import exp

from streamsql.catalog.types import BIGINT, BOOLEAN, DOUBLE, INTEGER, STRING, TIMESTAMP, SqlType
from streamsql.errors import Span, StatementError
from streamsql.functions.sqltree import (case, concat, fn, fresh_param, ident, lambda_, lit,
                                         paren)
from streamsql.functions.typed import Typed

_DUCKDB_PRIMITIVES = {
    "BOOLEAN": "BOOLEAN", "INTEGER": "INT", "BIGINT": "BIGINT", "DOUBLE": "DOUBLE",
    "STRING": "VARCHAR", "BYTES": "BLOB", "DATE": "DATE", "TIME": "TIME",
    "TIMESTAMP": "TIMESTAMP",
}

# Integers widen to these decimals (enough digits for every value of the type).
_INTEGER_AS_DECIMAL = {"INTEGER": SqlType.decimal(10, 0), "BIGINT": SqlType.decimal(19, 0)}
MAX_DECIMAL_PRECISION = 38


def duckdb_type(sql_type: SqlType) -> exp.DataType:
    """The DuckDB type carrying values of a SQL type."""
    kind = sql_type.kind
    if kind in _DUCKDB_PRIMITIVES:
        return exp.DataType.build(_DUCKDB_PRIMITIVES[kind])
    if kind == "DECIMAL":
        return exp.DataType.build(f"DECIMAL({sql_type.precision}, {sql_type.scale})")
    if kind == "ARRAY":
        return exp.DataType(this=exp.DataType.Type.ARRAY,
                            expressions=[duckdb_type(sql_type.element)], nested=True)
    if kind == "MAP":
        return exp.DataType(this=exp.DataType.Type.MAP,
                            expressions=[duckdb_type(sql_type.key), duckdb_type(sql_type.element)],
                            nested=True)
    if kind == "STRUCT":
        return exp.DataType(this=exp.DataType.Type.STRUCT, nested=True, expressions=[
            exp.ColumnDef(this=ident(name), kind=duckdb_type(field_type))
            for name, field_type in sql_type.fields])
    raise ValueError(f"no DuckDB type for {sql_type}")


def as_decimal(sql_type: SqlType) -> SqlType | None:
    """The decimal an exact numeric type widens to (None for DOUBLE and non-numerics)."""
    if sql_type.kind == "DECIMAL":
        return sql_type
    return _INTEGER_AS_DECIMAL.get(sql_type.kind)


def can_widen(source: SqlType, target: SqlType) -> bool:
    """ksqlDB's implicit conversions: INTEGER -> BIGINT -> DECIMAL -> DOUBLE, never narrowing."""
    if source == target:
        return True
    if target.kind == "DOUBLE":
        return source.is_numeric
    if target.kind == "BIGINT":
        return source.kind == "INTEGER"
    if target.kind == "DECIMAL":
        decimal = as_decimal(source)
        return (decimal is not None and decimal.scale <= target.scale
                and decimal.precision - decimal.scale <= target.precision - target.scale)
    return False


def widen(value: Typed, target: SqlType) -> Typed:
    """`value` converted implicitly to `target` (callers check can_widen first)."""
    if value.type == target:
        return value
    return Typed(exp.cast(value.sql, duckdb_type(target)), target)


def common_numeric(left: SqlType, right: SqlType) -> SqlType:
    """The type two numerics meet at: DOUBLE wins, then DECIMAL wide enough for both."""
    if left == right:
        return left
    if DOUBLE in (left, right):
        return DOUBLE
    if left.kind == "DECIMAL" or right.kind == "DECIMAL":
        a, b = as_decimal(left), as_decimal(right)
        scale = max(a.scale, b.scale)
        integral = max(a.precision - a.scale, b.precision - b.scale)
        return SqlType.decimal(min(integral + scale, MAX_DECIMAL_PRECISION), scale)
    return BIGINT


def wrap_integer(value: exp.Expression, target: SqlType, wide: str = "HUGEINT") -> exp.Expression:
    """Keep the low 32/64 bits of a wider integer as a signed value: Java's overflow wrap.

    `wide` must hold `value` plus 2^31 (INTEGER target) or 2^63 (BIGINT target): BIGINT is
    enough for the result of INTEGER arithmetic, HUGEINT for anything else.
    """
    bits = 32 if target.kind == "INTEGER" else 64
    half = 1 << (bits - 1)
    mask = (1 << bits) - 1
    shifted = exp.Add(this=exp.cast(value, exp.DataType.build(wide)), expression=lit(half))
    masked = exp.BitwiseAnd(this=paren(shifted), expression=exp.cast(lit(mask), wide))
    return exp.cast(exp.Sub(this=paren(masked), expression=lit(half)), duckdb_type(target))


def cast(value: Typed, target: SqlType, span: Span | None = None) -> Typed:
    """CAST(value AS target) with ksqlDB's semantics; StatementError if ksqlDB does not allow it."""
    source = value.type
    if source is None:
        return Typed(exp.cast(exp.null(), duckdb_type(target)), target)
    if source == target:
        return value
    sql = _cast_sql(value.sql, source, target)
    if sql is None:
        raise StatementError(f"Cast of {source.sql()} to {target.sql()} is not supported", span)
    return Typed(sql, target)


def _try_cast(value: exp.Expression, target: SqlType) -> exp.Expression:
    return exp.TryCast(this=value, to=duckdb_type(target))


def _cast_sql(value: exp.Expression, source: SqlType, target: SqlType) -> exp.Expression | None:
    kind = target.kind
    if source == target:
        return value
    if kind == "STRING":
        return to_string(value, source)
    if kind in ("INTEGER", "BIGINT"):
        return _to_integer(value, source, target)
    if kind == "DOUBLE":
        if source.is_numeric:
            return exp.cast(value, duckdb_type(DOUBLE))
        if source.kind == "STRING":
            return _try_cast(fn("TRIM", value), DOUBLE)
        return None
    if kind == "DECIMAL":
        if source.is_numeric:
            return _try_cast(value, target)
        if source.kind == "STRING":
            return _try_cast(fn("TRIM", value), target)
        return None
    if kind == "BOOLEAN":
        if source.kind == "STRING":
            return _try_cast(fn("TRIM", value), BOOLEAN)
        return None
    if kind == "TIMESTAMP":
        if source.kind == "STRING":
            return parse_iso_timestamp(value)
        if source.kind == "DATE":
            return exp.cast(value, duckdb_type(target))
        return None
    if kind in ("DATE", "TIME"):
        if source.kind in ("STRING", "TIMESTAMP"):
            return _try_cast(value, target)
        return None
    if kind == "ARRAY" and source.kind == "ARRAY":
        return _map_elements(value, source.element, target.element)
    if kind == "MAP" and source.kind == "MAP":
        return _map_entries(value, source, target)
    if kind == "STRUCT" and source.kind == "STRUCT":
        return _cast_struct(value, source, target)
    return None


def _to_integer(value: exp.Expression, source: SqlType, target: SqlType) -> exp.Expression | None:
    if source.kind in ("INTEGER", "BIGINT"):
        return exp.cast(value, duckdb_type(target)) if can_widen(source, target) \
            else wrap_integer(value, target)
    if source.kind == "DECIMAL":
        # BigDecimal.intValue(): drop the fraction, keep the low bits.
        return wrap_integer(exp.cast(fn("TRUNC", value), exp.DataType.build("HUGEINT")), target)
    if source.kind == "DOUBLE":
        # Java's (int)/(long) of a double: truncate, saturate at the bounds, NaN -> 0.
        bits = 31 if target.kind == "INTEGER" else 63
        high, low = (1 << bits) - 1, -(1 << bits)
        duck = duckdb_type(target)
        return case((fn("ISNAN", value), exp.cast(lit(0), duck)),
                    (exp.GTE(this=value, expression=lit(float(high))), exp.cast(lit(high), duck)),
                    (exp.LTE(this=value, expression=lit(float(low))), exp.cast(lit(low), duck)),
                    default=exp.cast(fn("TRUNC", value), duck))
    if source.kind == "STRING":
        trimmed = fn("TRIM", value)
        # DuckDB rounds '10.5' to 11; Java's parseInt rejects it.
        is_integer = fn("REGEXP_FULL_MATCH", trimmed, lit(r"[+-]?[0-9]+"))
        return case((is_integer, _try_cast(trimmed, target)))
    return None


def _map_elements(value: exp.Expression, source: SqlType, target: SqlType) -> exp.Expression | None:
    param = fresh_param()
    body = _cast_sql(exp.Column(this=ident(param)), source, target)
    if body is None:
        return None
    return fn("LIST_TRANSFORM", value, lambda_([param], body))


def _map_entries(value: exp.Expression, source: SqlType, target: SqlType) -> exp.Expression | None:
    param = fresh_param()
    entry = exp.Column(this=ident(param))
    key = _cast_sql(exp.Dot(this=entry, expression=ident("key")), source.key, target.key)
    item = _cast_sql(exp.Dot(this=entry, expression=ident("value")), source.element,
                     target.element)
    if key is None or item is None:
        return None
    entries = fn("LIST_TRANSFORM", fn("MAP_ENTRIES", value), lambda_([param], fn(
        "STRUCT_PACK", exp.PropertyEQ(this=ident("key"), expression=key),
        exp.PropertyEQ(this=ident("value"), expression=item))))
    return fn("MAP_FROM_ENTRIES", entries)


def _cast_struct(value: exp.Expression, source: SqlType, target: SqlType) -> exp.Expression | None:
    fields = []
    for name, field_type in target.fields:
        source_type = source.field(name)
        if source_type is None:
            field_sql = exp.cast(exp.null(), duckdb_type(field_type))
        else:
            field_sql = _cast_sql(struct_field(value, name), source_type, field_type)
            if field_sql is None:
                return None
        fields.append(exp.PropertyEQ(this=ident(name), expression=field_sql))
    packed = fn("STRUCT_PACK", *fields)
    return case((exp.Is(this=value, expression=exp.null()), exp.cast(exp.null(),
                                                                       duckdb_type(target))),
                default=packed)


def struct_field(value: exp.Expression, name: str) -> exp.Expression:
    """A struct's field by exact name: NULL when the struct is NULL."""
    return fn("STRUCT_EXTRACT", value, lit(name))


def parse_iso_timestamp(value: exp.Expression) -> exp.Expression:
    """An ISO-8601 timestamp text ('2022-04-28T21:44:47.943', optional 'Z'/offset) in UTC."""
    has_zone = fn("REGEXP_MATCHES", value, lit(r"(Z|[+-]\d\d:?\d\d)$"))
    zoned = exp.TryCast(this=fn("REGEXP_REPLACE", value, lit("Z$"), lit("+00:00")),
                        to=exp.DataType.build("TIMESTAMPTZ"))
    return case((has_zone, fn("TIMEZONE", lit("UTC"), zoned)),
                default=_try_cast(value, TIMESTAMP))


def to_string(value: exp.Expression, source: SqlType) -> exp.Expression | None:
    """How ksqlDB renders a value as STRING (Java's toString of the value)."""
    kind = source.kind
    if kind == "STRING":
        return value
    if kind in ("BOOLEAN", "INTEGER", "BIGINT", "DECIMAL", "DATE", "TIME"):
        return exp.cast(value, duckdb_type(STRING))
    if kind == "DOUBLE":
        return java_double_text(value)
    if kind == "TIMESTAMP":
        return fn("STRFTIME", value, lit("%Y-%m-%dT%H:%M:%S.%g"))
    if kind == "ARRAY":
        param = fresh_param()
        element = _element_text(exp.Column(this=ident(param)), source.element)
        if element is None:
            return None
        joined = fn("ARRAY_TO_STRING", fn("LIST_TRANSFORM", value, lambda_([param], element)),
                    lit(", "))
        return concat(lit("["), joined, lit("]"))
    if kind == "MAP":
        param = fresh_param()
        entry = exp.Column(this=ident(param))
        key = _element_text(exp.Dot(this=entry, expression=ident("key")), source.key)
        item = _element_text(exp.Dot(this=entry, expression=ident("value")), source.element)
        if key is None or item is None:
            return None
        joined = fn("ARRAY_TO_STRING", fn("LIST_TRANSFORM", fn("MAP_ENTRIES", value), lambda_(
            [param], concat(key, lit("="), item))), lit(", "))
        return concat(lit("{"), joined, lit("}"))
    if kind == "STRUCT":
        # Kafka Connect's Struct.toString: non-null fields only, comma-separated.
        parts = []
        for name, field_type in source.fields:
            text = to_string(struct_field(value, name), field_type)
            if text is None:
                return None
            parts.append(concat(lit(f"{name}="), text))
        body = fn("CONCAT_WS", lit(","), *parts) if parts else lit("")
        return case((exp.Is(this=paren(value), expression=exp.null()), exp.null()),
                    default=concat(lit("Struct{"), body, lit("}")))
    return None


def _element_text(value: exp.Expression, source: SqlType) -> exp.Expression | None:
    """An element inside a collection's text: NULL prints as 'null'."""
    text = to_string(value, source)
    return None if text is None else fn("COALESCE", text, lit("null"))


def java_double_text(value: exp.Expression) -> exp.Expression:
    """Java's Double.toString: plain in [1e-3, 1e7), else `d.dddE±n`, NaN and Infinity spelled out.

    DuckDB prints the same shortest digits but switches notation at other bounds, so the
    digits are re-laid out from DuckDB's text.
    """
    magnitude = fn("ABS", value)
    text = exp.cast(magnitude, duckdb_type(STRING))
    sign = case((exp.LT(this=value, expression=lit(0)), lit("-")), default=lit(""))
    # DuckDB's exponent form: '1.5e-10' -> mantissa '1.5', exponent -10.
    mantissa = fn("SPLIT_PART", text, lit("e"), lit(1))
    exponent = exp.cast(fn("SPLIT_PART", text, lit("e"), lit(2)), duckdb_type(INTEGER))
    from_exponent_form = concat(
        sign, mantissa,
        case((fn("CONTAINS", mantissa, lit(".")), lit("")), default=lit(".0")),
        lit("E"), exp.cast(exponent, duckdb_type(STRING)))
    # DuckDB's plain form outside Java's plain range: '12345678.9' -> 1.23456789E7.
    integral = fn("SPLIT_PART", text, lit("."), lit(1))
    fraction = fn("SPLIT_PART", text, lit("."), lit(2))
    digits = fn("RTRIM", fn("LTRIM", concat(integral, fraction), lit("0")), lit("0"))
    plain_exponent = case(
        (exp.GTE(this=magnitude, expression=lit(1)), exp.Sub(
            this=fn("LENGTH", integral), expression=lit(1))),
        default=exp.Neg(this=paren(exp.Add(this=exp.Sub(
            this=fn("LENGTH", fraction), expression=fn("LENGTH", fn("LTRIM", fraction, lit("0")))),
            expression=lit(1)))))
    rest = fn("SUBSTR", digits, lit(2))
    from_plain_form = concat(
        sign, fn("LEFT", digits, lit(1)), lit("."),
        fn("COALESCE", fn("NULLIF", rest, lit("")), lit("0")),
        lit("E"), exp.cast(plain_exponent, duckdb_type(STRING)))
    in_plain_range = exp.Or(
        this=exp.EQ(this=value, expression=lit(0)),
        expression=exp.And(this=exp.GTE(this=magnitude, expression=lit(1e-3)),
                           expression=exp.LT(this=magnitude, expression=lit(1e7))))
    return case(
        (fn("ISNAN", value), lit("NaN")),
        (fn("ISINF", value), case((exp.GT(this=value, expression=lit(0)), lit("Infinity")),
                                  default=lit("-Infinity"))),
        (in_plain_range, exp.cast(value, duckdb_type(STRING))),
        (fn("CONTAINS", text, lit("e")), from_exponent_form),
        default=from_plain_form)
