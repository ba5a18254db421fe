"""EMIT FINAL: windows that close together go out in ksqlDB's order (window end, then the
serialized key), whatever order their records came in."""
import asyncio
import struct

import orjson

from streamsql.engine import Engine
from streamsql.log.backend import Record


async def _final_results(tmp_path, key_type: str, records) -> list[tuple[bytes, dict]]:
    """Feed `records` [(key bytes, value dict, ts)] as one batch; return the sink's records."""
    statements = (f"CREATE STREAM S (K {key_type} KEY, V INT) WITH (kafka_topic='s', "
                  "partitions=1, value_format='JSON');"
                  "CREATE TABLE W AS SELECT K, COUNT(*) AS N FROM S WINDOW TUMBLING "
                  "(SIZE 10 MILLISECONDS, GRACE PERIOD 0 MILLISECONDS) GROUP BY K EMIT FINAL;")
    props = {"auto.offset.reset": "earliest", "cache.max.bytes.buffering": "0"}
    async with Engine(tmp_path, props, run_queries=False) as engine:
        await engine.execute(statements)
        await engine.backend.produce("s", [Record(k, orjson.dumps(v), ts)
                                           for k, v, ts in records])
        end = await engine.backend.end_offset("s", 0)
        await engine.process(engine.queries[0].query_id, "s", 0, 0, end)
        out = await engine.backend.fetch("W", 0, 0, 100)
        return [(r.key, orjson.loads(r.value)) for r in out]


def test_windows_closing_together_go_out_in_key_order_not_time_order(tmp_path):
    records = [(b"b", {"V": 1}, 1), (b"c", {"V": 1}, 3), (b"a", {"V": 1}, 2),
               (b"b", {"V": 1}, 4), (b"z", {"V": 1}, 10)]  # z's record closes [0, 10)
    out = asyncio.run(_final_results(tmp_path, "STRING", records))
    assert [(key[:-8], value["N"]) for key, value in out] == [(b"a", 1), (b"b", 2), (b"c", 1)]


def test_key_order_is_the_order_of_the_key_bytes(tmp_path):
    # A negative INT's big-endian bytes (0xff...) sort after every positive one's.
    records = [(struct.pack(">i", k), {"V": 1}, t) for k, t in ((-1, 1), (7, 2), (0, 3))]
    out = asyncio.run(_final_results(tmp_path, "INT", records + [
        (struct.pack(">i", 5), {"V": 1}, 10)]))
    assert [struct.unpack(">i", key[:4])[0] for key, _ in out] == [0, 7, -1]
