"""The ksqlDB-compatible endpoints over a real socket: statement entities, errors, queries
streamed row by row, inserts, and push queries freed when their client goes away."""
import asyncio

import orjson
from http_client import Client

from streamsql.engine import Engine
from streamsql.server.app import Server

EARLIEST = {"auto.offset.reset": "earliest"}
CREATE_ORDERS = ("CREATE STREAM orders (id STRING KEY, amount INT) WITH (kafka_topic='orders', "
                 "partitions=1, value_format='JSON');")


async def until(condition, seconds=20.0):
    """Poll a condition (bounded; not a timing assertion)."""
    for _ in range(int(seconds / 0.02)):
        if condition():
            return True
        await asyncio.sleep(0.02)
    return condition()


async def create_orders(client, *rows):
    reply = await client.ksql(CREATE_ORDERS)
    assert reply.status == 200, reply.body
    for order_id, amount in rows:
        reply = await client.ksql(
            f"INSERT INTO orders (id, amount) VALUES ('{order_id}', {amount});")
        assert reply.status == 200, reply.body


def test_info_and_healthcheck_describe_a_running_server(served):
    async def body(client, engine):
        info = await client.request("GET", "/info")
        assert info.status == 200
        server_info = info.json()["KsqlServerInfo"]
        assert server_info["ksqlServiceId"] == "default_"
        assert server_info["serverStatus"] == "RUNNING"
        health = await client.request("GET", "/healthcheck")
        assert health.status == 200
        assert health.json() == {"isHealthy": True, "details": {
            "metastore": {"isHealthy": True}, "kafka": {"isHealthy": True},
            "commandRunner": {"isHealthy": True}}}

    served(body)


def test_ksql_answers_create_insert_show_and_describe_with_ksqldb_entities(served):
    async def body(client, engine):
        created = await client.ksql(CREATE_ORDERS)
        assert created.status == 200
        (status,) = created.json()
        assert status["@type"] == "currentStatus"
        assert status["commandId"] == "stream/ORDERS/create"
        assert status["commandStatus"] == {"status": "SUCCESS", "message": "Stream created"}
        assert status["statementText"].startswith("CREATE STREAM orders")
        assert status["warnings"] == []

        inserted = await client.ksql("INSERT INTO orders (id, amount) VALUES ('a', 1);")
        assert (inserted.status, inserted.json()) == (200, [])  # ksqlDB: no entity

        shown = await client.ksql("SHOW STREAMS;")
        assert shown.json() == [{
            "@type": "streams", "statementText": "SHOW STREAMS", "warnings": [],
            "streams": [{"type": "STREAM", "name": "ORDERS", "topic": "orders",
                         "keyFormat": "KAFKA", "valueFormat": "JSON", "isWindowed": False}]}]

        (described,) = (await client.ksql("DESCRIBE orders;")).json()
        assert described["@type"] == "sourceDescription"
        source = described["sourceDescription"]
        assert (source["name"], source["type"], source["topic"]) == ("ORDERS", "STREAM", "orders")
        assert source["fields"] == [
            {"name": "ID", "schema": {"type": "STRING", "fields": None, "memberSchema": None},
             "type": "KEY"},
            {"name": "AMOUNT", "schema": {"type": "INTEGER", "fields": None,
                                          "memberSchema": None}}]
        assert (source["keyFormat"], source["valueFormat"]) == ("KAFKA", "JSON")

        (extended,) = (await client.ksql("DESCRIBE EXTENDED orders;")).json()
        assert extended["sourceDescription"]["extended"] is True
        assert extended["sourceDescription"]["partitions"] == 1

    served(body)


def test_ksql_runs_a_persistent_query_through_terminate_and_drop(served):
    async def body(client, engine):
        await create_orders(client)
        (created,) = (await client.ksql(
            "CREATE STREAM big AS SELECT id, amount FROM orders WHERE amount > 10;",
            EARLIEST)).json()
        query_id = created["commandStatus"]["queryId"]
        assert created["commandId"] == "stream/BIG/create"
        assert created["commandStatus"]["message"] == f"Created query with ID {query_id}"

        (queries,) = (await client.ksql("SHOW QUERIES;")).json()
        assert queries["@type"] == "queries"
        (query,) = queries["queries"]
        assert (query["id"], query["sinks"], query["sinkKafkaTopics"]) == (query_id, ["BIG"],
                                                                          ["BIG"])
        assert query["queryType"] == "PERSISTENT"

        (described,) = (await client.ksql("DESCRIBE orders;")).json()
        assert [q["id"] for q in described["sourceDescription"]["readQueries"]] == [query_id]

        (terminated,) = (await client.ksql(f"TERMINATE {query_id};")).json()
        assert terminated["commandId"] == f"terminate/{query_id}/execute"
        assert query_id not in engine.persistent

        (dropped,) = (await client.ksql("DROP STREAM big;")).json()
        assert dropped["commandId"] == "stream/BIG/drop"
        assert dropped["commandSequenceNumber"] > created["commandSequenceNumber"]

        statuses = (await client.request("GET", "/status")).json()["commandStatuses"]
        assert statuses == {"stream/ORDERS/create": "SUCCESS", "stream/BIG/create": "SUCCESS",
                            f"terminate/{query_id}/execute": "SUCCESS",
                            "stream/BIG/drop": "SUCCESS"}
        one = await client.request("GET", "/status/stream/BIG/drop")
        assert one.json()["status"] == "SUCCESS"

    served(body)


def test_bad_statement_is_a_400_statement_error_with_the_caret(served):
    async def body(client, engine):
        reply = await client.ksql("SELEC * FROM orders;")
        assert reply.status == 400
        error = reply.json()
        assert error["@type"] == "statement_error"
        assert error["error_code"] == 40001
        assert error["statementText"] == "SELEC * FROM orders;"
        assert error["entities"] == []
        assert "  SELEC * FROM orders;\n  ^^^^^" in error["message"]

        unknown = await client.ksql("DESCRIBE nothing;")
        assert unknown.status == 400
        assert "Could not find STREAM/TABLE 'NOTHING'" in unknown.json()["message"]
        assert engine.catalog.sources == {}

    served(body)


def test_ksql_sends_queries_to_the_query_endpoints(served):
    async def body(client, engine):
        await create_orders(client)
        reply = await client.ksql("SELECT * FROM orders EMIT CHANGES;")
        assert reply.status == 400
        error = reply.json()
        assert error["error_code"] == 40002
        assert "'/query'" in error["message"]
        assert engine.push_queries == {}

    served(body)


def test_malformed_requests_get_generic_errors(served):
    async def body(client, engine):
        exchange = await client.stream("POST", "/ksql", b"{not json")
        assert exchange.status == 400
        error = orjson.loads(await exchange.body())
        assert (error["@type"], error["error_code"]) == ("generic_error", 40000)
        await exchange.close()

        missing = await client.request("POST", "/ksql", {"streamsProperties": {}})
        assert missing.status == 400
        assert "'ksql'" in missing.json()["message"]

        not_found = await client.request("GET", "/no-such-endpoint")
        assert not_found.status == 404
        assert not_found.json()["@type"] == "generic_error"

    served(body)


def test_query_stream_push_query_with_limit_streams_header_then_rows(served):
    async def body(client, engine):
        await create_orders(client, ("a", 1), ("b", 2), ("c", 3))
        exchange = await client.stream("POST", "/query-stream", orjson.dumps({
            "sql": "SELECT id, amount FROM orders EMIT CHANGES LIMIT 2;",
            "properties": EARLIEST}))
        assert exchange.status == 200
        assert exchange.headers["content-type"] == "application/vnd.ksqlapi.delimited.v1"
        header = orjson.loads(await exchange.line())
        assert header["queryId"].startswith("transient_ORDERS")
        assert header["columnNames"] == ["ID", "AMOUNT"]
        assert header["columnTypes"] == ["STRING", "INTEGER"]
        assert orjson.loads(await exchange.line()) == ["a", 1]
        assert orjson.loads(await exchange.line()) == ["b", 2]
        assert await exchange.line() is None
        await exchange.close()
        assert await until(lambda: not engine.push_queries)

    served(body)


def test_query_stream_with_accept_json_answers_one_json_array(served):
    async def body(client, engine):
        await create_orders(client, ("a", 1), ("b", 2))
        reply = await client.request("POST", "/query-stream", {
            "sql": "SELECT * FROM orders EMIT CHANGES LIMIT 2;", "properties": EARLIEST},
            headers=[("accept", "application/json")])
        assert reply.status == 200
        header, *rows = reply.json()
        assert header["columnNames"] == ["ID", "AMOUNT"]
        assert rows == [["a", 1], ["b", 2]]

    served(body)


def test_push_query_streams_a_later_row_and_is_freed_when_the_client_leaves(served):
    async def body(client, engine):
        await create_orders(client)
        exchange = await client.stream("POST", "/query-stream", orjson.dumps({
            "sql": "SELECT * FROM orders EMIT CHANGES;", "properties": EARLIEST}))
        header = orjson.loads(await exchange.line())
        assert list(engine.push_queries) == [header["queryId"]]

        inserted = await client.ksql("INSERT INTO orders (id, amount) VALUES ('late', 7);")
        assert inserted.status == 200
        assert orjson.loads(await exchange.line()) == ["late", 7]

        await exchange.close()
        assert await until(lambda: not engine.push_queries)

    served(body)


def test_close_query_ends_a_streaming_push_query(served):
    async def body(client, engine):
        await create_orders(client, ("a", 1))
        exchange = await client.stream("POST", "/query-stream", orjson.dumps({
            "sql": "SELECT * FROM orders EMIT CHANGES;", "properties": EARLIEST}))
        query_id = orjson.loads(await exchange.line())["queryId"]
        assert orjson.loads(await exchange.line()) == ["a", 1]

        closed = await client.request("POST", "/close-query", {"queryId": query_id})
        assert closed.status == 200
        assert await exchange.line() is None  # the response ends
        assert exchange.ended
        assert engine.push_queries == {}
        await exchange.close()

        again = await client.request("POST", "/close-query", {"queryId": query_id})
        assert again.status == 400
        assert again.json()["@type"] == "generic_error"

    served(body)


def test_query_endpoint_answers_a_pull_query_as_a_json_array(served):
    async def body(client, engine):
        await create_orders(client, ("a", 1), ("b", 2), ("c", 3))
        reply = await client.request("POST", "/query", {"ksql": "SELECT * FROM orders;"})
        assert reply.status == 200
        header, *rows, final = reply.json()
        assert header["header"]["schema"] == "`ID` STRING, `AMOUNT` INTEGER"
        assert rows == [{"row": {"columns": ["a", 1]}}, {"row": {"columns": ["b", 2]}},
                        {"row": {"columns": ["c", 3]}}]
        assert final == {"finalMessage": "Query Completed"}

        limited = await client.request("POST", "/query", {"ksql": "SELECT * FROM orders LIMIT 2;"})
        assert limited.json()[-1] == {"finalMessage": "Limit Reached"}
        assert len(limited.json()) == 4

    served(body)


def test_query_endpoint_push_query_ends_with_limit_reached(served):
    async def body(client, engine):
        await create_orders(client, ("a", 1), ("b", 2))
        reply = await client.request("POST", "/query", {
            "ksql": "SELECT amount FROM orders EMIT CHANGES LIMIT 2;",
            "streamsProperties": EARLIEST})
        assert reply.status == 200
        assert reply.json() == [
            {"header": {"queryId": reply.json()[0]["header"]["queryId"],
                        "schema": "`AMOUNT` INTEGER"}},
            {"row": {"columns": [1]}}, {"row": {"columns": [2]}},
            {"finalMessage": "Limit Reached"}]
        assert await until(lambda: not engine.push_queries)

    served(body)


def test_query_endpoint_rejects_statements_that_are_not_queries(served):
    async def body(client, engine):
        reply = await client.request("POST", "/query", {"ksql": CREATE_ORDERS})
        assert reply.status == 400
        assert reply.json()["@type"] == "statement_error"
        assert engine.catalog.sources == {}

    served(body)


def test_inserts_stream_acknowledges_each_row_as_it_lands(served):
    async def body(client, engine):
        await create_orders(client)
        exchange = await client.stream("POST", "/inserts-stream", chunked=True)
        await exchange.send_chunk(b'{"target": "orders"}\n{"id": "a", "amount": 1}\n')
        await exchange.start()
        assert exchange.status == 200
        assert orjson.loads(await exchange.line()) == {"status": "ok", "seq": 0}
        # the next row is sent only after the first was acknowledged: a true stream
        await exchange.send_chunk(b'{"ID": "b", "AMOUNT": 2}\n{"id": "c", "amount": "x"}\n')
        assert orjson.loads(await exchange.line()) == {"status": "ok", "seq": 1}
        bad = orjson.loads(await exchange.line())
        assert (bad["status"], bad["seq"]) == ("error", 2)
        await exchange.send_chunk(b'{"id": "d", "amount": 4}')
        await exchange.end_request()
        assert orjson.loads(await exchange.line()) == {"status": "ok", "seq": 3}
        assert await exchange.line() is None
        await exchange.close()

        rows = (await client.request("POST", "/query", {"ksql": "SELECT * FROM orders;"})).json()
        assert [r["row"]["columns"] for r in rows[1:-1]] == [["a", 1], ["b", 2], ["d", 4]]

    served(body)


def test_inserts_stream_into_an_unknown_target_is_rejected(served):
    async def body(client, engine):
        reply = await client.stream("POST", "/inserts-stream", b'{"target": "nothing"}\n')
        assert reply.status == 400
        error = orjson.loads(await reply.body())
        assert "unknown stream/table" in error["message"]
        await reply.close()

    served(body)


def test_a_query_hidden_behind_session_variables_is_rejected_and_closed(served):
    async def body(client, engine):
        await create_orders(client)
        reply = await client.request("POST", "/ksql", {
            "ksql": "SELECT * FROM ${source} EMIT CHANGES;",
            "sessionVariables": {"source": "orders"}})
        assert reply.status == 400
        assert reply.json()["error_code"] == 40002
        assert engine.push_queries == {}
        assert engine.variables == {}  # session variables last one request

    served(body)


def test_server_shutdown_ends_streaming_queries(tmp_path):
    async def main():
        async with Engine(tmp_path / "data") as engine:
            async with Server(engine, port=0) as server:
                client = Client(server.port)
                await create_orders(client)
                exchange = await client.stream("POST", "/query-stream", orjson.dumps({
                    "sql": "SELECT * FROM orders EMIT CHANGES;"}))
                await exchange.line()
                assert len(engine.push_queries) == 1
            assert await exchange.line() is None
            assert engine.push_queries == {}
            await exchange.close()

    asyncio.run(main())


def test_query_stream_errors_are_statement_errors_and_run_nothing(served):
    async def body(client, engine):
        await create_orders(client, ("a", 1))
        unknown = await client.request("POST", "/query-stream",
                                       {"sql": "SELECT * FROM nothing EMIT CHANGES;"})
        assert unknown.status == 400
        assert unknown.json()["@type"] == "statement_error"
        assert "NOTHING" in unknown.json()["message"]

        not_a_query = await client.request("POST", "/query-stream",
                                           {"sql": "DROP STREAM orders;"})
        assert not_a_query.status == 400
        assert engine.catalog.source("ORDERS") is not None

        pull = await client.request("POST", "/query-stream", {"sql": "SELECT * FROM orders;"})
        header, *rows = [orjson.loads(line) for line in pull.body.splitlines()]
        assert (header["columnNames"], rows) == (["ID", "AMOUNT"], [["a", 1]])
        assert engine.push_queries == {}

    served(body)
