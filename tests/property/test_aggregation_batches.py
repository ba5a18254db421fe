"""Aggregations give the same results however their input is split into micro-batches,
and the record cache only drops the updates that a later one in its batch replaces."""
import asyncio
import tempfile

import orjson
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from streamsql.engine import Engine
from streamsql.log.backend import Record

SOURCE = ("CREATE STREAM L (K STRING KEY, V INT) WITH (kafka_topic='l', partitions=1, "
          "value_format='JSON');")
# Each kind of aggregation: HAVING across batches, late records (a short grace), windows
# that overlap, an aggregate that depends on the order of the rows, EMIT FINAL, and
# sessions that merge (their tombstones).
QUERIES = {
    "FILTERED": "SELECT K, COUNT(*) AS N, SUM(V) AS S, MAX(V) AS M FROM L GROUP BY K "
              "HAVING COUNT(*) > 1",
    "TUMBLED": "SELECT K, COUNT(*) AS N, SUM(V) AS S FROM L WINDOW TUMBLING (SIZE 10 "
                "MILLISECONDS, GRACE PERIOD 5 MILLISECONDS) GROUP BY K",
    "HOPPED": "SELECT K, COUNT(*) AS N, MIN(V) AS LOW FROM L WINDOW HOPPING (SIZE 20 "
               "MILLISECONDS, ADVANCE BY 10 MILLISECONDS, GRACE PERIOD 15 MILLISECONDS) "
               "GROUP BY K",
    "NEWEST": "SELECT K, LATEST_BY_OFFSET(V) AS LAST_V, COUNT(*) AS N FROM L WINDOW TUMBLING "
              "(SIZE 10 MILLISECONDS, GRACE PERIOD 5 MILLISECONDS) GROUP BY K",
    "CLOSED": "SELECT K, COUNT(*) AS N, SUM(V) AS S FROM L WINDOW TUMBLING (SIZE 10 "
             "MILLISECONDS, GRACE PERIOD 5 MILLISECONDS) GROUP BY K EMIT FINAL",
    "SESSIONS": "SELECT K, COUNT(*) AS N, SUM(V) AS S FROM L WINDOW SESSION (5 MILLISECONDS, "
                "GRACE PERIOD 10 MILLISECONDS) GROUP BY K",
}

records = st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(-5, 20),
                             st.integers(0, 60)), min_size=1, max_size=30)


async def _outputs(inputs, cuts: set[int], cache: str) -> dict[str, list[list]]:
    """Each query's output records, per batch; the batches end before the rows in `cuts`."""
    with tempfile.TemporaryDirectory() as data_dir:
        async with Engine(data_dir, {"auto.offset.reset": "earliest",
                                     "cache.max.bytes.buffering": cache},
                          run_queries=False) as engine:
            await engine.execute(SOURCE + "".join(
                f"CREATE TABLE {name} AS {query};" for name, query in QUERIES.items()))
            await engine.backend.produce("l", [Record(k.encode(), orjson.dumps({"V": v}), ts)
                                               for k, v, ts in inputs])
            bounds = [0, *sorted(c for c in cuts if 0 < c < len(inputs)), len(inputs)]
            out = {name: [] for name in QUERIES}
            for query in engine.queries:
                (name,) = [n for n in QUERIES if n in query.query_id]
                seen = 0
                for start, end in zip(bounds, bounds[1:]):
                    await engine.process(query.query_id, "l", 0, start, end)
                    fetched = await engine.backend.fetch(name, 0, seen, 10_000)
                    seen += len(fetched)
                    out[name].append([(r.key, r.value, r.timestamp) for r in fetched])
            return out


def _flat(batches: list[list]) -> list:
    return [record for batch in batches for record in batch]


def _cached(batches: list[list]) -> list[list]:
    """Each batch's updates as the cache forwards them: the last one per key, in order of
    that one, and a tombstone only for a key the result had before the batch."""
    table, cached = set(), []
    for batch in batches:
        last = {key: i for i, (key, _, _) in enumerate(batch)}
        cached.append([(key, value, ts) for i, (key, value, ts) in enumerate(batch)
                       if last[key] == i and (value is not None or key in table)])
        for key, value, _ in batch:
            (table.add if value is not None else table.discard)(key)
    return cached


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records, st.sets(st.integers(1, 30)))
def test_aggregation_output_is_the_same_for_any_batch_split(inputs, cuts):
    one_by_one = asyncio.run(_outputs(inputs, set(range(1, len(inputs) + 1)), "0"))
    split = asyncio.run(_outputs(inputs, cuts, "0"))
    assert {name: _flat(b) for name, b in split.items()} == \
        {name: _flat(b) for name, b in one_by_one.items()}


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records, st.sets(st.integers(1, 30)))
# A session of the first batch that a record inside it leaves as it is, then one extends:
# its tombstone is the batch's last update of its window, and must be forwarded.
@example([("a", 1, 30), ("a", 1, 27), ("a", 1, 29), ("a", 1, 31)], {2})
def test_cache_keeps_the_last_update_per_key_of_each_batch(inputs, cuts):
    every_update = asyncio.run(_outputs(inputs, cuts, "0"))
    cached = asyncio.run(_outputs(inputs, cuts, "10485760"))
    for name in ("TUMBLED", "HOPPED", "NEWEST", "SESSIONS"):
        assert cached[name] == _cached(every_update[name]), name
