"""Columns, qualifiers, struct fields, subscripts, and the errors for names that do not resolve."""
import pytest

from streamsql import ast
from streamsql.catalog.types import INTEGER
from streamsql.errors import Span, StatementError
from streamsql.expr import Scope, ScopeColumn, compile_expr
from expr_harness import col, num, text


def test_unknown_column_names_the_clause_and_suggests_the_nearest(batch):
    span = Span(1, 8, 1, 10)
    with pytest.raises(StatementError) as error:
        batch.compile(ast.ColumnRef("II", span=span), clause="SELECT")
    assert error.value.message == "SELECT column 'II' cannot be resolved."
    assert error.value.span == span
    assert error.value.diagnostic.hint == "did you mean 'I'?"


def test_qualified_column_resolves_by_source(batch):
    assert batch.values(col("I", "T")) == [7, None, -7, 2147483647]
    with pytest.raises(StatementError, match="'X.I' cannot be resolved"):
        batch.compile(col("I", "X"))


def test_same_name_from_two_sources_is_ambiguous_unqualified(batch):
    scope = Scope([ScopeColumn("ID", INTEGER, "L_ID", "L"), ScopeColumn("ID", INTEGER, "R_ID", "R")])
    with pytest.raises(StatementError, match="ambiguous"):
        compile_expr(col("ID"), scope, batch.registry)
    assert compile_expr(col("ID", "R"), scope, batch.registry).sql.sql() == '"R_ID"'


def test_struct_field_access_is_null_safe(batch):
    assert batch.values(ast.FieldAccess(col("ST"), "f1")) == ["x", None, "y", None]
    with pytest.raises(StatementError, match="Could not find field 'NOPE'"):
        batch.compile(ast.FieldAccess(col("ST"), "NOPE"))


def test_array_subscript_is_one_based_negative_from_end_and_null_out_of_range(batch):
    assert batch.values(ast.Subscript(col("ARR"), num(1))) == [1, None, None, 5]
    assert batch.values(ast.Subscript(col("ARR"), num(-1))) == [3, None, None, 5]
    assert batch.values(ast.Subscript(col("ARR"), num(9))) == [None] * 4


def test_map_subscript_of_missing_key_is_null(batch):
    assert batch.values(ast.Subscript(col("M"), text("a"))) == [1, None, None, None]


def test_pseudo_columns_come_from_the_scope(batch):
    assert batch.values(col("ROWTIME"))[0] == 1526075913000
