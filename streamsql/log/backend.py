"""The topic log protocol every backend implements (embedded files, Kafka).

Records are plain values; a batch is a list of them. Offsets are per partition and
start at 0. Backends never decode payloads: that is serde's job.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, Sequence


@dataclass(frozen=True)
class Record:
    """One record as it sits in (or goes to) a topic partition."""

    key: bytes | None
    value: bytes | None
    timestamp: int = 0  # epoch ms
    headers: tuple[tuple[str, bytes | None], ...] = ()
    partition: int = 0
    offset: int = -1  # assigned by the log on append


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
