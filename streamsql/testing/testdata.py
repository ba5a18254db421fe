"""Test-data form <-> record bytes, per serialization format, with Kafka Streams window framing.

Independent of the engine's Arrow serdes on purpose: the runner must check the engine's
bytes against ksqlDB's wire rules, not against our own encoder.
"""
from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from streamsql.catalog.schema import Column, WindowInfo
from streamsql.testing.loader import Window

SCHEMA_REGISTRY_FORMATS = frozenset({"AVRO", "PROTOBUF", "PROTOBUF_NOSR", "JSON_SR"})
_KAFKA_STRUCTS = {"INTEGER": struct.Struct(">i"), "BIGINT": struct.Struct(">q"),
                  "DOUBLE": struct.Struct(">d")}
_WINDOW_BOUND = struct.Struct(">q")


class TestDataError(Exception):
    """Test data cannot be written in, or bytes cannot be read back from, a format."""

    __test__ = False


@dataclass(frozen=True)
class Serde:
    """How one side (key or value) of a topic's records is written.

    `format` None means no catalog source uses the topic: strings are written as UTF-8 and
    anything else as JSON text.
    """

    format: str | None
    columns: tuple[Column, ...] = ()
    window: WindowInfo | None = None  # key side of a windowed source


RAW = Serde(None)


# ---- encoding ---------------------------------------------------------------------------

def encode(data: Any, serde: Serde) -> bytes | None:
    """Bytes for test data in the serde's format; null data is a null payload."""
    if data is None:
        return None
    fmt = serde.format
    if fmt is None:
        return data.encode() if isinstance(data, str) else write_json(data).encode()
    if fmt == "JSON":
        return write_json(data).encode()
    if fmt == "DELIMITED":
        if not isinstance(data, str):
            raise TestDataError(f"DELIMITED test data must be a string, got {write_json(data)}")
        return data.encode()
    if fmt == "KAFKA":
        return _encode_kafka(data, serde.columns)
    if fmt == "NONE":
        return None
    if fmt in SCHEMA_REGISTRY_FORMATS:
        raise TestDataError(f"format {fmt} needs a schema registry")
    raise TestDataError(f"unknown format {fmt}")


def encode_key(data: Any, window: Window | None, serde: Serde) -> bytes | None:
    """Key bytes, framed as Kafka Streams frames windowed keys when `window` is given."""
    inner = encode(data, serde)
    if window is None:
        return inner
    if serde.window is None:
        raise TestDataError("a record has a 'window' but its topic's source is not windowed")
    inner = inner or b""
    if window.type == "session":
        return inner + _WINDOW_BOUND.pack(window.end) + _WINDOW_BOUND.pack(window.start)
    return inner + _WINDOW_BOUND.pack(window.start)


def _encode_kafka(data: Any, columns: tuple[Column, ...]) -> bytes:
    if not columns:
        return str(data).encode() if not isinstance(data, str) else data.encode()
    kind = _kafka_column(columns).type.kind
    if kind in _KAFKA_STRUCTS:
        number = _number(data, kind)
        try:
            return _KAFKA_STRUCTS[kind].pack(float(number) if kind == "DOUBLE" else int(number))
        except (struct.error, ValueError) as err:
            raise TestDataError(f"KAFKA {kind} cannot hold {write_json(data)}: {err}") from err
    if kind in ("STRING", "BYTES"):
        # BYTES test data is text, not base64 (a quirk of the reference harness).
        if not isinstance(data, str):
            raise TestDataError(f"KAFKA {kind} test data must be a string, got {write_json(data)}")
        return data.encode()
    raise TestDataError(f"the KAFKA format cannot serialize {kind}")


def _number(data: Any, kind: str) -> int | Decimal:
    """Test data for a numeric KAFKA column: a JSON number or a numeric string."""
    if isinstance(data, str):
        try:
            return Decimal(data)
        except ArithmeticError:
            pass
    elif isinstance(data, (int, Decimal)) and not isinstance(data, bool):
        return data
    raise TestDataError(f"KAFKA {kind} test data must be a number, got {write_json(data)}")


def _kafka_column(columns: tuple[Column, ...]) -> Column:
    if len(columns) > 1:
        raise TestDataError(f"the KAFKA format supports one column, the source has {len(columns)}")
    return columns[0]


def write_json(value: Any) -> str:
    """JSON text of test data; decimals keep their written digits and scale."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return "{" + ",".join(json.dumps(str(k), ensure_ascii=False) + ":" + write_json(v)
                              for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(write_json(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


# ---- decoding ---------------------------------------------------------------------------

def decode(payload: bytes | None, serde: Serde, *, exact_numbers: bool = True) -> Any:
    """The test-data form of actual bytes (section 6.1); a null payload is null.

    `exact_numbers` False reads JSON fractions as binary doubles
    (`use.exact.numeric.comparison: false`).
    """
    if payload is None:
        return None
    fmt = serde.format
    if fmt == "NONE":
        return None
    if fmt == "JSON":
        return _read_json(payload, exact_numbers)
    if fmt == "DELIMITED":
        return _utf8(payload)
    if fmt == "KAFKA":
        return _decode_kafka(payload, serde.columns)
    if fmt is None:
        try:
            return _read_json(payload, exact_numbers)
        except TestDataError:
            return _utf8(payload)
    if fmt in SCHEMA_REGISTRY_FORMATS:
        raise TestDataError(f"format {fmt} needs a schema registry")
    raise TestDataError(f"unknown format {fmt}")


def decode_key(payload: bytes | None, serde: Serde, *,
               exact_numbers: bool = True) -> tuple[Any, Window | None]:
    """The inner key and, for a windowed source, the window read from the key bytes."""
    info = serde.window
    if payload is None or info is None:
        return decode(payload, serde, exact_numbers=exact_numbers), None
    if info.is_session:
        if len(payload) < 16:
            raise TestDataError(f"session-windowed key too short: {len(payload)} bytes")
        end = _WINDOW_BOUND.unpack_from(payload, len(payload) - 16)[0]
        start = _WINDOW_BOUND.unpack_from(payload, len(payload) - 8)[0]
        inner, window = payload[:-16], Window(start, end, "session")
    else:
        if len(payload) < 8 or info.size_ms is None:
            raise TestDataError(f"time-windowed key too short: {len(payload)} bytes")
        start = _WINDOW_BOUND.unpack_from(payload, len(payload) - 8)[0]
        # Only the start is on the wire; the end comes from the key format's window size.
        inner, window = payload[:-8], Window(start, start + info.size_ms, "time")
    return decode(inner, serde, exact_numbers=exact_numbers), window


def _decode_kafka(payload: bytes, columns: tuple[Column, ...]) -> Any:
    if not columns:
        return _utf8(payload)
    kind = _kafka_column(columns).type.kind
    if kind in _KAFKA_STRUCTS:
        layout = _KAFKA_STRUCTS[kind]
        if len(payload) != layout.size:
            raise TestDataError(f"KAFKA {kind} needs {layout.size} bytes, got {len(payload)}")
        number = layout.unpack(payload)[0]
        # A KAFKA DOUBLE is compared as the decimal of Java's shortest text for it.
        return Decimal(java_double_text(number)) if kind == "DOUBLE" else number
    if kind in ("STRING", "BYTES"):
        return _utf8(payload)
    raise TestDataError(f"the KAFKA format cannot deserialize {kind}")


def _read_json(payload: bytes, exact_numbers: bool) -> Any:
    try:
        return json.loads(_utf8(payload), parse_float=Decimal if exact_numbers else float)
    except ValueError as err:
        raise TestDataError(f"not valid JSON: {err}: {payload[:80]!r}") from err


def _utf8(payload: bytes) -> str:
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError as err:
        raise TestDataError(f"not valid UTF-8: {payload[:80]!r}") from err


def java_double_text(value: float) -> str:
    """Java's Double.toString: shortest round-trip digits, `1.0`, `1.5E-4`, `1.0E7`."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    sign, digits, exponent = Decimal(repr(value)).as_tuple()
    text = "".join(map(str, digits)).rstrip("0") or "0"
    point = len(digits) + exponent  # position of the decimal point in `digits`
    prefix = "-" if sign else ""
    if 1e-3 <= abs(value) < 1e7:
        if point <= 0:
            return f"{prefix}0.{'0' * -point}{text}"
        whole = text[:point].ljust(point, "0")
        fraction = text[point:] or "0"
        return f"{prefix}{whole}.{fraction}"
    fraction = text[1:] or "0"
    return f"{prefix}{text[0]}.{fraction}E{point - 1}"
