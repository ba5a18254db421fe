"""Typing and SQL of + - * / % with ksqlDB's (Java's) semantics on DuckDB.

* INTEGER/BIGINT overflow wraps as in Java (DuckDB would raise): computed one size wider
  and the low bits kept.
* Integer division truncates toward zero and `%` takes the dividend's sign (DuckDB's `//`
  and `%` already do); dividing by zero yields NULL for that row (ksqlDB logs it and
  yields NULL; the processing log is not told).
* DOUBLE follows IEEE like Java: x/0 is +-Infinity, 0/0 and x%0 are NaN.
* DECIMAL result precision/scale follow ksqlDB's rules; division goes through DOUBLE, so it
  is exact only to about 15 significant digits.
"""
from __future__ import annotations

from sqlglot import exp

from streamsql.catalog.types import DOUBLE, STRING, SqlType
from streamsql.errors import Span, StatementError
from streamsql.functions import casts
from streamsql.functions.sqltree import case, failing, paren, try_
from streamsql.functions.typed import Typed

ARITHMETIC_OPS = ("+", "-", "*", "/", "%")
_MAX = casts.MAX_DECIMAL_PRECISION


def decimal_result(op: str, left: SqlType, right: SqlType) -> SqlType:
    """ksqlDB's DECIMAL type of `left op right` (both exact numerics, one a DECIMAL)."""
    a, b = casts.as_decimal(left), casts.as_decimal(right)
    p1, s1, p2, s2 = a.precision, a.scale, b.precision, b.scale
    if op in ("+", "-"):
        scale = max(s1, s2)
        precision = max(p1 - s1, p2 - s2) + scale + 1
    elif op == "*":
        precision, scale = p1 + p2 + 1, s1 + s2
    elif op == "/":
        scale = max(6, s1 + p2 + 1)
        precision = p1 - s1 + s2 + scale
    else:
        scale = max(s1, s2)
        precision = min(p1 - s1, p2 - s2) + scale
    precision = min(precision, _MAX)
    return SqlType.decimal(precision, min(scale, precision))


def _binary(op: str, left: exp.Expression, right: exp.Expression) -> exp.Expression:
    node = {"+": exp.Add, "-": exp.Sub, "*": exp.Mul, "%": exp.Mod}[op]
    return node(this=paren(left), expression=paren(right))


def arithmetic(op: str, left: Typed, right: Typed, text: str, span: Span | None, *,
               null_fails: bool = False) -> Typed:
    """`left op right`; `text` is the expression as ksqlDB prints it (for the error).

    `null_fails`: inside a lambda ksqlDB's generated code throws on a NULL operand, which
    turns the whole lambda function's result into NULL. The tree then raises for such a row
    so that the function (wrapped in TRY) yields NULL.
    """
    result = _arithmetic(op, left, right, text, span)
    if not null_fails:
        return result
    operand_null = exp.Or(this=exp.Is(this=paren(left.sql), expression=exp.null()),
                          expression=exp.Is(this=paren(right.sql), expression=exp.null()))
    return Typed(case((operand_null, raising(result.type)), default=result.sql), result.type)


def raising(sql_type: SqlType) -> exp.Expression:
    """An expression of `sql_type` that fails when evaluated (see sqltree.failing)."""
    return failing(casts.duckdb_type(sql_type))


def _arithmetic(op: str, left: Typed, right: Typed, text: str, span: Span | None) -> Typed:
    if left.type is None or right.type is None:
        # ksqlDB rejects a NULL literal operand whatever the other side is
        shown = [t.sql() if t is not None else "null" for t in (left.type, right.type)]
        raise StatementError(f"Error processing expression: {text}. Arithmetic on types "
                             f"{shown[0]} and {shown[1]} are not supported.", span)
    left_type, right_type = left.type, right.type
    if op == "+" and left_type == STRING and right_type == STRING:
        return Typed(exp.DPipe(this=paren(left.sql), expression=paren(right.sql)), STRING)
    if not (left_type.is_numeric and right_type.is_numeric):
        raise StatementError(f"Error processing expression: {text}. Unsupported arithmetic "
                             f"types. {left_type.kind} {right_type.kind}", span)
    if DOUBLE in (left_type, right_type):
        a, b = casts.widen(_typed(left, left_type), DOUBLE), casts.widen(_typed(right, right_type),
                                                                         DOUBLE)
        if op == "/":
            return Typed(exp.Div(this=paren(a.sql), expression=paren(b.sql)), DOUBLE)
        return Typed(_binary(op, a.sql, b.sql), DOUBLE)
    if "DECIMAL" in (left_type.kind, right_type.kind):
        result = decimal_result(op, left_type, right_type)
        target = casts.duckdb_type(result)
        if op == "/":
            quotient = exp.Div(this=exp.cast(left.sql, "DOUBLE"), expression=exp.cast(right.sql,
                                                                                      "DOUBLE"))
            return Typed(exp.TryCast(this=quotient, to=target), result)
        return Typed(exp.cast(try_(_binary(op, left.sql, right.sql)), target), result)
    result = casts.common_numeric(left_type, right_type)
    if op == "/":
        return Typed(try_(exp.IntDiv(this=paren(left.sql), expression=paren(right.sql))), result)
    if op == "%":
        return Typed(try_(_binary(op, left.sql, right.sql)), result)
    wider = "BIGINT" if result.kind == "INTEGER" else "HUGEINT"
    widened = _binary(op, exp.cast(left.sql, wider), right.sql)
    return Typed(casts.wrap_integer(widened, result, wider), result)


def negate(value: Typed) -> Typed:
    """Unary minus; -MIN_VALUE wraps to MIN_VALUE as in Java."""
    if value.type is not None and value.type.kind in ("INTEGER", "BIGINT"):
        wider = "BIGINT" if value.type.kind == "INTEGER" else "HUGEINT"
        return Typed(casts.wrap_integer(exp.Neg(this=exp.cast(value.sql, wider)), value.type,
                                        wider), value.type)
    return Typed(exp.Neg(this=paren(value.sql)), value.type)


def _typed(value: Typed, assumed: SqlType) -> Typed:
    """An untyped NULL operand takes the other operand's type."""
    if value.type is None:
        return Typed(exp.cast(value.sql, casts.duckdb_type(assumed)), assumed)
    return value
