"""The KAFKA format: one primitive column in Kafka's own serializer layouts (big-endian INT,
BIGINT, DOUBLE; UTF-8 STRING; raw BYTES), or no column at all.

Fixed-size types are unpacked for the whole batch with one struct call.
"""
from __future__ import annotations

import struct
from typing import Sequence

import pyarrow as pa
import pyarrow.compute as pc

from streamsql.catalog.schema import Column
from streamsql.serde.base import Decoded, conformed_column, empty_table, to_arrow_array

# type -> (struct code, size, Kafka deserializer named in size errors)
_FIXED = {
    "INTEGER": ("i", 4, "IntegerDeserializer"),
    "BIGINT": ("q", 8, "LongDeserializer"),
    "DOUBLE": ("d", 8, "DoubleDeserializer"),
}
SUPPORTED_KINDS = ("INTEGER", "BIGINT", "DOUBLE", "STRING", "BYTES")


class KafkaSerde:
    def __init__(self, columns: Sequence[Column]):
        if len(columns) > 1:
            raise ValueError("KAFKA format carries at most one column")  # validate_format first
        self.column = columns[0] if columns else None

    def decode(self, payloads: Sequence[bytes | None]) -> Decoded:
        if self.column is None:
            return Decoded(empty_table(len(payloads)))
        kind = self.column.type.kind
        errors: dict[int, str] = {}
        if kind in _FIXED:
            values = _unpack_fixed(payloads, kind, errors)
        elif kind == "STRING":
            # Java's UTF-8 decoder replaces malformed bytes instead of failing.
            values = [None if p is None else p.decode("utf-8", "replace") for p in payloads]
        else:
            values = [None if p is None else bytes(p) for p in payloads]
        array = to_arrow_array(values, self.column.type)
        return Decoded(pa.table([array], names=[self.column.name]), errors)

    def decode_array(self, payloads: pa.Array) -> Decoded:
        """decode() over a binary array; a STRING column of valid UTF-8 is one cast."""
        if self.column is not None and self.column.type.kind == "STRING":
            try:
                strings = pc.cast(payloads, pa.string())
            except pa.ArrowInvalid:
                pass  # malformed UTF-8: decode() replaces it as Java does
            else:
                return Decoded(pa.table([strings], names=[self.column.name]))
        return self.decode(payloads.to_pylist())

    def encode_array(self, table: pa.Table) -> pa.Array:
        """encode() as a binary array; STRING and BYTES columns are one cast."""
        if self.column is not None and self.column.type.kind in ("STRING", "BYTES"):
            return pc.cast(conformed_column(table, self.column), pa.binary())
        return pa.array(self.encode(table), pa.binary())

    def encode(self, table: pa.Table) -> list[bytes | None]:
        if self.column is None:
            return [None] * table.num_rows
        kind = self.column.type.kind
        values = conformed_column(table, self.column).to_pylist()
        if kind in _FIXED:
            pack = struct.Struct(">" + _FIXED[kind][0]).pack
            return [None if v is None else pack(v) for v in values]
        if kind == "STRING":
            return [None if v is None else v.encode("utf-8") for v in values]
        return values


def _unpack_fixed(payloads: Sequence[bytes | None], kind: str, errors: dict[int, str]) -> list:
    code, size, deserializer = _FIXED[kind]
    valid_rows = []
    for row, payload in enumerate(payloads):
        if payload is None:
            continue
        if len(payload) == size:
            valid_rows.append(row)
        else:
            errors[row] = f"Size of data received by {deserializer} is not {size}"
    values: list = [None] * len(payloads)
    if valid_rows:
        unpacked = struct.unpack(f">{len(valid_rows)}{code}",
                                 b"".join(payloads[row] for row in valid_rows))
        for row, value in zip(valid_rows, unpacked):
            values[row] = value
    return values
