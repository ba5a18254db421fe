"""NULL handling functions: COALESCE, IFNULL, NULLIF (generic over one argument type T)."""
from __future__ import annotations

from sqlglot import exp

from streamsql.catalog.types import SqlType
from streamsql.functions import casts
from streamsql.functions.registry import Call, FunctionRegistry
from streamsql.functions.sqltree import fn
from streamsql.functions.typed import Typed

CATEGORY = "CONDITIONAL"


def same_type_args(call: Call) -> tuple[list[exp.Expression], SqlType | None]:
    """The arguments of a `T, T...` function, untyped NULLs cast to T; reject mixed types."""
    values = [call.typed(i) for i in range(len(call.args))]
    types = {v.type for v in values if v.type is not None}
    if len(types) > 1:
        call.reject()
    result = next(iter(types), None)
    if result is None:
        return [v.sql for v in values], None
    duck = casts.duckdb_type(result)
    return [v.sql if v.type is not None else exp.cast(v.sql, duck) for v in values], result


def register(registry: FunctionRegistry) -> None:
    @registry.scalar("COALESCE", category=CATEGORY, display_name="COALESCE",
                     description="The first non-NULL argument.", signatures=["COALESCE(T, T...)"])
    def coalesce(call: Call) -> Typed:
        if not call.args:
            call.reject()
        values, result = same_type_args(call)
        return Typed(fn("COALESCE", *values), result)

    @registry.scalar("IFNULL", category=CATEGORY, display_name="IFNULL",
                     description="The first argument, or the second if the first is NULL.",
                     signatures=["IFNULL(T, T)"])
    def ifnull(call: Call) -> Typed:
        if len(call.args) != 2:
            call.reject()
        values, result = same_type_args(call)
        return Typed(fn("COALESCE", *values), result)

    @registry.scalar("NULLIF", category=CATEGORY, display_name="NULLIF",
                     description="NULL if both arguments are equal, else the first.",
                     signatures=["NULLIF(T, T)"])
    def nullif(call: Call) -> Typed:
        if len(call.args) != 2:
            call.reject()
        values, result = same_type_args(call)
        return Typed(fn("NULLIF", *values), result)
