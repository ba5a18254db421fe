"""Each source partition has its own stream time, as each Kafka Streams task has: a
partition that lags behind another (catching up) keeps its windows and is not late."""
import asyncio

import orjson

from streamsql.engine import Engine
from streamsql.log.backend import Record

SOURCE = ("CREATE STREAM S (K STRING KEY, V INT) WITH (kafka_topic='s', partitions=2, "
          "value_format='JSON');")


async def _counts(tmp_path, window: str, emit: str = "") -> list[tuple[bytes, int]]:
    """(key, N) of every update of a windowed count (tombstones left out), when partition 1
    runs far ahead of partition 0 between partition 0's records."""
    async with Engine(tmp_path, {"auto.offset.reset": "earliest",
                                 "cache.max.bytes.buffering": "0"},
                      run_queries=False) as engine:
        await engine.execute(SOURCE + f"CREATE TABLE T AS SELECT K, COUNT(*) AS N FROM S "
                                      f"WINDOW {window} GROUP BY K {emit};")
        query = engine.queries[0].query_id
        await engine.backend.produce("s", [
            Record(b"a", orjson.dumps({"V": 1}), 0, partition=0),
            Record(b"b", orjson.dumps({"V": 1}), 100_000, partition=1),
            Record(b"a", orjson.dumps({"V": 1}), 5, partition=0),
            Record(b"a", orjson.dumps({"V": 1}), 15, partition=0)])
        for partition, start, end in ((0, 0, 1), (1, 0, 1), (0, 1, 2), (0, 2, 3)):
            await engine.process(query, "s", partition, start, end)
        out = []
        for partition in range(2):
            out += [(r.key[:1], orjson.loads(r.value)["N"])
                    for r in await engine.backend.fetch("T", partition, 0, 100)
                    if r.value is not None]
        return out


def test_a_lagging_partition_keeps_its_tumbling_windows(tmp_path):
    counts = asyncio.run(_counts(tmp_path, "TUMBLING (SIZE 10 MILLISECONDS, GRACE PERIOD 5 "
                                           "MILLISECONDS)"))
    assert sorted(counts) == [(b"a", 1), (b"a", 1), (b"a", 2), (b"b", 1)]


def test_a_lagging_partition_closes_its_own_windows(tmp_path):
    # Partition 0's stream time reaches 15, where window [0, 10) closes (grace 5): its
    # final count goes out; partition 1's window, at 100000, stays open.
    counts = asyncio.run(_counts(tmp_path, "TUMBLING (SIZE 10 MILLISECONDS, GRACE PERIOD 5 "
                                           "MILLISECONDS)", "EMIT FINAL"))
    assert counts == [(b"a", 2)]


def test_a_lagging_partition_keeps_its_sessions(tmp_path):
    counts = asyncio.run(_counts(tmp_path, "SESSION (10 MILLISECONDS, GRACE PERIOD 5 "
                                           "MILLISECONDS)"))
    assert sorted(counts) == [(b"a", 1), (b"a", 2), (b"a", 3), (b"b", 1)]
