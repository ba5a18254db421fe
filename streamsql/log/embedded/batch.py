"""The on-disk record batch: encode a list of records into one bytes object and back.

Pure codec: no files, no offsets policy. The byte layout is documented in
docs/design/embedded-log.md; change it only together with FORMAT_VERSION. Its key and
value sections (end positions, then the bytes) are Arrow's binary layout, so the
columnar codec (encode_columns, decode_columns) moves whole buffers, not records.
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from itertools import accumulate, compress, repeat
from operator import add
from typing import Sequence

import pyarrow as pa
import pyarrow.compute as pc

from streamsql.log.backend import Headers, Record, RecordBatch

MAGIC = b"SB"
FORMAT_VERSION = 1

# magic, version, flags, base offset, record count, payload length, max timestamp, crc32.
# The CRC covers the header bytes before it and the whole payload.
HEADER = struct.Struct("<2sBBqIIqI")
HEADER_SIZE = HEADER.size  # 32
_CRC_START = HEADER_SIZE - 4

# flags: sections present in the payload only when the batch needs them
NULL_KEYS = 1
NULL_VALUES = 2
HAS_HEADERS = 4

_HEADER_ENTRY = struct.Struct("<Hi")  # header key length, value length (-1 = null)
_NO_HEADERS: tuple = ()


class CorruptBatchError(Exception):
    """Bytes at a position are not a valid batch; `reason` says why. `offset` is the
    offset the batch was expected to start at, when the reader knows it."""

    def __init__(self, position: int, reason: str, offset: int | None = None):
        super().__init__(f"{reason} at byte {position}")
        self.position = position
        self.reason = reason
        self.offset = offset


@dataclass(frozen=True, slots=True)
class BatchHeader:
    flags: int
    base_offset: int
    count: int
    payload_length: int
    max_timestamp: int
    crc: int

    @property
    def size(self) -> int:
        return HEADER_SIZE + self.payload_length

    @property
    def next_offset(self) -> int:
        return self.base_offset + self.count


def encode_batch(records: Sequence[Record], base_offset: int) -> bytes:
    """One batch holding `records`, which get offsets base_offset, base_offset + 1, ..."""
    count = len(records)
    if count == 0:
        raise ValueError("a record batch needs at least one record")
    keys = [r.key for r in records]
    values = [r.value for r in records]
    timestamps = [r.timestamp for r in records]
    flags = 0
    parts: list[bytes] = [struct.pack(f"<{count}q", *timestamps)]
    # `None in list` is a C-level scan; the common batch has no nulls and no headers.
    if None in keys:
        flags |= NULL_KEYS
        keys = [b"" if k is None else k for k in keys]
    if None in values:
        flags |= NULL_VALUES
        values = [b"" if v is None else v for v in values]
    parts.append(struct.pack(f"<{count}I", *accumulate(map(len, keys))))
    parts.append(struct.pack(f"<{count}I", *accumulate(map(len, values))))
    if flags & NULL_KEYS:
        parts.append(bytes(r.key is None for r in records))
    if flags & NULL_VALUES:
        parts.append(bytes(r.value is None for r in records))
    parts.append(b"".join(keys))
    parts.append(b"".join(values))
    if any(r.headers for r in records):
        flags |= HAS_HEADERS
        parts.append(_encode_headers([r.headers for r in records]))
    payload = b"".join(parts)
    header_prefix = HEADER.pack(MAGIC, FORMAT_VERSION, flags, base_offset, count,
                                len(payload), max(timestamps), 0)[:_CRC_START]
    crc = zlib.crc32(payload, zlib.crc32(header_prefix))
    return b"".join((header_prefix, struct.pack("<I", crc), payload))


def _encode_headers(headers: Sequence[Headers]) -> bytes:
    out = bytearray()
    for record_headers in headers:
        out += struct.pack("<H", len(record_headers))
        for name, value in record_headers:
            name_bytes = name.encode("utf-8")
            out += _HEADER_ENTRY.pack(len(name_bytes), -1 if value is None else len(value))
            out += name_bytes
            if value is not None:
                out += value
    return bytes(out)


def encode_columns(batch: RecordBatch, base_offset: int) -> bytes:
    """encode_batch for a RecordBatch: the same bytes, built from its column buffers."""
    count = len(batch)
    if count == 0:
        raise ValueError("a record batch needs at least one record")
    timestamps = batch.timestamps.cast(pa.int64())
    flags = 0
    keys, key_ends, key_nulls = _binary_section(batch.keys)
    values, value_ends, value_nulls = _binary_section(batch.values)
    parts: list = [_int64_bytes(timestamps), key_ends, value_ends]
    if key_nulls is not None:
        flags |= NULL_KEYS
        parts.append(key_nulls)
    if value_nulls is not None:
        flags |= NULL_VALUES
        parts.append(value_nulls)
    parts += [keys, values]
    if batch.headers is not None and any(batch.headers):
        flags |= HAS_HEADERS
        parts.append(_encode_headers(batch.headers))
    payload = b"".join(parts)
    header_prefix = HEADER.pack(MAGIC, FORMAT_VERSION, flags, base_offset, count,
                                len(payload), pc.max(timestamps).as_py(), 0)[:_CRC_START]
    crc = zlib.crc32(payload, zlib.crc32(header_prefix))
    return b"".join((header_prefix, struct.pack("<I", crc), payload))


def _int64_bytes(array: pa.Array) -> bytes:
    if array.null_count:
        array = pc.fill_null(array, 0)
    return array.buffers()[1][array.offset * 8:(array.offset + len(array)) * 8].to_pybytes()


def _binary_section(array: pa.Array) -> tuple[bytes, bytes, bytes | None]:
    """(concatenated bytes, uint32 end positions, null map or None) of a binary column."""
    if array.null_count:
        nulls = pc.cast(pc.is_null(array), pa.uint8())
        array = pc.fill_null(array, b"")
        null_map = _uint8_bytes(nulls)
    else:
        null_map = None
    array = array.cast(pa.binary())
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    _, offsets_buffer, data = array.buffers()
    offsets = pa.Array.from_buffers(pa.int32(), len(array) + 1, [None, offsets_buffer],
                                    offset=array.offset)
    # (an Arrow scalar, not a Python int: pyarrow converts those through a failing import
    # of dateutil on every call, a tenth of a millisecond)
    first = offsets[0]
    ends = pc.cast(pc.subtract(offsets.slice(1), first), pa.uint32())
    first = first.as_py()
    last = first if len(array) == 0 else offsets[len(array)].as_py()
    content = b"" if data is None else data[first:last].to_pybytes()
    return content, ends.buffers()[1][:4 * len(array)].to_pybytes(), null_map


def _uint8_bytes(array: pa.Array) -> bytes:
    return array.buffers()[1][array.offset:array.offset + len(array)].to_pybytes()


def read_header(buf: bytes | memoryview, pos: int) -> BatchHeader:
    """The header at `pos`; raises CorruptBatchError when it is short or not a batch header."""
    if len(buf) - pos < HEADER_SIZE:
        raise CorruptBatchError(pos, "incomplete batch header")
    magic, version, flags, base_offset, count, length, max_ts, crc = HEADER.unpack_from(buf, pos)
    if magic != MAGIC:
        raise CorruptBatchError(pos, "bad batch magic")
    if version != FORMAT_VERSION:
        raise CorruptBatchError(pos, f"unknown batch format version {version}")
    if count == 0:
        raise CorruptBatchError(pos, "empty batch")
    return BatchHeader(flags, base_offset, count, length, max_ts, crc)


def check_batch(buf: bytes | memoryview, pos: int, header: BatchHeader) -> None:
    """Raise CorruptBatchError unless the whole batch is present and its CRC matches."""
    end = pos + header.size
    if end > len(buf):
        raise CorruptBatchError(pos, "incomplete batch")
    view = memoryview(buf)
    crc = zlib.crc32(view[pos + HEADER_SIZE:end], zlib.crc32(view[pos:pos + _CRC_START]))
    if crc != header.crc:
        raise CorruptBatchError(pos, "batch checksum mismatch")


def decode_batch(buf: bytes, pos: int, header: BatchHeader, partition: int) -> list[Record]:
    """Every record of the (already checked) batch at `pos`, with offsets and partition set."""
    n = header.count
    p = pos + HEADER_SIZE
    timestamps = struct.unpack_from(f"<{n}q", buf, p)
    p += 8 * n
    key_ends = struct.unpack_from(f"<{n}I", buf, p)
    p += 4 * n
    value_ends = struct.unpack_from(f"<{n}I", buf, p)
    p += 4 * n
    key_nulls = value_nulls = None
    if header.flags & NULL_KEYS:
        key_nulls = buf[p:p + n]
        p += n
    if header.flags & NULL_VALUES:
        value_nulls = buf[p:p + n]
        p += n
    keys, p = _slices(buf, p, key_ends, key_nulls)
    values, p = _slices(buf, p, value_ends, value_nulls)
    headers = _decode_headers(buf, p, n) if header.flags & HAS_HEADERS else repeat(_NO_HEADERS, n)
    return _make_records(keys, values, timestamps, headers, partition,
                         range(header.base_offset, header.base_offset + n))


def decode_columns(buf: bytes, pos: int, header: BatchHeader, partition: int) -> RecordBatch:
    """decode_batch as Arrow columns: whole sections become buffers, no per-record objects."""
    n = header.count
    p = pos + HEADER_SIZE
    # bytes slices copy each section into a fresh, aligned buffer that Arrow can own
    timestamps = pa.Array.from_buffers(pa.int64(), n, [None, pa.py_buffer(buf[p:p + 8 * n])])
    p += 8 * n
    key_ends = pa.py_buffer(buf[p:p + 4 * n])
    p += 4 * n
    value_ends = pa.py_buffer(buf[p:p + 4 * n])
    p += 4 * n
    key_nulls = value_nulls = None
    if header.flags & NULL_KEYS:
        key_nulls = buf[p:p + n]
        p += n
    if header.flags & NULL_VALUES:
        value_nulls = buf[p:p + n]
        p += n
    keys, p = _binary_column(buf, p, key_ends, key_nulls, n)
    values, p = _binary_column(buf, p, value_ends, value_nulls, n)
    headers = _decode_headers(buf, p, n) if header.flags & HAS_HEADERS else None
    return RecordBatch(keys, values, timestamps, pa.array([partition] * n, pa.int32()),
                       pa.array(range(header.base_offset, header.base_offset + n), pa.int64()),
                       headers)


_ZERO_OFFSET = pa.array([0], pa.int32())


def _binary_column(buf: bytes, start: int, ends: pa.Buffer, nulls: bytes | None,
                   n: int) -> tuple[pa.Array, int]:
    """One key or value section as a binary array (end positions become Arrow offsets)."""
    ends_array = pa.Array.from_buffers(pa.uint32(), n, [None, ends]).cast(pa.int32())
    length = ends_array[n - 1].as_py()
    offsets = pa.concat_arrays([_ZERO_OFFSET, ends_array]).buffers()[1]
    validity = None
    if nulls is not None:
        mask = pa.Array.from_buffers(pa.uint8(), n, [None, pa.py_buffer(nulls)])
        validity = pc.equal(mask, 0).buffers()[1]
    data = pa.py_buffer(buf[start:start + length])
    return pa.Array.from_buffers(pa.binary(), n, [validity, offsets, data]), start + length


def _slices(buf: bytes, start: int, ends: Sequence[int], nulls: bytes | None) -> tuple[list, int]:
    """The byte strings of one column section, None where the null map says so."""
    n = len(ends)
    stops = list(map(add, repeat(start, n), ends))
    starts = [start, *stops[:-1]]
    items = list(map(buf.__getitem__, map(slice, starts, stops)))
    if nulls is not None:
        for i in compress(range(n), nulls):
            items[i] = None
    return items, stops[-1]


def _decode_headers(buf: bytes, p: int, n: int) -> list[tuple]:
    out: list[tuple] = []
    entry_size = _HEADER_ENTRY.size
    for _ in range(n):
        (count,) = struct.unpack_from("<H", buf, p)
        p += 2
        if count == 0:
            out.append(_NO_HEADERS)
            continue
        items = []
        for _ in range(count):
            name_len, value_len = _HEADER_ENTRY.unpack_from(buf, p)
            p += entry_size
            name = buf[p:p + name_len].decode("utf-8")
            p += name_len
            if value_len < 0:
                value = None
            else:
                value = buf[p:p + value_len]
                p += value_len
            items.append((name, value))
        out.append(tuple(items))
    return out


_new_object = object.__new__
_set_attribute = object.__setattr__


def _make_records(keys, values, timestamps, headers, partition, offsets) -> list[Record]:
    # Record is a frozen dataclass whose __init__ sets each field through
    # object.__setattr__. Creating the objects and their field dicts in bulk and
    # installing each dict in one C-level call builds equal Records 2.5x faster,
    # and fetch builds every record it returns.
    records = list(map(_new_object, repeat(Record, len(keys))))
    fields = [{"key": k, "value": v, "timestamp": t, "headers": h, "partition": partition,
               "offset": o}
              for k, v, t, h, o in zip(keys, values, timestamps, headers, offsets)]
    list(map(_set_attribute, records, repeat("__dict__"), fields))
    return records
