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
from streamsql.log.backend import RecordBatch
from streamsql.runtime.changelog import state_changelog

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

    For each step (what one fetch returned for a topic's owned partitions, see _steps):
      1. (exactly-once) open the partition's transaction;
      2. process the step's records as one batch and produce its outputs (a stateful
         query also produces its state changes to its changelog topics, then commits its
         state and next offsets to its DuckDB database, see runtime/changelog.py and
         state/checkpoint.py);
      3. commit the next offsets to the group, with the transaction if there is one.
    A rebalance waits for the batch in flight, so partitions move only between batches.
    """
    # State that follows its partitions: changelog topics, restored on assignment.
    changelog = state_changelog(query, options.exactly_once)
    if options.exactly_once and query.checkpoint is not None and changelog is None:
        raise NotSupportedError(
            f"processing.guarantee '{options.guarantee}' is not supported yet for joins on "
            f"Kafka: their state would need a changelog topic written in the same "
            f"transaction", hint="SET 'processing.guarantee'='at_least_once' "
            "before creating this query")
    if changelog is not None:
        await changelog.create_topics()
        query.changelog = changelog

        async def start_offsets(committed):  # called on assignment, once `member` is bound
            return await changelog.place(member, committed)
    elif query.checkpoint is not None:
        # A stateful query's own offsets agree with its state; the group's may lag them.
        start_offsets = _checkpoint_offsets(query)
    else:
        # A table's repartition step rebuilds its state from the source on assignment.
        start_offsets = getattr(query, "start_offsets", None)
    member = query.backend.join_group(
        query.group, query.source_topics, auto_offset_reset=query.auto_offset_reset,
        start_offsets=start_offsets,
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
            for step in _steps(batches, member.transactional):
                async with member.batch(step) as still_owned:  # Step 1
                    # Partitions moved away since the fetch: their new owner reads them again.
                    kept = [tp for tp in step if tp in still_owned]
                    if not kept:
                        continue
                    position = {tp: step[tp].next_offset for tp in kept}
                    records = RecordBatch.concat([step[tp] for tp in kept])
                    await query._process_checkpointed(kept[0][0], records, position)  # Step 2
                    if not await member.commit(position):  # Step 3
                        logger.warning("query %s lost %s to a rebalance before committing; "
                                       "the new owner processes the batch again",
                                       query.query_id, describe_partitions(set(position)))
            _record_positions(query.metrics, member)
            progress.report(query.metrics, query.metrics.lag)
    finally:
        query.output = query.backend
        await member.close()


def _steps(batches: dict[tuple[str, int], RecordBatch], transactional: bool
           ) -> list[dict[tuple[str, int], RecordBatch]]:
    """The fetched batches grouped into steps, each processed as one batch.

    A step holds every partition of a topic, partition after partition (the order one
    step per partition would give), so that the per-batch costs (SQL statements, the
    produce round trip, the commit) are paid once per topic; with transactions, one
    partition, whose own producer's transaction carries its outputs and offset.
    """
    if transactional:
        return [{tp: batches[tp]} for tp in sorted(batches)]
    by_topic: dict[str, dict[tuple[str, int], RecordBatch]] = {}
    for tp in sorted(batches):
        by_topic.setdefault(tp[0], {})[tp] = batches[tp]
    return list(by_topic.values())


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
                           "(joins have no state changelog yet): results for keys in them "
                           "count only what this process sees from now on",
                           query.query_id, describe_partitions(set(taken_over)))
        return {tp: stored[tp] for tp in committed if tp in stored}
    return offsets


def _record_positions(metrics, member) -> None:
    """Lag and positions of the partitions this process owns now, and only those."""
    owned = member.positions()
    # Of this member's topics only: a repartitioned query's two groups share its metrics.
    for tp in [tp for tp in metrics.partitions if tp not in owned and tp[0] in member.topics]:
        del metrics.partitions[tp]
    for (topic, partition), (position, end) in owned.items():
        metrics.record_position(topic, partition, committed=position, log_end=end)
