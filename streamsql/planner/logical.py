"""Logical plan nodes (immutable) and the builder from an analysis.

A plan is a chain Source -> [Filter] -> Project -> [Repartition] -> Sink. It names what
happens, not how: the physical planner decides the SQL and the state each step needs.
"""
from __future__ import annotations

from dataclasses import dataclass

from streamsql.analyzer.aggregates import AggregateAnalysis
from streamsql.analyzer.analyzer import JoinAnalysis, OutputColumn, QueryAnalysis
from streamsql.catalog.catalog import DataSource
from streamsql.expr.compile import Typed


class LogicalNode:
    """Base of logical plan nodes; each has `input`, the upstream node (None for Source)."""


@dataclass(frozen=True)
class Source(LogicalNode):
    source: DataSource
    alias: str
    input: LogicalNode | None = None


@dataclass(frozen=True)
class Join(LogicalNode):
    """Two sources joined on their key expressions (the left source, or in a chain of
    joins the join before, is `input`)."""

    input: "Source | Join"
    right: Source
    spec: JoinAnalysis


@dataclass(frozen=True)
class Filter(LogicalNode):
    input: LogicalNode
    predicate: Typed
    text: str


@dataclass(frozen=True)
class Project(LogicalNode):
    input: LogicalNode
    key: tuple[OutputColumn, ...]
    value: tuple[OutputColumn, ...]


@dataclass(frozen=True)
class Aggregate(LogicalNode):
    """GROUP BY (optionally windowed): one updated row per input record and window."""

    input: LogicalNode
    analysis: AggregateAnalysis


@dataclass(frozen=True)
class Repartition(LogicalNode):
    input: LogicalNode
    key_names: tuple[str, ...]
    keys_from_value: tuple[str, ...] = ()  # null for a record without a value


@dataclass(frozen=True)
class Sink(LogicalNode):
    """Output: a topic of a catalog source, or (target None) the client of a push query."""

    input: LogicalNode
    target: DataSource | None
    limit: int | None = None


def build_logical_plan(analysis: QueryAnalysis | AggregateAnalysis,
                       sink: DataSource | None) -> Sink:
    from streamsql.sqlformat import format_expression

    if isinstance(analysis, AggregateAnalysis):
        node: LogicalNode = Source(analysis.source, analysis.side.alias)
        if analysis.join is not None:
            node = Join(node, Source(analysis.join.right.source, analysis.join.right.alias),
                        analysis.join)
        if analysis.where is not None:
            node = Filter(node, analysis.where, format_expression(analysis.select.where))
        node = Aggregate(node, analysis)
        if analysis.having is not None:
            node = Filter(node, analysis.having, format_expression(analysis.select.having))
        node = Project(node, analysis.key, analysis.value)
        return Sink(node, sink, analysis.limit)

    sides = [Source(side.source, side.alias) for side in analysis.sides]
    node: LogicalNode = sides[0]
    if analysis.join is not None:
        node = Join(sides[0], sides[1], analysis.join)
        for source, step in zip(sides[2:], analysis.chained):
            node = Join(node, source, step)  # each further table joins the result so far
    if analysis.where is not None:
        node = Filter(node, analysis.where, format_expression(analysis.select.where))
    node = Project(node, analysis.key, analysis.value)
    if analysis.repartitioned:
        node = Repartition(node, tuple(o.column.name for o in analysis.key),
                           analysis.keys_from_value)
    return Sink(node, sink, analysis.limit)


def chain(plan: LogicalNode) -> list[LogicalNode]:
    """The plan's nodes from source to sink."""
    nodes = []
    node: LogicalNode | None = plan
    while node is not None:
        nodes.append(node)
        node = node.input
    return nodes[::-1]
