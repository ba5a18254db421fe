"""KafkaLog against a real broker: topics, produce/fetch, offsets, consumer-group offsets."""
from __future__ import annotations

import asyncio
import socket

import pyarrow as pa
import pytest

from streamsql.errors import LogError
from streamsql.log import open_backend
from streamsql.log.backend import Record, RecordBatch, TopicInfo
from streamsql.log.kafka import KafkaLog


def records_for(partition: int, count: int, start: int = 0) -> list[Record]:
    return [Record(f"k{i}".encode(), f"v{i}".encode(), 1_700_000_000_000 + i, (), partition)
            for i in range(start, start + count)]


def unused_address() -> str:
    """A loopback address where nothing listens (a port bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{probe.getsockname()[1]}"


async def read_partition(log: KafkaLog, topic: str, partition: int) -> list[Record]:
    out: list[Record] = []
    end = await log.end_offset(topic, partition)
    offset = await log.start_offset(topic, partition)
    while offset < end:
        batch = await log.fetch(topic, partition, offset, 1000)
        assert batch, f"no records at {offset} below the end offset {end}"
        out.extend(batch)
        offset = batch[-1].offset + 1
    return out


async def test_produce_then_fetch_round_trips_keys_null_values_headers_and_timestamps(
        kafka_bootstrap, unique_name):
    topic = unique_name("roundtrip")
    sent = [
        Record(b"key-1", b'{"a": 1}', 1_600_000_000_123, (("trace", b"t1"), ("empty", None))),
        Record(None, b"no key", 1_600_000_000_124),
        Record(b"tombstone", None, 1_600_000_000_125, (("h", b""),)),
        Record(None, None, 1_600_000_000_126),
    ]
    async with KafkaLog(kafka_bootstrap) as log:
        await log.create_topic(topic)
        offsets = await log.produce(topic, sent)
        fetched = await log.fetch(topic, 0, 0)
    assert offsets == [0, 1, 2, 3]
    assert fetched == [Record(r.key, r.value, r.timestamp, r.headers, 0, offset)
                       for r, offset in zip(sent, offsets)]


async def test_produce_returns_each_records_offset_in_input_order_across_partitions(
        kafka_bootstrap, unique_name):
    topic = unique_name("spread")
    partitions = [0, 2, 1, 0, 0, 2, 1, 0]
    sent = [Record(None, f"v{i}".encode(), 1000 + i, (), p) for i, p in enumerate(partitions)]
    async with KafkaLog(kafka_bootstrap) as log:
        await log.create_topic(topic, partitions=3)
        first = await log.produce(topic, sent)
        second = await log.produce(topic, sent[:2])
        contents = {p: await read_partition(log, topic, p) for p in range(3)}
    assert first == [0, 0, 0, 1, 2, 1, 1, 3]
    assert second == [4, 2]
    assert [r.value for r in contents[0]] == [b"v0", b"v3", b"v4", b"v7", b"v0"]
    assert [r.value for r in contents[2]] == [b"v1", b"v5", b"v1"]
    assert [(r.partition, r.offset) for r in contents[1]] == [(1, 0), (1, 1)]


async def test_records_larger_than_one_batch_keep_their_order_and_offsets(
        kafka_bootstrap, unique_name):
    topic = unique_name("batches")
    sent = [Record(b"k", bytes([i % 256]) * 300, 5000 + i) for i in range(2000)]
    async with KafkaLog(kafka_bootstrap, max_batch_bytes=16 * 1024) as log:
        await log.create_topic(topic)
        offsets = await log.produce(topic, sent)
        fetched = await read_partition(log, topic, 0)
    assert offsets == list(range(2000))
    assert [(r.value, r.timestamp) for r in fetched] == [(r.value, r.timestamp) for r in sent]


async def test_a_column_batch_round_trips_through_produce_batch_and_fetch_batch(
        kafka_bootstrap, unique_name):
    topic = unique_name("columns")
    # Interleaved partitions, more bytes per partition than one record batch holds, and
    # headers, null keys and null values on some records.
    sent = [Record(None if i % 7 == 0 else b"k%d" % i, None if i % 11 == 0 else b"v" * 200,
                   1_700_000_000_000 + i, (("n", b"%d" % i),) if i % 5 == 0 else (), i % 3)
            for i in range(600)]
    async with KafkaLog(kafka_bootstrap, max_batch_bytes=16 * 1024) as log:
        await log.create_topic(topic, partitions=3)
        await log.produce_batch(topic, RecordBatch.from_records(sent))
        ends = [await log.end_offset(topic, p) for p in range(3)]
        fetched = {}
        for p in range(3):
            batches, offset = [], 0
            while offset < ends[p]:
                batch = await log.fetch_batch(topic, p, offset, 150)
                batches.append(batch)
                offset = batch.next_offset
            fetched[p] = RecordBatch.concat(batches)
    assert ends == [200, 200, 200]
    for p in range(3):
        expected = [Record(r.key, r.value, r.timestamp, r.headers, p, n)
                    for n, r in enumerate(r for r in sent if r.partition == p)]
        assert fetched[p].to_records() == expected
        assert fetched[p].partitions.type == pa.int32()


async def test_end_offset_counts_every_record_of_a_batched_produce(kafka_bootstrap, unique_name):
    topic = unique_name("ends")
    async with KafkaLog(kafka_bootstrap) as log:
        await log.create_topic(topic, partitions=2)
        await log.produce(topic, records_for(0, 100))
        await log.produce(topic, records_for(0, 50, start=100) + records_for(1, 7))
        ends = [await log.end_offset(topic, p) for p in range(2)]
        starts = [await log.start_offset(topic, p) for p in range(2)]
    assert ends == [150, 7]
    assert starts == [0, 0]


async def test_another_instance_sees_the_end_offset_and_records_without_waiting(
        kafka_bootstrap, unique_name):
    topic = unique_name("visible")
    async with KafkaLog(kafka_bootstrap) as writer:
        await writer.create_topic(topic)
        await writer.produce(topic, records_for(0, 30))
    async with KafkaLog(kafka_bootstrap) as reader:
        # A fetch with no timeout still returns records already in the log.
        middle = await reader.fetch(topic, 0, 10, max_records=5)
        end = await reader.end_offset(topic, 0)
        past_end = await reader.fetch(topic, 0, end)
    assert [r.offset for r in middle] == [10, 11, 12, 13, 14]
    assert [r.value for r in middle] == [b"v10", b"v11", b"v12", b"v13", b"v14"]
    assert end == 30
    assert past_end == []


async def test_fetch_interleaving_partitions_and_offsets_returns_what_each_asks_for(
        kafka_bootstrap, unique_name):
    topic = unique_name("interleave")
    async with KafkaLog(kafka_bootstrap) as log:
        await log.create_topic(topic, partitions=2)
        await log.produce(topic, records_for(0, 20) + records_for(1, 20, start=100))
        reads = [await log.fetch(topic, 0, 0, 5), await log.fetch(topic, 1, 3, 2),
                 await log.fetch(topic, 0, 5, 5), await log.fetch(topic, 0, 2, 1),
                 await log.fetch(topic, 1, 5, 1)]
        concurrent = await asyncio.gather(log.fetch(topic, 0, 15, 100), log.fetch(topic, 1, 18, 100))
    assert [[r.value for r in batch] for batch in reads] == [
        [b"v0", b"v1", b"v2", b"v3", b"v4"], [b"v103", b"v104"],
        [b"v5", b"v6", b"v7", b"v8", b"v9"], [b"v2"], [b"v105"]]
    assert [[r.offset for r in batch] for batch in concurrent] == [[15, 16, 17, 18, 19], [18, 19]]


async def test_fetch_waits_for_a_record_produced_while_it_waits(kafka_bootstrap, unique_name):
    topic = unique_name("wait")
    async with KafkaLog(kafka_bootstrap) as reader, KafkaLog(kafka_bootstrap) as writer:
        await writer.create_topic(topic)
        await writer.produce(topic, records_for(0, 1))
        assert [r.offset for r in await reader.fetch(topic, 0, 0)] == [0]
        waiting = asyncio.create_task(reader.fetch(topic, 0, 1, timeout_ms=60_000))
        await asyncio.sleep(0.2)  # let the fetch start waiting (the result does not depend on it)
        await writer.produce(topic, records_for(0, 1, start=1))
        arrived = await waiting
    assert [(r.offset, r.value) for r in arrived] == [(1, b"v1")]


async def test_fetch_at_the_end_returns_nothing_once_the_timeout_passes(
        kafka_bootstrap, unique_name):
    topic = unique_name("idle")
    async with KafkaLog(kafka_bootstrap) as log:
        await log.create_topic(topic)
        await log.produce(topic, records_for(0, 3))
        assert await log.fetch(topic, 0, 3, timeout_ms=100) == []
        assert await log.fetch(topic, 0, 3) == []


async def test_create_topic_is_idempotent_and_describe_shows_partitions_replicas_and_config(
        kafka_bootstrap, unique_name):
    topic = unique_name("described")
    config = {"cleanup.policy": "compact", "retention.ms": "86400000"}
    async with KafkaLog(kafka_bootstrap) as log:
        created = await log.create_topic(topic, partitions=3, replicas=1, config=config)
        again = await log.create_topic(topic, partitions=5)
        described = await log.describe_topic(topic)
    assert created == TopicInfo(topic, 3, 1, config)
    assert (again.partitions, described.partitions, described.replicas) == (3, 3, 1)
    # On Kafka the description also holds the broker's defaults for other settings.
    assert described.config.items() >= config.items()
    assert again.config.items() >= config.items()


async def test_list_and_delete_topics(kafka_bootstrap, unique_name):
    kept, dropped = unique_name("kept"), unique_name("dropped")
    async with KafkaLog(kafka_bootstrap) as log:
        await log.create_topic(kept, partitions=2, config={"retention.ms": "1000"})
        await log.create_topic(dropped)
        await log.produce(dropped, records_for(0, 3))
        await log.fetch(dropped, 0, 0)
        before = {info.name: info for info in await log.list_topics()}
        await log.delete_topic(dropped)
        await log.delete_topic(dropped)  # already gone: nothing to do
        after = {info.name for info in await log.list_topics()}
        described = await log.describe_topic(dropped)
        with pytest.raises(LogError, match="does not exist"):
            await log.fetch(dropped, 0, 0)
    assert before[kept].partitions == 2
    assert before[kept].config["retention.ms"] == "1000"
    assert dropped in before
    assert kept in after and dropped not in after
    assert described is None
    assert not any(name.startswith("__") for name in after)  # broker-internal topics


async def test_missing_topics_are_reported_not_created(kafka_bootstrap, unique_name):
    topic = unique_name("missing")
    async with KafkaLog(kafka_bootstrap) as log:
        described = await log.describe_topic(topic)
        with pytest.raises(LogError, match="does not exist"):
            await log.produce(topic, records_for(0, 1))
        with pytest.raises(LogError, match="does not exist"):
            await log.end_offset(topic, 0)
        names = {info.name for info in await log.list_topics()}
    assert described is None
    assert topic not in names


async def test_partitions_outside_the_topic_are_rejected(kafka_bootstrap, unique_name):
    topic = unique_name("narrow")
    async with KafkaLog(kafka_bootstrap) as log:
        await log.create_topic(topic, partitions=2)
        with pytest.raises(LogError, match="has no partition 2"):
            await log.produce(topic, records_for(2, 1))
        with pytest.raises(LogError, match="has no partition 5"):
            await log.fetch(topic, 5, 0)
        with pytest.raises(LogError, match="at least one partition"):
            await log.create_topic(unique_name("empty"), partitions=0)


async def test_committed_offsets_survive_a_new_kafka_log(kafka_bootstrap, unique_name):
    topic, group = unique_name("committed"), unique_name("group")
    async with KafkaLog(kafka_bootstrap) as log:
        await log.create_topic(topic, partitions=2)
        before = await log.committed(group, topic, 0)
        await log.commit(group, {(topic, 0): 5, (topic, 1): 2})
        await log.commit(group, {(topic, 0): 7})
    async with KafkaLog(kafka_bootstrap) as log:
        after = [await log.committed(group, topic, p) for p in range(2)]
        other_group = await log.committed(unique_name("other"), topic, 0)
    assert before is None
    assert after == [7, 2]
    assert other_group is None


async def test_unreachable_broker_is_a_clear_log_error():
    address = unused_address()
    log = KafkaLog(address, connect_timeout_ms=5_000)
    with pytest.raises(LogError, match=f"cannot reach Kafka at {address}"):
        await log.start()
    with pytest.raises(LogError, match="not started"):
        await log.describe_topic("anything")


async def test_open_backend_builds_a_kafka_log(kafka_bootstrap, unique_name):
    backend = open_backend(f"kafka:{kafka_bootstrap}", client_id="streamsql-test")
    assert isinstance(backend, KafkaLog) and backend.name == "kafka"
    async with backend:
        topic = unique_name("opened")
        await backend.create_topic(topic)
        assert (await backend.describe_topic(topic)).partitions == 1


def test_unknown_client_options_are_rejected():
    with pytest.raises(LogError, match="unknown Kafka client option"):
        KafkaLog("127.0.0.1:9092", sasl_mechansim="PLAIN")


async def test_a_server_that_never_answers_fails_start_within_the_connect_timeout():
    silent = await asyncio.start_server(lambda reader, writer: None, "127.0.0.1", 0)
    address = "127.0.0.1:%d" % silent.sockets[0].getsockname()[1]
    try:
        with pytest.raises(LogError, match=f"cannot reach Kafka at {address}: no answer within"):
            await KafkaLog(address, connect_timeout_ms=1_000).start()
    finally:
        silent.close()
