"""ATTR through a real GROUP BY: over a table a deleted row's value stops counting."""
import asyncio

import orjson
import pytest

from streamsql.engine import Engine
from streamsql.log.backend import Record


async def _outputs(tmp_path, source_ddl: str, records, cache: str) -> list:
    async with Engine(tmp_path, {"auto.offset.reset": "earliest",
                                 "cache.max.bytes.buffering": cache},
                      run_queries=False) as engine:
        await engine.execute(source_ddl + "CREATE TABLE T AS SELECT G, ATTR(S) AS A FROM IN_ "
                                          "GROUP BY G;")
        await engine.backend.produce("in", [
            Record(k.encode(), None if v is None else orjson.dumps(v), i)
            for i, (k, v) in enumerate(records)])
        await engine.process(engine.queries[0].query_id, "in", 0, 0, len(records))
        return [orjson.loads(r.value)["A"] for r in await engine.backend.fetch("T", 0, 0, 100)]


TABLE = ("CREATE TABLE IN_ (K STRING PRIMARY KEY, G INT, S STRING) WITH (kafka_topic='in', "
         "partitions=1, value_format='JSON');")
STREAM = ("CREATE STREAM IN_ (K STRING KEY, G INT, S STRING) WITH (kafka_topic='in', "
          "partitions=1, value_format='JSON');")


def test_table_rows_deleted_and_changed_are_retracted(tmp_path):
    records = [("a", {"G": 1, "S": "x"}), ("b", {"G": 1, "S": "y"}),  # x, then x and y
               ("b", None),                                           # only x again
               ("a", {"G": 1, "S": "z"}),                             # a changes x -> z
               ("b", {"G": 1, "S": None})]                            # a null counts
    assert asyncio.run(_outputs(tmp_path, TABLE, records, "0")) == ["x", None, "x", "z", None]


def test_table_batch_of_changes_with_the_cache_on_gives_the_last_value(tmp_path):
    records = [("a", {"G": 1, "S": "x"}), ("b", {"G": 1, "S": "y"}), ("b", None)]
    assert asyncio.run(_outputs(tmp_path, TABLE, records, "10000000")) == ["x"]


@pytest.mark.parametrize("values, expected", [
    (["x", "x", "x"], "x"), (["x", "y", "x"], None), (["x", None], None), ([None, None], None),
])
def test_stream_value_is_kept_only_while_every_record_agrees(tmp_path, values, expected):
    records = [("k", {"G": 1, "S": v}) for v in values]
    assert asyncio.run(_outputs(tmp_path, STREAM, records, "0"))[-1] == expected
