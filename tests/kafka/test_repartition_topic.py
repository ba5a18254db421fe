"""GROUP BY a non-key column on Kafka, in one process: the query's records go through
its repartition topic (keyed and placed by the group key, otherwise unchanged), the
results are those of the embedded log, and the topic lives exactly as long as the query."""
from __future__ import annotations

import asyncio

import orjson
from kafka_broker import FAST_GROUPS

from streamsql.engine import Engine
from streamsql.log.backend import Record
from streamsql.log.kafka import KafkaLog
from streamsql.log.partitioner import partition_for
from streamsql.runtime.repartition import SOURCE_KEY_HEADER, SOURCE_POSITION_HEADER

WAIT_SECONDS = 60.0


async def read_all(backend: KafkaLog, topic: str) -> list[Record]:
    out: list[Record] = []
    info = await backend.describe_topic(topic)
    for partition in range(info.partitions if info else 0):
        offset = await backend.start_offset(topic, partition)
        while records := await backend.fetch(topic, partition, offset, 10_000):
            out.extend(records)
            offset = records[-1].offset + 1
    return out


async def wait_for(backend: KafkaLog, topic: str, done) -> list[Record]:
    """Poll `topic` until done(records) holds (bounded; not a timing assertion)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_SECONDS
    while True:
        records = await read_all(backend, topic)
        if done(records) or loop.time() > deadline:
            return records
        await asyncio.sleep(0.1)


def latest(records: list[Record]) -> dict[bytes, dict]:
    return {r.key: orjson.loads(r.value) for r in records}


def engine_on(bootstrap: str, service_id: str) -> Engine:
    return Engine(None, {**FAST_GROUPS, "ksql.service.id": service_id,
                         "auto.offset.reset": "earliest", "cache.max.bytes.buffering": "0"},
                  backend=KafkaLog(bootstrap), state_in_memory=True)


ORDERS = [("o1", "east", 3), ("o2", "west", 4), ("o3", "east", 5), ("o4", None, 6),
          ("o5", "west", 7), ("o6", "east", 8)]


async def produce_orders(backend: KafkaLog, topic: str) -> None:
    await backend.produce(topic, [
        Record(key.encode(), orjson.dumps({"REGION": region, "AMOUNT": amount}), 1_000 + i,
               partition=partition_for(key.encode(), 4))
        for i, (key, region, amount) in enumerate(ORDERS)])


async def test_group_by_a_value_column_runs_through_the_repartition_topic(
        kafka_bootstrap, unique_name, tmp_path):
    source, sink, service = unique_name("orders"), unique_name("per_region"), \
        unique_name("svc") + "_"
    async with engine_on(kafka_bootstrap, service) as engine:
        results = await engine.execute(
            f"CREATE STREAM orders (id STRING KEY, region STRING, amount INT) WITH "
            f"(kafka_topic='{source}', partitions=4, value_format='JSON');"
            f"CREATE TABLE per_region WITH (kafka_topic='{sink}') AS SELECT region, "
            "COUNT(*) AS n, SUM(amount) AS total, COLLECT_SET(id) AS ids, "
            "COLLECT_SET(ROWPARTITION) AS partitions FROM orders GROUP BY region;")
        query_id = results[-1].query_id
        repartition = f"_confluent-ksql-{service}query_{query_id}-Aggregate-GroupBy-repartition"
        await produce_orders(engine.backend, source)
        out = latest(await wait_for(engine.backend, sink, lambda r: len(r) >= 5))
        routed = await read_all(engine.backend, repartition)
        info = await engine.backend.describe_topic(repartition)
        log = await wait_for(engine.backend, f"{service}ksql_processing_log", lambda r: r)
        metrics = (await engine.query_metrics())[query_id]

        await engine.execute(f"TERMINATE {query_id}; DROP TABLE per_region;")
        assert await engine.backend.describe_topic(repartition) is None

    # The source key, partition and offset reach the aggregation (COLLECT_SET(id),
    # ROWPARTITION): it decodes the source records, not the repartitioned ones.
    east = [o for o in ORDERS if o[1] == "east"]
    assert {k: (v["N"], v["TOTAL"], sorted(v["IDS"]), sorted(v["PARTITIONS"]))
            for k, v in out.items()} == {
        b"east": (3, 16, ["o1", "o3", "o6"],
                  sorted({partition_for(o[0].encode(), 4) for o in east})),
        b"west": (2, 11, ["o2", "o5"],
                  sorted({partition_for(k.encode(), 4) for k in ("o2", "o5")}))}
    assert info.partitions == 4 and info.config.get("cleanup.policy") == "delete"
    # Both groups' positions are the query's: the source's lag shows next to the topic's.
    assert {topic for topic, _ in metrics.partitions} == {source, repartition}
    assert metrics.consumed == {source: len(ORDERS), repartition: len(ORDERS) - 1}
    assert metrics.records_out == 5
    # Keyed by the group key (the result's key format), in its murmur2 partition; value,
    # timestamp and the source's position unchanged; the null region went no further.
    assert sorted((r.key, r.partition, r.timestamp) for r in routed) == sorted(
        (region.encode(), partition_for(region.encode(), 4), 1_000 + i)
        for i, (_, region, _) in enumerate(ORDERS) if region is not None)
    assert all({name for name, _ in r.headers} == {SOURCE_KEY_HEADER, SOURCE_POSITION_HEADER}
               for r in routed)
    (entry,) = [orjson.loads(r.value)["message"] for r in log]
    assert entry["type"] == "EVALUATION_ERROR" and "REGION" in entry["reason"]
    assert (entry["topic"], entry["partition"]) == (source, partition_for(b"o4", 4))


async def test_group_by_the_source_key_needs_no_repartition_topic(
        kafka_bootstrap, unique_name, tmp_path):
    source, sink, service = unique_name("orders"), unique_name("per_id"), \
        unique_name("svc") + "_"
    async with engine_on(kafka_bootstrap, service) as engine:
        await engine.execute(
            f"CREATE STREAM orders (id STRING KEY, region STRING, amount INT) WITH "
            f"(kafka_topic='{source}', partitions=4, value_format='JSON');"
            f"CREATE TABLE per_id WITH (kafka_topic='{sink}') AS SELECT id, "
            "SUM(amount) AS total FROM orders GROUP BY id;")
        await produce_orders(engine.backend, source)
        out = latest(await wait_for(engine.backend, sink, lambda r: len(r) >= 6))
        repartition = [t.name for t in await engine.backend.list_topics()
                       if t.name.startswith(f"_confluent-ksql-{service}query_") and
                       t.name.endswith("-repartition")]
    assert out == {key.encode(): {"TOTAL": amount} for key, _, amount in ORDERS}
    assert repartition == []


async def test_table_rows_that_change_group_retract_through_the_repartition_topic(
        kafka_bootstrap, unique_name, tmp_path):
    source, sink, service = unique_name("orders"), unique_name("open_per_customer"), \
        unique_name("svc") + "_"
    changes = [("o1", "alice", 10, "OPEN"), ("o2", "bob", 20, "OPEN"), ("o1", "bob", 11, "OPEN"),
               ("o3", "alice", 5, "OPEN"), ("o2", "bob", 21, "CLOSED"), ("o3", None, 5, "OPEN"),
               ("o4", "carol", 7, "OPEN"), ("o4", None, None, None)]
    async with engine_on(kafka_bootstrap, service) as engine:
        results = await engine.execute(
            f"CREATE TABLE orders (id STRING PRIMARY KEY, customer STRING, amount INT, "
            f"status STRING) WITH (kafka_topic='{source}', partitions=4, value_format='JSON');"
            f"CREATE TABLE open_per_customer WITH (kafka_topic='{sink}') AS SELECT customer, "
            "COUNT(*) AS n, SUM(amount) AS total FROM orders WHERE status = 'OPEN' "
            "GROUP BY customer;")
        repartition = (f"_confluent-ksql-{service}query_{results[-1].query_id}"
                       "-Aggregate-GroupBy-repartition")
        for i, (key, customer, amount, status) in enumerate(changes):
            # one at a time: each change reaches the repartition topic before the next
            await engine.backend.produce(source, [Record(
                key.encode(), None if amount is None else orjson.dumps(
                    {"CUSTOMER": customer, "AMOUNT": amount, "STATUS": status}), 1_000 + i,
                partition=partition_for(key.encode(), 4))])
        expected = {b"alice": {"N": 0, "TOTAL": 0}, b"bob": {"N": 1, "TOTAL": 11},
                    b"carol": {"N": 0, "TOTAL": 0}}
        out = latest(await wait_for(engine.backend, sink, lambda r: latest(r) == expected))
        routed = await read_all(engine.backend, repartition)
    assert out == expected
    # o1 moved from alice to bob, o2 closed, o3 lost its customer, o4 was deleted: each
    # sent its old group a tombstone of its key.
    assert sorted((r.key, dict(r.headers)[SOURCE_KEY_HEADER]) for r in routed
                  if r.value is None) == [(b"alice", b"o1"), (b"alice", b"o3"), (b"bob", b"o2"),
                                          (b"carol", b"o4")]
