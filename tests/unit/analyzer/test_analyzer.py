"""Analyzer: names, types and key columns of queries, and ksqlDB's error wording."""
import pytest

from streamsql.analyzer.analyzer import analyze_query
from streamsql.errors import NotSupportedError, StatementError
from streamsql.functions.registry import default_registry
from streamsql.parser import parse

from analyzer_catalog import catalog_with

REGISTRY = default_registry()


INPUT = catalog_with("CREATE STREAM INPUT (ID INT KEY, NAME STRING, V DOUBLE) "
                     "WITH (kafka_topic='t', value_format='JSON');")


def analyze(sql: str, catalog=INPUT):
    (stmt,) = parse(sql)
    return analyze_query(stmt.query, catalog, REGISTRY, persistent=True, sink_name=stmt.name)


def test_key_column_stays_key_and_expressions_get_generated_names():
    analysis = analyze("CREATE STREAM OUT AS SELECT ID, V * 2, UCASE(NAME), NAME FROM INPUT;")
    assert analysis.schema.sql() == ("`ID` INTEGER KEY, `KSQL_COL_0` DOUBLE, "
                                     "`KSQL_COL_1` STRING, `NAME` STRING")


def test_aliased_key_column_renames_the_key():
    analysis = analyze("CREATE STREAM OUT AS SELECT ID AS K, NAME FROM INPUT;")
    assert [c.sql() for c in analysis.schema.key] == ["`K` INTEGER KEY"]


def test_select_star_expands_key_first():
    analysis = analyze("CREATE STREAM OUT AS SELECT * FROM INPUT;")
    assert analysis.schema.names() == ["ID", "NAME", "V"]


def test_partition_by_moves_the_key():
    analysis = analyze("CREATE STREAM OUT AS SELECT * FROM INPUT PARTITION BY NAME;")
    # `*` after PARTITION BY: the new key, the other value columns, then the old key as a value
    assert analysis.schema.sql() == "`NAME` STRING KEY, `V` DOUBLE, `ID` INTEGER"
    assert analysis.repartitioned
    assert analysis.keys_from_value == ("NAME",)  # NAME comes from the value


def test_partition_by_resolves_against_the_input():
    with pytest.raises(StatementError, match="PARTITION BY column 'N' cannot be resolved. 'N' "
                       "must be a column in the source schema"):
        analyze("CREATE STREAM OUT AS SELECT NAME AS N, ID FROM INPUT PARTITION BY N;")


@pytest.mark.parametrize("sql, message", [
    ("CREATE STREAM OUT AS SELECT NAME FROM INPUT;",
     "The query used to build `OUT` must include the key column ID in its projection "
     "(eg, SELECT ID...)."),
    ("CREATE STREAM OUT AS SELECT ID, ID AS ID2, NAME FROM INPUT;",
     "The projection contains a key column (`ID`) more than once, aliased as: ID and ID2."),
    ("CREATE STREAM OUT AS SELECT ID FROM INPUT;", "The projection contains no value columns."),
    ("CREATE STREAM OUT AS SELECT ID, ROWTIME FROM INPUT;",
     "Reserved column name in select: `ROWTIME`. Please remove or alias the column."),
    ("CREATE STREAM OUT AS SELECT ID, NAME AS ROWTIME FROM INPUT;",
     "`ROWTIME` is a reserved column name. You cannot use it as an alias for a column."),
    ("CREATE STREAM OUT AS SELECT ID, X.* FROM INPUT;",
     "'X' is not a valid stream/table name or alias."),
])
def test_projection_errors_use_ksqldb_wording(sql, message):
    with pytest.raises(StatementError) as err:
        analyze(sql)
    assert err.value.message == message


def test_unknown_column_names_the_clause():
    with pytest.raises(StatementError) as err:
        analyze("CREATE STREAM OUT AS SELECT ID, BOB FROM INPUT;")
    assert "SELECT column 'BOB' cannot be resolved" in err.value.message
    with pytest.raises(StatementError) as err:
        analyze("CREATE STREAM OUT AS SELECT * FROM INPUT WHERE ABS(BOB) < 10;")
    assert "WHERE column 'BOB' cannot be resolved" in err.value.message


def test_where_must_be_boolean():
    with pytest.raises(StatementError) as err:
        analyze("CREATE STREAM OUT AS SELECT * FROM INPUT WHERE 'x';")
    assert err.value.message == ("Type error in WHERE expression: Should evaluate to boolean but "
                                 "is 'x' (STRING) instead.")


def test_aggregations_say_not_supported_yet():
    with pytest.raises(NotSupportedError) as err:
        analyze("CREATE STREAM OUT AS SELECT NAME, COUNT(*) FROM INPUT GROUP BY NAME;")
    assert "not supported yet" in err.value.message


@pytest.mark.parametrize("ddl, message", [
    ("CREATE TABLE T (ID INT, V INT) WITH (kafka_topic='t', value_format='JSON');",
     "Tables require a PRIMARY KEY. Please define the PRIMARY KEY."),
    ("CREATE STREAM S (ID INT KEY, ROWPARTITION INT) WITH (kafka_topic='t', value_format='JSON');",
     "'ROWPARTITION' is a reserved column name. You cannot use it as a name for a column."),
    ("CREATE STREAM S (ID INT KEY, V INT) WITH (kafka_topic='t', value_format='FOO');",
     "Unknown format: FOO"),
    ("CREATE STREAM S (ID INT KEY, V INT) WITH (kafka_topic='t');",
     "Statement is missing the 'VALUE_FORMAT' property from the WITH clause. Either provide one "
     "or set a default via the 'ksql.persistence.default.format.value' config."),
    ("CREATE STREAM S (ID INT KEY, V INT) WITH (kafka_topic='t', format='JSON', "
     "value_format='JSON');",
     "Cannot supply both 'VALUE_FORMAT' and 'FORMAT' properties, as 'FORMAT' sets both key and "
     "value formats. Either use just 'FORMAT', or use 'KEY_FORMAT' and 'VALUE_FORMAT'."),
    ("CREATE STREAM S (ID INT KEY, A INT, B INT) WITH (kafka_topic='t', value_format='JSON', "
     "wrap_single_value=false);",
     "'WRAP_SINGLE_VALUE' is only valid for single-field value schemas"),
])
def test_create_source_errors(ddl, message):
    with pytest.raises(StatementError) as err:
        catalog_with(ddl)
    assert err.value.message == message
