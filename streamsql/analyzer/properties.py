"""WITH (...) clause properties: known names, literal values, and format resolution.

Error wording follows ksqlDB's, because users (and its conformance tests) know it.
"""
from __future__ import annotations

import re
from decimal import Decimal

from streamsql import ast
from streamsql.catalog.schema import Column, FormatInfo, KEY, VALUE, WindowInfo
from streamsql.config import Config
from streamsql.errors import ParseError, StatementError

SOURCE_PROPERTIES = {
    "KAFKA_TOPIC", "VALUE_FORMAT", "KEY_FORMAT", "FORMAT", "PARTITIONS", "REPLICAS",
    "TIMESTAMP", "TIMESTAMP_FORMAT", "WRAP_SINGLE_VALUE", "VALUE_DELIMITER", "KEY_DELIMITER",
    "WINDOW_TYPE", "WINDOW_SIZE", "KEY_SCHEMA_ID", "VALUE_SCHEMA_ID", "KEY_SCHEMA_FULL_NAME",
    "VALUE_SCHEMA_FULL_NAME", "VALUE_AVRO_SCHEMA_FULL_NAME", "RETENTION_MS", "CLEANUP_POLICY",
    "SOURCE_CONNECTOR",
}
SINK_PROPERTIES = SOURCE_PROPERTIES - {"WINDOW_TYPE", "WINDOW_SIZE", "SOURCE_CONNECTOR"}

FORMATS = ("JSON", "DELIMITED", "KAFKA", "NONE", "AVRO", "PROTOBUF", "PROTOBUF_NOSR", "JSON_SR")
WRAPPING_FORMATS = {"JSON", "AVRO", "PROTOBUF", "PROTOBUF_NOSR", "JSON_SR"}
SCHEMA_REGISTRY_FORMATS = {"AVRO", "PROTOBUF", "PROTOBUF_NOSR", "JSON_SR"}


def literal_value(expr: ast.Expr):
    """The Python value of a literal property value (strings, numbers, booleans)."""
    if isinstance(expr, (ast.StringLiteral, ast.IntegerLiteral, ast.BooleanLiteral)):
        return expr.value
    if isinstance(expr, ast.DecimalLiteral):
        return expr.value
    if isinstance(expr, ast.DoubleLiteral):
        return expr.value
    if isinstance(expr, ast.NullLiteral):
        return None
    if isinstance(expr, ast.UnaryOp) and expr.op == "-" and isinstance(
            expr.operand, (ast.IntegerLiteral, ast.DecimalLiteral, ast.DoubleLiteral)):
        return -expr.operand.value
    raise StatementError("property values must be literals", expr.span)


class Properties:
    """The WITH clause of one statement, validated against the names it may use."""

    def __init__(self, properties: tuple[ast.Property, ...], allowed: set[str]):
        self.values: dict[str, object] = {}
        self.spans = {}
        for prop in properties:
            name = prop.name.upper()
            if name not in allowed:
                raise StatementError(f"Invalid config variable(s) in the WITH clause: {name}",
                                     prop.span)
            self.values[name] = literal_value(prop.value)
            self.spans[name] = prop.span

    def __contains__(self, name: str) -> bool:
        return name in self.values

    def get(self, name: str, default=None):
        return self.values.get(name, default)

    def get_str(self, name: str) -> str | None:
        value = self.values.get(name)
        return None if value is None else str(value)

    def get_int(self, name: str) -> int | None:
        value = self.values.get(name)
        if value is None:
            return None
        if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
            return int(value)
        try:
            return int(str(value))
        except ValueError:
            raise StatementError(f"Invalid value for {name}: {value!r} is not an integer",
                                 self.spans.get(name)) from None

    def get_bool(self, name: str) -> bool | None:
        value = self.values.get(name)
        if value is None:
            return None
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "false"):
            return text == "true"
        raise StatementError(f"Invalid value for {name}: {value!r} is not a boolean",
                             self.spans.get(name))


def _format_name(name: str | None) -> str | None:
    if name is None:
        return None
    upper = str(name).strip().upper()
    if upper not in FORMATS:
        raise StatementError(f"Unknown format: {upper}")
    return upper


def resolve_format_names(props: Properties, config: Config, *, inherited_key: str | None = None,
                         inherited_value: str | None = None) -> tuple[str, str]:
    """Key and value format names from FORMAT / KEY_FORMAT / VALUE_FORMAT, inheritance, config."""
    both = props.get_str("FORMAT")
    key = props.get_str("KEY_FORMAT")
    value = props.get_str("VALUE_FORMAT")
    for explicit, prop in ((key, "KEY_FORMAT"), (value, "VALUE_FORMAT")):
        if both is not None and explicit is not None:
            raise StatementError(
                f"Cannot supply both '{prop}' and 'FORMAT' properties, as 'FORMAT' sets both key "
                "and value formats. Either use just 'FORMAT', or use 'KEY_FORMAT' and "
                "'VALUE_FORMAT'.")
    if both is not None:
        key = value = both
    key = _format_name(key) or inherited_key or _format_name(
        config.get("ksql.persistence.default.format.key") or "KAFKA")
    value = _format_name(value) or inherited_value or _format_name(
        config.get("ksql.persistence.default.format.value") or None)
    if value is None:
        raise StatementError(
            "Statement is missing the 'VALUE_FORMAT' property from the WITH clause. Either "
            "provide one or set a default via the 'ksql.persistence.default.format.value' config.")
    return key, value


def _delimiter(text: str | None) -> str | None:
    if text is None:
        return None
    named = {"TAB": "\t", "SPACE": " "}
    if text.upper() in named:
        return named[text.upper()]
    if len(text) != 1:
        raise StatementError(f"Invalid delimiter '{text}': a delimiter is a single character, "
                             "or TAB or SPACE")
    return text


def build_formats(props: Properties, config: Config, columns: tuple[Column, ...], *,
                  key_name: str, value_name: str,
                  inherited_value: FormatInfo | None = None,
                  inherited_key: FormatInfo | None = None) -> tuple[FormatInfo, FormatInfo]:
    """The key and value FormatInfo with their properties and serde features."""
    key_cols = [c for c in columns if c.role == KEY]
    value_cols = [c for c in columns if c.role == VALUE]

    value_features: set[str] = set()
    wrap = props.get_bool("WRAP_SINGLE_VALUE")
    if wrap is not None:
        if value_name not in WRAPPING_FORMATS and value_name != "KAFKA":
            raise StatementError(f"Format '{value_name}' does not support "
                                 f"'WRAP_SINGLE_VALUE' set to '{str(wrap).lower()}'.")
        if value_name == "KAFKA" and wrap:
            raise StatementError("Format 'KAFKA' does not support 'WRAP_SINGLE_VALUE' set to "
                                 "'true'.")
        if len(value_cols) != 1:
            raise StatementError("'WRAP_SINGLE_VALUE' is only valid for single-field value schemas")
        if value_name in WRAPPING_FORMATS:
            value_features.add("WRAP_SINGLES" if wrap else "UNWRAP_SINGLES")
    elif len(value_cols) == 1 and value_name in WRAPPING_FORMATS:
        configured = config.get("ksql.persistence.wrap.single.values")
        if configured and configured.strip().lower() == "false":
            value_features.add("UNWRAP_SINGLES")

    key_features: set[str] = set()
    if len(key_cols) == 1 and key_name in WRAPPING_FORMATS:
        key_features.add("UNWRAP_SINGLES")

    value_props: list[tuple[str, str]] = []
    key_props: list[tuple[str, str]] = []
    value_delim = _delimiter(props.get_str("VALUE_DELIMITER"))
    key_delim = _delimiter(props.get_str("KEY_DELIMITER"))
    if value_delim is None and inherited_value is not None and inherited_value.name == value_name:
        value_delim = inherited_value.property("delimiter")
    if key_delim is None and inherited_key is not None and inherited_key.name == key_name:
        key_delim = inherited_key.property("delimiter")
    if value_delim is not None:
        if value_name != "DELIMITED":
            raise StatementError("Delimiter only supported with DELIMITED format")
        value_props.append(("delimiter", value_delim))
    if key_delim is not None:
        if key_name != "DELIMITED":
            raise StatementError("Delimiter only supported with DELIMITED format")
        key_props.append(("delimiter", key_delim))
    for name, role in ((key_name, "KEY"), (value_name, "VALUE")):
        _reject_schema_registry_properties(props, name, role)
    return (FormatInfo(key_name, tuple(key_props), frozenset(key_features)),
            FormatInfo(value_name, tuple(value_props), frozenset(value_features)))


# The WITH properties that name a registry schema (ksqlDB's format property
# `fullSchemaName`), by key or value; schema ids are checked with the columns (sources.py).
_SCHEMA_NAME_PROPERTIES = {"KEY": ("KEY_SCHEMA_FULL_NAME",),
                           "VALUE": ("VALUE_SCHEMA_FULL_NAME", "VALUE_AVRO_SCHEMA_FULL_NAME")}


def _reject_schema_registry_properties(props: Properties, format_name: str, role: str) -> None:
    if format_name not in SCHEMA_REGISTRY_FORMATS and \
            any(prop in props for prop in _SCHEMA_NAME_PROPERTIES[role]):
        raise StatementError(f"{format_name} does not support the following configs: "
                             "[fullSchemaName]")


_DURATION = re.compile(r"^\s*(\d+)\s*([A-Za-z]+)\s*$")
_UNIT_MS = {"MILLISECOND": 1, "SECOND": 1000, "MINUTE": 60_000, "HOUR": 3_600_000,
            "DAY": 86_400_000}


def parse_duration_ms(text: str, prop: str = "WINDOW_SIZE") -> int:
    """'30 SECONDS' -> 30000, with ksqlDB's error text for bad input (a parse error there,
    as ksqlDB checks WITH values while building the statement)."""
    match = _DURATION.match(text)
    if not match:
        raise ParseError(f"Configuration {prop} is invalid: Invalid duration: '{text}'. "
                         "Format should be '<number> <time unit>'")
    unit = match.group(2).upper()
    base = unit[:-1] if unit.endswith("S") else unit
    if base not in _UNIT_MS:
        raise ParseError(f"Configuration {prop} is invalid: Invalid duration: '{text}'. "
                         f"Unknown time unit: '{unit}'")
    return int(match.group(1)) * _UNIT_MS[base]


def window_info(props: Properties) -> WindowInfo | None:
    window_type = props.get_str("WINDOW_TYPE")
    size = props.get_str("WINDOW_SIZE")
    if window_type is None:
        if size is not None:
            raise StatementError("'WINDOW_SIZE' should not be set without 'WINDOW_TYPE'.")
        return None
    window_type = window_type.strip().upper()
    if window_type not in ("TUMBLING", "HOPPING", "SESSION"):
        raise StatementError(f"Invalid WINDOW_TYPE: {window_type}. Valid values are "
                             "SESSION, HOPPING and TUMBLING.")
    if window_type == "SESSION":
        if size is not None:
            raise ParseError("'WINDOW_SIZE' should not be set for SESSION windows.")
        return WindowInfo("SESSION", None)
    if size is None:
        raise StatementError(f"{window_type} windows require 'WINDOW_SIZE' to be provided in "
                             "the WITH clause. For example: 'WINDOW_SIZE'='10 SECONDS'")
    return WindowInfo(window_type, parse_duration_ms(size))
