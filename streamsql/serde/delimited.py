"""The DELIMITED format: one CSV record per message, columns in order, empty field = null.

Reading follows RFC 4180 quoting; writing reproduces the minimal quoting of Apache Commons CSV
that ksqlDB uses, so written bytes match ksqlDB's byte for byte.
"""
from __future__ import annotations

import base64
import binascii
import csv
import re
from decimal import Decimal, InvalidOperation
from typing import Callable, Sequence

import pyarrow as pa
import pyarrow.compute as pc

from streamsql.catalog.schema import Column, FormatInfo
from streamsql.catalog.types import SqlType
from streamsql.errors import StatementError
from streamsql.serde.base import Decoded, build_table, conformed_column, empty_table
from streamsql.serde.numbers import (decimal_text, fit_decimal, java_double_text,
                                     parse_java_double, parse_java_int, parse_java_long)

SUPPORTED_KINDS = ("BOOLEAN", "INTEGER", "BIGINT", "DOUBLE", "DECIMAL", "STRING", "BYTES", "DATE",
                   "TIME", "TIMESTAMP")
_NAMED_DELIMITERS = {"TAB": "\t", "SPACE": " "}


def delimiter_of(fmt: FormatInfo) -> str:
    """The delimiter character of a DELIMITED format (property `delimiter`, default comma)."""
    text = fmt.property("delimiter")
    if text is None:
        return ","
    if text.upper() in _NAMED_DELIMITERS:
        return _NAMED_DELIMITERS[text.upper()]
    if text == "":
        raise StatementError("Delimiter cannot be empty, if you meant to have a tab or space for "
                             "delimiter, please use the special values 'TAB' or 'SPACE'")
    if len(text) != 1:
        raise StatementError(f"Invalid delimiter value: '{text}'. Delimiter must be a single "
                             "character or TAB or SPACE")
    return text


# ---- reading -------------------------------------------------------------------------------

def _parse_boolean(text: str) -> bool:
    return text.lower() == "true"  # Boolean.parseBoolean: anything else is false


def _parse_bytes(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"Value is not a valid Base64 encoded string: {text}") from None


def _decimal_parser(sql_type: SqlType) -> Callable[[str], Decimal]:
    def parse(text: str) -> Decimal:
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise ValueError(f"Invalid DECIMAL value: {text}") from None
        # Python also reads "NaN", blanks and "1_0"; Java's BigDecimal does not.
        if not number.is_finite() or text != text.strip() or "_" in text:
            raise ValueError(f"Invalid DECIMAL value: {text}")
        return fit_decimal(number, sql_type.precision, sql_type.scale)
    return parse


def field_parser(sql_type: SqlType) -> Callable[[str], object]:
    """Text of one non-empty field to the column value (TIME in microseconds), or ValueError."""
    kind = sql_type.kind
    parsers: dict[str, Callable[[str], object]] = {
        "STRING": str,
        "BOOLEAN": _parse_boolean,
        "INTEGER": parse_java_int,
        "DATE": parse_java_int,
        "TIME": lambda text: parse_java_int(text) * 1000,
        "BIGINT": parse_java_long,
        "TIMESTAMP": parse_java_long,
        "DOUBLE": parse_java_double,
        "BYTES": _parse_bytes,
    }
    if kind == "DECIMAL":
        return _decimal_parser(sql_type)
    if kind not in parsers:
        raise ValueError(f"DELIMITED cannot carry {sql_type}")
    return parsers[kind]


class DelimitedSerde:
    def __init__(self, columns: Sequence[Column], delimiter: str = ",", *, is_key: bool = False):
        self.columns = tuple(columns)
        self.delimiter = delimiter
        self.is_key = is_key
        self._parsers = [field_parser(c.type) for c in self.columns]

    def decode(self, payloads: Sequence[bytes | None]) -> Decoded:
        if not self.columns:
            return Decoded(empty_table(len(payloads)))  # e.g. a key nobody declared
        width = len(self.columns)
        values: list[list] = [[None] * len(payloads) for _ in self.columns]
        errors: dict[int, str] = {}
        for row, payload in enumerate(payloads):
            if payload is None:
                continue
            try:
                fields = self._split(payload.decode("utf-8", "replace"))
            except csv.Error as error:
                errors[row] = f"Invalid CSV record: {error}"
                continue
            if len(fields) != width:
                errors[row] = (f"Column count mismatch on deserialization. expected: {width}, "
                               f"got: {len(fields)}")
                continue
            try:
                parsed = [None if text == "" else parse(text)
                          for parse, text in zip(self._parsers, fields)]
            except ValueError as error:
                errors[row] = str(error)
                continue
            for column_values, value in zip(values, parsed):
                column_values[row] = value
        return Decoded(build_table(self.columns, values, len(payloads)), errors)

    def _split(self, text: str) -> list[str]:
        if '"' not in text and "\n" not in text and "\r" not in text:
            return text.split(self.delimiter)  # nothing quoted: CSV reads it the same way
        return next(csv.reader([text], delimiter=self.delimiter, quotechar='"',
                               doublequote=True, strict=False), [""])

    def encode(self, table: pa.Table) -> list[bytes | None]:
        if not self.columns:
            return [None] * table.num_rows
        texts = [_field_texts(conformed_column(table, column), column.type)
                 for column in self.columns]
        fields = [_quoted(text, self.delimiter, first_in_record=(i == 0))
                  for i, text in enumerate(texts)]
        records = pc.binary_join_element_wise(*fields, self.delimiter)
        if self.is_key:
            # A key with no values is a null key, not an empty line.
            all_null = texts[0].is_null()
            for text in texts[1:]:
                all_null = pc.and_(all_null, text.is_null())
            records = pc.if_else(all_null, pa.scalar(None, pa.string()), records)
        return pc.cast(records, pa.binary()).to_pylist()


# ---- writing -------------------------------------------------------------------------------

def _field_texts(column: pa.ChunkedArray, sql_type: SqlType) -> pa.Array:
    """Each value's field text as ksqlDB writes it, unquoted; nulls stay null."""
    kind = sql_type.kind
    column = column.combine_chunks()
    if kind == "STRING":
        return column
    if kind == "BOOLEAN":
        return pc.if_else(column, "true", "false")
    if kind in ("INTEGER", "BIGINT", "DATE", "TIMESTAMP", "TIME"):
        numbers = pc.cast(column, pa.int32() if kind == "DATE" else pa.int64())
        if kind == "TIME":
            numbers = pc.divide(numbers, 1000)  # microseconds on the column, ms on the wire
        return pc.cast(numbers, pa.string())
    values = column.to_pylist()
    if kind == "DOUBLE":
        texts = [None if v is None else java_double_text(v) for v in values]
    elif kind == "DECIMAL":
        texts = [None if v is None else decimal_text(v, sql_type.scale, plain=True)
                 for v in values]
    elif kind == "BYTES":
        texts = [None if v is None else base64.b64encode(v).decode() for v in values]
    else:
        raise ValueError(f"DELIMITED cannot carry {sql_type}")
    return pa.array(texts, pa.string())


def _quoted(texts: pa.Array, delimiter: str, *, first_in_record: bool) -> pa.Array:
    """Fields quoted by Commons CSV's MINIMAL rule (the version ksqlDB ships); null -> empty.

    Any field holding a line break, a quote or the delimiter, or ending in a blank or control
    character, is quoted; so is one starting at or below '#', and the first field of a record
    unless it starts with an ASCII letter or digit (an empty first field too: alone it would
    read back as an empty line).
    """
    special = "\\n\\r\"" + re.escape(delimiter)
    rule = f"[{special}]|[\\x00- ]$|^[\\x00-#]"
    if first_in_record:
        rule += "|^$|^[^0-9A-Za-z]"
    needs_quotes = pc.match_substring_regex(texts, rule)
    quoted = pc.binary_join_element_wise('"', pc.replace_substring(texts, '"', '""'), '"', "")
    return pc.fill_null(pc.if_else(needs_quotes, quoted, texts), "")
