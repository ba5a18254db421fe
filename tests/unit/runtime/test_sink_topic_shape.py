"""The sink topic of CREATE ... AS SELECT: created like its source, or an existing one kept."""
import asyncio

import orjson
import pytest

from streamsql.engine import Engine
from streamsql.errors import StatementError
from streamsql.log.backend import Record

SOURCE = ("CREATE STREAM S (K STRING KEY, V INT) WITH (kafka_topic='s', partitions=4, "
          "value_format='JSON');")


def test_query_writes_into_an_existing_sink_topic_with_its_own_partitions(tmp_path):
    async def go():
        props = {"auto.offset.reset": "earliest"}
        async with Engine(tmp_path, props, run_queries=False) as engine:
            await engine.backend.create_topic("OUT", 1, 1)
            await engine.execute(SOURCE + "CREATE STREAM OUT AS SELECT * FROM S;")
            offsets = await engine.backend.produce(
                "s", [Record(key.encode(), orjson.dumps({"V": 1}), 0) for key in "abcdefgh"])
            await engine.process(engine.queries[0].query_id, "s", 0, offsets[0],
                                 offsets[-1] + 1)
            info = await engine.backend.describe_topic("OUT")
            return info.partitions, len(await engine.backend.fetch("OUT", 0, 0, 100))
    assert asyncio.run(go()) == (1, 8)


def test_partitions_that_differ_from_an_existing_sink_topic_are_rejected(tmp_path):
    async def go():
        async with Engine(tmp_path, run_queries=False) as engine:
            await engine.backend.create_topic("OUT", 1, 1)
            await engine.execute(SOURCE + "CREATE STREAM OUT WITH (PARTITIONS=4) AS SELECT * "
                                 "FROM S;")
    with pytest.raises(StatementError) as err:
        asyncio.run(go())
    assert err.value.message == (
        "A Kafka topic with the name 'OUT' already exists, with different partition/replica "
        "configuration than required. KSQL expects 4 partitions (topic has 1).")
