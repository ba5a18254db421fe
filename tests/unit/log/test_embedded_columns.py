"""Record batches as Arrow columns: the same bytes on disk and the same records back as the
list[Record] path, on the real embedded log."""
from __future__ import annotations

import asyncio

import pyarrow as pa

from streamsql.log import Record
from streamsql.log.backend import RecordBatch, fetch_batch, produce_batch
from streamsql.log.embedded.batch import (decode_batch, decode_columns, encode_batch,
                                          encode_columns, read_header)
from streamsql.log.partitioner import partition_for, partitions_for

RECORDS = [
    Record(b"key", b"value", 1_700_000_000_000),
    Record(None, None, -1, (("a", None), ("b", b"\x00"))),
    Record(b"", b"", 2**62),
    Record(b"k" * 300, None, 5),
]


def test_columns_encode_to_the_same_bytes_as_records():
    for records in (RECORDS, RECORDS[:1], RECORDS[2:], RECORDS[3:]):
        assert encode_columns(RecordBatch.from_records(records), 7) == encode_batch(records, 7)


def test_a_sliced_batch_encodes_only_its_records():
    batch = RecordBatch.from_records(RECORDS)
    assert encode_columns(batch.slice(1, 2), 0) == encode_batch(RECORDS[1:3], 0)


def test_columns_decode_to_the_same_records():
    data = encode_batch(RECORDS, 40)
    header = read_header(data, 0)
    assert decode_columns(data, 0, header, 3).to_records() == decode_batch(data, 0, header, 3)


def test_fetch_batch_reads_what_fetch_reads(log_factory):
    async def scenario():
        async with log_factory(segment_bytes=4096) as log:
            await log.create_topic("t", 2)
            records = [Record(b"k%d" % i, None if i % 7 == 0 else b"v%d" % i, i,
                              (("h", b"x"),) if i % 5 == 0 else (), partition=i % 2)
                       for i in range(3000)]
            await produce_batch(log, "t", RecordBatch.from_records(records))
            for partition, offset, limit in ((0, 0, 10_000), (1, 17, 100), (1, 1499, 5)):
                batch = await fetch_batch(log, "t", partition, offset, limit)
                assert batch.to_records() == await log.fetch("t", partition, offset, limit)
            assert await fetch_batch(log, "t", 0, 1500) is None
    asyncio.run(scenario())


def test_fetch_batch_waits_for_a_produce(log_factory):
    async def scenario():
        async with log_factory() as log:
            await log.create_topic("t")
            waiting = asyncio.create_task(fetch_batch(log, "t", 0, 0, timeout_ms=60_000))
            await asyncio.sleep(0)
            await produce_batch(log, "t", RecordBatch.from_records([Record(b"k", b"v", 1)]))
            assert (await waiting).to_records() == [Record(b"k", b"v", 1, (), 0, 0)]
    asyncio.run(scenario())


def test_partitions_for_places_keys_as_partition_for():
    keys = [b"a", None, b"bb", b"a", b"", b"sensor-17", b"\xff\x00"]
    for partitions in (1, 3, 4):
        assert partitions_for(pa.array(keys, pa.binary()), partitions).to_pylist() == \
            [partition_for(key, partitions) for key in keys]
