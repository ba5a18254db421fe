"""Array and map functions, with lambdas (TRANSFORM, FILTER, REDUCE)."""
import pytest

from streamsql import ast
from streamsql.errors import StatementError
from expr_harness import NULL, call, col, lam, num, op, text


@pytest.mark.parametrize("expr, expected", [
    (call("ARRAY_LENGTH", col("ARR")), [3, None, 0, 3]),
    (call("ARRAY_CONTAINS", col("ARR"), num(2)), [True, False, False, False]),
    (call("ARRAY_CONTAINS", col("ARR"), NULL), [False, False, False, True]),
    (call("ARRAY_DISTINCT", col("ARR")), [[1, 2, 3], None, [], [5, None]]),
    (call("ARRAY_MAX", col("ARR")), [3, None, None, 5]),
    (call("ARRAY_MIN", col("ARR")), [1, None, None, 5]),
    (call("ARRAY_SORT", col("ARR"), text("desc")), [[3, 2, 1], None, [], [5, 5, None]]),
    (call("ARRAY_JOIN", col("ARR"), text("|")), ["1|2|3", None, "", "5|null|5"]),
    (call("SLICE", col("ARR"), num(2), NULL), [[2, 3], None, [], [None, 5]]),
    (call("MAP_KEYS", col("M")), [["a", "b"], None, [], ["c"]]),
    (call("MAP_VALUES", col("M")), [[1, 2], None, [], [None]]),
    (call("ARRAY_REMOVE", col("ARR"), num(5)), [[1, 2, 3], None, [], [None]]),
    (call("ARRAY_REMOVE", col("ARR"), NULL), [[1, 2, 3], None, [], [5, 5]]),
    (call("ARRAY_UNION", col("ARR"), ast.CreateArray((num(3), num(4)))),
     [[1, 2, 3, 4], None, [3, 4], [5, None, 3, 4]]),
    (call("ARRAY_INTERSECT", col("ARR"), ast.CreateArray((num(3), num(5)))),
     [[3], None, [], [5]]),
    (call("ARRAY_EXCEPT", col("ARR"), ast.CreateArray((num(3), num(5)))),
     [[1, 2], None, [], [None]]),
    (call("ARRAY_JOIN", col("ARR"), NULL), ["123", None, "", "5null5"]),
    (call("GENERATE_SERIES", num(4), num(2)), [[4, 3, 2]] * 4),
    (call("GENERATE_SERIES", num(0), num(9), num(3)), [[0, 3, 6, 9]] * 4),
    (call("ENTRIES", col("M"), ast.BooleanLiteral(True)),
     [[{"K": "a", "V": 1}, {"K": "b", "V": 2}], None, [], [{"K": "c", "V": None}]]),
    (call("AS_MAP", call("SPLIT", text("a,b"), text(",")), col("ARR")),
     [{"a": 1, "b": 2}, None, {"a": None, "b": None}, {"a": 5, "b": None}]),
    (call("MAP_UNION", col("M"), ast.CreateMap((ast.MapEntry(text("a"), num(9)),))),
     [{"a": 9, "b": 2}, {"a": 9}, {"a": 9}, {"c": None, "a": 9}]),
])
def test_collection_function(batch, expr, expected):
    assert batch.values(expr) == expected


def test_transform_array_with_lambda(batch):
    expr = call("TRANSFORM", col("ARR"), lam("X", op("*", col("X"), num(2))))
    assert batch.type(expr) == "ARRAY<INTEGER>"
    assert batch.values(expr)[:3] == [[2, 4, 6], None, []]


def test_arithmetic_on_null_inside_a_lambda_makes_the_row_null(batch):
    # ksqlDB's lambda code throws on the NULL element: the call yields NULL for that row.
    doubled = call("TRANSFORM", col("ARR"), lam("X", op("*", col("X"), num(2))))
    assert batch.values(doubled)[3] is None
    total = call("REDUCE", col("ARR"), num(0), lam("S,X", op("+", col("S"), col("X"))))
    assert batch.values(total)[3] is None
    upper = call("TRANSFORM", ast.CreateArray((text("a"), NULL)), lam("X", call("UCASE", col("X"))))
    assert batch.values(upper)[0] == ["A", None]


def test_lambda_sees_outer_columns(batch):
    expr = call("TRANSFORM", col("ARR"), lam("X", op("+", col("X"), col("I"))))
    assert batch.values(expr)[0] == [8, 9, 10]


def test_transform_map_rewrites_keys_and_values(batch):
    expr = call("TRANSFORM", col("M"), lam("K,V", call("UCASE", col("K"))),
                lam("K,V", cast_to_string(col("V"))))
    assert batch.type(expr) == "MAP<STRING, STRING>"
    assert batch.values(expr)[0] == {"A": "1", "B": "2"}


def cast_to_string(expr):
    return ast.Cast(expr, ast.PrimitiveType("STRING"))


def test_filter_array_and_map(batch):
    assert batch.values(call("FILTER", col("ARR"), lam("X", op(">", col("X"), num(1))))) == \
        [[2, 3], None, [], [5, 5]]
    assert batch.values(call("FILTER", col("M"), lam("K,V", op("=", col("K"), text("b")))))[0] == \
        {"b": 2}


def test_reduce_array_and_map(batch):
    total = call("REDUCE", col("ARR"), num(0), lam("S,X", op("+", col("S"), col("X"))))
    assert batch.values(total)[:3] == [6, 0, 0]
    keys = call("REDUCE", col("M"), text(""), lam("S,K,V", op("+", col("S"), col("K"))))
    assert batch.values(keys)[:3] == ["ab", "", ""]


def test_filter_lambda_must_return_boolean(batch):
    with pytest.raises(StatementError, match="must return BOOLEAN"):
        batch.compile(call("FILTER", col("ARR"), lam("X", col("X"))))


def test_lambda_outside_a_function_is_rejected(batch):
    with pytest.raises(StatementError, match="only allowed as a function argument"):
        batch.compile(lam("X", col("X")))


def test_array_function_rejects_non_array(batch):
    with pytest.raises(StatementError, match=r"'array_length' does not accept parameters \(STRING\)"):
        batch.compile(call("ARRAY_LENGTH", col("S")))


def test_lambda_with_a_volatile_function_compiles(batch):
    expr = call("TRANSFORM", col("ARR"), lam("X", op("<", call("RANDOM"), num(2.0))))
    assert batch.values(expr)[0] == [True, True, True]
