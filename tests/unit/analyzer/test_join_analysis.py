"""Join analysis: kinds of table-table joins, result keys and names, ksqlDB's join errors."""
import pytest

from streamsql.analyzer.analyzer import analyze_query
from streamsql.errors import StatementError
from streamsql.functions.registry import default_registry
from streamsql.parser import parse

from analyzer_catalog import catalog_with

REGISTRY = default_registry()


CATALOG = catalog_with(
    "CREATE TABLE L (ID BIGINT PRIMARY KEY, FK BIGINT, V INT) "
    "WITH (kafka_topic='l', value_format='JSON');",
    "CREATE TABLE R (ID BIGINT PRIMARY KEY, W INT) WITH (kafka_topic='r', value_format='JSON');",
    "CREATE TABLE M (ID BIGINT PRIMARY KEY, X INT) WITH (kafka_topic='m', value_format='JSON');",
    "CREATE STREAM S (K BIGINT KEY, W INT) WITH (kafka_topic='s', value_format='JSON');")


def analyze(sql: str):
    (stmt,) = parse(sql)
    return analyze_query(stmt.query, CATALOG, REGISTRY, persistent=True, sink_name=stmt.name)


def test_key_join_is_keyed_by_the_join_key_and_unique_names_stay_plain():
    analysis = analyze("CREATE TABLE O AS SELECT L.ID, V, W FROM L RIGHT JOIN R ON L.ID = R.ID;")
    assert not analysis.join.foreign_key
    assert analysis.schema.sql() == "`L_ID` BIGINT KEY, `V` INTEGER, `W` INTEGER"
    assert analysis.key[0].expr.sql.sql() == '"$join_key"'  # a RIGHT join's row may lack L


def test_join_on_a_left_value_column_is_a_foreign_key_join_keyed_like_the_left_table():
    analysis = analyze("CREATE TABLE O AS SELECT L.ID, W FROM L JOIN R ON L.FK = R.ID;")
    assert analysis.join.foreign_key
    assert analysis.schema.sql() == "`L_ID` BIGINT KEY, `W` INTEGER"


def test_full_join_has_a_synthetic_key_column():
    analysis = analyze("CREATE TABLE O AS SELECT ROWKEY AS K, V, W FROM L FULL JOIN R "
                       "ON L.ID = R.ID;")
    assert analysis.schema.sql() == "`K` BIGINT KEY, `V` INTEGER, `W` INTEGER"


def test_a_chain_of_tables_joins_each_to_the_ones_before():
    analysis = analyze("CREATE TABLE O AS SELECT L.ID, V, W, X FROM L JOIN R ON L.ID = R.ID "
                       "LEFT JOIN M ON R.ID = M.ID;")
    assert [j.right.alias for j in (analysis.join,) + analysis.chained] == ["R", "M"]
    assert analysis.chained[0].left.alias == "R"


@pytest.mark.parametrize("sql, message", [
    ("CREATE TABLE O AS SELECT L.ID, W FROM L JOIN R ON L.V = R.W;",
     "Invalid join condition: table-table joins require to join on the primary key of the "
     "right input table. Got L.V = R.W."),
    ("CREATE TABLE O AS SELECT L.ID, W FROM L RIGHT JOIN R ON L.FK = R.ID;",
     "RIGHT OUTER JOIN on a foreign key is not supported"),
    ("CREATE TABLE O AS SELECT V, W FROM L JOIN R ON L.FK = R.ID;",
     "Primary key column missing in projection. For foreign-key table-table joins, the "
     "projection must include all primary key columns from the left input table (`L`). "
     "Missing column: `ID`."),
    ("CREATE STREAM O AS SELECT S.K, V FROM S FULL JOIN L ON S.K = L.ID;",
     "Invalid join type: full-outer join not supported for stream-table join. "
     "Got S [FULL] OUTER JOIN L."),
    ("CREATE STREAM O AS SELECT S.K, V FROM S JOIN L ON S.W = L.V;",
     "Invalid join condition: stream-table joins require to join on the table's primary key. "
     "Got S.W = L.V."),
])
def test_join_errors_in_ksqldb_words(sql, message):
    with pytest.raises(StatementError) as raised:
        analyze(sql)
    assert raised.value.message == message


def test_star_after_a_join_partition_by_lists_each_sides_value_pseudo_and_key_columns():
    analysis = analyze("CREATE STREAM O AS SELECT * FROM S JOIN L ON S.K = L.ID PARTITION BY W;")
    assert analysis.schema.sql() == (
        "`S_W` INTEGER KEY, `S_ROWTIME` BIGINT, `S_ROWPARTITION` INTEGER, `S_ROWOFFSET` BIGINT, "
        "`S_K` BIGINT, `L_FK` BIGINT, `L_V` INTEGER, `L_ROWTIME` BIGINT, "
        "`L_ROWPARTITION` INTEGER, `L_ROWOFFSET` BIGINT, `L_ID` BIGINT")


def test_unknown_qualifier_is_reported_before_an_ambiguous_column():
    with pytest.raises(StatementError) as err:
        analyze("CREATE TABLE O AS SELECT L.ID, V, W FROM L JOIN R ON ID = UNKNOWN.ID;")
    assert err.value.message == ("Failed to prepare statement: 'UNKNOWN' is not a valid "
                                 "stream/table name or alias.")


def test_ambiguous_column_is_reported_as_ksqldb_prepares_statements():
    with pytest.raises(StatementError) as err:
        analyze("CREATE TABLE O AS SELECT V, W FROM L JOIN R ON ID = ID;")
    assert err.value.message == ("Exception while preparing statement: Line: 1, Col: 48: "
                                 "Column 'ID' is ambiguous. Could be L.ID or R.ID.")
