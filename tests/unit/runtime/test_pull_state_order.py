"""Pull queries over an aggregation's state: rows in the order of ksqlDB's state stores
(partition, then serialized key), so that LIMIT takes the same rows as ksqlDB."""
import asyncio
import struct

import orjson
import pyarrow as pa

from streamsql.engine import Engine
from streamsql.log.backend import Record
from streamsql.log.partitioner import partitions_for


async def _pull(tmp_path, key_type: str, partitions: int, keys: list[bytes], query: str):
    async with Engine(tmp_path, {"auto.offset.reset": "earliest",
                                 "cache.max.bytes.buffering": "0"},
                      run_queries=False) as engine:
        await engine.execute(
            f"CREATE STREAM S (K {key_type} KEY, V INT) WITH (kafka_topic='s', "
            f"partitions={partitions}, value_format='JSON');"
            "CREATE TABLE T AS SELECT K, COUNT(*) AS N FROM S GROUP BY K;")
        await engine.backend.produce("s", [Record(k, orjson.dumps({"V": 1}), 0, partition=0)
                                           for k in keys])
        await engine.process(engine.queries[0].query_id, "s", 0, 0, len(keys))
        (result,) = await engine.execute(query)
        return result.rows


def test_limit_takes_the_smallest_serialized_keys(tmp_path):
    keys = [struct.pack(">d", d) for d in (110.0, 90.0, 0.0, 10.0, 50.0)]
    rows = asyncio.run(_pull(tmp_path, "DOUBLE", 1, keys, "SELECT K FROM T LIMIT 3;"))
    assert rows == [[0.0], [10.0], [50.0]]


def test_rows_of_the_first_partition_come_first(tmp_path):
    names = [b"a", b"b", b"c", b"d", b"e", b"f"]
    placed = partitions_for(pa.array(names, pa.binary()), 2).to_pylist()
    expected = [[n.decode()] for p in (0, 1) for n in sorted(names) if placed[names.index(n)] == p]
    assert asyncio.run(_pull(tmp_path, "STRING", 2, names[::-1], "SELECT K FROM T;")) == expected
