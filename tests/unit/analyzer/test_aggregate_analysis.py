"""Aggregation analysis: which of ksqlDB's errors a GROUP BY query gets, in its order."""
import pytest

from streamsql.analyzer.aggregates import analyze_aggregation
from streamsql.errors import StatementError
from streamsql.functions.registry import default_registry
from streamsql.parser import parse

from analyzer_catalog import catalog_with

REGISTRY = default_registry()


INPUT = catalog_with("CREATE STREAM INPUT (ID STRING KEY, COL1 STRING, V INT) "
                     "WITH (kafka_topic='t', value_format='JSON');")


def analyze(sql: str):
    (stmt,) = parse(sql)
    return analyze_aggregation(stmt.query, INPUT, REGISTRY, sink_name=stmt.name)


def error_of(sql: str) -> str:
    with pytest.raises(StatementError) as err:
        analyze(sql)
    return err.value.message


def test_window_without_group_by_reports_a_non_aggregate_column_first():
    message = error_of("CREATE TABLE OUT AS SELECT ID, COUNT(*) AS N FROM INPUT "
                       "WINDOW TUMBLING (SIZE 2 MILLISECONDS) EMIT FINAL;")
    assert message == "Non-aggregate SELECT expression(s) not part of GROUP BY: ID"


def test_window_without_group_by_or_aggregates_needs_a_group_by():
    message = error_of("CREATE TABLE OUT AS SELECT ID, V FROM INPUT "
                       "WINDOW TUMBLING (SIZE 2 MILLISECONDS);")
    assert message == "WINDOW clause requires a GROUP BY clause."


def test_window_bound_in_projection_is_reserved_before_group_by_resolves_it():
    message = error_of("CREATE TABLE OUT AS SELECT ID, WINDOWSTART, COUNT(*) AS COUNT FROM INPUT "
                       "GROUP BY WINDOWSTART;")
    assert message == ("Reserved column name in select: `WINDOWSTART`. Please remove or alias "
                       "the column.")
