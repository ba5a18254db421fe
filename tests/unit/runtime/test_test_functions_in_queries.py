"""Queries over the QTT test-only functions (an engine with test functions): what a query
does with an aggregate of a struct, or with an expression that fails."""
import asyncio

import orjson

from streamsql.engine import Engine
from streamsql.log.backend import Record


def test_test_udaf_of_a_struct_sums_each_field(tmp_path):
    async def go():
        props = {"auto.offset.reset": "earliest", "cache.max.bytes.buffering": "0"}
        async with Engine(tmp_path, props, run_queries=False, test_functions=True) as engine:
            await engine.execute(
                "CREATE STREAM S (K STRING KEY, V STRUCT<A INT, B INT>) WITH (kafka_topic='s', "
                "partitions=1, value_format='JSON');"
                "CREATE TABLE T AS SELECT K, TEST_UDAF(V) AS R FROM S GROUP BY K;")
            values = [{"A": 1, "B": 2}, None, {"A": 2, "B": None}]
            await engine.backend.produce("s", [Record(b"k", orjson.dumps({"V": v}), i)
                                               for i, v in enumerate(values)])
            await engine.process(engine.queries[0].query_id, "s", 0, 0, len(values))
            return [orjson.loads(r.value)["R"] for r in await engine.backend.fetch("T", 0, 0)]
    assert asyncio.run(go()) == [{"A": 1, "B": 2}, {"A": 1, "B": 2}, {"A": 3, "B": 2}]


def test_partition_by_that_fails_gives_the_record_a_null_key(tmp_path):
    async def go():
        props = {"auto.offset.reset": "earliest"}
        async with Engine(tmp_path, props, run_queries=False, test_functions=True) as engine:
            await engine.execute(
                "CREATE STREAM S (K STRING KEY, ID INT, FAIL BOOLEAN) WITH (kafka_topic='s', "
                "partitions=1, value_format='JSON');"
                "CREATE STREAM P AS SELECT BAD_UDF(FAIL) AS NEW_KEY, ID FROM S "
                "PARTITION BY BAD_UDF(FAIL);")
            values = [{"ID": 1, "FAIL": False}, {"ID": 2, "FAIL": True}]
            await engine.backend.produce("s", [Record(b"k", orjson.dumps(v), 0) for v in values])
            await engine.process(engine.queries[0].query_id, "s", 0, 0, len(values))
            return [(r.key, orjson.loads(r.value)) for r in await engine.backend.fetch("P", 0, 0)]
    assert asyncio.run(go()) == [(b"\x00\x00\x00\x00", {"ID": 1}), (None, {"ID": 2})]
