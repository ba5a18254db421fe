"""The same behaviour on the embedded log and on a Kafka broker (backend_case runs each
test on both): a stateless CSAS, a windowed aggregation, a table, and a restart."""
from __future__ import annotations

import asyncio

import orjson

from streamsql.log.backend import Record

WAIT_SECONDS = 60.0


async def sink_records(engine, topic: str, done) -> list[tuple[bytes | None, dict | None]]:
    """(key, value) of every record in `topic`, polled until done(them) holds (bounded)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_SECONDS
    while True:
        out = []
        info = await engine.backend.describe_topic(topic)
        for partition in range(info.partitions if info else 0):
            offset = await engine.backend.start_offset(topic, partition)
            while records := await engine.backend.fetch(topic, partition, offset, 10_000):
                out.extend((r.key, None if r.value is None else orjson.loads(r.value))
                           for r in records)
                offset = records[-1].offset + 1
        if done(out) or loop.time() > deadline:
            return out
        await asyncio.sleep(0.1)


async def produce(engine, topic: str, rows: list[tuple[str, dict | None, int]]) -> None:
    await engine.backend.produce(topic, [
        Record(key.encode(), None if value is None else orjson.dumps(value), timestamp)
        for key, value, timestamp in rows])


async def test_stateless_csas_filters_and_projects(backend_case):
    source, sink = backend_case.topic("orders"), backend_case.topic("big")
    async with backend_case.engine({"auto.offset.reset": "earliest"}) as engine:
        await engine.execute(
            f"CREATE STREAM orders (id STRING KEY, amount DOUBLE, item STRING) WITH "
            f"(kafka_topic='{source}', partitions=1, value_format='JSON');"
            f"CREATE STREAM big WITH (kafka_topic='{sink}') AS SELECT id, amount * 2 AS doubled, "
            "UCASE(item) AS item FROM orders WHERE amount > 10;")
        await produce(engine, source, [("o0", {"AMOUNT": 5.0, "ITEM": "widget"}, 1),
                                       ("o1", {"AMOUNT": 50.0, "ITEM": "gadget"}, 2),
                                       ("o2", {"AMOUNT": 500.0, "ITEM": "gizmo"}, 3)])
        out = await sink_records(engine, sink, lambda r: len(r) >= 2)
    assert out == [(b"o1", {"DOUBLED": 100.0, "ITEM": "GADGET"}),
                   (b"o2", {"DOUBLED": 1000.0, "ITEM": "GIZMO"})]


async def test_tumbling_window_counts_every_record_once_per_window(backend_case):
    source, sink = backend_case.topic("clicks"), backend_case.topic("per_window")
    properties = {"auto.offset.reset": "earliest", "cache.max.bytes.buffering": "0"}
    async with backend_case.engine(properties) as engine:
        await engine.execute(
            f"CREATE STREAM clicks (user STRING KEY, page STRING) WITH (kafka_topic='{source}', "
            "partitions=1, value_format='JSON');"
            f"CREATE TABLE per_window WITH (kafka_topic='{sink}') AS SELECT user, COUNT(*) AS n "
            "FROM clicks WINDOW TUMBLING (SIZE 10 MILLISECONDS) GROUP BY user;")
        await produce(engine, source, [("u1", {"PAGE": "a"}, 1), ("u2", {"PAGE": "b"}, 2),
                                       ("u1", {"PAGE": "c"}, 5), ("u1", {"PAGE": "d"}, 12)])
        out = await sink_records(engine, sink, lambda r: len(r) >= 4)
    # Windowed keys: the key bytes then the window start as 8 bytes.
    assert out == [(b"u1" + (0).to_bytes(8, "big"), {"N": 1}),
                   (b"u2" + (0).to_bytes(8, "big"), {"N": 1}),
                   (b"u1" + (0).to_bytes(8, "big"), {"N": 2}),
                   (b"u1" + (10).to_bytes(8, "big"), {"N": 1})]


async def test_table_query_follows_updates_and_deletes(backend_case):
    source, sink = backend_case.topic("users"), backend_case.topic("east_users")
    properties = {"auto.offset.reset": "earliest", "cache.max.bytes.buffering": "0"}
    async with backend_case.engine(properties) as engine:
        await engine.execute(
            f"CREATE TABLE users (id STRING PRIMARY KEY, region STRING) WITH "
            f"(kafka_topic='{source}', partitions=1, value_format='JSON');"
            f"CREATE TABLE east_users WITH (kafka_topic='{sink}') AS SELECT id, region "
            "FROM users WHERE region = 'east';")
        await produce(engine, source, [("alice", {"REGION": "east"}, 1),
                                       ("bob", {"REGION": "east"}, 2),
                                       ("bob", {"REGION": "west"}, 3), ("alice", None, 4)])
        out = await sink_records(engine, sink, lambda r: len(r) >= 4)
    assert out == [(b"alice", {"REGION": "east"}), (b"bob", {"REGION": "east"}),
                   (b"bob", None), (b"alice", None)]  # bob left the east: deleted from it


async def test_restart_rebuilds_the_catalog_and_resumes_without_reprocessing(backend_case):
    source, sink = backend_case.topic("readings"), backend_case.topic("scaled")
    async with backend_case.engine({"auto.offset.reset": "earliest"}) as engine:
        await engine.execute(
            f"CREATE STREAM readings (sensor STRING KEY, reading DOUBLE) WITH "
            f"(kafka_topic='{source}', partitions=1, value_format='JSON');"
            f"CREATE STREAM scaled WITH (kafka_topic='{sink}') AS SELECT sensor, "
            "reading * 10 AS r FROM readings;")
        await produce(engine, source, [("s1", {"READING": 1.0}, 1)])
        await sink_records(engine, sink, lambda r: len(r) >= 1)
    async with backend_case.engine({"auto.offset.reset": "earliest"}) as engine:
        queries = list(engine.catalog.queries)
        await produce(engine, source, [("s2", {"READING": 2.0}, 2)])
        out = await sink_records(engine, sink, lambda r: len(r) >= 2)
    assert queries == ["CSAS_SCALED_0"]
    # In source order: a query that started over would have written s1 again before s2.
    assert out == [(b"s1", {"R": 10.0}), (b"s2", {"R": 20.0})]


async def test_records_of_every_partition_keep_their_partition_offset_and_headers(backend_case):
    # A step processes what several partitions returned as one batch: each output still
    # comes from its own input record.
    source, sink = backend_case.topic("events"), backend_case.topic("seen")
    async with backend_case.engine({"auto.offset.reset": "earliest"}) as engine:
        await engine.execute(
            f"CREATE STREAM events (id STRING KEY, n INT, trace BYTES HEADER('trace')) WITH "
            f"(kafka_topic='{source}', partitions=3, value_format='JSON');"
            f"CREATE STREAM seen WITH (kafka_topic='{sink}') AS SELECT id, n, "
            "ROWPARTITION AS p, ROWOFFSET AS o, FROM_BYTES(trace, 'utf8') AS t FROM events;")
        # Headers on the records of partition 1 only.
        await engine.backend.produce(source, [
            Record(f"k{n}".encode(), orjson.dumps({"N": n}), 1000 + n,
                   (("trace", f"t{n}".encode()),) if n % 3 == 1 else (), partition=n % 3)
            for n in range(12)])
        out = await sink_records(engine, sink, lambda r: len(r) >= 12)
    assert sorted(out, key=lambda kv: kv[1]["N"]) == [
        (f"k{n}".encode(), {"N": n, "P": n % 3, "O": n // 3,
                            "T": f"t{n}" if n % 3 == 1 else None})
        for n in range(12)]
