"""SHOW, LIST, DESCRIBE and DESCRIBE FUNCTION: catalog and runtime facts as result tables."""
from __future__ import annotations

from typing import TYPE_CHECKING

from streamsql import ast
from streamsql.catalog.catalog import STREAM, TABLE
from streamsql.errors import StatementError

if TYPE_CHECKING:
    from streamsql.engine import Engine, Result


def _result(sql, columns, rows, entity, data=None) -> "Result":
    from streamsql.engine import Result
    return Result(sql, kind="table", columns=columns, rows=rows, entity=entity, data=data)


async def show(engine: "Engine", stmt: ast.Show, sql: str) -> "Result":
    what = stmt.what
    catalog = engine.catalog
    if what in ("STREAMS", "TABLES"):
        kind = STREAM if what == "STREAMS" else TABLE
        sources = sorted((s for s in catalog.sources.values() if s.kind == kind),
                         key=lambda s: s.name)
        rows = [[s.name, s.topic, s.key_format.name, s.value_format.name,
                 s.window is not None] for s in sources]
        name = "Stream" if kind == STREAM else "Table"
        return _result(sql, [f"{name} Name", "Kafka Topic", "Key Format", "Value Format",
                             "Windowed"], rows, what.lower())
    if what == "QUERIES":
        rows = []
        for info in catalog.queries.values():
            query = engine.persistent.get(info.query_id)
            status = query.state if query else "UNKNOWN"
            sink = catalog.source(info.sink) if info.sink else None
            row = [info.query_id, status, info.sink or "", sink.topic if sink else "", info.sql]
            if stmt.extended and query is not None:
                row += [query.metrics.records_in, query.metrics.records_out,
                        engine.processing_log.count(info.query_id)]
            rows.append(row)
        columns = ["Query ID", "Status", "Sink Name", "Sink Kafka Topic", "Query String"]
        if stmt.extended:
            columns += ["Records In", "Records Out", "Processing Errors"]
        return _result(sql, columns, rows, "queries")
    if what in ("TOPICS", "ALL_TOPICS"):
        topics = await engine.backend.list_topics()
        rows = [[t.name, t.partitions, t.replicas] for t in sorted(topics, key=lambda t: t.name)
                if what == "ALL_TOPICS" or not t.name.startswith("_")]
        return _result(sql, ["Kafka Topic", "Partitions", "Partition Replicas"], rows,
                       "kafka_topics")
    if what == "FUNCTIONS":
        rows = [[f.name, "SCALAR", f.category] for f in engine.registry.functions()]
        rows += [[name, "AGGREGATE", "AGGREGATE"] for name in sorted(engine.registry.aggregates)]
        rows.sort(key=lambda row: row[0])
        return _result(sql, ["Function Name", "Type", "Category"], rows, "function_names")
    if what == "PROPERTIES":
        merged = engine.config.as_dict()
        rows = [[k, "SESSION" if k in engine.config.overrides else "DEFAULT", v]
                for k, v in sorted(merged.items())]
        return _result(sql, ["Property", "Scope", "Value"], rows, "properties")
    if what == "TYPES":
        rows = [[name, t.sql()] for name, t in sorted(catalog.types.items())]
        return _result(sql, ["Type Name", "Schema"], rows, "type_list")
    if what == "VARIABLES":
        rows = [[k, v] for k, v in sorted(engine.variables.items())]
        return _result(sql, ["Variable Name", "Value"], rows, "variables")
    raise StatementError(f"SHOW {what} is not supported", stmt.span)


async def describe(engine: "Engine", stmt: ast.Describe, sql: str) -> "Result":
    source = engine.catalog.source(stmt.name)
    if source is None:
        hint = engine.catalog.suggest_source(stmt.name)
        raise StatementError(f"Could not find STREAM/TABLE '{stmt.name}' in the Metastore",
                             stmt.span, hint=f"did you mean '{hint}'?" if hint else None)
    rows = []
    for column in source.schema.key + tuple(c for c in source.schema.columns if c.role != "key"):
        extra = {"key": "(key)" if source.kind == STREAM else "(primary key)",
                 "header": f"(header('{column.header_key}'))" if column.header_key else
                 "(headers)"}.get(column.role, "")
        rows.append([column.name, f"{column.type.sql()} {extra}".strip()])
    if stmt.extended:
        info = await engine.backend.describe_topic(source.topic)
        rows.append(["", ""])
        rows.append(["Type", source.kind])
        rows.append(["Kafka topic", f"{source.topic} (partitions: "
                                    f"{info.partitions if info else '?'}, replication: "
                                    f"{info.replicas if info else '?'})"])
        rows.append(["Key format", source.key_format.name])
        rows.append(["Value format", source.value_format.name])
        if source.timestamp_column:
            rows.append(["Timestamp field", source.timestamp_column])
        for query_info in engine.catalog.queries_writing(source.name):
            rows.append(["Written by", query_info.query_id])
            query = engine.persistent.get(query_info.query_id)
            if query is not None:
                rows.append(["  records in / out / errors",
                             f"{query.metrics.records_in} / {query.metrics.records_out} / "
                             f"{engine.processing_log.count(query_info.query_id)}"])
        for query_info in engine.catalog.queries_reading(source.name):
            rows.append(["Read by", query_info.query_id])
    return _result(sql, ["Field", "Type"], rows, "sourceDescription", source)


def describe_function(engine: "Engine", stmt: ast.DescribeFunction, sql: str) -> "Result":
    function = engine.registry.aggregate(stmt.name)
    if function is not None:
        rows = [["Name", function.name], ["Type", "AGGREGATE"],
                ["Description", function.description]]
        return _result(sql, ["Field", "Value"], rows, "describe_function", function)
    info = engine.registry.describe(stmt.name, stmt.span)
    rows = [["Name", info.name], ["Type", info.kind], ["Category", info.category],
            ["Description", info.description]]
    for signature in info.signatures:
        rows.append(["Variation", signature])
    return _result(sql, ["Field", "Value"], rows, "describe_function", info)
