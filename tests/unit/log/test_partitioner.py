"""Key placement must match Kafka's default partitioner exactly."""
from __future__ import annotations

import pytest

from streamsql.log import partition_for
from streamsql.log.partitioner import murmur2

# Java's signed results from Kafka's own murmur2 tests (UtilsTest.testMurmur2)
KAFKA_VECTORS = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
}


# Unsigned results of aiokafka's port, for tail lengths the Kafka vectors leave out
AIOKAFKA_VECTORS = {b"hello": 2132663229, b"k": 2727470560, b"": 275646681}


@pytest.mark.parametrize("data, java_int", KAFKA_VECTORS.items())
def test_murmur2_matches_kafka(data, java_int):
    assert murmur2(data) == java_int & 0xFFFFFFFF


@pytest.mark.parametrize("data, unsigned", AIOKAFKA_VECTORS.items())
def test_murmur2_matches_aiokafka_on_short_tails(data, unsigned):
    assert murmur2(data) == unsigned


def test_partition_is_the_positive_hash_modulo_partitions():
    # -973932308 & 0x7fffffff = 1173551340
    assert partition_for(b"21", 7) == 1173551340 % 7
    assert partition_for(b"", 3) == (murmur2(b"") & 0x7FFFFFFF) % 3


def test_null_key_goes_to_partition_zero():
    assert partition_for(None, 12) == 0


def test_partition_count_must_be_positive():
    with pytest.raises(ValueError):
        partition_for(b"k", 0)
