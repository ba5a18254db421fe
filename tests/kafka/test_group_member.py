"""GroupMember against a real broker: members of one group split the partitions, a
partition's next owner starts where the last commit left it, transactions carry the
offsets, and auto.offset.reset places partitions without a committed offset."""
from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from kafka_broker import FAST_GROUPS

from streamsql.log.backend import Record
from streamsql.log.kafka import KafkaLog

SESSION = dict(session_timeout_ms=int(FAST_GROUPS["session.timeout.ms"]),
               heartbeat_interval_ms=int(FAST_GROUPS["heartbeat.interval.ms"]))
PARTITIONS = 4


def numbered(first: int, count: int, partitions: int = PARTITIONS) -> list[Record]:
    """Records whose values count up from `first`, spread over partitions round-robin."""
    return [Record(None, str(n).encode(), n, partition=n % partitions)
            for n in range(first, first + count)]


async def fetch_until(member, done) -> dict[tuple[str, int], list[Record]]:
    """Fetch (and keep) batches until done(all fetched) holds; bounded by the broker's pace."""
    got: dict[tuple[str, int], list[Record]] = {}
    for _ in range(300):
        for tp, records in (await member.fetch(1000, 100)).items():
            got.setdefault(tp, []).extend(records.to_records())
        if done(got):
            break
    return got


async def committed_offset(bootstrap: str, group: str, topic: str, partition: int):
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        return await consumer.committed(TopicPartition(topic, partition))
    finally:
        await consumer.stop()


async def test_members_split_partitions_and_the_survivor_resumes_from_the_commit(
        kafka_bootstrap, unique_name):
    topic, group = unique_name("split"), unique_name("group")
    async with KafkaLog(kafka_bootstrap) as log:
        await log.create_topic(topic, PARTITIONS)
        await log.produce(topic, numbered(0, 40))
        first = log.join_group(group, [topic], auto_offset_reset="earliest", **SESSION)
        second = log.join_group(group, [topic], auto_offset_reset="earliest", **SESSION)
        await first.start()
        await second.start()
        try:
            got = await asyncio.gather(
                fetch_until(first, lambda g: first.assignment() and
                            sum(map(len, g.values())) == 10 * len(first.assignment())),
                fetch_until(second, lambda g: second.assignment() and
                            sum(map(len, g.values())) == 10 * len(second.assignment())))
            owned = [first.assignment(), second.assignment()]
            # The second member commits half of what it read, in one batch, then leaves.
            async with second.batch(got[1]) as owned_now:
                assert owned_now == set(got[1])
                assert await second.commit({tp: records[4].offset + 1
                                            for tp, records in got[1].items()})
        finally:
            await second.close()
        try:
            await log.produce(topic, numbered(40, 4))
            taken = await fetch_until(first, lambda g: len(first.assignment()) == PARTITIONS
                                      and all(len(g.get(tp, ())) >= 6 for tp in owned[1]))
        finally:
            await first.close()
    assert owned[0] | owned[1] == {(topic, p) for p in range(PARTITIONS)}
    assert not owned[0] & owned[1] and owned[0] and owned[1]
    for t, p in owned[1]:
        # Resumed right after the second member's commit: its 5 committed records are not
        # read again, the other 5 and the new one are.
        assert [int(r.value) for r in taken[t, p]] == list(range(20 + p, 44, 4))


async def test_transaction_commits_outputs_with_the_input_offsets(kafka_bootstrap, unique_name):
    source, sink, group = unique_name("in"), unique_name("out"), unique_name("group")
    async with KafkaLog(kafka_bootstrap) as log:
        await log.create_topic(source, 1)
        await log.create_topic(sink, 1)
        await log.produce(source, numbered(0, 3, partitions=1))
        member = log.join_group(group, [source], auto_offset_reset="earliest",
                                transactional=True, **SESSION)
        await member.start()
        try:
            got = await fetch_until(member, lambda g: len(g.get((source, 0), ())) == 3)
            async with member.batch({(source, 0)}) as owned:
                assert owned
                await member.produce(sink, [Record(None, r.value.upper() + b"!", r.timestamp)
                                            for r in got[source, 0]])
                assert await member.commit({(source, 0): 3})
        finally:
            await member.close()
    async with KafkaLog(kafka_bootstrap, isolation_level="read_committed") as reader:
        out = await reader.fetch(sink, 0, 0, timeout_ms=5000)
    assert [r.value for r in out] == [b"0!", b"1!", b"2!"]
    assert await committed_offset(kafka_bootstrap, group, source, 0) == 3


async def test_a_batch_yields_the_partitions_the_member_still_owns(kafka_bootstrap, unique_name):
    topic, group = unique_name("owned"), unique_name("group")
    async with KafkaLog(kafka_bootstrap) as log:
        await log.create_topic(topic, 2)
        member = log.join_group(group, [topic], auto_offset_reset="earliest", **SESSION)
        await member.start()
        try:
            await fetch_until(member, lambda g: len(member.assignment()) == 2)
            async with member.batch({(topic, 0), (topic, 1), ("elsewhere", 0)}) as owned:
                assert owned == {(topic, 0), (topic, 1)}
            async with member.batch({("elsewhere", 0)}) as owned:
                assert owned == set()
        finally:
            await member.close()


async def test_a_transactional_batch_covers_one_partition(kafka_bootstrap, unique_name):
    async with KafkaLog(kafka_bootstrap) as log:
        member = log.join_group(unique_name("group"), ["t"], transactional=True, **SESSION)
        with pytest.raises(ValueError, match="one partition"):
            async with member.batch({("t", 0), ("t", 1)}):
                pass


async def test_a_partition_without_a_committed_offset_starts_at_the_log_end_for_latest(
        kafka_bootstrap, unique_name):
    topic, group = unique_name("latest"), unique_name("group")
    async with KafkaLog(kafka_bootstrap) as log:
        await log.create_topic(topic, 1)
        await log.produce(topic, numbered(0, 100, partitions=1))  # one batch: the case some brokers get wrong
        member = log.join_group(group, [topic], auto_offset_reset="latest", **SESSION)
        await member.start()
        try:
            await fetch_until(member, lambda g: member.assignment())
            await log.produce(topic, [Record(None, b"after", 1)])
            got = await fetch_until(member, lambda g: g)
        finally:
            await member.close()
    assert [r.value for r in got[topic, 0]] == [b"after"]
