"""ARRAY and MAP functions, including the lambda functions TRANSFORM, FILTER and REDUCE.

Arrays map onto DuckDB lists and maps onto DuckDB maps; a map lambda `(k, v) => ...` runs
over the map's entries with k and v bound to each entry's key and value. A lambda that
fails on one element (ksqlDB: arithmetic on NULL) makes the function NULL for that row.
"""
from __future__ import annotations

from sqlglot import exp

from streamsql.catalog.types import BIGINT, BOOLEAN, INTEGER, STRING, SqlType
from streamsql.functions import casts
from streamsql.functions.registry import Call, FunctionRegistry, LambdaArg
from streamsql.functions.sqltree import (case, column, fn, fresh_param, ident, lambda_, lit,
                                         paren, try_, try_if_failing)
from streamsql.functions.typed import Typed

CATEGORY = "ARRAY"
MAP_CATEGORY = "MAP"
LAMBDA_CATEGORY = "LAMBDA"


def _is_array(sql_type: SqlType) -> bool:
    return sql_type.kind == "ARRAY"


def _is_map(sql_type: SqlType) -> bool:
    return sql_type.kind == "MAP"


def _collection(call: Call, index: int, accept) -> Typed:
    value = call.typed(index)
    if value.type is None or not accept(value.type):
        call.reject()
    return value


def _lambda(call: Call, index: int, param_types: list[SqlType]) -> Typed:
    arg = call.args[index]
    if not isinstance(arg, LambdaArg) or len(arg.params) != len(param_types):
        call.reject()
    return arg.bind(param_types)


def _inline(lambda_sql: exp.Lambda, values: list[exp.Expression]) -> exp.Expression:
    """The lambda's body with its parameters replaced by `values`."""
    names = {p.name: v for p, v in zip(lambda_sql.expressions, values)}

    def replace(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Column) and not node.table and node.name in names:
            return names[node.name].copy()
        return node
    return lambda_sql.this.copy().transform(replace)


def _over_entries(map_sql: exp.Expression, function: str, body_of_entry, *extra):
    """`function(map_entries(m), lambda e: body_of_entry(e.key, e.value), *extra)`."""
    entry = fresh_param()
    key = exp.Dot(this=column(entry), expression=ident("key"))
    value = exp.Dot(this=column(entry), expression=ident("value"))
    return fn(function, fn("MAP_ENTRIES", map_sql), lambda_([entry], body_of_entry(key, value)),
              *extra)


def _entry(key: exp.Expression, value: exp.Expression) -> exp.Expression:
    return fn("STRUCT_PACK", exp.PropertyEQ(this=ident("key"), expression=key),
              exp.PropertyEQ(this=ident("value"), expression=value))


def register(registry: FunctionRegistry) -> None:
    def define(name: str, category: str, description: str, signatures: list[str]):
        return registry.scalar(name, category=category, description=description,
                               signatures=signatures, display_name=name.lower())

    @define("ARRAY_LENGTH", CATEGORY, "The number of elements of an array.",
            ["ARRAY_LENGTH(ARRAY<T>)"])
    def array_length(call: Call) -> Typed:
        if len(call.args) != 1:
            call.reject()
        array = _collection(call, 0, _is_array)
        return Typed(exp.cast(fn("LEN", array.sql), "INT"), INTEGER)

    @define("ARRAY_CONTAINS", CATEGORY, "Whether an array holds a value (NULL included); "
                                        "false for a NULL array.",
            ["ARRAY_CONTAINS(ARRAY<T>, T)"])
    def array_contains(call: Call) -> Typed:
        if len(call.args) != 2:
            call.reject()
        array = _collection(call, 0, _is_array)
        value = call.typed(1)
        element = array.type.element
        if value.type is not None and value.type != element:
            if not (value.type.is_numeric and element.is_numeric):
                call.reject()
        item = fresh_param()
        has_null = fn("LIST_BOOL_OR", fn("LIST_TRANSFORM", array.sql, lambda_(
            [item], exp.Is(this=column(item), expression=exp.null()))))
        contains = case((exp.Is(this=paren(value.sql), expression=exp.null()), has_null),
                        default=fn("LIST_CONTAINS", array.sql, value.sql))
        return Typed(fn("COALESCE", contains, lit(False)), BOOLEAN)

    @define("ARRAY_DISTINCT", CATEGORY, "The array without repeated elements, in first-seen "
                                        "order.", ["ARRAY_DISTINCT(ARRAY<T>)"])
    def array_distinct(call: Call) -> Typed:
        if len(call.args) != 1:
            call.reject()
        array = _collection(call, 0, _is_array)
        return Typed(_distinct(array.sql), array.type)

    def array_extreme(name: str, duck: str, description: str) -> None:
        @define(name, CATEGORY, description, [f"{name}(ARRAY<T>)"])
        def bind(call: Call) -> Typed:
            if len(call.args) != 1:
                call.reject()
            array = _collection(call, 0, _is_array)
            return Typed(fn(duck, array.sql), array.type.element)

    array_extreme("ARRAY_MIN", "LIST_MIN", "The smallest non-NULL element.")
    array_extreme("ARRAY_MAX", "LIST_MAX", "The largest non-NULL element.")

    @define("ARRAY_SORT", CATEGORY, "The array sorted ascending (or 'DESC'), NULLs last.",
            ["ARRAY_SORT(ARRAY<T>)", "ARRAY_SORT(ARRAY<T>, STRING direction)"])
    def array_sort(call: Call) -> Typed:
        if len(call.args) not in (1, 2):
            call.reject()
        array = _collection(call, 0, _is_array)
        direction = lit("ASC")
        if len(call.args) == 2:
            given = call.typed(1)
            if given.type not in (None, STRING):
                call.reject()
            direction = fn("UPPER", given.sql)
        return Typed(fn("LIST_SORT", array.sql, direction, lit("NULLS LAST")), array.type)

    @define("ARRAY_JOIN", CATEGORY, "The elements as text joined by a delimiter (default ',').",
            ["ARRAY_JOIN(ARRAY<T>)", "ARRAY_JOIN(ARRAY<T>, STRING)"])
    def array_join(call: Call) -> Typed:
        if len(call.args) not in (1, 2):
            call.reject()
        array = _collection(call, 0, _is_array)
        # A NULL delimiter joins with nothing in between.
        delimiter = fn("COALESCE", call.typed(1).sql, lit("")) if len(call.args) == 2 \
            else lit(",")
        item = fresh_param()
        text = casts.to_string(column(item), array.type.element)
        if text is None:
            call.reject()
        joined = fn("ARRAY_TO_STRING", fn("LIST_TRANSFORM", array.sql, lambda_(
            [item], fn("COALESCE", text, lit("null")))), delimiter)
        return Typed(joined, STRING)

    @define("SLICE", CATEGORY, "Elements from one 1-based position to another, inclusive.",
            ["SLICE(ARRAY<T>, INTEGER from, INTEGER to)"])
    def slice_(call: Call) -> Typed:
        if len(call.args) != 3:
            call.reject()
        array = _collection(call, 0, _is_array)
        bounds = Call(call.function, call.args[1:], call.span).match(INTEGER, INTEGER)
        if bounds is None:
            call.reject()
        start = fn("COALESCE", bounds[0].sql, lit(1))
        end = fn("COALESCE", bounds[1].sql, fn("LEN", array.sql))
        return Typed(fn("LIST_SLICE", array.sql, start, end), array.type)

    @define("MAP_KEYS", MAP_CATEGORY, "The keys of a map.", ["MAP_KEYS(MAP<K, V>)"])
    def map_keys(call: Call) -> Typed:
        if len(call.args) != 1:
            call.reject()
        map_ = _collection(call, 0, _is_map)
        return Typed(fn("MAP_KEYS", map_.sql), SqlType.array(map_.type.key))

    @define("MAP_VALUES", MAP_CATEGORY, "The values of a map.", ["MAP_VALUES(MAP<K, V>)"])
    def map_values(call: Call) -> Typed:
        if len(call.args) != 1:
            call.reject()
        map_ = _collection(call, 0, _is_map)
        return Typed(fn("MAP_VALUES", map_.sql), SqlType.array(map_.type.element))

    @define("AS_MAP", MAP_CATEGORY, "A map from an array of keys and an array of values.",
            ["AS_MAP(ARRAY<STRING>, ARRAY<V>)"])
    def as_map(call: Call) -> Typed:
        if len(call.args) != 2:
            call.reject()
        keys = _collection(call, 0, lambda t: _is_array(t) and t.element == STRING)
        values = _collection(call, 1, _is_array)
        # Pair by position over the keys: extra values are dropped, missing ones are NULL.
        index = fresh_param()
        key = fn("LIST_EXTRACT", keys.sql, column(index))
        pairs = fn("LIST_TRANSFORM", fn("GENERATE_SERIES", lit(1), fn("LEN", keys.sql)),
                   lambda_([index], _entry(key, fn("LIST_EXTRACT", values.sql, column(index)))))
        entry = fresh_param()
        with_key = exp.Not(this=exp.Is(this=exp.Dot(this=column(entry), expression=ident("key")),
                                       expression=exp.null()))
        pairs = fn("LIST_FILTER", pairs, lambda_([entry], with_key))
        either_null = exp.Or(this=exp.Is(this=paren(keys.sql), expression=exp.null()),
                             expression=exp.Is(this=paren(values.sql), expression=exp.null()))
        # Duplicate keys make DuckDB fail; TRY keeps that to the row (NULL).
        return Typed(case((either_null, exp.null()), default=try_(fn("MAP_FROM_ENTRIES", pairs))),
                     SqlType.map(STRING, values.type.element))

    def set_operation(name: str, description: str, body) -> None:
        @define(name, CATEGORY, description, [f"{name}(ARRAY<T>, ARRAY<T>)"])
        def bind(call: Call) -> Typed:
            if len(call.args) != 2:
                call.reject()
            left, right = _collection(call, 0, _is_array), _collection(call, 1, _is_array)
            if left.type != right.type:
                call.reject()
            either_null = exp.Or(this=exp.Is(this=paren(left.sql), expression=exp.null()),
                                 expression=exp.Is(this=paren(right.sql), expression=exp.null()))
            return Typed(case((either_null, exp.null()), default=body(left.sql, right.sql)),
                         left.type)

    set_operation("ARRAY_UNION", "The distinct elements of both arrays, in first-seen order.",
                  lambda a, b: _distinct(fn("LIST_CONCAT", a, b)))
    set_operation("ARRAY_INTERSECT", "The distinct elements present in both arrays.",
                  lambda a, b: _distinct(_keep(a, b, present=True)))
    set_operation("ARRAY_EXCEPT", "The distinct elements of the first array absent from the "
                                  "second.", lambda a, b: _distinct(_keep(a, b, present=False)))

    @define("ARRAY_REMOVE", CATEGORY, "The array without the elements equal to a value (NULL "
                                      "removes NULLs).", ["ARRAY_REMOVE(ARRAY<T>, T)"])
    def array_remove(call: Call) -> Typed:
        if len(call.args) != 2:
            call.reject()
        array, value = _collection(call, 0, _is_array), call.typed(1)
        if value.type is not None and value.type != array.type.element:
            call.reject()
        item = fresh_param()
        keep = exp.NullSafeNEQ(this=column(item), expression=paren(value.sql))
        return Typed(fn("LIST_FILTER", array.sql, lambda_([item], keep)), array.type)

    @define("GENERATE_SERIES", CATEGORY, "The integers from start to end inclusive, by a step "
                                         "(default 1, or -1 counting down).",
            ["GENERATE_SERIES(INTEGER, INTEGER)", "GENERATE_SERIES(INTEGER, INTEGER, INTEGER)",
             "GENERATE_SERIES(BIGINT, BIGINT)", "GENERATE_SERIES(BIGINT, BIGINT, BIGINT)"])
    def generate_series(call: Call) -> Typed:
        for bound in (INTEGER, BIGINT):
            args = call.match(bound, bound) or call.match(bound, bound, bound)
            if args is not None:
                break
        else:
            call.reject()
        start, end = args[0].sql, args[1].sql
        step = args[2].sql if len(args) == 3 else case(
            (exp.LTE(this=start, expression=end), lit(1)), default=lit(-1))
        series = fn("GENERATE_SERIES", start, end, step)
        return Typed(exp.cast(series, casts.duckdb_type(SqlType.array(bound))),
                     SqlType.array(bound))

    @define("ENTRIES", MAP_CATEGORY, "The entries of a map as an array of STRUCT<K, V>, "
                                     "optionally sorted by key.",
            ["ENTRIES(MAP<STRING, V>, BOOLEAN sorted)"])
    def entries(call: Call) -> Typed:
        if len(call.args) != 2:
            call.reject()
        map_ = _collection(call, 0, _is_map)
        sort = call.typed(1)
        if sort.type not in (None, BOOLEAN):
            call.reject()
        listed = _over_entries(map_.sql, "LIST_TRANSFORM", lambda k, v: fn(
            "STRUCT_PACK", exp.PropertyEQ(this=ident("K"), expression=k),
            exp.PropertyEQ(this=ident("V"), expression=v)))
        result = case((sort.sql, fn("LIST_SORT", listed)), default=listed)
        element = SqlType.struct((("K", map_.type.key), ("V", map_.type.element)))
        return Typed(result, SqlType.array(element))

    @define("MAP_UNION", MAP_CATEGORY, "Both maps merged; the second wins on equal keys.",
            ["MAP_UNION(MAP<K, V>, MAP<K, V>)"])
    def map_union(call: Call) -> Typed:
        if len(call.args) != 2:
            call.reject()
        left, right = _collection(call, 0, _is_map), _collection(call, 1, _is_map)
        if left.type != right.type:
            call.reject()
        # A NULL map counts as empty unless both are NULL.
        empty = fn("MAP_FROM_ENTRIES", exp.cast(exp.Array(expressions=[]), casts.duckdb_type(
            SqlType.array(SqlType.struct((("key", left.type.key),
                                          ("value", left.type.element)))))))
        both_null = exp.And(this=exp.Is(this=paren(left.sql), expression=exp.null()),
                            expression=exp.Is(this=paren(right.sql), expression=exp.null()))
        merged = fn("MAP_CONCAT", fn("COALESCE", left.sql, empty),
                    fn("COALESCE", right.sql, empty))
        return Typed(case((both_null, exp.null()), default=merged), left.type)

    @define("TRANSFORM", LAMBDA_CATEGORY,
            "Applies a lambda to each array element, or to each map key and value.",
            ["TRANSFORM(ARRAY<T>, T => U)", "TRANSFORM(MAP<K, V>, (K, V) => K2, (K, V) => V2)"])
    def transform(call: Call) -> Typed:
        source = call.typed(0)
        if source.type is not None and _is_array(source.type) and len(call.args) == 2:
            body = _lambda(call, 1, [source.type.element])
            return Typed(try_if_failing(fn("LIST_TRANSFORM", source.sql, body.sql), body.sql),
                         SqlType.array(body.type))
        if source.type is not None and _is_map(source.type) and len(call.args) == 3:
            params = [source.type.key, source.type.element]
            key_fn, value_fn = _lambda(call, 1, params), _lambda(call, 2, params)
            entries = _over_entries(source.sql, "LIST_TRANSFORM", lambda k, v: _entry(
                _inline(key_fn.sql, [k, v]), _inline(value_fn.sql, [k, v])))
            # TRY also covers keys the lambda maps together: DuckDB rejects duplicate keys
            # (ksqlDB would keep the last value), so that row's result is NULL.
            return Typed(try_(fn("MAP_FROM_ENTRIES", entries)),
                         SqlType.map(key_fn.type, value_fn.type))
        call.reject()

    @define("FILTER", LAMBDA_CATEGORY,
            "Keeps the array elements, or map entries, for which a lambda is true.",
            ["FILTER(ARRAY<T>, T => BOOLEAN)", "FILTER(MAP<K, V>, (K, V) => BOOLEAN)"])
    def filter_(call: Call) -> Typed:
        if len(call.args) != 2:
            call.reject()
        source = call.typed(0)
        if source.type is not None and _is_array(source.type):
            predicate = _lambda(call, 1, [source.type.element])
            _require_boolean(call, predicate)
            return Typed(try_if_failing(fn("LIST_FILTER", source.sql, predicate.sql),
                                        predicate.sql), source.type)
        if source.type is not None and _is_map(source.type):
            predicate = _lambda(call, 1, [source.type.key, source.type.element])
            _require_boolean(call, predicate)
            entries = _over_entries(source.sql, "LIST_FILTER",
                                    lambda k, v: _inline(predicate.sql, [k, v]))
            return Typed(try_if_failing(fn("MAP_FROM_ENTRIES", entries), entries), source.type)
        call.reject()

    @define("REDUCE", LAMBDA_CATEGORY,
            "Folds an array (or map) into a value, from an initial state, with a lambda.",
            ["REDUCE(ARRAY<T>, S, (S, T) => S)", "REDUCE(MAP<K, V>, S, (S, K, V) => S)"])
    def reduce_(call: Call) -> Typed:
        if len(call.args) != 3:
            call.reject()
        source, initial = call.typed(0), call.typed(1)
        if source.type is None or initial.type is None:
            call.reject()
        state = initial.type
        if _is_array(source.type):
            step = _lambda(call, 2, [state, source.type.element])
            _require_type(call, step, state)
            folded = fn("LIST_REDUCE", source.sql, step.sql, initial.sql)
        elif _is_map(source.type):
            step = _lambda(call, 2, [state, source.type.key, source.type.element])
            _require_type(call, step, state)
            accumulated, entry = fresh_param(), fresh_param()
            key = exp.Dot(this=column(entry), expression=ident("key"))
            value = exp.Dot(this=column(entry), expression=ident("value"))
            body = _inline(step.sql, [column(accumulated), key, value])
            folded = fn("LIST_REDUCE", fn("MAP_ENTRIES", source.sql),
                        lambda_([accumulated, entry], body), initial.sql)
        else:
            call.reject()
        # ksqlDB reduces a NULL collection to the initial state.
        return Typed(case((exp.Is(this=paren(source.sql), expression=exp.null()), initial.sql),
                          default=try_if_failing(folded, folded)), state)


def _distinct(array: exp.Expression) -> exp.Expression:
    """The array without repeats, in first-seen order (DuckDB's list_distinct reorders)."""
    item, position = fresh_param(), fresh_param()
    first_seen = exp.EQ(this=fn("LIST_POSITION", array, column(item)),
                        expression=column(position))
    return fn("LIST_FILTER", array, lambda_([item, position], first_seen))


def _keep(array: exp.Expression, other: exp.Expression, present: bool) -> exp.Expression:
    """Elements of `array` that are (or are not) in `other`, NULL matching NULL."""
    item = fresh_param()
    found = exp.GT(this=fn("COALESCE", fn("LIST_POSITION", other, column(item)), lit(0)),
                   expression=lit(0))
    return fn("LIST_FILTER", array, lambda_([item], found if present else exp.Not(this=found)))


def _require_boolean(call: Call, predicate: Typed) -> None:
    if predicate.type not in (None, BOOLEAN):
        call.error(f"The lambda of {call.function.display_name} must return BOOLEAN, not "
                   f"{predicate.type.sql()}")


def _require_type(call: Call, step: Typed, state: SqlType) -> None:
    if step.type is not None and step.type != state:
        call.error(f"The lambda of {call.function.display_name} returns {step.type.sql()} but "
                   f"its initial state is {state.sql()}")
