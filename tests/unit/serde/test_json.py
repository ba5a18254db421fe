"""JSON format: ksqlDB's field matching, coercions, number text and error reasons."""
import base64
from decimal import Decimal

import orjson
import pyarrow as pa
import pytest

from streamsql.catalog.schema import KEY, Column, FormatInfo
from streamsql.catalog.types import (BIGINT, BOOLEAN, BYTES, DATE, DOUBLE, INTEGER, STRING,
                                     TIME, TIMESTAMP, SqlType)
from streamsql.serde import make_serde

JSON = FormatInfo("JSON")
UNWRAPPED = FormatInfo("JSON", features=frozenset({"UNWRAP_SINGLES"}))


def value_serde(*columns, fmt=JSON):
    return make_serde(fmt, [Column(n, t) for n, t in columns], is_key=False)


def decode_rows(serde, *payloads):
    decoded = serde.decode([p if p is None or isinstance(p, bytes) else orjson.dumps(p)
                            for p in payloads])
    return decoded.table.to_pylist(), decoded.errors


def test_field_names_match_case_insensitively_and_missing_fields_are_null():
    serde = value_serde(("ID", BIGINT), ("NAME", STRING), ("AGE", INTEGER))
    rows, errors = decode_rows(serde, {"id": 1, "Name": "a", "extra": True}, {"ID": 2})
    assert rows == [{"ID": 1, "NAME": "a", "AGE": None}, {"ID": 2, "NAME": None, "AGE": None}]
    assert errors == {}


def test_quoted_column_name_matches_only_its_exact_case():
    serde = value_serde(("Foo", INTEGER), ("BAR", INTEGER))
    rows, _ = decode_rows(serde, {"Foo": 1, "bar": 2}, {"foo": 1, "BAR": 2})
    assert rows == [{"Foo": 1, "BAR": 2}, {"Foo": None, "BAR": 2}]


def test_reserved_and_symbol_names_match_upper_cased():
    serde = value_serde(("@TIMESTAMP", BIGINT), ("FROM", BIGINT))
    rows, _ = decode_rows(serde, {"@timestamp": 4, "from": 5})
    assert rows == [{"@TIMESTAMP": 4, "FROM": 5}]
    assert serde.encode(pa.Table.from_pylist(rows)) == [b'{"@TIMESTAMP":4,"FROM":5}']


def test_null_payload_decodes_to_nulls_without_error():
    serde = value_serde(("A", INTEGER))
    rows, errors = decode_rows(serde, None, b"null")
    assert rows == [{"A": None}, {"A": None}]
    assert errors == {}


def test_unwrapped_single_value_is_the_bare_json_value():
    serde = value_serde(("V", BOOLEAN), fmt=UNWRAPPED)
    rows, _ = decode_rows(serde, True, False, None)
    assert rows == [{"V": True}, {"V": False}, {"V": None}]
    assert serde.encode(pa.table({"V": [True, None]})) == [b"true", None]


def test_unwrapped_struct_reads_the_whole_object():
    serde = value_serde(("FOO", SqlType.struct([("F1", STRING)])), fmt=UNWRAPPED)
    rows, _ = decode_rows(serde, {"F1": "bar"})
    assert rows == [{"FOO": {"F1": "bar"}}]
    assert serde.encode(pa.Table.from_pylist(rows, schema=serde_schema(serde))) == \
        [b'{"F1":"bar"}']


def serde_schema(serde):
    from streamsql.catalog.types import to_arrow
    return pa.schema([(c.name, to_arrow(c.type)) for c in serde.columns])


def test_single_key_column_is_unwrapped_and_several_make_an_object():
    single = make_serde(JSON, [Column("K", STRING, KEY)], is_key=True)
    assert decode_rows(single, "Hey")[0] == [{"K": "Hey"}]
    assert single.encode(pa.table({"K": ["Hey", None]})) == [b'"Hey"', None]
    double = make_serde(JSON, [Column("A", INTEGER, KEY), Column("B", STRING, KEY)],
                        is_key=True)
    assert decode_rows(double, {"a": 1, "b": "x"})[0] == [{"A": 1, "B": "x"}]


def test_strings_coerce_into_numbers_as_java_parses_them():
    serde = value_serde(("I", INTEGER), ("L", BIGINT), ("D", DOUBLE))
    rows, errors = decode_rows(serde, {"I": "2", "L": "-10000000000", "D": "1.5"})
    assert rows == [{"I": 2, "L": -10000000000, "D": 1.5}]
    assert errors == {}


def test_fractions_truncate_into_integers():
    serde = value_serde(("I", INTEGER), ("L", BIGINT))
    rows, _ = decode_rows(serde, {"I": 1.9, "L": -2.7})
    assert rows == [{"I": 1, "L": -2}]


def test_values_that_cannot_coerce_fail_the_row_with_ksqldb_reason():
    serde = value_serde(("FOO", INTEGER), ("BAR", BOOLEAN))
    rows, errors = decode_rows(serde, {"FOO": "abc"}, {"FOO": 1, "BAR": "true"},
                               {"FOO": [1]}, {"FOO": 3})
    assert errors == {
        0: "Can't coerce string to type. targetType: INTEGER, path: $.FOO",
        1: "Can't convert type. sourceType: TextNode, requiredType: BOOLEAN, path: $.BAR",
        2: "Can't convert type. sourceType: ArrayNode, requiredType: INTEGER, path: $.FOO",
    }
    assert rows[:3] == [{"FOO": None, "BAR": None}] * 3  # a failed row is null throughout
    assert rows[3] == {"FOO": 3, "BAR": None}


def test_invalid_json_and_non_object_values_are_row_errors():
    serde = value_serde(("A", INTEGER), ("B", INTEGER))
    _, errors = decode_rows(serde, b"{not json", b"[1, 2]", b'{"A": 1}')
    assert errors[0].startswith("Invalid JSON")
    assert errors[1] == ("Can't convert type. sourceType: ArrayNode, requiredType: "
                         "STRUCT<`A` INTEGER, `B` INTEGER>, path: $")
    assert 2 not in errors


def test_numbers_and_containers_coerce_into_strings():
    serde = value_serde(("S", STRING), fmt=UNWRAPPED)
    rows, _ = decode_rows(serde, b"10", b"1.50", b"true", b'{"a": 1.0, "b": [1]}', b"[1, null]")
    assert [r["S"] for r in rows] == ["10", "1.50", "true", '{"a":1.0,"b":[1]}', "[1, null]"]


def test_array_elements_coerce_to_the_element_type():
    serde = value_serde(("FOO", SqlType.array(STRING)), fmt=UNWRAPPED)
    rows, _ = decode_rows(serde, [1, 2, 3], ["a", None])
    assert rows == [{"FOO": ["1", "2", "3"]}, {"FOO": ["a", None]}]


def test_nested_errors_name_the_path():
    serde = value_serde(("S", SqlType.struct([("L", SqlType.array(INTEGER))])))
    _, errors = decode_rows(serde, {"s": {"l": [1, "x"]}})
    assert errors == {0: "Can't coerce string to type. targetType: INTEGER, path: $.S.L[1]"}


def test_decimals_take_the_column_scale_and_keep_every_digit():
    serde = value_serde(("DEC", SqlType.decimal(21, 19)))
    rows, _ = decode_rows(serde, b'{"DEC": 10.1234512345123451234}', b'{"DEC": "1.5"}',
                          b'{"DEC": 10}')
    assert [r["DEC"] for r in rows] == [Decimal("10.1234512345123451234"),
                                        Decimal("1.5000000000000000000"),
                                        Decimal("10.0000000000000000000")]
    assert serde.encode(pa.Table.from_pylist(rows[:1], schema=serde_schema(serde))) == \
        [b'{"DEC":10.1234512345123451234}']


@pytest.mark.parametrize("text,written", [(b"10", b"10.0000"), (b"0.1", b"0.1000"),
                                          (b"0.0001", b"0.0001"), (b"10.0", b"10.0000")])
def test_decimal_scale_in_data_less_than_type_is_padded(text, written):
    serde = value_serde(("DEC", SqlType.decimal(6, 4)))
    decoded = serde.decode([b'{"DEC": ' + text + b"}"])
    assert serde.encode(decoded.table) == [b'{"DEC":' + written + b"}"]


def test_decimals_that_do_not_fit_are_row_errors():
    serde = value_serde(("D", SqlType.decimal(4, 2)))
    _, errors = decode_rows(serde, b'{"D": 123.4}', b'{"D": 1.234}')
    assert errors[0].startswith("Numeric field overflow: A field with precision 4 and scale 2")
    assert errors[1] == ("Cannot fit decimal '1.234' into DECIMAL(4, 2) without rounding., "
                         "path: $.D")


def test_integers_beyond_64_bits_are_read():
    serde = value_serde(("L", BIGINT), ("S", STRING))
    rows, errors = decode_rows(serde, b'{"L": 1, "S": 123456789012345678901234567890}')
    assert rows == [{"L": 1, "S": "123456789012345678901234567890"}]
    assert errors == {}


def test_temporal_types_are_integers_on_the_wire():
    serde = value_serde(("D", DATE), ("T", TIME), ("TS", TIMESTAMP))
    payload = b'{"D":10,"T":1000,"TS":1526075913000}'
    decoded = serde.decode([payload])
    row = decoded.table.to_pylist()[0]
    assert (row["D"].isoformat(), row["T"].isoformat(), row["TS"].isoformat()) == \
        ("1970-01-11", "00:00:01", "2018-05-11T21:58:33")
    assert serde.encode(decoded.table) == [payload]


def test_bytes_are_base64_text():
    serde = value_serde(("B", BYTES))
    rows, errors = decode_rows(serde, {"B": "IQ=="}, {"B": "not base64!"})
    assert rows[0] == {"B": b"!"}
    assert errors == {1: "Value is not a valid Base64 encoded string: not base64!, path: $.B"}
    assert serde.encode(pa.table({"B": pa.array([b"!", None], pa.binary())})) == \
        [b'{"B":"IQ=="}', b'{"B":null}']


def test_doubles_are_written_as_java_prints_them():
    serde = value_serde(("D", DOUBLE))
    values = [1.0, 0.1, 1e7, 1.5e-4, -0.0, None, float("nan")]
    assert serde.encode(pa.table({"D": pa.array(values, pa.float64())})) == [
        b'{"D":1.0}', b'{"D":0.1}', b'{"D":1.0E7}', b'{"D":1.5E-4}', b'{"D":-0.0}',
        b'{"D":null}', b'{"D":"NaN"}']


def test_strings_are_escaped_as_json():
    serde = value_serde(("S", STRING))
    values = ['a"b', "back\\slash", "line\nbreak", "ünï", "tab\t", "\x01"]
    encoded = serde.encode(pa.table({"S": values}))
    assert [orjson.loads(e)["S"] for e in encoded] == values
    assert encoded[3] == '{"S":"ünï"}'.encode()


def test_every_type_round_trips():
    columns = [("B", BOOLEAN), ("I", INTEGER), ("L", BIGINT), ("D", DOUBLE),
               ("DEC", SqlType.decimal(5, 2)), ("S", STRING), ("BY", BYTES), ("DT", DATE),
               ("T", TIME), ("TS", TIMESTAMP), ("A", SqlType.array(DOUBLE)),
               ("M", SqlType.map(STRING, SqlType.decimal(3, 1))),
               ("ST", SqlType.struct([("X", INTEGER), ("Y", SqlType.array(STRING))]))]
    serde = value_serde(*columns)
    payload = {"B": True, "I": -5, "L": 2**40, "D": 2.5, "DEC": "123.45", "S": "s",
               "BY": base64.b64encode(b"\x00\xff").decode(), "DT": -3, "T": 45296789,
               "TS": 1600000000123, "A": [1.5, None], "M": {"k": "2.5", "n": None},
               "ST": {"x": 7, "y": ["a"]}}
    decoded = serde.decode([orjson.dumps(payload)])
    assert decoded.errors == {}
    encoded = serde.encode(decoded.table)
    assert encoded == [b'{"B":true,"I":-5,"L":1099511627776,"D":2.5,"DEC":123.45,"S":"s",'
                       b'"BY":"AP8=","DT":-3,"T":45296789,"TS":1600000000123,"A":[1.5,null],'
                       b'"M":{"k":2.5,"n":null},"ST":{"X":7,"Y":["a"]}}']
    assert serde.decode(encoded).table.equals(decoded.table)


def test_map_values_keep_their_keys_case():
    serde = value_serde(("V", SqlType.map(STRING, DOUBLE)), fmt=UNWRAPPED)
    rows, _ = decode_rows(serde, {"a": 45.67})
    assert serde.encode(pa.Table.from_pylist(rows, schema=serde_schema(serde))) == \
        [b'{"a":45.67}']


def test_encode_accepts_neighbouring_arrow_types():
    serde = value_serde(("S", STRING), ("TS", TIMESTAMP))
    table = pa.table({"S": pa.array(["x"], pa.large_string()),
                      "TS": pa.array([1_500_000], pa.timestamp("us"))})
    assert serde.encode(table) == [b'{"S":"x","TS":1500}']


def test_huge_numbers_narrow_without_expanding_every_digit():
    serde = value_serde(("I", INTEGER), ("L", BIGINT), ("D", SqlType.decimal(4, 2)))
    rows, errors = decode_rows(serde, b'{"I": 1e999999, "L": 4294967297.9}', b'{"D": 1e999999}')
    assert rows[0] == {"I": 0, "L": 4294967297, "D": None}
    assert errors == {1: "Numeric field overflow: A field with precision 4 and scale 2 must round "
                         "to an absolute value less than 10^2. Got 1E+999999, path: $.D"}


def test_exact_name_wins_over_case_variants_and_last_variant_wins_otherwise():
    serde = value_serde(("FOO", INTEGER))
    rows, _ = decode_rows(serde, {"foo": 1, "FOO": 2}, {"foo": 1, "Foo": 3}, {"bar": 1})
    assert [r["FOO"] for r in rows] == [2, 3, None]
