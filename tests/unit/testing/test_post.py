"""`post` conditions (QTT section 8) against a real catalog and a real embedded log."""
import asyncio

import pytest

from streamsql.catalog.catalog import STREAM, TABLE, Catalog, DataSource
from streamsql.catalog.schema import KEY, Column, FormatInfo, LogicalSchema, WindowInfo
from streamsql.catalog.types import BIGINT, INTEGER
from streamsql.log import EmbeddedLog
from streamsql.testing.post import check, check_source, parse_schema

OUTPUT = DataSource(
    name="OUTPUT", kind=TABLE,
    schema=LogicalSchema((Column("ID", BIGINT, KEY), Column("COUNT", BIGINT))),
    topic="OUTPUT", key_format=FormatInfo("KAFKA"),
    value_format=FormatInfo("JSON", features=frozenset({"WRAP_SINGLES"})),
    window=WindowInfo("TUMBLING", 30000))
INPUT = DataSource(name="INPUT", kind=STREAM, schema=LogicalSchema((Column("V", INTEGER),)),
                   topic="input", key_format=FormatInfo("KAFKA"), value_format=FormatInfo("JSON"),
                   is_source=True)
CATALOG = Catalog().with_source(OUTPUT).with_source(INPUT)


@pytest.mark.parametrize("entry", [
    {"name": "OUTPUT", "type": "table"},
    {"name": "OUTPUT", "type": "TABLE", "valueFormat": "JSON", "valueFeatures": ["WRAP_SINGLES"],
     "keyFeatures": [], "keyFormat": {"format": "KAFKA", "windowType": "TUMBLING",
                                      "windowSize": 30000}},
    {"name": "INPUT", "type": "stream", "isSource": True, "keyFormat": {"format": "KAFKA"}},
])
def test_matching_source_entries(entry):
    assert check_source(CATALOG, entry) is None


@pytest.mark.parametrize("entry, problem", [
    ({"name": "output", "type": "table"}, "no source named 'output'"),
    ({"name": "OUTPUT", "type": "stream"}, "expected a stream but it is a table"),
    ({"name": "OUTPUT", "type": "table", "valueFormat": "DELIMITED"}, "value format"),
    ({"name": "OUTPUT", "type": "table", "keyFormat": {"format": "KAFKA"}},
     "window type: expected None but was TUMBLING"),  # absent window fields: not windowed
    ({"name": "OUTPUT", "type": "table", "keyFormat": {"windowType": "TUMBLING",
                                                        "windowSize": 1000}}, "window size"),
    ({"name": "OUTPUT", "type": "table", "valueFeatures": []}, "valueFeatures"),
    ({"name": "INPUT", "type": "stream", "isSource": False}, "isSource"),
])
def test_mismatching_source_entries(entry, problem):
    assert problem in check_source(CATALOG, entry)


def run_topics_check(tmp_path, post):
    async def body():
        backend = EmbeddedLog(tmp_path, fsync="never")
        await backend.start()
        try:
            await backend.create_topic("OUTPUT", 4)
            await backend.create_topic("input", 1)
            return await check(CATALOG, backend, post)
        finally:
            await backend.close()
    return asyncio.run(body())


def test_topic_entries_compare_formats_windows_in_seconds_and_partitions(tmp_path):
    entry = {"name": "OUTPUT", "partitions": 4,
             "keyFormat": {"format": "KAFKA", "properties": {}, "features": [],
                           "windowInfo": {"type": "TUMBLING", "size": 30}},
             "valueFormat": {"format": "JSON", "features": ["WRAP_SINGLES"]}}
    assert run_topics_check(tmp_path, {"topics": {"topics": [entry]}}) is None
    entry["partitions"] = 1
    assert "partitions: expected 1 but was 4" in \
        run_topics_check(tmp_path, {"topics": {"topics": [entry]}})


def test_topic_entries_fail_on_missing_topics_windows_and_schema_ids(tmp_path):
    internal = {"name": "_confluent-ksql-some.ksql.service.idquery_CTAS_OUTPUT_0-Aggregate-"
                        "Aggregate-Materialize-changelog"}
    assert "no topic named" in run_topics_check(tmp_path, {"topics": {"topics": [internal]}})
    unwindowed = {"name": "OUTPUT", "keyFormat": {"format": "KAFKA"},
                  "valueFormat": {"format": "JSON", "features": ["WRAP_SINGLES"]}}
    assert "window: expected None" in \
        run_topics_check(tmp_path, {"topics": {"topics": [unwindowed]}})
    with_id = {"name": "input", "valueSchemaId": 1}
    assert "needs a schema registry" in \
        run_topics_check(tmp_path, {"topics": {"topics": [with_id]}})


def test_blacklist_is_searched_in_every_topic_name(tmp_path):
    assert run_topics_check(tmp_path, {"topics": {"blacklist": ".*-repartition"}}) is None
    assert "matches the blacklist" in \
        run_topics_check(tmp_path, {"topics": {"blacklist": "UTP"}})


def test_expected_schema_text_is_parsed_like_create_columns():
    columns = parse_schema("`id` INT KEY, V VARCHAR, H ARRAY<STRUCT<K STRING, V BYTES>> HEADERS, "
                           "B BYTES HEADER('b')")
    assert [(c.name, c.type.sql(), c.role, c.header_key) for c in columns] == [
        ("id", "INTEGER", "key", None), ("V", "STRING", "value", None),
        ("H", "ARRAY<STRUCT<`K` STRING, `V` BYTES>>", "header", None),
        ("B", "BYTES", "header", "b")]


def test_schema_must_equal_the_source_columns_in_order_keys_first():
    assert check_source(CATALOG, {"name": "OUTPUT", "type": "table",
                                  "schema": "ID BIGINT KEY, COUNT BIGINT"}) is None
    assert check_source(CATALOG, {"name": "OUTPUT", "type": "table",
                                  "schema": "COUNT BIGINT, ID BIGINT KEY"}) is None
    assert "schema: expected `ID` BIGINT KEY, `COUNT` INTEGER" in check_source(
        CATALOG, {"name": "OUTPUT", "type": "table", "schema": "ID BIGINT KEY, COUNT INT"})
    assert "schema" in check_source(
        CATALOG, {"name": "OUTPUT", "type": "table", "schema": "ID BIGINT KEY"})
    assert "cannot parse the expected schema" in check_source(
        CATALOG, {"name": "OUTPUT", "type": "table", "schema": "ID BIGINT KEY,"})
