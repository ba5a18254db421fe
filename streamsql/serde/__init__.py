"""Serialization formats: record bytes <-> Arrow columns, per ksqlDB format.

    payloads (list[bytes|None]) --decode--> Decoded(table, errors[, window bounds])
    pyarrow.Table               --encode--> list[bytes|None]

validate_format() rejects, at statement time and in ksqlDB's words, a format that cannot
carry the columns; make_serde() builds the serde for a key or value.
"""
from __future__ import annotations

from typing import Sequence

from streamsql.catalog.schema import Column, FormatInfo, WindowInfo
from streamsql.catalog.types import SqlType
from streamsql.errors import NotSupportedError, StatementError
from streamsql.serde import delimited, kafka
from streamsql.serde.base import Decoded, Serde, has_kind, nested_types
from streamsql.serde.delimited import DelimitedSerde
from streamsql.serde.json import JsonSerde
from streamsql.serde.kafka import KafkaSerde
from streamsql.serde.none import NoneSerde
from streamsql.serde.numbers import decimal_text, java_double_text
from streamsql.serde.timestamps import extract_timestamps
from streamsql.serde.windowed import WindowedKeySerde

__all__ = ["Decoded", "Serde", "make_serde", "validate_format", "extract_timestamps",
           "java_double_text", "decimal_text", "is_unwrapped"]

SUPPORTED_FORMATS = ("JSON", "DELIMITED", "KAFKA", "NONE")
REGISTRY_FORMATS = ("AVRO", "PROTOBUF", "PROTOBUF_NOSR", "JSON_SR")
WRAP_SINGLES, UNWRAP_SINGLES = "WRAP_SINGLES", "UNWRAP_SINGLES"
# Formats whose maps are objects/records keyed by strings, with ksqlDB's complaint otherwise.
_STRING_MAP_KEYS_ONLY = {
    "JSON": "JSON only supports MAP types with STRING keys",
    "JSON_SR": "JSON only supports MAP types with STRING keys",
    "AVRO": "Avro only supports MAPs with STRING keys",
    "PROTOBUF": "PROTOBUF format only supports MAP types with STRING keys",
    "PROTOBUF_NOSR": "PROTOBUF format only supports MAP types with STRING keys",
}
# Formats that write a single column bare and cannot wrap it in a record.
_NEVER_WRAPPED = ("KAFKA", "DELIMITED", "NONE")


def make_serde(fmt: FormatInfo, columns: Sequence[Column], *, is_key: bool,
               window: WindowInfo | None = None) -> Serde:
    """The serde for the key (is_key) or value columns of a source in format fmt.

    With `window` (keys only) the serde reads and writes Kafka Streams' windowed key layout.
    Raises StatementError as validate_format does, NotSupportedError for registry formats.
    """
    validate_format(fmt, columns, is_key=is_key)
    name = fmt.name.upper()
    if name in REGISTRY_FORMATS:
        raise NotSupportedError(f"format {name} needs a schema registry, which streamsql does "
                                "not support yet")
    serde: Serde
    if name == "JSON":
        serde = JsonSerde(columns, unwrapped=is_unwrapped(fmt, columns, is_key=is_key))
    elif name == "DELIMITED":
        serde = DelimitedSerde(columns, delimited.delimiter_of(fmt), is_key=is_key)
    elif name == "KAFKA":
        serde = KafkaSerde(columns)
    else:
        serde = NoneSerde()
    if window is not None:
        if not is_key:
            raise ValueError("only keys are windowed")
        serde = WindowedKeySerde(serde, window)
    return serde


def is_unwrapped(fmt: FormatInfo, columns: Sequence[Column], *, is_key: bool) -> bool:
    """Whether a single column is written bare rather than inside a record.

    Keys are unwrapped unless WRAP_SINGLES is asked for; values only with UNWRAP_SINGLES.
    """
    if len(columns) != 1:
        return False
    if is_key:
        return WRAP_SINGLES not in fmt.features
    return UNWRAP_SINGLES in fmt.features


def validate_format(fmt: FormatInfo, columns: Sequence[Column], *, is_key: bool) -> None:
    """Raise StatementError, worded as ksqlDB words it, if fmt cannot carry these columns."""
    name = fmt.name.upper()
    if name not in SUPPORTED_FORMATS + REGISTRY_FORMATS:
        raise StatementError(f"Unknown format: {fmt.name}")
    if is_key:
        for column in columns:
            if has_kind(column.type, "MAP"):
                raise StatementError(
                    "Map keys, including types that contain maps, are not supported as they may "
                    "lead to unexpected behavior due to inconsistent serialization. Key column "
                    f"name: `{column.name}`. Column type: {column.type.sql()}. See "
                    "https://github.com/confluentinc/ksql/issues/6621 for more.")
    if WRAP_SINGLES in fmt.features and name in _NEVER_WRAPPED:
        raise StatementError(f"Format '{name}' does not support 'WRAP_SINGLE_VALUE' set to "
                             "'true'.")
    if not is_key and len(columns) != 1 and fmt.features & {WRAP_SINGLES, UNWRAP_SINGLES}:
        raise StatementError("'WRAP_SINGLE_VALUE' is only valid for single-field value schemas")
    if name == "DELIMITED":
        delimited.delimiter_of(fmt)  # raises on a bad VALUE_DELIMITER / KEY_DELIMITER
    reason = _unsupported_reason(name, columns)
    if reason is not None:
        # ksqlDB names the key/value side, the format and the schema around the reason.
        target = "Key" if is_key else "Value"
        features = ", ".join(sorted(fmt.features))
        schema = ", ".join(c.sql() for c in columns)
        raise StatementError(f"{target} format does not support schema.\nformat: {name}\n"
                             f"schema: Persistence{{columns=[{schema}], features=[{features}]}}\n"
                             f"reason: {reason}")


def _unsupported_reason(name: str, columns: Sequence[Column]) -> str | None:
    listed = ", ".join(c.sql() for c in columns)
    if name == "NONE" and columns:
        return f"The 'NONE' format can only be used when no columns are defined. Got: [{listed}]"
    if name == "KAFKA":
        if len(columns) > 1:
            return f"The 'KAFKA' format only supports a single field. Got: [{listed}]"
        for column in columns:
            if column.type.kind not in kafka.SUPPORTED_KINDS:
                return f"The 'KAFKA' format does not support type '{column.type.kind}'"
    if name == "DELIMITED":
        for column in columns:
            if column.type.kind not in delimited.SUPPORTED_KINDS:
                return (f"The 'DELIMITED' format does not support type '{column.type.kind}', "
                        f"column: `{column.name}`")
    if name in _STRING_MAP_KEYS_ONLY and any(_has_non_string_map_key(c.type) for c in columns):
        return _STRING_MAP_KEYS_ONLY[name]
    return None


def _has_non_string_map_key(sql_type: SqlType) -> bool:
    if sql_type.kind == "MAP" and sql_type.key.kind != "STRING":
        return True
    return any(_has_non_string_map_key(t) for t in nested_types(sql_type))
