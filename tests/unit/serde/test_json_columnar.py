"""JSON's columnar read (one Arrow JSON read per batch) gives exactly what the per-record
decode gives, and leaves every batch it cannot read exactly to the per-record path."""
import json

import orjson
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamsql.catalog.schema import Column, FormatInfo
from streamsql.catalog.types import BIGINT, BOOLEAN, DOUBLE, INTEGER, STRING
from streamsql.serde import make_serde

COLUMNS = [Column("SENSOR_ID", STRING), Column("TS", BIGINT), Column("READING", DOUBLE),
           Column("OK", BOOLEAN), Column("N", INTEGER)]


def serde():
    return make_serde(FormatInfo("JSON"), COLUMNS, is_key=False)


def payloads(*documents) -> list[bytes]:
    # json, not orjson: it writes integers of any size
    return [d if isinstance(d, bytes) else json.dumps(d).encode() for d in documents]


def assert_same_as_per_record(batch: list[bytes | None]):
    json_serde = serde()
    columnar = json_serde.decode_array(pa.array(batch, pa.binary()))
    per_record = json_serde.decode(batch)
    assert columnar.table.to_pylist() == per_record.table.to_pylist()
    assert columnar.table.schema == per_record.table.schema
    assert columnar.errors == per_record.errors


ROW = {"sensor_id": "s1", "ts": 1700000000123, "reading": 71.3, "ok": True, "n": 3}


def test_a_plain_batch_takes_the_columnar_read_with_per_record_results():
    batch = payloads(ROW, {**ROW, "reading": 60, "n": None}, {"sensor_id": "s2"})
    assert serde()._columnar.read(pa.array(batch, pa.binary())) is not None
    assert_same_as_per_record(batch)


@pytest.mark.parametrize("batch", [
    payloads(ROW, {**ROW, "SENSOR_ID": "exact"}),  # exact name wins over a case variant
    payloads(ROW, {"SENSOR_ID": "s2", "ts": 1}),  # another spelling in a later record
    payloads(ROW, {**ROW, "reading": "71.5"}),  # a string coerced to DOUBLE
    payloads(ROW, {**ROW, "ts": 1.5}),  # a float narrowed to BIGINT
    payloads(ROW, {**ROW, "n": 2**40}),  # an INTEGER out of range wraps as Java's does
    payloads(ROW, {**ROW, "sensor_id": 12}),  # a number as STRING
    payloads(ROW, {**ROW, "sensor_id": 1.25}),  # a float as STRING keeps its text
    payloads(ROW, b'{"reading": -0}'),  # integer zero: 0.0, not -0.0
    payloads(ROW, b'{"reading": NaN}'),  # not JSON to Jackson
    payloads(ROW, b'{"sensor_id": "\xff"}'),  # not UTF-8
    payloads(ROW, b'{"ts": 1, "ts": 2}'),  # a repeated field: the last one counts
    payloads(ROW, b'{"ts": 1}\n'),  # a line break inside a payload
    payloads(ROW, b'{"ts": 1}\r'),
    payloads(ROW, b""),  # empty
    payloads(ROW, b"   "),
    payloads(ROW, b"[1, 2]"),  # not an object
    payloads(ROW, b"5"),
    payloads(ROW, b'{"ts": 1} x'),  # trailing garbage
    payloads(ROW, b'{"ts": 12345678901234567890123}'),  # beyond 64 bits
    [orjson.dumps(ROW), None],  # a record without a value
    payloads({"SENSOR_ID": "upper", "reading": 1}, {"SENSOR_ID": "again"}),
    payloads({"reading": -0.0}, {"reading": 1e300}, {"reading": 5e-324}),
])
def test_unusual_batches_decode_as_per_record(batch):
    assert_same_as_per_record(batch)


_values = st.one_of(
    st.none(), st.booleans(), st.integers(-2**63, 2**63 - 1), st.integers(-2**31, 2**31),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=5),
    st.lists(st.integers(-2**63, 2**63 - 1), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(-2**63, 2**63 - 1), max_size=2))
_names = st.sampled_from(["sensor_id", "SENSOR_ID", "Sensor_Id", "ts", "TS", "reading", "ok",
                          "n", "N", "other"])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.dictionaries(_names, _values, max_size=6), min_size=1, max_size=6))
def test_any_batch_of_objects_decodes_as_per_record(documents):
    assert_same_as_per_record(payloads(*documents))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.fixed_dictionaries({
    "sensor_id": st.text(max_size=4), "ts": st.integers(-2**63, 2**63 - 1),
    "reading": st.floats(allow_nan=False, allow_infinity=False) | st.integers(-2**53, 2**53),
    "ok": st.booleans(), "n": st.integers(-2**31, 2**31 - 1)}), min_size=1, max_size=6))
def test_typed_batches_decode_as_per_record(documents):
    assert_same_as_per_record(payloads(*documents))
