"""Comparisons, logic, LIKE, BETWEEN, IN, IS [NOT] NULL / DISTINCT FROM and their type errors."""
import pytest

from streamsql import ast
from streamsql.catalog.types import INTEGER, STRING
from streamsql.errors import StatementError
from streamsql.expr import Scope, ScopeColumn, compile_expr
from expr_harness import NULL, col, num, op, text


def test_comparison_widens_numerics(batch):
    assert batch.values(op(">", col("I"), col("D"))) == [True, False, False, True]
    assert batch.values(op("=", col("DEC"), num("10.1"))) == [True, False, False, False]


def test_comparison_with_null_operand_is_false_as_in_ksqldb(batch):
    assert batch.values(op("=", col("I"), NULL)) == [False] * 4
    assert batch.values(ast.UnaryOp("NOT", op("<>", col("S"), text("x"))))[1] is True


def test_a_where_clause_comparing_with_the_null_literal_is_rejected_as_in_ksqldb(batch):
    with pytest.raises(StatementError, match="Comparison with NULL not supported: "
                       "INTEGER = NULL\nUse 'IS NULL' or 'IS NOT NULL' instead."):
        batch.compile(op("=", col("I"), NULL), clause="WHERE")


def test_string_comparison_is_case_sensitive(batch):
    assert batch.values(op("<", col("S"), text("b2"))) == [False, False, True, True]


def test_comparing_string_with_int_is_rejected_with_ksqldb_message(batch):
    with pytest.raises(StatementError) as error:
        batch.compile(op(">=", col("I"), text("not an int")))
    assert error.value.message == ("Cannot compare I (INTEGER) to 'not an int' (STRING) with "
                                   "GREATER_THAN_OR_EQUAL.")


def test_comparing_two_null_literals_is_rejected(batch):
    with pytest.raises(StatementError, match="Comparison with NULL not supported: NULL <> NULL"):
        batch.compile(op("<>", NULL, NULL))


def test_timestamp_compares_with_iso_string(batch):
    assert batch.values(op(">", col("TS"), text("2020-01-01T00:00:00"))) == \
        [False, False, False, True]


def test_and_or_use_three_valued_logic(batch):
    assert batch.values(op("AND", col("B"), op(">", col("I"), num(0)))) == \
        [True, False, False, True]
    assert batch.values(op("OR", col("B"), op(">", col("I"), num(0)))) == \
        [True, None, False, True]


def test_like_supports_wildcards_and_escape(batch):
    assert batch.values(ast.Like(col("S"), text("h_l%"))) == [True, None, False, False]
    assert batch.values(ast.Like(text("50%"), text("50!%"), escape="!")) == [True] * 4
    assert batch.values(ast.Like(col("S"), text("%b%"), negated=True)) == \
        [True, None, False, False]


def test_between_and_in(batch):
    assert batch.values(ast.Between(col("I"), num(0), num(10))) == [True, False, False, False]
    assert batch.values(ast.InList(col("I"), (num(7), num(-7)))) == [True, False, True, False]
    assert batch.values(ast.InList(col("S"), (text("x"),), negated=True)) == \
        [True, True, True, True]


def test_is_null_and_is_distinct_from(batch):
    assert batch.values(ast.IsNull(col("S"))) == [False, True, False, False]
    assert batch.values(ast.IsDistinctFrom(col("I"), NULL)) == [True, False, True, True]
    assert batch.values(ast.IsDistinctFrom(col("I"), num(7), negated=True)) == \
        [True, False, False, False]


def test_not_requires_boolean(batch):
    with pytest.raises(StatementError, match="boolean"):
        batch.compile(ast.UnaryOp("NOT", col("I")))


def test_compare_error_names_columns_as_the_query_knows_them(batch):
    scope = Scope([ScopeColumn("BAR", INTEGER, "I1_BAR", "I1"),
                   ScopeColumn("BAR", STRING, "I2_BAR", "I2")])
    with pytest.raises(StatementError) as error:
        compile_expr(op(">", col("BAR", "I1"), col("BAR", "I2")), scope, batch.registry)
    assert error.value.message == \
        "Cannot compare I1_BAR (INTEGER) to I2_BAR (STRING) with GREATER_THAN."
