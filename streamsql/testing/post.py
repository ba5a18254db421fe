"""The `post` checks of a QTT run: catalog sources (8.1) and known topics (8.2).

Reads the engine's catalog and log after the run; never changes them.
"""
from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from streamsql import parser
from streamsql.catalog.schema import HEADER, KEY, VALUE, Column, FormatInfo, LogicalSchema
from streamsql.catalog.types import from_ast
from streamsql.errors import StreamSQLError


async def check(catalog: Any, backend: Any, post: dict) -> str | None:
    """The first failed post condition, or None when all hold."""
    for expected in post.get("sources") or []:
        problem = check_source(catalog, expected)
        if problem:
            return f"post.sources: {problem}"
    topics = post.get("topics") or {}
    if topics:
        problem = await _check_topics(catalog, backend, topics)
        if problem:
            return f"post.topics: {problem}"
    return None


def check_source(catalog: Any, expected: dict) -> str | None:
    """Why no catalog source matches one `post.sources` entry, or None."""
    name = expected.get("name")
    source = catalog.sources.get(name)
    if source is None:
        return f"no source named '{name}' (have: {', '.join(sorted(catalog.sources)) or 'none'})"
    kind = str(expected.get("type", source.kind)).upper()
    if kind != source.kind:
        return f"{name}: expected a {kind.lower()} but it is a {source.kind.lower()}"
    if "schema" in expected:
        try:
            want = parse_schema(expected["schema"], dict(catalog.types))
        except StreamSQLError as err:
            return f"{name}: cannot parse the expected schema {expected['schema']!r}: {err.message}"
        if _ordered(want) != _ordered(source.schema.columns):
            return (f"{name}: schema: expected {LogicalSchema(_ordered(want)).sql()} "
                    f"but was {source.schema.sql()}")
    if "keyFormat" in expected:
        problem = _key_format_mismatch(expected["keyFormat"] or {}, source)
        if problem:
            return f"{name}: key format: {problem}"
    if "valueFormat" in expected and expected["valueFormat"] != source.value_format.name:
        return (f"{name}: value format: expected {expected['valueFormat']} "
                f"but was {source.value_format.name}")
    for key, fmt in (("keyFeatures", source.key_format), ("valueFeatures", source.value_format)):
        if key in expected and set(expected[key]) != set(fmt.features):
            return (f"{name}: {key}: expected {sorted(expected[key])} "
                    f"but was {sorted(fmt.features)}")
    if "isSource" in expected and bool(expected["isSource"]) != source.is_source:
        return f"{name}: isSource: expected {expected['isSource']} but was {source.is_source}"
    return None


def parse_schema(text: str, custom_types: dict | None = None) -> tuple[Column, ...]:
    """Columns of a `CREATE` column list such as ``ID BIGINT KEY, `v` STRING``.

    Raises:
        StreamSQLError: the text is not a valid column list.
    """
    statement = parser.parse(
        f"CREATE {'TABLE' if 'PRIMARY KEY' in text.upper() else 'STREAM'} X ({text}) "
        "WITH (kafka_topic='x', value_format='JSON');")[0]
    columns = []
    for column in statement.columns:
        role = {"KEY": KEY, "PRIMARY KEY": KEY, "HEADERS": HEADER, "HEADER": HEADER}.get(
            column.constraint or "", VALUE)
        columns.append(Column(column.name, from_ast(column.type, custom_types), role,
                              column.header_key))
    return tuple(columns)


def _ordered(columns) -> tuple[Column, ...]:
    """Key columns first, the rest in declared order: how ksqlDB lists a schema."""
    columns = tuple(columns)
    return tuple(c for c in columns if c.role == KEY) + tuple(c for c in columns if c.role != KEY)


def _key_format_mismatch(expected: dict, source: Any) -> str | None:
    if "format" in expected and expected["format"] != source.key_format.name:
        return f"expected {expected['format']} but was {source.key_format.name}"
    # Once keyFormat is given, absent window fields mean "not windowed".
    window_type = expected.get("windowType")
    actual_type = source.window.type if source.window else None
    if (window_type.upper() if window_type else None) != actual_type:
        return f"window type: expected {window_type} but was {actual_type}"
    window_size = expected.get("windowSize")
    actual_size = source.window.size_ms if source.window else None
    if window_size != actual_size:
        return f"window size: expected {window_size} but was {actual_size}"
    return None


async def _check_topics(catalog: Any, backend: Any, expected: dict) -> str | None:
    known = {info.name: info for info in await backend.list_topics()}
    blacklist = expected.get("blacklist")
    if blacklist:
        pattern = re.compile(blacklist)
        for name in sorted(known):
            if pattern.search(name):
                return f"topic '{name}' matches the blacklist {blacklist!r}"
    for entry in expected.get("topics") or []:
        name = entry.get("name")
        info = known.get(name)
        if info is None:
            return f"no topic named '{name}'"
        problem = _topic_mismatch(entry, info, catalog.sources_on_topic(name))
        if problem:
            return f"{name}: {problem}"
    return None


def _topic_mismatch(entry: dict, info: Any, sources: list) -> str | None:
    if "partitions" in entry and entry["partitions"] != info.partitions:
        return f"partitions: expected {entry['partitions']} but was {info.partitions}"
    for key in ("keySchemaId", "valueSchemaId", "keySchema", "valueSchema"):
        if key in entry:
            return f"{key} needs a schema registry (not built yet)"
    if "keyFormat" not in entry and "valueFormat" not in entry:
        return None
    if not sources:
        return "no stream or table uses the topic, so its formats are unknown"
    source = sources[0]
    if "keyFormat" in entry:
        window = source.window
        actual_window = None if window is None else (
            {"type": window.type} if window.size_ms is None
            else {"type": window.type, "size": Decimal(window.size_ms) / 1000})  # seconds
        problem = _format_mismatch(entry["keyFormat"], source.key_format, actual_window)
        if problem:
            return f"key format: {problem}"
    if "valueFormat" in entry:
        problem = _format_mismatch(entry["valueFormat"], source.value_format, None,
                                   has_window=False)
        if problem:
            return f"value format: {problem}"
    return None


def _format_mismatch(expected: dict, actual: FormatInfo, actual_window: dict | None, *,
                     has_window: bool = True) -> str | None:
    if expected.get("format") != actual.name:
        return f"expected {expected.get('format')} but was {actual.name}"
    properties = {str(k): str(v) for k, v in (expected.get("properties") or {}).items()}
    if properties != dict(actual.properties):
        return f"properties: expected {properties} but was {dict(actual.properties)}"
    if set(expected.get("features") or ()) != set(actual.features):
        return (f"features: expected {sorted(expected.get('features') or ())} "
                f"but was {sorted(actual.features)}")
    if has_window and expected.get("windowInfo") != actual_window:
        return f"window: expected {expected.get('windowInfo')} but was {actual_window}"
    return None
