"""The record batch codec: exact round trip, and every damaged byte is detected."""
from __future__ import annotations

import dataclasses

import pytest

from streamsql.log import Record
from streamsql.log.embedded.batch import (
    HEADER_SIZE, CorruptBatchError, check_batch, decode_batch, encode_batch, read_header)

RECORDS = [
    Record(b"key", b"value", 1_700_000_000_000),
    Record(None, None, -1, (("a", None), ("b", b"\x00"))),
    Record(b"", b"", 2**62),
]


def test_decode_returns_equal_records_with_offsets_and_partition():
    data = encode_batch(RECORDS, base_offset=41)
    header = read_header(data, 0)
    check_batch(data, 0, header)
    assert (header.base_offset, header.count, header.size) == (41, 3, len(data))
    assert header.max_timestamp == 2**62
    assert decode_batch(data, 0, header, partition=4) == [
        dataclasses.replace(r, partition=4, offset=41 + i) for i, r in enumerate(RECORDS)]


def test_decoded_records_are_plain_records():
    # decode builds Records without __init__; a new Record field must be handled there
    data = encode_batch(RECORDS[:1], 0)
    (record,) = decode_batch(data, 0, read_header(data, 0), 0)
    assert vars(record).keys() == {f.name for f in dataclasses.fields(Record)}
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.key = b"x"


def test_every_flipped_byte_is_detected():
    data = encode_batch(RECORDS, base_offset=0)
    for position in range(len(data)):
        damaged = bytearray(data)
        damaged[position] ^= 0x04
        with pytest.raises(CorruptBatchError):
            check_batch(damaged, 0, read_header(damaged, 0))


def test_short_data_is_an_incomplete_batch():
    data = encode_batch(RECORDS, base_offset=0)
    with pytest.raises(CorruptBatchError, match="incomplete batch header"):
        read_header(data[:HEADER_SIZE - 1], 0)
    with pytest.raises(CorruptBatchError, match="incomplete batch"):
        check_batch(data[:-1], 0, read_header(data, 0))


def test_an_empty_batch_cannot_be_encoded():
    with pytest.raises(ValueError):
        encode_batch([], 0)
