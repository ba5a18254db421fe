"""LogicalSchema (key, value and header columns plus pseudo columns) and serde/window info.

Pure data: no I/O, no DuckDB.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from streamsql.catalog.types import BIGINT, INTEGER, SqlType

KEY, VALUE, HEADER = "key", "value", "header"

# Pseudo columns every source row has; ksqlDB names.
ROWTIME, ROWPARTITION, ROWOFFSET = "ROWTIME", "ROWPARTITION", "ROWOFFSET"
WINDOWSTART, WINDOWEND = "WINDOWSTART", "WINDOWEND"
PSEUDO_COLUMNS = {ROWTIME: BIGINT, ROWPARTITION: INTEGER, ROWOFFSET: BIGINT}
WINDOW_BOUNDS = {WINDOWSTART: BIGINT, WINDOWEND: BIGINT}


@dataclass(frozen=True)
class Column:
    name: str
    type: SqlType
    role: str = VALUE  # KEY | VALUE | HEADER
    header_key: str | None = None  # HEADER('k'): one header's bytes; None with role HEADER: all headers

    def sql(self) -> str:
        """ksqlDB's text for the column: `` `ID` BIGINT KEY ``."""
        text = f"`{self.name}` {self.type.sql()}"
        if self.role == KEY:
            text += " KEY"
        elif self.role == HEADER:
            text += f" HEADER('{self.header_key}')" if self.header_key is not None else " HEADERS"
        return text


@dataclass(frozen=True)
class LogicalSchema:
    columns: tuple[Column, ...]

    @property
    def key(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.role == KEY)

    @property
    def value(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.role == VALUE)

    @property
    def headers(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.role == HEADER)

    def find(self, name: str) -> Column | None:
        for column in self.columns:
            if column.name == name:
                return column
        return None

    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def sql(self) -> str:
        """Key columns first, then the rest, as ksqlDB prints a schema."""
        ordered = list(self.key) + [c for c in self.columns if c.role != KEY]
        return ", ".join(c.sql() for c in ordered)


@dataclass(frozen=True)
class FormatInfo:
    """A serialization format with its properties (e.g. delimiter) and serde features."""

    name: str  # JSON DELIMITED KAFKA NONE AVRO PROTOBUF PROTOBUF_NOSR JSON_SR
    properties: tuple[tuple[str, str], ...] = ()
    features: frozenset[str] = field(default_factory=frozenset)  # WRAP_SINGLES UNWRAP_SINGLES

    def property(self, name: str, default: str | None = None) -> str | None:
        for key, value in self.properties:
            if key == name:
                return value
        return default


@dataclass(frozen=True)
class WindowInfo:
    """Window of a windowed source/key: type TUMBLING | HOPPING | SESSION; size in ms (None for SESSION)."""

    type: str
    size_ms: int | None = None

    @property
    def is_session(self) -> bool:
        return self.type == "SESSION"
