"""Binds a SELECT against the catalog: names, types, key columns -> a QueryAnalysis.

All semantic errors of queries are raised here (through the expression compiler for
expression-level ones). Nothing here runs a query or touches the log.
"""
from __future__ import annotations

from dataclasses import dataclass

from streamsql import ast
from streamsql.catalog import types as T
from streamsql.catalog.catalog import STREAM, TABLE, Catalog, DataSource
from streamsql.catalog.schema import (KEY, PSEUDO_COLUMNS, ROWTIME, VALUE, WINDOW_BOUNDS,
                                      Column, LogicalSchema)
from streamsql.errors import NotSupportedError, StatementError
from streamsql.expr.compile import Scope, ScopeColumn, Typed, compile_expr
from streamsql.functions.registry import FunctionRegistry

RESERVED_NAMES = tuple(PSEUDO_COLUMNS) + tuple(WINDOW_BOUNDS)
ROW_INDEX = "$row"  # internal column carrying each input row's position through the SQL
TOMBSTONE = "$tombstone"  # internal column of a table's batch: the record deletes its key


@dataclass(frozen=True)
class OutputColumn:
    column: Column
    expr: Typed


@dataclass(frozen=True)
class Side:
    """One source of a query; in a join, its columns are named ALIAS_COLUMN."""

    alias: str
    source: DataSource
    prefix: str = ""  # "" for a single source, "ALIAS_" in a join

    def sql_name(self, column: str) -> str:
        return f"{self.prefix}{column}"


@dataclass(frozen=True)
class JoinAnalysis:
    """A two-way join: `left` and `right` keys are expressions over their own side."""

    kind: str  # INNER | LEFT
    left: Side
    right: Side
    left_key: Typed
    right_key: Typed
    within: ast.Within | None  # stream-stream joins only


@dataclass(frozen=True)
class QueryAnalysis:
    """What a SELECT reads, filters, joins and produces (no aggregation yet)."""

    sides: tuple[Side, ...]
    scope: Scope
    where: Typed | None
    key: tuple[OutputColumn, ...]
    value: tuple[OutputColumn, ...]
    repartitioned: bool  # PARTITION BY changed the key
    limit: int | None
    select: ast.Select
    join: JoinAnalysis | None = None

    @property
    def source(self) -> DataSource:
        return self.sides[0].source

    @property
    def alias(self) -> str:
        return self.sides[0].alias

    @property
    def schema(self) -> LogicalSchema:
        return LogicalSchema(tuple(o.column for o in self.key + self.value))

    @property
    def columns(self) -> tuple[OutputColumn, ...]:
        return self.key + self.value

    @property
    def result_kind(self) -> str:
        """A stateless query over a table produces a table (a changelog), else a stream."""
        if self.join is not None:
            return STREAM if self.join.left.source.kind == STREAM else TABLE
        return self.source.kind


def side_scope_columns(side: Side) -> list[ScopeColumn]:
    """Every column a query may name on one side, with its SQL name in the batch relation."""
    source = side.source
    columns = [ScopeColumn(c.name, c.type, side.sql_name(c.name), side.alias)
               for c in source.schema.columns]
    for name, sql_type in PSEUDO_COLUMNS.items():
        columns.append(ScopeColumn(name, sql_type, side.sql_name(name), side.alias))
    if source.window is not None:
        for name, sql_type in WINDOW_BOUNDS.items():
            columns.append(ScopeColumn(name, sql_type, side.sql_name(name), side.alias))
    return columns


def source_scope(source: DataSource, alias: str) -> Scope:
    return Scope(side_scope_columns(Side(alias, source)))


def _unsupported(select: ast.Select) -> None:
    if select.window is not None:
        raise NotSupportedError("windowed aggregations are not supported yet", select.window.span)
    if select.group_by:
        raise NotSupportedError("GROUP BY aggregations are not supported yet", select.span)
    if select.having is not None:
        raise NotSupportedError("HAVING is not supported yet", select.having.span)
    if select.emit == "FINAL":
        raise StatementError("EMIT FINAL is only supported for windowed aggregations.",
                             select.span)


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


def _is_pseudo(expr: ast.Expr) -> str | None:
    if isinstance(expr, ast.ColumnRef) and expr.name in RESERVED_NAMES:
        return expr.name
    return None


def _sides(select: ast.Select, catalog: Catalog) -> tuple[Side, ...]:
    relation = select.from_
    if isinstance(relation, ast.Table):
        return (Side(relation.alias or relation.name, _lookup_source(catalog, relation)),)
    if not isinstance(relation.left, ast.Table):
        raise NotSupportedError("joins of more than two sources are not supported yet",
                                relation.span)
    sides = []
    for table in (relation.left, relation.right):
        alias = table.alias or table.name
        sides.append(Side(alias, _lookup_source(catalog, table), f"{alias}_"))
    if sides[0].alias == sides[1].alias:
        raise StatementError(f"Can not join '{sides[0].alias}' to '{sides[1].alias}': self joins "
                             "require a different alias for each side.", relation.span)
    return tuple(sides)


def _analyze_join(join: ast.Join, sides, scope: Scope, registry) -> JoinAnalysis:
    from streamsql.expr.text import format_expr as format_expression

    left, right = sides
    if join.kind not in ("INNER", "LEFT"):
        raise NotSupportedError(f"{join.kind} joins are not supported yet", join.span)
    if right.source.kind == STREAM and left.source.kind == TABLE:
        raise StatementError("Invalid join order: table-stream joins are not supported; only "
                             "stream-table joins. Got "
                             f"{left.source.name} [TABLE] {join.kind} JOIN "
                             f"{right.source.name} [STREAM].", join.span)
    if left.source.kind == TABLE:
        raise NotSupportedError("table-table joins are not supported yet", join.span)
    stream_stream = right.source.kind == STREAM
    if stream_stream and join.within is None:
        raise StatementError("Stream-Stream joins must have a WITHIN clause specified. None was "
                             "provided. To learn about how to specify a WITHIN clause with a "
                             "stream-stream join, please visit: https://docs.confluent.io/"
                             "current/ksqldb/syntax-reference.html#create-stream-as-select",
                             join.span)
    if not stream_stream and join.within is not None:
        raise StatementError("A window definition was provided for a Stream-Table join. These "
                             "joins are not windowed. Please drop the window definition (i.e. "
                             "the WITHIN clause) and try to execute your join again.", join.span)
    condition = join.on
    if not (isinstance(condition, ast.BinaryOp) and condition.op == "="):
        raise NotSupportedError("join conditions other than one equality are not supported yet",
                                condition.span)
    sides_of = []
    for operand in (condition.left, condition.right):
        used = _referenced_sides(operand, scope)
        if len(used) != 1:
            raise StatementError(
                f"Invalid comparison expression '{format_expression(operand)}' in join "
                f"'{format_expression(condition)}'. Each side of the join comparision must "
                "contain references from exactly one source.", operand.span)
        sides_of.append(used.pop())
    if sides_of[0] == sides_of[1]:
        raise StatementError(f"Each side of the join must reference exactly one source and not "
                             f"the same source. Left side references {sides_of[0]} and right "
                             f"references {sides_of[1]}", condition.span)
    left_expr, right_expr = ((condition.left, condition.right) if sides_of[0] == left.alias
                             else (condition.right, condition.left))
    left_key = _compile(left_expr, scope, registry, "JOIN")
    right_key = _compile(right_expr, scope, registry, "JOIN")
    if left_key.type != right_key.type:
        raise StatementError(
            f"Invalid join condition: types don't match. Got {format_expression(left_expr)}{{"
            f"{left_key.type.sql()}}} = {format_expression(right_expr)}{{"
            f"{right_key.type.sql()}}}.", condition.span)
    return JoinAnalysis(join.kind, left, right, left_key, right_key, join.within)


def _referenced_sides(expr: ast.Expr, scope: Scope) -> set[str]:
    """The aliases of the sides whose columns `expr` names."""
    found: set[str] = set()
    for node in ast.walk(expr):
        if isinstance(node, ast.ColumnRef):
            if node.source is not None and not any(c.source == node.source
                                                   for c in scope.columns):
                raise StatementError(f"'{node.source}' is not a valid stream/table name or "
                                     "alias.", node.span)
            found.update(c.source for c in scope.find(node.name, node.source))
    return found


def analyze_query(select: ast.Select, catalog: Catalog, registry: FunctionRegistry, *,
                  persistent: bool, sink_name: str | None = None,
                  new_planner: bool = False) -> QueryAnalysis:
    """Analyze a query without aggregation (CSAS, CTAS over a table, INSERT INTO ... SELECT,
    push and pull queries)."""
    _unsupported(select)
    sides = _sides(select, catalog)
    if persistent and any(s.source.kind == TABLE and s.source.window is not None for s in sides):
        raise StatementError("KSQL does not support persistent queries on windowed tables.",
                             select.span)
    if sides[0].source.kind == TABLE and select.partition_by:
        raise StatementError("PARTITION BY is not supported on tables: a table's key cannot "
                             "change without an aggregation.", select.partition_by[0].span)
    columns = [c for side in sides for c in side_scope_columns(side)]
    joined = len(sides) > 1
    if joined:
        # ROWTIME of a join result: the later of the two records' times.
        columns.append(ScopeColumn(ROWTIME, T.BIGINT, JOIN_ROWTIME, None))
    scope = Scope(columns)
    join = _analyze_join(select.from_, sides, scope, registry) if joined else None

    where = None
    if select.where is not None:
        where = _compile(select.where, scope, registry, "WHERE")
        if where.type is not None and where.type != T.BOOLEAN:
            from streamsql.expr.text import format_expr as format_expression
            raise StatementError(
                "Type error in WHERE expression: Should evaluate to boolean but is "
                f"{format_expression(select.where)} ({where.type.sql()}) instead.",
                select.where.span)

    # Expand the projection: (name, expr ast, typed).
    items: list[tuple[str | None, ast.Expr, Typed]] = []
    for item in select.items:
        if isinstance(item, ast.AllColumns):
            chosen = [s for s in sides if item.source is None or item.source in
                      (s.alias, s.source.name)]
            if not chosen:
                raise StatementError(f"'{item.source}' is not a valid stream/table name or alias.",
                                     item.span)
            for side in chosen:
                schema = side.source.schema
                names = [c.name for c in schema.key]
                if not persistent and side.source.window is not None:
                    names += list(WINDOW_BOUNDS)  # a query's rows show their window
                names += [c.name for c in schema.columns if c.role != KEY]
                for name in names:
                    ref = ast.ColumnRef(name, side.alias if joined else None)
                    items.append((side.sql_name(name), ref,
                                  _compile(ref, scope, registry, "SELECT")))
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
        pseudo = _is_pseudo(item.expr)
        if item.alias is not None and item.alias in RESERVED_NAMES:
            if joined and pseudo:
                raise StatementError(f"Reserved column name in select: `{item.alias}`. Please "
                                     "remove or alias the column.", item.span)
            raise StatementError(f"`{item.alias}` is a reserved column name. You cannot use it as "
                                 "an alias for a column.", item.span)
        if persistent and item.alias is None and pseudo:
            raise StatementError(f"Reserved column name in select: `{pseudo}`. "
                                 "Please remove or alias the column.", item.span)
        typed = _compile(item.expr, scope, registry, "SELECT")
        items.append((item.alias or _derived_name(item.expr, scope), item.expr, typed))

    names = _assign_names(items, scope)
    if select.partition_by:
        key, value = _partitioned_columns(select, items, names, scope, registry, sink_name)
        repartitioned = True
    elif join is not None:
        key, value = _join_key_columns(join, items, names, scope, persistent, sink_name)
        repartitioned = False
    else:
        key, value = _keyed_columns(sides[0].source, items, names, scope, persistent, sink_name,
                                    new_planner)
        repartitioned = False

    seen: set[str] = set()
    for out in key + value:
        if out.column.name in seen:
            kind = "value" if out.column.role == VALUE else "key"
            raise StatementError(f"Duplicate {kind} columns found in schema: "
                                 f"`{out.column.name}` {out.column.type.sql()}", select.span)
        seen.add(out.column.name)
        if out.expr.type is None:
            raise StatementError("Can't infer a type of null. Please explicitly cast it to a "
                                 "required type, e.g. CAST(null AS VARCHAR).", select.span)
    if persistent and not value:
        raise StatementError("The projection contains no value columns.", select.span)
    return QueryAnalysis(sides, scope, where, tuple(key), tuple(value), repartitioned,
                         select.limit, select, join)


JOIN_ROWTIME = "$join_rowtime"


def _resolved(expr: ast.Expr, scope: Scope) -> ScopeColumn | None:
    """The scope column a plain column reference names (None for anything else)."""
    if not isinstance(expr, ast.ColumnRef):
        return None
    found = scope.find(expr.name, expr.source)
    return found[0] if len(found) == 1 else None


def _derived_name(expr: ast.Expr, scope: Scope) -> str | None:
    column = _resolved(expr, scope)
    if column is not None:
        return column.sql_name if column.sql_name != JOIN_ROWTIME else column.name
    if isinstance(expr, ast.FieldAccess):
        return expr.field
    return None


def _join_key_columns(join: JoinAnalysis, items, names, scope, persistent, sink_name):
    """A join's key is its join expression; either side's join column may carry it."""
    from streamsql.expr.text import format_expr as format_expression

    key_sql = {to_key(join.left_key), to_key(join.right_key)}
    key: list[OutputColumn] = []
    value: list[OutputColumn] = []
    for (_, expr, typed), name in zip(items, names):
        if not key and to_key(typed) in key_sql:
            key.append(OutputColumn(Column(name, typed.type, KEY), typed))
        else:
            value.append(OutputColumn(Column(name, typed.type, VALUE), typed))
    if persistent and not key:
        target = f"`{sink_name}`" if sink_name else "the sink"
        left_text = format_expression(join_condition_side(join))
        raise StatementError(f"The query used to build {target} must include the join expression "
                             f"{left_text} in its projection (eg, SELECT {left_text}...).")
    return key, value


def to_key(typed: Typed) -> str:
    return typed.sql.sql()


def join_condition_side(join: JoinAnalysis) -> ast.Expr:
    return ast.ColumnRef(join.left_key.sql.sql().strip('"'))


def _assign_names(items, scope: Scope) -> list[str]:
    """Explicit or derived names; KSQL_COL_n for the rest, skipping names already in use.

    A struct field's derived name that is already taken gets a suffix (B, B_1, B_2).
    """
    taken = {c.sql_name for c in scope.columns} | {n for n, e, _ in items
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


def _keyed_columns(source, items, names, scope, persistent, sink_name, drop_unselected_key):
    """Without PARTITION BY the output key is the source key, which must be projected
    (unless the new query planner is on: then an unselected key is dropped)."""
    key_names = [c.name for c in source.schema.key]
    if not persistent and source.kind == TABLE and source.window is not None:
        key_names += list(WINDOW_BOUNDS)  # a windowed table's rows are keyed by their window
    key: list[OutputColumn] = []
    value: list[OutputColumn] = []
    key_aliases: dict[str, list[str]] = {}
    for (_, expr, typed), name in zip(items, names):
        resolved = _resolved(expr, scope)
        is_key_ref = resolved is not None and resolved.name in key_names
        # A query's key columns stay keys; a transient query over a stream shows plain rows.
        if is_key_ref and (persistent or source.kind == TABLE):
            key_aliases.setdefault(resolved.name, []).append(name)
            if len(key_aliases[resolved.name]) > 1:
                aliases = " and ".join(key_aliases[resolved.name])
                raise StatementError(f"The projection contains a key column (`{resolved.name}`) "
                                     f"more than once, aliased as: {aliases}.")
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
                _resolved(e, scope).name for (_, e, _), n in zip(items, names)
                if n == o.column.name)))
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
            name = _derived_name(expr, scope)
            if name is None:
                while f"KSQL_COL_{generated}" in taken:
                    generated += 1
                name = f"KSQL_COL_{generated}"
                taken.add(name)
            key[i] = OutputColumn(Column(name, typed.type, KEY), typed)
        if key[i] is None:
            from streamsql.expr.text import format_expr as format_expression
            target = f"`{sink_name}`" if sink_name else "the sink"
            raise StatementError(f"The query used to build {target} must include the partitioning "
                                 f"expression {format_expression(expr)} in its projection (eg, "
                                 f"SELECT {format_expression(expr)}...).", expr.span)
    return list(key), value
