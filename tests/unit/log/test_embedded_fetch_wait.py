"""A fetch with a timeout waits for an append instead of polling."""
from __future__ import annotations

import asyncio

import pytest

from streamsql.errors import LogError
from streamsql.log import EmbeddedLog, Record
from streamsql.log.backend import wait_for_records


async def test_waiting_fetch_wakes_on_produce(log_factory):
    async with log_factory() as log:
        await log.create_topic("t", partitions=2)
        waiting = asyncio.create_task(log.fetch("t", 1, 0, timeout_ms=600_000))
        await asyncio.sleep(0)  # let the fetch start waiting
        assert not waiting.done()
        await log.produce("t", [Record(None, b"other partition", partition=0)])
        await asyncio.sleep(0)
        assert not waiting.done()
        await log.produce("t", [Record(None, b"hello", partition=1)])
        records = await waiting
        assert [(r.value, r.offset) for r in records] == [(b"hello", 0)]


async def test_fetch_returns_empty_after_the_timeout(log_factory):
    async with log_factory() as log:
        await log.create_topic("t")
        await log.produce("t", [Record(None, b"old")])
        assert await log.fetch("t", 0, 1, timeout_ms=5) == []


async def test_two_waiters_on_one_partition_both_wake(log_factory):
    async with log_factory() as log:
        await log.create_topic("t")
        first = asyncio.create_task(log.fetch("t", 0, 0, timeout_ms=600_000))
        second = asyncio.create_task(log.fetch("t", 0, 0, max_records=1, timeout_ms=600_000))
        await asyncio.sleep(0)
        await log.produce("t", [Record(None, b"a"), Record(None, b"b")])
        assert len(await first) == 2 and len(await second) == 1


async def test_deleting_the_topic_ends_a_waiting_fetch_with_an_error(log_factory):
    async with log_factory() as log:
        await log.create_topic("t")
        waiting = asyncio.create_task(log.fetch("t", 0, 0, timeout_ms=600_000))
        await asyncio.sleep(0)
        await log.delete_topic("t")
        with pytest.raises(LogError, match="topic 't' does not exist"):
            await waiting


def test_a_log_can_be_used_from_successive_event_loops(data_dir):
    # e.g. a test harness that calls asyncio.run() once per step on one started log
    log = EmbeddedLog(data_dir, fsync="never")

    async def start_and_wait_in_vain():
        await log.start()
        await log.create_topic("t")
        return await log.fetch("t", 0, 0, timeout_ms=1)

    async def wait_and_produce():
        waiting = asyncio.create_task(log.fetch("t", 0, 0, timeout_ms=600_000))
        await asyncio.sleep(0)
        await log.produce("t", [Record(None, b"v")])
        return await waiting

    try:
        assert asyncio.run(start_and_wait_in_vain()) == []
        assert [r.value for r in asyncio.run(wait_and_produce())] == [b"v"]
    finally:
        asyncio.run(log.close())


async def test_waiting_for_several_partitions_wakes_on_an_append_to_any(log_factory):
    async with log_factory() as log:
        await log.create_topic("a", partitions=2)
        await log.create_topic("b")
        await log.produce("a", [Record(None, b"seen", partition=1)])
        waiting = asyncio.create_task(wait_for_records(
            log, {("a", 0): 0, ("a", 1): 1, ("b", 0): 0}, timeout_ms=600_000))
        await asyncio.sleep(0)
        assert not waiting.done()  # a record before its position does not count
        await log.produce("b", [Record(None, b"new")])
        await waiting


async def test_waiting_for_records_returns_at_once_when_one_is_there(log_factory):
    async with log_factory() as log:
        await log.create_topic("t", partitions=2)
        await log.produce("t", [Record(None, b"there", partition=1)])
        await wait_for_records(log, {("t", 0): 0, ("t", 1): 0}, timeout_ms=600_000)


async def test_waiting_for_records_ends_after_the_timeout(log_factory):
    async with log_factory() as log:
        await log.create_topic("t", partitions=2)
        await wait_for_records(log, {("t", 0): 0, ("t", 1): 0}, timeout_ms=5)


async def test_waiting_for_records_through_fetches_on_a_backend_without_native_waits(
        log_factory):
    class FetchOnly:  # only the LogBackend methods, as a backend without wait_for_records
        def __init__(self, log):
            self.fetch = log.fetch

    async with log_factory() as log:
        await log.create_topic("t", partitions=3)
        waiting = asyncio.create_task(wait_for_records(
            FetchOnly(log), {("t", p): 0 for p in range(3)}, timeout_ms=600_000))
        await asyncio.sleep(0)
        assert not waiting.done()
        await log.produce("t", [Record(None, b"v", partition=2)])
        await waiting
        await log.delete_topic("t")
        with pytest.raises(LogError, match="topic 't' does not exist"):
            await wait_for_records(FetchOnly(log), {("t", 0): 0}, timeout_ms=600_000)
