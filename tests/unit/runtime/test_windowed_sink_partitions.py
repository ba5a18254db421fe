"""A windowed result goes to the partition of its key without the window, so that all
windows of a key share one partition (Kafka Streams' WindowedStreamPartitioner)."""
import asyncio

import orjson

from streamsql.engine import Engine
from streamsql.log.backend import Record
from streamsql.log.partitioner import partition_for


async def _partitions_of_outputs(tmp_path) -> dict[bytes, set[int]]:
    async with Engine(tmp_path, {"auto.offset.reset": "earliest",
                                 "cache.max.bytes.buffering": "0"},
                      run_queries=False) as engine:
        await engine.execute(
            "CREATE STREAM S (K STRING KEY, V INT) WITH (kafka_topic='s', partitions=4, "
            "value_format='JSON');"
            "CREATE TABLE W AS SELECT K, COUNT(*) AS N FROM S WINDOW TUMBLING "
            "(SIZE 10 MILLISECONDS) GROUP BY K;")
        records = [Record(k, orjson.dumps({"V": 1}), ts, partition=partition_for(k, 4))
                   for k in (b"a", b"b", b"c") for ts in (1, 15, 32)]
        await engine.backend.produce("s", records)
        for partition in range(4):
            end = await engine.backend.end_offset("s", partition)
            await engine.process(engine.queries[0].query_id, "s", partition, 0, end)
        placed: dict[bytes, set[int]] = {}
        for partition in range(4):
            for record in await engine.backend.fetch("W", partition, 0, 100):
                placed.setdefault(record.key[:-8], set()).add(partition)
        return placed


def test_every_window_of_a_key_is_in_the_partition_of_the_bare_key(tmp_path):
    placed = asyncio.run(_partitions_of_outputs(tmp_path))
    assert placed == {k: {partition_for(k, 4)} for k in (b"a", b"b", b"c")}
