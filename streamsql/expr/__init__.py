"""Expressions compiled to DuckDB SQL with ksqlDB's typing and semantics."""
from streamsql.expr.compile import Scope, ScopeColumn, Typed, compile_expr, select_sql, to_sql

__all__ = ["Scope", "ScopeColumn", "Typed", "compile_expr", "select_sql", "to_sql"]
