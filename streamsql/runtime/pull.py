"""Pull queries on tables: the table's current rows, as one Arrow batch a plan can read.

A table written by an aggregation in this engine is read from that query's DuckDB state
(what it has committed). Any other table (a source table, or one derived without state)
is materialized from its topic: the latest record per key, deletes applied.
"""
from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from streamsql.analyzer.analyzer import ROW_INDEX, TOMBSTONE
from streamsql.catalog.catalog import DataSource
from streamsql.catalog.schema import (ROWOFFSET, ROWPARTITION, ROWTIME, WINDOWEND, WINDOWSTART,
                                      Column)
from streamsql.log.backend import LogBackend
from streamsql.planner.physical import OUTPUT_ROWTIME, OUTPUT_WINDOWEND, OUTPUT_WINDOWSTART, PASSES
from streamsql.runtime.task import RecordDecoder, ResultEncoder
from streamsql.state.store import QueryConnection


_KEY_BYTES = "$key_bytes"  # a record's serialized key, which orders a table's rows


def selection_order(columns: tuple[Column, ...], order: tuple[str, ...]) -> tuple[Column, ...]:
    """A pull query's columns as its SELECT lists them: unlike a sink, its rows keep the key
    columns where they were selected."""
    position = {name: i for i, name in enumerate(order)}
    return tuple(sorted(columns, key=lambda c: position.get(c.name, len(order))))


def result_rows(result: pa.Table, names: list[str]) -> list[list]:
    """A result's rows as Python values in `names` order; MAPs as dicts, empty ones too."""
    return [[row[n] for n in names]
            for row in result.select(names).to_pylist(maps_as_pydicts="strict")]


async def table_rows(source: DataSource, backend: LogBackend, connection: QueryConnection,
                     writer=None) -> pa.Table:
    """Columns: the table's schema, ROWTIME, window bounds if windowed, and batch internals."""
    if writer is not None and writer.aggregate is not None:
        info = await backend.describe_topic(source.topic)
        rows = _in_store_order(source, _from_state(source, writer, connection),
                               info.partitions if info else 1)
    else:
        rows = await _from_topic(source, backend, connection)
    return _as_batch(source, rows)


def _from_state(source: DataSource, writer, connection: QueryConnection) -> pa.Table:
    aggregated = connection.run(writer.aggregate.snapshot_sql())
    result = connection.run(writer.plan.project.sql, **{writer.plan.project.relation: aggregated})
    if PASSES in result.column_names:
        result = result.filter(result.column(PASSES))
    columns = {c.name: result.column(c.name) for c in source.schema.columns}
    columns[ROWTIME] = result.column(OUTPUT_ROWTIME)
    if source.window is not None:
        columns[WINDOWSTART] = result.column(OUTPUT_WINDOWSTART)
        columns[WINDOWEND] = result.column(OUTPUT_WINDOWEND)
    return pa.table(columns)


def _in_store_order(source: DataSource, rows: pa.Table, partitions: int) -> pa.Table:
    """The rows in the order ksqlDB's state stores give them, which is the order a LIMIT
    takes them in: by partition (of the key without its window), then by serialized key
    (with its window: key bytes, then window start)."""
    if rows.num_rows < 2:
        return rows
    names = [c.name for c in source.schema.key]
    if source.window is not None:
        names += [WINDOWSTART, WINDOWEND]
    keys, placed = ResultEncoder(source, partitions).placed_keys(rows.select(names))
    order = pc.sort_indices(pa.table({"partition": placed, "key": keys}),
                            sort_keys=[("partition", "ascending"), ("key", "ascending")])
    return rows.take(order)


async def _from_topic(source: DataSource, backend: LogBackend,
                      connection: QueryConnection) -> pa.Table:
    decoder = RecordDecoder(source)
    info = await backend.describe_topic(source.topic)
    batches = []
    for partition in range(info.partitions if info else 1):
        offset = await backend.start_offset(source.topic, partition)
        end = await backend.end_offset(source.topic, partition)
        while offset < end:
            records = await backend.fetch(source.topic, partition, offset, 10_000)
            if not records:
                break
            offset = records[-1].offset + 1
            batch = decoder.decode(source.topic, records).table
            raw_keys = pa.array([record.key for record in records], pa.binary())
            batch = batch.append_column(_KEY_BYTES, raw_keys.take(batch.column(ROW_INDEX)))
            batches.append(batch.drop_columns([ROW_INDEX]))
    if not batches:
        return decoder.decode(source.topic, []).table.drop_columns([ROW_INDEX, TOMBSTONE])
    everything = pa.concat_tables(batches)
    keys = [c.name for c in source.schema.key]
    if source.window is not None:
        keys += [WINDOWSTART, WINDOWEND]
    quoted = ", ".join('"' + k.replace('"', '""') + '"' for k in keys)
    # Rows in the order of ksqlDB's state stores (partition, then serialized key), which is
    # the order a LIMIT takes them in.
    latest = connection.run(
        f'SELECT * EXCLUDE ("{TOMBSTONE}", "{_KEY_BYTES}") FROM (SELECT *, row_number() OVER '
        f'(ORDER BY "{ROWPARTITION}", "{ROWOFFSET}") AS seen FROM everything) QUALIFY '
        f'row_number() OVER (PARTITION BY {quoted} ORDER BY seen DESC) = 1 '
        f'AND NOT "{TOMBSTONE}" ORDER BY "{ROWPARTITION}", "{_KEY_BYTES}"',
        everything=everything)
    return latest.drop_columns(["seen"])


def _as_batch(source: DataSource, rows: pa.Table) -> pa.Table:
    """Add what a query's SQL expects of a decoded batch."""
    n = rows.num_rows
    for name, array in ((ROWPARTITION, pa.array([0] * n, pa.int32())),
                        (ROWOFFSET, pa.array(range(n), pa.int64()))):
        if name not in rows.column_names:
            rows = rows.append_column(name, array)
    rows = rows.append_column(ROW_INDEX, pa.array(range(n), pa.int64()))
    return rows.append_column(TOMBSTONE, pa.array([False] * n, pa.bool_()))
