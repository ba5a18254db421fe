"""Table-table joins through the engine: changelog outputs per change, state in a DuckDB file."""
import asyncio
from itertools import groupby

import orjson
import pytest

from streamsql.engine import Engine
from streamsql.log.backend import Record

TABLES = ("CREATE TABLE L (ID BIGINT PRIMARY KEY, NAME STRING, FK BIGINT) "
          "WITH (kafka_topic='l', partitions=1, value_format='JSON');"
          "CREATE TABLE R (ID BIGINT PRIMARY KEY, F STRING) "
          "WITH (kafka_topic='r', partitions=1, value_format='JSON');")
CACHE_OFF = {"auto.offset.reset": "earliest", "cache.max.bytes.buffering": "0"}


def _key(key: int) -> bytes:
    return key.to_bytes(8, "big", signed=True)


async def _feed(engine: Engine, changes, *, one_per_batch: bool) -> None:
    """Produce `changes` [(topic, key, value | None, ts)] and let the query consume them in
    order: consecutive changes of one topic form one batch unless `one_per_batch`."""
    query = engine.queries[0].query_id
    runs = [[c] for c in changes] if one_per_batch else \
        [list(run) for _, run in groupby(changes, key=lambda c: c[0])]
    for run in runs:
        topic = run[0][0]
        offsets = await engine.backend.produce(topic, [
            Record(_key(k), None if v is None else orjson.dumps(v), ts) for _, k, v, ts in run])
        await engine.process(query, topic, 0, offsets[0], offsets[-1] + 1)


async def _sink(engine: Engine, topic: str):
    out = await engine.backend.fetch(topic, 0, 0, 10_000)
    return [(int.from_bytes(r.key, "big", signed=True),
             None if r.value is None else orjson.loads(r.value), r.timestamp) for r in out]


def run_join(tmp_path, query: str, changes, *, one_per_batch: bool = False):
    async def go():
        async with Engine(tmp_path, CACHE_OFF, run_queries=False) as engine:
            await engine.execute(TABLES + query)
            await _feed(engine, changes, one_per_batch=one_per_batch)
            return await _sink(engine, "OUT")
    return asyncio.run(go())


def test_inner_join_emits_joined_rows_and_tombstones_only_for_joined_keys(tmp_path):
    out = run_join(tmp_path, "CREATE TABLE OUT AS SELECT L.ID, NAME, F FROM L JOIN R "
                             "ON L.ID = R.ID;", [
        ("l", 1, {"NAME": "a"}, 10),       # no right row: nothing
        ("r", 1, {"F": "x"}, 20),          # joins
        ("r", 2, {"F": "y"}, 21),          # no left row: nothing
        ("l", 1, {"NAME": "b"}, 15),       # update: time is the later of the two rows
        ("r", 1, None, 30),                # the joined row goes
        ("l", 1, None, 40),                # nothing left to delete: nothing
    ])
    assert out == [(1, {"NAME": "a", "F": "x"}, 20), (1, {"NAME": "b", "F": "x"}, 20),
                   (1, None, 30)]


def test_left_join_keeps_left_rows_and_deletes_them_with_the_left_row(tmp_path):
    out = run_join(tmp_path, "CREATE TABLE OUT AS SELECT L.ID, NAME, F FROM L LEFT JOIN R "
                             "ON L.ID = R.ID;", [
        ("l", 1, {"NAME": "a"}, 10),
        ("r", 1, {"F": "x"}, 20),
        ("r", 1, None, 30),                # back to the left row alone
        ("r", 2, {"F": "y"}, 31),          # no left row: nothing
        ("l", 1, None, 40),
        ("l", 3, None, 41),                # a delete of a row that never existed: nothing
    ])
    assert out == [(1, {"NAME": "a", "F": None}, 10), (1, {"NAME": "a", "F": "x"}, 20),
                   (1, {"NAME": "a", "F": None}, 30), (1, None, 40)]


def test_full_join_is_keyed_by_whichever_side_is_present(tmp_path):
    out = run_join(tmp_path, "CREATE TABLE OUT AS SELECT ROWKEY AS K, NAME, F FROM L FULL JOIN R "
                             "ON L.ID = R.ID;", [
        ("r", 2, {"F": "y"}, 5),
        ("l", 2, {"NAME": "b"}, 6),
        ("l", 2, None, 7),
        ("r", 2, None, 8),
    ])
    assert out == [(2, {"NAME": None, "F": "y"}, 5), (2, {"NAME": "b", "F": "y"}, 6),
                   (2, {"NAME": None, "F": "y"}, 7), (2, None, 8)]


def test_where_drops_changes_that_pass_neither_before_nor_after(tmp_path):
    out = run_join(tmp_path, "CREATE TABLE OUT AS SELECT L.ID, NAME, F FROM L JOIN R "
                             "ON L.ID = R.ID WHERE F <> 'no';", [
        ("l", 1, {"NAME": "a"}, 1),
        ("r", 1, {"F": "no"}, 2),          # fails, and had no row before: nothing
        ("r", 1, {"F": "yes"}, 3),
        ("r", 1, {"F": "no"}, 4),          # passed before: deleted
    ])
    assert out == [(1, {"NAME": "a", "F": "yes"}, 3), (1, None, 4)]


CHANGES = [("l", 1, {"NAME": "a", "FK": 7}, 1), ("l", 1, {"NAME": "b", "FK": 7}, 2),
           ("l", 2, {"NAME": "c", "FK": 8}, 3), ("l", 1, None, 4), ("l", 1, {"NAME": "d"}, 5),
           ("r", 1, {"F": "x"}, 6), ("r", 1, None, 7), ("r", 1, {"F": "z"}, 8),
           ("l", 2, None, 9), ("l", 2, None, 10)]


@pytest.mark.parametrize("join", ["JOIN", "LEFT JOIN", "FULL JOIN", "RIGHT JOIN"])
def test_changes_to_one_key_in_a_batch_see_each_other(tmp_path, join):
    query = f"CREATE TABLE OUT AS SELECT ROWKEY AS K, NAME, F FROM L {join} R ON L.ID = R.ID;" \
        if join == "FULL JOIN" else \
        f"CREATE TABLE OUT AS SELECT L.ID, NAME, F FROM L {join} R ON L.ID = R.ID;"
    batched = run_join(tmp_path / "batched", query, CHANGES)
    one_by_one = run_join(tmp_path / "single", query, CHANGES, one_per_batch=True)
    assert batched == one_by_one
    assert batched  # the changes do join


FK_QUERY = "CREATE TABLE OUT AS SELECT L.ID, NAME, F FROM L {kind} R ON L.FK = R.ID;"


def test_foreign_key_join_fans_a_right_change_out_to_every_referencing_left_row(tmp_path):
    out = run_join(tmp_path, FK_QUERY.format(kind="JOIN"), [
        ("l", 20, {"NAME": "b", "FK": 7}, 1),   # no right row yet: nothing
        ("l", 10, {"NAME": "a", "FK": 7}, 2),
        ("r", 7, {"F": "x"}, 3),                # both rows, in left key order
        ("l", 10, {"NAME": "a", "FK": 8}, 4),   # moves away from 7: no match, so deleted
        ("r", 7, None, 5),                      # only row 20 still references 7
    ])
    assert out == [(10, {"NAME": "a", "F": "x"}, 3), (20, {"NAME": "b", "F": "x"}, 3),
                   (10, None, 4), (20, None, 5)]


def test_foreign_key_left_join_keeps_left_rows_without_a_match(tmp_path):
    out = run_join(tmp_path, FK_QUERY.format(kind="LEFT JOIN"), [
        ("l", 10, {"NAME": "a", "FK": 7}, 1),
        ("r", 7, {"F": "x"}, 2),
        ("r", 7, None, 3),
        ("l", 10, None, 4),
    ])
    assert out == [(10, {"NAME": "a", "F": None}, 1), (10, {"NAME": "a", "F": "x"}, 2),
                   (10, {"NAME": "a", "F": None}, 3), (10, None, 4)]


def test_join_state_survives_a_restart(tmp_path):
    async def go():
        query = FK_QUERY.format(kind="JOIN")
        async with Engine(tmp_path, CACHE_OFF, run_queries=False) as engine:
            await engine.execute(TABLES + query)
            await _feed(engine, [("l", 10, {"NAME": "a", "FK": 7}, 1)], one_per_batch=False)
        async with Engine(tmp_path, CACHE_OFF, run_queries=False) as engine:
            await _feed(engine, [("r", 7, {"F": "x"}, 2)], one_per_batch=False)
            return await _sink(engine, "OUT")
    assert asyncio.run(go()) == [(10, {"NAME": "a", "F": "x"}, 2)]


CHAIN = ("CREATE TABLE M (ID BIGINT PRIMARY KEY, G STRING) "
         "WITH (kafka_topic='m', partitions=1, value_format='JSON');"
         "CREATE TABLE OUT AS SELECT ROWKEY AS K, NAME, F, G FROM L JOIN R ON L.ID = R.ID "
         "FULL JOIN M ON L.ID = M.ID;")
CHAIN_CHANGES = [("m", 1, {"G": "g"}, 1), ("l", 1, {"NAME": "a"}, 2), ("r", 1, {"F": "x"}, 3),
                 ("l", 1, {"NAME": "b"}, 4), ("r", 1, None, 5), ("m", 1, None, 6),
                 ("r", 1, {"F": "y"}, 7), ("l", 1, {"NAME": "c"}, 8), ("m", 2, {"G": "h"}, 9)]


def test_a_chain_of_tables_joins_each_table_to_the_result_before_it(tmp_path):
    out = run_join(tmp_path, CHAIN, CHAIN_CHANGES)
    assert out == [
        (1, {"NAME": None, "F": None, "G": "g"}, 1),   # M alone (FULL)
        (1, {"NAME": "a", "F": "x", "G": "g"}, 3),     # L and R join, then meet M
        (1, {"NAME": "b", "F": "x", "G": "g"}, 4),
        (1, {"NAME": None, "F": None, "G": "g"}, 5),   # L JOIN R loses its row
        (1, None, 6),                                  # nothing left for the key
        (1, {"NAME": "b", "F": "y", "G": None}, 7),
        (1, {"NAME": "c", "F": "y", "G": None}, 8),
        (2, {"NAME": None, "F": None, "G": "h"}, 9)]


def test_a_chain_gives_the_same_changes_for_any_batching(tmp_path):
    changes = sorted(CHAIN_CHANGES, key=lambda c: c[0])  # long runs of one table per batch
    batched = run_join(tmp_path / "batched", CHAIN, changes)
    one_by_one = run_join(tmp_path / "single", CHAIN, changes, one_per_batch=True)
    assert batched == one_by_one
