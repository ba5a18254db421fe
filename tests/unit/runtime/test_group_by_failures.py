"""GROUP BY keys that fail or come back NULL leave their record out; the rest count on."""
import asyncio

import orjson

from streamsql.engine import Engine
from streamsql.log.backend import Record


async def _counts(tmp_path, group_by: str, value_type: str, values, batches=1) -> list:
    async with Engine(tmp_path, {"auto.offset.reset": "earliest",
                                 "cache.max.bytes.buffering": "0"},
                      run_queries=False, test_functions=True) as engine:
        await engine.execute(
            f"CREATE STREAM S (K STRING KEY, V {value_type}) WITH (kafka_topic='s', "
            "partitions=1, value_format='JSON');"
            f"CREATE TABLE T AS SELECT {group_by} AS G, COUNT(*) AS N FROM S "
            f"GROUP BY {group_by};")
        await engine.backend.produce("s", [Record(b"k", orjson.dumps({"V": v}), i)
                                           for i, v in enumerate(values)])
        step = len(values) // batches
        for start in range(0, len(values), step):  # one engine step per batch
            await engine.process(engine.queries[0].query_id, "s", 0, start, start + step)
        out = await engine.backend.fetch("T", 0, 0, 100)
        return [(r.key, orjson.loads(r.value)["N"]) for r in out]


def test_records_whose_grouping_expression_fails_are_left_out(tmp_path):
    # BAD_UDF(true) fails; BAD_UDF(false) is 0.
    out = asyncio.run(_counts(tmp_path, "BAD_UDF(V)", "BOOLEAN", [False, True, False]))
    assert out == [(b"\x00\x00\x00\x00", 1), (b"\x00\x00\x00\x00", 2)]


def test_a_null_grouping_value_leaves_the_record_out_across_batches(tmp_path):
    # BAD_UDF of a STRING is NULL on every other call, whichever batch the call is in.
    out = asyncio.run(_counts(tmp_path, "BAD_UDF(V)", "STRING", ["a", "b", "a", "b"],
                              batches=2))
    assert out == [(b"b", 1), (b"b", 2)]
