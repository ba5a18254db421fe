"""Pull-query key rules: what a WHERE must say about a table's key (ksqlDB's wording)."""
import pytest

from streamsql import ast
from streamsql.analyzer.pull import check_pull_where, window_bounds_as_millis
from streamsql.analyzer.sources import analyze_create_source
from streamsql.catalog.catalog import Catalog
from streamsql.config import Config
from streamsql.errors import StatementError
from streamsql.expr.text import format_expr
from streamsql.parser import parse, parse_expression

NO_SCAN = Config().with_overrides({"ksql.query.pull.table.scan.enabled": "false"})


def table(ddl: str):
    (stmt,) = parse(ddl)
    return analyze_create_source(stmt, Catalog(), Config(), ddl)


ONE_KEY = table("CREATE TABLE T (ID STRING PRIMARY KEY, N BIGINT) WITH (kafka_topic='t', "
                "value_format='JSON');")
TWO_KEYS = table("CREATE TABLE T (A INT PRIMARY KEY, B INT PRIMARY KEY, N BIGINT) WITH "
                 "(kafka_topic='t', format='JSON');")


@pytest.mark.parametrize("where", ["ID = 'a'", "ID IN ('a', 'b')", "ID = 'a' OR ID = 'b'",
                                   "ID >= 'a'"])
def test_key_lookups_and_string_ranges_are_allowed_without_table_scans(where):
    check_pull_where(parse_expression(where), ONE_KEY, NO_SCAN)


@pytest.mark.parametrize("source, where, message", [
    (ONE_KEY, "N = 1", "WHERE clause missing key column for disjunct: (N = 1)"),
    (ONE_KEY, "ID = N", "A comparison must be between a key column and a resolvable expression."),
    (ONE_KEY, "ID = 'a' AND ID IN ('a')", "cannot be combined with other comparisons"),
    (ONE_KEY, "ID <> 'a'", "Bound on key columns '[`ID` STRING KEY]' must currently be '='."),
    (ONE_KEY, "ID <= 'a' OR ID >= 'c'", "Query requires table scan to be enabled"),
    (TWO_KEYS, "A = 1", "Multi-column sources must specify every key in the WHERE clause"),
    (TWO_KEYS, "A <= 1 AND B >= 2", "Query requires table scan to be enabled"),
])
def test_without_table_scans_a_pull_query_must_be_a_key_lookup(source, where, message):
    with pytest.raises(StatementError) as err:
        check_pull_where(parse_expression(where), source, NO_SCAN)
    assert message in err.value.message


def test_key_values_must_be_usable_whatever_the_setting():
    with pytest.raises(StatementError, match="Primary key columns can not be NULL"):
        check_pull_where(parse_expression("A IN (NULL) AND B = 1"), TWO_KEYS, Config())
    with pytest.raises(StatementError, match="can not be converted to the type of the key"):
        check_pull_where(parse_expression("A IN ('1') AND B = 1"), TWO_KEYS, Config())
    check_pull_where(parse_expression("N > 1"), ONE_KEY, Config())  # table scans are on


@pytest.mark.parametrize("where, millis", [
    ("WINDOWSTART = '2020-02-23T23:45:12.000'", 1582501512000),
    ("WINDOWSTART = '2020-02-23T22:45:12.000-0100'", 1582501512000),  # an offset of its own
    ("WINDOWSTART = '2020-02-23T23:45:12.5Z'", 1582501512500),
    ("'2020-02-23T23:45' <= WINDOWSTART", 1582501500000),  # missing parts are the earliest
    ("WINDOWEND < '2020-02-23T24'", 1582502400000),  # hour 24 is the next midnight
    ("WINDOWEND < '2020'", 1577836800000),
])
def test_window_bounds_given_as_datetime_text_become_epoch_millis(where, millis):
    rewritten = window_bounds_as_millis(parse_expression(where))
    literal = rewritten.left if isinstance(rewritten.left, ast.IntegerLiteral) else \
        rewritten.right
    assert literal == ast.IntegerLiteral(millis, span=literal.span)


def test_only_window_bound_comparisons_are_rewritten():
    where = parse_expression("ID = '2020' AND (WINDOWSTART >= '2020' OR N = 1)")
    assert format_expr(window_bounds_as_millis(where)) == \
        "((ID = '2020') AND ((WINDOWSTART >= 1577836800000) OR (N = 1)))"


@pytest.mark.parametrize("text", ["yesterday", "2020-13", "2020-02-23T25"])
def test_window_bound_text_that_is_no_datetime_is_an_error(text):
    with pytest.raises(StatementError, match=f"Failed to parse datetime: {text}"):
        window_bounds_as_millis(parse_expression(f"WINDOWSTART = '{text}'"))


def test_a_broken_key_lookup_rule_is_followed_by_guidance():
    with pytest.raises(StatementError) as err:
        check_pull_where(parse_expression("ID <> 'a'"), ONE_KEY, NO_SCAN)
    assert "must currently be '='. Without table scans" in err.value.message
