"""parse(): one test per statement kind and expression form, asserting the AST built."""
from decimal import Decimal

import pytest

from streamsql import ast
from streamsql.errors import ParseError
from streamsql.parser import parse, parse_expression, parse_type, split_statements, \
    substitute_variables


def one(text: str, **kwargs) -> ast.Statement:
    [statement] = parse(text, **kwargs)
    return statement


def test_create_stream_with_columns_constraints_and_properties():
    s = one("create stream s (id int key, `Name` varchar, h bytes header('k'), hs array<struct<key string, value bytes>> headers) "
            "with (kafka_topic='t', partitions=-1)")
    assert s == ast.CreateStream("S", (
        ast.ColumnDef("ID", ast.PrimitiveType("INTEGER"), "KEY"),
        ast.ColumnDef("Name", ast.PrimitiveType("STRING")),
        ast.ColumnDef("H", ast.PrimitiveType("BYTES"), "HEADER", "k"),
        ast.ColumnDef("HS", ast.ArrayType(ast.StructType((
            ast.StructField("KEY", ast.PrimitiveType("STRING")),
            ast.StructField("VALUE", ast.PrimitiveType("BYTES"))))), "HEADERS"),
    ), (ast.Property("KAFKA_TOPIC", ast.StringLiteral("t")),
        ast.Property("PARTITIONS", ast.IntegerLiteral(-1))))


def test_create_source_table_flags():
    s = one("CREATE OR REPLACE SOURCE TABLE IF NOT EXISTS t (k STRING PRIMARY KEY)")
    assert (s.or_replace, s.is_source, s.if_not_exists) == (True, True, True)
    assert s.columns[0].constraint == "PRIMARY KEY"


def test_create_table_as_select_keeps_every_clause():
    s = one("CREATE TABLE c WITH (kafka_topic='c') AS SELECT r, COUNT(*) n FROM o "
            "WINDOW TUMBLING (SIZE 1 HOUR, RETENTION 2 DAYS, GRACE PERIOD 1 MINUTE) "
            "WHERE a > 0 GROUP BY r HAVING COUNT(*) > 1 EMIT FINAL")
    assert isinstance(s, ast.CreateTableAs) and s.name == "C"
    q = s.query
    assert q.window == ast.TumblingWindow(ast.Duration(1, "HOURS"), ast.Duration(2, "DAYS"),
                                          ast.Duration(1, "MINUTES"))
    assert q.items[1] == ast.SingleColumn(ast.FunctionCall("COUNT", star=True), "N")
    assert q.group_by == (ast.ColumnRef("R"),) and q.emit == "FINAL"
    assert q.having == ast.BinaryOp(">", ast.FunctionCall("COUNT", star=True), ast.IntegerLiteral(1))


def test_windows_hopping_and_session_and_named_window():
    hopping = one("SELECT * FROM s WINDOW HOPPING (SIZE 30 SECONDS, ADVANCE BY 10 SECOND) GROUP BY a")
    assert hopping.select.window == ast.HoppingWindow(ast.Duration(30, "SECONDS"),
                                                      ast.Duration(10, "SECONDS"))
    session = one("SELECT * FROM s WINDOW w SESSION (5 MILLISECONDS, GRACE PERIOD 0 DAYS) GROUP BY a")
    assert session.select.window == ast.SessionWindow(ast.Duration(5, "MILLISECONDS"),
                                                      grace=ast.Duration(0, "DAYS"))
    assert session.select.window.gap.millis == 5


def test_join_chain_is_left_deep_with_within_and_grace():
    q = one("SELECT * FROM a x LEFT OUTER JOIN b AS y WITHIN (1 SECOND, 2 SECONDS) GRACE PERIOD 3 SECONDS "
            "ON x.id = y.id FULL JOIN c ON x.id = c.id").select
    outer = q.from_
    assert outer.kind == "FULL" and outer.right == ast.Table("C")
    inner = outer.left
    assert inner.kind == "LEFT" and inner.left == ast.Table("A", "X")
    assert inner.within == ast.Within(ast.Duration(1, "SECONDS"), ast.Duration(2, "SECONDS"),
                                      ast.Duration(3, "SECONDS"))
    assert inner.on == ast.BinaryOp("=", ast.ColumnRef("ID", "X"), ast.ColumnRef("ID", "Y"))


def test_group_by_parenthesised_list_and_partition_by():
    q = one("SELECT * FROM s GROUP BY (a, b)").select
    assert q.group_by == (ast.ColumnRef("A"), ast.ColumnRef("B"))
    assert one("SELECT * FROM s PARTITION BY a, b + 1").select.partition_by == (
        ast.ColumnRef("A"), ast.BinaryOp("+", ast.ColumnRef("B"), ast.IntegerLiteral(1)))


def test_insert_statements():
    assert one("INSERT INTO t (a, `b`) VALUES (1, 'x')") == ast.InsertValues(
        "T", ("A", "b"), (ast.IntegerLiteral(1), ast.StringLiteral("x")))
    assert one("INSERT INTO t VALUES ()") == ast.InsertValues("T", None, ())
    s = one("INSERT INTO t WITH (query_id='q') SELECT * FROM s")
    assert isinstance(s, ast.InsertInto) and s.properties[0].name == "QUERY_ID"


@pytest.mark.parametrize("text, expected", [
    ("SHOW STREAMS", ast.Show("STREAMS")),
    ("list tables extended", ast.Show("TABLES", True)),
    ("SHOW ALL TOPICS", ast.Show("ALL_TOPICS")),
    ("SHOW VARIABLES", ast.Show("VARIABLES")),
    ("DESCRIBE EXTENDED s", ast.Describe("S", True)),
    ("DESCRIBE s EXTENDED", ast.Describe("S", True)),
    ("DESCRIBE FUNCTION substring", ast.DescribeFunction("SUBSTRING")),
    ("EXPLAIN CSAS_X_0", ast.Explain(query_id="CSAS_X_0")),
    ("TERMINATE ALL", ast.Terminate(None, True)),
    ("DROP STREAM IF EXISTS s DELETE TOPIC", ast.DropSource("STREAM", "S", True, True)),
    ("PRINT my_Topic FROM BEGINNING INTERVAL 2 LIMIT 3", ast.Print("my_Topic", True, 2, 3)),
    ("SET 'a.b'='c'", ast.SetProperty("a.b", "c")),
    ("UNSET 'a.b'", ast.UnsetProperty("a.b")),
    ("DEFINE v = 'x'", ast.DefineVariable("V", "x")),
    ("UNDEFINE v", ast.UndefineVariable("V")),
    ("CREATE TYPE IF NOT EXISTS t AS ARRAY<INT>", ast.CreateType("T", ast.ArrayType(ast.PrimitiveType("INTEGER")), True)),
    ("DROP TYPE t", ast.DropType("T")),
    ("ALTER TABLE t ADD COLUMN a INT, ADD b STRING", ast.AlterSource("TABLE", "T", (
        ast.ColumnDef("A", ast.PrimitiveType("INTEGER")), ast.ColumnDef("B", ast.PrimitiveType("STRING"))))),
    ("ASSERT NOT EXISTS TOPIC 't' TIMEOUT 5 SECONDS", ast.AssertTopic("t", False, (), ast.Duration(5, "SECONDS"))),
    ("ASSERT SCHEMA ID 3", ast.AssertSchema(None, 3)),
])
def test_command_statements(text, expected):
    assert one(text) == expected


def test_explain_statement():
    assert isinstance(one("EXPLAIN SELECT * FROM s").statement, ast.Query)


def test_client_statements_need_opting_in():
    assert one("RUN SCRIPT 'x.sql'", client_statements=True) == ast.RunScript("x.sql")
    assert one("ASSERT VALUES t (a) VALUES (1)", client_statements=True) == ast.AssertValues(
        "T", ("A",), (ast.IntegerLiteral(1),))
    with pytest.raises(ParseError, match="Unknown statement 'RUN'"):
        parse("RUN SCRIPT 'x.sql'")


def test_statement_spans_cover_text_without_semicolon():
    text = "SHOW STREAMS;\n-- note\nSELECT *\n  FROM s;  DROP TABLE t"
    spans = [(s.span.start_pos, s.span.end_pos, s.span.line) for s in parse(text)]
    assert [text[a:b] for a, b, _ in spans] == ["SHOW STREAMS", "SELECT *\n  FROM s", "DROP TABLE t"]
    assert [line for _, _, line in spans] == [1, 3, 4]


def test_empty_and_comment_only_scripts_have_no_statements():
    assert parse("") == [] and parse("  -- nothing\n/* at all */") == []


def test_keywords_are_case_insensitive_and_non_reserved_ones_name_columns():
    s = one("select key, value, size, window, timestamp from s Emit Changes")
    assert [i.expr.name for i in s.select.items] == ["KEY", "VALUE", "SIZE", "WINDOW", "TIMESTAMP"]


@pytest.mark.parametrize("text, expected", [
    ("1", ast.IntegerLiteral(1)),
    ("-2147483648", ast.IntegerLiteral(-2147483648)),
    ("1.50", ast.DecimalLiteral(Decimal("1.50"))),
    ("1.5E3", ast.DoubleLiteral(1500.0)),
    ("'it''s'", ast.StringLiteral("it's")),
    ("true", ast.BooleanLiteral(True)),
    ("NULL", ast.NullLiteral()),
    ("s.col", ast.ColumnRef("COL", "S")),
    ("`a``b`", ast.ColumnRef("a`b")),
    ('"lower"', ast.ColumnRef("lower")),
    ("a->b->c", ast.FieldAccess(ast.FieldAccess(ast.ColumnRef("A"), "B"), "C")),
    ("m['k'][1]", ast.Subscript(ast.Subscript(ast.ColumnRef("M"), ast.StringLiteral("k")), ast.IntegerLiteral(1))),
    ("-a", ast.UnaryOp("-", ast.ColumnRef("A"))),
    ("a != b", ast.BinaryOp("<>", ast.ColumnRef("A"), ast.ColumnRef("B"))),
    ("a + b * c", ast.BinaryOp("+", ast.ColumnRef("A"), ast.BinaryOp("*", ast.ColumnRef("B"), ast.ColumnRef("C")))),
    ("NOT a = 1 OR b", ast.BinaryOp("OR", ast.UnaryOp("NOT", ast.BinaryOp("=", ast.ColumnRef("A"), ast.IntegerLiteral(1))), ast.ColumnRef("B"))),
    ("a NOT BETWEEN 1 AND 2", ast.Between(ast.ColumnRef("A"), ast.IntegerLiteral(1), ast.IntegerLiteral(2), True)),
    ("a IN (1)", ast.InList(ast.ColumnRef("A"), (ast.IntegerLiteral(1),))),
    ("a LIKE 'x%' ESCAPE '!'", ast.Like(ast.ColumnRef("A"), ast.StringLiteral("x%"), "!")),
    ("a IS NOT NULL", ast.IsNull(ast.ColumnRef("A"), True)),
    ("a IS DISTINCT FROM b", ast.IsDistinctFrom(ast.ColumnRef("A"), ast.ColumnRef("B"))),
    ("CASE a WHEN 1 THEN 2 ELSE 3 END", ast.Case(ast.ColumnRef("A"), (ast.WhenClause(ast.IntegerLiteral(1), ast.IntegerLiteral(2)),), ast.IntegerLiteral(3))),
    ("CAST(a AS DECIMAL(4, 2))", ast.Cast(ast.ColumnRef("A"), ast.DecimalType(4, 2))),
    ("ARRAY[]", ast.CreateArray(())),
    ("MAP('a' := 1)", ast.CreateMap((ast.MapEntry(ast.StringLiteral("a"), ast.IntegerLiteral(1)),))),
    ("STRUCT(f := 1)", ast.CreateStruct((ast.StructFieldValue("F", ast.IntegerLiteral(1)),))),
    ("f(map, struct)", ast.FunctionCall("F", (ast.ColumnRef("MAP"), ast.ColumnRef("STRUCT")))),
    ("COUNT(DISTINCT a)", ast.FunctionCall("COUNT", (ast.ColumnRef("A"),), distinct=True)),
    ("TRANSFORM(xs, (x, `y`) => x)", ast.FunctionCall("TRANSFORM", (ast.ColumnRef("XS"), ast.Lambda(("X", "y"), ast.ColumnRef("X"))))),
    ("DATEADD(DAYS, 1, d)", ast.FunctionCall("DATEADD", (ast.IntervalUnit("DAYS"), ast.IntegerLiteral(1), ast.ColumnRef("D")))),
    ("DATEADD(`DAYS`, 1, d)", ast.FunctionCall("DATEADD", (ast.ColumnRef("DAYS"), ast.IntegerLiteral(1), ast.ColumnRef("D")))),
])
def test_expression_forms(text, expected):
    assert parse_expression(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("INT", ast.PrimitiveType("INTEGER")),
    ("varchar", ast.PrimitiveType("STRING")),
    ("VARCHAR(STRING)", ast.PrimitiveType("STRING")),
    ("MAP<STRING, ARRAY<DOUBLE>>", ast.MapType(ast.PrimitiveType("STRING"), ast.ArrayType(ast.PrimitiveType("DOUBLE")))),
    ("STRUCT<>", ast.StructType(())),
    ("address", ast.CustomTypeRef("ADDRESS")),
])
def test_types(text, expected):
    assert parse_type(text) == expected


def test_split_statements_respects_strings_names_and_comments():
    text = "SELECT ';' FROM `a;b`; -- x;y\n/* ; */ SHOW STREAMS ;\n -- only a comment\n"
    assert split_statements(text) == ["SELECT ';' FROM `a;b`", "-- x;y\n/* ; */ SHOW STREAMS"]


def test_substitute_variables_everywhere_case_insensitively():
    assert substitute_variables("SELECT '${V}' FROM ${topic}", {"v": "1", "TOPIC": "t"}) == "SELECT '1' FROM t"


def test_undefined_variable_error_points_at_reference():
    with pytest.raises(ParseError) as caught:
        substitute_variables("SELECT *\nFROM ${topc}", {"TOPIC": "t"})
    assert caught.value.render() == (
        "line 2:6: Variable 'topc' is not defined\n  FROM ${topc}\n       ^^^^^^^\nhint: did you mean 'TOPIC'?")
