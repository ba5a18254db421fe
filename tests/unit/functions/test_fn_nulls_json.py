"""COALESCE / IFNULL / NULLIF and the JSON string functions."""
import pytest

from streamsql import ast
from streamsql.errors import StatementError
from expr_harness import NULL, call, col, num, op, text, when


def test_coalesce_and_ifnull_take_first_non_null(batch):
    assert batch.values(call("COALESCE", col("S"), NULL, text("x"))) == ["hello", "x", "a b", "Abc"]
    arr = ast.CreateArray((num(10), num(20)))
    assert batch.values(call("IFNULL", col("ARR"), arr)) == [[1, 2, 3], [10, 20], [], [5, None, 5]]


def test_nullif(batch):
    assert batch.values(call("NULLIF", col("I"), num(7))) == [None, None, -7, 2147483647]


def test_coalesce_without_arguments_uses_ksqldb_message(batch):
    with pytest.raises(StatementError, match=r"Function 'COALESCE' does not accept parameters \(\)"):
        batch.compile(call("COALESCE"))


def test_coalesce_of_mixed_types_is_rejected(batch):
    with pytest.raises(StatementError, match="does not accept parameters"):
        batch.compile(call("COALESCE", col("S"), col("I")))


def test_extractjsonfield(batch):
    doc = text('{"a": {"b": 1, "c": [1, 2]}, "s": "x"}')
    assert batch.values(call("EXTRACTJSONFIELD", doc, text("$.a.b")))[0] == "1"
    assert batch.values(call("EXTRACTJSONFIELD", doc, text("$.s")))[0] == "x"
    assert batch.values(call("EXTRACTJSONFIELD", doc, text("$.missing")))[0] is None


def test_extractjsonfield_of_invalid_json_is_null_for_that_row(batch):
    doc = ast.Case(None, (when(op("=", col("I"), num(7)), text("{not json")),),
                   text('{"a": 2}'))
    assert batch.values(call("EXTRACTJSONFIELD", doc, text("$.a"))) == [None, "2", "2", "2"]


def test_is_json_string(batch):
    assert batch.values(call("IS_JSON_STRING", text("[1]")))[0] is True
    assert batch.values(call("IS_JSON_STRING", text("{")))[0] is False


def test_json_array_length_and_keys(batch):
    assert batch.values(call("JSON_ARRAY_LENGTH", text('["a", "b"]')))[0] == 2
    assert batch.values(call("JSON_ARRAY_LENGTH", text('{"a": 1}')))[0] is None
    assert batch.values(call("JSON_KEYS", text('{"Red": 3, "Green": 5}')))[0] == ["Red", "Green"]
    assert batch.values(call("JSON_KEYS", text("not json")))[0] is None


def test_as_value_is_identity(batch):
    assert batch.values(call("AS_VALUE", col("I"))) == [7, None, -7, 2147483647]


def test_extractjsonfield_has_no_negative_indexes(batch):
    doc = text('{"array": [1, 2, 3]}')
    assert batch.values(call("EXTRACTJSONFIELD", doc, text("$.array[-1]")))[0] is None
    assert batch.values(call("EXTRACTJSONFIELD", doc, text("$.array[0]")))[0] == "1"


def test_json_array_contains(batch):
    assert batch.values(call("JSON_ARRAY_CONTAINS", text('["Pink", null]'), text("Pink")))[0]
    assert batch.values(call("JSON_ARRAY_CONTAINS", text("[1, 2]"), num(2)))[0] is True
    assert batch.values(call("JSON_ARRAY_CONTAINS", text('{"a": 1}'), num(1)))[0] is False
    assert batch.values(call("JSON_ARRAY_CONTAINS", text("[1"), num(1)))[0] is False


def test_json_records_and_items(batch):
    records = call("JSON_RECORDS", text('{"Red": 3, "W": "Seven", "o": {"a": 1}}'))
    assert batch.values(records)[0] == {"Red": "3", "W": "Seven", "o": '{"a":1}'}
    assert batch.values(call("JSON_RECORDS", text("")))[0] is None
    items = call("JSON_ITEMS", text('[{"type": "A"}, 2]'))
    assert batch.values(items)[0] == ['{"type":"A"}', "2"]


def test_extractjsonfield_reads_the_first_value_and_ignores_what_follows(batch):
    doc = text('{"name": "cdd", "a": {"b": [1]}}}')
    assert batch.values(call("EXTRACTJSONFIELD", doc, text("$.name")))[0] == "cdd"
    assert batch.values(call("EXTRACTJSONFIELD", doc, text("$.a.b[0]")))[0] == "1"
    assert batch.values(call("EXTRACTJSONFIELD", text('{"a": 1'), text("$.a")))[0] is None
