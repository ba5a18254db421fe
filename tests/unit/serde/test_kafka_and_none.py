"""KAFKA and NONE formats: Kafka's primitive serializer layouts, and no columns at all."""
import struct

import pytest

from streamsql.catalog.schema import KEY, Column, FormatInfo
from streamsql.catalog.types import BIGINT, BYTES, DOUBLE, INTEGER, STRING
from streamsql.serde import make_serde

KAFKA = FormatInfo("KAFKA")
NONE = FormatInfo("NONE")


@pytest.mark.parametrize("sql_type,value,payload", [
    (INTEGER, 2, struct.pack(">i", 2)),
    (INTEGER, -1, b"\xff\xff\xff\xff"),
    (BIGINT, 10000000000, struct.pack(">q", 10000000000)),
    (DOUBLE, 2.2, struct.pack(">d", 2.2)),
    (STRING, "bär", "bär".encode()),
    (BYTES, b"\x00\x01", b"\x00\x01"),
])
def test_single_primitive_round_trips_in_kafka_layout(sql_type, value, payload):
    serde = make_serde(KAFKA, [Column("V", sql_type)], is_key=False)
    decoded = serde.decode([payload, None])
    assert decoded.table.column("V").to_pylist() == [value, None]
    assert decoded.errors == {}
    assert serde.encode(decoded.table) == [payload, None]


@pytest.mark.parametrize("sql_type,deserializer,size", [
    (INTEGER, "IntegerDeserializer", 4), (BIGINT, "LongDeserializer", 8),
    (DOUBLE, "DoubleDeserializer", 8)])
def test_wrong_payload_size_is_a_row_error(sql_type, deserializer, size):
    serde = make_serde(KAFKA, [Column("K", sql_type, KEY)], is_key=True)
    decoded = serde.decode([b"\x00" * size, b"abc", b""])
    assert decoded.errors == {1: f"Size of data received by {deserializer} is not {size}",
                              2: f"Size of data received by {deserializer} is not {size}"}
    assert decoded.table.column("K").to_pylist()[0] == 0


def test_invalid_utf8_is_replaced_like_java():
    serde = make_serde(KAFKA, [Column("S", STRING)], is_key=False)
    assert serde.decode([b"a\xffb"]).table.column("S").to_pylist() == ["a\ufffdb"]


@pytest.mark.parametrize("fmt", [KAFKA, NONE, FormatInfo("JSON"), FormatInfo("DELIMITED")])
def test_no_columns_ignores_bytes_and_writes_nothing(fmt):
    serde = make_serde(fmt, [], is_key=True)
    decoded = serde.decode([b"whatever", None, b"\x00"])
    assert decoded.table.num_rows == 3
    assert decoded.table.num_columns == 0
    assert decoded.errors == {}
    assert serde.encode(decoded.table) == [None, None, None]
