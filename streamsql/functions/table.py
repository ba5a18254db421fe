"""Table functions: a call turns each input row into as many rows as its array has elements.

They compile to DuckDB's UNNEST in the projection, which has ksqlDB's semantics: the other
columns repeat on every row, several table functions zip (a shorter one is padded with
NULL), and an empty or NULL array yields no row.
"""
from __future__ import annotations

from streamsql.functions.registry import Call, FunctionRegistry, ScalarFunction
from streamsql.functions.sqltree import fn
from streamsql.functions.typed import Typed

CATEGORY = "TABLE"
TABLE = "TABLE"  # ScalarFunction.kind of a table function


def register(registry: FunctionRegistry) -> None:
    def explode(call: Call) -> Typed:
        if len(call.args) == 1:
            array = call.typed(0)
            if array.type is not None and array.type.kind == "ARRAY":
                return Typed(fn("UNNEST", array.sql), array.type.element)
        types = ", ".join("null" if getattr(a, "type", None) is None else a.type.sql()
                          for a in call.args)
        call.error(f"Function 'explode' does not accept parameters ({types}).\n"
                   "Valid alternatives are:\n"
                   "explode(ARRAY<DECIMAL> input)\n"
                   "explode(ARRAY<T> list)")

    registry.register(ScalarFunction(
        "EXPLODE", explode, CATEGORY, "One row per element of the array (none for an empty "
        "or NULL array).", ("EXPLODE(ARRAY<T>)",), "explode", kind=TABLE))


def is_table_function(registry: FunctionRegistry, name: str) -> bool:
    return registry.has(name) and registry.lookup(name).kind == TABLE
