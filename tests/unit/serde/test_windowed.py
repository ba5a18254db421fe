"""Windowed keys: Kafka Streams' byte layout for time and session windows."""
import struct

import pyarrow as pa

from streamsql.catalog.schema import KEY, WINDOWEND, WINDOWSTART, Column, FormatInfo, WindowInfo
from streamsql.catalog.types import BIGINT, STRING
from streamsql.serde import make_serde


def key_table(keys, starts, ends, sql_type=BIGINT):
    from streamsql.catalog.types import to_arrow
    return pa.table({"K": pa.array(keys, to_arrow(sql_type)),
                     WINDOWSTART: pa.array(starts, pa.int64()),
                     WINDOWEND: pa.array(ends, pa.int64())})


def test_time_window_key_is_inner_key_then_start():
    serde = make_serde(FormatInfo("KAFKA"), [Column("K", BIGINT, KEY)], is_key=True,
                       window=WindowInfo("TUMBLING", 30_000))
    encoded = serde.encode(key_table([1], [60_000], [90_000]))
    assert encoded == [struct.pack(">q", 1) + struct.pack(">q", 60_000)]
    decoded = serde.decode(encoded)
    assert decoded.table.column("K").to_pylist() == [1]
    assert decoded.window_start.to_pylist() == [60_000]
    assert decoded.window_end.to_pylist() == [90_000]  # start + window size


def test_session_window_key_is_inner_key_then_end_then_start():
    serde = make_serde(FormatInfo("JSON"), [Column("K", STRING, KEY)], is_key=True,
                       window=WindowInfo("SESSION"))
    encoded = serde.encode(key_table(["a"], [1581323504000], [1581323505001], STRING))
    assert encoded == [b'"a"' + struct.pack(">qq", 1581323505001, 1581323504000)]
    decoded = serde.decode(encoded + [None])
    assert decoded.table.column("K").to_pylist() == ["a", None]
    assert decoded.window_start.to_pylist() == [1581323504000, None]
    assert decoded.window_end.to_pylist() == [1581323505001, None]


def test_key_shorter_than_the_window_suffix_is_a_row_error():
    serde = make_serde(FormatInfo("KAFKA"), [Column("K", BIGINT, KEY)], is_key=True,
                       window=WindowInfo("HOPPING", 1000))
    decoded = serde.decode([b"\x00\x01"])
    assert decoded.errors == {0: "Windowed key of 2 bytes is shorter than its 8-byte window "
                                 "suffix"}
    assert decoded.window_start.to_pylist() == [None]


def test_inner_key_errors_pass_through():
    serde = make_serde(FormatInfo("KAFKA"), [Column("K", BIGINT, KEY)], is_key=True,
                       window=WindowInfo("TUMBLING", 1000))
    decoded = serde.decode([b"\x01\x02" + struct.pack(">q", 5)])
    assert decoded.errors == {0: "Size of data received by LongDeserializer is not 8"}
