"""Time and size retention: whole sealed segments go, the active one stays."""
from __future__ import annotations

import time

import pytest

from streamsql.errors import LogError
from streamsql.log import Record

HOUR_MS = 3_600_000


async def fill(log, topic: str, batches: int, timestamp_of=lambda b: b) -> None:
    for b in range(batches):
        await log.produce(topic, [Record(b"k", b"x" * 100, timestamp_of(b))])


def segment_files(data_dir, topic: str) -> list[str]:
    return sorted(p.name for p in (data_dir / "topics" / topic / "0").glob("*.log"))


async def test_time_retention_deletes_segments_whose_newest_record_is_too_old(log_factory,
                                                                              data_dir):
    # Timestamps lie in the future of the wall clock, so the retention that runs on each
    # roll keeps everything until enforce_retention is given a later `now`.
    now = int(time.time() * 1000) + 1000 * HOUR_MS
    async with log_factory(segment_bytes=400) as log:
        await log.create_topic("t", config={"retention.ms": str(HOUR_MS)})
        # records 0..9 are two hours old at `now`, records 10..19 ten minutes old
        await fill(log, "t", 20, lambda b: now - (2 * HOUR_MS if b < 10 else 600_000))
        before = segment_files(data_dir, "t")
        assert await log.start_offset("t", 0) == 0
        deleted = await log.enforce_retention(now_ms=now)
        after = segment_files(data_dir, "t")
    bases = [int(name.removesuffix(".log")) for name in before]
    newest = [end - 1 for end in bases[1:] + [20]]
    expected_start = next(base for base, last in zip(bases, newest) if last >= 10)
    assert 0 < expected_start <= 10
    assert deleted == len(before) - len(after) == bases.index(expected_start)
    assert after[0] == before[deleted]
    async with log_factory(segment_bytes=400) as log:
        assert await log.start_offset("t", 0) == expected_start
        kept = await log.fetch("t", 0, 0)
        assert [r.offset for r in kept] == list(range(expected_start, 20))
        # an offset that retention removed reads from the start offset
        assert await log.fetch("t", 0, 1, max_records=1) == kept[:1]


async def test_time_retention_runs_on_segment_roll(log_factory, data_dir):
    async with log_factory(segment_bytes=400) as log:
        await log.create_topic("t", config={"retention.ms": str(HOUR_MS)})
        await fill(log, "t", 20, lambda b: 0)  # 1970: long expired
        assert len(segment_files(data_dir, "t")) == 1
        assert await log.start_offset("t", 0) > 0


async def test_time_retention_never_deletes_the_active_segment(log_factory):
    async with log_factory(segment_bytes=400) as log:
        await log.create_topic("t", config={"retention.ms": "1"})
        await fill(log, "t", 10, lambda b: 0)
        await log.enforce_retention(now_ms=10 * HOUR_MS)
        assert await log.end_offset("t", 0) == 10
        assert [r.offset for r in await log.fetch("t", 0, 0)] == \
            list(range(await log.start_offset("t", 0), 10))
        assert await log.start_offset("t", 0) < 10


async def test_size_retention_keeps_the_partition_under_the_limit(log_factory, data_dir):
    async with log_factory(segment_bytes=500) as log:
        await log.create_topic("t", config={"retention.bytes": "1000"})
        await fill(log, "t", 60)
        rolled_away = await log.start_offset("t", 0)
        await log.enforce_retention()
        files = sorted((data_dir / "topics" / "t" / "0").glob("*.log"))
        sizes = [p.stat().st_size for p in files]
        # the oldest segment stays only while the others alone hold less than the limit
        assert sum(sizes) - sizes[0] < 1000 <= sum(sizes)
        assert 0 < rolled_away <= await log.start_offset("t", 0) == int(files[0].stem)
        assert await log.end_offset("t", 0) == 60
        assert (await log.fetch("t", 0, 0))[-1].offset == 59


async def test_without_retention_config_everything_is_kept(log_factory):
    async with log_factory(segment_bytes=300) as log:
        await log.create_topic("t")
        await fill(log, "t", 30, lambda b: 0)
        assert await log.enforce_retention(now_ms=10**15) == 0
        assert await log.start_offset("t", 0) == 0


async def test_retention_survives_restart(log_factory):
    future = int(time.time() * 1000) + 1000 * HOUR_MS
    async with log_factory(segment_bytes=400) as log:
        await log.create_topic("t", config={"retention.ms": "1000"})
        await fill(log, "t", 10, lambda b: future + b * 1000)
    async with log_factory(segment_bytes=400) as log:
        assert await log.enforce_retention(now_ms=future + 9_000) > 0
        start = await log.start_offset("t", 0)
    async with log_factory(segment_bytes=400) as log:
        assert await log.start_offset("t", 0) == start > 0


@pytest.mark.parametrize("config, message", [
    ({"retention.ms": "soon"}, "invalid retention.ms 'soon' for topic 't'"),
    ({"retention.bytes": "-2"}, "invalid retention.bytes '-2' for topic 't'"),
])
async def test_bad_retention_config_is_rejected_before_creating(log_factory, config, message):
    async with log_factory() as log:
        with pytest.raises(LogError) as raised:
            await log.create_topic("t", config=config)
        assert raised.value.message == message
        assert await log.describe_topic("t") is None
