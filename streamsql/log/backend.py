"""The topic log protocol every backend implements (embedded files, Kafka).

Records are plain values; a batch is a list of them, or a RecordBatch of Arrow columns on
the hot path (fetch_batch / produce_batch: no per-record Python objects). Offsets are per
partition and start at 0. Backends never decode payloads: that is serde's job.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Protocol, Sequence

import pyarrow as pa


@dataclass(frozen=True)
class Record:
    """One record as it sits in (or goes to) a topic partition."""

    key: bytes | None
    value: bytes | None
    timestamp: int = 0  # epoch ms
    headers: tuple[tuple[str, bytes | None], ...] = ()
    partition: int = 0
    offset: int = -1  # assigned by the log on append


Headers = tuple[tuple[str, bytes | None], ...]


@dataclass(frozen=True)
class RecordBatch:
    """Records as Arrow columns, one row per record, in log order.

    Indexing gives a Record, so code written for list[Record] (error reporting, rare
    paths) works unchanged; the hot path reads the columns.
    """

    keys: pa.Array  # binary, null = no key
    values: pa.Array  # binary, null = no value (a tombstone)
    timestamps: pa.Array  # int64 epoch ms
    partitions: pa.Array  # int32
    offsets: pa.Array  # int64; -1 until the log assigns them
    headers: Sequence[Headers] | None = None  # None: no record has headers

    def __len__(self) -> int:
        return len(self.timestamps)

    def __getitem__(self, index: int) -> Record:
        if index < 0:
            index += len(self)
        return Record(self.keys[index].as_py(), self.values[index].as_py(),
                      self.timestamps[index].as_py(), self.headers_at(index),
                      self.partitions[index].as_py(), self.offsets[index].as_py())

    def headers_at(self, index: int) -> Headers:
        return () if self.headers is None else self.headers[index]

    @property
    def next_offset(self) -> int:
        """The offset after the batch's last record (what a consumer reads next)."""
        return self.offsets[len(self) - 1].as_py() + 1

    def slice(self, start: int, length: int | None = None) -> "RecordBatch":
        stop = len(self) if length is None else start + length
        return RecordBatch(self.keys.slice(start, length), self.values.slice(start, length),
                           self.timestamps.slice(start, length),
                           self.partitions.slice(start, length), self.offsets.slice(start, length),
                           None if self.headers is None else self.headers[start:stop])

    def filter(self, mask: pa.Array) -> "RecordBatch":
        """The records where mask (boolean, no nulls) is true."""
        headers = None
        if self.headers is not None:
            headers = [h for h, keep in zip(self.headers, mask.to_pylist()) if keep]
        return RecordBatch(self.keys.filter(mask), self.values.filter(mask),
                           self.timestamps.filter(mask), self.partitions.filter(mask),
                           self.offsets.filter(mask), headers)

    @classmethod
    def concat(cls, batches: Sequence["RecordBatch"]) -> "RecordBatch":
        if len(batches) == 1:
            return batches[0]
        headers = None
        if any(b.headers is not None for b in batches):
            headers = [h for b in batches for h in (b.headers or [()] * len(b))]
        return cls(*(pa.concat_arrays([getattr(b, name) for b in batches])
                     for name in ("keys", "values", "timestamps", "partitions", "offsets")),
                   headers)

    @classmethod
    def from_records(cls, records: Sequence[Record]) -> "RecordBatch":
        headers = [r.headers for r in records]
        return cls(pa.array([r.key for r in records], pa.binary()),
                   pa.array([r.value for r in records], pa.binary()),
                   pa.array([r.timestamp for r in records], pa.int64()),
                   pa.array([r.partition for r in records], pa.int32()),
                   pa.array([r.offset for r in records], pa.int64()),
                   headers if any(headers) else None)

    def to_records(self) -> list[Record]:
        headers = self.headers if self.headers is not None else [()] * len(self)
        return [Record(*fields) for fields in zip(
            self.keys.to_pylist(), self.values.to_pylist(), self.timestamps.to_pylist(),
            headers, self.partitions.to_pylist(), self.offsets.to_pylist())]


async def fetch_batch(backend: "LogBackend", topic: str, partition: int, offset: int,
                      max_records: int = 10_000, timeout_ms: int = 0) -> RecordBatch | None:
    """backend.fetch as a RecordBatch (None when nothing was read).

    Backends that read columns natively (the embedded log) provide fetch_batch; the
    others get their records converted here.
    """
    native = getattr(backend, "fetch_batch", None)
    if native is not None:
        return await native(topic, partition, offset, max_records, timeout_ms)
    records = await backend.fetch(topic, partition, offset, max_records, timeout_ms)
    return RecordBatch.from_records(records) if records else None


async def wait_for_records(backend: "LogBackend", positions: dict[tuple[str, int], int],
                           timeout_ms: int) -> None:
    """Return once any (topic, partition) has a record at or past its offset in
    `positions`, or after timeout_ms.

    The embedded log waits on its appends (wait_for_records); other backends race one
    waiting fetch per partition.
    """
    native = getattr(backend, "wait_for_records", None)
    if native is not None:
        await native(positions, timeout_ms)
        return
    waits = [asyncio.ensure_future(backend.fetch(topic, partition, offset, 1, timeout_ms))
             for (topic, partition), offset in positions.items()]
    try:
        done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for wait in done:
            wait.result()  # a fetch's error (a deleted topic) is the caller's
    finally:
        for wait in waits:
            wait.cancel()


async def produce_batch(backend: "LogBackend", topic: str, batch: RecordBatch) -> None:
    """backend.produce for a RecordBatch (each record to its partition), durable on return."""
    if len(batch) == 0:
        return
    native = getattr(backend, "produce_batch", None)
    if native is not None:
        await native(topic, batch)
    else:
        await backend.produce(topic, batch.to_records())


@dataclass(frozen=True)
class TopicInfo:
    name: str
    partitions: int
    replicas: int = 1
    config: dict[str, str] = field(default_factory=dict)  # cleanup.policy, retention.ms, ...


class LogBackend(Protocol):
    """Create, describe and delete topics; produce, fetch, commit offsets.

    Every method is async so that the Kafka backend fits; the embedded backend does
    its (fast, local) file I/O inline.
    """

    name: str  # 'embedded' | 'kafka'

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def create_topic(self, name: str, partitions: int = 1, replicas: int = 1,
                           config: dict[str, str] | None = None) -> TopicInfo:
        """Create a topic; if it exists, return it unchanged (no error)."""

    async def delete_topic(self, name: str) -> None: ...

    async def list_topics(self) -> list[TopicInfo]: ...

    async def describe_topic(self, name: str) -> TopicInfo | None:
        """None when the topic does not exist."""

    async def produce(self, topic: str, records: Sequence[Record]) -> list[int]:
        """Append records (each to its `partition`); return the offsets assigned, in order.

        Durable (per the backend's fsync policy) when this returns.
        """

    async def fetch(self, topic: str, partition: int, offset: int,
                    max_records: int = 10_000, timeout_ms: int = 0) -> list[Record]:
        """Records from `offset` on (at most max_records), waiting up to timeout_ms for some."""

    async def start_offset(self, topic: str, partition: int) -> int:
        """First offset still in the log (after retention)."""

    async def end_offset(self, topic: str, partition: int) -> int:
        """The offset the next appended record will get."""

    async def committed(self, group: str, topic: str, partition: int) -> int | None:
        """The group's committed offset (next offset to read), or None."""

    async def commit(self, group: str, offsets: dict[tuple[str, int], int]) -> None:
        """Durably store the group's next offsets to read, per (topic, partition)."""
