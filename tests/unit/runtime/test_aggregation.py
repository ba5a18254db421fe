"""GROUP BY through the engine: per-record updates, the record cache, tables, windows."""
import asyncio

import orjson

from streamsql.engine import Engine
from streamsql.log.backend import Record

STREAM = ("CREATE STREAM S (K STRING KEY, V INT) WITH (kafka_topic='s', partitions=1, "
          "value_format='JSON');")


async def _run(tmp_path, statements: str, records, properties, sink: str):
    """Feed `records` [(key, value dict | None, ts)] as one batch; return the sink's records."""
    props = {"auto.offset.reset": "earliest", **properties}
    async with Engine(tmp_path, props, run_queries=False) as engine:
        await engine.execute(statements)
        source = engine.queries[0].source_topics[0]
        await engine.backend.produce(source, [
            Record(k.encode(), None if v is None else orjson.dumps(v), ts) for k, v, ts in records])
        end = await engine.backend.end_offset(source, 0)
        await engine.process(engine.queries[0].query_id, source, 0, 0, end)
        out = await engine.backend.fetch(sink, 0, 0, 10_000)
        return [(r.key, None if r.value is None else orjson.loads(r.value), r.timestamp)
                for r in out]


RECORDS = [("a", {"V": 1}, 10), ("b", {"V": 5}, 11), ("a", {"V": 2}, 12), ("a", {"V": 3}, 13)]
QUERY = STREAM + "CREATE TABLE T AS SELECT K, COUNT(*) AS N, SUM(V) AS TOTAL FROM S GROUP BY K;"


def test_cache_off_emits_every_update_in_order(tmp_path):
    out = asyncio.run(_run(tmp_path, QUERY, RECORDS, {"cache.max.bytes.buffering": "0"}, "T"))
    assert out == [(b"a", {"N": 1, "TOTAL": 1}, 10), (b"b", {"N": 1, "TOTAL": 5}, 11),
                   (b"a", {"N": 2, "TOTAL": 3}, 12), (b"a", {"N": 3, "TOTAL": 6}, 13)]


def test_cache_on_collapses_updates_of_a_key_within_a_batch(tmp_path):
    out = asyncio.run(_run(tmp_path, QUERY, RECORDS, {}, "T"))
    assert out == [(b"b", {"N": 1, "TOTAL": 5}, 11), (b"a", {"N": 3, "TOTAL": 6}, 13)]


def test_table_update_retracts_the_old_row_from_its_old_group(tmp_path):
    statements = ("CREATE TABLE U (ID STRING PRIMARY KEY, REGION STRING) WITH (kafka_topic='u', "
                  "partitions=1, value_format='JSON');"
                  "CREATE TABLE BY_REGION AS SELECT REGION, COUNT(*) AS N FROM U GROUP BY REGION;")
    records = [("alice", {"REGION": "east"}, 1), ("bob", {"REGION": "east"}, 2),
               ("bob", {"REGION": "west"}, 3), ("alice", None, 4)]
    out = asyncio.run(_run(tmp_path, statements, records, {"cache.max.bytes.buffering": "0"},
                           "BY_REGION"))
    assert [(k, v) for k, v, _ in out] == [
        (b"east", {"N": 1}), (b"east", {"N": 2}),
        (b"east", {"N": 1}), (b"west", {"N": 1}),  # bob moves: east loses him, west gains him
        (b"east", {"N": 0})]


def test_tumbling_window_drops_record_after_grace(tmp_path):
    statements = STREAM + ("CREATE TABLE W AS SELECT K, COUNT(*) AS N FROM S WINDOW TUMBLING "
                           "(SIZE 10 MILLISECONDS, GRACE PERIOD 5 MILLISECONDS) GROUP BY K;")
    records = [("a", {"V": 1}, 1), ("a", {"V": 1}, 12), ("a", {"V": 1}, 8),   # 8: in grace
               ("a", {"V": 1}, 30), ("a", {"V": 1}, 9)]                       # 9: too late
    out = asyncio.run(_run(tmp_path, statements, records, {"cache.max.bytes.buffering": "0"},
                           "W"))
    assert [(v["N"], ts) for _, v, ts in out] == [(1, 1), (1, 12), (2, 8), (1, 30)]


def test_emit_final_emits_each_window_once_when_it_closes(tmp_path):
    statements = STREAM + ("CREATE TABLE W AS SELECT K, COUNT(*) AS N FROM S WINDOW TUMBLING "
                           "(SIZE 10 MILLISECONDS, GRACE PERIOD 0 MILLISECONDS) GROUP BY K "
                           "EMIT FINAL;")
    records = [("a", {"V": 1}, 1), ("b", {"V": 1}, 2), ("a", {"V": 1}, 5), ("a", {"V": 1}, 10)]
    out = asyncio.run(_run(tmp_path, statements, records, {"cache.max.bytes.buffering": "0"},
                           "W"))
    # window [0, 10) closes when stream time reaches 10; [10, 20) is still open
    assert sorted((k[:1], v["N"]) for k, v, _ in out) == [(b"a", 2), (b"b", 1)]


def test_window_state_stays_bounded_on_a_long_run(tmp_path):
    """Three million records through a tumbling window with a short retention: the state
    table holds the open windows only, not the history."""
    statements = STREAM + ("CREATE TABLE W AS SELECT K, COUNT(*) AS N FROM S WINDOW TUMBLING "
                           "(SIZE 100 MILLISECONDS, RETENTION 200 MILLISECONDS, "
                           "GRACE PERIOD 0 MILLISECONDS) GROUP BY K;")

    async def scenario():
        async with Engine(tmp_path, {"auto.offset.reset": "earliest"}, run_queries=False,
                          state_in_memory=True) as engine:
            await engine.execute(statements)
            query = engine.queries[0]
            peak, offset, total, keys = 0, 0, 3_000_000, 50
            chunk = 50_000
            values = [orjson.dumps({"V": 1})] * chunk
            for start in range(0, total, chunk):
                await engine.backend.produce("s", [
                    Record(f"k{i % keys}".encode(), values[i - start], i // 10)
                    for i in range(start, start + chunk)])
                await engine.process(query.query_id, "s", 0, offset, offset + chunk)
                offset += chunk
                peak = max(peak, query.aggregate.state_rows())
            return peak, keys

    peak, keys = asyncio.run(scenario())
    # 200 ms of retention over 100 ms windows: at most ~3 windows per key are alive
    assert peak <= keys * 4
