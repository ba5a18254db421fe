"""State changelogs through a real broker: a state table's changes produced batch after
batch to a compacted topic (which this broker never compacts: every version stays), read
back from the start to the end of each partition and restored: each partition's rows
equal the writer's, the last version of a key winning and tombstones deleting."""
from __future__ import annotations

import asyncio

import pyarrow as pa
from kafka_broker import FAST_GROUPS

from streamsql.log.backend import Record, RecordBatch, produce_batch
from streamsql.log.kafka import KafkaLog
from streamsql.state.changelog import Store, StoreChanges, restore_partition
from streamsql.state.store import StateStore

STORE = Store("Aggregate-Aggregate-Materialize", "counts", ("g", "$ws"), "$task")
PARTITIONS = 2


def state_factory(directory):
    directory.mkdir(parents=True, exist_ok=True)
    connection = StateStore(directory / "state.duckdb").cursor()
    connection.run('CREATE TABLE counts (g VARCHAR, "$ws" BIGINT, n BIGINT, total DOUBLE, '
                   '"$task" INTEGER)')
    return connection


async def produce_changes(log: KafkaLog, topic: str, changes: StoreChanges) -> None:
    for _, records in changes.drain():
        count = records.num_rows
        await produce_batch(log, topic, RecordBatch(
            records.column("key").combine_chunks(), records.column("value").combine_chunks(),
            pa.array([0] * count, pa.int64()), records.column("partition").combine_chunks(),
            pa.array([-1] * count, pa.int64())))


async def test_restored_partitions_equal_the_written_state(kafka_bootstrap, unique_name,
                                                           tmp_path):
    topic = unique_name("query_CTAS_X_0-Aggregate-Aggregate-Materialize-changelog")
    writer = state_factory(tmp_path / "writer")
    changes = StoreChanges(writer)
    async with KafkaLog(kafka_bootstrap) as log:
        await log.create_topic(topic, PARTITIONS, config={"cleanup.policy": "compact"})
        # 50 batches over 40 keys in 2 partitions: every key updated many times.
        for batch in range(50):
            changes.upserted(STORE, writer.run(
                f"INSERT INTO counts SELECT 'k' || (i % 40), (i % 3) * 1000, 1, {batch}.5, "
                f"(i % 40) % {PARTITIONS} FROM range({batch}, {batch} + 7) t(i) WHERE NOT EXISTS "
                "(SELECT 1 FROM counts c WHERE c.g = 'k' || (i % 40) AND c.\"$ws\" = "
                f"(i % 3) * 1000) RETURNING *"))
            changes.upserted(STORE, writer.run(
                f"UPDATE counts SET n = n + 1, total = total + {batch} WHERE "
                f"(hash(g) + {batch}) % 4 = 0 RETURNING *"))
            if batch % 10 == 9:  # windows going out of retention: tombstones
                changes.deleted(STORE, writer.run(
                    f"DELETE FROM counts WHERE n > {batch // 10 + 2} RETURNING g, \"$ws\", "
                    "\"$task\""))
            await produce_changes(log, topic, changes)

        member = log.join_group(unique_name("group"), [topic], auto_offset_reset="earliest",
                                session_timeout_ms=int(FAST_GROUPS["session.timeout.ms"]),
                                heartbeat_interval_ms=int(FAST_GROUPS["heartbeat.interval.ms"]))
        reader = state_factory(tmp_path / "reader")
        try:
            for partition in range(PARTITIONS):
                batches = [b async for b in member.read_to_end(topic, partition)]
                records = pa.table({
                    "key": pa.concat_arrays([b.keys for b in batches]),
                    "value": pa.concat_arrays([b.values for b in batches]),
                    "offset": pa.concat_arrays([b.offsets for b in batches])})
                written = writer.run(f"SELECT count(*) AS n FROM counts WHERE \"$task\" = "
                                     f"{partition}").column("n")[0].as_py()
                assert records.num_rows > written  # many versions of a key, tombstones
                restore_partition(reader, STORE, partition, records)
        finally:
            await member.close()

    def rows(connection):
        return connection.run('SELECT * FROM counts ORDER BY g, "$ws"').to_pylist()
    assert len(rows(writer)) > 20
    assert writer.run("SELECT count(DISTINCT \"$task\") AS n FROM counts").column(
        "n")[0].as_py() == PARTITIONS
    assert rows(reader) == rows(writer)


async def test_reading_an_empty_changelog_partition_yields_nothing(kafka_bootstrap, unique_name):
    topic = unique_name("empty-changelog")
    async with KafkaLog(kafka_bootstrap) as log:
        await log.create_topic(topic, 1, config={"cleanup.policy": "compact"})
        member = log.join_group(unique_name("group"), [topic], auto_offset_reset="earliest")
        try:
            assert [b async for b in member.read_to_end(topic, 0)] == []
        finally:
            await member.close()


async def test_an_aggregation_on_kafka_keeps_a_compacted_changelog_for_its_life(
        kafka_bootstrap, unique_name, tmp_path):
    from streamsql.engine import Engine  # the engine wires the changelog to the query

    source, sink, service = unique_name("readings"), unique_name("counts"), \
        unique_name("svc") + "_"
    properties = {**FAST_GROUPS, "ksql.service.id": service, "auto.offset.reset": "earliest"}
    async with Engine(tmp_path, properties, backend=KafkaLog(kafka_bootstrap)) as engine:
        [*_, created] = await engine.execute(
            f"CREATE STREAM readings (sensor STRING KEY, reading INT) WITH (kafka_topic="
            f"'{source}', partitions=4, value_format='JSON');"
            f"CREATE TABLE counts WITH (kafka_topic='{sink}') AS SELECT sensor, COUNT(*) AS n "
            "FROM readings WINDOW TUMBLING (SIZE 1 MINUTE) GROUP BY sensor;")
        changelog = (f"_confluent-ksql-{service}query_{created.query_id}"
                     "-Aggregate-Aggregate-Materialize-changelog")
        await engine.backend.produce(source, [
            Record(f"s{i % 8}".encode(), b'{"READING": 1}', i * 20_000, partition=i % 4)
            for i in range(40)])  # 8 sensors x 4 windows ... in 4 partitions
        query = engine.persistent[created.query_id]
        # Offsets are committed after the batch's changelog records are acknowledged;
        # records_in and lag move earlier (while the batch is in flight).
        for _ in range(600):
            committed = [await engine.backend.committed(query.group, source, p)
                         for p in range(4)]
            if sum(offset or 0 for offset in committed) == 40:
                break
            await asyncio.sleep(0.05)
        info = await engine.backend.describe_topic(changelog)
        keys_per_partition = {}
        for partition in range(4):
            records = await engine.backend.fetch(changelog, partition, 0, 1_000)
            keys_per_partition[partition] = {r.key for r in records}
        await engine.execute(f"TERMINATE {created.query_id}; DROP TABLE counts;")
        assert await engine.backend.describe_topic(changelog) is None

    assert info.partitions == 4 and info.config.get("cleanup.policy") == "compact"
    # Each (sensor, window) of the state is a key of the changelog partition its sensor's
    # records come from: s<k> is read from partition k % 4.
    assert {p: len(keys) for p, keys in keys_per_partition.items()} == {p: 2 * 5 for p in range(4)}
    assert all(key.startswith(b'["s') and int(key[3:4]) % 4 == p
               for p, keys in keys_per_partition.items() for key in keys)
