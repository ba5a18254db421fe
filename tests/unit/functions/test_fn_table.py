"""Table functions: EXPLODE turns each row into one row per array element, CUBE_EXPLODE into
one row per combination of its elements."""
import pytest

from streamsql.errors import StatementError
from streamsql import ast
from expr_harness import call, col, evaluate, num


def test_explode_gives_a_row_per_element_and_none_for_empty_or_null_arrays(batch):
    # ARR is [1, 2, 3], NULL, [], [5, NULL, 5] on the harness's four rows
    assert batch.values(call("EXPLODE", col("ARR"))) == [1, 2, 3, 5, None, 5]
    assert batch.type(call("EXPLODE", col("ARR"))) == "INTEGER"


def test_two_explodes_zip_and_pad_the_shorter_with_null(batch):
    first_element = call("SLICE", col("ARR"), num(1), num(1))
    result = evaluate([(batch.compile(call("EXPLODE", col("ARR"))), "A"),
                       (batch.compile(call("EXPLODE", first_element)), "B")], batch.table)
    assert list(zip(result.column("A").to_pylist(), result.column("B").to_pylist())) == [
        (1, 1), (2, None), (3, None), (5, 5), (None, None), (5, None)]


def test_explode_of_a_map_names_the_valid_signatures(batch):
    with pytest.raises(StatementError, match=r"Function 'explode' does not accept parameters "
                       r"\(MAP<STRING, INTEGER>\)\.\nValid alternatives are:"):
        batch.compile(call("EXPLODE", col("M")))


def test_cube_explode_lists_each_combination_keeping_elements_from_the_last_one(batch):
    pair = ast.CreateArray((col("I"), num(1)))  # I is 7 on the first row
    assert batch.values(call("CUBE_EXPLODE", pair))[:4] == [
        [None, None], [None, 1], [7, None], [7, 1]]
    assert batch.type(call("CUBE_EXPLODE", pair)) == "ARRAY<INTEGER>"


def test_cube_explode_leaves_out_combinations_that_a_null_element_repeats(batch):
    # ARR is [1, 2, 3], NULL, [], [5, NULL, 5]: no rows for NULL, one empty row for []
    rows = batch.values(call("CUBE_EXPLODE", col("ARR")))
    assert rows[8] == []
    assert rows[9:] == [[None, None, None], [None, None, 5], [5, None, None], [5, None, 5]]
