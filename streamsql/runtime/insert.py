"""INSERT INTO ... VALUES: evaluate the row with DuckDB, encode it with the target's serdes."""
from __future__ import annotations

import time

import pyarrow as pa

from streamsql import ast
from streamsql.catalog import types as T
from streamsql.catalog.catalog import DataSource
from streamsql.catalog.schema import HEADER, KEY, ROWOFFSET, ROWPARTITION, ROWTIME, VALUE
from streamsql.errors import StatementError
from streamsql.expr.compile import Scope, compile_expr, select_sql
from streamsql.functions.registry import FunctionRegistry
from streamsql.log.backend import Record
from streamsql.serde import make_serde
from streamsql.state.store import QueryConnection

_ONE_ROW = "one_row"


def _assignable(value_type: T.SqlType | None, column_type: T.SqlType) -> bool:
    """Whether a VALUES expression may be stored in a column (ksqlDB's implicit coercions)."""
    if value_type is None or value_type == column_type:
        return True
    if value_type.is_numeric and column_type.is_numeric:
        return True
    if value_type.kind == "STRING" and column_type.kind in ("TIMESTAMP", "DATE", "TIME"):
        return True
    if value_type.kind == column_type.kind and value_type.kind in ("ARRAY", "MAP", "STRUCT"):
        return True
    return False


def encode_values(stmt: ast.InsertValues, target: DataSource, registry: FunctionRegistry,
                  connection: QueryConnection) -> Record:
    _check_prepared(stmt)
    schema = target.schema
    ordered = list(schema.key) + [c for c in schema.columns if c.role != KEY]
    names = list(stmt.columns) if stmt.columns is not None else [c.name for c in ordered]
    for name in names:
        if name in (ROWPARTITION, ROWOFFSET):
            raise StatementError(f"Inserting into column `{name}` is not allowed.", stmt.span)
    headers = [n for n in names if (c := schema.find(n)) is not None and c.role == HEADER]
    if headers:
        raise StatementError(f"Cannot insert into HEADER columns: {', '.join(headers)}", stmt.span)
    if len(names) != len(stmt.values):
        raise StatementError(
            f"Expected a value for each column. Expected Columns: [{', '.join(names)}]. "
            f"Got [{', '.join(_text(v) for v in stmt.values)}]", stmt.span)

    scope = Scope([])
    projections = []
    timestamp_expr = None
    for name, value in zip(names, stmt.values):
        if name == ROWTIME:
            timestamp_expr = compile_expr(ast.Cast(value, ast.PrimitiveType("BIGINT")), scope,
                                          registry)
            continue
        column = schema.find(name)
        if column is None:
            raise StatementError(f"Column name `{name}` does not exist.", value.span)
        if isinstance(value, ast.CreateStruct) and not value.fields and \
                column.type.kind == "STRUCT":
            value = _null_struct(column.type)  # STRUCT() stores a struct of null fields
        typed = compile_expr(value, scope, registry)
        if not _assignable(typed.type, column.type):
            raise StatementError(f"Expected type {column.type.sql()} for field `{name}` but got "
                                 f"{_text(value)}({typed.type.sql()})", value.span)
        cast = compile_expr(ast.Cast(value, T.to_ast(column.type)), scope, registry) \
            if typed.type != column.type else typed
        projections.append((cast, name))
    if timestamp_expr is not None:
        projections.append((timestamp_expr, ROWTIME))

    one_row = pa.table({"$": [1]})
    row = connection.run(select_sql(projections, _ONE_ROW), **{_ONE_ROW: one_row}) \
        if projections else pa.table({})
    columns = {}
    for column in schema.columns:
        if column.name in row.column_names:
            columns[column.name] = row.column(column.name).cast(T.to_arrow(column.type))
        else:
            columns[column.name] = pa.nulls(1, T.to_arrow(column.type))

    key_cols = [c for c in schema.columns if c.role == KEY]
    value_cols = [c for c in schema.columns if c.role == VALUE]
    key_serde = make_serde(target.key_format, key_cols, is_key=True)
    value_serde = make_serde(target.value_format, value_cols, is_key=False)
    key = key_serde.encode(pa.table({c.name: columns[c.name] for c in key_cols})) \
        if key_cols else [None]
    value = value_serde.encode(pa.table({c.name: columns[c.name] for c in value_cols})) \
        if value_cols else [None]
    if ROWTIME in row.column_names and row.column(ROWTIME)[0].as_py() is not None:
        timestamp = row.column(ROWTIME)[0].as_py()
    else:
        timestamp = int(time.time() * 1000)
    return Record(key[0], value[0], timestamp)


def _check_prepared(stmt: ast.InsertValues) -> None:
    """What ksqlDB rejects while preparing the statement, before looking at the target."""
    if stmt.columns is not None and len(stmt.columns) != len(stmt.values):
        raise StatementError("Failed to prepare statement: Expected number columns and values "
                             f"to match: {len(stmt.columns)}, {len(stmt.values)}", stmt.span)
    for value in stmt.values:
        for node in ast.walk(value):
            # VALUES has no FROM, so no name can qualify a column
            if isinstance(node, ast.ColumnRef) and node.source is not None:
                raise StatementError(f"Failed to prepare statement: '{node.source}' is not a "
                                     "valid stream/table name or alias.", node.span)


def _null_struct(struct_type: T.SqlType) -> ast.CreateStruct:
    return ast.CreateStruct(tuple(
        ast.StructFieldValue(name, ast.Cast(ast.NullLiteral(), T.to_ast(field_type)))
        for name, field_type in struct_type.fields))


def _text(expr: ast.Expr) -> str:
    from streamsql.sqlformat import format_expression
    return format_expression(expr)
