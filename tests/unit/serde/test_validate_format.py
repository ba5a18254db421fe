"""validate_format / make_serde: formats that cannot carry the columns, in ksqlDB's words."""
import pytest

from streamsql.catalog.schema import KEY, Column, FormatInfo
from streamsql.catalog.types import BIGINT, BOOLEAN, DOUBLE, INTEGER, STRING, SqlType
from streamsql.errors import NotSupportedError, StatementError
from streamsql.serde import is_unwrapped, make_serde, validate_format


def key(name, sql_type):
    return Column(name, sql_type, KEY)


def value(name, sql_type):
    return Column(name, sql_type)


def rejects(fmt, columns, is_key):
    with pytest.raises(StatementError) as caught:
        validate_format(fmt, columns, is_key=is_key)
    return caught.value.message


def test_unknown_format():
    assert rejects(FormatInfo("FOO"), [], False) == "Unknown format: FOO"


def test_kafka_key_with_unsupported_type_names_side_schema_and_reason():
    message = rejects(FormatInfo("KAFKA"), [key("K", BOOLEAN)], True)
    assert message == ("Key format does not support schema.\nformat: KAFKA\n"
                       "schema: Persistence{columns=[`K` BOOLEAN KEY], features=[]}\n"
                       "reason: The 'KAFKA' format does not support type 'BOOLEAN'")
    assert "reason: The 'KAFKA' format does not support type 'DECIMAL'" in \
        rejects(FormatInfo("KAFKA"), [key("K", SqlType.decimal(21, 19))], True)


@pytest.mark.parametrize("sql_type,kind", [(SqlType.array(INTEGER), "ARRAY"),
                                           (SqlType.struct([("F1", DOUBLE)]), "STRUCT"),
                                           (SqlType.map(STRING, DOUBLE), "MAP")])
def test_kafka_value_rejects_containers(sql_type, kind):
    assert f"The 'KAFKA' format does not support type '{kind}'" in \
        rejects(FormatInfo("KAFKA"), [value("FOO", sql_type)], False)


def test_kafka_carries_one_column_only():
    assert "The 'KAFKA' format only supports a single field. Got: [`V0` INTEGER, `V1` STRING]" \
        in rejects(FormatInfo("KAFKA"), [value("V0", INTEGER), value("V1", STRING)], False)
    assert "Got: [`ID` INTEGER KEY, `AGE` INTEGER KEY]" in \
        rejects(FormatInfo("KAFKA"), [key("ID", INTEGER), key("AGE", INTEGER)], True)


def test_delimited_rejects_containers_naming_the_column():
    assert "The 'DELIMITED' format does not support type 'STRUCT', column: `ROWKEY`" in \
        rejects(FormatInfo("DELIMITED"), [key("ROWKEY", SqlType.struct([("A", INTEGER)]))],
                True)
    validate_format(FormatInfo("DELIMITED"), [key("A", INTEGER), key("B", STRING)], is_key=True)


def test_none_takes_no_columns():
    assert "The 'NONE' format can only be used when no columns are defined. " \
           "Got: [`K` STRING KEY]" in rejects(FormatInfo("NONE"), [key("K", STRING)], True)
    assert "Got: [`FOO` INTEGER]" in rejects(FormatInfo("NONE"), [value("FOO", INTEGER)], False)
    validate_format(FormatInfo("NONE"), [], is_key=True)


def test_map_keys_are_rejected_for_any_key_format():
    for fmt in ("KAFKA", "JSON"):
        assert rejects(FormatInfo(fmt), [key("K", SqlType.array(SqlType.map(INTEGER, DOUBLE)))],
                       True) == (
            "Map keys, including types that contain maps, are not supported as they may lead to "
            "unexpected behavior due to inconsistent serialization. Key column name: `K`. Column "
            "type: ARRAY<MAP<INTEGER, DOUBLE>>. See https://github.com/confluentinc/ksql/issues/"
            "6621 for more.")


@pytest.mark.parametrize("name,message", [
    ("JSON", "JSON only supports MAP types with STRING keys"),
    ("AVRO", "Avro only supports MAPs with STRING keys"),
    ("PROTOBUF", "PROTOBUF format only supports MAP types with STRING keys")])
def test_maps_need_string_keys(name, message):
    nested = SqlType.struct([("M", SqlType.map(INTEGER, DOUBLE))])
    assert message in rejects(FormatInfo(name), [value("FOO", nested)], False)
    validate_format(FormatInfo(name), [value("FOO", SqlType.map(STRING, DOUBLE))], is_key=False)


def test_wrap_single_value_rules():
    wrapped = frozenset({"WRAP_SINGLES"})
    assert rejects(FormatInfo("KAFKA", features=wrapped), [value("FOO", INTEGER)], False) == \
        "Format 'KAFKA' does not support 'WRAP_SINGLE_VALUE' set to 'true'."
    for features in (wrapped, frozenset({"UNWRAP_SINGLES"})):
        assert rejects(FormatInfo("JSON", features=features),
                       [value("F0", STRING), value("F1", STRING)], False) == \
            "'WRAP_SINGLE_VALUE' is only valid for single-field value schemas"


def test_unwrapping_defaults_differ_for_keys_and_values():
    single = [value("V", INTEGER)]
    assert is_unwrapped(FormatInfo("JSON"), single, is_key=True)
    assert not is_unwrapped(FormatInfo("JSON"), single, is_key=False)
    assert is_unwrapped(FormatInfo("JSON", features=frozenset({"UNWRAP_SINGLES"})), single,
                        is_key=False)
    assert not is_unwrapped(FormatInfo("JSON", features=frozenset({"WRAP_SINGLES"})), single,
                            is_key=True)


@pytest.mark.parametrize("name", ["AVRO", "PROTOBUF", "PROTOBUF_NOSR", "JSON_SR"])
def test_registry_formats_are_not_supported_yet(name):
    validate_format(FormatInfo(name), [value("A", BIGINT)], is_key=False)
    with pytest.raises(NotSupportedError, match=f"format {name} needs a schema registry"):
        make_serde(FormatInfo(name), [value("A", BIGINT)], is_key=False)


def test_format_names_are_case_insensitive():
    validate_format(FormatInfo("KafkA"), [value("V", INTEGER)], is_key=False)
    make_serde(FormatInfo("json"), [value("V", INTEGER)], is_key=False)
