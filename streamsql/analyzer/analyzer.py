"""Binds a SELECT against the catalog: names, types, key columns -> a QueryAnalysis.

All semantic errors of queries are raised here (through the expression compiler for
expression-level ones). Nothing here runs a query or touches the log.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass

from streamsql import ast
from streamsql.catalog import types as T
from streamsql.catalog.catalog import STREAM, TABLE, Catalog, DataSource
from streamsql.catalog.schema import (HEADER, KEY, PSEUDO_COLUMNS, ROWTIME, VALUE, WINDOW_BOUNDS,
                                      Column, LogicalSchema)
from streamsql.errors import NotSupportedError, StatementError
from streamsql.expr.compile import Scope, ScopeColumn, Typed, compile_expr
from streamsql.functions.registry import FunctionRegistry

RESERVED_NAMES = tuple(PSEUDO_COLUMNS) + tuple(WINDOW_BOUNDS)
ROW_INDEX = "$row"  # internal column carrying each input row's position through the SQL


@dataclass(frozen=True)
class OutputColumn:
    column: Column
    expr: Typed


@dataclass(frozen=True)
class QueryAnalysis:
    """What a single-source, stateless SELECT reads, filters and produces."""

    source: DataSource
    alias: str
    scope: Scope
    where: Typed | None
    key: tuple[OutputColumn, ...]
    value: tuple[OutputColumn, ...]
    repartitioned: bool  # PARTITION BY changed the key
    limit: int | None
    select: ast.Select

    @property
    def schema(self) -> LogicalSchema:
        return LogicalSchema(tuple(o.column for o in self.key + self.value))

    @property
    def result_kind(self) -> str:
        """A stateless query over a table produces a table (a changelog), else a stream."""
        return self.source.kind

    @property
    def columns(self) -> tuple[OutputColumn, ...]:
        return self.key + self.value


def source_scope(source: DataSource, alias: str) -> Scope:
    """Every column a query over `source` may name, with its SQL name in the batch relation."""
    columns = [ScopeColumn(c.name, c.type, c.name, alias) for c in source.schema.columns]
    for name, sql_type in PSEUDO_COLUMNS.items():
        columns.append(ScopeColumn(name, sql_type, name, alias))
    if source.window is not None:
        for name, sql_type in WINDOW_BOUNDS.items():
            columns.append(ScopeColumn(name, sql_type, name, alias))
    return Scope(columns)


def _unsupported(select: ast.Select) -> None:
    if isinstance(select.from_, ast.Join):
        raise NotSupportedError("joins are not supported yet", select.from_.span)
    if select.window is not None:
        raise NotSupportedError("windowed aggregations are not supported yet", select.window.span)
    if select.group_by:
        raise NotSupportedError("GROUP BY aggregations are not supported yet", select.span)
    if select.having is not None:
        raise NotSupportedError("HAVING is not supported yet", select.having.span)
    if select.emit == "FINAL":
        raise NotSupportedError("EMIT FINAL is not supported yet", select.span)


def _compile(expr: ast.Expr, scope: Scope, registry: FunctionRegistry, clause: str) -> Typed:
    """Compile one expression, naming the clause in errors as ksqlDB does."""
    try:
        return compile_expr(expr, scope, registry, clause=clause)
    except StatementError as err:
        message = err.message
        if clause in ("WHERE", "HAVING") and "cannot be resolved" not in message and \
                not message.startswith(("Error in", "Type error")):
            raise StatementError(f"Error in {clause} expression: {message}", err.span,
                                 err.diagnostic.hint) from None
        raise


def _lookup_source(catalog: Catalog, table: ast.Table) -> DataSource:
    source = catalog.source(table.name)
    if source is None:
        hint = catalog.suggest_source(table.name)
        raise StatementError(f"{table.name} does not exist.", table.span,
                             hint=f"did you mean '{hint}'?" if hint else None)
    return source


def _derived_name(expr: ast.Expr) -> str | None:
    if isinstance(expr, ast.ColumnRef):
        return expr.name
    if isinstance(expr, ast.FieldAccess):
        return expr.field
    return None


def _is_pseudo(expr: ast.Expr) -> str | None:
    if isinstance(expr, ast.ColumnRef) and expr.name in RESERVED_NAMES:
        return expr.name
    return None


def analyze_query(select: ast.Select, catalog: Catalog, registry: FunctionRegistry, *,
                  persistent: bool, sink_name: str | None = None,
                  new_planner: bool = False) -> QueryAnalysis:
    """Analyze a stateless single-source query (CSAS, INSERT INTO ... SELECT, push query)."""
    _unsupported(select)
    relation = select.from_
    source = _lookup_source(catalog, relation)
    alias = relation.alias or relation.name
    if source.kind == TABLE and select.partition_by:
        raise StatementError("PARTITION BY is not supported on tables: a table's key cannot "
                             "change without an aggregation.", select.partition_by[0].span)
    scope = source_scope(source, alias)

    where = None
    if select.where is not None:
        where = _compile(select.where, scope, registry, "WHERE")
        if where.type is not None and where.type != T.BOOLEAN:
            from streamsql.sqlformat import format_expression
            raise StatementError(
                "Type error in WHERE expression: Should evaluate to boolean but is "
                f"{format_expression(select.where)} ({where.type.sql()}) instead.",
                select.where.span)

    # Expand the projection: (name, expr ast, typed).
    items: list[tuple[str | None, ast.Expr, Typed]] = []
    for item in select.items:
        if isinstance(item, ast.AllColumns):
            if item.source is not None and item.source not in (alias, source.name):
                raise StatementError(f"'{item.source}' is not a valid stream/table name or alias.",
                                     item.span)
            for col in source.schema.key + tuple(c for c in source.schema.columns
                                                 if c.role != KEY):
                ref = ast.ColumnRef(col.name)
                items.append((col.name, ref, _compile(ref, scope, registry, "SELECT")))
            continue
        if isinstance(item, ast.AllStructFields):
            base = _compile(item.base, scope, registry, "SELECT")
            if base.type is None or base.type.kind != "STRUCT":
                raise StatementError("Expected STRUCT type for `->*`, got "
                                     f"{base.type.sql() if base.type else 'NULL'}", item.span)
            for field_name, _ in base.type.fields:
                access = ast.FieldAccess(item.base, field_name)
                items.append((field_name, access, _compile(access, scope, registry, "SELECT")))
            continue
        if item.alias is not None and item.alias in RESERVED_NAMES:
            raise StatementError(f"`{item.alias}` is a reserved column name. You cannot use it as "
                                 "an alias for a column.", item.span)
        if persistent and item.alias is None and _is_pseudo(item.expr):
            raise StatementError(f"Reserved column name in select: `{_is_pseudo(item.expr)}`. "
                                 "Please remove or alias the column.", item.span)
        typed = _compile(item.expr, scope, registry, "SELECT")
        items.append((item.alias or _derived_name(item.expr), item.expr, typed))

    names = _assign_names(items, source)
    if select.partition_by:
        key, value = _partitioned_columns(select, items, names, scope, registry, sink_name)
        repartitioned = True
    else:
        key, value = _keyed_columns(source, items, names, persistent, sink_name,
                                    new_planner)
        repartitioned = False

    seen: set[str] = set()
    for out in key + value:
        if out.column.name in seen:
            raise StatementError(f"Duplicate value columns found in projection: "
                                 f"`{out.column.name}`" if out.column.role == VALUE else
                                 f"Duplicate key columns found in projection: "
                                 f"`{out.column.name}`", select.span)
        seen.add(out.column.name)
        if out.expr.type is None:
            raise StatementError("Can't infer a type of null. Please explicitly cast it to a "
                                 "required type, e.g. CAST(null AS VARCHAR).", select.span)
    if persistent and not value:
        raise StatementError("The projection contains no value columns.", select.span)
    return QueryAnalysis(source, alias, scope, where, tuple(key), tuple(value), repartitioned,
                         select.limit, select)


def _assign_names(items, source: DataSource) -> list[str]:
    """Explicit or derived names; KSQL_COL_n for the rest, skipping names already in use.

    A struct field's derived name that is already taken gets a suffix (B, B_1, B_2).
    """
    taken = set(source.schema.names()) | {n for n, e, _ in items
                                          if n is not None and not isinstance(e, ast.FieldAccess)}
    names: list[str] = []
    used: set[str] = set()
    counter = 0
    for name, expr, _ in items:
        if name is None:
            while f"KSQL_COL_{counter}" in taken:
                counter += 1
            name = f"KSQL_COL_{counter}"
            counter += 1
        elif isinstance(expr, ast.FieldAccess) and name in used:
            suffix = 1
            while f"{name}_{suffix}" in used or f"{name}_{suffix}" in taken:
                suffix += 1
            name = f"{name}_{suffix}"
        names.append(name)
        used.add(name)
    return names


def _keyed_columns(source, items, names, persistent, sink_name, drop_unselected_key):
    """Without PARTITION BY the output key is the source key, which must be projected
    (unless the new query planner is on: then an unselected key is dropped)."""
    key_names = [c.name for c in source.schema.key]
    key: list[OutputColumn] = []
    value: list[OutputColumn] = []
    key_aliases: dict[str, list[str]] = {}
    for (_, expr, typed), name in zip(items, names):
        is_key_ref = isinstance(expr, ast.ColumnRef) and expr.name in key_names
        if is_key_ref and persistent:
            key_aliases.setdefault(expr.name, []).append(name)
            if len(key_aliases[expr.name]) > 1:
                aliases = " and ".join(key_aliases[expr.name])
                raise StatementError(f"The projection contains a key column (`{expr.name}`) more "
                                     f"than once, aliased as: {aliases}.")
            key.append(OutputColumn(Column(name, typed.type, KEY), typed))
        else:
            value.append(OutputColumn(Column(name, typed.type, VALUE), typed))
    if persistent:
        missing = [k for k in key_names if k not in key_aliases]
        if missing and drop_unselected_key and not key:
            return [], value
        if not drop_unselected_key:
            # the old query planner keeps the source's key order
            key.sort(key=lambda o: key_names.index(next(
                e.name for (_, e, _), n in zip(items, names) if n == o.column.name)))
        if missing:
            target = f"`{sink_name}`" if sink_name else "the sink"
            if len(missing) == 1:
                raise StatementError(f"The query used to build {target} must include the key "
                                     f"column {missing[0]} in its projection (eg, SELECT "
                                     f"{missing[0]}...).")
            raise StatementError(f"The query used to build {target} must include the key columns "
                                 f"{' and '.join(missing)} in its projection (eg, SELECT "
                                 f"{', '.join(missing)}...).")
    return key, value


def _partitioned_columns(select, items, names, scope, registry, sink_name):
    """PARTITION BY e1, e2: the expressions become the key; matching projections name them."""
    partition_exprs = [e for e in select.partition_by
                       if not isinstance(e, ast.NullLiteral)]
    key: list[OutputColumn | None] = [None] * len(partition_exprs)
    value: list[OutputColumn] = []
    for (_, expr, typed), name in zip(items, names):
        index = next((i for i, p in enumerate(partition_exprs) if p == expr and key[i] is None),
                     None)
        if index is not None:
            key[index] = OutputColumn(Column(name, typed.type, KEY), typed)
        else:
            value.append(OutputColumn(Column(name, typed.type, VALUE), typed))
    has_star = any(isinstance(item, ast.AllColumns) for item in select.items)
    taken = set(names) | {c.name for c in scope.columns}
    generated = 0
    for i, expr in enumerate(partition_exprs):
        if key[i] is None and has_star:
            typed = _compile(expr, scope, registry, "PARTITION BY")
            name = _derived_name(expr)
            if name is None:
                while f"KSQL_COL_{generated}" in taken:
                    generated += 1
                name = f"KSQL_COL_{generated}"
                taken.add(name)
            key[i] = OutputColumn(Column(name, typed.type, KEY), typed)
        if key[i] is None:
            from streamsql.sqlformat import format_expression
            target = f"`{sink_name}`" if sink_name else "the sink"
            raise StatementError(f"The query used to build {target} must include the partitioning "
                                 f"expression {format_expression(expr)} in its projection (eg, "
                                 f"SELECT {format_expression(expr)}...).", expr.span)
    return list(key), value


def suggest_column(name: str, scope_names: list[str]) -> str | None:
    close = difflib.get_close_matches(name, scope_names, n=1)
    return close[0] if close else None
