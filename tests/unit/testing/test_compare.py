"""The value comparison rules of QTT section 6.2, one row at a time, with failing examples."""
from decimal import Decimal

import pytest

from streamsql.testing.compare import bytes_to_text, difference, matches

D = Decimal


@pytest.mark.parametrize("expected, actual", [
    ({"A": 1, "B": "x"}, {"A": 1, "B": "x"}),
    ({"foo": 1}, {"FOO": 1}),  # falls back to the upper-cased name
    ({"foo": None}, {"FOO": None}),
    ({"A": None}, {"B": None}),  # a missing field counts as null; the count still matches
    ({}, {}),
])
def test_object_matches(expected, actual):
    assert matches(expected, actual)


@pytest.mark.parametrize("expected, actual", [
    ({"A": 1}, {"A": 1, "B": 2}),  # extra actual field
    ({"A": 1, "B": 2}, {"A": 1}),
    ({"FOO": 1}, {"foo": 1}),  # no fallback from upper to lower case
    ({}, None),
    ({"A": 1}, [1]),
    ({"A": 1}, {"A": 2}),
])
def test_object_mismatches(expected, actual):
    assert not matches(expected, actual)


def test_arrays_match_pairwise_in_order():
    assert matches([1, "a", None], [1, "a", None])
    assert not matches([1, 2], [2, 1])
    assert not matches([1], [1, 1])
    assert not matches([], None)


@pytest.mark.parametrize("expected, actual, result", [
    ("abc", "abc", True),
    ("abc", "ABC", False),
    ("1.50", D("1.50"), True),  # a string matches a decimal of equal value and scale
    ("1.5", D("1.50"), False),
    ("abc", D("1"), False),
    ("IQ==", b"!", True),  # raw bytes whose base64 text equals it
    ("IQ==", b"?", False),
    ("1", 1, False),
])
def test_string_rules(expected, actual, result):
    assert matches(expected, actual) is result


@pytest.mark.parametrize("expected, actual, result", [
    (1, 1, True),
    (D("1.9"), 1, True),  # int truncation quirk
    (D("-1.9"), -1, True),
    (2, 1, False),
    (2**32 + 1, 1, True),  # Java intValue keeps the low 32 bits
    (3000000000, 3000000000, True),  # int64
    (D("3000000000.7"), 3000000000, True),
    (3000000001, 3000000000, False),
    (2**70, 2**70, False),  # beyond 64 bits the actual is not a supported number
    (D("1.0000001"), 1.0, True),  # binary double within 1e-6
    (D("1.1"), 1.0, False),
    (1, D("1"), True),  # integer literal: decimal with scale <= 0
    (100, D("1E+2"), True),
    (1, D("1.0"), False),
    (D("2.50"), D("2.50"), True),  # fraction: value and scale
    (D("2.50"), D("2.5"), False),
    (D("0.0"), D("-0.0"), True),
    (1, True, False),
    (1, "1", False),
    (1, None, False),
])
def test_number_rules(expected, actual, result):
    assert matches(expected, actual) is result


def test_booleans_and_nulls():
    assert matches(True, True) and matches(False, False)
    assert not matches(True, False) and not matches(True, 1) and not matches(False, None)
    assert matches(None, None)
    assert not matches(None, {}) and not matches(None, 0)


def test_difference_names_the_path_of_the_first_mismatch():
    assert difference({"A": [1, {"b": 2}]}, {"A": [1, {"B": 3}]}) == "A[1].b: expected 2 but was 3"
    assert difference({"A": 1}, {"A": 1}) is None


def test_top_level_bytes_become_base64_and_empty_bytes_become_null():
    assert bytes_to_text({"A": b"!", "B": b"", "C": [b"!"]}) == {"A": "IQ==", "B": None, "C": [b"!"]}
    assert bytes_to_text(b"!") == b"!"
