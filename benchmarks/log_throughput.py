"""Produce and fetch throughput of the embedded log: 1M ~60-byte records, batches of 1000.

Run: python benchmarks/log_throughput.py [--records N] [--batch N] [--fsync never|batch|always]
Prints records/s (wall clock, and per CPU second) for produce and for fetch; the fetch
runs on a freshly opened log, reading through the page cache.
"""
from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from streamsql.log import EmbeddedLog, Record  # noqa: E402


def make_batches(count: int, batch: int) -> list[list[Record]]:
    # ~60 bytes of key + value, shaped like a small JSON row
    row = b'{"id":%7d,"amount":%6d,"ok":true,"tag":"ab"}'
    records = [Record(b"user-%07d" % i, row % (i, i % 977), 1_700_000_000_000 + i)
               for i in range(count)]
    return [records[i:i + batch] for i in range(0, count, batch)]


async def run(count: int, batch: int, fsync: str, fetch_size: int) -> None:
    batches = make_batches(count, batch)
    payload = sum(len(r.key) + len(r.value) for r in batches[0]) / len(batches[0])
    with tempfile.TemporaryDirectory() as data_dir:
        async with EmbeddedLog(data_dir, fsync=fsync) as log:
            await log.create_topic("bench")
            started, started_cpu = time.perf_counter(), time.process_time()
            for records in batches:
                await log.produce("bench", records)
            produce_s = time.perf_counter() - started
            produce_cpu = time.process_time() - started_cpu
        del batches  # a million live Records would make every GC pass during fetch slower

        async with EmbeddedLog(data_dir, fsync=fsync) as log:
            started, started_cpu = time.perf_counter(), time.process_time()
            offset = fetched = 0
            while True:
                records = await log.fetch("bench", 0, offset, max_records=fetch_size)
                if not records:
                    break
                fetched += len(records)
                offset = records[-1].offset + 1
            fetch_s = time.perf_counter() - started
            fetch_cpu = time.process_time() - started_cpu
        assert fetched == count, (fetched, count)

    print(f"records: {count:,} of {payload:.0f} bytes (key+value), produce batch {batch}, "
          f"fetch max_records {fetch_size}, fsync={fsync}")
    # records per CPU second stays meaningful on a busy machine; wall time includes fsync
    print(f"produce: {count / produce_s:,.0f} records/s wall ({produce_s:.2f} s), "
          f"{count / produce_cpu:,.0f} records/CPU-s")
    print(f"fetch:   {count / fetch_s:,.0f} records/s wall ({fetch_s:.2f} s), "
          f"{count / fetch_cpu:,.0f} records/CPU-s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--fetch-size", type=int, default=10_000)
    parser.add_argument("--fsync", default="batch", choices=("never", "batch", "always"))
    args = parser.parse_args()
    asyncio.run(run(args.records, args.batch, args.fsync, args.fetch_size))


if __name__ == "__main__":
    main()
