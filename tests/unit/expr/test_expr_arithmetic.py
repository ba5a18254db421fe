"""Arithmetic typing and Java semantics (overflow wrap, truncating division, NULL on /0)."""
from decimal import Decimal

import pytest

from streamsql import ast
from streamsql.errors import StatementError
from expr_harness import NULL, TRUE, call, col, num, op, text


@pytest.mark.parametrize("expr, sql_type", [
    (op("+", col("I"), num(1)), "INTEGER"),
    (op("*", col("I"), col("L")), "BIGINT"),
    (op("-", col("I"), col("D")), "DOUBLE"),
    (op("+", col("DEC"), col("DEC")), "DECIMAL(5, 2)"),
    (op("*", col("DEC"), col("DEC")), "DECIMAL(9, 4)"),
    (op("/", col("DEC"), col("DEC")), "DECIMAL(11, 7)"),
    (op("%", col("DEC"), col("DEC")), "DECIMAL(4, 2)"),
    (op("+", col("DEC"), col("I")), "DECIMAL(13, 2)"),
    (op("+", col("DEC"), col("D")), "DOUBLE"),
    (op("+", col("S"), text("!")), "STRING"),
])
def test_result_type_follows_ksqldb(batch, expr, sql_type):
    assert batch.type(expr) == sql_type


def test_integer_overflow_wraps_like_java(batch):
    assert batch.values(op("+", col("I"), num(1))) == [8, None, -6, -2147483648]
    assert batch.values(op("*", col("L"), num(2)))[3] == -2


def test_integer_division_truncates_toward_zero_and_modulo_keeps_dividend_sign(batch):
    assert batch.values(op("/", col("I"), num(2)))[:3] == [3, None, -3]
    assert batch.values(op("%", col("I"), num(2)))[:3] == [1, None, -1]


def test_integer_division_by_zero_is_null_for_the_row_only(batch):
    assert batch.values(op("/", num(10), op("-", col("I"), num(7)))) == [None, None, 0, 0]


def test_double_division_by_zero_follows_ieee(batch):
    values = batch.values(op("/", col("D"), num(0.0)))
    assert values[0] == float("inf") and values[2] == float("-inf")


def test_decimal_arithmetic_keeps_exact_scale(batch):
    assert batch.values(op("/", col("DEC"), col("DEC")))[0] == Decimal("1.0000000")
    assert batch.values(op("*", col("DEC"), num("2.0")))[2] == Decimal("-4.500")


def test_string_plus_string_concatenates(batch):
    assert batch.values(op("+", text("<"), op("+", col("S"), text(">")))) == \
        ["<hello>", None, "<a b>", "<Abc>"]


def test_null_literal_operand_is_rejected_as_ksqldb_does(batch):
    with pytest.raises(StatementError) as error:
        batch.compile(op("+", col("I"), NULL))
    assert "Error processing expression: (I + null). Arithmetic on types INTEGER and null " \
           "are not supported." in error.value.message
    with pytest.raises(StatementError) as error:
        batch.compile(op("*", NULL, NULL))
    assert "Arithmetic on types null and null are not supported." in error.value.message


def test_unsupported_operand_types_use_ksqldb_message(batch):
    with pytest.raises(StatementError) as error:
        batch.compile(op("+", TRUE, num("1.5")))
    assert "Error processing expression: (true + 1.5). Unsupported arithmetic types. " \
           "BOOLEAN DECIMAL" in error.value.message


def test_unary_minus_of_min_value_wraps(batch):
    assert batch.values(ast.UnaryOp("-", op("-", num(-2147483647), num(1)))) == \
        [-2147483648] * 4


def test_nested_operators_keep_their_grouping_in_sql(batch):
    assert batch.values(op("*", op("-", col("I"), num(1)), num(2)))[0] == 12
    assert batch.values(call("ROUND", op("+", col("D"), col("D")), num(1)))[0] == 5.0
