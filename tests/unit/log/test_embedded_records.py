"""Produce/fetch behaviour of the embedded log: payloads, offsets, segments, topics."""
from __future__ import annotations

import dataclasses

import pytest

from streamsql.errors import LogError
from streamsql.log import EmbeddedLog, Record, TopicInfo, open_backend
from streamsql.log.embedded.segment import INDEX_ENTRY


def rec(value: bytes | None, key: bytes | None = b"k", ts: int = 0, partition: int = 0,
        headers: tuple = ()) -> Record:
    return Record(key, value, ts, headers, partition)


def placed(record: Record, offset: int) -> Record:
    return dataclasses.replace(record, offset=offset)


async def test_round_trip_keeps_null_and_empty_apart_and_headers(log_factory):
    records = [
        rec(b"v", key=b"k", ts=1_700_000_000_123),
        rec(None, key=None, ts=-5),
        rec(b"", key=b""),
        rec(None, key=b""),
        rec(b"", key=None),
        rec(b"\x00\xff" * 100, headers=(("h1", b"x"), ("h1", None), ("ünï", b""))),
        rec(b"after-headers"),
    ]
    async with log_factory() as log:
        await log.create_topic("t")
        offsets = await log.produce("t", records)
        fetched = await log.fetch("t", 0, 0)
    assert offsets == list(range(7))
    assert fetched == [placed(r, i) for i, r in enumerate(records)]
    assert fetched[1].key is None and fetched[2].key == b""


async def test_produce_to_several_partitions_returns_offsets_in_input_order(log_factory):
    records = [rec(b"a", partition=1), rec(b"b", partition=0), rec(b"c", partition=1)]
    async with log_factory() as log:
        await log.create_topic("t", partitions=2)
        assert await log.produce("t", records) == [0, 0, 1]
        assert await log.produce("t", [rec(b"d", partition=1)]) == [2]
        assert [r.value for r in await log.fetch("t", 1, 0)] == [b"a", b"c", b"d"]
        assert [(r.partition, r.offset) for r in await log.fetch("t", 0, 0)] == [(0, 0)]
        assert await log.produce("t", []) == []


async def test_fetch_honours_offset_inside_a_batch_and_max_records(log_factory):
    async with log_factory() as log:
        await log.create_topic("t")
        await log.produce("t", [rec(b"%d" % i) for i in range(10)])
        await log.produce("t", [rec(b"%d" % i) for i in range(10, 20)])
        assert [r.offset for r in await log.fetch("t", 0, 7, max_records=5)] == [7, 8, 9, 10, 11]
        assert [r.value for r in await log.fetch("t", 0, 18)] == [b"18", b"19"]
        assert await log.fetch("t", 0, 20) == []
        assert await log.fetch("t", 0, 500) == []


async def test_offsets_continue_across_segment_rolls(log_factory, data_dir):
    async with log_factory(segment_bytes=1024) as log:
        await log.create_topic("t")
        for start in range(0, 300, 10):
            await log.produce("t", [rec(b"value-%03d" % i, ts=i) for i in range(start, start + 10)])
        assert await log.end_offset("t", 0) == 300
        for offset in (0, 9, 10, 151, 299):
            records = await log.fetch("t", 0, offset, max_records=1000)
            assert [r.value for r in records] == [b"value-%03d" % i for i in range(offset, 300)]
            assert [r.offset for r in records] == list(range(offset, 300))
    segments = sorted(p.name for p in (data_dir / "topics" / "t" / "0").glob("*.log"))
    assert len(segments) > 5
    assert segments[0] == "00000000000000000000.log"


@pytest.mark.parametrize("fsync", ["always", "batch", "never"])
async def test_restart_keeps_topics_records_and_next_offset(log_factory, fsync):
    async with log_factory(segment_bytes=2048, fsync=fsync) as log:
        await log.create_topic("orders", partitions=3, replicas=2,
                               config={"retention.ms": "-1", "cleanup.policy": "delete"})
        for i in range(50):
            await log.produce("orders", [rec(b"v%d" % i, partition=i % 3, ts=i)])
    async with log_factory(segment_bytes=2048) as log:
        assert await log.describe_topic("orders") == TopicInfo(
            "orders", 3, 2, {"retention.ms": "-1", "cleanup.policy": "delete"})
        assert [await log.end_offset("orders", p) for p in range(3)] == [17, 17, 16]
        assert await log.produce("orders", [rec(b"next", partition=2)]) == [16]
        values = [r.value for r in await log.fetch("orders", 2, 0)]
        assert values == [b"v%d" % i for i in range(2, 50, 3)] + [b"next"]


async def test_sparse_index_lets_fetch_skip_earlier_batches(log_factory, data_dir):
    # Segment 0 gets many small batches and several index entries; then a byte of its
    # first batch is damaged. A fetch past the second index entry must not need it.
    async with log_factory(segment_bytes=16 * 1024) as log:
        await log.create_topic("t")
        for i in range(200):
            await log.produce("t", [rec(b"x" * 200, ts=i)])
        assert await log.start_offset("t", 0) == 0
    partition_dir = data_dir / "topics" / "t" / "0"
    index = (partition_dir / "00000000000000000000.index").read_bytes()
    entries = list(INDEX_ENTRY.iter_unpack(index))
    assert len(entries) >= 3
    later_offset = entries[2][0]
    log_file = partition_dir / "00000000000000000000.log"
    data = bytearray(log_file.read_bytes())
    data[40] ^= 0xFF
    log_file.write_bytes(bytes(data))

    async with log_factory(segment_bytes=16 * 1024) as log:
        assert (await log.fetch("t", 0, later_offset, max_records=1))[0].offset == later_offset
        with pytest.raises(LogError) as raised:
            await log.fetch("t", 0, 0)
    assert raised.value.message == (
        f"log segment {log_file} is corrupt at byte 0 (offset 0): batch checksum mismatch")


async def test_create_topic_is_idempotent_and_topics_are_listed(log_factory):
    async with log_factory() as log:
        first = await log.create_topic("a.b_c-D9", partitions=2)
        again = await log.create_topic("a.b_c-D9", partitions=5, config={"x": "y"})
        await log.create_topic("Another")
        assert again == first == TopicInfo("a.b_c-D9", 2, 1, {})
        assert [t.name for t in await log.list_topics()] == ["Another", "a.b_c-D9"]
        assert await log.describe_topic("missing") is None


async def test_delete_topic_removes_files_and_a_new_topic_starts_empty(log_factory, data_dir):
    async with log_factory() as log:
        await log.create_topic("t")
        await log.produce("t", [rec(b"old")])
        await log.delete_topic("t")
        assert await log.describe_topic("t") is None
        assert not (data_dir / "topics" / "t").exists()
        assert list((data_dir / "trash").iterdir()) == []
        await log.create_topic("t")
        assert await log.fetch("t", 0, 0) == []
        await log.delete_topic("never-existed")  # already in the state asked for


async def test_a_topic_without_readable_metadata_is_reported(log_factory, data_dir):
    async with log_factory() as log:
        await log.create_topic("t")
    (data_dir / "topics" / "t" / "topic.json").write_bytes(b"{not json")
    with pytest.raises(LogError, match="cannot read topic metadata .*topic.json"):
        await log_factory().start()


def test_an_unknown_fsync_policy_is_rejected(data_dir):
    with pytest.raises(LogError, match="unknown fsync policy 'sometimes'"):
        EmbeddedLog(data_dir, fsync="sometimes")


@pytest.mark.parametrize("name, message", [
    ("bad/name", "invalid topic name 'bad/name': it contains '/'"),
    ("spa ce", "invalid topic name 'spa ce': it contains ' '"),
    ("..", "invalid topic name '..'"),
    ("", "invalid topic name ''"),
    ("x" * 250, "invalid topic name 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...': "
                "it is 250 characters long"),
])
async def test_illegal_topic_names_are_rejected(log_factory, name, message):
    async with log_factory() as log:
        with pytest.raises(LogError) as raised:
            await log.create_topic(name)
    assert raised.value.message == message


async def test_unknown_topic_and_partition_are_log_errors(log_factory):
    async with log_factory() as log:
        await log.create_topic("t", partitions=2)
        with pytest.raises(LogError, match="topic 'nope' does not exist"):
            await log.produce("nope", [rec(b"v")])
        with pytest.raises(LogError, match=r"topic 't' has no partition 2: it has 2 \(0..1\)"):
            await log.produce("t", [rec(b"v", partition=2)])
        with pytest.raises(LogError, match="has no partition -1"):
            await log.fetch("t", -1, 0)
        assert await log.end_offset("t", 0) == 0  # the rejected produce wrote nothing


async def test_using_a_log_before_start_is_a_log_error(log_factory):
    log = log_factory()
    with pytest.raises(LogError, match="is not started"):
        await log.list_topics()


def test_open_backend_reads_the_spec(tmp_path):
    assert open_backend(f"embedded:{tmp_path}").data_dir == tmp_path
    assert open_backend(tmp_path / "x", fsync="never").fsync == "never"
    with pytest.raises(LogError, match="names no data directory"):
        open_backend("embedded:")
    with pytest.raises(LogError, match="names no bootstrap servers"):
        open_backend("kafka:")
