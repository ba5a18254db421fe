"""Crash recovery of the embedded log: torn tails, corruption, lost index files, kill -9."""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from streamsql.errors import LogError
from streamsql.log import EmbeddedLog, Record

FIRST_SEGMENT = "00000000000000000000"
REPO_ROOT = Path(__file__).resolve().parents[3]


def values(records: list[Record]) -> list[bytes | None]:
    return [r.value for r in records]


def partition_dir(data_dir: Path, topic: str = "t", partition: int = 0) -> Path:
    return data_dir / "topics" / topic / str(partition)


async def write_batches(log: EmbeddedLog, batches: int, per_batch: int = 3) -> int:
    """Produce `batches` batches to partition 0 of topic t; return the log size after
    all but the last batch."""
    await log.create_topic("t")
    log_file = partition_dir(log.data_dir) / f"{FIRST_SEGMENT}.log"
    size_before_last = 0
    for b in range(batches):
        size_before_last = log_file.stat().st_size
        await log.produce("t", [Record(b"k", b"b%d-%d" % (b, i), timestamp=b)
                                for i in range(per_batch)])
    return size_before_last


def test_a_torn_last_batch_is_cut_at_every_byte_and_offsets_continue(data_dir):
    async def write() -> tuple[int, int]:
        async with EmbeddedLog(data_dir, fsync="never") as log:
            before_last = await write_batches(log, 3)
        return before_last, (partition_dir(data_dir) / f"{FIRST_SEGMENT}.log").stat().st_size

    async def reopen_and_check() -> None:
        async with EmbeddedLog(data_dir, fsync="never") as log:
            assert await log.end_offset("t", 0) == 6
            assert values(await log.fetch("t", 0, 0)) == [b"b0-0", b"b0-1", b"b0-2",
                                                          b"b1-0", b"b1-1", b"b1-2"]
            assert await log.produce("t", [Record(b"k", b"again")]) == [6]
            assert values(await log.fetch("t", 0, 6)) == [b"again"]

    before_last, size = asyncio.run(write())
    log_file = partition_dir(data_dir) / f"{FIRST_SEGMENT}.log"
    intact = log_file.read_bytes()
    for cut in range(before_last, size):
        log_file.write_bytes(intact[:cut])
        asyncio.run(reopen_and_check())
        assert log_file.read_bytes()[:before_last] == intact[:before_last]


async def test_zeroed_tail_after_a_crash_is_truncated(data_dir):
    async with EmbeddedLog(data_dir, fsync="never") as log:
        await write_batches(log, 2)
    log_file = partition_dir(data_dir) / f"{FIRST_SEGMENT}.log"
    with log_file.open("ab") as f:
        f.write(b"\x00" * 4096)  # what a file system can leave after a lost append
    async with EmbeddedLog(data_dir, fsync="never") as log:
        assert await log.end_offset("t", 0) == 6
        assert await log.produce("t", [Record(None, b"x")]) == [6]


async def test_a_corrupt_tail_batch_is_dropped(data_dir):
    async with EmbeddedLog(data_dir, fsync="never") as log:
        await write_batches(log, 2)
    log_file = partition_dir(data_dir) / f"{FIRST_SEGMENT}.log"
    data = bytearray(log_file.read_bytes())
    data[-1] ^= 0x01  # last byte of the last batch
    log_file.write_bytes(bytes(data))
    async with EmbeddedLog(data_dir, fsync="never") as log:
        assert values(await log.fetch("t", 0, 0)) == [b"b0-0", b"b0-1", b"b0-2"]


async def test_corruption_before_good_batches_stops_the_open(data_dir):
    # Damage followed by intact batches is not a torn write: truncating would drop
    # acknowledged records, so the log refuses to open and names the place.
    async with EmbeddedLog(data_dir, fsync="never") as log:
        await write_batches(log, 3)
    log_file = partition_dir(data_dir) / f"{FIRST_SEGMENT}.log"
    data = bytearray(log_file.read_bytes())
    data[50] ^= 0x01
    log_file.write_bytes(bytes(data))
    with pytest.raises(LogError) as raised:
        await EmbeddedLog(data_dir, fsync="never").start()
    assert raised.value.message == (
        f"log segment {log_file} is corrupt at byte 0 (offset 0): batch checksum mismatch")
    assert log_file.read_bytes() == bytes(data)  # nothing was cut
    with pytest.raises(LogError, match="is corrupt"):  # not "in use": the lock was released
        await EmbeddedLog(data_dir, fsync="never").start()


async def test_corruption_at_the_end_of_a_sealed_segment_stops_the_open(data_dir):
    async with EmbeddedLog(data_dir, fsync="never", segment_bytes=256) as log:
        await write_batches(log, 6)
    segments = sorted(partition_dir(data_dir).glob("*.log"))
    assert len(segments) > 2
    second = segments[1]
    data = bytearray(second.read_bytes())
    data[-3] ^= 0x10
    second.write_bytes(bytes(data))
    with pytest.raises(LogError) as raised:
        await EmbeddedLog(data_dir, fsync="never").start()
    assert raised.value.message == (
        f"log segment {second} is corrupt at byte 95 (offset 9): batch checksum mismatch")


async def test_lost_or_damaged_index_files_are_rebuilt(data_dir):
    async with EmbeddedLog(data_dir, fsync="never", segment_bytes=8192) as log:
        await log.create_topic("t")
        for i in range(300):
            await log.produce("t", [Record(b"k", b"v%03d" % i + b"." * 100)])
    indexes = sorted(partition_dir(data_dir).glob("*.index"))
    originals = [p.read_bytes() for p in indexes]
    indexes[0].unlink()
    indexes[1].write_bytes(originals[1][:-5])
    indexes[-1].write_bytes(b"\x07" * 48)
    async with EmbeddedLog(data_dir, fsync="never", segment_bytes=8192) as log:
        for offset in (0, 77, 150, 299):
            assert (await log.fetch("t", 0, offset, 1))[0].value.startswith(b"v%03d" % offset)
    assert [p.read_bytes() for p in indexes] == originals


async def test_a_missing_middle_segment_is_reported(data_dir):
    async with EmbeddedLog(data_dir, fsync="never", segment_bytes=256) as log:
        await write_batches(log, 6)
    segments = sorted(partition_dir(data_dir).glob("*.log"))
    segments[1].unlink()
    with pytest.raises(LogError, match="is missing offsets"):
        await EmbeddedLog(data_dir, fsync="never").start()


PRODUCER = textwrap.dedent("""
    import asyncio, sys
    from streamsql.log import EmbeddedLog, Record

    async def main():
        log = EmbeddedLog(sys.argv[1], fsync="batch", segment_bytes=64 * 1024)
        await log.start()
        await log.create_topic("t")
        n = 0
        while True:
            batch = [Record(b"k%d" % i, b"value-%d" % i, timestamp=i) for i in range(n, n + 50)]
            offsets = await log.produce("t", batch)
            n += 50
            print(offsets[-1], flush=True)  # acknowledged: produce returned

    asyncio.run(main())
""")


async def test_acknowledged_records_survive_kill_9(data_dir):
    child = subprocess.Popen([sys.executable, "-c", PRODUCER, str(data_dir)],
                             stdout=subprocess.PIPE, text=True,
                             env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    acknowledged = -1
    for line in child.stdout:
        acknowledged = int(line)
        if acknowledged >= 5000:
            break
    child.send_signal(signal.SIGKILL)
    child.wait()
    child.stdout.close()
    assert acknowledged >= 5000
    async with EmbeddedLog(data_dir) as log:
        end = await log.end_offset("t", 0)
        assert end > acknowledged
        records = []
        while len(records) < end:
            records += await log.fetch("t", 0, len(records))
        assert [r.value for r in records] == [b"value-%d" % i for i in range(end)]
        assert await log.produce("t", [Record(None, b"after")]) == [end]
