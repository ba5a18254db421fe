"""Logical plan -> physical plan: the batch SQL to run and the topics and serdes involved.

Produces plans only; it never runs them (no runtime, log or duckdb imports here).
"""
from __future__ import annotations

from dataclasses import dataclass

from streamsql import ast
from streamsql.analyzer.analyzer import ROW_INDEX
from streamsql.catalog import types as T
from streamsql.catalog.catalog import TABLE, DataSource
from streamsql.catalog.schema import Column
from streamsql.expr.compile import Scope, ScopeColumn, compile_expr, select_sql
from streamsql.functions.registry import FunctionRegistry
from streamsql.planner.logical import Filter, Project, Repartition, Sink, Source, chain

BATCH_RELATION = "batch"
PASSES = "$passes"  # over a table: whether the row passed WHERE


@dataclass(frozen=True)
class ProjectOperatorSpec:
    """Filter and project a decoded batch with one SQL statement over relation `batch`."""

    sql: str


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

    @property
    def output_columns(self) -> tuple[Column, ...]:
        return self.key + self.value


def plan_physical(logical: Sink, registry: FunctionRegistry) -> PhysicalPlan:
    nodes = chain(logical)
    source = next(n for n in nodes if isinstance(n, Source))
    project = next(n for n in nodes if isinstance(n, Project))
    where = next((n.predicate for n in nodes if isinstance(n, Filter)), None)
    repartitioned = any(isinstance(n, Repartition) for n in nodes)

    row_index = compile_expr(ast.ColumnRef(ROW_INDEX),
                             Scope([ScopeColumn(ROW_INDEX, T.BIGINT, ROW_INDEX)]), registry)
    projections = [(o.expr, o.column.name) for o in project.key + project.value]
    projections.append((row_index, ROW_INDEX))
    changelog = source.source.kind == TABLE
    if changelog and where is not None:
        # Every changelog record yields an output; the predicate decides upsert vs delete.
        projections.append((where, PASSES))
        where = None
    sql = select_sql(projections, BATCH_RELATION, where)
    return PhysicalPlan(source=source.source, project=ProjectOperatorSpec(sql),
                        key=tuple(o.column for o in project.key),
                        value=tuple(o.column for o in project.value),
                        repartitioned=repartitioned,
                        filtered=where is not None and not changelog, changelog=changelog,
                        sink=logical.target, limit=logical.limit,
                        logical=logical)
