"""The JSON format: record bytes <-> Arrow columns with ksqlDB's coercions and number text.

Decoding reads a batch of flat objects with Arrow's JSON reader when that gives exactly
what ksqlDB's rules give (see _ColumnarReader), and otherwise parses with orjson (exact
decimals where a DECIMAL column needs them) and coerces column by column; encoding renders
each column's JSON text and joins rows with one vectorized Arrow call. No schema registry
here (that is JSON_SR).
"""
from __future__ import annotations

import base64
import binascii
import json
import re
from decimal import Decimal, InvalidOperation
from typing import Any, Callable, Sequence

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from streamsql.catalog.schema import Column
from streamsql.catalog.types import SqlType
from streamsql.serde.base import (CoercionError, Decoded, conformed_column, empty_table, has_kind,
                                  plain_values, to_arrow_array)
from streamsql.serde.numbers import (INT_MAX, INT_MIN, LONG_MAX, LONG_MIN, decimal_text,
                                     fit_decimal, integer_part, java_double_text,
                                     parse_java_double, parse_java_int, parse_java_long,
                                     wrap_int, wrap_long)

_MISSING = object()
_EMPTY: dict = {}


class _NeedsExactNumbers(Exception):
    """A float reached a place where its written digits matter (DECIMAL, STRING)."""


# ---- decoding ------------------------------------------------------------------------------

def _node_name(value: Any) -> str:
    """Jackson's node class for a parsed value; ksqlDB puts it in coercion errors."""
    kind = type(value)
    if kind is str:
        return "TextNode"
    if kind is bool:
        return "BooleanNode"
    if kind is int:
        if INT_MIN <= value <= INT_MAX:
            return "IntNode"
        return "LongNode" if LONG_MIN <= value <= LONG_MAX else "BigIntegerNode"
    if kind in (float, Decimal):
        return "DecimalNode"  # ksqlDB parses floats as BigDecimal
    if kind is dict:
        return "ObjectNode"
    if kind is list:
        return "ArrayNode"
    return kind.__name__


def _cannot_convert(value: Any, sql_type: SqlType) -> CoercionError:
    return CoercionError(f"Can't convert type. sourceType: {_node_name(value)}, "
                         f"requiredType: {sql_type.sql()}")


def _integral(required: SqlType, parse: Callable[[str], int], wrap: Callable[[int], int]):
    def convert(value):
        kind = type(value)
        if kind is int:
            return wrap(value)
        if kind is float or kind is Decimal:
            return wrap(integer_part(value))  # BigDecimal.intValue/longValue narrowing
        if kind is str:
            try:
                return parse(value)
            except ValueError:
                raise CoercionError(f"Can't coerce string to type. targetType: {required.kind}") \
                    from None
        raise _cannot_convert(value, required)
    return convert


def _to_boolean(value):
    if type(value) is bool:
        return value
    raise _cannot_convert(value, SqlType("BOOLEAN"))


def _to_double(value):
    kind = type(value)
    if kind is float or kind is int or kind is Decimal:
        return float(value)
    if kind is str:
        try:
            return parse_java_double(value)
        except ValueError:
            raise CoercionError("Can't coerce string to type. targetType: DOUBLE") from None
    raise _cannot_convert(value, SqlType("DOUBLE"))


def _json_text(value) -> str:
    """Compact JSON of a parsed value, numbers as written (Decimal) — Jackson's output."""
    def fragment(obj):
        if type(obj) is Decimal:
            return orjson.Fragment(str(obj))
        raise TypeError(obj)
    return orjson.dumps(value, default=fragment).decode()


def _contains_float(value) -> bool:
    if type(value) is float:
        return True
    if type(value) is dict:
        return any(_contains_float(v) for v in value.values())
    if type(value) is list:
        return any(_contains_float(v) for v in value)
    return False


def _to_string(value):
    kind = type(value)
    if kind is str:
        return value
    if kind is bool:
        return "true" if value else "false"
    if kind is int or kind is Decimal:
        return str(value)  # Decimal's str is BigDecimal.toString
    if kind is float:
        raise _NeedsExactNumbers()
    if kind is dict:
        if _contains_float(value):
            raise _NeedsExactNumbers()
        return _json_text(value)
    if kind is list:
        # ksqlDB renders an array as its elements' strings joined by ", " in brackets.
        return "[" + ", ".join("null" if v is None else _to_string(v) for v in value) + "]"
    raise _cannot_convert(value, SqlType("STRING"))


def _decimal_converter(sql_type: SqlType):
    def convert(value):
        kind = type(value)
        if kind is float:
            raise _NeedsExactNumbers()
        if kind is int or kind is Decimal:
            number = Decimal(value)
        elif kind is str:
            try:
                number = Decimal(value)
            except InvalidOperation:
                raise CoercionError("Can't coerce string to type. targetType: DECIMAL") from None
            # Python also reads "NaN", blanks and "1_0"; Java's BigDecimal does not.
            if not number.is_finite() or value != value.strip() or "_" in value:
                raise CoercionError("Can't coerce string to type. targetType: DECIMAL")
        else:
            raise _cannot_convert(value, sql_type)
        try:
            return fit_decimal(number, sql_type.precision, sql_type.scale)
        except ValueError as error:
            raise CoercionError(str(error)) from None
    return convert


def _to_bytes(value):
    if type(value) is str:
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise CoercionError(f"Value is not a valid Base64 encoded string: {value}") from None
    raise _cannot_convert(value, SqlType("BYTES"))


def _matching_key(keys, name: str) -> str | None:
    """ksqlDB's field matching: the field called name, else the (last) field whose upper case
    is name; None if there is none."""
    if name in keys:
        return name
    match = None
    for key in keys:
        if key.upper() == name:
            match = key  # ksqlDB keeps the last of fields differing only in case
    return match


def _field_lookup(obj: dict, name: str):
    found = obj.get(name, _MISSING)
    return obj.get(_matching_key(obj, name)) if found is _MISSING else found


def value_converter(sql_type: SqlType) -> Callable[[Any], Any]:
    """A function from one parsed non-null JSON value to the column value, or CoercionError.

    TIME comes out in microseconds, matching the Arrow column.
    """
    kind = sql_type.kind
    if kind == "BOOLEAN":
        return _to_boolean
    if kind in ("INTEGER", "DATE"):
        return _integral(sql_type, parse_java_int, wrap_int)
    if kind in ("BIGINT", "TIMESTAMP"):
        return _integral(sql_type, parse_java_long, wrap_long)
    if kind == "TIME":
        millis = _integral(sql_type, parse_java_int, wrap_int)
        return lambda value: millis(value) * 1000
    if kind == "DOUBLE":
        return _to_double
    if kind == "STRING":
        return _to_string
    if kind == "DECIMAL":
        return _decimal_converter(sql_type)
    if kind == "BYTES":
        return _to_bytes
    if kind == "ARRAY":
        element = _nullable(value_converter(sql_type.element))

        def convert_array(value):
            if type(value) is not list:
                raise _cannot_convert(value, sql_type)
            out = []
            for index, item in enumerate(value):
                try:
                    out.append(element(item))
                except CoercionError as error:
                    raise error.within(f"[{index}]") from None
            return out
        return convert_array
    if kind == "MAP":
        map_value = _nullable(value_converter(sql_type.element))

        def convert_map(value):
            if type(value) is not dict:
                raise _cannot_convert(value, sql_type)
            out = []
            for key, item in value.items():
                try:
                    out.append((key, map_value(item)))
                except CoercionError as error:
                    raise error.within(f".{key}.value") from None
            return out
        return convert_map
    if kind == "STRUCT":
        fields = [(name, _nullable(value_converter(t))) for name, t in sql_type.fields]

        def convert_struct(value):
            if type(value) is not dict:
                raise _cannot_convert(value, sql_type)
            out = {}
            for name, convert in fields:
                try:
                    out[name] = convert(_field_lookup(value, name))
                except CoercionError as error:
                    raise error.within(f".{name}") from None
            return out
        return convert_struct
    raise ValueError(f"JSON cannot carry {sql_type}")


def _nullable(convert):
    return lambda value: None if value is None else convert(value)


# Python types that pa.array turns into the column type exactly as ksqlDB coerces them, so a
# column made only of these skips the per-value converter.
_FAST_TYPES = {
    "BOOLEAN": {bool}, "INTEGER": {int}, "BIGINT": {int}, "DOUBLE": {float, int},
    "STRING": {str}, "DATE": {int}, "TIMESTAMP": {int},
}


class _ColumnDecoder:
    def __init__(self, column: Column, path: str):
        self.column = column
        self.path = path
        self.fast_types = _FAST_TYPES.get(column.type.kind, set()) | {type(None)}
        self.convert = value_converter(column.type)

    def decode(self, values: list, errors: dict[int, str]) -> pa.Array:
        """Arrow array of the column; rows that fail are recorded in errors and left null."""
        if set(map(type, values)) <= self.fast_types:
            try:
                return to_arrow_array(values, self.column.type)
            except (pa.ArrowInvalid, OverflowError):
                pass  # out of the type's range: Java narrows, the slow path does too
        convert = self.convert
        out = []
        for row, value in enumerate(values):
            if value is None:
                out.append(None)
                continue
            try:
                out.append(convert(value))
            except CoercionError as error:
                errors.setdefault(row, error.within(self.path).reason())
                out.append(None)
        return to_arrow_array(out, self.column.type)


def _reject_constant(name: str):
    raise ValueError(f"Non-standard token '{name}'")  # Jackson rejects NaN/Infinity by default


def _parse_exact(payload: bytes):
    return json.loads(payload, parse_float=Decimal, parse_constant=_reject_constant)


def _parse_fast(payload: bytes):
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError:
        # orjson stops at 64-bit integers; the exact parser takes any size.
        return _parse_exact(payload)


class JsonSerde:
    """JSON values or keys: an object of columns, or a bare value for an unwrapped single."""

    def __init__(self, columns: Sequence[Column], *, unwrapped: bool):
        self.columns = tuple(columns)
        self.unwrapped = unwrapped
        self.struct_type = SqlType.struct([(c.name, c.type) for c in columns])
        paths = ["$" if unwrapped else f"$.{c.name}" for c in self.columns]
        self._decoders = [_ColumnDecoder(c, p) for c, p in zip(self.columns, paths)]
        self._exact_numbers = any(has_kind(c.type, "DECIMAL") for c in self.columns)
        self._writers = [fragment_writer(c.type) for c in self.columns]
        self._prefixes = [("{" if i == 0 else ",") + orjson.dumps(c.name).decode() + ":"
                          for i, c in enumerate(self.columns)]
        self._columnar = None if unwrapped else _ColumnarReader.for_columns(self.columns)

    def decode_array(self, payloads: pa.Array) -> Decoded:
        """decode() over a binary array: one Arrow JSON read for the common batch."""
        if self._columnar is not None:
            table = self._columnar.read(payloads)
            if table is not None:
                return Decoded(table)
        return self.decode(payloads.to_pylist())

    # ---- decode -------------------------------------------------------------------------
    def decode(self, payloads: Sequence[bytes | None]) -> Decoded:
        if not self.columns:
            return Decoded(empty_table(len(payloads)))
        if not self._exact_numbers:
            try:
                return self._decode(payloads, _parse_fast)
            except _NeedsExactNumbers:
                pass  # a float went into a STRING column: its text must be kept as written
        return self._decode(payloads, _parse_exact)

    def _decode(self, payloads, parse) -> Decoded:
        errors: dict[int, str] = {}
        try:
            documents = list(map(parse, payloads))  # the common batch: every payload parses
        except (ValueError, TypeError):
            documents = _parse_each(payloads, parse, errors)
        if self.unwrapped:
            column_values = [documents]
        else:
            column_values = self._split_objects(documents, errors)
        arrays = [decoder.decode(values, errors)
                  for decoder, values in zip(self._decoders, column_values)]
        if errors and len(arrays) > 1:
            arrays = _null_rows(arrays, errors, len(payloads))
        return Decoded(pa.table(arrays, names=[c.name for c in self.columns]), errors)

    def _split_objects(self, documents: list, errors: dict[int, str]) -> list[list]:
        """One list of raw JSON values per column, matching field names as ksqlDB does."""
        objects = documents
        if set(map(type, documents)) != {dict}:
            objects = []
            for row, document in enumerate(documents):
                if document is None or type(document) is dict:
                    objects.append(document or _EMPTY)
                else:
                    errors[row] = _cannot_convert(document, self.struct_type).within("$").reason()
                    objects.append(_EMPTY)
        columns = [[obj.get(c.name, _MISSING) for obj in objects] for c in self.columns]
        missing = [i for i, values in enumerate(columns) if _MISSING in values]
        if missing:
            # Rows of a batch mostly share one set of field names: resolve each name once per
            # set instead of once per row.
            shapes: dict[tuple, list[int]] = {}
            for row, obj in enumerate(objects):
                shapes.setdefault(tuple(obj), []).append(row)
            for i in missing:
                name = self.columns[i].name
                if len(shapes) == 1:
                    key = _matching_key(next(iter(shapes)), name)
                    columns[i] = [obj.get(key) for obj in objects]
                    continue
                values = columns[i]
                for shape, rows in shapes.items():
                    key = _matching_key(shape, name)
                    for row in rows:
                        values[row] = objects[row].get(key)
        return columns

    # ---- encode -------------------------------------------------------------------------
    def encode(self, table: pa.Table) -> list[bytes | None]:
        return self.encode_array(table).to_pylist()

    def encode_array(self, table: pa.Table) -> pa.Array:
        """The records' bytes as a binary array (null: no value)."""
        if not self.columns:
            return pa.nulls(table.num_rows, pa.binary())
        if self.unwrapped:
            column = conformed_column(table, self.columns[0])
            # A null unwrapped value is a null record, as ksqlDB's serializer returns null.
            texts = pc.if_else(pc.is_null(column), pa.scalar(None, pa.string()),
                               self._writers[0](column))
            return pc.cast(texts, pa.binary())
        # Interleave the fixed `{"NAME":` pieces with the column fragments and join each row
        # in one vectorized call.
        pieces: list = []
        for prefix, writer, column in zip(self._prefixes, self._writers, self.columns):
            pieces += [prefix, writer(conformed_column(table, column))]
        rows = pc.binary_join_element_wise(*pieces, "}", "")
        return pc.cast(rows, pa.binary())


# Column types Arrow's JSON reader converts exactly as ksqlDB coerces them, as read: any other
# JSON value (a string for a DOUBLE, 1.5 for a BIGINT, ...) makes the read fail, and the batch
# takes the per-record path, which coerces or reports it.
_COLUMNAR_READ_TYPES = {"BOOLEAN": pa.bool_(), "INTEGER": pa.int64(), "BIGINT": pa.int64(),
                        "DOUBLE": pa.float64(), "STRING": pa.string()}
# JSON Arrow reads but Jackson does not parse alike: non-standard NaN/Infinity tokens, escapes
# (surrogates, escaped field names), carriage returns (line breaks for Arrow). Checked on the
# raw text, strings included, so the check may send a good batch the slow way, never a bad
# one the fast way.
_UNLIKE_JACKSON = (b"NaN", b"Infinity", b"\\u", b"\r")
# An integer zero with a minus sign: Jackson reads 0 (an IntNode), Arrow -0.0 for a DOUBLE.
# (The pattern starts with its literal so that re scans for "-0" at C speed.)
_NEGATIVE_INTEGER_ZERO = re.compile(rb"-0(?![.\deE])(?<=[:\[,\s]-0)")
# One thread: queries run side by side on few cores, and threads cost more than they
# save on a batch-sized read.
_READ_OPTIONS = pa_json.ReadOptions(use_threads=False)


class _ColumnarReader:
    """Decodes a batch of JSON objects with one Arrow JSON read, when that read gives exactly
    what the per-record path would; read() returns None otherwise (the caller falls back).

    The common batch, objects whose fields have plain values of the columns' types, takes
    this path; anything unusual (nulls, bad JSON, coercions, field names that match a
    column only in some rows) takes the per-record path, which handles every case.
    """

    def __init__(self, columns: Sequence[Column]):
        self.columns = columns
        self.names = {c.name for c in columns}
        self.read_types = [_COLUMNAR_READ_TYPES[c.type.kind] for c in columns]
        self.has_double = any(c.type.kind == "DOUBLE" for c in columns)
        self._options: dict[tuple[str, ...], pa_json.ParseOptions] = {}

    @classmethod
    def for_columns(cls, columns: Sequence[Column]) -> "_ColumnarReader | None":
        if not columns or any(c.type.kind not in _COLUMNAR_READ_TYPES for c in columns):
            return None
        return cls(columns)

    def read(self, payloads: pa.Array) -> pa.Table | None:
        n = len(payloads)
        if n == 0 or payloads.null_count:
            return None
        try:
            pc.cast(payloads, pa.string())  # Jackson rejects what is not UTF-8; Arrow may not
        except pa.ArrowInvalid:
            return None
        text = _ndjson(payloads)
        if text.count(b"\n") != n or any(token in text for token in _UNLIKE_JACKSON):
            return None
        if self.has_double and _NEGATIVE_INTEGER_ZERO.search(text):
            return None
        try:
            first = orjson.loads(payloads[0].as_py())
        except orjson.JSONDecodeError:
            return None
        if type(first) is not dict:
            return None
        # Each column reads the field that matches it in the first record (ksqlDB matches
        # names exactly, else case-insensitively); a batch whose records disagree on that
        # is detected below and falls back.
        fields = tuple(_matching_key(first, c.name) or c.name for c in self.columns)
        for field, column in zip(fields, self.columns):
            if field != column.name and b'"' + column.name.encode() + b'"' in text:
                return None
        try:
            table = pa_json.read_json(pa.BufferReader(text), read_options=_READ_OPTIONS,
                                      parse_options=self._parse_options(fields))
        except (pa.ArrowInvalid, ValueError):
            return None
        if table.num_rows != n:
            return None
        for name in table.column_names:
            if name not in fields and name.upper() in self.names:
                return None  # another spelling of a column's field: per-record matching
        arrays = []
        for field, column in zip(fields, self.columns):
            values = table.column(field).combine_chunks()
            if column.type.kind == "INTEGER":
                low, high = pc.min_max(values).values()
                if low.is_valid and (low.as_py() < INT_MIN or high.as_py() > INT_MAX):
                    return None  # Java narrows out-of-range ints: the per-record path does too
                values = values.cast(pa.int32())
            arrays.append(values)
        return pa.table(arrays, names=[c.name for c in self.columns])

    def _parse_options(self, fields: tuple[str, ...]) -> pa_json.ParseOptions:
        options = self._options.get(fields)
        if options is None:
            schema = pa.schema(list(zip(fields, self.read_types)))
            options = self._options[fields] = pa_json.ParseOptions(
                explicit_schema=schema, unexpected_field_behavior="infer")
        return options


def _ndjson(payloads: pa.Array) -> bytes:
    """The payloads as newline-delimited text (each followed by a newline)."""
    lines = pc.binary_join_element_wise(payloads, _NO_TEXT, _LINE_END)
    _, offsets, data = lines.buffers()
    bounds = pa.Array.from_buffers(pa.int32(), len(lines) + 1, [None, offsets],
                                   offset=lines.offset)
    return data[bounds[0].as_py():bounds[len(lines)].as_py()].to_pybytes()


# Typed scalars: an untyped one makes pyarrow infer its type, which tries an import each time.
_NO_TEXT, _LINE_END = pa.scalar(b"", pa.binary()), pa.scalar(b"\n", pa.binary())


def _parse_each(payloads, parse, errors: dict[int, str]) -> list:
    """Parse payloads one by one: null or blank payloads are null, bad ones row errors."""
    documents = []
    for row, payload in enumerate(payloads):
        if payload is None or not payload.strip():
            documents.append(None)
            continue
        try:
            documents.append(parse(payload))
        except ValueError as error:
            errors[row] = f"Invalid JSON: {error}"
            documents.append(None)
    return documents


def _null_rows(arrays: list[pa.Array], errors: dict[int, str], num_rows: int) -> list[pa.Array]:
    """Null every column of the failed rows (a row fails as a whole)."""
    mask = pa.array([row in errors for row in range(num_rows)], pa.bool_())
    return [pc.if_else(mask, pa.scalar(None, a.type), a) for a in arrays]


# ---- encoding ----------------------------------------------------------------------------

_NULL = "null"
# Jackson writes non-finite doubles as strings by default.
_NON_FINITE = {"NaN": '"NaN"', "Infinity": '"Infinity"', "-Infinity": '"-Infinity"'}
# Characters JSON strings must escape; strings without them are quoted without a Python call.
_NEEDS_ESCAPE = r'[\x00-\x1f"\\]'


def _double_json(value: float) -> str:
    text = java_double_text(value)
    return _NON_FINITE.get(text, text)


def _strings(values: list) -> pa.Array:
    return pa.array(values, pa.string())


def fragment_writer(sql_type: SqlType) -> Callable[[pa.ChunkedArray], pa.Array]:
    """A function from a column to its JSON text per row, as a string array ("null" for nulls)."""
    kind = sql_type.kind
    if kind in ("INTEGER", "BIGINT", "DATE", "TIMESTAMP", "TIME"):
        def write_integers(column):
            numbers = pc.cast(column, pa.int32() if kind == "DATE" else pa.int64())
            if kind == "TIME":
                numbers = pc.divide(numbers, 1000)  # microseconds on the column, ms on the wire
            return pc.fill_null(pc.cast(numbers, pa.string()), _NULL)
        return write_integers
    if kind == "BOOLEAN":
        return lambda column: pc.fill_null(pc.if_else(column, "true", "false"), _NULL)
    if kind == "STRING":
        return _write_strings
    if kind == "DOUBLE":
        return _write_doubles
    if kind == "DECIMAL":
        scale = sql_type.scale
        return lambda column: _strings([_NULL if v is None else decimal_text(v, scale)
                                        for v in column.to_pylist()])
    to_jsonable = jsonable_converter(sql_type)
    return lambda column: _strings([_NULL if v is None else orjson.dumps(to_jsonable(v)).decode()
                                    for v in plain_values(column, sql_type)])


# Java's Double.toString writes [1e-3, 1e7) in fixed notation. (Typed scalars: see _ndjson.)
_ZERO, _FIXED_LOW, _FIXED_HIGH = (pa.scalar(v, pa.float64()) for v in (0.0, 1e-3, 1e7))
_POINT_ZERO, _EMPTY_TEXT = pa.scalar(".0", pa.string()), pa.scalar("", pa.string())


def _write_doubles(column: pa.ChunkedArray) -> pa.Array:
    """Java's Double.toString text per value.

    Inside Java's fixed-notation range (and for zeros) Arrow's shortest round-trip text is
    Java's once a missing ".0" is added; the other values go through java_double_text.
    """
    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    magnitude = pc.abs(column)
    fixed = pc.fill_null(pc.or_(pc.equal(magnitude, _ZERO), pc.and_(
        pc.greater_equal(magnitude, _FIXED_LOW), pc.less(magnitude, _FIXED_HIGH))), False)
    texts = pc.cast(column, pa.string())
    texts = pc.if_else(pc.match_substring(texts, "."), texts,
                       pc.binary_join_element_wise(texts, _POINT_ZERO, _EMPTY_TEXT))
    others = pc.and_(pc.invert(fixed), pc.is_valid(column))
    if pc.any(others).as_py():
        exact = [_double_json(v) if other else None
                 for v, other in zip(column.to_pylist(), others.to_pylist())]
        texts = pc.if_else(others, _strings(exact), texts)
    return pc.fill_null(texts, _NULL)


def _write_strings(column: pa.ChunkedArray) -> pa.Array:
    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    quoted = pc.binary_join_element_wise('"', column, '"', "")
    needs_escape = pc.fill_null(pc.match_substring_regex(column, _NEEDS_ESCAPE), False)
    if pc.any(needs_escape).as_py():
        escaped = [json.dumps(v, ensure_ascii=False) if v is not None else None
                   for v in column.to_pylist()]
        quoted = pc.if_else(needs_escape, _strings(escaped), quoted)
    return pc.fill_null(quoted, _NULL)


def jsonable_converter(sql_type: SqlType) -> Callable[[Any], Any]:
    """A function from a plain Python value (see base.plain_values) to what orjson writes the
    way ksqlDB does: doubles in Java text, decimals with their scale, bytes as base64."""
    kind = sql_type.kind
    if kind == "DOUBLE":
        return lambda v: orjson.Fragment(_double_json(v))
    if kind == "DECIMAL":
        scale = sql_type.scale
        return lambda v: orjson.Fragment(decimal_text(v, scale))
    if kind == "BYTES":
        return lambda v: base64.b64encode(v).decode()
    if kind == "TIME":
        return lambda v: v // 1000
    if kind == "ARRAY":
        element = jsonable_converter(sql_type.element)
        return lambda v: [None if e is None else element(e) for e in v]
    if kind == "MAP":
        item = jsonable_converter(sql_type.element)
        return lambda v: {k: None if e is None else item(e) for k, e in v}
    if kind == "STRUCT":
        fields = [(name, jsonable_converter(t)) for name, t in sql_type.fields]
        return lambda v: {name: None if v[name] is None else convert(v[name])
                          for name, convert in fields}
    return lambda v: v
