"""WITH properties that only schema-registry formats take."""
import pytest

from streamsql.analyzer.sources import analyze_create_source
from streamsql.catalog.catalog import Catalog
from streamsql.config import Config
from streamsql.errors import StatementError
from streamsql.parser import parse


def create(ddl: str):
    (stmt,) = parse(ddl)
    return analyze_create_source(stmt, Catalog(), Config(), ddl)


@pytest.mark.parametrize("formats, schema_property, message", [
    ("value_format='JSON'", "VALUE_AVRO_SCHEMA_FULL_NAME='com.custom.schema'",
     "JSON does not support the following configs: [fullSchemaName]"),
    ("value_format='DELIMITED'", "VALUE_SCHEMA_FULL_NAME='com.custom.schema'",
     "DELIMITED does not support the following configs: [fullSchemaName]"),
    ("key_format='KAFKA', value_format='JSON'", "KEY_SCHEMA_FULL_NAME='Key'",
     "KAFKA does not support the following configs: [fullSchemaName]"),
])
def test_schema_properties_need_a_schema_registry_format(formats, schema_property, message):
    with pytest.raises(StatementError) as err:
        create(f"CREATE STREAM S (K STRING KEY, V STRING) WITH (kafka_topic='t', {formats}, "
               f"{schema_property});")
    assert err.value.message == message
