"""Whole-batch encoders give the bytes the per-value encoders give."""
import math
import random
import struct

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from streamsql.catalog.schema import WINDOWEND, WINDOWSTART, Column, FormatInfo, WindowInfo
from streamsql.catalog.types import DOUBLE, STRING
from streamsql.serde import make_serde
from streamsql.serde.base import decode_array, encode_array
from streamsql.serde.numbers import java_double_text


def double_texts(values):
    serde = make_serde(FormatInfo("JSON"), [Column("X", DOUBLE)], is_key=False)
    return [None if b is None else b.decode()[5:-1]
            for b in encode_array(serde, pa.table({"X": pa.array(values, pa.float64())}))
            .to_pylist()]


def expected_text(value):
    if value is None:
        return "null"
    text = java_double_text(value)
    return f'"{text}"' if text in ("NaN", "Infinity", "-Infinity") else text


def test_doubles_are_written_as_java_writes_them():
    rng = random.Random(5)
    values = [0.0, -0.0, 1.0, 100.0, 71.3, 0.001, 0.00099999, 9999999.999, 1e7, 1e-3,
              123456.789, 1 / 3, 5e-324, 1e300, -2.5e-5, math.nan, math.inf, -math.inf, None]
    values += [rng.gauss(60, 15) for _ in range(2000)]
    values += [struct.unpack("d", struct.pack("Q", rng.getrandbits(64)))[0] for _ in range(2000)]
    assert double_texts(values) == [expected_text(v) for v in values]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats() | st.none(), max_size=20))
def test_any_double_is_written_as_java_writes_it(values):
    assert double_texts(values) == [expected_text(v) for v in values]


def test_kafka_strings_decode_and_encode_as_a_whole_batch():
    serde = make_serde(FormatInfo("KAFKA"), [Column("K", STRING)], is_key=True)
    payloads = [b"s1", None, b"", "é".encode(), b"\xff bad"]
    assert decode_array(serde, pa.array(payloads, pa.binary())).table.to_pylist() == \
        serde.decode(payloads).table.to_pylist()
    table = pa.table({"K": pa.array(["s1", None, "", "é"])})
    assert encode_array(serde, table).to_pylist() == serde.encode(table)


def test_windowed_keys_encode_as_a_whole_batch():
    serde = make_serde(FormatInfo("KAFKA"), [Column("K", STRING)], is_key=True,
                       window=WindowInfo("TUMBLING", 10_000))
    table = pa.table({"K": pa.array(["s1", None, "long key"]),
                      WINDOWSTART: pa.array([0, 10_000, -10_000], pa.int64()),
                      WINDOWEND: pa.array([10_000, 20_000, 0], pa.int64())})
    assert encode_array(serde, table).to_pylist() == serde.encode(table)
