"""Key -> partition placement shared by every backend: Kafka's default partitioner.

Producers that do not choose a partition use this, so that a key lands on the same
partition whether the topic lives in the embedded log or on a Kafka broker.
"""
from __future__ import annotations

import struct

import pyarrow as pa
import pyarrow.compute as pc

_SEED = 0x9747B28C
_M = 0x5BD1E995
_MASK = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """Kafka's 32-bit murmur2 hash of `data`, as an unsigned int (Java's int bits)."""
    length = len(data)
    h = (_SEED ^ length) & _MASK
    whole = length & ~3
    for k in struct.unpack_from(f"<{length >> 2}I", data):
        k = (k * _M) & _MASK
        k ^= k >> 24
        h = ((h * _M) & _MASK) ^ ((k * _M) & _MASK)
    extra = length & 3
    if extra == 3:
        h ^= data[whole + 2] << 16
    if extra >= 2:
        h ^= data[whole + 1] << 8
    if extra >= 1:
        h ^= data[whole]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h


def partition_for(key: bytes | None, partitions: int) -> int:
    """The partition Kafka's default partitioner picks for `key`; a null key goes to 0.

    (Kafka spreads null keys over partitions; we pin them so that placement is
    deterministic and tests are repeatable.)
    """
    if partitions < 1:
        raise ValueError(f"a topic has at least one partition, got {partitions}")
    if key is None or partitions == 1:
        return 0
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def partitions_for(keys: pa.Array, partitions: int) -> pa.Array:
    """partition_for over a binary column: int32 partitions, hashing each distinct key once."""
    if partitions < 1:
        raise ValueError(f"a topic has at least one partition, got {partitions}")
    if partitions == 1 or len(keys) == 0:
        return pa.array([0] * len(keys), pa.int32())
    # A batch repeats few distinct keys (those it updates), so murmur2 runs per distinct key.
    encoded = pc.dictionary_encode(keys)
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks()
    placed = pa.array([partition_for(key, partitions) for key in encoded.dictionary.to_pylist()],
                      pa.int32())
    return pc.fill_null(pc.take(placed, encoded.indices), 0)
