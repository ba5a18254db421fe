"""The Serde protocol and the pieces every format shares: the Decoded batch, Arrow column
building from Python values, and Arrow columns back to plain Python values.

Formats decode whole batches; a bad record becomes a row error, never an exception.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, Sequence

import pyarrow as pa
import pyarrow.compute as pc

from streamsql.catalog.schema import Column
from streamsql.catalog.types import SqlType, to_arrow


@dataclass
class Decoded:
    """A decoded batch: one Arrow column per Column, and the rows that failed with why.

    Rows in `errors` hold nulls; the caller skips them and logs the reason. A reason names the
    cause only (ksqlDB's wording where it has one); the caller adds topic, partition, offset.
    """

    table: pa.Table
    errors: dict[int, str] = field(default_factory=dict)
    window_start: pa.Array | None = None  # int64 epoch ms, windowed keys only
    window_end: pa.Array | None = None


class Serde(Protocol):
    def decode(self, payloads: Sequence[bytes | None]) -> Decoded: ...

    def encode(self, table: pa.Table) -> list[bytes | None]: ...


def decode_array(serde: Serde, payloads: pa.Array) -> Decoded:
    """serde.decode over a binary Arrow array; formats with a columnar path
    (decode_array) read the array itself, the others get its values as bytes."""
    columnar = getattr(serde, "decode_array", None)
    if columnar is not None:
        return columnar(payloads)
    return serde.decode(payloads.to_pylist())


def encode_array(serde: Serde, table: pa.Table) -> pa.Array:
    """serde.encode as a binary Arrow array (null = no bytes); see decode_array."""
    columnar = getattr(serde, "encode_array", None)
    if columnar is not None:
        return columnar(table)
    return pa.array(serde.encode(table), pa.binary())


class CoercionError(ValueError):
    """A value that cannot become the column's type; `path` is ksqlDB's JSON-path-like locator."""

    def __init__(self, message: str, path: str = ""):
        super().__init__(message)
        self.message = message
        self.path = path

    def within(self, outer: str) -> "CoercionError":
        return CoercionError(self.message, outer + self.path)

    def reason(self) -> str:
        return f"{self.message}, path: {self.path}"


def empty_table(num_rows: int) -> pa.Table:
    """A table with no columns but `num_rows` rows (formats without columns still count rows)."""
    return pa.Table.from_struct_array(pa.array([{}] * num_rows, pa.struct([])))


def build_table(columns: Sequence[Column], values: Sequence[list], num_rows: int) -> pa.Table:
    """Arrow table from one list of already-coerced Python values per column."""
    if not columns:
        return empty_table(num_rows)
    arrays = [to_arrow_array(column_values, column.type)
              for column, column_values in zip(columns, values)]
    return pa.table(arrays, names=[c.name for c in columns])


def to_arrow_array(values: list, sql_type: SqlType) -> pa.Array:
    """Values (TIME as microseconds, DATE as days, TIMESTAMP as epoch ms) as an Arrow array."""
    return pa.array(values, to_arrow(sql_type))


def plain_arrow_type(sql_type: SqlType) -> pa.DataType:
    """The Arrow type with temporal types replaced by the integers they carry on the wire."""
    kind = sql_type.kind
    if kind == "DATE":
        return pa.int32()
    if kind in ("TIME", "TIMESTAMP"):
        return pa.int64()
    if kind == "ARRAY":
        return pa.list_(plain_arrow_type(sql_type.element))
    if kind == "MAP":
        return pa.map_(plain_arrow_type(sql_type.key), plain_arrow_type(sql_type.element))
    if kind == "STRUCT":
        return pa.struct([pa.field(n, plain_arrow_type(t)) for n, t in sql_type.fields])
    return to_arrow(sql_type)


def nested_types(sql_type: SqlType) -> list[SqlType]:
    """The types directly inside sql_type: array element, map key and value, struct fields."""
    nested = [t for t in (sql_type.element, sql_type.key) if t is not None]
    return nested + [t for _, t in sql_type.fields]


def has_kind(sql_type: SqlType, kind: str) -> bool:
    """Whether kind occurs anywhere in sql_type."""
    return sql_type.kind == kind or any(has_kind(t, kind) for t in nested_types(sql_type))


def plain_values(array: pa.Array | pa.ChunkedArray, sql_type: SqlType) -> list:
    """Column values as Python objects, temporal values as integers (TIME in microseconds).

    The cast is vectorized; only the final to_pylist walks values.
    """
    target = plain_arrow_type(sql_type)
    if array.type != target:
        array = pc.cast(array, target)
    return array.to_pylist()


def conformed_column(table: pa.Table, column: Column) -> pa.ChunkedArray:
    """The table's column in the exact Arrow type of the Column.

    Query results may carry neighbouring types (DuckDB's string views, microsecond
    timestamps, wider decimals); encoders rely on the canonical one.
    """
    values = table.column(column.name)
    target = to_arrow(column.type)
    if values.type == target:
        return values
    try:
        return pc.cast(values, target)
    except pa.ArrowInvalid:
        return pc.cast(values, target, safe=False)  # e.g. dropping sub-millisecond digits
