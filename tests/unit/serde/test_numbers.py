"""numbers: Java's number text and integer narrowing."""
from decimal import Decimal

import pytest

from streamsql.serde.numbers import (decimal_text, fit_decimal, java_double_text,
                                     parse_java_double, parse_java_int, parse_java_long,
                                     wrap_int, wrap_long)

# (value, what Java's Double.toString prints)
JAVA_DOUBLES = [
    (0.1, "0.1"), (1.0, "1.0"), (1e7, "1.0E7"), (1.0e-5, "1.0E-5"),
    (123456789.0, "1.23456789E8"), (0.001, "0.001"), (9999999.0, "9999999.0"),
    (1e21, "1.0E21"), (1.5e-4, "1.5E-4"), (-0.0, "-0.0"), (0.0, "0.0"), (-1.5, "-1.5"),
    (100.0, "100.0"), (1234.589, "1234.589"), (9876.54321, "9876.54321"),
    (12345678.9, "1.23456789E7"), (-1e7, "-1.0E7"), (0.000999, "9.99E-4"),
    (1e-3, "0.001"), (1.7976931348623157e308, "1.7976931348623157E308"),
    (4.9e-324, "4.9E-324"), (1e16, "1.0E16"), (123456789012.0, "1.23456789012E11"),
    (float("nan"), "NaN"), (float("inf"), "Infinity"), (float("-inf"), "-Infinity"),
    (0.30000000000000004, "0.30000000000000004"), (2.5e-3, "0.0025"), (1e100, "1.0E100"),
    (1e-323, "9.9E-324"), (1e23, "1.0E23"),
]


@pytest.mark.parametrize("value,expected", JAVA_DOUBLES, ids=[t for _, t in JAVA_DOUBLES])
def test_java_double_text_matches_java(value, expected):
    assert java_double_text(value) == expected


def test_java_double_text_round_trips():
    for value in (0.1 * i for i in range(-50, 50)):
        assert float(java_double_text(value)) == value


@pytest.mark.parametrize("value,scale,expected", [
    (Decimal("10"), 2, "10.00"), (Decimal("1.5"), 4, "1.5000"), (Decimal("-0.5"), 1, "-0.5"),
    (Decimal("10.1234512345123451234"), 19, "10.1234512345123451234"),
    (Decimal("0.00000001"), 8, "1E-8"),  # BigDecimal.toString turns small values scientific
    (Decimal("12.365"), 4, "12.3650"), (Decimal("0"), 3, "0.000"),
])
def test_decimal_text_keeps_every_scale_digit(value, scale, expected):
    assert decimal_text(value, scale) == expected


def test_decimal_text_plain_never_uses_an_exponent():
    assert decimal_text(Decimal("0.00000001"), 8, plain=True) == "0.00000001"


def test_fit_decimal_pads_to_the_column_scale():
    assert str(fit_decimal(Decimal("10.1"), 4, 2)) == "10.10"
    assert str(fit_decimal(Decimal(10), 6, 4)) == "10.0000"


def test_fit_decimal_rejects_overflow_and_rounding_in_ksqldb_words():
    with pytest.raises(ValueError, match=r"Numeric field overflow: A field with precision 4 and "
                                         r"scale 2 must round to an absolute value less than "
                                         r"10\^2. Got 100.5"):
        fit_decimal(Decimal("100.5"), 4, 2)
    with pytest.raises(ValueError, match=r"Cannot fit decimal '1.234' into DECIMAL\(4, 2\) "
                                         "without rounding."):
        fit_decimal(Decimal("1.234"), 4, 2)


def test_wrapping_keeps_the_low_bits_like_java_narrowing():
    assert wrap_int(2**31) == -(2**31)
    assert wrap_int(2**32 + 5) == 5
    assert wrap_int(-1) == -1
    assert wrap_long(2**63) == -(2**63)


def test_java_integer_parsing_is_strict():
    assert parse_java_int("+12") == 12
    assert parse_java_int("-7") == -7
    for bad in ("", " 1", "1.0", "2147483648", "1e3", "٣"):
        with pytest.raises(ValueError):
            parse_java_int(bad)
    assert parse_java_long("9223372036854775807") == 2**63 - 1


def test_java_double_parsing_accepts_what_parse_double_accepts():
    assert parse_java_double(" 1.5 ") == 1.5
    assert parse_java_double("1e3") == 1000.0
    assert parse_java_double("2d") == 2.0
    assert parse_java_double("-Infinity") == float("-inf")
    for bad in ("abc", "", "1_000", "inf"):
        with pytest.raises(ValueError):
            parse_java_double(bad)
