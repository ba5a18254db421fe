"""The catalog: streams, tables, custom types and persistent queries.

Immutable: every change returns a new Catalog, so a statement that fails half-way
leaves the engine's catalog exactly as it was.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Mapping

from streamsql.catalog.schema import FormatInfo, LogicalSchema, WindowInfo
from streamsql.catalog.types import SqlType

STREAM, TABLE = "STREAM", "TABLE"


@dataclass(frozen=True)
class DataSource:
    """A stream or table: a schema over a topic, with its formats."""

    name: str
    kind: str  # STREAM | TABLE
    schema: LogicalSchema
    topic: str
    key_format: FormatInfo
    value_format: FormatInfo
    window: WindowInfo | None = None
    timestamp_column: str | None = None
    timestamp_format: str | None = None
    is_source: bool = False  # CREATE SOURCE ...: read-only
    sql: str = ""  # the statement that created it
    created_by_query: str | None = None  # query id of a CSAS/CTAS

    @property
    def kind_word(self) -> str:
        return self.kind.lower()


@dataclass(frozen=True)
class QueryInfo:
    """A persistent query as the catalog knows it (the runtime owns the running part)."""

    query_id: str
    sql: str
    sink: str | None
    sources: tuple[str, ...]
    kind: str  # CSAS | CTAS | INSERT


def _frozen(mapping: dict) -> Mapping:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True)
class Catalog:
    sources: Mapping[str, DataSource] = field(default_factory=lambda: _frozen({}))
    types: Mapping[str, SqlType] = field(default_factory=lambda: _frozen({}))
    queries: Mapping[str, QueryInfo] = field(default_factory=lambda: _frozen({}))
    next_query_number: int = 0

    # ---- lookups --------------------------------------------------------------------
    def source(self, name: str) -> DataSource | None:
        return self.sources.get(name)

    def sources_on_topic(self, topic: str) -> list[DataSource]:
        return [s for s in self.sources.values() if s.topic == topic]

    def suggest_source(self, name: str) -> str | None:
        """The closest existing source name, for 'did you mean' hints."""
        by_upper = {n.upper(): n for n in self.sources}
        if name.upper() in by_upper and by_upper[name.upper()] != name:
            return by_upper[name.upper()]
        close = difflib.get_close_matches(name, list(self.sources), n=1, cutoff=0.6)
        return close[0] if close else None

    def queries_reading(self, source_name: str) -> list[QueryInfo]:
        return [q for q in self.queries.values() if source_name in q.sources]

    def queries_writing(self, source_name: str) -> list[QueryInfo]:
        return [q for q in self.queries.values() if q.sink == source_name]

    # ---- changes (each returns a new catalog) ---------------------------------------
    def with_source(self, source: DataSource) -> "Catalog":
        sources = dict(self.sources)
        sources[source.name] = source
        return replace(self, sources=_frozen(sources))

    def without_source(self, name: str) -> "Catalog":
        sources = dict(self.sources)
        sources.pop(name, None)
        return replace(self, sources=_frozen(sources))

    def with_type(self, name: str, sql_type: SqlType) -> "Catalog":
        types = dict(self.types)
        types[name] = sql_type
        return replace(self, types=_frozen(types))

    def without_type(self, name: str) -> "Catalog":
        types = dict(self.types)
        types.pop(name, None)
        return replace(self, types=_frozen(types))

    def with_query(self, query: QueryInfo) -> "Catalog":
        queries = dict(self.queries)
        queries[query.query_id] = query  # replacing keeps the position (dicts keep insertion order)
        return replace(self, queries=_frozen(queries), next_query_number=self.next_query_number + 1)

    def without_query(self, query_id: str) -> "Catalog":
        queries = dict(self.queries)
        queries.pop(query_id, None)
        return replace(self, queries=_frozen(queries))
