"""For generated ASTs, parse(format(ast)) == ast: the formatter and parser agree."""
import pytest
from hypothesis import given, settings, strategies as st

from streamsql import ast
from streamsql.parser import parse, parse_expression
from streamsql.sqlformat import format_expression, format_statement

# The nested recursive strategies have enormous reprs, which Hypothesis warns about.
pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")

names = st.one_of(
    st.sampled_from(["A", "B", "KEY", "VALUE", "SELECT", "WINDOW", "SECONDS", "ID", "MAP"]),
    st.text(alphabet="abcXYZ_`' 1", min_size=1, max_size=6),
)
# The parser folds a minus sign into a number literal, so generated literals are the
# folded form: negative values are literals, never UnaryOp('-', literal).
literals = st.one_of(
    st.integers(-2**63, 2**63 - 1).map(ast.IntegerLiteral),
    st.decimals(allow_nan=False, allow_infinity=False, places=3).map(ast.DecimalLiteral),
    st.floats(allow_nan=False, allow_infinity=False).map(ast.DoubleLiteral),
    st.text(max_size=5).map(ast.StringLiteral),
    st.booleans().map(ast.BooleanLiteral),
    st.just(ast.NullLiteral()),
)
columns = st.builds(ast.ColumnRef, names, st.none() | names)
primitive_types = st.sampled_from(["BOOLEAN", "INTEGER", "BIGINT", "DOUBLE", "STRING", "BYTES",
                                   "DATE", "TIME", "TIMESTAMP"]).map(ast.PrimitiveType)
types = st.recursive(
    primitive_types | st.builds(ast.DecimalType, st.integers(1, 38), st.integers(0, 10)),
    lambda inner: st.one_of(
        st.builds(ast.ArrayType, inner),
        st.builds(ast.MapType, inner, inner),
        st.builds(ast.StructType, st.lists(st.builds(ast.StructField, names, inner),
                                           max_size=3).map(tuple)),
    ),
    max_leaves=5,
)
function_names = st.sampled_from(["ABS", "CONCAT", "F", "COUNT"])


def _compound(expr):
    small = st.lists(expr, max_size=3).map(tuple)
    return st.one_of(
        st.builds(ast.BinaryOp, st.sampled_from(["+", "-", "*", "/", "%", "=", "<>", "<", ">=",
                                                 "AND", "OR"]), expr, expr),
        st.builds(ast.UnaryOp, st.sampled_from(["NOT", "+"]), expr),
        st.builds(ast.UnaryOp, st.just("-"), columns),
        st.builds(ast.Between, expr, expr, expr, st.booleans()),
        st.builds(ast.InList, expr, st.lists(expr, min_size=1, max_size=3).map(tuple), st.booleans()),
        st.builds(ast.Like, expr, expr, st.none() | st.sampled_from(["!", "'"]), st.booleans()),
        st.builds(ast.IsNull, expr, st.booleans()),
        st.builds(ast.IsDistinctFrom, expr, expr, st.booleans()),
        st.builds(ast.FieldAccess, expr, names),
        st.builds(ast.Subscript, expr, expr),
        st.builds(ast.FunctionCall, function_names, small),
        st.builds(ast.FunctionCall, function_names, st.lists(expr, min_size=1, max_size=2).map(tuple),
                  distinct=st.just(True)),
        st.builds(ast.FunctionCall, function_names, star=st.just(True)),
        st.builds(ast.Case, st.none() | expr,
                  st.lists(st.builds(ast.WhenClause, expr, expr), min_size=1, max_size=2).map(tuple),
                  st.none() | expr),
        st.builds(ast.Cast, expr, types),
        st.builds(ast.CreateArray, small),
        st.builds(ast.CreateMap, st.lists(st.builds(ast.MapEntry, expr, expr), max_size=2).map(tuple)),
        st.builds(ast.CreateStruct, st.lists(st.builds(ast.StructFieldValue, names, expr),
                                             max_size=2).map(tuple)),
        st.builds(lambda body, params: ast.FunctionCall("TRANSFORM", (ast.ColumnRef("XS"),
                                                                      ast.Lambda(params, body))),
                  expr, st.lists(names, min_size=1, max_size=2).map(tuple)),
        st.builds(lambda unit: ast.FunctionCall("DATEADD", (ast.IntervalUnit(unit),)),
                  st.sampled_from(["DAYS", "SECONDS"])),
    )


expressions = st.recursive(literals | columns, _compound, max_leaves=8)


@settings(max_examples=300, deadline=None)
@given(expressions)
def test_expression_round_trips_through_text(expr):
    assert parse_expression(format_expression(expr)) == expr


durations = st.builds(ast.Duration, st.integers(0, 1000),
                      st.sampled_from(["MILLISECONDS", "SECONDS", "MINUTES", "HOURS", "DAYS"]))
windows = st.one_of(
    st.builds(ast.TumblingWindow, durations, st.none() | durations, st.none() | durations),
    st.builds(ast.HoppingWindow, durations, durations, st.none() | durations, st.none() | durations),
    st.builds(ast.SessionWindow, durations, st.none() | durations, st.none() | durations),
)
tables = st.builds(ast.Table, names, st.none() | names)
relations = st.recursive(tables, lambda left: st.builds(
    ast.Join, st.sampled_from(["INNER", "LEFT", "RIGHT", "FULL"]), left, tables, expressions,
    st.none() | st.builds(ast.Within, durations, durations, st.none() | durations)), max_leaves=3)
select_items = st.one_of(
    st.builds(ast.SingleColumn, expressions, st.none() | names),
    st.builds(ast.AllColumns, st.none() | names),
    st.builds(ast.AllStructFields, columns),
)
selects = st.builds(
    ast.Select, st.lists(select_items, min_size=1, max_size=3).map(tuple), relations,
    where=st.none() | expressions, window=st.none() | windows,
    group_by=st.lists(expressions, max_size=2).map(tuple), having=st.none() | expressions,
    partition_by=st.lists(expressions, max_size=2).map(tuple),
    emit=st.sampled_from([None, "CHANGES", "FINAL"]), limit=st.none() | st.integers(0, 100),
)
properties = st.lists(st.builds(ast.Property, names.map(str.upper), literals), max_size=2).map(tuple)
column_defs = st.lists(st.builds(ast.ColumnDef, names, types,
                                 st.sampled_from([None, "KEY", "HEADERS"])), max_size=3).map(tuple)
statements = st.one_of(
    st.builds(ast.CreateStream, names, column_defs, properties, st.booleans(), st.booleans(), st.booleans()),
    st.builds(ast.CreateTableAs, names, selects, properties, st.booleans(), st.booleans()),
    st.builds(ast.InsertInto, names, selects, properties),
    st.builds(ast.InsertValues, names, st.none() | st.lists(names, min_size=1, max_size=2).map(tuple),
              st.lists(expressions, max_size=2).map(tuple)),
    st.builds(ast.Query, selects),
    st.builds(ast.DropSource, st.sampled_from(["STREAM", "TABLE"]), names, st.booleans(), st.booleans()),
    st.builds(ast.CreateType, names, types, st.booleans()),
    st.builds(ast.Print, st.text(max_size=5), st.booleans(), st.none() | st.integers(0, 9),
              st.none() | st.integers(0, 9)),
    st.builds(ast.SetProperty, st.text(max_size=5), st.text(max_size=5)),
)


@settings(max_examples=200, deadline=None)
@given(statements)
def test_statement_round_trips_through_text(statement):
    assert parse(format_statement(statement)) == [statement]
