"""A stateful query's state and offsets commit together: a failed batch leaves neither."""
import asyncio

import orjson
import pytest

from streamsql.engine import Engine
from streamsql.errors import LogError
from streamsql.log.backend import Record


def test_failed_batch_rolls_back_state_and_offsets(tmp_path):
    async def scenario():
        async with Engine(tmp_path, {"auto.offset.reset": "earliest", "cache.max.bytes.buffering": "0"},
                          run_queries=False) as engine:
            await engine.execute(
                "CREATE STREAM S (K STRING KEY, V INT) WITH (kafka_topic='s', partitions=1, "
                "value_format='JSON');"
                "CREATE TABLE COUNTS AS SELECT K, COUNT(*) AS N FROM S GROUP BY K;")
            await engine.backend.produce("s", [Record(b"a", orjson.dumps({"V": i}), i)
                                               for i in range(3)])
            query = engine.persistent["CTAS_COUNTS_0"]
            records = await engine.backend.fetch("s", 0, 0, 100)
            position = {("s", 0): 3}

            # The sink is gone: producing fails after the state was updated in the batch.
            await engine.backend.delete_topic("COUNTS")
            with pytest.raises(LogError):
                await query._process_checkpointed("s", records, position)
            assert query.checkpoint.offsets() == {}

            await engine.backend.create_topic("COUNTS", 1)
            await query._process_checkpointed("s", records, position)
            out = await engine.backend.fetch("COUNTS", 0, 0, 100)
            return [orjson.loads(r.value)["N"] for r in out], query.checkpoint.offsets()

    counts, offsets = asyncio.run(scenario())
    assert counts == [1, 2, 3]  # the failed attempt counted nothing
    assert offsets == {("s", 0): 3}
