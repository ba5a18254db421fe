"""Stream-stream outer joins through the engine: one-sided rows and the join key."""
import asyncio
from itertools import groupby

import orjson
import pytest

from streamsql.engine import Engine
from streamsql.log.backend import Record

STREAMS = ("CREATE STREAM L (ID BIGINT KEY, A STRING) "
           "WITH (kafka_topic='l', partitions=1, value_format='JSON');"
           "CREATE STREAM R (ID BIGINT KEY, B STRING) "
           "WITH (kafka_topic='r', partitions=1, value_format='JSON');")


def _key(key: int) -> bytes:
    return key.to_bytes(8, "big", signed=True)


def run_join(tmp_path, query: str, records, *, one_per_batch: bool = True):
    """Feed `records` [(topic, key, value, ts)] one batch per record (or per run of one
    topic); return the sink's records."""
    async def go():
        props = {"auto.offset.reset": "earliest", "cache.max.bytes.buffering": "0"}
        async with Engine(tmp_path, props, run_queries=False) as engine:
            await engine.execute(STREAMS + query)
            query_id = engine.queries[0].query_id
            runs = [[r] for r in records] if one_per_batch else \
                [list(run) for _, run in groupby(records, key=lambda r: r[0])]
            for run in runs:
                offsets = await engine.backend.produce(run[0][0], [
                    Record(_key(key), orjson.dumps(value), ts) for _, key, value, ts in run])
                await engine.process(query_id, run[0][0], 0, offsets[0], offsets[-1] + 1)
            out = await engine.backend.fetch("OUT", 0, 0, 10_000)
            return [(int.from_bytes(r.key, "big", signed=True), orjson.loads(r.value),
                     r.timestamp) for r in out]
    return asyncio.run(go())


RECORDS = [("r", 1, {"B": "x"}, 10), ("l", 1, {"A": "p"}, 20), ("l", 2, {"A": "q"}, 30)]


def test_right_join_emits_right_records_alone_at_once_keyed_by_the_join_key(tmp_path):
    out = run_join(tmp_path, "CREATE STREAM OUT AS SELECT L.ID, A, B FROM L RIGHT JOIN R "
                             "WITHIN 1 SECOND ON L.ID = R.ID;", RECORDS)
    # L.ID is null in the first row; the key still comes from the right record.
    assert out == [(1, {"A": None, "B": "x"}, 10), (1, {"A": "p", "B": "x"}, 20)]


def test_full_join_rows_are_keyed_by_the_synthetic_key_column(tmp_path):
    out = run_join(tmp_path, "CREATE STREAM OUT AS SELECT ROWKEY AS K, A, B FROM L FULL JOIN R "
                             "WITHIN 1 SECOND ON L.ID = R.ID;", RECORDS)
    assert out == [(1, {"A": None, "B": "x"}, 10), (1, {"A": "p", "B": "x"}, 20),
                   (2, {"A": "q", "B": None}, 30)]


GRACE_QUERY = ("CREATE STREAM OUT AS SELECT L.ID, A, B FROM L LEFT JOIN R "
               "WITHIN 10 MILLISECONDS GRACE PERIOD 5 MILLISECONDS ON L.ID = R.ID;")


def test_with_grace_an_unmatched_record_waits_for_its_window_to_close(tmp_path):
    out = run_join(tmp_path, GRACE_QUERY, [
        ("l", 1, {"A": "p"}, 0),     # waits: nothing yet
        ("r", 1, {"B": "x"}, 5),     # joins it: it never goes out alone
        ("l", 2, {"A": "q"}, 10),    # waits until stream time passes 10 + 10 + 5
        ("r", 9, {"B": "z"}, 26),    # closes 2's window: 2 goes out alone, at its own time
        ("l", 3, {"A": "s"}, 1),     # its window closed long ago: alone at once
    ])
    assert out == [(1, {"A": "p", "B": "x"}, 5), (2, {"A": "q", "B": None}, 10),
                   (3, {"A": "s", "B": None}, 1)]


@pytest.mark.parametrize("join", ["JOIN", "LEFT JOIN", "RIGHT JOIN", "FULL JOIN"])
def test_with_grace_any_batching_gives_the_same_outputs(tmp_path, join):
    key = "ROWKEY AS K" if join == "FULL JOIN" else "L.ID"
    query = (f"CREATE STREAM OUT AS SELECT {key}, A, B FROM L {join} R "
             "WITHIN 10 MILLISECONDS GRACE PERIOD 5 MILLISECONDS ON L.ID = R.ID;")
    records = [("l", 1, {"A": "p"}, 0), ("l", 2, {"A": "q"}, 3), ("r", 1, {"B": "x"}, 5),
               ("r", 4, {"B": "w"}, 2), ("r", 2, {"B": "y"}, 30), ("l", 4, {"A": "u"}, 1),
               ("l", 1, {"A": "t"}, 40), ("l", 5, {"A": "v"}, 60)]
    batched = run_join(tmp_path / "batched", query, records, one_per_batch=False)
    assert batched == run_join(tmp_path / "single", query, records)
    assert batched
