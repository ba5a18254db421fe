"""One measurement, run in a fresh child process so that its peak RSS is its own:

    python -m benchmarks.measure '{"kind": "catch-up", ...}'   -> one JSON line on stdout

kinds: load (write the workload to a topic), raw-read (read it back, nothing else),
duckdb (the query once, as a batch over NDJSON), catch-up (a query over the preloaded
topic), steady (a query fed at a fixed rate; end-to-end latencies), kafka-latency (a
plain aiokafka producer and consumer: the broker's own latency).
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
READER_FETCH_WAIT_MS = 5


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
    """p50/p99 end-to-end latency (input produced -> output readable) at a fixed rate.

    1. Start the query and wait until it owns its source partitions (on Kafka its group
       takes about a second to form; startup is what time to first output measures).
    2. Produce a tick's records every TICK_SECONDS. A record's clock starts at its tick's
       scheduled time, not when the producer got to it: this process also runs the query,
       and a producer elsewhere would not have waited for a batch in flight to finish.
    3. A reader that waits on the sink (no poll interval of its own, started before the
       first tick) stops the clock of every input an output is due to when it sees that
       output.
    """
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

    data_dir = Path(spec["run_dir"])
    topic = f"sensors_{uuid.uuid4().hex[:8]}"
    sink = f"out_{uuid.uuid4().hex[:8]}"
    engine = Engine(data_dir, _properties(spec, query), backend=_backend(spec, data_dir))
    await engine.start()
    # (when, keys, timestamps) of each read; latencies are worked out after the run, so
    # that the reader costs the query (which shares this process) as little as it can
    seen: list[tuple[float, object, object]] = []

    def on_outputs(seen_at: float, keys, timestamps) -> None:
        seen.append((seen_at, keys, timestamps))

    def trigger_times(keys, timestamps) -> list[int]:
        if query.emit_final:  # due when stream time passes the window's end + grace
            return [struct.unpack(">q", key[-8:])[0] + query.final_delay_ms
                    for key in _pylist(keys)]
        return _pylist(timestamps)

    try:
        await engine.backend.create_topic(topic, workload.PARTITIONS)
        await engine.execute(workload.SOURCE.format(topic=topic))
        await engine.execute(query.statement(sink))
        await _owns_partitions(engine, topic, workload.PARTITIONS)  # Step 1
        info = await engine.backend.describe_topic(sink)
        stop, ready = asyncio.Event(), asyncio.Event()
        follow = _follow_kafka(spec["bootstrap"]) if spec["backend"] == "kafka" \
            else _follow_embedded(engine.backend)
        reader = asyncio.create_task(follow(sink, info.partitions, on_outputs, stop, ready))
        reader_ready = asyncio.ensure_future(ready.wait())
        await asyncio.wait([reader, reader_ready], return_when=asyncio.FIRST_COMPLETED)
        reader_ready.cancel()
        if reader.done():
            reader.result()  # the reader failed to start
        started = time.perf_counter()
        sent = 0
        while sent < len(batches):  # Step 2
            # Everything due by now goes out in one call: a producer that fell behind (the
            # query shares this process) catches up instead of lagging by a tick per step.
            due = min(len(batches), int((time.perf_counter() - started) / TICK_SECONDS) + 1)
            await produce_batch(engine.backend, topic, RecordBatch.concat(batches[sent:due]))
            sent = due
            await asyncio.sleep(max(0.0, started + due * TICK_SECONDS - time.perf_counter()))
        produce_seconds = time.perf_counter() - started
        counts = workload.partition_counts(table)
        deadline = time.perf_counter() + 120
        while not await _caught_up(engine, topic, counts) and time.perf_counter() < deadline:
            await asyncio.sleep(0.01)
        outputs = sum([await engine.backend.end_offset(sink, p) for p in range(info.partitions)])
        while sum(len(t) for _, _, t in seen) < outputs and time.perf_counter() < deadline:
            await asyncio.sleep(0.01)  # Step 3 sees the last ones
        stop.set()
        await reader
    finally:
        await engine.close()
    latencies = []
    for seen_at, keys, timestamps in seen:
        for due in trigger_times(keys, timestamps):
            tick = bisect.bisect_left(reached, due) // chunk
            latencies.append((seen_at - (started + tick * TICK_SECONDS)) * 1000)
    quantiles = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [None] * 99
    return {"p50_ms": statistics.median(latencies) if latencies else None,
            "p99_ms": quantiles[98], "rate": table.num_rows / produce_seconds,
            "outputs": len(latencies)}


def _pylist(values) -> list:
    return values if isinstance(values, list) else values.to_pylist()


async def _owns_partitions(engine: Engine, topic: str, partitions: int) -> None:
    """Wait until the (only) persistent query reads every partition of `topic`."""
    (query,) = engine.persistent.values()
    deadline = time.perf_counter() + 60
    while sum(1 for t, _ in query.metrics.partitions if t == topic) < partitions:
        if query.failure:
            raise RuntimeError(f"the query failed: {query.failure}")
        if time.perf_counter() > deadline:
            raise RuntimeError(f"the query did not get the partitions of '{topic}' in 60 s")
        await asyncio.sleep(0.01)


def _follow_embedded(backend):
    """A sink reader on the embedded log: one waiting fetch per partition, woken by the
    append itself."""
    async def follow(sink: str, partitions: int, on_outputs, stop: asyncio.Event,
                     ready: asyncio.Event) -> None:
        ready.set()

        async def partition_reader(partition: int) -> None:
            offset = 0
            while not stop.is_set():
                batch = await fetch_batch(backend, sink, partition, offset, 10_000,
                                          timeout_ms=50)
                if batch is not None:
                    on_outputs(time.perf_counter(), batch.keys, batch.timestamps)
                    offset = batch.next_offset
        await asyncio.gather(*(partition_reader(p) for p in range(partitions)))
    return follow


def _follow_kafka(bootstrap: str):
    """A sink reader on Kafka: a plain aiokafka consumer whose fetches return within
    READER_FETCH_WAIT_MS (Tansu holds a fetch at the log end for its whole max wait, so a
    longer wait would be the reader's delay, not the query's)."""
    async def follow(sink: str, partitions: int, on_outputs, stop: asyncio.Event,
                     ready: asyncio.Event) -> None:
        from aiokafka import AIOKafkaConsumer, TopicPartition
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                    fetch_max_wait_ms=READER_FETCH_WAIT_MS,
                                    auto_offset_reset="earliest")
        await consumer.start()
        try:
            assigned = [TopicPartition(sink, p) for p in range(partitions)]
            consumer.assign(assigned)
            for tp in assigned:  # (resolves the start offsets: the reader is ready)
                await consumer.position(tp)
            ready.set()
            while not stop.is_set():
                fetched = await consumer.getmany(timeout_ms=50)
                seen_at = time.perf_counter()
                for records in fetched.values():
                    on_outputs(seen_at, [r.key for r in records],
                               [r.timestamp for r in records])
        finally:
            await consumer.stop()
    return follow


async def kafka_latency(spec: dict) -> dict:
    """The broker's own latency: a plain aiokafka producer and consumer, the consumer
    with the fetch wait a query's group consumer uses, one tick of records every
    TICK_SECONDS (as the steady run produces), p50/p99 from a tick's scheduled time to
    its records fetched. A query's records make this trip twice (input, then output)."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
    from streamsql.log.kafka import GROUP_FETCH_WAIT_MS
    table = workload.load(Path(spec["workload"]))
    chunk = max(1, round(spec["rate"] * TICK_SECONDS))
    ticks = max(1, int(spec["seconds"] / TICK_SECONDS))
    values = table.column("value").slice(0, chunk).to_pylist()
    topic = f"latency_{uuid.uuid4().hex[:8]}"
    backend = _backend(spec)
    await backend.start()
    await backend.create_topic(topic, workload.PARTITIONS)
    await backend.close()
    producer = AIOKafkaProducer(bootstrap_servers=spec["bootstrap"], acks="all", linger_ms=0)
    consumer = AIOKafkaConsumer(bootstrap_servers=spec["bootstrap"], enable_auto_commit=False,
                                fetch_max_wait_ms=GROUP_FETCH_WAIT_MS,
                                auto_offset_reset="earliest")
    await producer.start()
    await consumer.start()
    latencies: list[float] = []
    try:
        consumer.assign([TopicPartition(topic, p) for p in range(workload.PARTITIONS)])
        stop = asyncio.Event()

        async def read() -> None:
            while not stop.is_set():
                fetched = await consumer.getmany(timeout_ms=50)
                seen_at = time.perf_counter()
                for records in fetched.values():
                    latencies.extend((seen_at - started - int(r.key) * TICK_SECONDS) * 1000
                                     for r in records)

        reader = asyncio.create_task(read())
        await asyncio.sleep(1)  # the consumer has its first fetch in flight
        started = time.perf_counter()
        for tick in range(ticks):
            await asyncio.sleep(max(0.0, started + tick * TICK_SECONDS - time.perf_counter()))
            key, sent = str(tick).encode(), []
            for partition in range(workload.PARTITIONS):
                batch = producer.create_batch()
                for value in values[partition::workload.PARTITIONS]:
                    if batch.append(key=key, value=value, timestamp=None) is None:  # full
                        sent.append(await producer.send_batch(batch, topic, partition=partition))
                        batch = producer.create_batch()
                        batch.append(key=key, value=value, timestamp=None)
                sent.append(await producer.send_batch(batch, topic, partition=partition))
            await asyncio.gather(*sent)
        deadline = time.perf_counter() + 30
        while len(latencies) < ticks * len(values) and time.perf_counter() < deadline:
            await asyncio.sleep(0.01)
        stop.set()
        await reader
    finally:
        await producer.stop()
        await consumer.stop()
    quantiles = statistics.quantiles(latencies, n=100)
    return {"p50_ms": statistics.median(latencies), "p99_ms": quantiles[98],
            "fetch_wait_ms": GROUP_FETCH_WAIT_MS}


KINDS = {"load": load, "raw-read": raw_read, "catch-up": catch_up, "steady": steady,
         "kafka-latency": kafka_latency}


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
