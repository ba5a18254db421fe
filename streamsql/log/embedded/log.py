"""EmbeddedLog: the LogBackend over a local data directory (no broker).

Owns the directory layout, topic lifecycle, produce/fetch routing to partitions,
waking waiting fetches, and consumer-group offsets. File formats live in the
modules it uses; see docs/design/embedded-log.md.

    <data_dir>/LOCK                                 flock + owner pid
    <data_dir>/topics/<topic>/topic.json            partitions, replicas, config
    <data_dir>/topics/<topic>/<partition>/<base offset>.log | .index
    <data_dir>/groups/<group>.json                  committed offsets
    <data_dir>/staging/, <data_dir>/trash/          topics being created / deleted
"""
from __future__ import annotations

import asyncio
import shutil
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import pyarrow.compute as pc

from streamsql.errors import LogError
from streamsql.log.backend import Record, RecordBatch, TopicInfo
from streamsql.log.embedded.files import fsync_directory
from streamsql.log.embedded.groups import GroupOffsets
from streamsql.log.embedded.lock import DirectoryLock
from streamsql.log.embedded.partition import FSYNC_POLICIES, PartitionLog
from streamsql.log.embedded.topics import (
    check_topic_name, read_metadata, retention_of, write_metadata)

DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024
_SYNC_POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="streamsql-fsync")


@dataclass
class _Topic:
    info: TopicInfo
    directory: Path
    partitions: list[PartitionLog]


class EmbeddedLog:
    """A durable, single-process topic log in `data_dir`, used from one event loop at a time
    (it is not thread-safe; its file I/O runs inline, which is fast and local).

    Args:
        fsync: 'always' fsyncs after every record batch written, 'batch' once per
            partition per produce call (what produce acknowledges), 'never' leaves it
            to the OS (tests and benchmarks only: a machine crash can lose data).
        segment_bytes: size at which a partition starts a new segment file; retention
            deletes whole segments, so this is also its granularity.
    """

    name = "embedded"

    def __init__(self, data_dir: Path | str, *, fsync: str = "batch",
                 segment_bytes: int = DEFAULT_SEGMENT_BYTES):
        if fsync not in FSYNC_POLICIES:
            raise LogError(f"unknown fsync policy '{fsync}'",
                           hint=f"use one of {', '.join(FSYNC_POLICIES)}")
        if segment_bytes < 1:
            raise LogError(f"segment size must be positive, got {segment_bytes} bytes")
        self.data_dir = Path(data_dir)
        self.fsync = fsync
        self.segment_bytes = segment_bytes
        self._lock = DirectoryLock(self.data_dir)
        self._groups = GroupOffsets(self.data_dir / "groups", sync=fsync != "never")
        self._topics: dict[str, _Topic] = {}
        # One future per (topic, partition) that a waiting fetch awaits; produce resolves it.
        self._appended: dict[tuple[str, int], asyncio.Future] = {}

    async def __aenter__(self) -> "EmbeddedLog":
        await self.start()
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.close()

    @property
    def _durable(self) -> bool:
        return self.fsync != "never"

    @property
    def _topics_dir(self) -> Path:
        return self.data_dir / "topics"

    async def start(self) -> None:
        """Lock the directory, finish interrupted topic creations and deletions, and
        recover every partition."""
        if self._lock.is_held:
            return
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            self._lock.acquire()
        except OSError as error:
            raise LogError(f"cannot use data directory {self.data_dir}: {error.strerror}",
                           hint="give a directory this user can create and write") from error
        try:
            for leftover in ("staging", "trash"):
                shutil.rmtree(self.data_dir / leftover, ignore_errors=True)
                (self.data_dir / leftover).mkdir()
            self._topics_dir.mkdir(exist_ok=True)
            for directory in sorted(p for p in self._topics_dir.iterdir() if p.is_dir()):
                info = read_metadata(directory)
                self._topics[info.name] = self._open_topic(info, directory)
            self._groups.load()
        except BaseException:
            self._close_topics()
            self._lock.release()
            raise

    async def close(self) -> None:
        """Flush, wake waiting fetches, close files and release the directory lock."""
        self._wake_all()
        self._close_topics()
        self._lock.release()

    def _close_topics(self) -> None:
        for topic in self._topics.values():
            for partition in topic.partitions:
                partition.close()
        self._topics.clear()

    def _open_topic(self, info: TopicInfo, directory: Path) -> _Topic:
        retention = retention_of(info)
        partitions: list[PartitionLog] = []
        try:
            for p in range(info.partitions):
                partition_dir = directory / str(p)
                partition_dir.mkdir(exist_ok=True)
                partitions.append(PartitionLog.open(
                    partition_dir, p, segment_bytes=self.segment_bytes, fsync=self.fsync,
                    retention=retention))
        except BaseException:
            for partition in partitions:
                partition.close()
            raise
        return _Topic(info, directory, partitions)

    # -- topics -----------------------------------------------------------------------------

    async def create_topic(self, name: str, partitions: int = 1, replicas: int = 1,
                           config: dict[str, str] | None = None) -> TopicInfo:
        """Create a topic; if it exists, return it unchanged (no error)."""
        self._check_started()
        check_topic_name(name)
        if name in self._topics:
            return self._topics[name].info
        if partitions < 1 or replicas < 1:
            raise LogError(f"topic '{name}' needs at least one partition and one replica, "
                           f"got {partitions} and {replicas}")
        info = TopicInfo(name, partitions, replicas, {k: str(v) for k, v in (config or {}).items()})
        retention_of(info)  # reject a bad retention before anything reaches the disk
        # Build the topic under staging/ and rename it into place: a topic directory
        # exists only once its metadata is complete.
        staging = self.data_dir / "staging" / uuid.uuid4().hex
        staging.mkdir()
        for p in range(partitions):
            (staging / str(p)).mkdir()
        write_metadata(staging, info, sync=self._durable)
        directory = self._topics_dir / name
        staging.rename(directory)
        if self._durable:
            fsync_directory(self._topics_dir)
        self._topics[name] = self._open_topic(info, directory)
        return info

    async def delete_topic(self, name: str) -> None:
        """Delete a topic, its files and every group's committed offsets for it.

        Deleting a topic that does not exist does nothing, as creating one that exists
        does nothing: both leave the log in the state the caller asked for.
        """
        self._check_started()
        topic = self._topics.pop(name, None)
        if topic is None:
            return
        for partition in topic.partitions:
            partition.close()
            self._wake(name, partition.partition)
        # Renaming first makes the deletion atomic: a crash mid-way leaves a trash
        # directory that the next start removes, never half a topic.
        trash = self.data_dir / "trash" / uuid.uuid4().hex
        topic.directory.rename(trash)
        if self._durable:
            fsync_directory(self._topics_dir)
        shutil.rmtree(trash)
        self._groups.forget_topic(name)

    async def list_topics(self) -> list[TopicInfo]:
        self._check_started()
        return [self._topics[name].info for name in sorted(self._topics)]

    async def describe_topic(self, name: str) -> TopicInfo | None:
        """None when the topic does not exist."""
        self._check_started()
        topic = self._topics.get(name)
        return topic.info if topic else None

    # -- records ----------------------------------------------------------------------------

    async def produce(self, topic: str, records: Sequence[Record]) -> list[int]:
        """Append records (each to its `partition`); return the offsets assigned, in order.

        Durable per the fsync policy when it returns.
        """
        target = self._topic(topic)
        if not records:
            return []
        partition_ids = {r.partition for r in records}
        for p in partition_ids:
            self._partition(target, p)
        if len(partition_ids) == 1:
            (p,) = partition_ids
            base = target.partitions[p].append(records)
            offsets = list(range(base, base + len(records)))
        else:
            offsets = self._append_spread(target, records)
        self._sync_and_wake(topic, target, partition_ids)
        return offsets

    @staticmethod
    def _append_spread(target: _Topic, records: Sequence[Record]) -> list[int]:
        positions: dict[int, list[int]] = {}
        for i, record in enumerate(records):
            positions.setdefault(record.partition, []).append(i)
        offsets = [0] * len(records)
        for p, indexes in positions.items():
            base = target.partitions[p].append([records[i] for i in indexes])
            for offset, i in enumerate(indexes, base):
                offsets[i] = offset
        return offsets

    async def fetch(self, topic: str, partition: int, offset: int,
                    max_records: int = 10_000, timeout_ms: int = 0) -> list[Record]:
        """Records from `offset` on (at most max_records), waiting up to timeout_ms for some.

        An offset removed by retention reads from the start offset; one at or past the
        end returns [] (after the wait).
        """
        if max_records < 1:
            raise ValueError(f"max_records must be positive, got {max_records}")
        log = self._partition(self._topic(topic), partition)
        records = log.read(offset, max_records)
        if records or timeout_ms <= 0:
            return records
        await self.wait_for_records({(topic, partition): offset}, timeout_ms)
        return log.read(offset, max_records)

    async def fetch_batch(self, topic: str, partition: int, offset: int,
                          max_records: int = 10_000, timeout_ms: int = 0) -> RecordBatch | None:
        """fetch() as Arrow columns (see backend.fetch_batch); None when nothing was read."""
        if max_records < 1:
            raise ValueError(f"max_records must be positive, got {max_records}")
        log = self._partition(self._topic(topic), partition)
        batch = log.read_batch(offset, max_records)
        if batch is None and timeout_ms > 0:
            await self.wait_for_records({(topic, partition): offset}, timeout_ms)
            batch = log.read_batch(offset, max_records)
        return batch

    async def wait_for_records(self, positions: dict[tuple[str, int], int],
                               timeout_ms: int) -> None:
        """Wait until the end of any of the (topic, partition)s passes its offset in
        `positions`, or timeout_ms has gone by (see backend.wait_for_records)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_ms / 1000
        # (topics are looked up on each wake: a deleted topic ends the wait with an error)
        while all(self._partition(self._topic(topic), partition).end_offset <= offset
                  for (topic, partition), offset in positions.items()):
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            await asyncio.wait([self._append_future(tp, loop) for tp in positions],
                               timeout=remaining, return_when=asyncio.FIRST_COMPLETED)

    def _append_future(self, tp: tuple[str, int], loop) -> asyncio.Future:
        """The future the next append to `tp` resolves (shared by every waiting fetch)."""
        appended = self._appended.get(tp)
        # (a future left by a fetch on an earlier event loop cannot be awaited here)
        if appended is None or appended.done() or appended.get_loop() is not loop:
            appended = self._appended[tp] = loop.create_future()
        return appended

    async def produce_batch(self, topic: str, batch: RecordBatch) -> None:
        """produce() for a RecordBatch (see backend.produce_batch); durable on return."""
        target = self._topic(topic)
        if len(batch) == 0:
            return
        # Arrow scalars, not Python ints, to compare with: pyarrow converts those through a
        # failing import of dateutil on every call, a tenth of a millisecond.
        partitions = pc.unique(batch.partitions)
        partition_ids = partitions.to_pylist()
        for p in partition_ids:
            self._partition(target, p)
        for p, scalar in zip(partition_ids, partitions):
            part = batch if len(partition_ids) == 1 else \
                batch.filter(pc.equal(batch.partitions, scalar))
            target.partitions[p].append_batch(part)
        self._sync_and_wake(topic, target, partition_ids)

    def _sync_and_wake(self, topic: str, target: _Topic, partition_ids) -> None:
        """Make the partitions just written durable, then wake their waiting fetches.

        Several partitions are synced side by side in threads (fsync releases the GIL), so
        a produce to N partitions waits about one fsync, not N. The event loop is blocked
        meanwhile, as with one inline fsync: no other coroutine can touch the log.
        """
        partitions = [target.partitions[p] for p in partition_ids]
        if len(partitions) == 1 or self.fsync != "batch":
            for partition in partitions:
                partition.sync()
        else:
            list(_SYNC_POOL.map(PartitionLog.sync, partitions))
        for p in partition_ids:
            self._wake(topic, p)

    async def start_offset(self, topic: str, partition: int) -> int:
        """First offset still in the log (after retention)."""
        return self._partition(self._topic(topic), partition).start_offset

    async def end_offset(self, topic: str, partition: int) -> int:
        """The offset the next appended record will get."""
        return self._partition(self._topic(topic), partition).end_offset

    async def enforce_retention(self, now_ms: int | None = None) -> int:
        """Apply every topic's retention.ms / retention.bytes now; return segments deleted.

        Also runs on each segment roll; call it periodically for topics that stop growing.
        """
        self._check_started()
        return sum(partition.enforce_retention(now_ms)
                   for topic in self._topics.values() for partition in topic.partitions)

    # -- consumer groups --------------------------------------------------------------------

    async def committed(self, group: str, topic: str, partition: int) -> int | None:
        """The group's committed offset (next offset to read), or None."""
        self._check_started()
        return self._groups.committed(group, topic, partition)

    async def commit(self, group: str, offsets: dict[tuple[str, int], int]) -> None:
        """Durably store the group's next offsets to read, per (topic, partition)."""
        self._check_started()
        self._groups.commit(group, offsets)

    # -- helpers ----------------------------------------------------------------------------

    def _check_started(self) -> None:
        if not self._lock.is_held:
            raise LogError(f"the embedded log in {self.data_dir} is not started",
                           hint="call start() (or use 'async with') before using it")

    def _topic(self, name: str) -> _Topic:
        self._check_started()
        topic = self._topics.get(name)
        if topic is None:
            raise LogError(f"topic '{name}' does not exist")
        return topic

    @staticmethod
    def _partition(topic: _Topic, partition: int) -> PartitionLog:
        if not 0 <= partition < len(topic.partitions):
            raise LogError(f"topic '{topic.info.name}' has no partition {partition}: it has "
                           f"{len(topic.partitions)} (0..{len(topic.partitions) - 1})")
        return topic.partitions[partition]

    def _wake(self, topic: str, partition: int) -> None:
        appended = self._appended.pop((topic, partition), None)
        if appended is not None and not appended.done():
            appended.set_result(None)

    def _wake_all(self) -> None:
        for key in list(self._appended):
            self._wake(*key)
