"""CASE (typing, laziness) and CAST between ksqlDB's types, including its text renderings."""
from decimal import Decimal

import pytest

from streamsql import ast
from streamsql.errors import StatementError
from expr_harness import FALSE, NULL, TRUE, call, cast, col, num, op, text, when


def test_searched_case_takes_first_true_branch(batch):
    expr = ast.Case(None, (when(op("<", col("I"), num(0)), text("neg")),
                           when(op("<", col("I"), num(10)), text("small"))), text("large"))
    assert batch.values(expr) == ["small", "large", "neg", "large"]


def test_simple_case_compares_operand(batch):
    expr = ast.Case(col("S"), (when(text("hello"), num(1)),), NULL)
    assert batch.type(expr) == "INTEGER"
    assert batch.values(expr) == [1, None, None, None]


def test_case_branches_are_evaluated_lazily(batch):
    expr = ast.Case(None, (
        when(call("WHENCONDITION", TRUE, TRUE), call("WHENRESULT", num(100), TRUE)),
        when(call("WHENCONDITION", TRUE, FALSE), call("WHENRESULT", num(200), FALSE))),
        call("WHENRESULT", num(300), FALSE))
    assert batch.values(expr) == [100] * 4


def test_case_with_only_null_branches_is_rejected(batch):
    with pytest.raises(StatementError, match="All case branches have NULL type"):
        batch.compile(ast.Case(None, (when(TRUE, NULL),), NULL))


def test_case_branches_must_share_a_type(batch):
    with pytest.raises(StatementError, match="should be the same"):
        batch.compile(ast.Case(None, (when(TRUE, num(1)),), text("x")))


def test_cast_double_to_string_prints_java_double(batch):
    assert batch.values(cast(col("D"), "STRING")) == ["2.5", None, "-1.5E-4", "1.0E7"]
    assert batch.values(cast(op("/", num(0.0), num(0.0)), "STRING"))[0] == "NaN"
    assert batch.values(cast(num(1.2345e20), "STRING"))[0] == "1.2345E20"
    assert batch.values(cast(num(12345678.9), "STRING"))[0] == "1.23456789E7"


def test_cast_collections_to_string_as_ksqldb_prints_them(batch):
    assert batch.values(cast(col("ARR"), "STRING")) == ["[1, 2, 3]", None, "[]", "[5, null, 5]"]
    assert batch.values(cast(col("M"), "STRING")) == ["{a=1, b=2}", None, "{}", "{c=null}"]
    assert batch.values(cast(col("ST"), "STRING")) == \
        ["Struct{F0=1,f1=x}", None, "Struct{f1=y}", "Struct{F0=3}"]


def test_cast_timestamp_to_string_is_iso_with_millis(batch):
    assert batch.values(cast(col("TS"), "STRING"))[3] == "2022-04-28T21:44:47.943"


def test_cast_to_integer_truncates_and_wraps_like_java(batch):
    assert batch.values(cast(col("D"), "INTEGER")) == [2, None, 0, 10000000]
    assert batch.values(cast(col("L"), "INTEGER")) == [1410065408, None, -3, -1]
    assert batch.values(cast(col("DEC"), "INTEGER")) == [10, None, -2, 0]


def test_unparseable_string_casts_to_null_per_row(batch):
    values = batch.values(cast(ast.Case(None, (when(op("=", col("S"), text("hello")),
                                                    text("12")),), text("x")), "INTEGER"))
    assert values == [12, None, None, None]
    assert batch.values(cast(text("10.5"), "INTEGER"))[0] is None
    assert batch.values(cast(text(" 2.50 "), ast.DecimalType(3, 1)))[0] == Decimal("2.5")


def test_cast_string_to_timestamp_accepts_zone_suffix(batch):
    import datetime
    expected = datetime.datetime(2022, 4, 28, 21, 44, 47, 943000)
    assert batch.values(cast(text("2022-04-28T21:44:47.943Z"), "TIMESTAMP"))[0] == expected
    assert batch.values(cast(text("2022-04-28T21:44:47.943"), "TIMESTAMP"))[0] == expected


def test_cast_between_structs_matches_fields_by_name(batch):
    target = ast.StructType((ast.StructField("F0", ast.PrimitiveType("STRING")),
                             ast.StructField("F3", ast.PrimitiveType("STRING"))))
    assert batch.values(cast(col("ST"), target))[0] == {"F0": "1", "F3": None}


def test_cast_array_elements(batch):
    target = ast.ArrayType(ast.PrimitiveType("STRING"))
    assert batch.values(cast(col("ARR"), target))[0] == ["1", "2", "3"]


def test_unsupported_cast_uses_ksqldb_message(batch):
    with pytest.raises(StatementError, match=r"Cast of STRING to ARRAY<INTEGER> is not supported"):
        batch.compile(cast(col("S"), ast.ArrayType(ast.PrimitiveType("INTEGER"))))


def test_cast_of_null_is_typed(batch):
    assert batch.type(cast(NULL, ast.MapType(ast.PrimitiveType("STRING"),
                                             ast.PrimitiveType("INTEGER")))) == \
        "MAP<STRING, INTEGER>"
