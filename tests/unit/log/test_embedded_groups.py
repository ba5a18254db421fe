"""Consumer-group committed offsets: durable, merged per group, forgotten with the topic."""
from __future__ import annotations

import pytest

from streamsql.errors import LogError
from streamsql.log import Record


async def test_committed_offsets_survive_restart(log_factory):
    group = "_confluent-ksql-default_query_CSAS_OUT_1"
    async with log_factory() as log:
        await log.create_topic("t", partitions=2)
        assert await log.committed(group, "t", 0) is None
        await log.commit(group, {("t", 0): 5, ("t", 1): 7})
        await log.commit(group, {("t", 0): 9})
        await log.commit("other", {("t", 0): 1})
    async with log_factory() as log:
        assert await log.committed(group, "t", 0) == 9
        assert await log.committed(group, "t", 1) == 7
        assert await log.committed("other", "t", 0) == 1
        assert await log.committed("other", "t", 1) is None


async def test_group_ids_with_any_characters_are_stored(log_factory):
    groups = ["a/b", "../escape", "ünïcode group", "x" * 400]
    async with log_factory() as log:
        await log.create_topic("t")
        for n, group in enumerate(groups):
            await log.commit(group, {("t", 0): n})
    async with log_factory() as log:
        assert [await log.committed(g, "t", 0) for g in groups] == [0, 1, 2, 3]


async def test_deleting_a_topic_forgets_its_committed_offsets(log_factory):
    async with log_factory() as log:
        await log.create_topic("t")
        await log.create_topic("keep")
        await log.produce("t", [Record(None, b"v")])
        await log.commit("g", {("t", 0): 1, ("keep", 0): 3})
        await log.delete_topic("t")
        await log.create_topic("t")
        assert await log.committed("g", "t", 0) is None
    async with log_factory() as log:
        assert await log.committed("g", "t", 0) is None
        assert await log.committed("g", "keep", 0) == 3


async def test_an_unreadable_offsets_file_is_reported(log_factory, data_dir):
    async with log_factory() as log:
        await log.commit("g", {("t", 0): 1})
    (data_dir / "groups" / "g.json").write_bytes(b"[1, 2")
    with pytest.raises(LogError, match=r"cannot read committed offsets .*g\.json"):
        await log_factory().start()
