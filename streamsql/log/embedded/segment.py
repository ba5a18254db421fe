"""One segment of a partition: an append-only `.log` file of record batches and its
sparse `.index` file, both named by the first offset they hold.

A segment appends, reads and validates itself; rolling, retention and the fsync
policy across segments belong to partition.py.
"""
from __future__ import annotations

import os
import struct
from bisect import bisect_right
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from streamsql.errors import LogError
from streamsql.log.backend import Record, RecordBatch
from streamsql.log.embedded.batch import (
    HEADER_SIZE, MAGIC, BatchHeader, CorruptBatchError, check_batch, decode_columns,
    read_header)
from streamsql.log.embedded.files import write_all, write_atomically

LOG_SUFFIX = ".log"
INDEX_SUFFIX = ".index"

# offset of an indexed batch, its byte position, newest timestamp in the segment up to it
INDEX_ENTRY = struct.Struct("<qqq")
# A fetch reads at most this many bytes past the batch it wants, which bounds the
# cost of a seek while keeping the index (24 bytes an entry) small.
INDEX_INTERVAL_BYTES = 4096
READ_CHUNK_BYTES = 256 * 1024
NO_TIMESTAMP = -(2 ** 63)


def segment_name(base_offset: int) -> str:
    return f"{base_offset:020d}"


@dataclass
class SparseIndex:
    """In-memory copy of a segment's index: parallel lists, searched with bisect."""

    offsets: list[int] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)
    max_timestamps: list[int] = field(default_factory=list)

    def add(self, offset: int, position: int, max_timestamp: int) -> bytes:
        self.offsets.append(offset)
        self.positions.append(position)
        self.max_timestamps.append(max_timestamp)
        return INDEX_ENTRY.pack(offset, position, max_timestamp)

    def entry_for(self, offset: int) -> tuple[int, int]:
        """(offset, position) of the last indexed batch starting at or before `offset`."""
        i = max(bisect_right(self.offsets, offset) - 1, 0)
        return self.offsets[i], self.positions[i]

    @property
    def last_position(self) -> int:
        return self.positions[-1] if self.positions else 0

    def to_bytes(self) -> bytes:
        return b"".join(INDEX_ENTRY.pack(*entry) for entry in
                        zip(self.offsets, self.positions, self.max_timestamps))

    @classmethod
    def from_bytes(cls, data: bytes) -> "SparseIndex":
        index = cls()
        for offset, position, max_ts in INDEX_ENTRY.iter_unpack(data):
            index.offsets.append(offset)
            index.positions.append(position)
            index.max_timestamps.append(max_ts)
        return index

    def is_consistent(self, base_offset: int, log_size: int) -> bool:
        """Whether the entries can be trusted: first at the segment start, strictly
        increasing, all inside the log."""
        if not self.offsets or self.offsets[0] != base_offset or self.positions[0] != 0:
            return False
        pairs = zip(self.offsets, self.offsets[1:], self.positions, self.positions[1:])
        return (all(o1 < o2 and p1 < p2 for o1, o2, p1, p2 in pairs)
                and self.positions[-1] < log_size)


class Segment:
    """An open segment. `size` and `next_offset` cover only whole, validated batches."""

    def __init__(self, directory: Path, base_offset: int, fd: int, index_fd: int,
                 size: int, next_offset: int, max_timestamp: int, index: SparseIndex):
        self.directory = directory
        self.base_offset = base_offset
        self.size = size
        self.next_offset = next_offset
        self.max_timestamp = max_timestamp  # newest record timestamp, for time retention
        self._fd = fd
        self._index_fd = index_fd
        self._index = index

    @property
    def log_path(self) -> Path:
        return self.directory / (segment_name(self.base_offset) + LOG_SUFFIX)

    @property
    def index_path(self) -> Path:
        return self.directory / (segment_name(self.base_offset) + INDEX_SUFFIX)

    @property
    def is_empty(self) -> bool:
        return self.size == 0

    # -- opening ---------------------------------------------------------------------------

    @classmethod
    def create(cls, directory: Path, base_offset: int) -> "Segment":
        name = segment_name(base_offset)
        flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_APPEND
        fd = os.open(directory / (name + LOG_SUFFIX), flags, 0o644)
        index_fd = os.open(directory / (name + INDEX_SUFFIX), flags, 0o644)
        return cls(directory, base_offset, fd, index_fd, 0, base_offset, NO_TIMESTAMP,
                   SparseIndex())

    @classmethod
    def open_sealed(cls, directory: Path, base_offset: int) -> "Segment":
        """Open a segment that is not the partition's last: trust a consistent index,
        validate the batches after its last entry, and never truncate."""
        segment = cls._open_files(directory, base_offset)
        with segment._closed_on_error():
            index_size = os.fstat(segment._index_fd).st_size
            index = SparseIndex.from_bytes(os.pread(segment._index_fd, index_size, 0)
                                           [:index_size - index_size % INDEX_ENTRY.size])
            if (index_size % INDEX_ENTRY.size
                    or not index.is_consistent(base_offset, segment.size)):
                segment._rebuild_from(0, SparseIndex(), base_offset, NO_TIMESTAMP,
                                      truncate=False)
            else:
                segment._rebuild_from(index.positions[-1], index, index.offsets[-1],
                                      index.max_timestamps[-1], truncate=False)
        return segment

    @classmethod
    def recover(cls, directory: Path, base_offset: int) -> "Segment":
        """Open the partition's last segment: validate every batch, cut a torn tail, and
        rewrite the index to match."""
        segment = cls._open_files(directory, base_offset)
        with segment._closed_on_error():
            segment._rebuild_from(0, SparseIndex(), base_offset, NO_TIMESTAMP, truncate=True)
        return segment

    @contextmanager
    def _closed_on_error(self) -> Iterator[None]:
        try:
            yield
        except BaseException:
            self.close()
            raise

    @classmethod
    def _open_files(cls, directory: Path, base_offset: int) -> "Segment":
        name = segment_name(base_offset)
        fd = os.open(directory / (name + LOG_SUFFIX), os.O_RDWR | os.O_APPEND)
        index_fd = os.open(directory / (name + INDEX_SUFFIX),
                           os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        size = os.fstat(fd).st_size
        return cls(directory, base_offset, fd, index_fd, size, base_offset, NO_TIMESTAMP,
                   SparseIndex())

    def _rebuild_from(self, position: int, index: SparseIndex, offset: int, max_ts: int, *,
                      truncate: bool) -> None:
        """Scan batches from `position` (where offset `offset` starts) to the end of the file,
        extending `index` (whose last entry, if any, is at `position`); then adopt the result
        as this segment's state, rewriting the index file if it differs."""
        file_size = self.size
        scanned_to = position
        try:
            for _, _, pos, header in self._scan(position, file_size, offset):
                max_ts = max(max_ts, header.max_timestamp)
                if pos - index.last_position >= INDEX_INTERVAL_BYTES or not index.offsets:
                    index.add(header.base_offset, pos, max_ts)
                offset = header.next_offset
                scanned_to = pos + header.size
        except CorruptBatchError as error:
            if not truncate or self._has_valid_batch_after(error.position, file_size, offset):
                raise self._corruption(error) from None
            # A torn tail: the batch was never acknowledged (produce had not returned),
            # so dropping it loses nothing a producer was promised.
            os.ftruncate(self._fd, scanned_to)
        self.size = scanned_to
        self.next_offset = offset
        self.max_timestamp = max_ts
        self._index = index
        expected = index.to_bytes()
        if os.pread(self._index_fd, len(expected) + 1, 0) != expected:
            os.close(self._index_fd)
            write_atomically(self.index_path, expected)
            self._index_fd = os.open(self.index_path, os.O_RDWR | os.O_APPEND)

    def _has_valid_batch_after(self, position: int, file_size: int, offset: int) -> bool:
        """Whether a good batch with a later offset follows the bad one at `position`: then
        the damage is in the middle of acknowledged data, not a torn write at the end."""
        rest = os.pread(self._fd, file_size - position, position)
        candidate = rest.find(MAGIC, 1)
        while candidate != -1:
            try:
                header = read_header(rest, candidate)
                if header.base_offset >= offset:
                    check_batch(rest, candidate, header)
                    return True
            except CorruptBatchError:
                pass
            candidate = rest.find(MAGIC, candidate + 1)
        return False

    def _corruption(self, error: CorruptBatchError) -> LogError:
        return LogError(
            f"log segment {self.log_path} is corrupt at byte {error.position} "
            f"(offset {error.offset}): {error.reason}",
            hint="restore the file from a backup, or delete the topic to start it afresh")

    # -- reading and writing ----------------------------------------------------------------

    def _scan(self, start: int, end: int, expected_offset: int
              ) -> Iterator[tuple[bytes, int, int, BatchHeader]]:
        """Validated batches in [start, end): (buffer, position in buffer, file position, header).

        Raises CorruptBatchError (with the file position) at the first bad batch.
        """
        buf = b""
        buf_start = start
        pos = start
        while pos < end:
            rel = pos - buf_start
            if rel + HEADER_SIZE > len(buf):
                buf = os.pread(self._fd, min(READ_CHUNK_BYTES, end - pos), pos)
                buf_start, rel = pos, 0
            try:
                header = read_header(buf, rel)
                if header.base_offset != expected_offset:
                    raise CorruptBatchError(rel, f"batch starts at offset {header.base_offset}"
                                                 f" where {expected_offset} was expected")
                if pos + header.size > end:
                    raise CorruptBatchError(rel, "incomplete batch")
                if rel + header.size > len(buf):
                    buf = os.pread(self._fd, max(READ_CHUNK_BYTES, header.size), pos)
                    buf_start, rel = pos, 0
                check_batch(buf, rel, header)
            except CorruptBatchError as error:
                raise CorruptBatchError(pos, error.reason, expected_offset) from None
            yield buf, rel, pos, header
            pos += header.size
            expected_offset = header.next_offset

    def read(self, offset: int, max_records: int, partition: int) -> list[Record]:
        """Up to max_records records from `offset` (which must lie in this segment)."""
        return [record for batch in self.read_batches(offset, max_records, partition)
                for record in batch.to_records()]

    def read_batches(self, offset: int, max_records: int, partition: int) -> list[RecordBatch]:
        """read() as column batches: up to max_records records from `offset`."""
        out: list[RecordBatch] = []
        wanted = max_records
        if self.is_empty:
            return out
        start_offset, start = self._index.entry_for(offset)
        try:
            for buf, rel, _, header in self._scan(start, self.size, start_offset):
                if header.next_offset <= offset:
                    continue
                skip = max(0, offset - header.base_offset)
                batch = decode_columns(buf, rel, header, partition)
                if skip or header.count - skip > wanted:
                    batch = batch.slice(skip, wanted)
                out.append(batch)
                wanted -= len(batch)
                if wanted <= 0:
                    break
        except CorruptBatchError as error:
            raise self._corruption(error) from None
        return out

    def append(self, data: bytes, header: BatchHeader, *, sync: bool) -> None:
        """Append one encoded batch; on a failed write the file is cut back to its old size."""
        position = self.size
        try:
            write_all(self._fd, data)
        except OSError as error:
            os.ftruncate(self._fd, position)
            raise LogError(f"cannot append to {self.log_path}: {error.strerror}") from error
        self.size = position + len(data)
        self.next_offset = header.next_offset
        self.max_timestamp = max(self.max_timestamp, header.max_timestamp)
        if not self._index.offsets or position - self._index.last_position >= INDEX_INTERVAL_BYTES:
            # The index is derived data: recovery rebuilds it, so it is not fsynced here.
            write_all(self._index_fd,
                      self._index.add(header.base_offset, position, self.max_timestamp))
        if sync:
            os.fdatasync(self._fd)

    def sync(self) -> None:
        os.fdatasync(self._fd)

    def seal(self, *, sync: bool) -> None:
        """Make the segment durable before a newer one takes over as the active segment."""
        if sync:
            os.fdatasync(self._fd)
            os.fsync(self._index_fd)

    def close(self) -> None:
        os.close(self._fd)
        os.close(self._index_fd)

    def delete(self) -> None:
        self.close()
        self.log_path.unlink()
        self.index_path.unlink(missing_ok=True)
