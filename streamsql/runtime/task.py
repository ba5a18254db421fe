"""One step of a query over a micro-batch: decode -> operators -> encode.

Whole-batch work: records become one Arrow table, the operators run as DuckDB SQL,
and the result is encoded column-wise. Bad records are split off with their reason.
"""
from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from streamsql.analyzer.analyzer import ROW_INDEX, TOMBSTONE
from streamsql.catalog import types as T
from streamsql.catalog.catalog import TABLE, DataSource
from streamsql.catalog.schema import (KEY, ROWOFFSET, ROWPARTITION, ROWTIME, VALUE,
                                      WINDOWEND, WINDOWSTART)
from streamsql.log.backend import Record
from streamsql.log.partitioner import partition_for
from streamsql.planner.physical import (OUTPUT_ROWTIME, OUTPUT_WINDOWEND, OUTPUT_WINDOWSTART,
                                       PASSES)
from streamsql.runtime.processing_log import ProcessingError
from streamsql.serde import make_serde
from streamsql.serde.timestamps import extract_timestamps

_HEADER_STRUCT = T.to_arrow(T.SqlType.struct((("KEY", T.STRING), ("VALUE", T.BYTES))))


@dataclass
class DecodedBatch:
    topic: str
    table: pa.Table  # schema columns, pseudo columns, ROW_INDEX; bad rows removed
    records: list[Record]  # the input records, indexed by ROW_INDEX
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

    def decode(self, topic: str, records: list[Record]) -> DecodedBatch:
        n = len(records)
        keys = self.key_serde.decode([r.key for r in records])
        values = self.value_serde.decode([r.value for r in records])
        bad: dict[int, str] = {}
        for i, reason in keys.errors.items():
            bad.setdefault(i, f"Failed to deserialize key from topic: {topic}. {reason}")
        for i, reason in values.errors.items():
            bad.setdefault(i, f"Failed to deserialize value from topic: {topic}. {reason}")

        # A record without a value passes through a projection as a record without a
        # value, but no predicate can hold for it (as in ksqlDB).
        # A table row is addressed by its key: a record without one updates nothing.
        keyed = self.source.kind == TABLE and bool(self.source.schema.key)
        keep = [not ((self.drop_null_values and r.value is None) or (keyed and r.key is None))
                for r in records]

        columns: dict[str, pa.Array] = {}
        for column in self.source.schema.columns:
            if column.role == KEY:
                columns[column.name] = keys.table.column(column.name)
            elif column.role == VALUE:
                columns[column.name] = values.table.column(column.name)
            else:
                columns[column.name] = self._header_column(records, column.header_key)

        timestamps = pa.array([r.timestamp for r in records], pa.int64())
        if self.source.timestamp_column is not None:
            column = self.source.schema.find(self.source.timestamp_column)
            extracted, ts_errors = extract_timestamps(
                pa.table(columns), column.name, column.type, self.source.timestamp_format)
            for i, reason in ts_errors.items():
                if keep[i] and i not in bad:
                    if self.throw_on_invalid_timestamp:
                        from streamsql.errors import ProcessingError as QueryFailure
                        raise QueryFailure("Fatal user code error in TimestampExtractor callback "
                                           f"for record at offset {records[i].offset}: {reason}")
                    bad[i] = reason
            timestamps = extracted
        columns[ROWTIME] = timestamps
        columns[ROWPARTITION] = pa.array([r.partition for r in records], pa.int32())
        columns[ROWOFFSET] = pa.array([r.offset for r in records], pa.int64())
        if self.source.window is not None:
            columns[WINDOWSTART] = keys.window_start
            columns[WINDOWEND] = keys.window_end
        if self.prefix:
            columns = {f"{self.prefix}{name}": array for name, array in columns.items()}
        columns[ROW_INDEX] = pa.array(range(n), pa.int64())
        if self.source.kind == TABLE:
            columns[TOMBSTONE] = pa.array([r.value is None for r in records], pa.bool_())
        table = pa.table(columns)

        errors = [ProcessingError(reason, topic, records[i].partition, records[i].offset)
                  for i, reason in sorted(bad.items()) if keep[i]]
        for i in bad:
            keep[i] = False
        if not all(keep):
            table = table.filter(pa.array(keep))
        return DecodedBatch(topic, table, records, errors)

    @staticmethod
    def _header_column(records: list[Record], header_key: str | None) -> pa.Array:
        if header_key is None:
            return pa.array([[{"KEY": k, "VALUE": v} for k, v in r.headers] for r in records],
                            pa.list_(_HEADER_STRUCT))
        # HEADER('k'): the last header with that key, as Kafka's lastHeader() gives it.
        values = []
        for record in records:
            found = None
            for key, value in record.headers:
                if key == header_key:
                    found = value
            values.append(found)
        return pa.array(values, pa.binary())


class ResultEncoder:
    """Query results -> records for the sink topic (key, value, timestamp, headers, partition)."""

    def __init__(self, sink: DataSource, partitions: int, *, repartitioned: bool = False,
                 aggregated: bool = False):
        self.sink = sink
        self.repartitioned = repartitioned
        self.aggregated = aggregated  # outputs are group results, not transformed records
        self.partitions = partitions
        self.key_serde = make_serde(sink.key_format, sink.schema.key, is_key=True,
                                    window=sink.window)
        self.value_serde = make_serde(sink.value_format, sink.schema.value, is_key=False)

    def encode(self, result: pa.Table, batch: DecodedBatch) -> list[Record]:
        if result.num_rows == 0:
            return []
        positions = _positions(batch.table, result)
        key_table = result.select([c.name for c in self.sink.schema.key])
        if self.sink.window is not None:
            # The bounds frame the key bytes: an aggregation's own windows, or else each
            # input row's window (a query over a windowed source keeps it).
            for bound, produced in ((WINDOWSTART, OUTPUT_WINDOWSTART),
                                    (WINDOWEND, OUTPUT_WINDOWEND)):
                column = result.column(produced) if produced in result.column_names else \
                    pc.take(batch.table.column(bound), positions)
                key_table = key_table.append_column(bound, column)
        value_table = result.select([c.name for c in self.sink.schema.value])
        keys = self.key_serde.encode(key_table)
        values = self.value_serde.encode(value_table)
        rows = result.column(ROW_INDEX).to_pylist()
        passes = result.column(PASSES).to_pylist() if PASSES in result.column_names \
            else [True] * len(rows)
        if self.sink.timestamp_column is not None:
            timestamps = _epoch_millis(result.column(self.sink.timestamp_column)).to_pylist()
        elif OUTPUT_ROWTIME in result.column_names:
            timestamps = result.column(OUTPUT_ROWTIME).to_pylist()
        else:
            timestamps = pc.take(batch.table.column(ROWTIME), positions).to_pylist()
        records = batch.records
        out = []
        for key, value, row, timestamp, passed in zip(keys, values, rows, timestamps, passes):
            source = records[row]
            if timestamp is None or timestamp < 0:
                # Kafka has no place for such a timestamp; ksqlDB skips the record.
                batch.errors.append(ProcessingError(
                    f"Invalid timestamp {timestamp} for the sink record", batch.topic,
                    source.partition, source.offset, kind="TIMESTAMP_ERROR"))
                continue
            deleted = source.value is None and not self.aggregated
            if deleted and self.repartitioned:
                key = None  # ksqlDB does not evaluate PARTITION BY for a record without a value
            if deleted or not passed:
                # A record without a value stays one (a table's delete); a table row that
                # no longer passes WHERE is deleted from the result table.
                value = None
            partition = 0 if self.partitions == 1 else partition_for(key, self.partitions)
            out.append(Record(key, value, timestamp, source.headers, partition))
        return out


def _positions(batch: pa.Table, result: pa.Table) -> pa.Array:
    """Positions in the (filtered) batch of each result row, found through ROW_INDEX."""
    index = batch.column(ROW_INDEX)
    return pc.index_in(result.column(ROW_INDEX), value_set=index)


def _epoch_millis(column) -> pa.Array:
    if pa.types.is_timestamp(column.type):
        return pc.cast(pc.cast(column, pa.timestamp("ms")), pa.int64())
    return pc.cast(column, pa.int64())
