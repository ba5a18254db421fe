"""kill -9 of `streamsql run` mid-stream, then a restart: nothing acknowledged is lost."""
import asyncio

import orjson

from streamsql.log import EmbeddedLog
from streamsql.log.backend import Record

N = 150_000
SERVICE_SQL = """
CREATE STREAM readings (sensor STRING KEY, seq BIGINT, reading DOUBLE)
  WITH (kafka_topic='readings', value_format='JSON');
CREATE STREAM scaled AS SELECT sensor, seq, reading * 1.8 + 32 AS f FROM readings;
"""


async def _preload(data_dir, n=N):
    log = EmbeddedLog(data_dir)
    await log.start()
    await log.create_topic("readings", 1)
    for start in range(0, n, 10_000):
        await log.produce("readings", [
            Record(f"s{i % 100}".encode(), orjson.dumps({"SEQ": i, "READING": i % 50}), i)
            for i in range(start, min(start + 10_000, n))])
    await log.close()


async def _read(data_dir, topic):
    log = EmbeddedLog(data_dir)
    await log.start()
    try:
        out, offset = [], 0
        while True:
            records = await log.fetch(topic, 0, offset, 10_000)
            if not records:
                return out
            out.extend(records)
            offset = records[-1].offset + 1
    finally:
        await log.close()


def test_kill_9_mid_stream_then_restart_loses_nothing(tmp_path, service_factory):
    data_dir = tmp_path / "data"
    asyncio.run(_preload(data_dir))
    sql_file = tmp_path / "service.sql"
    sql_file.write_text(SERVICE_SQL)
    args = ["run", str(sql_file), "--data-dir", str(data_dir), "-p", "auto.offset.reset=earliest"]

    first = service_factory(*args)
    first.wait_for("catching up")  # some, not all, records are processed
    first.kill()

    second = service_factory(*args)
    second.wait_for("caught up", timeout=120)
    assert second.stop() == 0

    out = asyncio.run(_read(data_dir, "SCALED"))
    seqs = {orjson.loads(r.value)["SEQ"] for r in out}
    assert seqs == set(range(N))  # every input's result is there (at-least-once)
    sample = {orjson.loads(r.value)["SEQ"]: orjson.loads(r.value)["F"] for r in out[:100]}
    assert all(f == (seq % 50) * 1.8 + 32 for seq, f in sample.items())
    assert "already exists; keeping it" in "".join(second.seen)  # catalog came back


AGGREGATE_SQL = """
CREATE STREAM readings (sensor STRING KEY, seq BIGINT, reading DOUBLE)
  WITH (kafka_topic='readings', value_format='JSON');
CREATE TABLE per_sensor AS
  SELECT sensor, COUNT(*) AS n, SUM(seq) AS total
  FROM readings WINDOW TUMBLING (SIZE 10 SECONDS) GROUP BY sensor;
"""


def test_kill_9_during_windowed_aggregation_keeps_state_and_offsets_in_step(
        tmp_path, service_factory):
    data_dir = tmp_path / "data"
    asyncio.run(_preload(data_dir))
    sql_file = tmp_path / "service.sql"
    sql_file.write_text(AGGREGATE_SQL)
    args = ["run", str(sql_file), "--data-dir", str(data_dir), "-p", "auto.offset.reset=earliest",
            "-p", "cache.max.bytes.buffering=0"]

    first = service_factory(*args)
    first.wait_for("catching up")
    first.kill()

    second = service_factory(*args)
    second.wait_for("caught up", timeout=180)
    assert second.stop() == 0

    latest = {}
    for record in asyncio.run(_read(data_dir, "PER_SENSOR")):
        latest[record.key] = orjson.loads(record.value)  # the last update per window wins
    # Every record counted exactly once in its window, despite the crash.
    expected = {}
    for i in range(N):
        window = (i // 10_000) * 10_000
        key = f"s{i % 100}".encode() + window.to_bytes(8, "big")
        n, total = expected.get(key, (0, 0))
        expected[key] = (n + 1, total + i)
    assert {k: (v["N"], v["TOTAL"]) for k, v in latest.items()} == expected
