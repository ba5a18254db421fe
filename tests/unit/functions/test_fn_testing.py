"""The QTT test-only functions resolve overloads and build structs like ksqlDB's test UDFs."""
import duckdb
import pytest

from streamsql import ast
from expr_harness import NULL, call, col


def test_test_udf_picks_fixed_arity_overloads_before_varargs(batch):
    assert batch.values(call("TEST_UDF", col("L"), NULL))[0] == "doStuffLongString"
    assert batch.values(call("TEST_UDF", col("L"), col("L"), NULL))[0] == "doStuffLongLongString"
    assert batch.values(call("TEST_UDF", *[col("L")] * 5))[0] == "doStuffLongVarargs"


def test_test_udf_reads_and_builds_structs(batch):
    assert batch.values(call("TEST_UDF", call("TOSTRUCT", col("S")))) == \
        ["hello", None, "a b", "Abc"]
    assert batch.values(call("TEST_UDF"))[0] == {"A": "foo"}


def test_whenresult_raises_only_when_evaluated(batch):
    with pytest.raises(duckdb.Error):
        batch.values(call("WHENRESULT", ast.IntegerLiteral(1), ast.BooleanLiteral(False)))
    assert batch.values(call("WHENRESULT", ast.IntegerLiteral(1), ast.BooleanLiteral(True))) \
        == [1] * 4
