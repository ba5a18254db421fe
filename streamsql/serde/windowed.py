"""Windowed keys in Kafka Streams' layout around any inner key serde.

Time window: inner key + 8-byte big-endian start (the end is start + size).
Session window: inner key + 8-byte big-endian end + 8-byte big-endian start.
"""
from __future__ import annotations

import struct
from typing import Sequence

import pyarrow as pa
import pyarrow.compute as pc

from streamsql.catalog.schema import WINDOWEND, WINDOWSTART, WindowInfo
from streamsql.serde.base import Decoded, Serde, encode_array

_LONG = struct.Struct(">q")
_TWO_LONGS = struct.Struct(">qq")


class WindowedKeySerde:
    def __init__(self, inner: Serde, window: WindowInfo):
        self.inner = inner
        self.window = window
        self._suffix = _TWO_LONGS.size if window.is_session else _LONG.size

    def decode(self, payloads: Sequence[bytes | None]) -> Decoded:
        suffix = self._suffix
        inner_payloads: list[bytes | None] = []
        starts: list[int | None] = []
        ends: list[int | None] = []
        short_rows: dict[int, str] = {}
        for row, payload in enumerate(payloads):
            if payload is None or len(payload) < suffix:
                if payload is not None:
                    short_rows[row] = (f"Windowed key of {len(payload)} bytes is shorter than its "
                                       f"{suffix}-byte window suffix")
                inner_payloads.append(None)
                starts.append(None)
                ends.append(None)
                continue
            inner_payloads.append(payload[:-suffix])
            if self.window.is_session:
                end, start = _TWO_LONGS.unpack_from(payload, len(payload) - suffix)
            else:
                (start,) = _LONG.unpack_from(payload, len(payload) - suffix)
                end = start + (self.window.size_ms or 0)
            starts.append(start)
            ends.append(end)
        decoded = self.inner.decode(inner_payloads)
        errors = {**decoded.errors, **short_rows}
        return Decoded(decoded.table, errors, pa.array(starts, pa.int64()),
                       pa.array(ends, pa.int64()))

    def encode_array(self, table: pa.Table) -> pa.Array:
        """encode() as a binary array: the window suffixes are packed for the whole batch."""
        if self.window.is_session:
            return pa.array(self.encode(table), pa.binary())
        _check_bounds(table)
        starts = pc.cast(table.column(WINDOWSTART), pa.int64()).to_pylist()
        n = len(starts)
        suffixes = pa.Array.from_buffers(pa.binary(_LONG.size), n, [
            None, pa.py_buffer(struct.pack(f">{n}q", *starts))]).cast(pa.binary())
        keys = encode_array(self.inner, table.drop_columns([WINDOWSTART, WINDOWEND]))
        keys = pc.fill_null(keys, b"")
        return pc.binary_join_element_wise(keys, suffixes, b"")

    def encode(self, table: pa.Table) -> list[bytes | None]:
        """table holds the key columns plus int64 WINDOWSTART and WINDOWEND."""
        _check_bounds(table)
        starts = pc.cast(table.column(WINDOWSTART), pa.int64()).to_pylist()
        ends = pc.cast(table.column(WINDOWEND), pa.int64()).to_pylist()
        inner_table = table.drop_columns([WINDOWSTART, WINDOWEND])
        keys = self.inner.encode(inner_table)
        if self.window.is_session:
            return [(key or b"") + _TWO_LONGS.pack(end, start)
                    for key, start, end in zip(keys, starts, ends)]
        return [(key or b"") + _LONG.pack(start) for key, start in zip(keys, starts)]


def _check_bounds(table: pa.Table) -> None:
    missing = {WINDOWSTART, WINDOWEND} - set(table.column_names)
    if missing:
        raise ValueError(f"a windowed key needs its window bounds; missing {sorted(missing)}")
