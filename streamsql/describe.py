"""SHOW, LIST, DESCRIBE and DESCRIBE FUNCTION: catalog and runtime facts as result tables."""
from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import TYPE_CHECKING

from streamsql import ast
from streamsql.catalog.catalog import STREAM, TABLE, DataSource
from streamsql.errors import StatementError
from streamsql.runtime.metrics import PartitionOffsets, refresh_log_end

if TYPE_CHECKING:
    from streamsql.engine import Engine, Result
    from streamsql.runtime.query import PersistentQuery


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
        described = []
        for info in catalog.queries.values():
            query = engine.persistent.get(info.query_id)
            status = query.state if query else "UNKNOWN"
            sink = catalog.source(info.sink) if info.sink else None
            row = [info.query_id, status, info.sink or "", sink.topic if sink else "", info.sql]
            if stmt.extended:
                statistics = await query_statistics(engine, query)
                described.append((info, status, sink, statistics))
                row += [statistics.text(), statistics.error_text(), statistics.lag]
            rows.append(row)
        columns = ["Query ID", "Status", "Sink Name", "Sink Kafka Topic", "Query String"]
        if stmt.extended:
            columns += ["Runtime Statistics", "Error Statistics", "Consumer Lag"]
            return _result(sql, columns, rows, "query_descriptions", described)
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
    statistics = None
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
        for query_info in engine.catalog.queries_reading(source.name):
            rows.append(["Read by", query_info.query_id])
        statistics = await source_statistics(engine, source)
        rows.append(["Local runtime statistics", statistics.text()])
        rows.append(["Local error statistics", statistics.error_text()])
        for summary in statistics.offsets:
            for offsets in summary.partitions:
                rows.append([f"Lag of {summary.group_id}",
                             f"{offsets.topic} partition {offsets.partition}: offset "
                             f"{offsets.committed} of {offsets.log_end}, lag {offsets.lag}"])
    return _result(sql, ["Field", "Type"], rows, "sourceDescription",
                   SourceDescription(source, statistics))


# ---- runtime statistics (EXTENDED) -----------------------------------------------------
@dataclass(frozen=True)
class Statistic:
    """One figure of this server, by ksqlDB's metric name; `timestamp` (epoch ms, 0 if
    never) is when the figure last changed."""

    name: str
    value: float
    timestamp: int


@dataclass(frozen=True)
class OffsetSummary:
    """A query's consumer group and where it stands in each source partition it reads."""

    group_id: str
    partitions: tuple[PartitionOffsets, ...]


@dataclass(frozen=True)
class SourceDescription:
    """DESCRIBE's structured result: the source, and with EXTENDED its runtime statistics."""

    source: DataSource
    statistics: "RuntimeStatistics | None"


@dataclass(frozen=True)
class RuntimeStatistics:
    """What DESCRIBE EXTENDED and SHOW QUERIES EXTENDED say about a source or a query."""

    statistics: tuple[Statistic, ...]
    error_statistics: tuple[Statistic, ...]
    offsets: tuple[OffsetSummary, ...]

    @property
    def lag(self) -> int:
        return sum(p.lag for summary in self.offsets for p in summary.partitions)

    def text(self) -> str:
        return _statistics_text(self.statistics, "last-message")

    def error_text(self) -> str:
        return _statistics_text(self.error_statistics, "last-failed")


async def source_statistics(engine: "Engine", source: DataSource) -> RuntimeStatistics:
    """A source's traffic on this server: what queries consumed from its topic, what they
    produced into it, what failed, and each reading query's lag on its partitions."""
    catalog = engine.catalog
    readers = _running(engine, catalog.queries_reading(source.name))
    writers = _running(engine, catalog.queries_writing(source.name))
    for query in readers:
        await refresh_log_end(query.metrics, engine.backend)
    topic = source.topic
    statistics = []
    if readers:
        statistics += [
            Statistic("consumer-messages-per-sec",
                      sum(q.metrics.rates(topic).records_in for q in readers),
                      _last(q.metrics.last_batch_at for q in readers)),
            Statistic("consumer-total-messages",
                      sum(q.metrics.consumed.get(topic, 0) for q in readers),
                      _last(q.metrics.last_batch_at for q in readers))]
    if writers:
        statistics += [
            Statistic("messages-per-sec", sum(q.metrics.rates().records_out for q in writers),
                      _last(q.metrics.last_output_at for q in writers)),
            Statistic("total-messages", sum(q.metrics.records_out for q in writers),
                      _last(q.metrics.last_output_at for q in writers))]
    errors = []
    if readers:
        last_failed = _last(q.metrics.last_error_at for q in readers)
        errors = [
            Statistic("consumer-failed-messages",
                      sum(q.metrics.failed.get(topic, 0) for q in readers), last_failed),
            Statistic("consumer-failed-messages-per-sec",
                      sum(q.metrics.rates(topic).errors for q in readers), last_failed)]
    offsets = tuple(OffsetSummary(q.group, tuple(p for p in q.metrics.partitions.values()
                                                 if p.topic == topic)) for q in readers)
    return RuntimeStatistics(tuple(statistics), tuple(errors), offsets)


async def query_statistics(engine: "Engine", query: "PersistentQuery | None") -> RuntimeStatistics:
    """A persistent query's figures on this server (none for a query that does not run)."""
    if query is None:
        return RuntimeStatistics((), (), ())
    await refresh_log_end(query.metrics, engine.backend)
    metrics = query.metrics
    rates = metrics.rates()
    last_in = _last([metrics.last_batch_at])
    last_out = _last([metrics.last_output_at])
    last_failed = _last([metrics.last_error_at])
    statistics = (Statistic("consumer-messages-per-sec", rates.records_in, last_in),
                  Statistic("consumer-total-messages", metrics.records_in, last_in),
                  Statistic("messages-per-sec", rates.records_out, last_out),
                  Statistic("total-messages", metrics.records_out, last_out))
    errors = (Statistic("consumer-failed-messages", metrics.errors, last_failed),
              Statistic("consumer-failed-messages-per-sec", rates.errors, last_failed))
    offsets = (OffsetSummary(query.group, tuple(metrics.partitions.values())),)
    return RuntimeStatistics(statistics, errors, offsets)


def _running(engine: "Engine", infos) -> list["PersistentQuery"]:
    queries = (engine.persistent.get(info.query_id) for info in infos)
    return [query for query in queries if query is not None]


def _last(times) -> int:
    known = [t for t in times if t is not None]
    return int(max(known) * 1000) if known else 0


def _statistics_text(statistics: tuple[Statistic, ...], last_name: str) -> str:
    """ksqlDB's one-line form: `name: value` pairs, then when the last one happened."""
    if not statistics:
        return ""
    parts = [f"{s.name}:{_figure(s.value):>10}" for s in statistics]
    last = max(s.timestamp for s in statistics)
    when = datetime.datetime.fromtimestamp(last / 1000, datetime.timezone.utc).isoformat(
        timespec="milliseconds").replace("+00:00", "Z") if last else "n/a"
    return "   ".join(parts + [f"{last_name}: {when}"])


def _figure(value: float) -> str:
    return f"{value:.2f}" if isinstance(value, float) else str(value)


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
