"""Math functions: result types, Java's rounding, NaN/Infinity, GREATEST/LEAST resolution."""
import math
from decimal import Decimal

import pytest

from streamsql.errors import StatementError
from expr_harness import NULL, call, col, num, text


@pytest.mark.parametrize("expr, sql_type", [
    (call("ABS", col("I")), "INTEGER"),
    (call("ABS", col("DEC")), "DECIMAL(4, 2)"),
    (call("ROUND", col("D")), "BIGINT"),
    (call("ROUND", col("D"), num(1)), "DOUBLE"),
    (call("ROUND", col("DEC")), "DECIMAL(2, 0)"),
    (call("ROUND", col("DEC"), num(1)), "DECIMAL(4, 2)"),
    (call("FLOOR", col("DEC")), "DECIMAL(4, 2)"),
    (call("SIGN", col("D")), "INTEGER"),
    (call("SQRT", col("I")), "DOUBLE"),
    (call("GREATEST", col("DEC"), num("1.123")), "DECIMAL(5, 3)"),
    (call("GREATEST", col("I"), col("D")), "DOUBLE"),
])
def test_math_result_types(batch, expr, sql_type):
    assert batch.type(expr) == sql_type


def test_round_double_goes_half_up_like_math_round(batch):
    assert batch.values(call("ROUND", num(-2.5))) == [-2] * 4
    assert batch.values(call("ROUND", num(2.5))) == [3] * 4


def test_round_double_to_places_sends_halves_toward_positive_infinity(batch):
    assert batch.values(call("ROUND", num(-1.5), num(0)))[0] == -1.0
    assert batch.values(call("ROUND", num(12345.678), num(-1)))[0] == 12350.0
    assert batch.values(call("ROUND", num(1.234567), num(2)))[0] == 1.23


def test_round_decimal_is_half_up_and_keeps_scale(batch):
    assert batch.values(call("ROUND", col("DEC"), num(1))) == \
        [Decimal("10.10"), None, Decimal("-2.30"), Decimal("0.10")]


def test_trunc(batch):
    assert batch.values(call("TRUNC", num(-1.7))) == [-1] * 4
    assert batch.values(call("TRUNC", col("DEC"), num(1)))[2] == Decimal("-2.20")


def test_logarithms_and_roots_follow_java_for_bad_input(batch):
    assert math.isnan(batch.values(call("LN", num(-1)))[0])
    assert batch.values(call("LN", num(0)))[0] == float("-inf")
    assert math.isnan(batch.values(call("SQRT", num(-1)))[0])
    assert batch.values(call("LOG", num(15), num(13)))[0] == pytest.approx(0.9471572411831843)
    assert batch.values(call("LOG", num(13)))[0] == pytest.approx(2.5649493574615367)
    assert math.isnan(batch.values(call("LOG", num(1), num(13)))[0])
    assert batch.values(call("EXP", col("I")))[1] is None


def test_greatest_and_least_skip_nulls(batch):
    assert batch.values(call("GREATEST", col("I"), NULL, num(5))) == [7, 5, 5, 2147483647]
    assert batch.values(call("LEAST", col("S"), text("b"))) == ["b", "b", "a b", "Abc"]


@pytest.mark.parametrize("args, message", [
    ((col("I"), col("L")), "Function 'greatest' cannot be resolved due to ambiguous method "
                           "parameters (INTEGER, BIGINT)."),
    ((NULL, NULL), "ambiguous method parameters (null, null)."),
    ((), "Function 'greatest' does not accept parameters ()."),
    ((col("S"), col("I")), "Function 'greatest' does not accept parameters (STRING, INTEGER)."),
])
def test_greatest_rejections_use_ksqldb_messages(batch, args, message):
    with pytest.raises(StatementError) as error:
        batch.compile(call("GREATEST", *args))
    assert message in error.value.message


def test_random_is_a_double_in_unit_interval(batch):
    assert all(0 <= v < 1 for v in batch.values(call("RANDOM")))


def test_geo_distance_is_the_great_circle_distance_in_km_or_miles(batch):
    mountain_view, san_francisco = (num(37.4133), num(-122.1162)), (num(37.7877), num(-122.4205))
    km = batch.values(call("GEO_DISTANCE", *mountain_view, *san_francisco))[0]
    miles = batch.values(call("GEO_DISTANCE", *mountain_view, *san_francisco, text("miles")))[0]
    assert round(km, 3) == 49.516
    assert math.isclose(miles, km * 3959 / 6371)
    assert batch.type(call("GEO_DISTANCE", *mountain_view, *mountain_view)) == "DOUBLE"
    assert batch.values(call("GEO_DISTANCE", *mountain_view, *mountain_view))[0] == 0.0
