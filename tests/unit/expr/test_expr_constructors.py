"""ARRAY[...], MAP(k := v), STRUCT(f := v) constructors, literals and ksqlDB's coercions."""
from decimal import Decimal

import pytest

from streamsql import ast
from streamsql.errors import NotSupportedError, StatementError
from expr_harness import NULL, col, num, text


def test_literal_types(batch):
    assert batch.type(num(1)) == "INTEGER"
    assert batch.type(num(3_000_000_000)) == "BIGINT"
    assert batch.type(num("1.50")) == "DECIMAL(3, 2)"
    assert batch.type(num("0.08")) == "DECIMAL(2, 2)"
    assert batch.type(num(1.5e3)) == "DOUBLE"
    assert batch.values(num("1.50"))[0] == Decimal("1.50")


def test_null_literal_has_no_type(batch):
    assert batch.compile(NULL).type is None


def test_array_elements_are_coerced_to_one_type(batch):
    expr = ast.CreateArray((NULL, num(10), text("20"), col("I")))
    assert batch.type(expr) == "ARRAY<INTEGER>"
    assert batch.values(expr)[0] == [None, 10, 20, 7]


def test_numeric_string_literal_widens_array_type_like_its_number(batch):
    expr = ast.CreateArray((NULL, num(10), text("2e1"), col("I"), col("L")))
    assert batch.type(expr) == "ARRAY<DECIMAL(19, 0)>"
    assert batch.values(expr)[0] == [None, 10, 20, 7, 10_000_000_000]


def test_array_with_uncoercible_string_is_rejected(batch):
    with pytest.raises(StatementError, match='invalid input syntax for type INTEGER: "not a number"'):
        batch.compile(ast.CreateArray((num(1), text("not a number"))))


@pytest.mark.parametrize("expr, message", [
    (ast.CreateArray(()), "Array constructor cannot be empty"),
    (ast.CreateArray((NULL,)), "Cannot construct an array with all NULL elements"),
    (ast.CreateMap(()), "Map constructor cannot be empty"),
    (ast.CreateMap((ast.MapEntry(text("a"), NULL),)), "Cannot construct a map with all NULL values"),
    (ast.CreateMap((ast.MapEntry(NULL, num(1)),)), "Cannot construct a map with all NULL keys"),
    (ast.CreateStruct((ast.StructFieldValue("A", num(1)), ast.StructFieldValue("A", num(2)))),
     "Duplicate field names found in STRUCT"),
])
def test_constructor_errors_use_ksqldb_messages(batch, expr, message):
    with pytest.raises(StatementError, match=message):
        batch.compile(expr)


def test_map_constructor_coerces_keys_and_values_to_one_type_each(batch):
    expr = ast.CreateMap((ast.MapEntry(col("S"), col("B")), ast.MapEntry(num(10), text("no"))))
    assert batch.type(expr) == "MAP<STRING, BOOLEAN>"
    assert batch.values(expr)[0] == {"hello": True, "10": False}


def test_map_constructor_keys_take_their_expression_type(batch):
    expr = ast.CreateMap((ast.MapEntry(col("I"), col("D")),))
    assert batch.type(expr) == "MAP<INTEGER, DOUBLE>"


def test_map_constructor_keeps_null_key_as_text_null(batch):
    expr = ast.CreateMap((ast.MapEntry(text("k"), col("I")), ast.MapEntry(NULL, col("I"))))
    assert batch.values(expr)[0] == {"k": 7, "null": 7}


def test_struct_constructor(batch):
    expr = ast.CreateStruct((ast.StructFieldValue("A", col("I")),
                             ast.StructFieldValue("b", col("S"))))
    assert batch.type(expr) == "STRUCT<`A` INTEGER, `b` STRING>"
    assert batch.values(expr)[0] == {"A": 7, "b": "hello"}


def test_array_of_structs_merges_their_fields(batch):
    expr = ast.CreateArray((
        ast.CreateStruct((ast.StructFieldValue("X", col("I")),)),
        ast.CreateStruct((ast.StructFieldValue("Y", col("I")),))))
    assert batch.values(expr)[0] == [{"X": 7, "Y": None}, {"X": None, "Y": 7}]


def test_empty_struct_is_not_supported_yet(batch):
    with pytest.raises(NotSupportedError):
        batch.compile(ast.CreateStruct(()))


def test_map_with_colliding_computed_keys_is_null_for_that_row(batch):
    expr = ast.CreateMap((ast.MapEntry(col("S"), num(1)), ast.MapEntry(text("hello"), num(2))))
    assert batch.values(expr)[:3] == [None, {"null": 1, "hello": 2}, {"a b": 1, "hello": 2}]
