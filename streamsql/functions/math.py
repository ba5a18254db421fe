"""Math functions (ABS, ROUND, TRUNC, LN, POWER, GREATEST, trigonometry, ...) with ksqlDB's types.

Results follow Java: LN(-1) is NaN, LN(0) -Infinity (DuckDB 2.0 agrees); ROUND(double) is
Math.round (halves toward +Infinity) returning BIGINT; DECIMAL rounding is HALF_UP.
"""
from __future__ import annotations

from sqlglot import exp

from streamsql.catalog.types import BIGINT, DOUBLE, INTEGER, STRING, SqlType
from streamsql.functions import casts
from streamsql.errors import StatementError
from streamsql.functions.registry import Call, FunctionRegistry, type_text
from streamsql.functions.sqltree import case, fn, lit, paren
from streamsql.functions.typed import Typed

CATEGORY = "MATHEMATICAL"
_EARTH_RADIUS_KM, _EARTH_RADIUS_MILES = 6371.0, 3959.0  # the radii ksqlDB's GEO_DISTANCE uses


def _is_decimal(sql_type: SqlType) -> bool:
    return sql_type.kind == "DECIMAL"


def _is_integral(sql_type: SqlType) -> bool:
    return sql_type.kind in ("INTEGER", "BIGINT")


def register(registry: FunctionRegistry) -> None:
    def double_function(name: str, duck: str, description: str, arity: int = 1) -> None:
        def bind(call: Call) -> Typed:
            args = call.match(*([DOUBLE] * arity)) or call.reject()
            return Typed(fn(duck, *(a.sql for a in args)), DOUBLE)
        registry.scalar(name, category=CATEGORY, description=description,
                        signatures=[f"{name}({', '.join(['DOUBLE'] * arity)})"],
                        display_name=name.lower())(bind)

    for name, duck, description in (
            ("EXP", "EXP", "e raised to the power of the argument."),
            ("LN", "LN", "The natural logarithm."),
            ("SQRT", "SQRT", "The square root."),
            ("CBRT", "CBRT", "The cube root."),
            ("SIN", "SIN", "The sine (radians)."), ("COS", "COS", "The cosine (radians)."),
            ("TAN", "TAN", "The tangent (radians)."), ("ASIN", "ASIN", "The arc sine."),
            ("ACOS", "ACOS", "The arc cosine."), ("ATAN", "ATAN", "The arc tangent."),
            ("COT", "COT", "The cotangent (radians)."),
            ("SINH", "SINH", "The hyperbolic sine."), ("COSH", "COSH", "The hyperbolic cosine."),
            ("TANH", "TANH", "The hyperbolic tangent."),
            ("DEGREES", "DEGREES", "Radians to degrees."),
            ("RADIANS", "RADIANS", "Degrees to radians.")):
        double_function(name, duck, description)
    double_function("POWER", "POW", "The first argument raised to the power of the second.", 2)
    double_function("ATAN2", "ATAN2", "The angle of the point (x, y): ATAN2(y, x).", 2)

    @registry.scalar("GEO_DISTANCE", category=CATEGORY, display_name="geo_distance",
                     description="The great-circle distance between two latitude/longitude "
                                 "points, in km or, with unit 'MI' or 'MILES', in miles.",
                     signatures=["GEO_DISTANCE(DOUBLE lat1, DOUBLE lon1, DOUBLE lat2, "
                                 "DOUBLE lon2)",
                                 "GEO_DISTANCE(DOUBLE lat1, DOUBLE lon1, DOUBLE lat2, "
                                 "DOUBLE lon2, STRING unit)"])
    def geo_distance(call: Call) -> Typed:
        args = call.match(DOUBLE, DOUBLE, DOUBLE, DOUBLE) or \
            call.match(DOUBLE, DOUBLE, DOUBLE, DOUBLE, STRING) or call.reject()
        lat1, lon1, lat2, lon2 = (fn("RADIANS", a.sql) for a in args[:4])
        radius: exp.Expression = lit(_EARTH_RADIUS_KM)
        if len(args) == 5:
            unit = fn("UPPER", fn("TRIM", args[4].sql))
            radius = case((exp.In(this=unit, expressions=[lit("MI"), lit("MILES")]),
                           lit(_EARTH_RADIUS_MILES)), default=radius)
        # the haversine formula
        half_sin_squared = (lambda a, b: fn("POW", fn("SIN", exp.Div(
            this=paren(exp.Sub(this=b, expression=a)), expression=lit(2))), lit(2)))
        haversine = exp.Add(this=half_sin_squared(lat1, lat2), expression=exp.Mul(
            this=exp.Mul(this=fn("COS", lat1), expression=fn("COS", lat2)),
            expression=half_sin_squared(lon1, lon2)))
        angle = exp.Mul(this=lit(2), expression=fn("ASIN", fn("SQRT", haversine)))
        return Typed(exp.Mul(this=radius, expression=angle), DOUBLE)

    @registry.scalar("LOG", category=CATEGORY, display_name="log",
                     description="The natural logarithm, or LOG(base, value).",
                     signatures=["LOG(DOUBLE)", "LOG(DOUBLE base, DOUBLE value)"])
    def log(call: Call) -> Typed:
        if (args := call.match(DOUBLE)) is not None:
            return Typed(fn("LN", args[0].sql), DOUBLE)
        base, value = call.match(DOUBLE, DOUBLE) or call.reject()
        # ksqlDB: a base that is not positive, or is 1, has no logarithm.
        bad_base = exp.Or(this=exp.LTE(this=base.sql, expression=lit(0)),
                          expression=exp.EQ(this=base.sql, expression=lit(1)))
        quotient = exp.Div(this=fn("LN", value.sql), expression=fn("LN", base.sql))
        return Typed(case((bad_base, exp.cast(lit("NaN"), "DOUBLE")), default=quotient), DOUBLE)

    def constant(name: str, duck: str, description: str) -> None:
        def bind(call: Call) -> Typed:
            if call.args:
                call.reject()
            return Typed(fn(duck), DOUBLE)
        registry.scalar(name, category=CATEGORY, description=description,
                        signatures=[f"{name}()"], display_name=name.lower())(bind)

    constant("PI", "PI", "The constant pi.")
    constant("RANDOM", "RANDOM", "A random DOUBLE in [0, 1).")

    def numeric_arg(call: Call) -> Typed:
        if len(call.args) != 1:
            call.reject()
        (value,) = call.match(lambda t: t.is_numeric) or call.reject()
        return _null_as_double(value)

    @registry.scalar("ABS", category=CATEGORY, display_name="abs",
                     description="The absolute value, of the argument's type.",
                     signatures=["ABS(INTEGER)", "ABS(BIGINT)", "ABS(DOUBLE)", "ABS(DECIMAL)"])
    def abs_(call: Call) -> Typed:
        value = numeric_arg(call)
        return Typed(exp.cast(fn("ABS", value.sql), casts.duckdb_type(value.type)), value.type)

    @registry.scalar("SIGN", category=CATEGORY, display_name="sign",
                     description="-1, 0 or 1 by the sign of the argument.",
                     signatures=["SIGN(INTEGER)", "SIGN(BIGINT)", "SIGN(DOUBLE)",
                                 "SIGN(DECIMAL)"])
    def sign(call: Call) -> Typed:
        value = numeric_arg(call)
        return Typed(exp.cast(fn("SIGN", value.sql), "INT"), INTEGER)

    def floor_or_ceil(name: str, duck: str, description: str) -> None:
        def bind(call: Call) -> Typed:
            value = numeric_arg(call)
            if _is_integral(value.type):
                return value
            # ksqlDB keeps the argument's type (a DECIMAL keeps its scale).
            return Typed(exp.cast(fn(duck, value.sql), casts.duckdb_type(value.type)), value.type)
        registry.scalar(name, category=CATEGORY, description=description,
                        signatures=[f"{name}(INTEGER)", f"{name}(BIGINT)", f"{name}(DOUBLE)",
                                    f"{name}(DECIMAL)"], display_name=name.lower())(bind)

    floor_or_ceil("FLOOR", "FLOOR", "The largest integral value not above the argument.")
    floor_or_ceil("CEIL", "CEIL", "The smallest integral value not below the argument.")

    def round_or_trunc(name: str, description: str, rounds: bool) -> None:
        duck = "ROUND" if rounds else "TRUNC"

        def bind(call: Call) -> Typed:
            numeric = (lambda t: t.is_numeric)
            matched = call.match(numeric) or call.match(numeric, INTEGER) or call.reject()
            value = _null_as_double(matched[0])
            places = matched[1] if len(matched) == 2 else None
            kind = value.type.kind
            if _is_integral(value.type):
                return value
            if kind == "DOUBLE" and places is None:
                if rounds:
                    rounded = _java_round(value.sql)
                else:
                    rounded = fn("TRUNC", value.sql)
                return Typed(exp.TryCast(this=rounded, to=casts.duckdb_type(BIGINT)), BIGINT)
            if kind == "DOUBLE":
                if not rounds:
                    return Typed(fn("TRUNC", value.sql, places.sql), DOUBLE)
                return Typed(_round_half_toward_positive(value.sql, places.sql), DOUBLE)
            if places is None:
                result = SqlType.decimal(max(value.type.precision - value.type.scale, 1), 0)
                return Typed(exp.TryCast(this=fn(duck, value.sql),
                                         to=casts.duckdb_type(result)), result)
            return Typed(exp.TryCast(this=fn(duck, value.sql, places.sql),
                                     to=casts.duckdb_type(value.type)), value.type)
        registry.scalar(name, category=CATEGORY, description=description, display_name=name.lower(),
                        signatures=[f"{name}(DOUBLE)", f"{name}(DOUBLE, INTEGER)",
                                    f"{name}(DECIMAL)", f"{name}(DECIMAL, INTEGER)",
                                    f"{name}(INTEGER)", f"{name}(BIGINT)"])(bind)

    round_or_trunc("ROUND", "Rounds half up, to an integer or to a number of decimal places.",
                   rounds=True)
    round_or_trunc("TRUNC", "Truncates toward zero, to an integer or to a number of decimal "
                            "places.", rounds=False)

    def extreme(name: str, duck: str, description: str) -> None:
        def bind(call: Call) -> Typed:
            if not call.args:
                call.reject()
            values = [call.typed(i) for i in range(len(call.args))]
            result = _extreme_type(call, values)
            return Typed(fn(duck, *(_coerce(v, result) for v in values)), result)
        registry.scalar(name, category=CATEGORY, description=description,
                        display_name=name.lower(), signatures=[f"{name}(T, T...)"])(bind)

    extreme("GREATEST", "GREATEST", "The largest non-NULL argument.")
    extreme("LEAST", "LEAST", "The smallest non-NULL argument.")


def _extreme_type(call: Call, values: list[Typed]) -> SqlType:
    """GREATEST/LEAST's common type, resolved the way ksqlDB resolves `T...` parameters.

    DOUBLE absorbs other numerics and DECIMALs widen to each other, but INTEGER with BIGINT
    is ambiguous in ksqlDB; string literals are read as a DATE/TIME/TIMESTAMP argument.
    """
    types = [v.type for v in values if v.type is not None]
    if not types:
        raise _ambiguous(call)
    non_string = [t for t in types if t != STRING]
    if non_string and all(t.is_numeric for t in non_string) and len(non_string) == len(types):
        if DOUBLE in types:
            return DOUBLE
        if all(_is_decimal(t) for t in types):
            result = types[0]
            for other in types[1:]:
                result = casts.common_numeric(result, other)
            return result
        if len(set(types)) == 1:
            return types[0]
        raise _ambiguous(call)
    kinds = {t.kind for t in non_string}
    if len(kinds) == 1 and kinds <= {"DATE", "TIME", "TIMESTAMP"}:
        return non_string[0]
    if len(set(types)) == 1:
        return types[0]
    call.reject()


def _java_round(value: exp.Expression) -> exp.Expression:
    """Java's Math.round on a double: the nearest integer, halves toward positive infinity.

    Computed as floor plus a carry so that no `x + 0.5` rounding error creeps in.
    """
    floor = fn("FLOOR", value)
    carry = exp.GTE(this=paren(exp.Sub(this=value, expression=floor)), expression=lit(0.5))
    return case((carry, exp.Add(this=floor, expression=lit(1))), default=floor)


def _round_half_toward_positive(value: exp.Expression, places: exp.Expression
                                ) -> exp.Expression:
    """ksqlDB's ROUND(double, n): halves go toward positive infinity (-1.5 -> -1.0)."""
    scale = fn("POW", lit(10.0), fn("ABS", places))
    scaled_up = exp.Div(this=_java_round(exp.Mul(this=value, expression=scale)),
                        expression=scale)
    scaled_down = exp.Mul(this=_java_round(exp.Div(this=value, expression=scale)),
                          expression=scale)
    return case((exp.GTE(this=places, expression=lit(0)), scaled_up), default=scaled_down)


def _null_as_double(value: Typed) -> Typed:
    """An untyped NULL argument of a numeric function is read as a DOUBLE."""
    if value.type is None:
        return Typed(exp.cast(value.sql, "DOUBLE"), DOUBLE)
    return value


def _ambiguous(call: Call) -> StatementError:
    return StatementError(f"Function '{call.function.display_name}' cannot be resolved due to "
                          f"ambiguous method parameters "
                          f"({', '.join(type_text(a) for a in call.args)}).", call.span)


def _coerce(value: Typed, target: SqlType) -> exp.Expression:
    if value.type == target:
        return value.sql
    if value.type is None or casts.can_widen(value.type, target):
        return exp.cast(value.sql, casts.duckdb_type(target))
    return casts.cast(value, target).sql
