"""QTT test-only functions: WHENCONDITION/WHENRESULT (fail when evaluated unexpectedly),
TEST_UDF (overload resolution) and TOSTRUCT (struct results).

Registered only by default_registry(test_functions=True), as ksqlDB's test runner loads them.
"""
from __future__ import annotations

from sqlglot import exp

from streamsql.catalog.types import BIGINT, BOOLEAN, INTEGER, STRING, SqlType
from streamsql.functions.registry import Call, FunctionRegistry, ScalarFunction
from streamsql.functions.table import TABLE
from streamsql.functions.casts import struct_field
from streamsql.functions.sqltree import case, fn, ident, lit
from streamsql.functions.typed import Typed

CATEGORY = "TEST"


def register(registry: FunctionRegistry) -> None:
    def guarded(name: str, returns: SqlType) -> None:
        def bind(call: Call) -> Typed:
            value, evaluated = call.match(returns, BOOLEAN) or call.reject()
            # `evaluated` false means the test expects this call never to run on any row.
            raise_ = fn("ERROR", lit(f"{name} evaluated when it should not be"))
            return Typed(case((evaluated.sql, value.sql), default=raise_), returns)
        registry.scalar(name, category=CATEGORY, display_name=name.lower(),
                        description="Test helper: returns its first argument; raises when "
                                    "evaluated while the second is false.",
                        signatures=[f"{name}({returns.sql()}, BOOLEAN)"])(bind)

    guarded("WHENCONDITION", BOOLEAN)
    guarded("WHENRESULT", INTEGER)

    struct_a = SqlType.struct((("A", STRING),))

    def struct_of_a(value: exp.Expression) -> exp.Expression:
        return fn("STRUCT_PACK", exp.PropertyEQ(this=ident("A"), expression=value))

    @registry.scalar("TEST_UDF", category=CATEGORY, display_name="test_udf",
                     description="Test helper: names the overload chosen for its arguments.",
                     signatures=["TEST_UDF()", "TEST_UDF(STRUCT<A STRING>)",
                                 "TEST_UDF(BIGINT, STRING)", "TEST_UDF(BIGINT, BIGINT, STRING)",
                                 "TEST_UDF(BIGINT...)"])
    def test_udf(call: Call) -> Typed:
        if not call.args:
            return Typed(struct_of_a(lit("foo")), struct_a)
        if (args := call.match(struct_a)) is not None:
            return Typed(struct_field(args[0].sql, "A"), STRING)
        # Fixed-arity overloads win over the varargs one, as in ksqlDB's resolution.
        for params, name in (((BIGINT, STRING), "doStuffLongString"),
                             ((BIGINT, BIGINT, STRING), "doStuffLongLongString")):
            if call.match(*params) is not None:
                return Typed(lit(name), STRING)
        if call.match(variadic=BIGINT, min_variadic=1) is not None:
            return Typed(lit("doStuffLongVarargs"), STRING)
        call.reject()

    @registry.scalar("TOSTRUCT", category=CATEGORY, display_name="tostruct",
                     description="Test helper: wraps a string as STRUCT<A STRING>.",
                     signatures=["TOSTRUCT(STRING)"])
    def to_struct(call: Call) -> Typed:
        (value,) = call.match(STRING) or call.reject()
        return Typed(struct_of_a(value.sql), struct_a)

    def test_udtf(call: Call) -> Typed:
        # Only the one-argument form: the others stringify their arguments as Java does.
        if len(call.args) != 1:
            call.reject()
        value = call.typed(0)
        return Typed(fn("UNNEST", exp.Array(expressions=[value.sql])), value.type)

    registry.register(ScalarFunction(
        "TEST_UDTF", test_udtf, CATEGORY, "Test helper: one row holding its argument.",
        ("TEST_UDTF(T)",), "test_udtf", kind=TABLE))
