"""Logical plan -> physical plan: the batch SQL to run and the topics and serdes involved.

Produces plans only; it never runs them (no runtime, log or duckdb imports here).
"""
from __future__ import annotations

from dataclasses import dataclass

from streamsql import ast
from streamsql.analyzer.analyzer import (JOIN_KEY, JOIN_ROWTIME, ROW_INDEX, TOMBSTONE,
                                         JoinAnalysis)
from streamsql.catalog import types as T
from streamsql.catalog.catalog import TABLE, DataSource
from streamsql.catalog.schema import ROWPARTITION, ROWTIME, Column
from streamsql.expr.compile import Scope, ScopeColumn, Typed, compile_expr, select_sql, to_sql
from streamsql.functions.registry import FunctionRegistry
from streamsql.analyzer.aggregates import WindowSpec, group_name
from streamsql.catalog.schema import WINDOWEND, WINDOWSTART
from streamsql.functions.casts import duckdb_type
from streamsql.functions.sqltree import try_where_possible
from streamsql.planner.logical import (Aggregate, Filter, Join, Project, Repartition, Sink, Source,
                                       chain)

BATCH_RELATION = "batch"
AGGREGATED_RELATION = "aggregated"
EVENT_TIME = "$ts"  # a record's time inside an aggregation
# A record's source partition inside an aggregation: in ksqlDB each partition is a task
# with its own stream time, so one partition's backlog does not make another's records late.
TASK = "$task"
# The partition a row was read from, where that is a repartition topic's (Kafka): the
# aggregation's task, while ROWPARTITION stays the source record's (runtime/repartition.py).
READ_PARTITION = "$partition"
PRESENT = "$present"  # over a table: the row exists (not deleted, passes WHERE)
MAX_TIME = "$maxts"  # the latest record time of a group (window) so far: its output time
OUTPUT_WINDOWSTART, OUTPUT_WINDOWEND = "$windowstart", "$windowend"
JOINED_RELATION = "joined"
OUTPUT_ROWTIME = "$rowtime"  # a join result's timestamp: the later of its two records'
DEFAULT_JOIN_GRACE_MS = 24 * 3_600_000  # ksqlDB's grace when a join names none
PASSES = "$passes"  # over a table: whether the row passed WHERE
SESSION_LIVE = "$live"  # a session row that is in the table (not merged away; passes HAVING)


@dataclass(frozen=True)
class ProjectOperatorSpec:
    """Filter and project a decoded (or joined) batch with one SQL statement."""

    sql: str
    relation: str = "batch"  # the name the SQL reads the batch under


@dataclass(frozen=True)
class SideSpec:
    """How one source's records become batch columns (prefixed with ALIAS_ in a join)."""

    source: DataSource
    prefix: str
    alias: str


@dataclass(frozen=True)
class JoinOperatorSpec:
    """Join each side's batch against the other side's state, in DuckDB.

    Stream-stream: both sides keep their records for the window; stream-table: the table
    side keeps its latest row per key and only stream records produce output.
    """

    kind: str  # INNER | LEFT, and for stream-stream joins RIGHT | FULL
    stream_table: bool
    before_ms: int
    after_ms: int
    retention_ms: int  # how long a stream side's records stay joinable
    key_sql: tuple[str, str]  # each side's join key over its own batch columns
    time_sql: tuple[str, str]  # each side's ROWTIME column
    state: tuple[str, str]  # each side's state table
    # windowed sources: each side's (WINDOWSTART, WINDOWEND) columns, which must match too
    window_sql: tuple[tuple[str, str], tuple[str, str]] | None = None
    grace_ms: int = DEFAULT_JOIN_GRACE_MS
    # stream-stream with an explicit GRACE PERIOD: an outer record without a match waits
    # for its window to close (Kafka Streams' rules since 3.1) instead of going out at once
    emit_on_close: bool = False


@dataclass(frozen=True)
class TableJoinOperatorSpec:
    """Join two tables' changelogs: each side keeps its latest row per key in DuckDB.

    A primary-key join matches rows with equal keys; a foreign-key join matches each left
    row to the right row its key expression names, so a right update fans out.
    """

    kind: str  # INNER | LEFT | RIGHT | FULL
    foreign_key: bool
    key_sql: tuple[str, str]  # left: join (or foreign) key expression; right: its key
    row_key_sql: tuple[str, str]  # each side's primary key over its own batch columns
    time_sql: tuple[str, str]  # each side's ROWTIME column
    state: tuple[str, str]  # each side's state table
    filtered: bool  # a WHERE clause: a change that passes it neither before nor after is dropped
    # a chain of three or more tables: the further steps, each joining the result of the
    # step before (its left side) with one more table (its right side)
    then: tuple["TableJoinOperatorSpec", ...] = ()


# Internal columns of a table-table join's rows, carried through the projection.
OLD_VERSION = "$old"  # the row as it was before the change (primary-key joins)
ROW_EXISTS = "$exists"  # the join has a row for the key in this version
FORWARDED = "$forwarded"  # the change reaches the output (before WHERE)
OUTPUT_ORDER = "$out"  # one number per output change, in output order


@dataclass(frozen=True)
class AggregateSpec:
    """One aggregate call: its accumulator templates and its argument columns."""

    fields: tuple[str, ...]
    accumulate: tuple[str, ...]
    merge: tuple[str, ...]
    final: str
    result_type: str  # DuckDB type of the final value
    args: tuple[str, ...]  # pre-projected argument columns
    ordered: bool = False  # the result depends on the rows' order (Accumulator.ordered)


@dataclass(frozen=True)
class AggregateOperatorSpec:
    """Running aggregation per group (and window) with the stored state in DuckDB."""

    pre_sql: str  # over `batch`: $row, $ts, the grouping columns and aggregate arguments
    groups: tuple[str, ...]
    aggregates: tuple[AggregateSpec, ...]
    window: WindowSpec | None
    state: str  # state table name
    every_update: bool  # cache off: one output per input record; on: latest per key
    having_sql: str | None = None  # over the aggregated row: does the group pass HAVING?
    # Over a table: the source's key columns ($k<i>); each update retracts the old row.
    source_keys: tuple[str, ...] = ()
    emit_final: bool = False  # EMIT FINAL: one row per window once it closes
    # Over `batch`: $row and the grouping columns of the rows that pass WHERE (over a
    # table, of every row, with $present); on Kafka a query that groups by something other
    # than its source's key sends each record to the partition of this key
    # (runtime/repartition.py).
    group_key_sql: str = ""
    # pre_sql for rows read from the repartition topic: their task is READ_PARTITION.
    pre_sql_after_repartition: str = ""


@dataclass(frozen=True)
class PhysicalPlan:
    source: DataSource
    project: ProjectOperatorSpec
    key: tuple[Column, ...]
    value: tuple[Column, ...]
    repartitioned: bool
    filtered: bool  # a WHERE clause: records without a value cannot pass it
    changelog: bool  # over a table: a row that fails WHERE (or has no value) deletes its key
    sink: DataSource | None
    limit: int | None
    logical: Sink
    sides: tuple[SideSpec, ...] = ()
    join: JoinOperatorSpec | TableJoinOperatorSpec | None = None
    aggregate: AggregateOperatorSpec | None = None
    keys_from_value: tuple[str, ...] = ()  # PARTITION BY keys null for a record without value

    @property
    def emits_changes(self) -> bool:
        """Outputs are changes of a result table (upsert or delete), not transformed records."""
        return self.aggregate is not None or isinstance(self.join, TableJoinOperatorSpec)

    @property
    def output_columns(self) -> tuple[Column, ...]:
        return self.key + self.value


def plan_physical(logical: Sink, registry: FunctionRegistry, query_id: str = "", *,
                  every_update: bool = True) -> PhysicalPlan:
    nodes = chain(logical)
    aggregate = next((n for n in nodes if isinstance(n, Aggregate)), None)
    if aggregate is not None:
        return _plan_aggregate(logical, nodes, aggregate, registry, query_id, every_update)
    source = next(n for n in nodes if isinstance(n, Source))
    join = next((n for n in nodes if isinstance(n, Join)), None)
    project = next(n for n in nodes if isinstance(n, Project))
    where = next((n.predicate for n in nodes if isinstance(n, Filter)), None)
    repartition = next((n for n in nodes if isinstance(n, Repartition)), None)
    repartitioned = repartition is not None

    internal = Scope([ScopeColumn(ROW_INDEX, T.BIGINT, ROW_INDEX),
                      ScopeColumn(JOIN_ROWTIME, T.BIGINT, JOIN_ROWTIME)])
    projections = [(o.expr, o.column.name) for o in project.key + project.value]
    if repartitioned:
        # A PARTITION BY expression that fails gives the record a NULL key (as in ksqlDB),
        # rather than dropping it.
        projections[:len(project.key)] = [(Typed(try_where_possible(o.expr.sql), o.expr.type),
                                           o.column.name) for o in project.key]
    projections.append((compile_expr(ast.ColumnRef(ROW_INDEX), internal, registry), ROW_INDEX))
    changelog = source.source.kind == TABLE
    if changelog and where is not None:
        # Every changelog record yields an output; the predicate decides upsert vs delete.
        projections.append((where, PASSES))
        where = None
    sides = (SideSpec(source.source, "", source.alias),)
    join_spec = None
    relation = BATCH_RELATION
    if join is not None:
        projections.append((compile_expr(ast.ColumnRef(JOIN_ROWTIME), internal, registry),
                            OUTPUT_ROWTIME))
        spec = join.spec
        further = [n.spec for n in nodes if isinstance(n, Join) and n is not join]
        sides = tuple(SideSpec(s.source, s.prefix, s.alias)
                      for s in [spec.left, spec.right] + [j.right for j in further])
        if spec.table_table:
            # A foreign-key change has no before-image here: WHERE decides upsert or delete.
            join_spec = _table_join_spec(spec, query_id, filtered=not spec.foreign_key and
                                         PASSES in (alias for _, alias in projections),
                                         further=further)
            projections += [(compile_expr(ast.ColumnRef(name), Scope([ScopeColumn(
                name, T.BIGINT if name == OUTPUT_ORDER else T.BOOLEAN, name)]), registry), name)
                for name in (OLD_VERSION, ROW_EXISTS, FORWARDED, OUTPUT_ORDER)]
        else:
            join_spec = _join_spec(spec, query_id)
            if join_spec.window_sql is not None:
                # Windowed sources join window to window: the result keeps the window.
                bounds = zip(join_spec.window_sql[0], (OUTPUT_WINDOWSTART, OUTPUT_WINDOWEND))
                projections += [(compile_expr(ast.ColumnRef(column), Scope(
                    [ScopeColumn(column, T.BIGINT, column)]), registry), name)
                    for column, name in bounds]
        relation = JOINED_RELATION
    sql = select_sql(projections, relation, where)
    return PhysicalPlan(source=source.source, project=ProjectOperatorSpec(sql, relation),
                        key=tuple(o.column for o in project.key),
                        value=tuple(o.column for o in project.value),
                        repartitioned=repartitioned,
                        filtered=where is not None and not changelog, changelog=changelog,
                        sink=logical.target, limit=logical.limit,
                        logical=logical, sides=sides, join=join_spec,
                        keys_from_value=repartition.keys_from_value if repartition else ())


def _plan_aggregate(logical: Sink, nodes, node: "Aggregate", registry: FunctionRegistry,
                    query_id: str, every_update: bool) -> PhysicalPlan:
    analysis = node.analysis
    source = next(n for n in nodes if isinstance(n, Source))
    project = next(n for n in nodes if isinstance(n, Project))
    internal = Scope([ScopeColumn(ROW_INDEX, T.BIGINT, ROW_INDEX),
                      ScopeColumn(ROWTIME, T.BIGINT, ROWTIME),
                      ScopeColumn(ROWPARTITION, T.INTEGER, ROWPARTITION),
                      ScopeColumn(READ_PARTITION, T.INTEGER, READ_PARTITION),
                      ScopeColumn(MAX_TIME, T.BIGINT, MAX_TIME),
                      ScopeColumn(WINDOWSTART, T.BIGINT, WINDOWSTART),
                      ScopeColumn(WINDOWEND, T.BIGINT, WINDOWEND)])

    def ref(name: str):
        return compile_expr(ast.ColumnRef(name), internal, registry)

    join = analysis.join
    time, task = ref(ROWTIME), ref(ROWPARTITION)
    if join is not None:
        # A join's row has the time the join gave it and the partition of whichever side
        # it has (both sides' partitions are co-partitioned, so either names the task).
        sides = Scope([ScopeColumn(f"${n}", T.INTEGER, side.sql_name(ROWPARTITION))
                       for n, side in enumerate((join.left, join.right))])
        time = compile_expr(ast.ColumnRef(JOIN_ROWTIME), Scope(
            [ScopeColumn(JOIN_ROWTIME, T.BIGINT, JOIN_ROWTIME)]), registry)
        task = compile_expr(ast.FunctionCall("COALESCE", (ast.ColumnRef("$0"),
                                                          ast.ColumnRef("$1"))), sides, registry)
    elif analysis.source.kind == TABLE or not _groups_by_source_key(analysis, registry):
        # Groups that ksqlDB brings together through a repartition topic (on Kafka: the
        # partition read from it, pre_sql_after_repartition) are, in process, one task:
        # one stream time, not that of whichever source partition a record came from.
        task = compile_expr(ast.IntegerLiteral(0), internal, registry)
    pre = [(ref(ROW_INDEX), ROW_INDEX), (time, EVENT_TIME), (task, TASK)]
    # A record whose grouping expression fails gets a NULL key, which leaves it out (as
    # ksqlDB skips it) instead of failing the batch.
    groups = [(Typed(try_where_possible(g.sql), g.type), group_name(i))
              for i, g in enumerate(analysis.group_by)]
    pre += groups
    specs = []
    over_table = analysis.source.kind == TABLE
    for i, call in enumerate(analysis.aggregates):
        names = tuple(f"$x{i}_{j}" for j in range(len(call.args)))
        pre += list(zip(call.args, names))
        acc = call.accumulator
        merge = (acc.undo_merge or acc.merge) if over_table else acc.merge
        specs.append(AggregateSpec(acc.fields, acc.undo if over_table else acc.accumulate,
                                   merge, acc.final, duckdb_type(acc.type).sql("duckdb"), names,
                                   acc.ordered))
    where = analysis.where
    source_keys: tuple[str, ...] = ()
    if over_table:
        # A table row that is deleted, or fails WHERE, is absent: it only retracts.
        keys = _table_row_keys(analysis, registry)
        source_keys = tuple(f"$k{i}" for i in range(len(keys)))
        pre += list(zip(keys, source_keys))
        present = ast.UnaryOp("NOT", ast.ColumnRef(TOMBSTONE))
        if analysis.select.where is not None:
            present = ast.BinaryOp("AND", present, analysis.select.where)
        scope = Scope(list(analysis.scope.columns) + [ScopeColumn(TOMBSTONE, T.BOOLEAN,
                                                                  TOMBSTONE)])
        pre.append((compile_expr(present, scope, registry), PRESENT))
        where = None
    pre_sql = select_sql(pre, BATCH_RELATION, where)
    # Over a table the repartition step also needs whether each row is present.
    group_key_sql = select_sql([(ref(ROW_INDEX), ROW_INDEX)] + groups +
                               [(typed, alias) for typed, alias in pre if alias == PRESENT],
                               BATCH_RELATION, where)
    after_repartition = select_sql([(ref(READ_PARTITION), TASK) if alias == TASK else
                                    (typed, alias) for typed, alias in pre], BATCH_RELATION, where)

    post = [(o.expr, o.column.name) for o in project.key + project.value]
    post += [(ref(ROW_INDEX), ROW_INDEX), (ref(MAX_TIME), OUTPUT_ROWTIME)]
    if analysis.window is not None:
        post += [(ref(WINDOWSTART), OUTPUT_WINDOWSTART), (ref(WINDOWEND), OUTPUT_WINDOWEND)]
    if analysis.window is not None and analysis.window.kind == "SESSION":
        # A merged-away session is deleted (a tombstone); the operator applies HAVING too.
        live = Scope([ScopeColumn(SESSION_LIVE, T.BOOLEAN, SESSION_LIVE)])
        post.append((compile_expr(ast.ColumnRef(SESSION_LIVE), live, registry), PASSES))
    elif analysis.having is not None:
        post.append((analysis.having, PASSES))
    name = "".join(ch if ch.isalnum() else "_" for ch in query_id or "transient")
    spec = AggregateOperatorSpec(pre_sql, tuple(group_name(i) for i in
                                                range(len(analysis.group_by))),
                                 tuple(specs), analysis.window, f"agg_{name}", every_update,
                                 to_sql(analysis.having.sql) if analysis.having else None,
                                 source_keys, analysis.emit_final, group_key_sql,
                                 after_repartition)
    return PhysicalPlan(source=source.source,
                        project=ProjectOperatorSpec(select_sql(post, AGGREGATED_RELATION),
                                                    AGGREGATED_RELATION),
                        key=tuple(o.column for o in project.key),
                        value=tuple(o.column for o in project.value),
                        repartitioned=over_table or not _groups_by_source_key(analysis,
                                                                               registry),
                        filtered=not over_table, changelog=False,
                        sink=logical.target, limit=logical.limit, logical=logical,
                        sides=tuple(SideSpec(s.source, s.prefix, s.alias)
                                    for s in analysis.sides), aggregate=spec,
                        join=_aggregated_join_spec(join, query_id))


def _table_row_keys(analysis, registry: FunctionRegistry) -> list[Typed]:
    """The primary key of the table rows an aggregation reads: its source's key columns, or
    a table-table join's key (a foreign-key join's rows are the left table's rows)."""
    join = analysis.join
    if join is not None and not join.foreign_key:
        return [compile_expr(ast.ColumnRef(JOIN_KEY), Scope(
            [ScopeColumn(JOIN_KEY, join.left_key.type, JOIN_KEY)]), registry)]
    side = join.left if join is not None else analysis.side
    return [compile_expr(ast.ColumnRef(c.name, side.alias), analysis.scope, registry)
            for c in side.source.schema.key]


def _groups_by_source_key(analysis, registry: FunctionRegistry) -> bool:
    """GROUP BY names the source's key columns, in key order: each group's records are
    already in one source partition (as in ksqlDB, any other grouping repartitions)."""
    if analysis.join is not None:
        return False  # a join's result is keyed by the join, not by a source's key
    key = analysis.source.schema.key
    return len(analysis.group_by) == len(key) and all(
        to_sql(group.sql) == to_sql(compile_expr(ast.ColumnRef(column.name), analysis.scope,
                                                 registry).sql)
        for group, column in zip(analysis.group_by, key))


def _aggregated_join_spec(join: JoinAnalysis | None, query_id: str
                          ) -> JoinOperatorSpec | TableJoinOperatorSpec | None:
    """The join an aggregation reads, if any (WHERE applies in the aggregation)."""
    if join is None:
        return None
    if join.table_table:
        return _table_join_spec(join, query_id, filtered=False, further=[])
    return _join_spec(join, query_id)


def _join_spec(spec: JoinAnalysis, query_id: str) -> JoinOperatorSpec:
    within = spec.within
    before = within.before.millis if within else 0
    after = within.after.millis if within else 0
    grace = within.grace.millis if within and within.grace else DEFAULT_JOIN_GRACE_MS
    name = "".join(ch if ch.isalnum() else "_" for ch in query_id or "transient")
    return JoinOperatorSpec(
        kind=spec.kind, stream_table=spec.right.source.kind == TABLE,
        before_ms=before, after_ms=after, retention_ms=max(before, after) + grace,
        key_sql=(to_sql(spec.left_key.sql), to_sql(spec.right_key.sql)),
        time_sql=(spec.left.sql_name(ROWTIME), spec.right.sql_name(ROWTIME)),
        state=(f"join_{name}_left", f"join_{name}_right"),
        window_sql=tuple((side.sql_name(WINDOWSTART), side.sql_name(WINDOWEND))
                         for side in (spec.left, spec.right))
        if spec.left.source.window is not None else None,
        grace_ms=grace,
        emit_on_close=within is not None and within.grace is not None and
        spec.left.source.window is None)


def _table_join_spec(spec: JoinAnalysis, query_id: str, *, filtered: bool,
                     further: list[JoinAnalysis]) -> TableJoinOperatorSpec:
    name = "".join(ch if ch.isalnum() else "_" for ch in query_id or "transient")

    def row_key(side) -> str:
        columns = [_quoted(side.sql_name(c.name)) for c in side.source.schema.key]
        return columns[0] if len(columns) == 1 else f"row({', '.join(columns)})"

    # Step n of a chain joins the result so far, keyed by its join key, with one more table.
    then = tuple(TableJoinOperatorSpec(
        kind=step.kind, foreign_key=False,
        key_sql=(_quoted(chain_key(n)), to_sql(step.right_key.sql)),
        row_key_sql=(_quoted(chain_key(n)), row_key(step.right)),
        time_sql=(chain_rowtime(n), step.right.sql_name(ROWTIME)),
        state=(f"tjoin_{name}_{n}_left", f"tjoin_{name}_{n}_right"), filtered=False)
        for n, step in enumerate(further, start=1))
    return TableJoinOperatorSpec(
        kind=spec.kind, foreign_key=spec.foreign_key,
        key_sql=(to_sql(spec.left_key.sql), to_sql(spec.right_key.sql)),
        row_key_sql=(row_key(spec.left), row_key(spec.right)),
        time_sql=(spec.left.sql_name(ROWTIME), spec.right.sql_name(ROWTIME)),
        state=(f"tjoin_{name}_left", f"tjoin_{name}_right"), filtered=filtered, then=then)


def chain_key(step: int) -> str:
    """The join key of the result a chain's step `step` starts from."""
    return f"$key{step}"


def chain_rowtime(step: int) -> str:
    """The time of the result a chain's step `step` starts from."""
    return f"$rowtime{step}"


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
