"""A query's output does not depend on how its input is split into micro-batches."""
import asyncio
import tempfile

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamsql.engine import Engine
from streamsql.log.backend import Record

STATEMENTS = """
CREATE STREAM L (K STRING KEY, V INT, S STRING) WITH (kafka_topic='l', partitions=1, value_format='JSON');
CREATE STREAM R (K STRING KEY, W INT) WITH (kafka_topic='r', partitions=1, value_format='JSON');
CREATE STREAM PROJECTED AS SELECT K, V * 2 AS V2, UCASE(S) AS S FROM L WHERE V % 3 <> 0;
CREATE STREAM REKEYED AS SELECT * FROM L PARTITION BY S;
CREATE STREAM JOINED AS SELECT L.K, V, W FROM L JOIN R WITHIN 5 SECONDS ON L.K = R.K;
"""

records = st.lists(
    st.tuples(st.sampled_from(["l", "r"]), st.sampled_from(["a", "b", "c"]),
              st.integers(-5, 20), st.sampled_from(["x", "y", None]),
              st.integers(0, 20_000)),
    min_size=1, max_size=30)


async def _outputs(inputs, cuts: set[int]) -> dict[str, list]:
    with tempfile.TemporaryDirectory() as data_dir:
        async with Engine(data_dir, {"auto.offset.reset": "earliest"}, run_queries=False) as engine:
            await engine.execute(STATEMENTS)
            for topic, key, v, s, ts in inputs:
                value = {"V": v, "S": s} if topic == "l" else {"W": v}
                await engine.backend.produce(topic, [Record(key.encode(), orjson.dumps(value), ts)])
            # Deliver in input order, cutting the run of one topic into batches at `cuts`.
            offsets = {"l": 0, "r": 0}
            for query in engine.queries:
                offsets = {"l": 0, "r": 0}
                start = 0
                for i, (topic, *_rest) in enumerate(inputs):
                    last = i + 1 == len(inputs)
                    if last or inputs[i + 1][0] != topic or i + 1 in cuts:
                        count = i + 1 - start
                        if topic in query.source_topics:
                            await engine.process(query.query_id, topic, 0, offsets[topic],
                                                 offsets[topic] + count)
                        offsets[topic] += count
                        start = i + 1
            out = {}
            for sink in ("PROJECTED", "REKEYED", "JOINED"):
                fetched = await engine.backend.fetch(sink, 0, 0, 10_000)
                out[sink] = [(r.key, r.value, r.timestamp) for r in fetched]
            return out


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records, st.sets(st.integers(1, 30)))
def test_output_is_the_same_for_any_batch_split(inputs, cuts):
    one_by_one = asyncio.run(_outputs(inputs, set(range(1, len(inputs) + 1))))
    split = asyncio.run(_outputs(inputs, cuts))
    assert split == one_by_one
