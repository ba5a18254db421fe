"""One measurement, run in a fresh child process so that its peak RSS is its own:

    python -m benchmarks.measure '{"kind": "catch-up", ...}'   -> one JSON line on stdout

kinds: load (write the workload to a topic), raw-read (read it back, nothing else),
duckdb (the query once, as a batch over NDJSON), catch-up (a query over the preloaded
topic), steady (a query fed at a fixed rate; end-to-end latencies).
"""
from __future__ import annotations

import asyncio
import bisect
import json
import resource
import shutil
import statistics
import struct
import sys
import time
import uuid
from pathlib import Path

import pyarrow.compute as pc

from benchmarks import workload
from streamsql.engine import Engine
from streamsql.log import open_backend
from streamsql.log.backend import RecordBatch, fetch_batch, produce_batch

PRODUCE_ROWS = 10_000
TICK_SECONDS = 0.05  # the steady run produces a batch every tick, as a lingering producer does


# Tansu takes about half the session timeout to form a group: the Kafka tests' settings.
KAFKA_GROUP_PROPERTIES = {"session.timeout.ms": "2000", "heartbeat.interval.ms": "200"}


def _properties(spec: dict, query: workload.Query) -> dict[str, str]:
    """The query's engine properties, with a service id (command topic, group) of its own."""
    properties = dict(query.properties, **{"ksql.service.id": f"bench_{uuid.uuid4().hex[:8]}_"})
    if spec["backend"] == "kafka":
        properties.update(KAFKA_GROUP_PROPERTIES)
    return properties


def _backend(spec: dict, data_dir: Path | None = None):
    if spec["backend"] == "kafka":
        return open_backend(f"kafka:{spec['bootstrap']}")
    return open_backend(f"embedded:{data_dir}")


def _peak_rss_mb() -> float:
    """This process's peak RSS. Linux keeps ru_maxrss across exec, so a child would report
    at least what its parent had when it forked; VmHWM belongs to this program's memory."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def load(spec: dict) -> dict:
    """Write the workload to the source topic (embedded: into spec['data_dir'])."""
    table = workload.load(Path(spec["workload"]))
    backend = _backend(spec, Path(spec.get("data_dir", ".")))
    await backend.start()
    try:
        await backend.create_topic(spec["topic"], workload.PARTITIONS)
        started = time.perf_counter()
        for start in range(0, table.num_rows, PRODUCE_ROWS):
            await produce_batch(backend, spec["topic"],
                                workload.record_batch(table.slice(start, PRODUCE_ROWS)))
        return {"produce_rate": table.num_rows / (time.perf_counter() - started)}
    finally:
        await backend.close()


async def raw_read(spec: dict) -> dict:
    """Records/s reading the whole topic with nothing done to the records."""
    counts = {int(p): n for p, n in spec["counts"].items()}
    if spec["backend"] == "kafka":
        return await _raw_read_aiokafka(spec, counts)
    backend = _backend(spec, Path(spec["data_dir"]))
    await backend.start()
    try:
        started = time.perf_counter()
        total = 0
        for partition in counts:
            offset = 0
            while offset < counts[partition]:
                batch = await fetch_batch(backend, spec["topic"], partition, offset, 10_000)
                offset = batch.next_offset
                total += len(batch)
        return {"rate": total / (time.perf_counter() - started)}
    finally:
        await backend.close()


async def _raw_read_aiokafka(spec: dict, counts: dict[int, int]) -> dict:
    from aiokafka import AIOKafkaConsumer, TopicPartition
    consumer = AIOKafkaConsumer(bootstrap_servers=spec["bootstrap"], enable_auto_commit=False,
                                auto_offset_reset="earliest")
    await consumer.start()
    try:
        partitions = [TopicPartition(spec["topic"], p) for p in counts]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        expected, total = sum(counts.values()), 0
        started = time.perf_counter()
        while total < expected:
            fetched = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            total += sum(len(records) for records in fetched.values())
        return {"rate": total / (time.perf_counter() - started)}
    finally:
        await consumer.stop()


def duckdb_batch(spec: dict) -> dict:
    import duckdb
    connection = duckdb.connect()
    started = time.perf_counter()
    rows = connection.sql(spec["sql"].format(path=spec["ndjson"])).fetch_arrow_table().num_rows
    return {"rate": spec["records"] / (time.perf_counter() - started), "rows": rows}


async def catch_up(spec: dict) -> dict:
    """Records/s from the query's start (first input read) to its last output durable."""
    query = workload.QUERIES[spec["query"]]
    data_dir = Path(spec["run_dir"])
    if spec["backend"] == "embedded":
        shutil.copytree(spec["data_dir"], data_dir)  # the preloaded topic, fresh catalog
    engine = Engine(data_dir, _properties(spec, query), backend=_backend(spec, data_dir))
    await engine.start()
    try:
        await engine.execute(workload.SOURCE.format(topic=spec["topic"]))
        sink = f"out_{uuid.uuid4().hex[:8]}"
        counts = {int(p): n for p, n in spec["counts"].items()}
        poll = 0.005 if spec["backend"] == "embedded" else 0.02
        started = time.perf_counter()
        await engine.execute(query.statement(sink))
        first_output = None
        while True:
            if first_output is None and await _has_output(engine, sink):
                first_output = time.perf_counter() - started
            if await _caught_up(engine, spec["topic"], counts):
                break
            await asyncio.sleep(poll)
        elapsed = time.perf_counter() - started
        if first_output is None and await _has_output(engine, sink):
            first_output = elapsed
        records = sum(counts.values())
        return {"rate": records / elapsed, "first_output_s": first_output,
                "rss_mb": _peak_rss_mb()}
    finally:
        await engine.close()


async def _has_output(engine: Engine, sink: str) -> bool:
    info = await engine.backend.describe_topic(sink)
    if info is None:
        return False
    for partition in range(info.partitions):
        if await engine.backend.end_offset(sink, partition) > 0:
            return True
    return False


async def _caught_up(engine: Engine, topic: str, counts: dict[int, int]) -> bool:
    (query,) = engine.persistent.values()
    if query.failure:
        raise RuntimeError(f"the query failed: {query.failure}")
    for partition, count in counts.items():
        committed = await engine.backend.committed(query.group, topic, partition)
        if (committed or 0) < count:
            return False
    return True


async def steady(spec: dict) -> dict:
    """p50/p99 end-to-end latency (input produced -> output readable) at a fixed rate."""
    query = workload.QUERIES[spec["query"]]
    rate, seconds = spec["rate"], spec["seconds"]
    table = workload.load(Path(spec["workload"]))
    table = table.slice(0, min(table.num_rows, max(1, int(rate * seconds))))
    chunk = max(1, round(rate * TICK_SECONDS))
    batches = [workload.record_batch(table.slice(i, chunk))
               for i in range(0, table.num_rows, chunk)]
    # An output is due once an input with its trigger time has been produced: the first
    # input at or past that time in production order (inputs arrive +-2 ms out of order).
    reached = pc.cumulative_max(table.column("ts")).to_pylist()
    produced_at: list[float] = []

    data_dir = Path(spec["run_dir"])
    topic = f"sensors_{uuid.uuid4().hex[:8]}"
    sink = f"out_{uuid.uuid4().hex[:8]}"
    engine = Engine(data_dir, _properties(spec, query), backend=_backend(spec, data_dir))
    await engine.start()
    latencies: list[float] = []
    try:
        await engine.backend.create_topic(topic, workload.PARTITIONS)
        await engine.execute(workload.SOURCE.format(topic=topic))
        await engine.execute(query.statement(sink))
        info = await engine.backend.describe_topic(sink)
        stop = asyncio.Event()

        def trigger_times(batch) -> list[int]:
            if query.emit_final:  # due when stream time passes the window's end + grace
                starts = [struct.unpack(">q", key[-8:])[0] for key in batch.keys.to_pylist()]
                return [start + query.final_delay_ms for start in starts]
            return batch.timestamps.to_pylist()

        async def read_outputs():
            offsets = dict.fromkeys(range(info.partitions), 0)
            while not stop.is_set():
                got = False
                for partition, offset in offsets.items():
                    batch = await fetch_batch(engine.backend, sink, partition, offset, 10_000)
                    if batch is None:
                        continue
                    got = True
                    now = time.perf_counter()
                    offsets[partition] = batch.next_offset
                    for due in trigger_times(batch):
                        tick = bisect.bisect_left(reached, due) // chunk
                        if tick < len(produced_at):
                            latencies.append((now - produced_at[tick]) * 1000)
                if not got:
                    await asyncio.sleep(0.001)

        reader = asyncio.create_task(read_outputs())
        started = time.perf_counter()
        while len(produced_at) < len(batches):
            # Everything due by now goes out in one call: a producer that fell behind (the
            # query shares this process) catches up instead of lagging by a tick per step.
            now = time.perf_counter()
            due = min(len(batches), int((now - started) / TICK_SECONDS) + 1)
            sent = len(produced_at)
            produced_at.extend([now] * (due - sent))
            await produce_batch(engine.backend, topic, RecordBatch.concat(batches[sent:due]))
            await asyncio.sleep(max(0.0, started + due * TICK_SECONDS - time.perf_counter()))
        produce_seconds = time.perf_counter() - started
        counts = workload.partition_counts(table)
        deadline = time.perf_counter() + 120
        while not await _caught_up(engine, topic, counts) and time.perf_counter() < deadline:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.3)  # the reader sees the last outputs
        stop.set()
        await reader
    finally:
        await engine.close()
    quantiles = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [None] * 99
    return {"p50_ms": statistics.median(latencies) if latencies else None,
            "p99_ms": quantiles[98], "rate": table.num_rows / produce_seconds,
            "outputs": len(latencies)}


KINDS = {"load": load, "raw-read": raw_read, "catch-up": catch_up, "steady": steady}


def main(argv: list[str]) -> int:
    spec = json.loads(argv[0])
    if spec["kind"] == "duckdb":
        result = duckdb_batch(spec)
    else:
        result = asyncio.run(KINDS[spec["kind"]](spec))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
