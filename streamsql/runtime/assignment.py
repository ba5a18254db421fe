"""Scale-out: a persistent query run on the source partitions its consumer group gives
this process, not on all of them.

Processes started with one service id join one consumer group per query
(`_confluent-ksql-<service id>query_<query id>`); Kafka splits the source partitions
between them and moves them when a process stops or dies. Offsets are committed only
after a batch's outputs are acknowledged (at-least-once), or with them in one transaction
(exactly_once_v2), so a partition's new owner resumes where the old one committed.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from streamsql.errors import NotSupportedError

logger = logging.getLogger("streamsql.query")

EXACTLY_ONCE = frozenset({"exactly_once", "exactly_once_v2", "exactly_once_beta"})
# Bound on one wait for records: how soon a stop request is seen when the source is idle.
POLL_TIMEOUT_MS = 200


@dataclass(frozen=True)
class GroupOptions:
    """How a query's process takes part in its consumer group (from engine properties)."""

    guarantee: str = "at_least_once"
    session_timeout_ms: int = 10_000
    heartbeat_interval_ms: int = 3_000
    transaction_timeout_ms: int = 10_000

    @property
    def exactly_once(self) -> bool:
        return self.guarantee in EXACTLY_ONCE

    @classmethod
    def from_config(cls, config) -> "GroupOptions":
        """From ksqlDB's property names (`ksql.streams.` prefix optional)."""
        guarantee = (config.get("processing.guarantee") or "at_least_once").lower()
        return cls(guarantee=guarantee,
                   session_timeout_ms=config.get_int("session.timeout.ms", 10_000),
                   heartbeat_interval_ms=config.get_int("heartbeat.interval.ms", 3_000),
                   transaction_timeout_ms=config.get_int("transaction.timeout.ms", 10_000))


async def run_in_group(query, options: GroupOptions, progress, max_records: int) -> None:
    """Run `query` (a PersistentQuery) on its share of the partitions until it stops.

    For each fetched batch of an owned partition:
      1. (exactly-once) open the partition's transaction;
      2. process it and produce its outputs (a stateful query also commits its state and
         next offsets to its DuckDB database, see state/checkpoint.py);
      3. commit the next offsets to the group, with the transaction if there is one.
    A rebalance waits for the batch in flight, so partitions move only between batches.
    """
    if options.exactly_once and query.checkpoint is not None:
        raise NotSupportedError(
            f"processing.guarantee '{options.guarantee}' is not supported yet for stateful "
            f"queries (aggregations, joins) on Kafka: their state would need a changelog topic "
            f"written in the same transaction", hint="SET 'processing.guarantee'='at_least_once' "
            "before creating this query")
    member = query.backend.join_group(
        query.group, query.source_topics, auto_offset_reset=query.auto_offset_reset,
        # A stateful query's own offsets agree with its state; the group's may lag them.
        start_offsets=_checkpoint_offsets(query) if query.checkpoint is not None else None,
        session_timeout_ms=options.session_timeout_ms,
        heartbeat_interval_ms=options.heartbeat_interval_ms,
        transactional=options.exactly_once,
        transaction_timeout_ms=options.transaction_timeout_ms)
    await member.start()
    query.output = member  # outputs go into the batch's transaction, if any
    owned: set[tuple[str, int]] = set()
    try:
        while not query._stopping:
            batches = await member.fetch(max_records, POLL_TIMEOUT_MS)
            if member.assignment() != owned:
                owned = member.assignment()
                logger.info("query %s now owns source partitions %s", query.query_id,
                            describe_partitions(owned))
            for (topic, partition), records in batches.items():
                position = {(topic, partition): records.next_offset}
                async with member.batch(topic, partition) as still_owned:  # Step 1
                    if not still_owned:
                        continue  # moved away since the fetch; its new owner reads it again
                    await query._process_checkpointed(topic, records, position)  # Step 2
                    if not await member.commit(position):  # Step 3
                        logger.warning("query %s lost %s partition %d to a rebalance before "
                                       "committing; its new owner processes the batch again",
                                       query.query_id, topic, partition)
            _record_positions(query.metrics, member)
            progress.report(query.metrics, query.metrics.lag)
    finally:
        query.output = query.backend
        await member.close()


def describe_partitions(partitions: set[tuple[str, int]]) -> str:
    """{('a', 2), ('a', 0)} -> 'a[0, 2]'."""
    by_topic: dict[str, list[int]] = {}
    for topic, partition in partitions:
        by_topic.setdefault(topic, []).append(partition)
    return " ".join(f"{topic}{sorted(numbers)}" for topic, numbers in sorted(by_topic.items())) \
        or "(none)"


def _checkpoint_offsets(query):
    async def offsets(committed: dict[tuple[str, int], int | None]) -> dict[tuple[str, int], int]:
        stored = query.checkpoint.offsets()
        taken_over = [tp for tp, offset in committed.items()
                      if offset is not None and tp not in stored]
        if taken_over:
            # Another process ran these partitions; their state stayed there.
            logger.warning("query %s took over %s from another process without their state "
                           "(state changelog topics are not supported yet): results for keys "
                           "in them count only what this process sees from now on",
                           query.query_id, describe_partitions(set(taken_over)))
        return {tp: stored[tp] for tp in committed if tp in stored}
    return offsets


def _record_positions(metrics, member) -> None:
    """Lag and positions of the partitions this process owns now, and only those."""
    owned = member.positions()
    for tp in [tp for tp in metrics.partitions if tp not in owned]:
        del metrics.partitions[tp]
    for (topic, partition), (position, end) in owned.items():
        metrics.record_position(topic, partition, committed=position, log_end=end)
