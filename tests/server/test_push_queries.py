"""Push queries over a real socket: where they start reading, what their rows look like
(tombstones of tables, streams' records without a value), and scalable push queries."""
import json
import struct

import orjson
from http_client import Client

from streamsql.log.backend import Record

EARLIEST = {"auto.offset.reset": "earliest"}
PUSH_V2 = {"ksql.query.push.v2.enabled": "true"}


async def open_query(client: Client, sql: str, properties=None):
    """Start a /query request; return the exchange and its header, read as soon as it came."""
    exchange = await client.stream("POST", "/query", orjson.dumps(
        {"ksql": sql, "streamsProperties": properties or {}}))
    assert exchange.status == 200
    received = b""
    while True:
        chunk = await exchange.chunk()
        assert chunk is not None, f"the response ended before its header: {received!r}"
        received += chunk
        try:
            header, _ = json.JSONDecoder().raw_decode(received.decode().lstrip()[1:])
            return exchange, header, received
        except ValueError:
            continue  # the header is not all there yet


async def rest_of_response(exchange, received: bytes) -> list:
    document = orjson.loads(received + await exchange.body())
    await exchange.close()
    return document


async def ok(client: Client, sql: str, properties=None):
    reply = await client.ksql(sql, properties)
    assert reply.status == 200, reply.body
    return reply


def test_push_query_reads_from_where_it_started_when_its_header_is_sent(served):
    async def body(client, engine):
        await ok(client, "CREATE STREAM s (id STRING KEY, v INT) WITH (kafka_topic='s', "
                         "partitions=1, value_format='JSON');")
        await ok(client, "INSERT INTO s (id, v) VALUES ('before', 1);")
        exchange, header, received = await open_query(client,
                                                      "SELECT * FROM s EMIT CHANGES LIMIT 1;")
        # running, from the end it found, before the client could send anything else
        assert engine.push_queries[header["header"]["queryId"]].offsets == {("s", 0): 1}

        # produced after the header: the query (reading from the latest offset) sees it
        await ok(client, "INSERT INTO s (id, v) VALUES ('after', 2);")
        header_element, *rest = await rest_of_response(exchange, received)
        assert rest == [{"row": {"columns": ["after", 2]}}, {"finalMessage": "Limit Reached"}]

    served(body)


def test_table_push_query_shows_a_deleted_key_as_a_tombstone_row(served):
    async def body(client, engine):
        await ok(client, "CREATE TABLE t (k INT PRIMARY KEY, v INT) WITH (kafka_topic='t', "
                         "partitions=1, value_format='JSON');")
        key = struct.pack(">i", 10)
        await engine.backend.produce("t", [Record(key, b'{"V": 110}', 1),
                                           Record(None, b'{"V": 123}', 2),  # no key: no row
                                           Record(key, None, 3)])
        reply = await client.request("POST", "/query", {
            "ksql": "SELECT * FROM t EMIT CHANGES LIMIT 2;", "streamsProperties": EARLIEST})
        assert reply.json()[1:] == [{"row": {"columns": [10, 110]}},
                                    {"row": {"columns": [10, None], "tombstone": True}},
                                    {"finalMessage": "Limit Reached"}]

        only_value = await client.request("POST", "/query", {
            "ksql": "SELECT v FROM t EMIT CHANGES LIMIT 2;", "streamsProperties": EARLIEST})
        assert only_value.json()[2] == {"row": {"columns": [None], "tombstone": True}}

    served(body)


def test_stream_push_query_skips_records_without_a_value(served):
    async def body(client, engine):
        await ok(client, "CREATE STREAM s (k INT KEY, v INT) WITH (kafka_topic='s', "
                         "partitions=1, value_format='JSON');")
        key = struct.pack(">i", 1)
        await engine.backend.produce("s", [Record(key, None, 1), Record(key, b'{"V": 5}', 2)])
        reply = await client.request("POST", "/query", {
            "ksql": "SELECT * FROM s EMIT CHANGES LIMIT 1;", "streamsProperties": EARLIEST})
        assert reply.json()[1:] == [{"row": {"columns": [1, 5]}},
                                    {"finalMessage": "Limit Reached"}]

    served(body)


def test_push_query_over_a_windowed_aggregation_keeps_select_order(served):
    async def body(client, engine):
        await ok(client, "CREATE STREAM s (k INT KEY, v INT) WITH (kafka_topic='s', "
                         "partitions=1, value_format='JSON');")
        await ok(client, "INSERT INTO s (k, v, ROWTIME) VALUES (1, 5, 10345);")
        reply = await client.request("POST", "/query", {
            "ksql": "SELECT COUNT(*) AS n, WINDOWSTART, WINDOWEND FROM s "
                    "WINDOW TUMBLING (SIZE 1 SECOND) GROUP BY k EMIT CHANGES LIMIT 1;",
            "streamsProperties": EARLIEST})
        header, row, final = reply.json()
        assert header["header"]["schema"] == \
            "`N` BIGINT, `WINDOWSTART` BIGINT, `WINDOWEND` BIGINT"
        assert row == {"row": {"columns": [1, 10000, 11000]}}

    served(body)


def test_scalable_push_query_taps_the_output_of_the_query_writing_its_source(served):
    async def body(client, engine):
        await ok(client, "CREATE STREAM s (id STRING KEY, v INT) WITH (kafka_topic='s', "
                         "partitions=1, value_format='JSON');")
        await ok(client, "CREATE STREAM doubled AS SELECT id, v * 2 AS v2 FROM s;")
        exchange, header, received = await open_query(
            client, "SELECT * FROM doubled WHERE v2 > 2 EMIT CHANGES LIMIT 1;", PUSH_V2)
        assert header["header"]["queryId"].startswith("SCALABLE_PUSH_QUERY_")

        await ok(client, "INSERT INTO s (id, v) VALUES ('a', 1);")
        await ok(client, "INSERT INTO s (id, v) VALUES ('b', 2);")
        _, *rest = await rest_of_response(exchange, received)
        assert rest == [{"row": {"columns": ["b", 4]}}, {"finalMessage": "Limit Reached"}]

    served(body)


def test_push_queries_ksqldb_does_not_scale_stay_transient(served):
    async def body(client, engine):
        await ok(client, "CREATE STREAM s (id STRING KEY, v INT) WITH (kafka_topic='s', "
                         "partitions=1, value_format='JSON');")
        await ok(client, "CREATE STREAM copy AS SELECT * FROM s;")
        for sql, properties in (
                ("SELECT * FROM copy EMIT CHANGES LIMIT 1;", {}),  # push v2 off
                ("SELECT * FROM copy EMIT CHANGES LIMIT 1;", {**PUSH_V2, **EARLIEST}),
                ("SELECT ROWOFFSET, v FROM copy EMIT CHANGES LIMIT 1;", PUSH_V2),
                ("SELECT * FROM s EMIT CHANGES LIMIT 1;", PUSH_V2),  # no query writes s
                ("SELECT id, COUNT(*) FROM copy GROUP BY id EMIT CHANGES LIMIT 1;", PUSH_V2)):
            exchange, header, _ = await open_query(client, sql, properties)
            assert header["header"]["queryId"].startswith("transient_"), sql
            await exchange.close()

    served(body)
