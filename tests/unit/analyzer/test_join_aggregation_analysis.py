"""Aggregations over joins: the join's columns feed GROUP BY, with ksqlDB's names and limits."""
import pytest

from streamsql.analyzer.aggregates import analyze_aggregation
from streamsql.errors import StatementError
from streamsql.functions.registry import default_registry
from streamsql.parser import parse

from analyzer_catalog import catalog_with

REGISTRY = default_registry()


CATALOG = catalog_with(
    "CREATE STREAM ORDERS (ID STRING KEY, CUSTOMER STRING, AMOUNT DOUBLE) "
    "WITH (kafka_topic='o', value_format='JSON');",
    "CREATE TABLE CUSTOMERS (ID STRING PRIMARY KEY, REGION STRING) "
    "WITH (kafka_topic='c', value_format='JSON');",
    "CREATE TABLE ACCOUNTS (ID STRING PRIMARY KEY, REGION STRING) "
    "WITH (kafka_topic='a', value_format='JSON');")


def analyze(sql: str):
    (stmt,) = parse(sql)
    return analyze_aggregation(stmt.query, CATALOG, REGISTRY, sink_name=stmt.name)


def test_stream_table_join_groups_by_a_table_column():
    analysis = analyze("CREATE TABLE OUT AS SELECT C.REGION, COUNT(*) AS N, SUM(O.AMOUNT) AS T "
                       "FROM ORDERS O JOIN CUSTOMERS C ON O.CUSTOMER = C.ID GROUP BY C.REGION;")
    assert [s.alias for s in analysis.sides] == ["O", "C"]
    assert analysis.join.kind == "INNER"
    assert analysis.schema.sql() == "`REGION` STRING KEY, `N` BIGINT, `T` DOUBLE"


def test_a_column_both_sides_have_is_named_with_its_side():
    analysis = analyze("CREATE TABLE OUT AS SELECT C.ID, COUNT(*) AS N "
                       "FROM ORDERS O JOIN CUSTOMERS C ON O.CUSTOMER = C.ID GROUP BY C.ID;")
    assert [c.name for c in analysis.schema.columns] == ["C_ID", "N"]


def test_window_bounds_of_an_aggregation_over_a_join_cannot_be_selected():
    with pytest.raises(StatementError) as err:
        analyze("CREATE TABLE OUT AS SELECT O.ID, COUNT(*) AS N, WINDOWSTART AS WS "
                "FROM ORDERS O JOIN CUSTOMERS C ON O.CUSTOMER = C.ID "
                "WINDOW TUMBLING (SIZE 1 MINUTE) GROUP BY O.ID;")
    assert err.value.message == "SELECT column 'WINDOWSTART' cannot be resolved."


def test_a_table_table_join_is_aggregated_as_a_table():
    analysis = analyze("CREATE TABLE OUT AS SELECT A.REGION, COUNT(*) AS N FROM CUSTOMERS C "
                       "JOIN ACCOUNTS A ON C.ID = A.ID GROUP BY A.REGION;")
    assert analysis.join.table_table
    with pytest.raises(StatementError) as err:
        analyze("CREATE TABLE OUT AS SELECT A.REGION, LATEST_BY_OFFSET(C.REGION) AS R "
                "FROM CUSTOMERS C JOIN ACCOUNTS A ON C.ID = A.ID GROUP BY A.REGION;")
    assert err.value.message == ("The aggregation function LATEST_BY_OFFSET cannot be applied "
                                 "to a table source, only to a stream source.")


def test_having_error_names_a_joins_columns_by_their_joined_names():
    with pytest.raises(StatementError) as err:
        analyze("CREATE TABLE OUT AS SELECT O.ID, SUM(O.AMOUNT) AS T FROM ORDERS O "
                "JOIN CUSTOMERS C ON O.CUSTOMER = C.ID GROUP BY O.ID HAVING SUM(O.AMOUNT) > 'x';")
    assert err.value.message == ("Error in HAVING expression: Cannot compare SUM(O_AMOUNT) "
                                 "(DOUBLE) to 'x' (STRING) with GREATER_THAN.")


def test_star_of_an_unknown_source_is_rejected():
    with pytest.raises(StatementError) as err:
        analyze("CREATE TABLE OUT AS SELECT X.*, COUNT(*) AS N FROM ORDERS O "
                "JOIN CUSTOMERS C ON O.CUSTOMER = C.ID GROUP BY C.REGION;")
    assert err.value.message == "'X' is not a valid stream/table name or alias."
