"""Pull-query key rules: what a WHERE must say about a table's key (ksqlDB's wording)."""
import pytest

from streamsql.analyzer.pull import check_pull_where
from streamsql.analyzer.sources import analyze_create_source
from streamsql.catalog.catalog import Catalog
from streamsql.config import Config
from streamsql.errors import StatementError
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
