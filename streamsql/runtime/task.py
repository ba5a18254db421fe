"""One step of a query over a micro-batch: decode -> operators -> encode.

Whole-batch work: records become one Arrow table, the operators run as DuckDB SQL,
and the result is encoded column-wise. Bad records are split off with their reason.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import pyarrow as pa
import pyarrow.compute as pc

from streamsql.analyzer.analyzer import ROW_INDEX, TOMBSTONE
from streamsql.catalog import types as T
from streamsql.catalog.catalog import TABLE, DataSource
from streamsql.catalog.schema import (KEY, ROWOFFSET, ROWPARTITION, ROWTIME, VALUE,
                                      WINDOWEND, WINDOWSTART)
from streamsql.log.backend import Record, RecordBatch
from streamsql.log.partitioner import partitions_for
from streamsql.planner.physical import (OUTPUT_ROWTIME, OUTPUT_WINDOWEND, OUTPUT_WINDOWSTART,
                                       PASSES)
from streamsql.runtime.processing_log import ProcessingError
from streamsql.serde import make_serde
from streamsql.serde.base import decode_array, encode_array
from streamsql.serde.timestamps import extract_timestamps

_HEADER_STRUCT = T.to_arrow(T.SqlType.struct((("KEY", T.STRING), ("VALUE", T.BYTES))))


@dataclass
class DecodedBatch:
    topic: str
    table: pa.Table  # schema columns, pseudo columns, ROW_INDEX; bad rows removed
    records: RecordBatch  # the input records, indexed by ROW_INDEX
    errors: list[ProcessingError]


class RecordDecoder:
    """Records of one source topic -> the Arrow batch a query's SQL reads."""

    def __init__(self, source: DataSource, *, prefix: str = "", drop_null_values: bool = False,
                 throw_on_invalid_timestamp: bool = False):
        self.source = source
        self.prefix = prefix  # a join names each side's columns ALIAS_COLUMN
        self.drop_null_values = drop_null_values
        self.key_serde = make_serde(source.key_format, source.schema.key, is_key=True,
                                    window=source.window)
        self.value_serde = make_serde(source.value_format, source.schema.value, is_key=False)
        self.throw_on_invalid_timestamp = throw_on_invalid_timestamp

    def decode(self, topic: str, records: RecordBatch | Sequence[Record]) -> DecodedBatch:
        if not isinstance(records, RecordBatch):
            records = RecordBatch.from_records(records)
        n = len(records)
        keys = decode_array(self.key_serde, records.keys)
        values = decode_array(self.value_serde, records.values)
        bad: dict[int, str] = {}
        for i, reason in keys.errors.items():
            bad.setdefault(i, f"Failed to deserialize key from topic: {topic}. {reason}")
        for i, reason in values.errors.items():
            bad.setdefault(i, f"Failed to deserialize value from topic: {topic}. {reason}")

        # A record without a value passes through a projection as a record without a
        # value, but no predicate can hold for it (as in ksqlDB).
        # A table row is addressed by its key: a record without one updates nothing.
        keyed = self.source.kind == TABLE and bool(self.source.schema.key)
        dropped = pa.array([False] * n, pa.bool_())
        if self.drop_null_values:
            dropped = pc.or_(dropped, pc.is_null(records.values))
        if keyed:
            dropped = pc.or_(dropped, pc.is_null(records.keys))

        columns: dict[str, pa.Array] = {}
        for column in self.source.schema.columns:
            if column.role == KEY:
                columns[column.name] = keys.table.column(column.name)
            elif column.role == VALUE:
                columns[column.name] = values.table.column(column.name)
            else:
                columns[column.name] = self._header_column(records, column.header_key)

        timestamps = records.timestamps
        if self.source.timestamp_column is not None:
            column = self.source.schema.find(self.source.timestamp_column)
            extracted, ts_errors = extract_timestamps(
                pa.table(columns), column.name, column.type, self.source.timestamp_format)
            if ts_errors:
                is_dropped = dropped.to_pylist()
                for i, reason in ts_errors.items():
                    if not is_dropped[i] and i not in bad:
                        if self.throw_on_invalid_timestamp:
                            from streamsql.errors import ProcessingError as QueryFailure
                            raise QueryFailure("Fatal user code error in TimestampExtractor "
                                               f"callback for record at offset "
                                               f"{records[i].offset}: {reason}")
                        bad[i] = reason
            timestamps = extracted
        columns[ROWTIME] = timestamps
        columns[ROWPARTITION] = records.partitions
        columns[ROWOFFSET] = records.offsets
        if self.source.window is not None:
            columns[WINDOWSTART] = keys.window_start
            columns[WINDOWEND] = keys.window_end
        if self.prefix:
            columns = {f"{self.prefix}{name}": array for name, array in columns.items()}
        columns[ROW_INDEX] = _row_indexes(n)
        if self.source.kind == TABLE:
            columns[TOMBSTONE] = pc.is_null(records.values)
        table = pa.table(columns)

        errors = []
        if bad:
            is_dropped = dropped.to_pylist()
            errors = [ProcessingError(reason, topic, records[i].partition, records[i].offset)
                      for i, reason in sorted(bad.items()) if not is_dropped[i]]
            dropped = pc.or_(dropped, pa.array([i in bad for i in range(n)], pa.bool_()))
        if n and pc.any(dropped).as_py():
            table = table.filter(pc.invert(dropped))
        return DecodedBatch(topic, table, records, errors)

    @staticmethod
    def _header_column(records: RecordBatch, header_key: str | None) -> pa.Array:
        headers = records.headers if records.headers is not None else [()] * len(records)
        if header_key is None:
            return pa.array([[{"KEY": k, "VALUE": v} for k, v in h] for h in headers],
                            pa.list_(_HEADER_STRUCT))
        # HEADER('k'): the last header with that key, as Kafka's lastHeader() gives it.
        values = []
        for record_headers in headers:
            found = None
            for key, value in record_headers:
                if key == header_key:
                    found = value
            values.append(found)
        return pa.array(values, pa.binary())


class ResultEncoder:
    """Query results -> records for the sink topic (key, value, timestamp, headers, partition)."""

    def __init__(self, sink: DataSource, partitions: int, *,
                 keys_from_value: tuple[str, ...] = (), aggregated: bool = False,
                 final_results: bool = False):
        self.sink = sink
        self.keys_from_value = keys_from_value
        self.aggregated = aggregated  # outputs are group results, not transformed records
        self.final_results = final_results  # EMIT FINAL: outputs are windows that closed
        self.partitions = partitions
        self.key_serde = make_serde(sink.key_format, sink.schema.key, is_key=True,
                                    window=sink.window)
        self.placement_serde = self.key_serde if sink.window is None else \
            make_serde(sink.key_format, sink.schema.key, is_key=True)
        self.value_serde = make_serde(sink.value_format, sink.schema.value, is_key=False)

    def placed_keys(self, key_table: pa.Table) -> tuple[pa.Array, pa.Array]:
        """The key bytes of `key_table` (the sink's key columns, then the window bounds if
        windowed) and each key's partition. A windowed key goes to the partition of the key
        without its window, as Kafka Streams' WindowedStreamPartitioner places it."""
        keys = _flat(encode_array(self.key_serde, key_table))
        placed_by = keys
        if self.placement_serde is not self.key_serde and self.partitions > 1:
            placed_by = _flat(encode_array(self.placement_serde, key_table.select(
                [c.name for c in self.sink.schema.key])))
        return keys, partitions_for(placed_by, self.partitions)

    def encode(self, result: pa.Table, batch: DecodedBatch) -> RecordBatch:
        """The sink records, column-wise; rows with an invalid timestamp are logged in
        batch.errors and left out."""
        rows = result.column(ROW_INDEX).combine_chunks().cast(pa.int64())
        source = batch.records
        if self.sink.timestamp_column is not None:
            timestamps = _epoch_millis(result.column(self.sink.timestamp_column))
        elif OUTPUT_ROWTIME in result.column_names:
            timestamps = pc.cast(result.column(OUTPUT_ROWTIME), pa.int64())
        else:
            timestamps = pc.take(batch.table.column(ROWTIME), _positions(batch.table, result))
        timestamps = _flat(timestamps)
        valid = pc.fill_null(pc.greater_equal(timestamps, 0), False)
        if not pc.all(valid).as_py():
            # Kafka has no place for such a timestamp; ksqlDB skips the record.
            for row, timestamp in zip(rows.filter(pc.invert(valid)).to_pylist(),
                                      timestamps.filter(pc.invert(valid)).to_pylist()):
                batch.errors.append(ProcessingError(
                    f"Invalid timestamp {timestamp} for the sink record", batch.topic,
                    source.partitions[row].as_py(), source.offsets[row].as_py(),
                    kind="TIMESTAMP_ERROR"))
            result, rows, timestamps = result.filter(valid), rows.filter(valid), \
                timestamps.filter(valid)
        if result.num_rows == 0:
            return _EMPTY_BATCH

        deleted = pc.is_null(pc.take(source.values, rows))
        key_table = result.select([c.name for c in self.sink.schema.key])
        if self.keys_from_value and pc.any(deleted).as_py():
            # ksqlDB evaluates a PARTITION BY over the value as null without one
            for name in self.keys_from_value:
                index = key_table.column_names.index(name)
                column = _flat(key_table.column(index))
                key_table = key_table.set_column(index, name, pc.if_else(
                    deleted, pa.scalar(None, column.type), column))
        if self.sink.window is not None:
            # The bounds frame the key bytes: an aggregation's own windows, or else each
            # input row's window (a query over a windowed source keeps it).
            positions = _positions(batch.table, result)
            for bound, produced in ((WINDOWSTART, OUTPUT_WINDOWSTART),
                                    (WINDOWEND, OUTPUT_WINDOWEND)):
                column = result.column(produced) if produced in result.column_names else \
                    pc.take(batch.table.column(bound), positions)
                key_table = key_table.append_column(bound, column)
        keys, partitions = self.placed_keys(key_table)
        values = _flat(encode_array(self.value_serde, result.select(
            [c.name for c in self.sink.schema.value])))

        if self.aggregated:
            deleted = pa.array([False] * len(rows), pa.bool_())
        # A record without a value stays one (a table's delete); a table row that no
        # longer passes WHERE is deleted from the result table.
        cleared = deleted
        if PASSES in result.column_names:
            cleared = pc.or_(cleared, pc.invert(pc.fill_null(_flat(result.column(PASSES)),
                                                             False)))
        if pc.any(cleared).as_py():
            values = pc.if_else(cleared, pa.scalar(None, pa.binary()), values)
        if self.final_results and len(keys) > 1:
            # ksqlDB's suppression buffer releases the windows that close together ordered
            # by window end, then by their serialized (windowed) key.
            order = pc.sort_indices(pa.table({"end": _flat(key_table.column(WINDOWEND)),
                                              "key": keys}),
                                    sort_keys=[("end", "ascending"), ("key", "ascending")])
            keys, values, timestamps, rows, partitions = (
                pc.take(array, order) for array in (keys, values, timestamps, rows, partitions))
        headers = None
        if source.headers is not None:
            headers = [source.headers[row] for row in rows.to_pylist()]
        return RecordBatch(keys, values, timestamps, partitions,
                           pa.array([-1] * len(rows), pa.int64()), headers)


_EMPTY_BATCH = RecordBatch.from_records([])
_ROW_INDEXES = pa.array(range(10_000), pa.int64())
# Up to this size the shared array grows to the largest batch seen: a step concatenates
# one fetch per partition of a topic, so batches are several fetches long.
_SHARED_ROW_INDEXES = 1_000_000


def _row_indexes(n: int) -> pa.Array:
    """0..n-1 (a slice of one shared array for batch-sized n)."""
    global _ROW_INDEXES
    if n > len(_ROW_INDEXES):
        indexes = pa.array(range(n), pa.int64())
        if n > _SHARED_ROW_INDEXES:
            return indexes
        _ROW_INDEXES = indexes
    return _ROW_INDEXES.slice(0, n)


def _flat(column) -> pa.Array:
    return column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column


def _positions(batch: pa.Table, result: pa.Table) -> pa.Array:
    """Positions in the (filtered) batch of each result row, found through ROW_INDEX."""
    index = batch.column(ROW_INDEX)
    return pc.index_in(result.column(ROW_INDEX), value_set=index)


def _epoch_millis(column) -> pa.Array:
    if pa.types.is_timestamp(column.type):
        return pc.cast(pc.cast(column, pa.timestamp("ms")), pa.int64())
    return pc.cast(column, pa.int64())
