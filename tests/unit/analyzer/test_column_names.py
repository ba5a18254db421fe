"""Generated column names: ksqlDB's aliases for struct fields and expressions."""
from streamsql.analyzer.analyzer import analyze_query
from streamsql.functions.registry import default_registry
from streamsql.parser import parse

from analyzer_catalog import catalog_with

REGISTRY = default_registry()
ORDERS = catalog_with("CREATE STREAM ORDERS (K STRING KEY, ITEMID STRUCT<ITEMID BIGINT, "
                      "NAME STRING>, NAME STRING) WITH (kafka_topic='t', value_format='JSON');")


def names_of(sql: str) -> list[str]:
    (stmt,) = parse(sql)
    analysis = analyze_query(stmt.query, ORDERS, REGISTRY, persistent=True, sink_name=stmt.name)
    return analysis.schema.names()


def test_struct_field_named_like_a_source_column_gets_a_suffix():
    # ITEMID is a source column even though the query does not select it as such.
    assert names_of("CREATE STREAM S AS SELECT K, ITEMID->ITEMID, ITEMID AS IID FROM ORDERS;") \
        == ["K", "ITEMID_1", "IID"]


def test_an_alias_is_kept_even_when_a_source_column_has_that_name():
    assert names_of("CREATE STREAM S AS SELECT K, ITEMID->NAME AS NAME FROM ORDERS;") \
        == ["K", "NAME"]


def test_struct_field_with_a_fresh_name_keeps_it_and_repeats_get_suffixes():
    assert names_of("CREATE STREAM S AS SELECT K, ITEMID->NAME AS N, ITEMID->ITEMID, "
                    "ITEMID->ITEMID FROM ORDERS;") == ["K", "N", "ITEMID_1", "ITEMID_2"]


WINDOWED = catalog_with(
    "CREATE STREAM S1 (K INT KEY, ID BIGINT) WITH (kafka_topic='l', value_format='JSON', "
    "WINDOW_TYPE='Tumbling', WINDOW_SIZE='2 SECONDS');",
    "CREATE STREAM S2 (K INT KEY, ID BIGINT) WITH (kafka_topic='r', value_format='JSON', "
    "WINDOW_TYPE='Tumbling', WINDOW_SIZE='2 SECONDS');")


def test_star_over_a_join_of_windowed_streams_keeps_each_sides_window_bounds():
    (stmt,) = parse("CREATE STREAM OUT AS SELECT * FROM S1 JOIN S2 WITHIN 1 MINUTE "
                    "ON S1.K = S2.K;")
    analysis = analyze_query(stmt.query, WINDOWED, REGISTRY, persistent=True, sink_name="OUT")
    assert analysis.schema.sql() == (
        "`S1_K` INTEGER KEY, `S1_WINDOWSTART` BIGINT, `S1_WINDOWEND` BIGINT, `S1_ID` BIGINT, "
        "`S2_K` INTEGER, `S2_WINDOWSTART` BIGINT, `S2_WINDOWEND` BIGINT, `S2_ID` BIGINT")
