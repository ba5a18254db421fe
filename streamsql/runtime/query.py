"""Persistent and push queries: a physical plan bound to the log, DuckDB and serdes.

A query consumes its source topic in micro-batches, runs the plan over each batch and
produces the results (to its sink topic, or to a push query's client), then commits.
"""
from __future__ import annotations

import asyncio
import dataclasses
import logging
import time

import pyarrow as pa
import pyarrow.compute as pc

from streamsql.analyzer.analyzer import ROW_INDEX, TOMBSTONE
from streamsql.catalog.schema import Column
from streamsql.errors import ProcessingError as QueryFailure
from streamsql.errors import StreamSQLError
from streamsql.log.backend import (LogBackend, Record, RecordBatch, fetch_batch,
                                     produce_batch, wait_for_records)
from streamsql.catalog.catalog import STREAM
from streamsql.operators.aggregate import AggregateOperator
from streamsql.operators.closing_join import ClosingJoinOperator
from streamsql.operators.join import JoinOperator
from streamsql.operators.table_join import TableJoinOperator
from streamsql.operators.project import ProjectOperator
from streamsql.operators.session import SessionAggregateOperator
from streamsql.planner.physical import PASSES, PhysicalPlan, TableJoinOperatorSpec
from streamsql.runtime.assignment import POLL_TIMEOUT_MS, GroupOptions, run_in_group
from streamsql.runtime.metrics import QueryMetrics
from streamsql.runtime.processing_log import ProcessingError, ProcessingLog, null_group_key
from streamsql.runtime.repartition import (GroupByRepartition, decoders_after_repartition,
                                           plan_after_repartition, run_repartitioned,
                                           uses_repartition_topic)
from streamsql.runtime.task import DecodedBatch, RecordDecoder, ResultEncoder
from streamsql.state.checkpoint import Checkpoint
from streamsql.state.store import StateStore

logger = logging.getLogger("streamsql.query")

MAX_BATCH = 10_000


class Query:
    """What persistent and push queries share: decode, project, and account."""

    def __init__(self, query_id: str, plan: PhysicalPlan, store: StateStore,
                 processing_log: ProcessingLog, *, throw_on_invalid_timestamp: bool = False,
                 decoders: dict[str, tuple[int, RecordDecoder]] | None = None):
        """decoders: by topic read, (side, decoder), where the topics are not the sources'."""
        self.query_id = query_id
        self.plan = plan
        joined = plan.join is not None
        # One decoder per source topic; in a join a stream record needs a value to match.
        self.decoders: dict[str, tuple[int, RecordDecoder]] = dict(decoders) if decoders else {
            side.source.topic: (index, RecordDecoder(
                side.source, prefix=side.prefix,
                drop_null_values=plan.filtered or (joined and side.source.kind == STREAM),
                throw_on_invalid_timestamp=throw_on_invalid_timestamp))
            for index, side in enumerate(plan.sides)}
        self.connection = store.cursor()
        self.project = ProjectOperator(plan.project, self.connection)
        self.join = None
        self.aggregate = None
        empty = tuple(decoder.decode(topic, []).table
                      for topic, (_, decoder) in self.decoders.items())
        if joined:
            if isinstance(plan.join, TableJoinOperatorSpec):
                operator = TableJoinOperator
            else:
                operator = ClosingJoinOperator if plan.join.emit_on_close else JoinOperator
            self.join = operator(plan.join, self.connection, empty)
        if plan.aggregate is not None:
            window = plan.aggregate.window
            operator = SessionAggregateOperator if window is not None and \
                window.kind == "SESSION" else AggregateOperator
            # An aggregation over a join reads the join's rows (a table-table join's as the
            # changelog of its result table).
            rows = empty[0]
            if isinstance(self.join, TableJoinOperator):
                rows = self.join.changelog(self.join.empty_changes())
            elif joined:
                rows = self.join.probe(0, empty[0])
            self.aggregate = operator(plan.aggregate, self.connection, rows)
        self.processing_log = processing_log
        self.metrics = QueryMetrics()
        self.state = "CREATED"

    @property
    def source_topics(self) -> list[str]:
        return list(self.decoders)

    async def _transform(self, topic: str, records: list[Record]) -> tuple[pa.Table, DecodedBatch]:
        side, decoder = self.decoders[topic]
        batch = decoder.decode(topic, records)
        rows = batch.table
        if isinstance(self.join, TableJoinOperator):
            rows = self.join.process(side, rows)
            if self.aggregate is not None:
                rows = self.join.changelog(rows)
        elif self.join is not None:
            probed = self.join.probe(side, rows)
            self.join.store(side, rows)
            rows = probed
            if self.plan.join.stream_table and side == 1:
                rows = rows.slice(0, 0)  # a table update changes state; it emits nothing
        late, ungrouped = [], []
        if self.aggregate is not None:
            origin = None
            if self.join is not None:
                # A record may match several rows, which the aggregation takes one by one.
                rows, origin = _numbered(rows)
            rows = self.aggregate.process(rows)
            late, self.aggregate.late = self.aggregate.late, []
            ungrouped, self.aggregate.ungrouped = self.aggregate.ungrouped, []
            if origin is not None:
                rows = _from_origin(rows, origin)
                late = [dataclasses.replace(l, row=origin[l.row].as_py()) for l in late]
                ungrouped = [dataclasses.replace(u, row=origin[u.row].as_py())
                             for u in ungrouped]
        result, failed = self.project.process(rows)
        if isinstance(self.join, TableJoinOperator) and self.aggregate is None:
            result = self.join.resolve(result)
        errors = batch.errors + [
            ProcessingError(f"late record dropped: window={l.window_start} "
                            f"late_by_ms={l.late_by_ms}", topic, records[l.row].partition,
                            records[l.row].offset, kind="LATE_RECORD") for l in late] + [
            ProcessingError(null_group_key(self._group_names(u.null_columns)), topic,
                            records[u.row].partition, records[u.row].offset,
                            kind="EVALUATION_ERROR") for u in ungrouped] + [
            ProcessingError(reason, topic, records[row].partition, records[row].offset,
                            kind="EVALUATION_ERROR") for row, reason in failed]
        self.metrics.record_input(topic, len(records), len(errors))
        await self.processing_log.record(self.query_id, errors)
        return result, batch

    def _group_names(self, positions: tuple[int, ...]) -> list[str]:
        """The result's key columns that the GROUP BY columns at `positions` become."""
        key = self.plan.sink.schema.key
        return [key[i].name for i in positions]

    async def _partitions(self) -> list[tuple[str, int]]:
        """Every (topic, partition) the query reads."""
        positions = []
        for topic in self.source_topics:
            info = await self.backend.describe_topic(topic)
            positions.extend((topic, p) for p in range(info.partitions if info else 1))
        return positions

    def close(self) -> None:
        self.connection.close()


def _numbered(rows: pa.Table) -> tuple[pa.Table, pa.Array]:
    """The rows with `$row` renumbered 0..n-1 in their order, and each row's input record."""
    origin = rows.column(ROW_INDEX).combine_chunks()
    index = rows.column_names.index(ROW_INDEX)
    return rows.set_column(index, ROW_INDEX, pa.array(range(rows.num_rows), pa.int64())), origin


def _from_origin(rows: pa.Table, origin: pa.Array) -> pa.Table:
    """Rows whose `$row` numbers a row of `_numbered`, pointed back at their input records."""
    index = rows.column_names.index(ROW_INDEX)
    return rows.set_column(index, ROW_INDEX, pc.take(origin, rows.column(ROW_INDEX)))


class PersistentQuery(Query):
    """CSAS / INSERT INTO ... SELECT: source topic -> sink topic, offsets in a consumer group."""

    def __init__(self, query_id: str, sql: str, plan: PhysicalPlan, backend: LogBackend,
                 store: StateStore, processing_log: ProcessingLog, *, sink_partitions: int,
                 group: str, auto_offset_reset: str = "earliest",
                 throw_on_invalid_timestamp: bool = False, scale_out: GroupOptions | None = None):
        # Grouping by a non-key column on Kafka: a first sub-topology sends the source's
        # records through a repartition topic, which this query (the aggregation) reads.
        repartitioned = scale_out is not None and uses_repartition_topic(plan)
        if repartitioned:
            plan = plan_after_repartition(plan)
        super().__init__(query_id, plan, store, processing_log,
                         throw_on_invalid_timestamp=throw_on_invalid_timestamp,
                         decoders=decoders_after_repartition(
                             plan, group, throw_on_invalid_timestamp=throw_on_invalid_timestamp)
                         if repartitioned else None)
        self.sql = sql
        self.backend = backend
        # Where outputs go: the log, or (exactly-once) the transaction of the batch in flight.
        self.output = backend
        self.group = group
        # None: this process reads every partition; else the group splits them (Kafka).
        self.scale_out = scale_out
        self.auto_offset_reset = auto_offset_reset
        self.encoder = ResultEncoder(plan.sink, sink_partitions,
                                     keys_from_value=plan.keys_from_value,
                                     aggregated=plan.emits_changes,
                                     final_results=plan.aggregate is not None and
                                     plan.aggregate.emit_final)
        self._task: asyncio.Task | None = None
        self._stopping = False
        # A stateful query keeps its offsets with its state (see state/checkpoint.py).
        stateful = self.join is not None or self.aggregate is not None
        self.checkpoint = Checkpoint(self.connection, query_id) if stateful else None
        # On Kafka, the topics that carry the state to other processes (run_in_group sets it).
        self.changelog = None
        self.failure: str | None = None
        self.repartition: GroupByRepartition | None = None
        if repartitioned:
            self.repartition = GroupByRepartition(
                self, store.cursor(), throw_on_invalid_timestamp=throw_on_invalid_timestamp)
            # Every record in the repartition topic is this query's input, including those
            # sent before the aggregation first joined its group (as Kafka Streams does).
            self.auto_offset_reset = "earliest"

    @property
    def sink_topic(self) -> str:
        return self.plan.sink.topic

    async def process(self, topic: str, records: list[Record]) -> int:
        """Run one batch through the plan and produce its output; return records produced."""
        result, batch = await self._transform(topic, records)
        errors_before = len(batch.errors)
        out = self.encoder.encode(result, batch)
        if len(batch.errors) > errors_before:
            self.metrics.record_errors(topic, len(batch.errors) - errors_before)
            await self.processing_log.record(self.query_id, batch.errors[errors_before:])
        if out:
            await produce_batch(self.output, self.sink_topic, out)
        self.metrics.record_output(len(out))
        return len(out)

    async def _start_offset(self, topic: str, partition: int) -> int:
        if self.checkpoint is not None:
            stored = self.checkpoint.offsets().get((topic, partition))
            if stored is not None:
                return stored
        committed = await self.backend.committed(self.group, topic, partition)
        if committed is not None:
            return committed
        if self.auto_offset_reset == "earliest":
            return await self.backend.start_offset(topic, partition)
        return await self.backend.end_offset(topic, partition)

    async def run(self) -> None:
        """Consume until stopped: fetch -> process -> produce -> commit, per partition."""
        if self.scale_out is not None:
            self.state = "RUNNING"
            run = run_in_group if self.repartition is None else run_repartitioned
            await run(self, self.scale_out, _Progress(self.query_id), MAX_BATCH)
            return
        positions = await self._partitions()
        offsets = {tp: await self._start_offset(*tp) for tp in positions}
        for (topic, partition), offset in offsets.items():
            self.metrics.record_position(
                topic, partition, committed=offset,
                log_start=await self.backend.start_offset(topic, partition),
                log_end=await self.backend.end_offset(topic, partition))
        self.state = "RUNNING"
        progress = _Progress(self.query_id)
        while not self._stopping:
            # What every partition of a topic has is processed as one batch (partition after
            # partition, so in the order one batch per partition would give): the per-batch
            # costs (SQL calls, fsyncs of outputs, state and offsets) are paid once per step.
            fetched: dict[str, list[RecordBatch]] = {}
            for topic, partition in positions:
                records = await fetch_batch(self.backend, topic, partition,
                                            offsets[topic, partition], MAX_BATCH)
                if records:
                    fetched.setdefault(topic, []).append(records)
            for topic, batches in fetched.items():
                position = {(topic, b.partitions[0].as_py()): b.next_offset for b in batches}
                await self._process_checkpointed(topic, RecordBatch.concat(batches), position)
                # Outputs are durable (produce returned) before the input offset moves:
                # a crash in between re-processes the batch (at-least-once), never loses it.
                offsets.update(position)
                await self.backend.commit(self.group, position)
                for (_, partition), offset in position.items():
                    self.metrics.record_position(
                        topic, partition, committed=offset,
                        log_end=await self.backend.end_offset(topic, partition))
            progress.report(self.metrics, self.metrics.lag)
            if not fetched:
                # A record that arrives ends the wait at once; the bound is how soon a stop
                # request is seen.
                await wait_for_records(self.backend, {tp: offsets[tp] for tp in positions},
                                       POLL_TIMEOUT_MS)
            else:
                # The embedded log answers without suspending: yield, or signals, the HTTP
                # endpoint and the other queries would wait for the whole backlog.
                await asyncio.sleep(0)

    async def _process_checkpointed(self, topic: str, records: list[Record],
                                    position: dict[tuple[str, int], int]) -> None:
        """Process a batch; a stateful query commits its state with its offsets."""
        if self.checkpoint is None:
            await self.process(topic, records)
            return
        self.checkpoint.begin()
        try:
            await self.process(topic, records)
            if self.changelog is not None:  # the state's changes go out before the offsets
                await self.changelog.produce(self.output)
        except BaseException:
            self.checkpoint.abort()
            if self.changelog is not None:
                self.changelog.discard()
            raise
        self.checkpoint.commit(position)

    def start(self) -> None:
        self.state = "RUNNING"
        self._task = asyncio.create_task(self._run_guarded(), name=self.query_id)

    async def _run_guarded(self) -> None:
        try:
            await self.run()
        except asyncio.CancelledError:
            raise
        except Exception as err:  # a query failure must not take the engine down
            self.state = "ERROR"
            self.failure = str(err)
            if isinstance(err, StreamSQLError):  # says what to do; a traceback would not help
                logger.error("query %s failed: %s", self.query_id, err.render())
            else:
                logger.exception("query %s failed", self.query_id)

    async def stop(self, *, drop_state: bool = False) -> None:
        """Stop after the batch in flight (its outputs produced and offsets committed).

        drop_state: the query is terminated for good, so its state tables go too.
        """
        self._stopping = True
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout=5)
            except asyncio.TimeoutError:
                self._task.cancel()
            except Exception:
                pass
            self._task = None
        self.state = "TERMINATED" if self.state != "ERROR" else self.state
        if drop_state:
            for operator in (self.join, self.aggregate, self.checkpoint):
                if operator is not None:
                    operator.drop_state()
            if self.repartition is not None:  # internal topics go with the query
                await self.repartition.drop()
            if self.changelog is not None:
                await self.changelog.delete_topics()
        if self.repartition is not None:
            self.repartition.connection.close()
        self.close()


class _Progress:
    """Logs a query's progress while it catches up, and once when it has caught up."""

    INTERVAL = 2.0

    def __init__(self, query_id: str):
        self.query_id = query_id
        self.last = 0.0
        self.caught_up = False

    def report(self, metrics: QueryMetrics, lag: int) -> None:
        now = time.monotonic()
        if lag > 0:
            self.caught_up = False
            if now - self.last >= self.INTERVAL:
                self.last = now
                logger.info("query %s catching up: %d records in, %d out, lag %d",
                            self.query_id, metrics.records_in, metrics.records_out, lag)
        elif not self.caught_up and metrics.records_in:
            self.caught_up = True
            self.last = now
            logger.info("query %s caught up: %d records in, %d out, lag 0",
                        self.query_id, metrics.records_in, metrics.records_out)


class TombstoneRow(list):
    """A push query row that deletes its key from a table: key columns set, the rest null."""


class PushQuery(Query):
    """A transient SELECT ... EMIT CHANGES: rows go to the client until LIMIT or close.

    `start` fixes the offsets it reads from, so a record produced after it returns is seen.
    """

    def __init__(self, query_id: str, plan: PhysicalPlan, backend: LogBackend,
                 store: StateStore, processing_log: ProcessingLog, *, from_beginning: bool,
                 columns: tuple[Column, ...] | None = None):
        """columns: the plan's output columns in the order the rows show them."""
        super().__init__(query_id, plan, store, processing_log)
        self.backend = backend
        self.from_beginning = from_beginning
        self.columns: tuple[Column, ...] = columns or plan.output_columns
        self.limit = plan.limit
        # A stream record without a value is no row of a push query (ksqlDB drops it).
        for _, decoder in self.decoders.values():
            if decoder.source.kind == STREAM:
                decoder.drop_null_values = True
        # Over a table (or an aggregation) a record without a value, or a group that
        # stops passing HAVING, deletes its key: the client sees a tombstone row.
        self._changelog = plan.aggregate is not None or (
            plan.join is None and plan.source.kind != STREAM)
        self._key_names = {c.name for c in plan.key}
        self.offsets: dict[tuple[str, int], int] | None = None

    async def start(self) -> None:
        """Fix each source partition's start offset (its beginning or its current end)."""
        offsets = {}
        for topic, partition in await self._partitions():
            offsets[topic, partition] = (
                await self.backend.start_offset(topic, partition) if self.from_beginning
                else await self.backend.end_offset(topic, partition))
        self.offsets = offsets
        self.state = "RUNNING"

    async def rows(self):
        """Yield result rows (lists of Python values; TombstoneRow for a deletion) as they
        arrive, until LIMIT."""
        if self.offsets is None:
            await self.start()
        offsets = self.offsets
        names = [c.name for c in self.columns]
        emitted = 0
        try:
            while self.limit is None or emitted < self.limit:
                got = False
                for topic, partition in list(offsets):
                    records = await self.backend.fetch(topic, partition,
                                                       offsets[topic, partition], MAX_BATCH)
                    if not records:
                        continue
                    got = True
                    offsets[topic, partition] = records[-1].offset + 1
                    result, batch = await self._transform(topic, records)
                    result, deleted = self._changes(result, batch)
                    rows = result.select(names).to_pylist()
                    if self.limit is not None:
                        rows = rows[:self.limit - emitted]
                    self.metrics.record_output(len(rows))
                    for row, is_deleted in zip(rows, deleted):
                        if is_deleted:
                            yield TombstoneRow(row[n] if n in self._key_names else None
                                               for n in names)
                        else:
                            yield [row[n] for n in names]
                        emitted += 1
                    if self.limit is not None and emitted >= self.limit:
                        return
                if not got:
                    await asyncio.sleep(0.05)
        finally:
            self.state = "TERMINATED"
            self.close()

    def _changes(self, result: pa.Table, batch: DecodedBatch) -> tuple[pa.Table, list[bool]]:
        """The result rows the client sees, and for each whether it deletes its key.

        An aggregation's result already holds only changes (HAVING included). A table row
        failing WHERE is left out: without the key's previous row there is no telling
        whether it was ever shown, and ksqlDB shows nothing for a key never shown.
        """
        if not self._changelog:
            return result, [False] * result.num_rows
        passes = pc.fill_null(result.column(PASSES), False) \
            if PASSES in result.column_names else None
        if self.plan.aggregate is not None:
            deleted = pc.invert(passes) if passes is not None else None
        else:
            positions = pc.index_in(result.column(ROW_INDEX),
                                    value_set=batch.table.column(ROW_INDEX))
            deleted = pc.take(batch.table.column(TOMBSTONE), positions)
            if passes is not None:
                kept = pc.or_(passes, deleted)
                result, deleted = result.filter(kept), deleted.filter(kept)
        if deleted is None:
            return result, [False] * result.num_rows
        return result, deleted.to_pylist()


__all__ = ["PersistentQuery", "PushQuery", "QueryFailure", "TombstoneRow"]
