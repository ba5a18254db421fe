"""Test data to bytes and back, per format, including Kafka Streams windowed keys."""
import struct
from decimal import Decimal

import pytest

from streamsql.catalog.schema import KEY, Column, WindowInfo
from streamsql.catalog.types import BIGINT, BOOLEAN, BYTES, DOUBLE, INTEGER, STRING
from streamsql.testing.loader import Window
from streamsql.testing.testdata import (RAW, Serde, TestDataError, decode, decode_key, encode,
                                        encode_key, java_double_text)


def kafka(sql_type):
    return Serde("KAFKA", (Column("K", sql_type, KEY),))


def test_json_writes_any_shape_keeping_decimal_digits():
    serde = Serde("JSON")
    assert encode({"A": Decimal("1.50"), "b": [1, "x", None, True]}, serde) == \
        b'{"A":1.50,"b":[1,"x",null,true]}'
    assert encode("text", serde) == b'"text"'
    assert encode(Decimal("1E+3"), serde) == b"1E+3"
    assert encode(None, serde) is None


def test_json_reads_exact_decimals_or_binary_doubles():
    value = decode(b'{"A": 1.50, "B": 2}', Serde("JSON"))
    assert value["A"].as_tuple() == Decimal("1.50").as_tuple() and value["B"] == 2
    assert decode(b'{"A": 1.5}', Serde("JSON"), exact_numbers=False) == {"A": 1.5}
    assert decode(b"null", Serde("JSON")) is None
    with pytest.raises(TestDataError):
        decode(b"{oops", Serde("JSON"))


def test_delimited_is_utf8_text_both_ways():
    assert encode("1,foo,", Serde("DELIMITED")) == b"1,foo,"
    assert decode("é,1".encode(), Serde("DELIMITED")) == "é,1"
    with pytest.raises(TestDataError):
        encode({"A": 1}, Serde("DELIMITED"))


@pytest.mark.parametrize("sql_type, data, payload", [
    (INTEGER, 1, struct.pack(">i", 1)),
    (INTEGER, -2, struct.pack(">i", -2)),
    (BIGINT, 2**40, struct.pack(">q", 2**40)),
    (DOUBLE, 1, struct.pack(">d", 1.0)),  # numbers are coerced to the column type
    (DOUBLE, Decimal("0.1"), struct.pack(">d", 0.1)),
    (DOUBLE, "1.1", struct.pack(">d", 1.1)),  # numeric strings are coerced too
    (BIGINT, "7", struct.pack(">q", 7)),
    (STRING, "héllo", "héllo".encode()),
    (BYTES, "abc", b"abc"),  # BYTES test data is text, not base64
])
def test_kafka_primitives(sql_type, data, payload):
    assert encode(data, kafka(sql_type)) == payload


def test_kafka_reads_back_ints_and_doubles_as_java_text_decimals():
    assert decode(struct.pack(">i", -7), kafka(INTEGER)) == -7
    assert decode(struct.pack(">q", 2**40), kafka(BIGINT)) == 2**40
    value = decode(struct.pack(">d", 1.0), kafka(DOUBLE))
    assert value.as_tuple() == Decimal("1.0").as_tuple()
    assert decode(b"abc", kafka(BYTES)) == "abc"
    with pytest.raises(TestDataError):
        decode(b"\x00\x01", kafka(INTEGER))


def test_kafka_rejects_unsupported_types_and_many_columns():
    with pytest.raises(TestDataError):
        encode(True, kafka(BOOLEAN))
    two = Serde("KAFKA", (Column("A", INTEGER), Column("B", INTEGER)))
    with pytest.raises(TestDataError):
        encode(1, two)
    with pytest.raises(TestDataError):
        encode("one", kafka(INTEGER))


def test_kafka_without_columns_treats_data_as_text():
    assert encode("ignored", Serde("KAFKA")) == b"ignored"
    assert decode(b"ignored", Serde("KAFKA")) == "ignored"


def test_none_format_writes_and_reads_nothing():
    assert encode({"A": 1}, Serde("NONE")) is None
    assert decode(b"anything", Serde("NONE")) is None


def test_schema_registry_formats_are_refused_with_the_reason():
    with pytest.raises(TestDataError, match="schema registry"):
        encode({"A": 1}, Serde("AVRO"))


def test_topics_without_a_source_write_strings_raw_and_the_rest_as_json():
    assert encode("x", RAW) == b"x" and encode({"A": 1}, RAW) == b'{"A":1}'
    assert decode(b'{"A":1}', RAW) == {"A": 1} and decode(b"x y", RAW) == "x y"


def test_time_windowed_key_is_inner_key_plus_start_and_end_comes_from_the_size():
    serde = Serde("KAFKA", (Column("K", STRING, KEY),), WindowInfo("TUMBLING", 30000))
    payload = encode_key("a", Window(60000, 90000, "time"), serde)
    assert payload == b"a" + struct.pack(">q", 60000)
    assert decode_key(payload, serde) == ("a", Window(60000, 90000, "time"))


def test_session_windowed_key_is_inner_key_plus_end_then_start():
    serde = Serde("JSON", (), WindowInfo("SESSION"))
    payload = encode_key(1, Window(10, 20, "session"), serde)
    assert payload == b"1" + struct.pack(">q", 20) + struct.pack(">q", 10)
    assert decode_key(payload, serde) == (1, Window(10, 20, "session"))


def test_window_on_an_unwindowed_source_is_refused():
    with pytest.raises(TestDataError):
        encode_key("a", Window(0, 1, "time"), kafka(STRING))


def test_unwindowed_key_reads_without_window():
    assert decode_key(b"a", kafka(STRING)) == ("a", None)
    assert decode_key(None, Serde("KAFKA", (), WindowInfo("TUMBLING", 1))) == (None, None)


@pytest.mark.parametrize("value, text", [
    (1.0, "1.0"), (0.1, "0.1"), (100.0, "100.0"), (1e10, "1.0E10"), (1.5e-4, "1.5E-4"),
    (1e7, "1.0E7"), (9999999.0, "9999999.0"), (0.001, "0.001"), (-2.5, "-2.5"),
    (12345678.9, "1.23456789E7"), (-0.0, "-0.0"), (float("nan"), "NaN"),
    (float("-inf"), "-Infinity"),
])
def test_java_double_text(value, text):
    assert java_double_text(value) == text


def test_kafka_numbers_out_of_range_are_test_data_errors():
    with pytest.raises(TestDataError):
        encode(2**31, kafka(INTEGER))
