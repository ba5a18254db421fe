"""DELIMITED format: CSV fields in column order, ksqlDB's quoting and null rules."""
from decimal import Decimal

import pyarrow as pa
import pytest

from streamsql.catalog.schema import KEY, Column, FormatInfo
from streamsql.catalog.types import (BIGINT, BOOLEAN, BYTES, DATE, DOUBLE, INTEGER, STRING,
                                     TIME, TIMESTAMP, SqlType)
from streamsql.errors import StatementError
from streamsql.serde import make_serde, validate_format

DELIMITED = FormatInfo("DELIMITED")


def serde(*columns, fmt=DELIMITED, is_key=False):
    return make_serde(fmt, [Column(n, t, KEY if is_key else "value") for n, t in columns],
                      is_key=is_key)


def test_fields_map_to_columns_in_order_and_empty_fields_are_null():
    s = serde(("C1", BIGINT), ("C2", INTEGER), ("C3", STRING))
    decoded = s.decode([b"123,456,foo", b"0,,", b",0,x", b",,"])
    assert decoded.table.to_pylist() == [
        {"C1": 123, "C2": 456, "C3": "foo"}, {"C1": 0, "C2": None, "C3": None},
        {"C1": None, "C2": 0, "C3": "x"}, {"C1": None, "C2": None, "C3": None}]
    assert decoded.errors == {}
    assert s.encode(decoded.table) == [b"123,456,foo", b"0,,", b",0,x", b",,"]


def test_wrong_field_count_is_a_row_error():
    s = serde(("A", INTEGER), ("B", STRING))
    decoded = s.decode([b"1", b"1,a,b", b"2,b", None])
    assert decoded.errors == {
        0: "Column count mismatch on deserialization. expected: 2, got: 1",
        1: "Column count mismatch on deserialization. expected: 2, got: 3"}
    assert decoded.table.to_pylist()[2:] == [{"A": 2, "B": "b"}, {"A": None, "B": None}]


def test_unparseable_numbers_are_row_errors():
    s = serde(("A", INTEGER))
    decoded = s.decode([b"abc", b"4294967296", b"7"])
    assert set(decoded.errors) == {0, 1}
    assert decoded.errors[0] == 'For input string: "abc"'
    assert decoded.table.column("A").to_pylist() == [None, None, 7]


def test_quoted_fields_are_read_as_csv():
    s = serde(("A", STRING), ("B", STRING))
    decoded = s.decode([b'"x,y","say ""hi"""', b'"",b'])
    assert decoded.table.to_pylist() == [{"A": "x,y", "B": 'say "hi"'}, {"A": None, "B": "b"}]


def test_writing_quotes_like_commons_csv():
    s = serde(("A", STRING), ("B", STRING), ("C", STRING), ("D", STRING))
    table = pa.table({"A": [" \t with white space \t", "!", "lower", ""],
                      "B": ["x,y", "IQ==", 'q"q', ""],
                      "C": ["with white space", "#", "-1", None],
                      "D": ["\t wit", "trailing ", "", "z"]})
    assert s.encode(table) == [
        b'" \t with white space \t","x,y",with white space,"\t wit"',
        b'"!",IQ==,"#","trailing "',
        b'lower,"q""q",-1,',
        b'"",,,z']


def test_first_field_that_does_not_start_alphanumeric_is_quoted():
    s = serde(("D", DATE), ("I", INTEGER))
    table = pa.table({"D": pa.array([10, -10], pa.int32()).cast(pa.date32()), "I": [-1, -2]})
    assert s.encode(table) == [b"10,-1", b'"-10",-2']


def test_primitive_types_round_trip_in_ksqldb_text():
    s = serde(("B", BOOLEAN), ("D", DOUBLE), ("DEC", SqlType.decimal(21, 19)), ("BY", BYTES),
              ("T", TIME), ("TS", TIMESTAMP), ("L", BIGINT))
    line = b"true,1.0E7,10.1234512345123451234,dmFyaWF0aW9ucw==,10,1526075913000,10000000000"
    decoded = s.decode([line])
    assert decoded.errors == {}
    row = decoded.table.to_pylist()[0]
    assert row["DEC"] == Decimal("10.1234512345123451234")
    assert row["BY"] == b"variations"
    assert s.encode(decoded.table) == [line]


def test_decimals_keep_trailing_zeros():
    s = serde(("DEC", SqlType.decimal(6, 4)))
    assert s.encode(s.decode([b"10.0000", b"1", b"-0.5"]).table) == \
        [b"10.0000", b"1.0000", b'"-0.5000"']


def test_boolean_fields_read_like_parse_boolean():
    s = serde(("B", BOOLEAN))
    assert s.decode([b"TRUE", b"false", b"yes"]).table.column("B").to_pylist() == \
        [True, False, False]


@pytest.mark.parametrize("name,char", [("TAB", "\t"), ("SPACE", " "), ("|", "|")])
def test_custom_delimiters(name, char):
    s = serde(("A", INTEGER), ("B", STRING), fmt=FormatInfo("DELIMITED", (("delimiter", name),)))
    line = f"1{char}x".encode()
    decoded = s.decode([line])
    assert decoded.table.to_pylist() == [{"A": 1, "B": "x"}]
    assert s.encode(decoded.table) == [line]


def test_invalid_delimiter_is_a_statement_error():
    with pytest.raises(StatementError, match="Invalid delimiter value: 'ab'"):
        validate_format(FormatInfo("DELIMITED", (("delimiter", "ab"),)),
                        [Column("A", INTEGER)], is_key=False)
    with pytest.raises(StatementError, match="Delimiter cannot be empty"):
        serde(("A", INTEGER), fmt=FormatInfo("DELIMITED", (("delimiter", ""),)))


def test_multi_column_keys_and_null_keys():
    s = serde(("K1", STRING), ("K2", INTEGER), is_key=True)
    table = pa.table({"K1": ["a", None], "K2": pa.array([2, None], pa.int32())})
    assert s.encode(table) == [b"a,2", None]
    assert s.decode([b"a,2"]).table.to_pylist() == [{"K1": "a", "K2": 2}]


def test_values_holding_the_delimiter_are_quoted_and_read_back():
    s = serde(("A", STRING), ("B", STRING), fmt=FormatInfo("DELIMITED", (("delimiter", "TAB"),)))
    table = pa.table({"A": ["x\ty", "plain"], "B": ["a,b", 'say "hi"']})
    encoded = s.encode(table)
    assert encoded == [b'"x\ty"\ta,b', b'plain\t"say ""hi"""']
    assert s.decode(encoded).table.equals(table)
