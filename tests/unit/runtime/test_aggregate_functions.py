"""Each aggregate function through a real GROUP BY: the final value after all rows."""
import asyncio
import math

import orjson
import pytest

from streamsql.engine import Engine
from streamsql.log.backend import Record

VALUES = [3, None, 1, 3, 2]


async def _final(tmp_path, expression: str):
    async with Engine(tmp_path, {"auto.offset.reset": "earliest",
                                 "cache.max.bytes.buffering": "0"},
                      run_queries=False) as engine:
        await engine.execute(
            "CREATE STREAM S (K STRING KEY, V INT, W STRING) WITH (kafka_topic='s', "
            "partitions=1, value_format='JSON');"
            f"CREATE TABLE T AS SELECT K, {expression} AS R FROM S GROUP BY K;")
        await engine.backend.produce("s", [
            Record(b"k", orjson.dumps({"V": v, "W": None if v is None else f"w{v}"}), i)
            for i, v in enumerate(VALUES)])
        await engine.process(engine.queries[0].query_id, "s", 0, 0, len(VALUES))
        out = await engine.backend.fetch("T", 0, 0, 100)
        return orjson.loads(out[-1].value)["R"]


@pytest.mark.parametrize("expression, expected", [
    ("COUNT(*)", 5), ("COUNT(V)", 4), ("SUM(V)", 9), ("AVG(V)", 2.25), ("MIN(V)", 1),
    ("MAX(V)", 3), ("COUNT_DISTINCT(V)", 3), ("COLLECT_LIST(V)", [3, None, 1, 3, 2]),
    ("COLLECT_SET(V)", [3, 1, 2]), ("TOPK(V, 2)", [3, 3]), ("TOPKDISTINCT(V, 2)", [3, 2]),
    ("LATEST_BY_OFFSET(V)", 2), ("EARLIEST_BY_OFFSET(V)", 3),
    ("LATEST_BY_OFFSET(V, 2)", [3, 2]), ("EARLIEST_BY_OFFSET(V, 2, false)", [3, None]),
    ("ATTR(V)", None), ("TOPK(V, W, 1)", [{"SORT_COL": 3, "COL0": "w3"}]),
])
def test_aggregate_final_value(tmp_path, expression, expected):
    assert asyncio.run(_final(tmp_path, expression)) == expected


def test_standard_deviation_and_correlation(tmp_path):
    values = [3, 1, 3, 2]
    mean = sum(values) / 4
    sample = math.sqrt(sum((v - mean) ** 2 for v in values) / 3)
    population = math.sqrt(sum((v - mean) ** 2 for v in values) / 4)
    assert asyncio.run(_final(tmp_path / "a", "STDDEV_SAMP(V)")) == pytest.approx(sample)
    assert asyncio.run(_final(tmp_path / "b", "STDDEV_POP(V)")) == pytest.approx(population)
    assert asyncio.run(_final(tmp_path / "c", "CORRELATION(V, V)")) == pytest.approx(1.0)
