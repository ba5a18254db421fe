"""Binds a SELECT against the catalog: names, types, key columns -> a QueryAnalysis.

All semantic errors of queries are raised here (through the expression compiler for
expression-level ones). Nothing here runs a query or touches the log.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from streamsql import ast
from streamsql.catalog import types as T
from streamsql.catalog.catalog import STREAM, TABLE, Catalog, DataSource
from streamsql.catalog.schema import (HEADER, KEY, PSEUDO_COLUMNS, ROWTIME, VALUE,
                                      WINDOW_BOUNDS, Column, LogicalSchema)
from streamsql.errors import NotSupportedError, StatementError
from streamsql.analyzer.sources import contains_map, validate_key_columns
from streamsql.expr.compile import Scope, ScopeColumn, Typed, compile_expr
from streamsql.expr.text import format_expr
from streamsql.functions.registry import FunctionRegistry
from streamsql.functions.table import is_table_function

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

    kind: str  # INNER | LEFT | RIGHT | FULL
    left: Side
    right: Side
    left_key: Typed
    right_key: Typed
    within: ast.Within | None  # stream-stream joins only
    # table-table: the left key is not the left table's primary key, so a right row
    # joins every left row that references it
    foreign_key: bool = False
    # which of left_key, right_key is a plain column (a projection of it is the key)
    column_keys: tuple[bool, bool] = (True, True)
    key_exprs: tuple[ast.Expr, ...] = ()  # the two key expressions, qualified, for messages

    @property
    def synthetic_key(self) -> bool:
        """The result's key is a column of its own (ROWKEY): a FULL join's row may lack
        either side, and a key of expressions only has no source column to carry it."""
        return not self.foreign_key and (self.kind == "FULL" or not any(self.column_keys))

    @property
    def table_table(self) -> bool:
        return self.left.source.kind == TABLE and self.right.source.kind == TABLE


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
    order: tuple[str, ...] = ()  # the output column names in SELECT order
    # PARTITION BY key columns computed from value columns: null for a record without a value
    keys_from_value: tuple[str, ...] = ()
    # further joins of a chain of tables, each adding one table to the ones before it
    chained: tuple[JoinAnalysis, ...] = ()

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
            from streamsql.expr.text import format_expr as format_expression
            # ksqlDB names the clause's expression, not the whole statement, as its statement
            raise StatementError(f"Error in {clause} expression: {message}", err.span,
                                 err.diagnostic.hint,
                                 statement=format_expression(expr)) from None
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
    sides = []
    for table in _joined_tables(relation):
        alias = table.alias or table.name
        sides.append(Side(alias, _lookup_source(catalog, table), f"{alias}_"))
    aliases = [side.alias for side in sides]
    if len(sides) > 2 and len(set(aliases)) < len(aliases):
        raise StatementError("Each source of a join needs its own alias.", relation.span)
    if sides[0].source.name == sides[1].source.name and sides[0].alias != sides[1].alias:
        # Both sides would read one topic, whose records cannot be told apart by side.
        raise StatementError(f"Can not join '{sides[0].source.name}' to "
                             f"'{sides[1].source.name}': self joins are not yet supported.",
                             relation.span)
    if sides[0].alias == sides[1].alias:
        raise StatementError(f"Can not join '{sides[0].alias}' to '{sides[1].alias}': self joins "
                             "require a different alias for each side.", relation.span)
    return tuple(sides)


def _joined_tables(relation: ast.Relation) -> list[ast.Table]:
    """The sources of a (left-deep) chain of joins, in order."""
    if isinstance(relation, ast.Join):
        if not isinstance(relation.right, ast.Table):
            raise NotSupportedError("a join's right side must be a stream or table",
                                    relation.right.span)
        return _joined_tables(relation.left) + [relation.right]
    return [relation]


def _join_steps(relation: ast.Join) -> list[ast.Join]:
    """The joins of a left-deep chain, innermost (the first two sources) first."""
    inner = relation.left
    return (_join_steps(inner) if isinstance(inner, ast.Join) else []) + [relation]


def _analyze_chain(relation: ast.Join, sides, scope: Scope, registry) -> list[JoinAnalysis]:
    """Joins of three or more tables, each on the primary key of the table it adds."""
    steps = _join_steps(relation)
    if any(side.source.kind != TABLE for side in sides):
        raise NotSupportedError("joins of more than two sources are supported only between "
                                "tables, on their primary keys", relation.span)
    analyses = []
    for index, step in enumerate(steps):
        added = sides[index + 1]
        earlier = sides[:index + 1]
        used = _referenced_sides(step.on.left, scope) | _referenced_sides(step.on.right, scope) \
            if isinstance(step.on, ast.BinaryOp) else set()
        left = next((s for s in earlier if s.alias in used), earlier[0])
        analysis = _analyze_join(step, (left, added), scope, registry)
        if analysis.foreign_key:
            raise NotSupportedError("joins of more than two sources are supported only between "
                                    "tables, on their primary keys", step.on.span)
        analyses.append(analysis)
    return analyses


def _analyze_join(join: ast.Join, sides, scope: Scope, registry) -> JoinAnalysis:
    from streamsql.expr.text import format_expr as format_expression

    left, right = sides
    table_table = left.source.kind == TABLE and right.source.kind == TABLE
    stream_table = left.source.kind == STREAM and right.source.kind == TABLE
    joined_text = f"{left.source.name} {_JOIN_WORDS[join.kind]} {right.source.name}"
    if stream_table and join.kind in ("RIGHT", "FULL"):
        word = "full-outer" if join.kind == "FULL" else "right-outer"
        raise StatementError(f"Invalid join type: {word} join not supported for stream-table "
                             f"join. Got {joined_text}.", join.span)
    if right.source.kind == STREAM and left.source.kind == TABLE:
        raise StatementError("Invalid join order: table-stream joins are not supported; only "
                             f"stream-table joins. Got {joined_text}.", join.span)
    if table_table:
        if join.within is not None:
            raise StatementError("A window definition was provided for a Table-Table join. "
                                 "These joins are not windowed. Please drop the window "
                                 "definition (i.e. the WITHIN clause) and try to execute your "
                                 "join again.", join.span)
    condition = join.on
    if isinstance(condition, ast.BinaryOp) and condition.op == "AND":
        raise StatementError("Invalid join condition: joins on multiple conditions are not yet "
                             f"supported. Got {format_expression(_qualified(condition, scope))}.",
                             condition.span)
    if not (isinstance(condition, ast.BinaryOp) and condition.op == "="):
        raise NotSupportedError("join conditions other than one equality are not supported yet",
                                condition.span)
    kafka = [s.source.name for s in sides if s.source.value_format.name == "KAFKA"]
    if kafka:
        raise StatementError(f"Source(s) {', '.join(kafka)} are using the 'KAFKA' value format. "
                             "This format does not yet support JOIN.", join.span)
    sides_of = []
    for operand in (condition.left, condition.right):
        used = _referenced_sides(operand, scope)
        _compile(operand, scope, registry, "JOIN ON")  # unknown columns first, as ksqlDB
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
        def shown(expr: ast.Expr) -> str:
            # ksqlDB names each column with its source in table-table joins
            return format_expression(_qualified(expr, scope) if table_table else expr)

        raise StatementError(
            f"Invalid join condition: types don't match. Got {shown(left_expr)}{{"
            f"{left_key.type.sql()}}} = {shown(right_expr)}{{"
            f"{right_key.type.sql()}}}.", condition.span)
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
    for key, expr in ((left_key, left_expr), (right_key, right_expr)):
        column = _resolved(expr, scope)
        if column is not None and contains_map(key.type):
            # The join's key column carries its side's name (ALIAS_COLUMN) here.
            validate_key_columns([Column(column.sql_name, key.type, KEY)])
    if stream_table and not _is_primary_key(right_expr, right, scope):
        raise StatementError(
            "Invalid join condition: stream-table joins require to join on the table's primary "
            f"key. Got {format_expression(_qualified(condition.left, scope))} = "
            f"{format_expression(_qualified(condition.right, scope))}.", condition.span)
    if not table_table:
        _check_windows(left, right, left_expr, right_expr, scope, join.span)
    foreign_key = False
    if table_table:
        if not _is_primary_key(right_expr, right, scope):
            raise StatementError(
                "Invalid join condition: table-table joins require to join on the primary key "
                "of the right input table. Got "
                f"{format_expression(_qualified(condition.left, scope))} = "
                f"{format_expression(_qualified(condition.right, scope))}.", condition.span)
        foreign_key = not _is_primary_key(left_expr, left, scope)
        if any(side.source.window is not None for side in sides):
            if foreign_key:
                raise StatementError("Foreign-key table-table joins are not supported on "
                                     "windowed tables.", join.span)
            raise NotSupportedError("joins of windowed tables are not supported yet", join.span)
        if foreign_key and join.kind in ("RIGHT", "FULL"):
            word = "RIGHT" if join.kind == "RIGHT" else "FULL"
            raise StatementError(f"{word} OUTER JOIN on a foreign key is not supported",
                                 join.span)
    column_keys = (_resolved(left_expr, scope) is not None,
                   _resolved(right_expr, scope) is not None)
    return JoinAnalysis(join.kind, left, right, left_key, right_key, join.within, foreign_key,
                        column_keys, (_qualified(left_expr, scope), _qualified(right_expr, scope)))


def _check_windows(left: Side, right: Side, left_expr, right_expr, scope, span) -> None:
    """Windowed sources join only each other, by key, and only windows of the same kind."""
    windows = (left.source.window, right.source.window)
    if windows == (None, None):
        return
    if None in windows:
        def shown(side: Side) -> str:
            window = side.source.window
            return f"`{side.source.name}` is " + (f"{window.type} windowed" if window
                                                   else "not windowed")
        raise StatementError("Can not join windowed source to non-windowed source.\n"
                             f"{shown(left)}\n{shown(right)}", span)
    if windows[0].is_session != windows[1].is_session:
        raise StatementError(
            "Incompatible windowed sources.\n"
            f"Left source: {windows[0].type}\nRight source: {windows[1].type}\n"
            "Session windowed sources can only be joined to other session windowed sources, "
            "and may still not result in expected behaviour as session bounds must be an exact "
            "match for the join to work\nHopping and tumbling windowed sources can only be "
            "joined to other hopping and tumbling windowed sources", span)
    # A window is part of the key: rows meet only where both key and window match, so a
    # join on anything else, or of different windows, would have to re-key the windows.
    by_key = _is_primary_key(left_expr, left, scope) and _is_primary_key(right_expr, right, scope)
    if not by_key or windows[0] != windows[1]:
        raise StatementError("Implicit repartitioning of windowed sources is not supported. "
                             "See https://github.com/confluentinc/ksql/issues/4385.", span)


_JOIN_WORDS = {"INNER": "[INNER] JOIN", "LEFT": "LEFT [OUTER] JOIN",
               "RIGHT": "RIGHT [OUTER] JOIN", "FULL": "[FULL] OUTER JOIN"}


def _is_primary_key(expr: ast.Expr, side: Side, scope: Scope) -> bool:
    """Whether `expr` is exactly the side's whole primary key (one key column)."""
    keys = side.source.schema.key
    column = _resolved(expr, scope)
    return len(keys) == 1 and column is not None and column.source == side.alias and \
        column.name == keys[0].name


def _qualified(expr: ast.Expr, scope: Scope) -> ast.Expr:
    """`expr` with each column reference qualified by its side, as ksqlDB prints joins."""
    if isinstance(expr, ast.ColumnRef):
        found = scope.find(expr.name, expr.source)
        if len(found) == 1 and found[0].source is not None:
            return dataclasses.replace(expr, source=found[0].source)
        return expr
    changes = {}
    for field in dataclasses.fields(expr):
        value = getattr(expr, field.name)
        if isinstance(value, ast.Expr):
            changes[field.name] = _qualified(value, scope)
        elif isinstance(value, tuple) and any(isinstance(v, ast.Expr) for v in value):
            changes[field.name] = tuple(_qualified(v, scope) if isinstance(v, ast.Expr) else v
                                        for v in value)
    return dataclasses.replace(expr, **changes) if changes else expr


def _referenced_sides(expr: ast.Expr, scope: Scope) -> set[str]:
    """The aliases of the sides whose columns `expr` names."""
    found: set[str] = set()
    for node in ast.walk(expr):
        if isinstance(node, ast.ColumnRef):  # its qualifier is known (_check_qualifiers)
            found.update(c.source for c in scope.find(node.name, node.source))
    return found


def _check_qualifiers(select: ast.Select, sides: tuple[Side, ...]) -> None:
    """Every qualified column names one of the query's sources (ksqlDB checks this while it
    prepares the statement, before it resolves any column)."""
    aliases = {side.alias for side in sides}
    for node in ast.walk(select):
        if isinstance(node, ast.ColumnRef) and node.source is not None and \
                node.source not in aliases:
            raise StatementError(f"Failed to prepare statement: '{node.source}' is not a valid "
                                 "stream/table name or alias.", node.span)


def query_scope(select: ast.Select, sides: tuple[Side, ...], registry: FunctionRegistry
                ) -> tuple[Scope, JoinAnalysis | None, tuple[JoinAnalysis, ...]]:
    """The columns a query over `sides` may name, its join (None for one source) and the
    further joins of a chain of tables."""
    _check_qualifiers(select, sides)
    columns = [c for side in sides for c in side_scope_columns(side)]
    if len(sides) == 1:
        return Scope(columns), None, ()
    # ROWTIME of a join result: the later of the two records' times.
    columns.append(ScopeColumn(ROWTIME, T.BIGINT, JOIN_ROWTIME, None))
    scope = Scope(columns)
    chained: tuple[JoinAnalysis, ...] = ()
    if len(sides) > 2:
        join, *rest = _analyze_chain(select.from_, sides, scope, registry)
        chained = tuple(rest)
    else:
        join = _analyze_join(select.from_, sides, scope, registry)
    if any(j.synthetic_key for j in (join,) + chained):
        columns.append(ScopeColumn(synthetic_key_name(sides), join.left_key.type, JOIN_KEY,
                                   None))
        scope = Scope(columns)
    return scope, join, chained


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
    if sides[0].source.kind == TABLE and any(
            isinstance(node, ast.FunctionCall) and is_table_function(registry, node.name)
            for item in select.items for node in ast.walk(item)):
        raise StatementError("Table source is not supported with table functions", select.span)
    if sides[0].source.kind == TABLE and select.partition_by:
        raise StatementError("PARTITION BY is not supported on tables: a table's key cannot "
                             "change without an aggregation.", select.partition_by[0].span)
    joined = len(sides) > 1
    scope, join, chained = query_scope(select, sides, registry)

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
            if item.source is None and join is not None and join.synthetic_key:
                # `*` includes the synthetic key column, which no source has.
                synthetic = next(c for c in scope.columns if c.sql_name == JOIN_KEY)
                ref = ast.ColumnRef(synthetic.name)
                items.append((synthetic.name, ref, _compile(ref, scope, registry, "SELECT")))
            for side in chosen:
                schema = side.source.schema
                names = [c.name for c in schema.key]
                if side.source.window is not None and (joined or not persistent):
                    # A query's rows show their window; a join's rows each side's, as columns.
                    names += list(WINDOW_BOUNDS)
                names += [c.name for c in schema.columns if c.role != KEY]
                if select.partition_by and not joined:
                    names = _repartitioned_star(select.partition_by, schema)
                elif select.partition_by:
                    names = _repartitioned_join_star(select.partition_by, side, scope)
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
                items.append((None, access, _compile(access, scope, registry, "SELECT")))
            continue
        pseudo = _is_pseudo(item.expr)
        if item.alias is not None and item.alias in RESERVED_NAMES:
            if joined and pseudo:
                raise StatementError(f"Reserved column name in select: `{item.alias}`. Please "
                                     "remove or alias the column.", item.span)
            raise StatementError(f"`{item.alias}` is a reserved column name. You cannot use it as "
                                 "an alias for a column.", item.span)
        # In a join, S.ROWTIME is named S_ROWTIME: only a bare pseudo column is reserved.
        if persistent and item.alias is None and pseudo and \
                not (joined and item.expr.source is not None):
            raise StatementError(f"Reserved column name in select: `{pseudo}`. "
                                 "Please remove or alias the column.", item.span)
        typed = _compile(item.expr, scope, registry, "SELECT")
        items.append((given_name(item.alias, item.expr, scope), item.expr, typed))

    names = _assign_names(items, scope)
    keys_from_value: tuple[str, ...] = ()
    if select.partition_by:
        key, value = _partitioned_columns(select, items, names, scope, registry, sink_name,
                                          joined)
        repartitioned = True
        if not joined:
            keys_from_value = _keys_from_value(select.partition_by, key, sides[0].source)
    elif join is not None and join.foreign_key:
        key, value = _foreign_key_columns(join, items, names, scope, persistent)
        repartitioned = False
    elif join is not None:
        key, value = _join_key_columns((join,) + chained, items, names, scope, persistent,
                                       sink_name, registry)
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
                         select.limit, select, join, tuple(names), keys_from_value, chained)


def _keys_from_value(partition_by: list[ast.Expr], key: list[OutputColumn],
                     source: DataSource) -> tuple[str, ...]:
    """The new key columns whose expression reads more than the source's key columns
    (ROWTIME too comes with the value): ksqlDB cannot compute them for a record without a
    value."""
    source_keys = {c.name for c in source.schema.key}
    exprs = [e for e in partition_by if not isinstance(e, ast.NullLiteral)]
    return tuple(out.column.name for out, expr in zip(key, exprs)
                 if any(isinstance(node, ast.ColumnRef) and node.name not in source_keys
                        for node in ast.walk(expr)))


JOIN_ROWTIME = "$join_rowtime"
JOIN_KEY = "$join_key"  # a join row's key: the key of whichever side is present


def synthetic_key_name(sides) -> str:
    """ROWKEY, or ROWKEY_<n> for the first n no source column already uses."""
    taken = {c.name for side in sides for c in side.source.schema.columns}
    name, suffix = "ROWKEY", 0
    while name in taken:
        suffix += 1
        name = f"ROWKEY_{suffix}"
    return name


def _resolved(expr: ast.Expr, scope: Scope) -> ScopeColumn | None:
    """The scope column a plain column reference names (None for anything else)."""
    if not isinstance(expr, ast.ColumnRef):
        return None
    found = scope.find(expr.name, expr.source)
    return found[0] if len(found) == 1 else None


def _derived_name(expr: ast.Expr, scope: Scope) -> str | None:
    column = _resolved(expr, scope)
    if column is not None:
        if column.sql_name in (JOIN_ROWTIME, JOIN_KEY):
            return column.name
        # In a join a column keeps its own name unless another source has one like it.
        sides_with_name = {c.source for c in scope.columns
                           if c.name == column.name and c.source is not None}
        return column.name if len(sides_with_name) == 1 else column.sql_name
    if isinstance(expr, ast.FieldAccess):
        return expr.field
    return None


def given_name(alias: str | None, expr: ast.Expr, scope: Scope) -> str | None:
    """A SELECT item's name before generated ones: its alias, or a column's own name. None
    for the rest, a struct field too: _assign_names derives that with the generated ones."""
    if alias is not None:
        return alias
    return None if isinstance(expr, ast.FieldAccess) else _derived_name(expr, scope)


def _join_key_columns(joins: tuple[JoinAnalysis, ...], items, names, scope, persistent,
                      sink_name, registry):
    """A join's key is its join expression: a plain-column side's column, or ROWKEY."""
    join = joins[0]
    # The key's value comes from whichever side the row has (a LEFT, RIGHT or FULL join's
    # row may lack one), so the key column reads the join key, not one side's column.
    join_key = compile_expr(ast.ColumnRef(JOIN_KEY), Scope(
        [ScopeColumn(JOIN_KEY, join.left_key.type, JOIN_KEY)]), registry)
    synthetic = any(j.synthetic_key for j in joins)
    if synthetic:
        candidates = [to_key(join_key)]
    else:
        candidates = list(dict.fromkeys(
            to_key(k) for j in joins for k, is_column in zip((j.left_key, j.right_key),
                                                            j.column_keys) if is_column))
    # The left side's join column is the key when both are projected.
    projected = {to_key(typed) for _, _, typed in items}
    key_sql = next((c for c in candidates if c in projected), None)
    key: list[OutputColumn] = []
    value: list[OutputColumn] = []
    aliases: list[str] = []
    for (_, expr, typed), name in zip(items, names):
        if to_key(typed) == key_sql:
            aliases.append(name)
            if key:
                column = _resolved(expr, scope)
                shown = column.sql_name if column is not None else name
                raise StatementError(f"The projection contains a key column (`{shown}`) more "
                                     f"than once, aliased as: {' and '.join(sorted(aliases))}.")
            key.append(OutputColumn(Column(name, typed.type, KEY), join_key))
        else:
            value.append(OutputColumn(Column(name, typed.type, VALUE), typed))
    if persistent and not key:
        target = f"`{sink_name}`" if sink_name else "the sink"
        if synthetic:
            name = next(c.name for c in scope.columns if c.sql_name == JOIN_KEY)
            raise StatementError(
                "Key missing from projection (ie, SELECT). See https://cnfl.io/2LV7ouS.\n"
                f"The query used to build {target} must include the join expression {name} in "
                f"its projection (eg, SELECT {name}...).\n{name} was added as a synthetic key "
                "column because the join criteria did not match any source column. This "
                "expression must be included in the projection and may be aliased.")
        shown = [format_expr(e) for e, is_column in zip(join.key_exprs, join.column_keys)
                 if is_column]
        listed = " or ".join(shown)
        plural = "s" if len(shown) > 1 else ""
        raise StatementError(f"The query used to build {target} must include the join "
                             f"expression{plural} {listed} in its projection (eg, SELECT "
                             f"{shown[0]}...).")
    return key, value


def _foreign_key_columns(join: JoinAnalysis, items, names, scope, persistent):
    """A foreign-key join's rows are the left table's rows: its primary key is the key."""
    left = join.left
    key_names = [c.name for c in left.source.schema.key]
    key: list[OutputColumn] = []
    value: list[OutputColumn] = []
    aliases: dict[str, list[str]] = {}
    for (_, expr, typed), name in zip(items, names):
        resolved = _resolved(expr, scope)
        if resolved is not None and resolved.source == left.alias and \
                resolved.name in key_names:
            aliases.setdefault(resolved.name, []).append(name)
            if len(aliases[resolved.name]) > 1:
                raise StatementError(
                    f"The projection contains a key column (`{resolved.sql_name}`) more than "
                    f"once, aliased as: {' and '.join(sorted(aliases[resolved.name]))}.")
            key.append(OutputColumn(Column(name, typed.type, KEY), typed))
        else:
            value.append(OutputColumn(Column(name, typed.type, VALUE), typed))
    missing = [k for k in key_names if k not in aliases]
    if persistent and missing:
        plural = len(missing) > 1
        raise StatementError(
            f"Primary key column{'s' if plural else ''} missing in projection. For foreign-key "
            "table-table joins, the projection must include all primary key columns from the "
            f"left input table (`{left.source.name}`). Missing column{'s' if plural else ''}: "
            + ", ".join(f"`{k}`" for k in missing) + ".")
    key.sort(key=lambda o: key_names.index(next(
        _resolved(e, scope).name for (_, e, _), n in zip(items, names) if n == o.column.name)))
    return key, value


def to_key(typed: Typed) -> str:
    return typed.sql.sql()


def _assign_names(items, scope: Scope) -> list[str]:
    """Explicit or derived names (None: none given); struct fields are named after the field,
    KSQL_COL_n the rest, skipping names already in use.

    A struct field's name that is already taken, by an earlier one or by a source column,
    gets a suffix (B, B_1, B_2).
    """
    source_names = {c.sql_name for c in scope.columns}
    taken = source_names | {n for n, _, _ in items if n is not None}
    names: list[str] = []
    used: set[str] = set()
    counter = 0
    for name, expr, _ in items:
        if name is None and isinstance(expr, ast.FieldAccess):
            name = expr.field
            if name in used or name in source_names:
                suffix = 1
                while f"{name}_{suffix}" in used or f"{name}_{suffix}" in taken:
                    suffix += 1
                name = f"{name}_{suffix}"
        elif name is None:
            while f"KSQL_COL_{counter}" in taken:
                counter += 1
            name = f"KSQL_COL_{counter}"
            counter += 1
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
        elif resolved is not None and not persistent and source.kind == TABLE and \
                (header := source.schema.find(resolved.name)) is not None and \
                header.role == HEADER:
            # a table's rows show a selected header column as one
            value.append(OutputColumn(Column(name, typed.type, HEADER, header.header_key), typed))
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
            missing = key_names  # ksqlDB names every key column when one is missing
            target = f"`{sink_name}`" if sink_name else "the sink"
            if len(missing) == 1:
                raise StatementError(f"The query used to build {target} must include the key "
                                     f"column {missing[0]} in its projection (eg, SELECT "
                                     f"{missing[0]}...).")
            raise StatementError(f"The query used to build {target} must include the key columns "
                                 f"{' and '.join(missing)} in its projection (eg, SELECT "
                                 f"{', '.join(missing)}...).")
    return key, value


def _repartitioned_star(partition_by: list[ast.Expr], schema) -> list[str]:
    """`*` after PARTITION BY (applied to the input): the value columns, then the old key
    columns as values; a partitioning column is left out, as it becomes the new key."""
    moved = {e.name for e in partition_by if isinstance(e, ast.ColumnRef)}
    return [c.name for c in schema.columns if c.role != KEY and c.name not in moved] + \
        [c.name for c in schema.key if c.name not in moved]


def _repartitioned_join_star(partition_by: list[ast.Expr], side: Side, scope: Scope) -> list[str]:
    """`*` after a join's PARTITION BY (applied to the join's rows, which carry each side's
    value, pseudo and key columns as values): a partitioning column is left out, as it
    becomes the new key."""
    resolved = (_resolved(expr, scope) for expr in partition_by)
    moved = {(c.source, c.name) for c in resolved if c is not None}
    schema = side.source.schema
    names = [c.name for c in schema.columns if c.role != KEY] + list(PSEUDO_COLUMNS) + \
        [c.name for c in schema.key]
    return [name for name in names if (side.alias, name) not in moved]


def _check_partition_by(select: ast.Select, items, scope: Scope) -> None:
    """ksqlDB's checks of PARTITION BY, which is resolved against the input, not the
    projection."""
    if len(select.partition_by) > 1 and any(isinstance(e, ast.NullLiteral)
                                            for e in select.partition_by):
        raise StatementError("Cannot PARTITION BY multiple columns including NULL",
                             select.partition_by[0].span)
    aliases = {name for name, _, _ in items if name}
    for expr in select.partition_by:
        for node in ast.walk(expr):
            if isinstance(node, ast.ColumnRef) and not scope.find(node.name, node.source):
                hint = (f" '{node.name}' must be a column in the source schema since PARTITION "
                        "BY is applied on the input." if node.name in aliases else "")
                raise StatementError(f"PARTITION BY column '{node.name}' cannot be resolved."
                                     + hint, node.span)


def _partitioned_columns(select, items, names, scope, registry, sink_name, joined):
    """PARTITION BY e1, e2: the expressions become the key; matching projections name them
    (else, with `*`, the column's own name: in a join, with its side's prefix)."""
    _check_partition_by(select, items, scope)
    partition_exprs = [e for e in select.partition_by
                       if not isinstance(e, ast.NullLiteral)]
    key: list[OutputColumn | None] = [None] * len(partition_exprs)
    value: list[OutputColumn] = []
    for (_, expr, typed), name in zip(items, names):
        index = next((i for i, p in enumerate(partition_exprs) if p == expr), None)
        if index is not None and key[index] is not None:
            raise StatementError(f"The projection contains a key column (`{key[index].column.name}`) "
                                 f"more than once, aliased as: {key[index].column.name} and "
                                 f"{name}.", select.span)
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
            column = _resolved(expr, scope)
            name = column.sql_name if joined and column is not None else \
                _derived_name(expr, scope)
            if name is None:
                while f"KSQL_COL_{generated}" in taken:
                    generated += 1
                name = f"KSQL_COL_{generated}"
                taken.add(name)
            key[i] = OutputColumn(Column(name, typed.type, KEY), typed)
    if any(out is None for out in key):
        from streamsql.expr.text import format_expr as format_expression
        relation = select.from_
        # ksqlDB names every partitioning expression, each column with its source: INPUT.ID
        qualifier = (relation.alias or relation.name) if isinstance(relation, ast.Table) else None
        texts = [format_expression(expr, qualifier=qualifier) for expr in partition_exprs]
        target = f"`{sink_name}`" if sink_name else "the sink"
        plural = "s" if len(texts) > 1 else ""
        raise StatementError(f"The query used to build {target} must include the partitioning "
                             f"expression{plural} {' and '.join(texts)} in its projection (eg, "
                             f"SELECT {', '.join(texts)}...).", partition_exprs[0].span)
    return list(key), value
