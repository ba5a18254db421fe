"""Table functions: a call turns each input row into as many rows as its list has elements.

They compile to DuckDB's UNNEST in the projection, which has ksqlDB's semantics: the other
columns repeat on every row, several table functions zip (a shorter one is padded with
NULL), and an empty or NULL array yields no row.
"""
from __future__ import annotations

from typing import NoReturn

from sqlglot import exp

from streamsql.functions.registry import Call, FunctionRegistry, ScalarFunction, type_text
from streamsql.functions.sqltree import case, column, fn, fresh_param, lambda_, lit, paren
from streamsql.functions.typed import Typed

CATEGORY = "TABLE"
TABLE = "TABLE"  # ScalarFunction.kind of a table function


def register(registry: FunctionRegistry) -> None:
    def explode(call: Call) -> Typed:
        if len(call.args) == 1:
            array = call.typed(0)
            if array.type is not None and array.type.kind == "ARRAY":
                return Typed(fn("UNNEST", array.sql), array.type.element)
        _reject(call, "explode(ARRAY<DECIMAL> input)", "explode(ARRAY<T> list)")

    registry.register(ScalarFunction(
        "EXPLODE", explode, CATEGORY, "One row per element of the array (none for an empty "
        "or NULL array).", ("EXPLODE(ARRAY<T>)",), "explode", kind=TABLE))

    def cube_explode(call: Call) -> Typed:
        if len(call.args) == 1:
            array = call.typed(0)
            if array.type is not None and array.type.kind == "ARRAY":
                return Typed(fn("UNNEST", _combinations(array.sql)), array.type)
        _reject(call, "cube_explode(ARRAY<T> input)")

    registry.register(ScalarFunction(
        "CUBE_EXPLODE", cube_explode, CATEGORY, "One row per combination of the array's "
        "elements, each element kept or replaced by NULL.", ("CUBE_EXPLODE(ARRAY<T>)",),
        "cube_explode", kind=TABLE))


def _reject(call: Call, *alternatives: str) -> NoReturn:
    """ksqlDB's error for arguments a table function does not take, its signatures listed."""
    types = ", ".join(type_text(a) for a in call.args)
    call.error(f"Function '{call.function.display_name}' does not accept parameters ({types}).\n"
               "Valid alternatives are:\n" + "\n".join(alternatives))


def _combinations(array: exp.Expression) -> exp.Expression:
    """Every combination of the array's elements, each kept or NULL, as ksqlDB's CUBE_EXPLODE
    lists them: combination m (0 .. 2^n - 1) keeps element i where bit n-1-i of m is set, and
    a combination that keeps a NULL element repeats one before it, so it is left out."""
    size = fn("LEN", array)
    mask, i = fresh_param(), fresh_param()

    def kept(position: exp.Expression) -> exp.Expression:
        # bit (n - 1 - i) of the mask: element i is kept
        shift = exp.BitwiseRightShift(this=column(mask), expression=paren(
            exp.Sub(this=exp.Sub(this=size, expression=lit(1)), expression=position)))
        return exp.EQ(this=paren(exp.BitwiseAnd(this=paren(shift), expression=lit(1))),
                      expression=lit(1))

    element = fn("LIST_EXTRACT", array, exp.Add(this=column(i), expression=lit(1)))
    positions = fn("RANGE", size)
    masks = fn("RANGE", exp.BitwiseLeftShift(this=exp.cast(lit(1), "BIGINT"), expression=size))
    keeps_null = fn("LIST_FILTER", positions, lambda_([i], exp.And(
        this=kept(column(i)), expression=exp.Is(this=element, expression=exp.null()))))
    distinct = fn("LIST_FILTER", masks, lambda_([mask], exp.EQ(
        this=fn("LEN", keeps_null), expression=lit(0))))
    return fn("LIST_TRANSFORM", distinct, lambda_([mask], fn(
        "LIST_TRANSFORM", positions, lambda_([i], case((kept(column(i)), element))))))


def is_table_function(registry: FunctionRegistry, name: str) -> bool:
    return registry.has(name) and registry.lookup(name).kind == TABLE
