"""Text rendering of logical and physical plans (EXPLAIN output, golden files)."""
from __future__ import annotations

from streamsql.planner.logical import (Aggregate, Filter, Join, Project, Repartition, Sink, Source,
                                       chain)
from streamsql.planner.physical import PhysicalPlan, TableJoinOperatorSpec


def explain_logical(plan: Sink) -> str:
    lines = []
    for depth, node in enumerate(reversed(chain(plan))):
        pad = "  " * depth + ("> " if depth else "")
        if isinstance(node, Sink):
            target = f"{node.target.kind} {node.target.name} (topic {node.target.topic})" \
                if node.target else "client"
            limit = f" LIMIT {node.limit}" if node.limit is not None else ""
            lines.append(f"{pad}Sink -> {target}{limit}")
        elif isinstance(node, Repartition):
            lines.append(f"{pad}Repartition by {', '.join(node.key_names)}")
        elif isinstance(node, Project):
            cols = ", ".join(o.column.sql() for o in node.key + node.value)
            lines.append(f"{pad}Project [{cols}]")
        elif isinstance(node, Filter):
            lines.append(f"{pad}Filter {node.text}")
        elif isinstance(node, Aggregate):
            lines.append(f"{pad}Aggregate {_aggregate_text(node)}")
        elif isinstance(node, Join):
            spec = node.spec
            within = ""
            if spec.within is not None:
                within = (f" WITHIN ({spec.within.before.millis} ms, "
                          f"{spec.within.after.millis} ms)")
            lines.append(f"{pad}Join {spec.kind} ON {spec.left.alias} key = {spec.right.alias} "
                         f"key{within}")
            if isinstance(node.input, Join):  # a chain: the join before follows
                lines.append(f"{'  ' * (depth + 1)}> {_source_line(node.right)}")
                continue
            for side in (node.input, node.right):
                lines.append(f"{'  ' * (depth + 1)}> {_source_line(side)}")
            break  # both sources are drawn
        elif isinstance(node, Source):
            lines.append(f"{pad}{_source_line(node)}")
    return "\n".join(lines)


def _aggregate_text(node: Aggregate) -> str:
    from streamsql.sqlformat import format_expression

    analysis = node.analysis
    calls = ", ".join(call.function.name for call in analysis.aggregates)
    text = f"[{calls}] GROUP BY " + ", ".join(format_expression(e)
                                               for e in analysis.select.group_by)
    window = analysis.window
    if window is not None:
        text += f" WINDOW {window.kind} {window.size_ms} ms"
    return text + (" EMIT FINAL" if analysis.emit_final else "")


def _source_line(node: Source) -> str:
    return (f"Source {node.source.kind} {node.source.name} (topic {node.source.topic}) "
            f"AS {node.alias}")


def explain_physical(plan: PhysicalPlan) -> str:
    lines = [f"DecodeOperator  topic={side.source.topic} key={side.source.key_format.name} "
             f"value={side.source.value_format.name}" for side in plan.sides]
    if isinstance(plan.join, TableJoinOperatorSpec):
        join = plan.join
        kind = "foreign-key" if join.foreign_key else "primary-key"
        for step in (join,) + join.then:
            lines.append(f"TableJoinOperator {step.kind} table-table {kind} "
                         f"keys=({step.key_sql[0]}) = ({step.key_sql[1]}) "
                         f"state={', '.join(step.state)}")
    elif plan.join is not None:
        join = plan.join
        lines.append(f"JoinOperator    {join.kind} {'stream-table' if join.stream_table else 'stream-stream'}"
                     f" keys=({join.key_sql[0]}) = ({join.key_sql[1]}) state={', '.join(join.state)}")
    if plan.aggregate is not None:
        aggregate = plan.aggregate
        lines.append(f"AggregateOperator groups={', '.join(aggregate.groups)} "
                     f"state={aggregate.state}")
    lines.append(f"ProjectOperator {plan.project.sql}")
    if plan.sink is not None:
        lines.append(f"SinkOperator    topic={plan.sink.topic} key={plan.sink.key_format.name} "
                     f"value={plan.sink.value_format.name}")
    else:
        lines.append("ClientOperator  rows to the client")
    return "\n".join(lines)


def explain(plan: PhysicalPlan) -> str:
    return ("Logical plan:\n" + explain_logical(plan.logical) + "\n\nPhysical plan:\n" +
            explain_physical(plan))
