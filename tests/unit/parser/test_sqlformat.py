"""sqlformat: canonical text for types, names and expressions that parses back unchanged."""
from decimal import Decimal

import pytest

from streamsql import ast
from streamsql.parser import keywords, parse_expression, parse_type
from streamsql.sqlformat import KEYWORDS, format_expression, format_identifier, format_type


def test_formatter_quotes_every_grammar_keyword():
    # ID only ever follows ASSERT SCHEMA SUBJECT <subject>, which is printed as a string.
    assert keywords() - {"ID"} == KEYWORDS


@pytest.mark.parametrize("name, text", [
    ("ORDERS", "ORDERS"), ("orders", "`orders`"), ("SELECT", "`SELECT`"), ("KEY", "`KEY`"),
    ("A`B", "`A``B`"), ("1COL", "`1COL`"), ("SECONDS", "`SECONDS`"), ("with space", "`with space`"),
])
def test_identifiers_are_quoted_only_when_needed(name, text):
    assert format_identifier(name) == text


@pytest.mark.parametrize("text", [
    "INTEGER", "DECIMAL(10, 2)", "ARRAY<MAP<STRING, STRUCT<A INTEGER, `b` ARRAY<BYTES>>>>",
    "STRUCT<>", "ADDRESS", "`INT`",
])
def test_types_format_canonically(text):
    assert format_type(parse_type(text)) == text


def test_custom_type_named_like_builtin_stays_custom():
    assert parse_type(format_type(ast.CustomTypeRef("STRING"))) == ast.CustomTypeRef("STRING")


@pytest.mark.parametrize("expr, text", [
    (ast.DoubleLiteral(1500.0), "1.5E3"),
    (ast.DoubleLiteral(0.1), "1E-1"),
    (ast.DecimalLiteral(Decimal("1")), "1."),
    (ast.DecimalLiteral(Decimal("-0.50")), "-0.50"),
    (ast.UnaryOp("-", ast.IntegerLiteral(-1)), "- -1"),
    (ast.Subscript(ast.IntegerLiteral(-1), ast.IntegerLiteral(1)), "(-1)[1]"),
    (ast.BinaryOp("-", ast.ColumnRef("A"), ast.BinaryOp("-", ast.ColumnRef("B"), ast.ColumnRef("C"))), "A - (B - C)"),
    (ast.BinaryOp("=", ast.BinaryOp("=", ast.ColumnRef("A"), ast.ColumnRef("B")), ast.BooleanLiteral(True)), "(A = B) = TRUE"),
    (ast.UnaryOp("NOT", ast.BinaryOp("AND", ast.ColumnRef("A"), ast.ColumnRef("B"))), "NOT (A AND B)"),
    (ast.FunctionCall("F", (ast.ColumnRef("DAYS"), ast.IntervalUnit("DAYS"))), "F(`DAYS`, DAYS)"),
])
def test_expressions_parenthesise_by_precedence(expr, text):
    assert format_expression(expr) == text
    assert parse_expression(text) == expr
