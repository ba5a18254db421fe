"""Benchmark: a 10-second tumbling-window COUNT/AVG/MAX per key over 1,000,000 JSON records.

    python benchmarks/windowed_aggregation.py [--records N] [--rate R]

Reports, for streamsql on the embedded log:
  * catch-up: records/s from the first read to the last output durable (input preloaded),
  * steady rate: p50/p99 end-to-end latency (input produced -> update readable on the sink),
  * peak RSS of the process,
next to the ceiling measured in the same run: DuckDB running the same query once, as a
batch GROUP BY over the same records as NDJSON. Not a test: nothing here asserts a speed.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from streamsql.engine import Engine  # noqa: E402
from streamsql.log import EmbeddedLog  # noqa: E402
from streamsql.log.backend import Record  # noqa: E402
from streamsql.log.partitioner import partition_for  # noqa: E402

KEYS = 1_000
PARTITIONS = 4
SOURCE = ("CREATE STREAM sensors (sensor_id STRING KEY, ts BIGINT, reading DOUBLE, site STRING) "
          "WITH (kafka_topic='sensors', value_format='JSON', timestamp='ts');")
QUERY = ("CREATE TABLE stats AS SELECT sensor_id, COUNT(*) AS n, AVG(reading) AS avg_reading, "
         "MAX(reading) AS max_reading FROM sensors WINDOW TUMBLING (SIZE 10 SECONDS) "
         "GROUP BY sensor_id;")
CEILING = ("SELECT sensor_id, ts - ts % 10000 AS window_start, count(*), avg(reading), "
           "max(reading) FROM read_json('{path}', format='newline_delimited', "
           "columns={{'sensor_id': 'VARCHAR', 'ts': 'BIGINT', 'reading': 'DOUBLE', "
           "'site': 'VARCHAR'}}) GROUP BY ALL")


def generate(count: int, start_ms: int, seed: int = 7) -> list[tuple[bytes, bytes, int]]:
    """The reference workload: ts rising ~1 ms per record with +-2 ms jitter, N(60, 15)."""
    rng = random.Random(seed)
    records = []
    for i in range(count):
        sensor = f"s{rng.randrange(KEYS)}"
        ts = start_ms + i + rng.randint(-2, 2)
        value = {"sensor_id": sensor, "ts": ts, "reading": round(rng.gauss(60, 15), 1),
                 "site": f"icu-{rng.randrange(4)}"}
        # json, not orjson: orjson's bytes keep a large spare capacity, which would make the
        # benchmark's own copy of the input dominate the process's memory
        records.append((sensor.encode(), json.dumps(value, separators=(",", ":")).encode(), ts))
    return records


def to_log_records(rows) -> dict[int, list[Record]]:
    by_partition: dict[int, list[Record]] = {}
    for key, value, ts in rows:
        partition = partition_for(key, PARTITIONS)
        by_partition.setdefault(partition, []).append(Record(key, value, ts, (), partition))
    return by_partition


async def produce(log, rows, batch: int = 10_000) -> None:
    for start in range(0, len(rows), batch):
        for records in to_log_records(rows[start:start + batch]).values():
            await log.produce("sensors", records)


async def caught_up(engine: Engine) -> bool:
    query = engine.queries[0]
    for partition in range(PARTITIONS):
        committed = await engine.backend.committed(query.group, "sensors", partition)
        end = await engine.backend.end_offset("sensors", partition)
        if (committed or 0) < end:
            return False
    return True


async def catch_up(rows, data_dir: Path) -> float:
    """Records/s for a query started over a preloaded topic."""
    log = EmbeddedLog(data_dir, fsync="batch")
    await log.start()
    await log.create_topic("sensors", PARTITIONS)
    await produce(log, rows)
    await log.close()
    engine = Engine(data_dir, {"auto.offset.reset": "earliest"})
    await engine.start()
    try:
        await engine.execute(SOURCE)
        started = time.perf_counter()
        await engine.execute(QUERY)
        while not await caught_up(engine):
            await asyncio.sleep(0.01)
        return len(rows) / (time.perf_counter() - started)
    finally:
        await engine.close()


async def steady(rows, data_dir: Path, rate: int) -> list[float]:
    """End-to-end latencies (ms) with input produced at `rate` records/s."""
    engine = Engine(data_dir, {"auto.offset.reset": "earliest"})
    await engine.start()
    latencies: list[float] = []
    produced_at: dict[int, float] = {}
    try:
        await engine.backend.create_topic("sensors", PARTITIONS)
        await engine.execute(SOURCE)
        await engine.execute(QUERY)
        info = await engine.backend.describe_topic("STATS")
        done = asyncio.Event()

        async def reader():
            offsets = {p: 0 for p in range(info.partitions)}
            while not done.is_set():
                got = False
                for p in offsets:
                    out = await engine.backend.fetch("STATS", p, offsets[p], 10_000)
                    if out:
                        got = True
                        offsets[p] = out[-1].offset + 1
                        now = time.perf_counter()
                        for record in out:
                            sent = produced_at.get(record.timestamp)
                            if sent is not None:
                                latencies.append((now - sent) * 1000)
                if not got:
                    await asyncio.sleep(0.001)

        reading = asyncio.create_task(reader())
        chunk = max(1, rate // 100)  # 100 small batches a second
        started = time.perf_counter()
        for i in range(0, len(rows), chunk):
            part = rows[i:i + chunk]
            now = time.perf_counter()
            for _, _, ts in part:
                produced_at.setdefault(ts, now)
            for records in to_log_records(part).values():
                await engine.backend.produce("sensors", records)
            due = started + (i + chunk) / rate
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
        while not await caught_up(engine):
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)
        done.set()
        reading.cancel()
        return latencies
    finally:
        await engine.close()


def ceiling(rows, directory: Path) -> float:
    path = directory / "records.ndjson"
    path.write_bytes(b"\n".join(value for _, value, _ in rows) + b"\n")
    connection = duckdb.connect()
    started = time.perf_counter()
    connection.sql(CEILING.format(path=path)).fetchall()
    return len(rows) / (time.perf_counter() - started)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--rate", type=int, default=20_000,
                        help="records/s of the steady-rate latency run (default 20000)")
    parser.add_argument("--steady-records", type=int, default=200_000)
    args = parser.parse_args(argv)

    start_ms = 1_700_000_000_000
    print(f"generating {args.records:,} records ({KEYS} keys, {PARTITIONS} partitions)...",
          file=sys.stderr)
    rows = generate(args.records, start_ms)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        print("ceiling: DuckDB batch GROUP BY over NDJSON...", file=sys.stderr)
        duck = ceiling(rows, tmp)
        print("streamsql catch-up...", file=sys.stderr)
        rate = asyncio.run(catch_up(rows, tmp / "catchup"))
        print(f"streamsql steady rate at {args.rate:,} records/s...", file=sys.stderr)
        steady_rows = generate(args.steady_records, start_ms, seed=8)
        latencies = asyncio.run(steady(steady_rows, tmp / "steady", args.rate))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    p50 = statistics.median(latencies) if latencies else float("nan")
    p99 = statistics.quantiles(latencies, n=100)[98] if len(latencies) > 100 else float("nan")
    print(f"{'measure':<44} {'value':>14}")
    print(f"{'streamsql catch-up (records/s)':<44} {rate:>14,.0f}")
    print(f"{'DuckDB batch GROUP BY ceiling (records/s)':<44} {duck:>14,.0f}")
    print(f"{'streamsql / ceiling':<44} {rate / duck:>14.1%}")
    print(f"{'steady-rate p50 latency (ms)':<44} {p50:>14.1f}")
    print(f"{'steady-rate p99 latency (ms)':<44} {p99:>14.1f}")
    print(f"{'peak RSS of the process (MB)':<44} {peak_mb:>14.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
