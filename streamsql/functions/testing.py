"""QTT test-only functions: WHENCONDITION/WHENRESULT (fail when evaluated unexpectedly),
TEST_UDF (overload resolution), TOSTRUCT (struct results), BAD_UDF (misbehaving calls), and
the table functions TEST_UDTF (Java-style text of its arguments) and THROWING_UDTF.

Registered only by default_registry(test_functions=True), as ksqlDB's test runner loads them.
"""
from __future__ import annotations

from sqlglot import exp

from streamsql.catalog.types import BIGINT, BOOLEAN, INTEGER, STRING, SqlType
from streamsql.functions.registry import Call, FunctionRegistry, ScalarFunction
from streamsql.functions.table import TABLE
from streamsql.functions.casts import _element_text, cast, struct_field
from streamsql.functions.sqltree import (case, column, failing, fn, fresh_param, ident, lambda_,
                                         lit)
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

    invocations = "bad_udf_invocations"
    registry.sequences.add(invocations)

    @registry.scalar("BAD_UDF", category=CATEGORY, display_name="bad_udf",
                     description="Test helper that misbehaves: a STRING comes back NULL on "
                                 "every other call (the first included), an INT always fails, "
                                 "a BOOLEAN fails when true and gives 0 when false.",
                     signatures=["BAD_UDF(STRING)", "BAD_UDF(INT)", "BAD_UDF(BOOLEAN)"])
    def bad_udf(call: Call) -> Typed:
        if (args := call.match(STRING)) is not None:
            first_of_two = exp.EQ(this=exp.Mod(this=fn("NEXTVAL", lit(invocations)),
                                               expression=lit(2)), expression=lit(1))
            return Typed(case((first_of_two, exp.null()), default=args[0].sql), STRING)
        fails = failing("INT", "bad_udf failed on purpose")  # TRY can catch it
        if call.match(INTEGER) is not None:
            return Typed(fails, INTEGER)
        (should_fail,) = call.match(BOOLEAN) or call.reject()
        return Typed(case((should_fail.sql, fails), default=lit(0)), INTEGER)

    def test_udtf(call: Call) -> Typed:
        if len(call.args) == 1:
            value = call.typed(0)
            if value.type is not None and value.type.kind == "DECIMAL":
                value = cast(value, SqlType.decimal(30, 10))  # its DECIMAL form's result
            return Typed(fn("UNNEST", exp.Array(expressions=[value.sql])), value.type)
        args = [call.typed(i) for i in range(len(call.args))]
        if len(args) != len(_SEVEN_KINDS) or any(a.type is None for a in args):
            call.reject()
        if [a.type.kind for a in args] == list(_SEVEN_KINDS):
            texts = [_element_text(a.sql, a.type) for a in args]
            return Typed(fn("UNNEST", exp.Array(expressions=texts)), STRING)
        for kind in ("ARRAY", "MAP"):
            if all(a.type.kind == kind for a in args) and \
                    [a.type.element.kind for a in args] == list(_SEVEN_KINDS):
                lists = [_texts(a.sql if kind == "ARRAY" else fn("MAP_VALUES", a.sql),
                                a.type.element) for a in args]
                return Typed(fn("UNNEST", fn("FLATTEN", exp.Array(expressions=lists))), STRING)
        call.reject()

    registry.register(ScalarFunction(
        "TEST_UDTF", test_udtf, CATEGORY, "Test helper: one row holding its argument, or one "
        "row per argument (per element, per map value) as text.",
        ("TEST_UDTF(T)", "TEST_UDTF(INT, BIGINT, DOUBLE, BOOLEAN, STRING, DECIMAL, "
         "STRUCT<A STRING>)", "TEST_UDTF(ARRAY<...> x 7)", "TEST_UDTF(MAP<STRING, ...> x 7)"),
        "test_udtf", kind=TABLE))

    def throwing_udtf(call: Call) -> Typed:
        (should_fail,) = call.match(BOOLEAN) or call.reject()
        # Like a Java exception, it fails only the rows it hits.
        fails = failing("BOOLEAN", "throwing_udtf failed on purpose")
        row = case((should_fail.sql, fails), default=should_fail.sql)
        return Typed(fn("UNNEST", exp.Array(expressions=[row])), BOOLEAN)

    registry.register(ScalarFunction(
        "THROWING_UDTF", throwing_udtf, CATEGORY, "Test helper: one row holding its argument; "
        "fails when it is true.", ("THROWING_UDTF(BOOLEAN)",), "throwing_udtf", kind=TABLE))


# TEST_UDTF's seven-argument forms take these, plain, as list elements or as map values.
_SEVEN_KINDS = ("INTEGER", "BIGINT", "DOUBLE", "BOOLEAN", "STRING", "DECIMAL", "STRUCT")


def _texts(values: exp.Expression, element: SqlType) -> exp.Expression:
    """The list's elements, each as Java's String.valueOf text ('null' for NULL)."""
    param = fresh_param()
    return fn("LIST_TRANSFORM", values, lambda_([param], _element_text(column(param), element)))
