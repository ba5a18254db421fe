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


def test_bad_udf_fails_for_an_int_and_for_a_true_boolean(batch):
    with pytest.raises(duckdb.Error, match="bad_udf failed on purpose"):
        batch.values(call("BAD_UDF", col("I")))
    assert batch.values(call("BAD_UDF", ast.BooleanLiteral(False))) == [0] * 4
    with pytest.raises(duckdb.Error, match="bad_udf failed on purpose"):
        batch.values(call("BAD_UDF", ast.BooleanLiteral(True)))


def test_test_udtf_of_seven_values_gives_each_as_java_text(batch):
    args = [col(name) for name in ("I", "L", "D", "B", "S", "DEC", "ST")]
    assert batch.values(call("TEST_UDTF", *args))[:7] == [
        "7", "10000000000", "2.5", "true", "hello", "10.10", "Struct{F0=1,f1=x}"]
    assert batch.type(call("TEST_UDTF", *args)) == "STRING"


def test_test_udtf_of_one_decimal_widens_it(batch):
    assert batch.type(call("TEST_UDTF", col("DEC"))) == "DECIMAL(30, 10)"


def test_throwing_udtf_fails_only_for_true(batch):
    assert batch.values(call("THROWING_UDTF", ast.BooleanLiteral(False))) == [False] * 4
    with pytest.raises(duckdb.Error, match="throwing_udtf failed on purpose"):
        batch.values(call("THROWING_UDTF", ast.BooleanLiteral(True)))
