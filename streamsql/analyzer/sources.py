"""CREATE [SOURCE] STREAM/TABLE with explicit columns -> a validated DataSource."""
from __future__ import annotations

from streamsql import ast
from streamsql.analyzer.properties import (SCHEMA_REGISTRY_FORMATS, SOURCE_PROPERTIES,
                                           Properties, build_formats, resolve_format_names,
                                           window_info)
from streamsql.catalog import types as T
from streamsql.catalog.catalog import STREAM, TABLE, Catalog, DataSource
from streamsql.catalog.schema import (HEADER, KEY, PSEUDO_COLUMNS, VALUE, WINDOW_BOUNDS, Column,
                                      FormatInfo, LogicalSchema)
from streamsql.config import Config
from streamsql.errors import NotSupportedError, StatementError

HEADERS_TYPE = T.SqlType.array(T.SqlType.struct((("KEY", T.STRING), ("VALUE", T.BYTES))))
RESERVED_NAMES = tuple(PSEUDO_COLUMNS) + tuple(WINDOW_BOUNDS)


def _column(col: ast.ColumnDef, kind: str, custom_types) -> Column:
    sql_type = T.from_ast(col.type, custom_types)
    if col.constraint in ("KEY", "PRIMARY KEY"):
        return Column(col.name, sql_type, KEY)
    if col.constraint == "HEADERS":
        if sql_type != HEADERS_TYPE:
            raise StatementError(f"Invalid type for HEADERS column: expected {HEADERS_TYPE.sql()}, "
                                 f"got {sql_type.sql()}", col.span)
        return Column(col.name, sql_type, HEADER)
    if col.constraint == "HEADER":
        if sql_type != T.BYTES:
            raise StatementError(f"Invalid type for HEADER('{col.header_key}') column: expected "
                                 f"BYTES, got {sql_type.sql()}", col.span)
        return Column(col.name, sql_type, HEADER, col.header_key)
    return Column(col.name, sql_type, VALUE)


def contains_map(sql_type: T.SqlType) -> bool:
    if sql_type.kind == "MAP":
        return True
    if sql_type.kind == "ARRAY":
        return contains_map(sql_type.element)
    if sql_type.kind == "STRUCT":
        return any(contains_map(t) for _, t in sql_type.fields)
    return False


def validate_key_columns(columns) -> None:
    for col in columns:
        if col.role == KEY and contains_map(col.type):
            raise StatementError(
                "Map keys, including types that contain maps, are not supported as they may lead "
                "to unexpected behavior due to inconsistent serialization. Key column name: "
                f"`{col.name}`. Column type: {col.type.sql()}. See "
                "https://github.com/confluentinc/ksql/issues/6621 for more.")


def validate_formats(key_format: FormatInfo, value_format: FormatInfo, columns) -> None:
    """Check that the formats can carry the columns (serde knows each format's limits)."""
    from streamsql.serde import validate_format  # validation only; serde is otherwise runtime's

    for fmt in (key_format, value_format):
        if fmt.name in SCHEMA_REGISTRY_FORMATS:
            raise NotSupportedError(f"format {fmt.name} needs a schema registry, which streamsql "
                                    "does not support yet")
    validate_key_columns(columns)
    validate_format(key_format, [c for c in columns if c.role == KEY], is_key=True)
    validate_format(value_format, [c for c in columns if c.role == VALUE], is_key=False)


def analyze_create_source(stmt: ast.CreateStream | ast.CreateTable, catalog: Catalog,
                          config: Config, sql: str) -> DataSource:
    kind = TABLE if isinstance(stmt, ast.CreateTable) else STREAM
    word = kind.lower()
    existing = catalog.source(stmt.name)
    if stmt.or_replace and stmt.is_source:
        raise StatementError(f"Cannot add {word} '{stmt.name}': CREATE OR REPLACE is not "
                             f"supported on source {word}s.")
    if existing is not None:
        if stmt.or_replace and existing.is_source:
            raise StatementError(f"Cannot add {word} '{stmt.name}': CREATE OR REPLACE is not "
                                 f"supported on source {existing.kind_word}s.")
        if not stmt.or_replace and not stmt.if_not_exists:
            raise StatementError(f"Cannot add {word} '{stmt.name}': A {existing.kind_word} with "
                                 "the same name already exists", stmt.span)
        if existing.kind != kind:
            raise StatementError(f"Cannot add {word} '{stmt.name}': A {existing.kind_word} with "
                                 "the same name already exists", stmt.span)

    props = Properties(stmt.properties, SOURCE_PROPERTIES)
    seen: set[str] = set()
    columns: list[Column] = []
    for col_def in stmt.columns:
        if col_def.name in RESERVED_NAMES:
            raise StatementError(f"'{col_def.name}' is a reserved column name. You cannot use it "
                                 "as a name for a column.", col_def.span)
        if col_def.name in seen:
            raise StatementError(f"Duplicate column names: {col_def.name}", col_def.span)
        seen.add(col_def.name)
        columns.append(_column(col_def, kind, catalog.types))

    key_name, value_name = resolve_format_names(props, config)
    if props.get("KEY_SCHEMA_ID") is not None and key_name not in SCHEMA_REGISTRY_FORMATS:
        raise StatementError("KEY_FORMAT should support schema inference when KEY_SCHEMA_ID is "
                             f"provided. Current format is {key_name}.")
    if props.get("VALUE_SCHEMA_ID") is not None and value_name not in SCHEMA_REGISTRY_FORMATS:
        raise StatementError("VALUE_FORMAT should support schema inference when VALUE_SCHEMA_ID "
                             f"is provided. Current format is {value_name}.")
    for prefix in ("KEY", "VALUE"):
        if props.get(f"{prefix}_SCHEMA_ID") is not None and columns:
            raise StatementError(f"Table elements and {prefix}_SCHEMA_ID cannot both exist for "
                                 "create statement.")
    if not columns and value_name not in SCHEMA_REGISTRY_FORMATS:
        raise StatementError("No columns supplied.", stmt.span)
    if kind == TABLE and not any(c.role == KEY for c in columns) and (
            columns or value_name in SCHEMA_REGISTRY_FORMATS):
        raise StatementError("Tables require a PRIMARY KEY. Please define the PRIMARY KEY.",
                             stmt.span)

    window = window_info(props)
    if window is not None and not any(c.role == KEY for c in columns):
        raise StatementError("Windowed sources require a key column.", stmt.span)

    key_format, value_format = build_formats(props, config, tuple(columns), key_name=key_name,
                                             value_name=value_name)
    validate_formats(key_format, value_format, columns)

    timestamp_column = props.get_str("TIMESTAMP")
    timestamp_format = props.get_str("TIMESTAMP_FORMAT")
    if timestamp_column is not None:
        timestamp_column = validate_timestamp_column(timestamp_column, timestamp_format, columns)

    topic = props.get_str("KAFKA_TOPIC") or stmt.name
    return DataSource(name=stmt.name, kind=kind, schema=LogicalSchema(tuple(columns)),
                      topic=topic, key_format=key_format, value_format=value_format,
                      window=window, timestamp_column=timestamp_column,
                      timestamp_format=timestamp_format, is_source=stmt.is_source, sql=sql)


def validate_timestamp_column(name: str, timestamp_format: str | None, columns) -> str:
    """Resolve TIMESTAMP='col' (unquoted names are upper-cased) and check its type."""
    resolved = name[1:-1] if name.startswith("`") and name.endswith("`") else name.upper()
    column = next((c for c in columns if c.name == resolved), None)
    if column is None:
        raise StatementError(f"The TIMESTAMP column set in the WITH clause does not exist in the "
                             f"schema: '{resolved}'")
    if column.type.kind == "STRING":
        if timestamp_format is None:
            raise StatementError(f"A TIMESTAMP_FORMAT is required for the STRING TIMESTAMP "
                                 f"column '{resolved}'")
    elif column.type.kind not in ("BIGINT", "TIMESTAMP"):
        raise StatementError(f"Timestamp column, `{resolved}`, should be LONG(INT64), TIMESTAMP, "
                             f"or a String with a TIMESTAMP_FORMAT specified.")
    return resolved
