"""The two sub-topologies of a GROUP BY on a non-key column (runtime/repartition.py),
driven step by step on the embedded log: what reaches the sink through the repartition
topic is what the in-process path gives, key by key."""
from __future__ import annotations

import orjson

from streamsql.engine import Engine
from streamsql.log.backend import Record, RecordBatch
from streamsql.log.partitioner import partition_for
from streamsql.runtime.assignment import GroupOptions
from streamsql.runtime.query import PersistentQuery
from streamsql.runtime.repartition import (SOURCE_KEY_HEADER, SOURCE_POSITION_HEADER,
                                           restore_source_records)

STATEMENTS = """
CREATE STREAM orders (id STRING KEY, region STRING, amount INT, hs ARRAY<STRUCT<key STRING,
  value BYTES>> HEADERS) WITH (kafka_topic='orders', partitions=4, value_format='JSON');
CREATE TABLE per_region AS SELECT region, COUNT(*) AS n, COLLECT_LIST(id) AS ids,
  COLLECT_LIST(ROWPARTITION) AS partitions, COLLECT_LIST(ROWOFFSET) AS offsets,
  COLLECT_LIST(ARRAY_LENGTH(hs)) AS headers FROM orders WHERE amount < 100 GROUP BY region;
"""


def _orders() -> list[Record]:
    regions = ["east", "west", None, "north", "east", "west", "east", "south", "north", "east",
               "west", "east"]
    records = []
    for i, region in enumerate(regions):
        key = f"o{i}".encode()
        records.append(Record(key, orjson.dumps({"REGION": region, "AMOUNT": i * 10}), 100 + i,
                              headers=(("h", b"x"),) * (i % 2),
                              partition=partition_for(key, 4)))
    records.append(Record(None, orjson.dumps({"REGION": "east", "AMOUNT": 1}), 500))
    records.append(Record(b"bad", b"{not json", 501, partition=1))
    return records


async def _partitions(engine: Engine, topic: str) -> list[RecordBatch]:
    info = await engine.backend.describe_topic(topic)
    batches = []
    for partition in range(info.partitions):
        records = await engine.backend.fetch(topic, partition, 0, 10_000)
        if records:
            batches.append(RecordBatch.from_records(records))
    return batches


async def _sink_updates(engine: Engine, topic: str = "PER_REGION") -> dict[bytes, list]:
    updates: dict[bytes, list] = {}
    for batch in await _partitions(engine, topic):
        for record in batch.to_records():
            updates.setdefault(record.key, []).append(
                None if record.value is None else orjson.loads(record.value))
    return updates


async def _in_process(tmp_path) -> dict[bytes, list[dict]]:
    async with Engine(tmp_path / "in_process", {"cache.max.bytes.buffering": "0"},
                      run_queries=False) as engine:
        (*_, created) = await engine.execute(STATEMENTS)
        await engine.backend.produce("orders", _orders())
        for batch in await _partitions(engine, "orders"):
            await engine.persistent[created.query_id].process("orders", batch)
        return await _sink_updates(engine)


async def test_repartitioned_aggregation_gives_the_in_process_results(tmp_path):
    expected = await _in_process(tmp_path)
    async with Engine(tmp_path / "repartitioned", {"cache.max.bytes.buffering": "0"},
                      run_queries=False) as engine:
        (*_, created) = await engine.execute(STATEMENTS)
        await engine.backend.produce("orders", _orders())
        in_process = engine.persistent.pop(created.query_id)
        await in_process.stop()
        query = PersistentQuery(created.query_id, in_process.sql, in_process.plan,
                                engine.backend, engine.store, engine.processing_log,
                                sink_partitions=4, group="query_group",
                                auto_offset_reset="latest", scale_out=GroupOptions())
        step = query.repartition
        # auto.offset.reset applies to the source; the repartition topic is read whole.
        assert (step.auto_offset_reset, query.auto_offset_reset) == ("latest", "earliest")
        await step.create_topic()
        for batch in await _partitions(engine, "orders"):  # sub-topology 1
            await step.process("orders", batch)
        routed = await _partitions(engine, step.topic)
        for batch in routed:  # sub-topology 2
            await query.process(step.topic, batch)
        updates = await _sink_updates(engine)
        errors = engine.processing_log.count(created.query_id)
        query.close()
        step.connection.close()

    assert step.topic == "query_group-Aggregate-GroupBy-repartition"
    assert updates == expected and set(updates) == {b"east", b"west", b"north", b"south"}
    # The null region and the undecodable record are logged; WHERE drops the rest quietly.
    assert errors == 2
    for batch in routed:
        for record in batch.to_records():
            assert record.partition == partition_for(record.key, 4)


def test_restore_gives_back_the_source_records():
    source = [Record(b"k1", b"v1", 7, (("h", b"1"),), partition=3, offset=41),
              Record(None, b"v2", 8, (), partition=0, offset=5)]
    routed = RecordBatch.from_records([
        Record(b"group", r.value, r.timestamp, r.headers + tuple(
            (name, value) for name, value in [
                (SOURCE_POSITION_HEADER, r.partition.to_bytes(4, "big") +
                 r.offset.to_bytes(8, "big")), (SOURCE_KEY_HEADER, r.key)]
            if value is not None), partition=2, offset=i) for i, r in enumerate(source)])
    assert restore_source_records(routed).to_records() == source


TABLE_STATEMENTS = """
CREATE TABLE orders (id STRING PRIMARY KEY, customer STRING, amount INT, status STRING)
  WITH (kafka_topic='orders', partitions=4, value_format='JSON');
CREATE TABLE per_customer AS SELECT customer, COUNT(*) AS n, SUM(amount) AS total
  FROM orders WHERE status = 'OPEN' GROUP BY customer;
"""


def _order_changes() -> list[Record]:
    """Orders that change customer, close, reopen, are deleted and come back."""
    changes = [("o1", "alice", 10, "OPEN"), ("o2", "bob", 20, "OPEN"), ("o3", "alice", 5, "OPEN"),
               ("o1", "bob", 11, "OPEN"), ("o2", "bob", 21, "CLOSED"), ("o4", None, 7, "OPEN"),
               ("o3", None, 5, "OPEN"), ("o2", "carol", 22, "OPEN"), ("o1", None, None, None),
               ("o4", "alice", 8, "OPEN"), ("o3", "carol", 6, "OPEN"), ("o1", "alice", 12, "OPEN"),
               ("o2", "carol", 23, "OPEN"), ("o4", "alice", 9, "CLOSED")]
    return [Record(key.encode(), None if amount is None else orjson.dumps(
        {"CUSTOMER": customer, "AMOUNT": amount, "STATUS": status}), 100 + i,
        partition=partition_for(key.encode(), 4))
        for i, (key, customer, amount, status) in enumerate(changes)]


async def _table_in_process(tmp_path, records: list[Record]) -> dict[bytes, list[dict]]:
    async with Engine(tmp_path / "in_process", {"cache.max.bytes.buffering": "0"},
                      run_queries=False) as engine:
        (*_, created) = await engine.execute(TABLE_STATEMENTS)
        await engine.backend.produce("orders", records)
        for batch in await _partitions(engine, "orders"):
            await engine.persistent[created.query_id].process("orders", batch)
        return await _sink_updates(engine, "PER_CUSTOMER")


async def test_table_changes_retract_from_their_old_group_across_partitions(tmp_path):
    records = _order_changes()
    expected = await _table_in_process(tmp_path, records)
    async with Engine(tmp_path / "repartitioned", {"cache.max.bytes.buffering": "0"},
                      run_queries=False) as engine:
        (*_, created) = await engine.execute(TABLE_STATEMENTS)
        await engine.backend.produce("orders", records)
        in_process = engine.persistent.pop(created.query_id)
        await in_process.stop()

        def member():  # a process of the query: both sub-topologies, its own step state
            return PersistentQuery(created.query_id, in_process.sql, in_process.plan,
                                   engine.backend, engine.store, engine.processing_log,
                                   sink_partitions=4, group="query_group",
                                   scale_out=GroupOptions())

        # A first process sends each source partition's first half, then stops; the
        # next one rebuilds its step's state from the source before the offsets the
        # first one reached (the group's committed offsets) and sends the rest.
        first, batches = member(), await _partitions(engine, "orders")
        await first.repartition.create_topic()
        committed = {}
        for batch in batches:
            half = len(batch) // 2
            if half:
                await first.repartition.process("orders", batch.slice(0, half))
            committed["orders", batch.partitions[0].as_py()] = batch.offsets[half].as_py()
        first.close()
        first.repartition.connection.close()
        second = member()
        step = second.repartition
        await step.create_topic()
        assert await step.start_offsets(committed) == {}
        for batch in batches:
            half = len(batch) // 2
            await step.process("orders", batch.slice(half))
        for batch in await _partitions(engine, step.topic):
            await second.process(step.topic, batch)
        updates = await _sink_updates(engine, "PER_CUSTOMER")
        second.close()
        step.connection.close()

    # The two processes interleave partitions unlike the in-process run, so only each
    # customer's last result is comparable: o1 left alice and bob, o2 closed and moved,
    # o3 lost its customer and came back, o4 closed.
    last = {key: values[-1] for key, values in updates.items()}
    assert last == {key: values[-1] for key, values in expected.items()}
    assert last[b"alice"] == {"N": 1, "TOTAL": 12} and last[b"carol"] == {"N": 2, "TOTAL": 29}
