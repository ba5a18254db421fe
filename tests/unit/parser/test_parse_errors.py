"""Syntax and parse-time errors: ksqlDB's wording, exact spans, hints, script line numbers."""
import pytest

from streamsql.errors import ParseError
from streamsql.parser import parse, parse_expression


def error_of(text: str) -> ParseError:
    with pytest.raises(ParseError) as caught:
        parse(text)
    return caught.value


def test_error_in_second_statement_reports_script_line():
    error = error_of("SHOW STREAMS;\nSELECT * FROM s GROUP BY a AND b;")
    assert (error.span.line, error.span.column) == (2, 28)
    assert error.message.startswith("Syntax Error")


def test_missing_close_paren_is_named():
    error = error_of("SELECT COUNT(* FROM s")
    assert error.message == "Syntax Error\nmissing ')' at 'FROM'"
    assert error.diagnostic.hint == "missing `)`"


def test_missing_semicolon_between_statements():
    assert error_of("SHOW STREAMS SHOW TABLES").message == "Syntax Error\nmissing ';' at 'SHOW'"


def test_reserved_word_as_name_gets_quote_hint():
    error = error_of("SELECT * FROM select")
    assert error.message == "Syntax Error\nSyntax error at or near 'select' at line 1:15"
    assert error.diagnostic.hint == "`select` is a reserved word; quote it as `select`"


def test_short_expectation_is_listed():
    error = error_of("CREATE STREAM s (k VARCHAR(STRING) (KEY))")
    assert error.message == "Syntax Error\nExpecting {',', ')'}"
    assert error.span.column == 36


def test_primary_key_on_stream_is_rejected_at_the_column():
    error = error_of("CREATE STREAM s (\n  id INT PRIMARY KEY)")
    assert error.message == ("Line: 2, Col: 3: Column `ID` is a 'PRIMARY KEY' column: "
                             "please use 'KEY' for streams.")


def test_empty_partition_by_is_rejected():
    assert error_of("SELECT * FROM s PARTITION BY ()").message == \
        "PARTITION BY requires at least one expression"


def test_struct_field_names_must_be_plain():
    assert "plain name" in error_of("SELECT STRUCT(a.b := 1) FROM s").message


def test_named_arguments_only_in_constructors():
    assert "Only MAP(...) and STRUCT(...)" in error_of("SELECT F(a := 1) FROM s").message


def test_expression_error_positions_are_relative_to_the_expression():
    with pytest.raises(ParseError) as caught:
        parse_expression("a + + ")
    assert caught.value.render() == ("line 1:6: Syntax Error\nunexpected end of input\n"
                                     "  a + + \n       ^\nhint: the expression or type is incomplete")


def test_bad_character():
    error = error_of("SELECT # FROM s")
    assert error.message == "Syntax Error\ntoken recognition error at: '#'"
    assert error.span.column == 8
