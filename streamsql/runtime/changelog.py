"""State changelog topics on Kafka: a persistent query's state follows its partitions.

Each state store of a query scaled out through a consumer group has a compacted topic,
`_confluent-ksql-<service id>query_<query id>-<store>-changelog`, with as many partitions
as the topic the stateful operator reads; a state row lives in the changelog partition
equal to its state partition (the input partition it belongs to). Per batch, the rows the
operator wrote and the keys it deleted are produced there before the input offsets are
committed (in the partition's transaction under exactly-once). When the group gives this
process a partition, its state is rebuilt from the changelog unless the local DuckDB
checkpoint proves the local state current. The embedded log has no changelog.
"""
from __future__ import annotations

import logging
import time

import pyarrow as pa

from streamsql.log.backend import RecordBatch, produce_batch
from streamsql.operators.aggregate import AggregateOperator
from streamsql.operators.session import SessionAggregateOperator
from streamsql.state.changelog import Store, StoreChanges, restore_partition

logger = logging.getLogger("streamsql.query")

CHANGELOG_CONFIG = {"cleanup.policy": "compact"}


def state_changelog(query, exactly_once: bool) -> "StateChangelog | None":
    """The changelog of a stateful query whose state can follow its partitions (GROUP BY
    aggregations, windowed or not); None for a stateless query or state not covered yet
    (joins)."""
    if query.checkpoint is None or query.join is not None or \
            not isinstance(query.aggregate, (AggregateOperator, SessionAggregateOperator)):
        return None
    return StateChangelog(query, query.aggregate, exactly_once)


def is_state_current(local: int | None, committed: int | None, exactly_once: bool) -> bool:
    """Whether a partition's local state, checkpointed at offset `local`, may go on from
    there, given the group's committed offset.

    At-least-once: if it is at or past the group's offset (a process that died between
    its DuckDB commit and the group commit left it ahead; its outputs are out).
    Exactly-once: only at the group's offset (ahead means its transaction was aborted).
    No offsets at all: nobody processed the partition, its state is empty.
    """
    if exactly_once or local is None or committed is None:
        return local == committed
    return local >= committed


class StateChangelog:
    """The changelog topics of one query's stores, their per-batch records and the restore
    of the partitions this process is given."""

    def __init__(self, query, operator: AggregateOperator | SessionAggregateOperator,
                 exactly_once: bool):
        self.query = query
        self.operator = operator
        self.stores = operator.stores()
        self.exactly_once = exactly_once
        self.changes = StoreChanges(query.connection)
        operator.changes = self.changes

    def topic(self, store: Store) -> str:
        return f"{self.query.group}-{store.name}-changelog"

    async def create_topics(self) -> None:
        """Create missing changelog topics, compacted, with the source's partition count."""
        backend = self.query.backend
        (source,) = self.query.source_topics
        info = await backend.describe_topic(source)
        partitions = info.partitions if info else 1
        for store in self.stores:
            await backend.create_topic(self.topic(store), partitions, config=CHANGELOG_CONFIG)

    async def delete_topics(self) -> None:
        """The query is terminated: its changelogs go with its state."""
        for store in self.stores:
            await self.query.backend.delete_topic(self.topic(store))

    async def produce(self, output) -> None:
        """Step 2 of a batch: its state changes, to their state partitions (through
        `output`: the log, or the batch's transaction)."""
        now = int(time.time() * 1000)
        for store, records in self.changes.drain():
            count = records.num_rows
            await produce_batch(output, self.topic(store), RecordBatch(
                records.column("key").combine_chunks(), records.column("value").combine_chunks(),
                pa.repeat(pa.scalar(now, pa.int64()), count),
                records.column("partition").combine_chunks(),
                pa.repeat(pa.scalar(-1, pa.int64()), count)))

    def discard(self) -> None:
        """The batch failed: its state changes were rolled back, and are not produced."""
        self.changes.discard()

    async def place(self, member, committed: dict[tuple[str, int], int | None]
                    ) -> dict[tuple[str, int], int]:
        """The assignment callback (GroupMember's start_offsets): keep the state of the
        partitions given whose local state is current, restore the others from their
        changelogs, drop that of partitions not given; return where the kept ones start."""
        checkpoint = self.query.checkpoint
        local = checkpoint.offsets()
        kept = {tp: local.get(tp) for tp in committed
                if is_state_current(local.get(tp), committed[tp], self.exactly_once)}
        stale = sorted(tp for tp in committed if tp not in kept)
        read = {tp: await self._read(member, *tp) for tp in stale}
        checkpoint.begin()
        try:
            self.operator.keep_partitions({partition for _, partition in committed})
            checkpoint.forget([tp for tp in local if tp not in committed or tp in read])
            for (topic, partition), by_store in read.items():
                rows = sum(restore_partition(self.query.connection, store, partition, records)
                           for store, records in by_store.items())
                logger.info("query %s restored state of %s[%d]: %d rows", self.query.query_id,
                            topic, partition, rows)
            self.operator.restored({partition for _, partition in read})
            checkpoint.commit({tp: committed[tp] for tp in read if committed[tp] is not None})
        except BaseException:
            checkpoint.abort()
            raise
        return {tp: offset for tp, offset in kept.items() if offset is not None}

    async def _read(self, member, topic: str, partition: int) -> dict[Store, pa.Table]:
        """Every record of the changelog partitions of a source partition: per store, its
        key, value and offset columns."""
        by_store = {}
        for store in self.stores:
            batches = [batch async for batch in member.read_to_end(self.topic(store), partition)]
            by_store[store] = pa.table({
                "key": pa.chunked_array([b.keys for b in batches], pa.binary()),
                "value": pa.chunked_array([b.values for b in batches], pa.binary()),
                "offset": pa.chunked_array([b.offsets for b in batches], pa.int64())})
        logger.info("query %s restoring state of %s[%d]: %d records", self.query.query_id,
                    topic, partition, sum(t.num_rows for t in by_store.values()))
        return by_store
