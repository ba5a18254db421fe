"""Repartition topics on Kafka: an aggregation that does not group by its source's key
reads its records through an internal topic keyed by the group key, so one group's records
meet in one partition and one process (docs/design/scale-out.md). Embedded: in process."""
from __future__ import annotations

import asyncio
import dataclasses
import logging
import struct

import pyarrow as pa
import pyarrow.compute as pc

from streamsql.analyzer.analyzer import ROW_INDEX
from streamsql.catalog.catalog import TABLE
from streamsql.errors import LogError
from streamsql.log.backend import RecordBatch, fetch_batch, produce_batch
from streamsql.log.partitioner import partitions_for
from streamsql.operators.project import ProjectOperator
from streamsql.planner.physical import (PRESENT, READ_PARTITION, PhysicalPlan,
                                       ProjectOperatorSpec)
from streamsql.runtime.assignment import GroupOptions, run_in_group
from streamsql.runtime.processing_log import ProcessingError
from streamsql.runtime.task import DecodedBatch, RecordDecoder
from streamsql.serde import make_serde
from streamsql.serde.base import encode_array
from streamsql.state.store import QueryConnection

logger = logging.getLogger("streamsql.query")

GROUP_BY_REPARTITION = "-Aggregate-GroupBy-repartition"  # ksqlDB's internal topic suffix
# A repartitioned record carries what the source record had besides its value, headers
# and timestamp (which it keeps), so that sub-topology 2 decodes exactly the source
# record: GROUP BY, ROWPARTITION and ROWOFFSET evaluate as they did in sub-topology 1.
SOURCE_KEY_HEADER = "__streamsql.source.key"  # absent: the source record had no key
SOURCE_POSITION_HEADER = "__streamsql.source.position"  # partition (int32), offset (int64)
_POSITION = struct.Struct(">iq")


def uses_repartition_topic(plan: PhysicalPlan) -> bool:
    """The plan groups a stream or table by something other than its key (on Kafka:
    through a repartition topic). Aggregations over joins still group in process."""
    return plan.aggregate is not None and plan.join is None and plan.repartitioned


def plan_after_repartition(plan: PhysicalPlan) -> PhysicalPlan:
    """Sub-topology 2's plan: the aggregation's task (stream time, state partition) is the
    repartition partition it reads, as in ksqlDB, not the source partition."""
    return dataclasses.replace(plan, aggregate=dataclasses.replace(
        plan.aggregate, pre_sql=plan.aggregate.pre_sql_after_repartition))


def decoders_after_repartition(plan: PhysicalPlan, group: str, *,
                               throw_on_invalid_timestamp: bool = False
                               ) -> dict[str, tuple[int, RecordDecoder]]:
    """Sub-topology 2's decoders (Query.decoders): it reads the repartition topic, whose
    records decode as the source records they were."""
    return {repartition_topic(group): (0, SourceRecordDecoder(
        plan.source, drop_null_values=plan.filtered,
        throw_on_invalid_timestamp=throw_on_invalid_timestamp))}


def repartition_topic(group: str) -> str:
    """The repartition topic of the query whose consumer group (ksqlDB's application id,
    `_confluent-ksql-<service id>query_<query id>`) is `group`."""
    return group + GROUP_BY_REPARTITION


class GroupByRepartition:
    """Sub-topology 1: source records -> the repartition topic, keyed by their group key.

    It runs in its own consumer group (`<query group>-GroupBy`) through run_in_group, so
    it has the same guarantees as any persistent query: a batch's records are produced
    and acknowledged before its source offsets are committed (or, with exactly_once_v2,
    commit in one transaction with them). Records that cannot be decoded, whose group
    key cannot be evaluated or is null, or that fail WHERE, go no further; the first
    three are written to the processing log under the query's id. Over a table, a row
    that leaves its group also sends that group a tombstone of its key (_TableGroups).
    """

    def __init__(self, query, connection: QueryConnection, *,
                 throw_on_invalid_timestamp: bool = False):
        plan: PhysicalPlan = query.plan
        self._query = query
        self.query_id = query.query_id
        self.backend = query.backend
        self.output = query.backend  # run_in_group points it at the batch's transaction
        self.group = query.group + "-GroupBy"
        self.topic = repartition_topic(query.group)
        self.partitions: int | None = None  # known once the topic exists
        self.source = plan.source
        self.auto_offset_reset = query.auto_offset_reset
        # No DuckDB checkpoint: its offsets live in its group only (a table's state is
        # rebuilt from the source, see _start_offsets).
        self.checkpoint = None
        # The query's own: its source's offsets and lag show next to the repartition
        # topic's (DESCRIBE EXTENDED, /metrics), and its input counts both, as ksqlDB's
        # consumer metrics do.
        self.metrics = query.metrics
        self.processing_log = query.processing_log
        self.connection = connection
        # A stream record without a value is in no group (the in-process path drops it
        # too); a table's deletes the row, which leaves its group.
        self.decoder = RecordDecoder(plan.source, drop_null_values=plan.filtered,
                                     throw_on_invalid_timestamp=throw_on_invalid_timestamp)
        self.group_keys = ProjectOperator(ProjectOperatorSpec(plan.aggregate.group_key_sql),
                                          connection)
        self.group_columns = plan.aggregate.groups
        # The group key as the result table's key: the sink's key format, never windowed
        # (a window is the aggregation's, after this step).
        self.key_names = tuple(c.name for c in plan.sink.schema.key)
        self.key_serde = make_serde(plan.sink.key_format, plan.sink.schema.key, is_key=True)
        # Over a table: each source key's current group, rebuilt on assignment
        # (run_in_group calls start_offsets when the group gives this process partitions).
        self.table: _TableGroups | None = None
        self.start_offsets = None
        if plan.source.kind == TABLE:
            self.table = _TableGroups(connection, plan.aggregate.state + "_repartition")
            self.start_offsets = self._start_offsets

    @property
    def source_topics(self) -> list[str]:
        return [self.source.topic]

    @property
    def _stopping(self) -> bool:  # read by run_in_group: stops with its query
        return self._query._stopping

    async def create_topic(self) -> None:
        """Create the repartition topic (if missing) with the source's partition count."""
        source = await self.backend.describe_topic(self.source.topic)
        partitions, replicas = (source.partitions, source.replicas) if source else (1, 1)
        created = await self.backend.create_topic(self.topic, partitions, replicas,
                                                  {"cleanup.policy": "delete"})
        self.partitions = created.partitions  # an existing topic keeps its own count

    async def drop(self) -> None:
        """Delete the repartition topic and this step's state (the query is terminated
        for good)."""
        if self.table is not None:
            self.table.drop_state()
        try:
            await self.backend.delete_topic(self.topic)
        except LogError as error:  # the query is gone either way; the topic only lingers
            logger.warning("query %s: cannot delete its repartition topic %s: %s",
                           self.query_id, self.topic, error)

    async def _process_checkpointed(self, topic: str, records: RecordBatch,
                                    position: dict[tuple[str, int], int]) -> None:
        await self.process(topic, records)
        if self.table is not None:
            self.table.current.update({p: offset for (_, p), offset in position.items()})

    async def process(self, topic: str, records: RecordBatch) -> int:
        """Send one source batch to the repartition topic; return the records produced."""
        batch = self.decoder.decode(topic, records)
        keyed, failed = self.group_keys.process(batch.table)
        errors = batch.errors + [ProcessingError(reason, topic, records[row].partition,
                                                 records[row].offset, kind="EVALUATION_ERROR")
                                 for row, reason in failed]
        null = self._null_group(keyed)
        if self.table is None:
            errors += self._null_key_errors(keyed.filter(null), batch)
            keyed = keyed.filter(pc.invert(null))
            out = self._records(keyed, self._group_keys(keyed), batch.records)
        else:
            present = pc.fill_null(keyed.column(PRESENT), False)
            errors += self._null_key_errors(keyed.filter(pc.and_(present, null)), batch)
            changes = self.table.changes(keyed, self._group_keys(
                keyed, pc.and_(present, pc.invert(null))), batch.records)
            out = self._table_records(changes, batch.records)
        self.metrics.record_input(topic, len(records), len(errors))
        await self.processing_log.record(self.query_id, errors)
        await produce_batch(self.output, self.topic, out)  # not the query's output
        if self.table is not None:
            self.table.apply(changes)  # once the retractions it implies are acknowledged
        return len(out)

    def _null_group(self, keyed: pa.Table) -> pa.ChunkedArray:
        """Per row: some grouping column is null."""
        null = pc.is_null(keyed.column(self.group_columns[0]))
        for name in self.group_columns[1:]:
            null = pc.or_(null, pc.is_null(keyed.column(name)))
        return null

    def _null_key_errors(self, dropped: pa.Table, batch: DecodedBatch) -> list[ProcessingError]:
        """A record whose group key has a null column belongs to no group: it is logged."""
        nulls = [dropped.column(name).is_null().to_pylist() for name in self.group_columns]
        errors = []
        for i, row in enumerate(dropped.column(ROW_INDEX).to_pylist()):
            record = batch.records[row]
            columns = ", ".join(key for key, is_null in zip(self.key_names, nulls)
                                if is_null[i])
            errors.append(ProcessingError(
                f"GROUP BY column(s) {columns} evaluated to null: the record is not "
                "aggregated", batch.topic, record.partition, record.offset,
                kind="EVALUATION_ERROR"))
        return errors

    def _group_keys(self, keyed: pa.Table, mask: pa.ChunkedArray | None = None) -> pa.Array:
        """Each row's group key bytes (null where `mask` is false)."""
        key_table = pa.table({name: keyed.column(group)
                              for name, group in zip(self.key_names, self.group_columns)})
        if mask is None:
            return _flat(encode_array(self.key_serde, key_table))
        mask = _flat(mask)
        encoded = _flat(encode_array(self.key_serde, key_table.filter(mask)))
        return pc.replace_with_mask(pa.nulls(keyed.num_rows, pa.binary()), mask, encoded)

    def _records(self, keyed: pa.Table, keys: pa.Array, source: RecordBatch) -> RecordBatch:
        """The source records of the keyed rows, in order, keyed by their group key and
        placed by it; value, timestamp and headers unchanged."""
        rows = _flat(keyed.column(ROW_INDEX)).cast(pa.int64())
        return self._routed(rows, keys, pc.take(source.values, rows), source)

    def _table_records(self, changes: pa.Table, source: RecordBatch) -> RecordBatch:
        """Per change of a source row: a tombstone of its source key to its old group, if
        it left one, then the row itself to its new group, if it has one."""
        rows = _flat(changes.column(ROW_INDEX)).cast(pa.int64())
        values = pc.if_else(_flat(changes.column(_ADDS)), pc.take(source.values, rows),
                            pa.nulls(len(rows), pa.binary()))
        return self._routed(rows, _flat(changes.column(_KEY)), values, source)

    def _routed(self, rows: pa.Array, keys: pa.Array, values: pa.Array,
                source: RecordBatch) -> RecordBatch:
        indexes = rows.to_pylist()
        source_keys = pc.take(source.keys, rows).to_pylist()
        partitions = pc.take(source.partitions, rows).to_pylist()
        offsets = pc.take(source.offsets, rows).to_pylist()
        headers = [source.headers_at(row) + _source_headers(key, partition, offset)
                   for row, key, partition, offset in zip(indexes, source_keys, partitions,
                                                          offsets)]
        return RecordBatch(keys, values, pc.take(source.timestamps, rows),
                           partitions_for(keys, self.partitions),
                           pa.array([-1] * len(indexes), pa.int64()), headers)

    async def _start_offsets(self, committed: dict[tuple[str, int], int | None]
                             ) -> dict[tuple[str, int], int]:
        """On assignment (over a table): rebuild the group of each source key of the
        partitions given, from the source records before the group's committed offset
        (the source topic is this state's changelog); start at that offset."""
        table = self.table
        table.keep({p for _, p in committed})
        for (topic, partition), offset in committed.items():
            if partition in table.current and table.current[partition] == offset:
                continue  # still this process's, and nothing else ran it since
            table.drop(partition)
            position = await self.backend.start_offset(topic, partition)
            while offset is not None and position < offset:
                records = await fetch_batch(self.backend, topic, partition, position,
                                            min(MAX_RESTORE_BATCH, offset - position))
                if not records:
                    break
                records = records.filter(pc.less(records.offsets, offset))
                keyed, _ = self.group_keys.process(self.decoder.decode(topic, records).table)
                present = pc.and_(pc.fill_null(keyed.column(PRESENT), False),
                                  pc.invert(self._null_group(keyed)))
                table.apply(table.changes(keyed, self._group_keys(keyed, present), records))
                position = records.next_offset
            table.current[partition] = offset
        return {}


_KEY, _ADDS = "$key", "$adds"
MAX_RESTORE_BATCH = 10_000


class _TableGroups:
    """Over a table: the group each source key's current row is in, per source partition.

    A table's change must retract the row's old contribution from its old group, whose
    state may be in another partition and process; this step knows the old group and
    sends that partition a tombstone of the source key. Kept in DuckDB, rebuilt from the
    source partitions this process is given (see GroupByRepartition._start_offsets).
    """

    def __init__(self, connection: QueryConnection, name: str):
        self.connection = connection
        self.name = _q(name)
        connection.run(f"CREATE TABLE IF NOT EXISTS {self.name} (partition INTEGER, "
                       "source_key BLOB PRIMARY KEY, group_key BLOB NOT NULL)")
        # partition -> the next source offset its rows reflect (None: none read yet)
        self.current: dict[int, int | None] = {}

    def changes(self, keyed: pa.Table, groups: pa.Array, source: RecordBatch) -> pa.Table:
        """Per row (in order): its new group key (null: absent) and the one it leaves;
        as outputs, `$key` and `$adds` (false: a tombstone to the old group)."""
        rows = _flat(keyed.column(ROW_INDEX)).cast(pa.int64())
        batch = pa.table({ROW_INDEX: rows, "partition": pc.take(source.partitions, rows),
                          "source_key": pc.take(source.keys, rows), "new_key": groups})
        row = _q(ROW_INDEX)
        return self.connection.run(
            f"WITH c AS (SELECT b.*, CASE WHEN row_number() OVER w = 1 THEN s.group_key "
            f"ELSE lag(b.new_key) OVER w END AS old_key FROM batch b LEFT JOIN {self.name} s "
            f"ON s.source_key = b.source_key WINDOW w AS (PARTITION BY b.source_key ORDER BY "
            f"b.{row})) "
            f"SELECT {row}, partition, source_key, new_key, old_key AS {_q(_KEY)}, "
            f"false AS {_q(_ADDS)}, 0 AS seq FROM c WHERE old_key IS NOT NULL AND "
            f"(new_key IS NULL OR old_key <> new_key) "
            f"UNION ALL SELECT {row}, partition, source_key, new_key, new_key, true, 1 FROM c "
            f"WHERE new_key IS NOT NULL "
            f"ORDER BY {row}, seq", batch=batch)

    def apply(self, changes: pa.Table) -> None:
        """Each source key's last group in `changes` becomes its state."""
        self.connection.run(
            f"DELETE FROM {self.name} WHERE source_key IN (SELECT source_key FROM changes)",
            changes=changes)
        self.connection.run(
            f"INSERT INTO {self.name} SELECT partition, source_key, new_key FROM changes "
            f"QUALIFY row_number() OVER (PARTITION BY source_key ORDER BY {_q(ROW_INDEX)} "
            f"DESC, seq DESC) = 1 AND new_key IS NOT NULL", changes=changes)

    def keep(self, partitions: set[int]) -> None:
        """Forget the partitions not in `partitions` (moved to another process)."""
        listed = ", ".join(str(p) for p in sorted(partitions)) or "NULL"
        self.connection.run(f"DELETE FROM {self.name} WHERE partition NOT IN ({listed})")
        for partition in [p for p in self.current if p not in partitions]:
            del self.current[partition]

    def drop(self, partition: int) -> None:
        self.connection.run(f"DELETE FROM {self.name} WHERE partition = {int(partition)}")
        self.current.pop(partition, None)

    def drop_state(self) -> None:
        self.connection.run(f"DROP TABLE IF EXISTS {self.name}")


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _flat(column) -> pa.Array:
    return column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column


def _source_headers(key: bytes | None, partition: int, offset: int):
    position = ((SOURCE_POSITION_HEADER, _POSITION.pack(partition, offset)),)
    return position if key is None else position + ((SOURCE_KEY_HEADER, key),)


class SourceRecordDecoder(RecordDecoder):
    """Sub-topology 2's decoder: repartitioned records decode as the source records they
    were (key, ROWPARTITION and ROWOFFSET back from their headers, errors reported at
    the source record), plus READ_PARTITION, the repartition partition each was read from."""

    def decode(self, topic: str, records) -> DecodedBatch:
        if not isinstance(records, RecordBatch):
            records = RecordBatch.from_records(records)
        decoded = super().decode(self.source.topic, restore_source_records(records))
        read = pc.take(records.partitions, decoded.table.column(ROW_INDEX))
        decoded.table = decoded.table.append_column(READ_PARTITION, read)
        return decoded


def restore_source_records(records: RecordBatch) -> RecordBatch:
    """Undo what GroupByRepartition added: the source key, partition and offset come back
    from their headers, which are removed."""
    if len(records) == 0:
        return records
    keys, partitions, offsets, headers = [], [], [], []
    for i, record_headers in enumerate(records.headers or [()] * len(records)):
        key, position, kept = None, None, []
        for name, value in record_headers:
            if name == SOURCE_KEY_HEADER:
                key = value
            elif name == SOURCE_POSITION_HEADER:
                position = _POSITION.unpack(value)
            else:
                kept.append((name, value))
        if position is None:
            raise ValueError(f"record at offset {records.offsets[i].as_py()} of a repartition "
                             f"topic has no {SOURCE_POSITION_HEADER} header")
        keys.append(key)
        partitions.append(position[0])
        offsets.append(position[1])
        headers.append(tuple(kept))
    return RecordBatch(pa.array(keys, pa.binary()), records.values, records.timestamps,
                       pa.array(partitions, pa.int32()), pa.array(offsets, pa.int64()),
                       headers if any(headers) else None)


async def run_repartitioned(query, options: GroupOptions, progress, max_records: int) -> None:
    """Run both sub-topologies of `query` (a PersistentQuery with a `repartition` step)
    until it stops; if one fails, the other stops too and the failure is raised."""
    step: GroupByRepartition = query.repartition
    await step.create_topic()
    tasks = [asyncio.create_task(run_in_group(step, options, _Silent(), max_records),
                                 name=f"{query.query_id}-GroupBy"),
             asyncio.create_task(run_in_group(query, options, progress, max_records),
                                 name=f"{query.query_id}-Aggregate")]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            task.result()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class _Silent:
    """Sub-topology 1's progress: the query's own progress log covers both (one metrics)."""

    def report(self, metrics, lag: int) -> None:
        pass
