"""GROUP BY / HAVING / WINDOW analysis: grouping keys, aggregate calls, and the projection.

The projection and HAVING are rewritten over the aggregation's own columns: `$g<i>` for
the i-th grouping expression, `$a<i>` for the i-th aggregate call, and WINDOWSTART /
WINDOWEND; a reference to anything else is an error, as in ksqlDB.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace

from streamsql import ast
from streamsql.analyzer.analyzer import (RESERVED_NAMES, JoinAnalysis, OutputColumn, Side,
                                         _assign_names, _compile, _resolved, given_name,
                                         query_scope)
from streamsql.catalog import types as T
from streamsql.catalog.catalog import STREAM, Catalog
from streamsql.catalog.schema import KEY, VALUE, WINDOWEND, WINDOWSTART, Column, LogicalSchema
from streamsql.errors import NotSupportedError, StatementError
from streamsql.expr.compile import Scope, ScopeColumn, Typed
from streamsql.functions.aggregates import NOT_LITERAL, Accumulator, AggregateFunction, Arg
from streamsql.expr.text import format_expr
from streamsql.functions.registry import FunctionRegistry
from streamsql.functions.table import is_table_function

DEFAULT_GRACE_MS = 24 * 3_600_000  # ksqlDB's grace period when a window names none


@dataclass(frozen=True)
class AggregateCall:
    function: AggregateFunction
    args: tuple[Typed, ...]
    accumulator: Accumulator

    @property
    def type(self) -> T.SqlType:
        return self.accumulator.type


@dataclass(frozen=True)
class WindowSpec:
    kind: str  # TUMBLING | HOPPING | SESSION
    size_ms: int  # the gap for SESSION
    advance_ms: int
    grace_ms: int
    retention_ms: int


@dataclass(frozen=True)
class AggregateAnalysis:
    side: Side
    scope: Scope
    where: Typed | None
    group_by: tuple[Typed, ...]
    aggregates: tuple[AggregateCall, ...]
    window: WindowSpec | None
    emit_final: bool  # one result per window, when it closes
    key: tuple[OutputColumn, ...]  # over the aggregation scope ($g, $a, window bounds)
    value: tuple[OutputColumn, ...]
    having: Typed | None
    limit: int | None
    select: ast.Select
    order: tuple[str, ...] = ()  # the output column names in SELECT order
    join: JoinAnalysis | None = None  # the aggregation reads a join's rows

    @property
    def source(self):
        return self.side.source

    @property
    def sides(self) -> tuple[Side, ...]:
        return (self.join.left, self.join.right) if self.join is not None else (self.side,)

    @property
    def window_info(self):
        from streamsql.catalog.schema import WindowInfo
        if self.window is None:
            return None
        return WindowInfo(self.window.kind, None if self.window.kind == "SESSION"
                          else self.window.size_ms)

    @property
    def schema(self) -> LogicalSchema:
        return LogicalSchema(tuple(o.column for o in self.key + self.value))

    @property
    def result_kind(self) -> str:
        return "TABLE"


def group_name(i: int) -> str:
    return f"$g{i}"


def aggregate_name(i: int) -> str:
    return f"$a{i}"


def _window_spec(window: ast.WindowExpr, emit_final: bool) -> WindowSpec:
    # EMIT FINAL without a grace period emits as soon as the window ends (ksqlDB's behaviour).
    default_grace = 0 if emit_final else DEFAULT_GRACE_MS
    grace = window.grace.millis if window.grace is not None else default_grace
    if isinstance(window, ast.TumblingWindow):
        kind, size, advance = "TUMBLING", window.size.millis, window.size.millis
    elif isinstance(window, ast.HoppingWindow):
        kind, size, advance = "HOPPING", window.size.millis, window.advance.millis
        if advance <= 0 or advance > size:
            raise StatementError("Window advance must be positive and no larger than the window "
                                 "size", window.span)
    else:
        kind, size, advance = "SESSION", window.gap.millis, 0
    retention = window.retention.millis if window.retention is not None else 0
    if retention and retention < size + grace:
        raise StatementError(f"Retention must be at least window size plus grace period: "
                             f"retention {retention} ms < {size + grace} ms", window.span)
    return WindowSpec(kind, size, advance, grace, max(retention, size + grace))


class _Rewriter:
    """Replaces aggregate calls and grouping expressions with the aggregation's columns."""

    def __init__(self, group_by: list[ast.Expr], scope: Scope, registry: FunctionRegistry,
                 settings):
        self.settings = settings
        self.group_by = group_by
        self.scope = scope
        self.registry = registry
        self.calls: list[AggregateCall] = []
        self.call_nodes: list[ast.FunctionCall] = []
        self.loose: list[ast.Expr] = []  # non-aggregate references outside GROUP BY

    def _same(self, a: ast.Expr, b: ast.Expr) -> bool:
        ra, rb = _resolved(a, self.scope), _resolved(b, self.scope)
        if ra is not None or rb is not None:
            return ra is not None and rb is not None and ra.sql_name == rb.sql_name
        return a == b

    def rewrite(self, expr: ast.Expr, top: ast.Expr | None = None) -> ast.Expr:
        for i, group in enumerate(self.group_by):
            if self._same(expr, group):
                return ast.ColumnRef(group_name(i), span=expr.span)
        if isinstance(expr, ast.FunctionCall):
            if self.registry.aggregate(expr.name) is not None:
                return ast.ColumnRef(aggregate_name(self._call(expr)), span=expr.span)
            self.registry.lookup(expr.name, expr.span)  # an unknown function is named first
        if isinstance(expr, ast.ColumnRef):
            if expr.name not in (WINDOWSTART, WINDOWEND) or expr.source is not None:
                self.loose.append(top if top is not None else expr)
            return expr
        changes = {}
        for f in fields(expr):
            if f.name == "span":
                continue
            value = getattr(expr, f.name)
            if isinstance(value, ast.Expr):
                changes[f.name] = self.rewrite(value, top)
            elif isinstance(value, tuple) and value and all(isinstance(v, ast.Node) for v in value):
                changes[f.name] = tuple(self._rewrite_node(v, top) for v in value)
            elif isinstance(value, ast.Node):
                changes[f.name] = self._rewrite_node(value, top)
        return replace(expr, **changes) if changes else expr

    def _rewrite_node(self, node: ast.Node, top):
        if isinstance(node, ast.Expr):
            return self.rewrite(node, top)
        changes = {f.name: self.rewrite(getattr(node, f.name), top) for f in fields(node)
                   if f.name != "span" and isinstance(getattr(node, f.name), ast.Expr)}
        return replace(node, **changes) if changes else node

    def _call(self, node: ast.FunctionCall) -> int:
        for i, seen in enumerate(self.call_nodes):
            if seen == node:
                return i
        function = self.registry.aggregate(node.name)
        for arg in node.args:
            for nested in _function_calls(arg):
                if self.registry.aggregate(nested.name) is not None:
                    raise StatementError(f"Aggregate functions can not be nested: {node.name}"
                                         f"({nested.name}())", node.span)
        args = tuple(_compile(arg, self.scope, self.registry, "SELECT") for arg in node.args)
        described = [Arg(typed.type, _literal(arg), format_expr(arg))
                     for typed, arg in zip(args, node.args)]
        accumulator = function.accumulator(described, node.span, self.settings)
        self.calls.append(AggregateCall(function, args, accumulator))
        self.call_nodes.append(node)
        return len(self.calls) - 1


def _in_query_terms(err: StatementError, rewriter: _Rewriter) -> StatementError:
    """The error with the aggregation's own columns (`$a0`) named as the query wrote them
    (SUM(VALUE)), as ksqlDB's messages do: a join's columns by their joined names (I1_BAR)."""
    joined_name = rewriter.scope.sql_name
    message = err.message
    for i, node in enumerate(rewriter.call_nodes):
        message = message.replace(f"`{aggregate_name(i)}`", format_expr(node, joined_name))
    for i, group in enumerate(rewriter.group_by):
        message = message.replace(f"`{group_name(i)}`", format_expr(group, joined_name))
    return StatementError(message, err.span, err.diagnostic.hint, statement=err.statement)


def _literal(expr: ast.Expr):
    if isinstance(expr, (ast.IntegerLiteral, ast.BooleanLiteral, ast.StringLiteral)):
        return expr.value
    if isinstance(expr, ast.UnaryOp) and expr.op == "-" and isinstance(expr.operand,
                                                                      ast.IntegerLiteral):
        return -expr.operand.value
    return NOT_LITERAL


def _function_calls(expr: ast.Node):
    return (node for node in ast.walk(expr) if isinstance(node, ast.FunctionCall))


def _calls_table_function(select: ast.Select, registry: FunctionRegistry) -> bool:
    return any(is_table_function(registry, call.name) for item in select.items
               if isinstance(item, ast.SingleColumn) for call in _function_calls(item.expr))


def is_aggregation(select: ast.Select, registry: FunctionRegistry) -> bool:
    if select.group_by or select.window is not None or select.having is not None:
        return True
    return any(isinstance(item, ast.SingleColumn) and any(
        registry.aggregate(call.name) is not None for call in _function_calls(item.expr))
        for item in select.items)


def analyze_aggregation(select: ast.Select, catalog: Catalog, registry: FunctionRegistry, *,
                        sink_name: str | None, settings=None,
                        persistent: bool = True) -> AggregateAnalysis:
    """`persistent`: the result becomes a table, so its projection must name every grouping
    expression and some value; a push query's rows need neither, nor a GROUP BY."""
    from streamsql.analyzer.analyzer import _sides
    from streamsql.expr.text import format_expr as format_expression

    if _calls_table_function(select, registry):
        raise StatementError("Table functions cannot be used with aggregations.", select.span)
    sides = _sides(select, catalog)
    if len(sides) > 2:
        raise NotSupportedError("aggregations over joins of more than two sources are not "
                                "supported yet", select.span)
    scope, join, _ = query_scope(select, sides, registry)
    side = sides[0]  # a join's left side: a table's kind is the join's
    over_table = side.source.kind != STREAM
    group_exprs = list(select.group_by)
    if not group_exprs:
        _reject_missing_group_by(select, registry, persistent)
        group_exprs = [ast.IntegerLiteral(0)]  # a push query's one global group
    if any(s.source.window is not None for s in sides):
        raise NotSupportedError("aggregations over windowed sources are not supported yet",
                                select.span)
    window = _window_spec(select.window, select.emit == "FINAL") \
        if select.window is not None else None
    if select.emit == "FINAL" and window is None:
        raise StatementError("EMIT FINAL is only supported for windowed aggregations.",
                             select.span)
    where = None
    if select.where is not None:
        _reject_window_bounds(select.where, side,
                              "Error in WHERE expression: Unknown column {name}.")
        where = _compile(select.where, scope, registry, "WHERE")
    for i, expr in enumerate(group_exprs):
        if any(_same_ref(expr, other, scope) for other in group_exprs[:i]):
            raise StatementError(f"Duplicate GROUP BY expression: "
                                 f"{format_expression(_qualified(expr, side))}", expr.span)
    if side.source.value_format.name == "KAFKA" and side.source.schema.value:
        raise StatementError(f"Source(s) {side.source.name} are using the 'KAFKA' value format. "
                             "This format does not yet support GROUP BY.", select.span)
    for expr in group_exprs:
        calls = [c.name for c in _function_calls(expr) if registry.aggregate(c.name) is not None]
        if calls:
            name = calls[0]
            raise StatementError(f"GROUP BY does not support aggregate functions: {name} is an "
                                 "aggregate function.", expr.span)
    expanded = list(_expand_star(select.items, sides))
    _reject_reserved_names(expanded, persistent)  # before GROUP BY names them, as ksqlDB does
    group_by = tuple(_compile(e, scope, registry, "GROUP BY") for e in group_exprs)

    rewriter = _Rewriter(group_exprs, scope, registry, settings or {})
    items: list[tuple[str | None, ast.Expr, ast.Expr]] = []  # (name, original, rewritten)
    for item in expanded:
        items.append((item.alias, item.expr, rewriter.rewrite(item.expr, item.expr)))
    if rewriter.loose and rewriter.calls:
        shown = ", ".join(dict.fromkeys(format_expression(e) for e in rewriter.loose))
        raise StatementError(f"Non-aggregate SELECT expression(s) not part of GROUP BY: {shown}"
                             "\nEither add the column(s) to the GROUP BY or remove them from the "
                             "SELECT.", select.span)
    having_rewritten = None
    if select.having is not None:
        if window is not None:
            _reject_window_bounds(select.having, side, "Window bounds column {name} can only be "
                                  "used in the SELECT clause of windowed aggregations")
        having_rewritten = rewriter.rewrite(select.having)
        if rewriter.loose:
            shown = ", ".join(dict.fromkeys(format_expression(e) for e in rewriter.loose))
            raise StatementError(f"Non-aggregate HAVING expression not part of GROUP BY: {shown}"
                                 "\nEither add the column to the GROUP BY or remove it from the "
                                 "HAVING.", select.having.span)
    if not rewriter.calls:
        raise StatementError("GROUP BY requires aggregate functions in either the SELECT or "
                             "HAVING clause.", select.span)
    if over_table:
        if window is not None:
            raise NotSupportedError("windowed aggregations over tables are not supported yet",
                                    select.window.span)
        stream_only = [c.function.name for c in rewriter.calls if c.accumulator.undo is None]
        if stream_only:
            names = list(dict.fromkeys(stream_only))
            listed = ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0]
            raise StatementError(f"The aggregation function{'s' if len(names) > 1 else ''} "
                                 f"{listed} cannot be applied to a table source, only to a "
                                 "stream source.", select.span)

    agg_scope_columns = [ScopeColumn(group_name(i), g.type, group_name(i))
                         for i, g in enumerate(group_by)]
    agg_scope_columns += [ScopeColumn(aggregate_name(i), c.type, aggregate_name(i))
                          for i, c in enumerate(rewriter.calls)]
    if window is not None and join is None:
        # Over a join ksqlDB does not resolve the window bounds (its issue 5931).
        agg_scope_columns += [ScopeColumn(WINDOWSTART, T.BIGINT, WINDOWSTART),
                              ScopeColumn(WINDOWEND, T.BIGINT, WINDOWEND)]
    agg_scope = Scope(agg_scope_columns)

    typed_items = []
    for alias, original, rewritten in items:
        typed = _compile(rewritten, agg_scope, registry, "SELECT")
        derived = given_name(None, original, scope)
        if derived is None and isinstance(original, ast.ColumnRef) and \
                original.name in (WINDOWSTART, WINDOWEND):
            derived = original.name  # a push query's own window bounds
        typed_items.append((alias or derived, original, typed, rewritten))
    names = _assign_names([(n, o, t) for n, o, t, _ in typed_items], scope)

    key: list[OutputColumn | None] = [None] * len(group_by)
    value: list[OutputColumn] = []
    for (_, _, typed, rewritten), name in zip(typed_items, names):
        index = _group_index(rewritten)
        if index is not None and key[index] is None:
            key[index] = OutputColumn(Column(name, typed.type, KEY), typed)
        elif index is not None:
            raise StatementError(f"The projection contains a key column more than once: "
                                 f"`{key[index].column.name}` and `{name}`.", select.span)
        else:
            value.append(OutputColumn(Column(name, typed.type, VALUE), typed))
    value_names = [o.column.name for o in value]
    for out in value:
        if value_names.count(out.column.name) > 1 or any(
                k is not None and k.column.name == out.column.name for k in key):
            raise StatementError(f"Duplicate value columns found in schema: "
                                 f"`{out.column.name}` {out.column.type.sql()}", select.span)
    missing = [format_expression(group_exprs[i]) for i, k in enumerate(key) if k is None]
    if missing and persistent:
        target = f"`{sink_name}`" if sink_name else "the sink"
        if len(missing) == 1:
            raise StatementError(f"The query used to build {target} must include the grouping "
                                 f"expression {missing[0]} in its projection (eg, SELECT "
                                 f"{missing[0]}...).", select.span)
        listed = ", ".join(missing[:-1]) + " and " + missing[-1]
        raise StatementError(f"The query used to build {target} must include the grouping "
                             f"expressions {listed} in its projection (eg, SELECT "
                             f"{', '.join(missing)}...).", select.span)
    if not value and persistent:
        raise StatementError("The projection contains no value columns.", select.span)

    having = None
    if having_rewritten is not None:
        try:
            having = _compile(having_rewritten, agg_scope, registry, "HAVING")
        except StatementError as err:
            raise _in_query_terms(err, rewriter) from None
        if having.type != T.BOOLEAN:
            raise StatementError("Type error in HAVING expression: Should evaluate to boolean "
                                 f"but is {format_expression(select.having)} "
                                 f"({having.type.sql() if having.type else 'null'}) instead.",
                                 select.having.span)
    return AggregateAnalysis(side, scope, where, group_by, tuple(rewriter.calls), window,
                             select.emit == "FINAL", tuple(k for k in key if k is not None),
                             tuple(value), having, select.limit, select, tuple(names), join)


def _reject_reserved_names(items: list[ast.SingleColumn], persistent: bool) -> None:
    """A pseudo column or window bound needs an alias (a push query may show its bounds)."""
    for item in items:
        if item.alias is not None and item.alias in RESERVED_NAMES:
            raise StatementError(f"`{item.alias}` is a reserved column name. You cannot use it "
                                 "as an alias for a column.", item.span)
        if item.alias is None and isinstance(item.expr, ast.ColumnRef) and \
                item.expr.name in RESERVED_NAMES and \
                (persistent or item.expr.name not in (WINDOWSTART, WINDOWEND)):
            raise StatementError(f"Reserved column name in select: `{item.expr.name}`. Please "
                                 "remove or alias the column.", item.span)


def _reject_window_bounds(expr: ast.Expr, side: Side, message: str) -> None:
    """WINDOWSTART/WINDOWEND of the aggregation's own window exist only after it, so only
    its projection can use them (a windowed source's own bounds are columns like any)."""
    if side.source.window is not None:
        return
    for node in ast.walk(expr):
        if isinstance(node, ast.ColumnRef) and node.name in (WINDOWSTART, WINDOWEND):
            raise StatementError(message.format(name=node.name), node.span)


def _reject_missing_group_by(select: ast.Select, registry: FunctionRegistry,
                             persistent: bool) -> None:
    """Aggregates without GROUP BY: ksqlDB's errors, in its order. A push query may
    aggregate its whole input as one group."""
    from streamsql.expr.text import format_expr

    exprs = [item.expr for item in select.items if isinstance(item, ast.SingleColumn)]
    calls_of = [[c for c in _function_calls(e) if registry.aggregate(c.name) is not None]
                for e in exprs]
    plain = [e for e, calls in zip(exprs, calls_of) if not calls]
    # A projection that mixes aggregates with other columns is reported before the window.
    if select.window is not None and not (plain and len(plain) < len(exprs)):
        raise StatementError("WINDOW clause requires a GROUP BY clause.", select.window.span)
    if plain:
        raise StatementError("Non-aggregate SELECT expression(s) not part of GROUP BY: "
                             f"{', '.join(format_expr(e) for e in plain)}", select.span)
    if not persistent:
        return
    shown = ", ".join(f"{c.name}({', '.join(format_expr(a) for a in c.args) or 'ROWTIME'})"
                      for calls in calls_of for c in calls)
    raise StatementError("CREATE TABLE AS SELECT statement does not support aggregate function "
                         f"[{shown}] without a GROUP BY clause.", select.span)


def _expand_star(items, sides: tuple[Side, ...]):
    """SELECT * with GROUP BY lists every column (key first, each side's in a join);
    grouping decides what is valid."""
    joined = len(sides) > 1
    for item in items:
        if isinstance(item, ast.AllColumns):
            chosen = [s for s in sides if item.source in (None, s.alias, s.source.name)]
            if not chosen:
                raise StatementError(f"'{item.source}' is not a valid stream/table name or alias.",
                                     item.span)
            for side in chosen:
                schema = side.source.schema
                for col in schema.key + tuple(c for c in schema.columns if c.role != KEY):
                    ref = ast.ColumnRef(col.name, side.alias if joined else None)
                    yield ast.SingleColumn(ref, span=item.span)
        elif isinstance(item, ast.SingleColumn):
            yield item
        else:
            raise NotSupportedError("struct `->*` is not supported with GROUP BY", item.span)


def _same_ref(a: ast.Expr, b: ast.Expr, scope: Scope) -> bool:
    ra, rb = _resolved(a, scope), _resolved(b, scope)
    if ra is not None or rb is not None:
        return ra is not None and rb is not None and ra.sql_name == rb.sql_name
    return a == b


def _qualified(expr: ast.Expr, side: Side) -> ast.Expr:
    if isinstance(expr, ast.ColumnRef) and expr.source is None:
        return ast.ColumnRef(expr.name, side.source.name)
    return expr


def _group_index(rewritten: ast.Expr) -> int | None:
    if isinstance(rewritten, ast.ColumnRef) and rewritten.name.startswith("$g"):
        return int(rewritten.name[2:])
    return None
