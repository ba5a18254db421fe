"""ksqlDB's wire shapes from real engine objects: values, query frames, errors, insert rows."""
from decimal import Decimal

import orjson
import pytest

from streamsql import ast
from streamsql.catalog import types as T
from streamsql.catalog.schema import Column, LogicalSchema
from streamsql.engine import Result
from streamsql.errors import LogError, ParseError, Span, StatementError
from streamsql.server import wire
from streamsql.sqlformat import format_statement

COLUMNS = (Column("ID", T.STRING, "key"), Column("TOTAL", T.SqlType.decimal(4, 2)))


def test_values_are_written_as_ksqldb_writes_them():
    row = [Decimal("10.50"), b"\x01\x02", [("a", 1)], {"F": [1.0, None]}, True]
    assert wire.dumps(wire.row_values(row)) == \
        b'[10.50,"AQI=",{"a":1},{"F":[1.0,null]},true]'


def test_query_endpoint_frames_header_rows_and_final_message_as_one_array():
    framing = wire.QueryFraming("q1", COLUMNS, endpoint="query", array=True)
    body = framing.whole([["a", Decimal("1.00")]], wire.LIMIT_REACHED)
    assert orjson.loads(body) == [
        {"header": {"queryId": "q1", "schema": "`ID` STRING KEY, `TOTAL` DECIMAL(4, 2)"}},
        {"row": {"columns": ["a", 1.0]}}, {"finalMessage": "Limit Reached"}]


def test_query_stream_frames_are_newline_delimited_without_final_message():
    framing = wire.QueryFraming("q1", COLUMNS, endpoint="query-stream", array=False)
    assert framing.media_type == wire.DELIMITED
    lines = framing.whole([["a", Decimal("1.00")]], wire.LIMIT_REACHED).splitlines()
    assert [orjson.loads(line) for line in lines] == [
        {"queryId": "q1", "columnNames": ["ID", "TOTAL"],
         "columnTypes": ["STRING", "DECIMAL(4, 2)"]}, ["a", 1.0]]


def test_statement_errors_are_400_with_the_statement_and_server_faults_500():
    text = "SELEC 1;"
    status, body = wire.statement_error(
        ParseError("Syntax Error", Span(1, 1, 1, 6, 0, 5), text=text), text)
    assert status == 400
    assert body == {"@type": "statement_error", "error_code": 40001,
                    "message": "line 1:1: Syntax Error\nStatement: SELEC 1;\n  SELEC 1;\n  ^^^^^",
                    "statementText": text, "entities": []}
    status, body = wire.statement_error(LogError("data directory is locked"), text)
    assert status == 500
    assert body == {"@type": "generic_error", "error_code": 50000,
                    "message": "data directory is locked"}


@pytest.mark.parametrize("body", [b"[1]", b"{", b'{"ksql": ""}',
                                  b'{"ksql": "x", "streamsProperties": 1}'])
def test_malformed_statement_requests_are_request_errors(body):
    with pytest.raises(wire.RequestError):
        wire.parse_statement_request(body)


def test_request_properties_become_config_strings():
    request = wire.parse_statement_request(
        b'{"sql": "SELECT 1;", "properties": {"a": true, "b": 5}}')
    assert (request.sql, request.properties) == ("SELECT 1;", {"a": "true", "b": "5"})


def test_command_ids_name_the_entity_and_action():
    assert wire.command_id(ast.Terminate("CSAS_X_0")) == "terminate/CSAS_X_0/execute"
    assert wire.command_id(ast.DropSource("TABLE", "T")) == "table/T/drop"


def test_insert_rows_become_insert_values_typed_by_the_target_columns():
    point = T.SqlType.struct([("X", T.INTEGER)])
    schema = LogicalSchema((Column("ID", T.STRING, "key"), Column("P", point),
                            Column("M", T.SqlType.map(T.STRING, T.BIGINT)),
                            Column("MixedCase", T.STRING)))
    statement = wire.insert_statement(
        "S", {"id": "a", "p": {"x": 1}, "M": {"k": 2}, "MixedCase": "it's"}, schema)
    assert format_statement(statement) == \
        "INSERT INTO S (ID, P, M, `MixedCase`) VALUES ('a', STRUCT(X := 1), MAP('k' := 2), 'it''s')"


def test_custom_types_are_listed_with_their_schemas():
    point = T.SqlType.struct([("X", T.INTEGER), ("TAGS", T.SqlType.array(T.STRING))])
    result = Result("SHOW TYPES", kind="table", columns=["Type Name", "Schema"],
                    rows=[["POINT", point.sql()]], entity="type_list")
    member = {"type": "STRING", "fields": None, "memberSchema": None}
    assert wire.type_list(result, {"POINT": point})["types"] == {"POINT": {
        "type": "STRUCT", "memberSchema": None, "fields": [
            {"name": "X", "schema": {"type": "INTEGER", "fields": None, "memberSchema": None}},
            {"name": "TAGS", "schema": {"type": "ARRAY", "fields": None,
                                        "memberSchema": member}}]}}


def test_error_names_the_part_of_the_statement_ksqldb_names():
    text = "SELECT * FROM T WHERE ID = '1';"
    error = StatementError("Error in WHERE expression: Cannot compare", Span(1, 23, 1, 31, 22, 30),
                           text=text, statement="(ID = '1')")
    _, body = wire.statement_error(error, text)
    assert body["message"].startswith(
        "line 1:23: Error in WHERE expression: Cannot compare\nStatement: (ID = '1')\n")


def test_query_header_lists_header_columns_before_value_columns():
    columns = (Column("K", T.INTEGER, "key"), Column("TEXT", T.STRING),
               Column("H", T.BYTES, "header", "abc"))
    framing = wire.QueryFraming("q1", columns, endpoint="query", array=True)
    header, row = orjson.loads(framing.whole([[1, "a", b"!"]], None))[:2]
    assert header["header"]["schema"] == "`K` INTEGER KEY, `H` BYTES HEADER('abc'), `TEXT` STRING"
    assert row == {"row": {"columns": [1, "a", "IQ=="]}}  # rows keep their order
