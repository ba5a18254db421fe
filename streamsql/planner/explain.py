"""Text rendering of logical and physical plans (EXPLAIN output, golden files)."""
from __future__ import annotations

from streamsql.planner.logical import Filter, Project, Repartition, Sink, Source, chain
from streamsql.planner.physical import PhysicalPlan


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
        elif isinstance(node, Source):
            lines.append(f"{pad}Source {node.source.kind} {node.source.name} "
                         f"(topic {node.source.topic}) AS {node.alias}")
    return "\n".join(lines)


def explain_physical(plan: PhysicalPlan) -> str:
    src = plan.source
    lines = [
        f"DecodeOperator  topic={src.topic} key={src.key_format.name} "
        f"value={src.value_format.name}",
        f"ProjectOperator {plan.project.sql}",
    ]
    if plan.sink is not None:
        lines.append(f"SinkOperator    topic={plan.sink.topic} key={plan.sink.key_format.name} "
                     f"value={plan.sink.value_format.name}")
    else:
        lines.append("ClientOperator  rows to the client")
    return "\n".join(lines)


def explain(plan: PhysicalPlan) -> str:
    return ("Logical plan:\n" + explain_logical(plan.logical) + "\n\nPhysical plan:\n" +
            explain_physical(plan))
