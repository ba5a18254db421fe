"""Pull queries through the engine: real embedded log, real DuckDB, records on a real topic."""
import asyncio
import struct

import orjson
import pytest

from streamsql.engine import Engine
from streamsql.errors import StatementError
from streamsql.log.backend import Record


def run(coro):
    return asyncio.run(coro)


async def pull(tmp_path, ddl: str, records: list[Record], query: str, properties=None):
    """The result of `query` over a source table whose topic holds `records`."""
    async with Engine(tmp_path, properties or {}) as engine:
        await engine.execute(ddl)
        await engine.backend.produce("t", records)
        (result,) = await engine.execute(query)
        return result


def value(document) -> bytes:
    return orjson.dumps(document)


RIDERS = ("CREATE SOURCE TABLE riders (id STRING PRIMARY KEY, lat DOUBLE) "
          "WITH (kafka_topic='t', partitions=1, value_format='JSON');")


def test_table_rows_come_in_serialized_key_order_so_limit_takes_the_first_keys(tmp_path):
    records = [Record(key.encode(), value({"LAT": lat}))
               for key, lat in [("which", 1.0), ("there", 2.0), ("about", 3.0),
                                ("which", 4.0), ("after", 5.0)]]
    result = run(pull(tmp_path, RIDERS, records, "SELECT * FROM riders LIMIT 3;"))
    assert result.rows == [["about", 3.0], ["after", 5.0], ["there", 2.0]]


def test_integer_keys_order_by_their_big_endian_bytes(tmp_path):
    ddl = ("CREATE SOURCE TABLE scores (id INT PRIMARY KEY, n INT) "
           "WITH (kafka_topic='t', partitions=1, value_format='JSON');")
    records = [Record(struct.pack(">i", key), value({"N": key})) for key in (-1, 7, 2)]
    result = run(pull(tmp_path, ddl, records, "SELECT id FROM scores;"))
    assert result.rows == [[2], [7], [-1]]  # -1 is 0xFFFFFFFF


def test_columns_keep_their_select_order_and_roles(tmp_path):
    ddl = ("CREATE SOURCE TABLE docs (k INT PRIMARY KEY, text STRING, h BYTES HEADER('abc')) "
           "WITH (kafka_topic='t', partitions=1, value_format='JSON');")
    records = [Record(struct.pack(">i", 1), value({"TEXT": "a"}), headers=(("abc", b"!"),))]
    result = run(pull(tmp_path, ddl, records, "SELECT text, k, h FROM docs;"))
    assert result.columns == ["TEXT", "K", "H"]
    assert [(c.name, c.role, c.header_key) for c in result.data] == [
        ("TEXT", "value", None), ("K", "key", None), ("H", "header", "abc")]
    assert result.rows == [["a", 1, b"!"]]


def test_an_empty_map_is_an_empty_dict(tmp_path):
    ddl = ("CREATE SOURCE TABLE tags (id STRING PRIMARY KEY, m MAP<STRING, INT>) "
           "WITH (kafka_topic='t', partitions=1, value_format='JSON');")
    records = [Record(b"a", value({"M": {}})), Record(b"b", value({"M": {"x": 1}}))]
    result = run(pull(tmp_path, ddl, records, "SELECT * FROM tags;"))
    assert result.rows == [["a", {}], ["b", {"x": 1}]]


def test_limit_can_be_switched_off(tmp_path):
    with pytest.raises(StatementError, match="LIMIT clause in pull queries is currently "
                                             "disabled"):
        run(pull(tmp_path, RIDERS, [], "SELECT * FROM riders LIMIT 1;",
                 {"ksql.query.pull.limit.clause.enabled": "false"}))


def test_comparing_with_null_names_the_where_expression(tmp_path):
    with pytest.raises(StatementError) as raised:
        run(pull(tmp_path, RIDERS, [], "SELECT * FROM riders WHERE lat = NULL;"))
    assert raised.value.message == ("Error in WHERE expression: Comparison with NULL not "
                                    "supported: DOUBLE = NULL\nUse 'IS NULL' or 'IS NOT NULL' "
                                    "instead.")
    assert raised.value.statement == "(LAT = null)"


def test_a_bad_projection_is_reported_before_the_table_is_found_not_queryable(tmp_path):
    ddl = ("CREATE TABLE plain (id INT PRIMARY KEY, val STRING) "
           "WITH (kafka_topic='t', partitions=1, format='JSON');")
    with pytest.raises(StatementError, match="Duplicate value columns found in schema: "
                                             "`VAL` STRING"):
        run(pull(tmp_path, ddl, [], "SELECT val, val FROM plain WHERE id = 10;"))
    with pytest.raises(StatementError, match="table isn't queryable"):
        run(pull(tmp_path / "again", ddl, [], "SELECT val FROM plain WHERE id = 10;"))
