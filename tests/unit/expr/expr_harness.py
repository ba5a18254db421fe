"""Test harness: AST shorthands and a small Arrow batch to evaluate expressions on in DuckDB."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import pyarrow as pa

from streamsql import ast
from streamsql.catalog.types import (BIGINT, BOOLEAN, DOUBLE, INTEGER, STRING, TIMESTAMP, SqlType,
                                     to_arrow)
from streamsql.expr import Scope, ScopeColumn, Typed, compile_expr
from streamsql.expr.compile import evaluate
from streamsql.functions import FunctionRegistry, default_registry

# Columns like the conformance cases use; row 2 is all NULLs, rows 3-4 hold edge values.
COLUMNS: dict[str, tuple[SqlType, list]] = {
    "I": (INTEGER, [7, None, -7, 2147483647]),
    "L": (BIGINT, [10_000_000_000, None, -3, 9223372036854775807]),
    "D": (DOUBLE, [2.5, None, -0.00015, 1e7]),
    "DEC": (SqlType.decimal(4, 2), [Decimal("10.10"), None, Decimal("-2.25"), Decimal("0.05")]),
    "S": (STRING, ["hello", None, "a b", "Abc"]),
    "B": (BOOLEAN, [True, None, False, True]),
    "ARR": (SqlType.array(INTEGER), [[1, 2, 3], None, [], [5, None, 5]]),
    "M": (SqlType.map(STRING, INTEGER), [[("a", 1), ("b", 2)], None, [], [("c", None)]]),
    "ST": (SqlType.struct((("F0", INTEGER), ("f1", STRING))),
           [{"F0": 1, "f1": "x"}, None, {"F0": None, "f1": "y"}, {"F0": 3, "f1": None}]),
    "TS": (TIMESTAMP, [1526075913000, None, 0, 1651182287943]),
    "ROWTIME": (BIGINT, [1526075913000, None, 0, 1651182287943]),
}


def _arrow(sql_type: SqlType, values: list) -> pa.Array:
    if sql_type.kind == "TIMESTAMP":
        return pa.array(values, pa.int64()).cast(to_arrow(sql_type))
    return pa.array(values, to_arrow(sql_type))


@dataclass
class Batch:
    """The test batch and the scope describing it (columns qualified by source 'T')."""

    table: pa.Table
    scope: Scope
    registry: FunctionRegistry

    def compile(self, expr: ast.Expr, **kwargs) -> Typed:
        return compile_expr(expr, self.scope, self.registry, **kwargs)

    def values(self, expr: ast.Expr) -> list:
        """The expression's value on each row."""
        result = evaluate([(self.compile(expr), "V")], self.table)
        return result.column("V").to_pylist(maps_as_pydicts="strict")

    def type(self, expr: ast.Expr) -> str:
        return self.compile(expr).type.sql()


def make_batch() -> Batch:
    table = pa.table({name: _arrow(t, v) for name, (t, v) in COLUMNS.items()})
    scope = Scope([ScopeColumn(name, t, name, source="T") for name, (t, _) in COLUMNS.items()])
    return Batch(table, scope, default_registry(test_functions=True))


# ---- AST shorthands -----------------------------------------------------------------------

def col(name: str, source: str | None = None) -> ast.ColumnRef:
    return ast.ColumnRef(name, source)


def num(value) -> ast.Expr:
    """int -> IntegerLiteral, float -> DoubleLiteral, str -> DecimalLiteral (keeps its scale)."""
    if isinstance(value, int):
        return ast.IntegerLiteral(value)
    if isinstance(value, float):
        return ast.DoubleLiteral(value)
    return ast.DecimalLiteral(Decimal(value))


def text(value: str) -> ast.StringLiteral:
    return ast.StringLiteral(value)


NULL = ast.NullLiteral()
TRUE = ast.BooleanLiteral(True)
FALSE = ast.BooleanLiteral(False)


def op(symbol: str, left: ast.Expr, right: ast.Expr) -> ast.BinaryOp:
    return ast.BinaryOp(symbol, left, right)


def call(name: str, *args: ast.Expr) -> ast.FunctionCall:
    return ast.FunctionCall(name, tuple(args))


def cast(value: ast.Expr, type_node: ast.TypeNode | str) -> ast.Cast:
    if isinstance(type_node, str):
        type_node = ast.PrimitiveType(type_node)
    return ast.Cast(value, type_node)


def lam(params: str, body: ast.Expr) -> ast.Lambda:
    return ast.Lambda(tuple(params.split(",")), body)


def when(condition: ast.Expr, result: ast.Expr) -> ast.WhenClause:
    return ast.WhenClause(condition, result)
