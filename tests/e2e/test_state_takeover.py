"""State follows its partitions on Kafka: a windowed aggregation (tumbling, session) run by
one `streamsql run` process, which then stops (SIGTERM) or dies (SIGKILL), is taken over by another process
with an empty data directory; that one restores the state from the changelog topics, so
the table ends as if one process had aggregated all the records."""
from __future__ import annotations

import asyncio
from collections import defaultdict

import orjson
import pytest
from kafka_broker import tansu_subprocess_env
from scale_out import member_options, poll, produce

from streamsql.log.backend import Record
from streamsql.log.kafka import KafkaLog

PARTITIONS = 4
SENSORS = 20
RECORDS = 2_000  # half before the first process goes, half after
WINDOW_MS = 10_000
WAIT_SECONDS = 120.0

SERVICE_SQL = """
CREATE STREAM readings (sensor STRING KEY, reading BIGINT)
  WITH (kafka_topic='{source}', value_format='JSON');
CREATE TABLE per_window WITH (kafka_topic='{sink}', partitions={partitions}) AS
  SELECT sensor, WINDOWSTART AS ws, COUNT(*) AS n, SUM(reading) AS total
  FROM readings WINDOW {window} GROUP BY sensor;
"""
TUMBLING = "TUMBLING (SIZE 10 SECONDS)"
SESSION = "SESSION (60 SECONDS)"  # every sensor's records make one session


def inputs(first: int, count: int) -> list[Record]:
    """Record i: sensor s<i % 20> (on partition sensor % 4), reading i, at a time that puts
    each half's records in all three windows (out of order, within the default grace)."""
    return [Record(f"s{i % SENSORS}".encode(), orjson.dumps({"READING": i}),
                   (i * 7919) % (3 * WINDOW_MS), partition=(i % SENSORS) % PARTITIONS)
            for i in range(first, first + count)]


def true_table(records: list[Record], window: str) -> dict[tuple[str, int], tuple[int, int]]:
    """(sensor, window start) -> (COUNT, SUM), computed from the input."""
    starts = {}
    for r in records:
        start = r.timestamp - r.timestamp % WINDOW_MS if window == TUMBLING else \
            min(s.timestamp for s in records if s.key == r.key)
        starts.setdefault(r.key, {}).setdefault(r.timestamp, start)
    table: dict[tuple[str, int], list[int]] = defaultdict(lambda: [0, 0])
    for r in records:
        row = table[r.key.decode(), starts[r.key][r.timestamp]]
        row[0] += 1
        row[1] += orjson.loads(r.value)["READING"]
    return {k: tuple(v) for k, v in table.items()}


async def sink_table(bootstrap: str, topic: str, window: str
                     ) -> dict[tuple[str, int], tuple[int, int]]:
    """The sink's last value per (sensor, window): a key's updates are in one partition; a
    tombstone (a session merged into another) deletes its key."""
    # The windowed key: the sensor, then the window start (and a session's end), 8 bytes each.
    window_bytes = 8 if window == TUMBLING else 16
    by_key = {}
    async with KafkaLog(bootstrap) as log:
        for partition in range(PARTITIONS):
            offset, end = await log.start_offset(topic, partition), await log.end_offset(
                topic, partition)
            while offset < end:
                records = await log.fetch(topic, partition, offset, 10_000)
                for r in records:
                    by_key[r.key] = None if r.value is None else orjson.loads(r.value)
                offset = records[-1].offset + 1
    return {(key[:-window_bytes].decode(), value["WS"]): (value["N"], value["TOTAL"])
            for key, value in by_key.items() if value is not None}


def wait_for_table(bootstrap: str, topic: str, window: str, expected) -> dict:
    """Poll the sink until it shows `expected`."""
    return poll(lambda: sink_table(bootstrap, topic, window), lambda table: table == expected,
                WAIT_SECONDS)


@pytest.mark.parametrize("window, first_process_ends", [
    (TUMBLING, "stop"), (TUMBLING, "kill"), (SESSION, "kill")])
def test_new_process_restores_the_window_state_from_the_changelog(
        window, first_process_ends, kafka_bootstrap, unique_name, tmp_path, service_factory):
    source, sink = unique_name("readings"), unique_name("per_window")
    asyncio.run(produce(kafka_bootstrap, source, [], partitions=PARTITIONS))
    sql_file = tmp_path / "service.sql"
    sql_file.write_text(SERVICE_SQL.format(source=source, sink=sink, partitions=PARTITIONS,
                                           window=window))
    options = member_options(kafka_bootstrap, unique_name("svc") + "_")

    def process(data_dir: str):
        return service_factory("run", str(sql_file), "--data-dir", str(tmp_path / data_dir),
                               *options, env=tansu_subprocess_env())

    first_half, second_half = inputs(0, RECORDS // 2), inputs(RECORDS // 2, RECORDS // 2)
    first = process("first")
    first.wait_for("now owns source partitions")
    asyncio.run(produce(kafka_bootstrap, source, first_half, chunk=500))
    expected = true_table(first_half, window)
    assert wait_for_table(kafka_bootstrap, sink, window, expected) == expected
    first.wait_for("caught up")  # its last batch is committed: nothing left to repeat
    if first_process_ends == "stop":
        assert first.stop() == 0
    else:
        first.kill()

    second = process("second")  # an empty data directory: all state from the changelog
    restoring = second.wait_for("restoring state of")
    assert f"query CTAS_PER_WINDOW_0 restoring state of {source}[" in restoring
    asyncio.run(produce(kafka_bootstrap, source, second_half, chunk=500))
    expected = true_table(first_half + second_half, window)
    assert wait_for_table(kafka_bootstrap, sink, window, expected) == expected
    assert second.stop() == 0
