"""SQL tree helpers: where TRY may guard an expression."""
from sqlglot import exp

from streamsql.functions.sqltree import column, fn, lit, try_where_possible


def test_plain_columns_and_literals_are_left_unguarded():
    assert try_where_possible(column("A")) == column("A")
    assert try_where_possible(lit(3)) == lit(3)


def test_an_expression_that_can_fail_is_tried():
    cast = exp.cast(column("A"), "INT")
    assert try_where_possible(cast).sql("duckdb") == 'TRY(CAST("A" AS INT))'


def test_volatile_functions_are_left_unguarded_as_try_refuses_them():
    draw = exp.Add(this=fn("RANDOM"), expression=lit(1))
    assert try_where_possible(draw) == draw
