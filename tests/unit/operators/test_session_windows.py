"""WINDOW SESSION through the engine (real log, real DuckDB): merges, tombstones, late
records, retention, the record cache, EMIT FINAL, restarts and pull queries."""
import asyncio
import struct

import orjson

from streamsql.engine import Engine
from streamsql.log.backend import Record

STREAM = ("CREATE STREAM S (K STRING KEY, V INT) WITH (kafka_topic='s', partitions=1, "
          "value_format='JSON');")
OFF = {"cache.max.bytes.buffering": "0"}


def session_table(window: str, *, aggregates: str = "COUNT(*) AS N, COLLECT_LIST(V) AS VS",
                  tail: str = "") -> str:
    return STREAM + (f"CREATE TABLE T AS SELECT K, {aggregates} FROM S WINDOW SESSION "
                     f"({window}) GROUP BY K{tail};")


def decode(record: Record):
    """(key, start, end, value or None, timestamp) of a session-windowed output record."""
    end, start = struct.unpack(">qq", record.key[-16:])
    value = None if record.value is None else orjson.loads(record.value)
    return record.key[:-16].decode(), start, end, value, record.timestamp


async def _feed(engine: Engine, records, batches):
    """Produce `records` [(key, V, ts)] and process them cut into `batches` (sizes)."""
    query = engine.queries[0]
    await engine.backend.produce("s", [Record(k.encode(), orjson.dumps({"V": v}), ts)
                                       for k, v, ts in records])
    offset = 0
    for size in batches:
        await engine.process(query.query_id, "s", 0, offset, offset + size)
        offset += size


async def _run(tmp_path, statements, records, properties, batches=None):
    props = {"auto.offset.reset": "earliest", **properties}
    async with Engine(tmp_path, props, run_queries=False) as engine:
        await engine.execute(statements)
        await _feed(engine, records, batches or [len(records)])
        return [decode(r) for r in await engine.backend.fetch("T", 0, 0, 10_000)]


def run(tmp_path, statements, records, properties=OFF, batches=None):
    return asyncio.run(_run(tmp_path, statements, records, properties, batches))


def test_record_within_gap_extends_the_session_with_a_tombstone_for_the_old_one(tmp_path):
    out = run(tmp_path, session_table("10 MILLISECONDS"), [("a", 1, 100), ("a", 2, 105)])
    assert out == [("a", 100, 100, {"N": 1, "VS": [1]}, 100),
                   ("a", 100, 100, None, 100),
                   ("a", 100, 105, {"N": 2, "VS": [1, 2]}, 105)]


def test_record_beyond_gap_starts_a_new_session(tmp_path):
    out = run(tmp_path, session_table("10 MILLISECONDS"), [("a", 1, 100), ("a", 2, 111)])
    assert out == [("a", 100, 100, {"N": 1, "VS": [1]}, 100),
                   ("a", 111, 111, {"N": 1, "VS": [2]}, 111)]


def test_out_of_order_record_bridges_two_sessions_merging_them_in_time_order(tmp_path):
    out = run(tmp_path, session_table("10 MILLISECONDS"),
              [("a", 1, 100), ("a", 3, 120), ("a", 2, 110)])
    assert out == [("a", 100, 100, {"N": 1, "VS": [1]}, 100),
                   ("a", 120, 120, {"N": 1, "VS": [3]}, 120),
                   ("a", 100, 100, None, 100),
                   ("a", 120, 120, None, 120),
                   ("a", 100, 120, {"N": 3, "VS": [1, 3, 2]}, 120)]


def test_same_timestamp_again_updates_the_single_point_session_without_tombstone(tmp_path):
    out = run(tmp_path, session_table("10 MILLISECONDS"), [("a", 1, 100), ("a", 2, 100)])
    assert out == [("a", 100, 100, {"N": 1, "VS": [1]}, 100),
                   ("a", 100, 100, {"N": 2, "VS": [1, 2]}, 100)]


def test_keys_have_separate_sessions(tmp_path):
    out = run(tmp_path, session_table("10 MILLISECONDS"), [("a", 1, 100), ("b", 2, 105)])
    assert out == [("a", 100, 100, {"N": 1, "VS": [1]}, 100),
                   ("b", 105, 105, {"N": 1, "VS": [2]}, 105)]


def test_record_whose_session_closed_is_dropped_as_late(tmp_path):
    # gap 10 + grace 5: at stream time 200 a session must end at 185 or later to take a
    # record (a long retention keeps the closed sessions visible)
    statements = session_table("10 MILLISECONDS, RETENTION 1 SECOND, GRACE PERIOD 5 MILLISECONDS")
    out = run(tmp_path, statements, [("a", 1, 180), ("a", 2, 200), ("a", 3, 184),
                                     ("a", 4, 185), ("a", 5, 170)])
    # 184 joins [180, 180]: the merged session ends at 184 < 185, so it is late; 185 is not,
    # and it merges [180, 180]; 170 reaches [180, 185] and is kept by it
    assert out == [("a", 180, 180, {"N": 1, "VS": [1]}, 180),
                   ("a", 200, 200, {"N": 1, "VS": [2]}, 200),
                   ("a", 180, 180, None, 180),
                   ("a", 180, 185, {"N": 2, "VS": [1, 4]}, 185),
                   ("a", 180, 185, None, 185),
                   ("a", 170, 185, {"N": 3, "VS": [1, 4, 5]}, 185)]


def test_session_past_its_retention_is_not_merged_any_more(tmp_path):
    # retention 100: at stream time 300 a session ending at 200 is gone, so a record at
    # 205 starts a new session instead of extending it (grace 100 keeps it from being late)
    statements = session_table("10 MILLISECONDS, RETENTION 100 MILLISECONDS, "
                               "GRACE PERIOD 90 MILLISECONDS")
    out = run(tmp_path, statements, [("a", 1, 200), ("a", 2, 300), ("a", 3, 205)])
    assert out == [("a", 200, 200, {"N": 1, "VS": [1]}, 200),
                   ("a", 300, 300, {"N": 1, "VS": [2]}, 300),
                   ("a", 205, 205, {"N": 1, "VS": [3]}, 205)]


def test_session_expiring_within_the_batch_is_not_extended(tmp_path):
    # no grace: the retention is the gap, so [100, 100] is gone at stream time 110 and the
    # record at 110 starts its own session, while 115 still extends [110, 110]
    statements = session_table("10 MILLISECONDS, GRACE PERIOD 0 MILLISECONDS")
    out = run(tmp_path, statements, [("a", 1, 100), ("a", 2, 110), ("a", 3, 115)])
    assert out == [("a", 100, 100, {"N": 1, "VS": [1]}, 100),
                   ("a", 110, 110, {"N": 1, "VS": [2]}, 110),
                   ("a", 110, 110, None, 110),
                   ("a", 110, 115, {"N": 2, "VS": [2, 3]}, 115)]


def test_cache_on_emits_the_latest_row_per_session_and_no_tombstone_for_unsent_ones(tmp_path):
    statements = session_table("10 MILLISECONDS")
    records = [("a", 1, 100), ("a", 3, 120), ("a", 2, 110), ("b", 4, 100)]
    out = run(tmp_path, statements, records, {}, batches=[1, 3])
    assert out == [("a", 100, 100, {"N": 1, "VS": [1]}, 100),          # first batch
                   ("a", 100, 100, None, 100),     # was emitted, so its deletion is too
                   ("a", 100, 120, {"N": 3, "VS": [1, 3, 2]}, 120),
                   ("b", 100, 100, {"N": 1, "VS": [4]}, 100)]


def test_emit_final_emits_each_session_once_after_gap_and_grace(tmp_path):
    statements = session_table("10 MILLISECONDS, GRACE PERIOD 5 MILLISECONDS",
                               tail=" EMIT FINAL")
    out = run(tmp_path, statements, [("a", 1, 100), ("a", 2, 105), ("a", 3, 119),
                                     ("a", 4, 120), ("a", 5, 140)])
    # [100, 105] closes at 105 + 10 + 5 = 120; [119, 120] closes at 135 (reached by 140)
    assert out == [("a", 100, 105, {"N": 2, "VS": [1, 2]}, 105),
                   ("a", 119, 120, {"N": 2, "VS": [3, 4]}, 120)]


def test_having_sends_rows_that_pass_and_tombstones_of_sessions_that_passed(tmp_path):
    statements = session_table("10 MILLISECONDS", aggregates="SUM(V) AS TOTAL",
                               tail=" HAVING SUM(V) < 5")
    out = run(tmp_path, statements, [("a", 1, 100), ("a", 9, 105), ("a", 1, 112),
                                     ("b", 7, 100), ("b", 1, 150)])
    # [100, 105] fails: not sent, and its tombstone when 112 extends it is not sent either
    assert out == [("a", 100, 100, {"TOTAL": 1}, 100),
                   ("a", 100, 100, None, 100),
                   ("b", 150, 150, {"TOTAL": 1}, 150)]


def test_sessions_continue_after_a_restart(tmp_path):
    statements = session_table("10 MILLISECONDS")

    async def scenario():
        props = {"auto.offset.reset": "earliest", **OFF}
        async with Engine(tmp_path, props, run_queries=False) as engine:
            await engine.execute(statements)
            await _feed(engine, [("a", 1, 100)], [1])
        async with Engine(tmp_path, props, run_queries=False) as engine:
            await engine.backend.produce("s", [Record(b"a", orjson.dumps({"V": 2}), 104)])
            await engine.process(engine.queries[0].query_id, "s", 0, 1, 2)
            return [decode(r) for r in await engine.backend.fetch("T", 0, 0, 10_000)]

    assert asyncio.run(scenario())[1:] == [("a", 100, 100, None, 100),
                                           ("a", 100, 104, {"N": 2, "VS": [1, 2]}, 104)]


def test_pull_query_reads_the_current_sessions(tmp_path):
    statements = session_table("10 MILLISECONDS")

    async def scenario():
        props = {"auto.offset.reset": "earliest", **OFF}
        async with Engine(tmp_path, props, run_queries=False) as engine:
            await engine.execute(statements)
            await _feed(engine, [("a", 1, 100), ("a", 2, 105), ("a", 3, 200)], [3])
            results = await engine.execute("SELECT * FROM T WHERE K = 'a';")
            return results[-1]

    result = asyncio.run(scenario())
    rows = [tuple(row) for row in result.rows]
    assert rows == [("a", 100, 105, 2, [1, 2]), ("a", 200, 200, 1, [3])]
