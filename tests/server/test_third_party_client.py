"""A ksqlDB client from PyPI (ksql-python-ng, package `ksql`) against a real `streamsql server`
subprocess: statements over /ksql, inserts and queries over HTTP/2 (/inserts-stream,
/query-stream) and HTTP/1.1 (/query), DESCRIBE-driven helpers, errors and credentials."""
import json
import time
import warnings

import pytest
from server_process import ServerProcess

with warnings.catch_warnings():
    # ksql.utils imports telnetlib (deprecated since Python 3.11) for a helper we do not use
    warnings.simplefilter("ignore", DeprecationWarning)
    from ksql import KSQLAPI, utils
    from ksql.errors import KSQLError

EARLIEST = {"auto.offset.reset": "earliest"}


@pytest.fixture
def server(tmp_path):
    process = ServerProcess(tmp_path / "data")
    yield process
    assert process.stop() == 0


def eventually(condition, attempts=400):
    """Poll a condition a bounded number of times (not a timing assertion)."""
    for _ in range(attempts):
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def create_orders(api):
    api.ksql("CREATE STREAM orders (id STRING KEY, amount INT) WITH (kafka_topic='orders', "
             "partitions=1, value_format='JSON');")


def test_client_creates_inserts_queries_describes_terminates_and_drops(server):
    api = KSQLAPI(server.url, timeout=30)  # asks /info for the version first
    assert api.get_ksql_version() == "0.1.0"
    create_orders(api)
    assert utils.get_all_streams(api) == ["ORDERS"]

    acks = api.inserts_stream("ORDERS", [{"ID": "a", "AMOUNT": 5}, {"ID": "b", "AMOUNT": 50}])
    assert acks == [{"status": "ok", "seq": 0}, {"status": "ok", "seq": 1}]
    assert api.ksql("INSERT INTO orders (id, amount) VALUES ('c', 500);") == []

    pushed = api.query("SELECT id, amount FROM orders EMIT CHANGES LIMIT 3;", use_http2=True,
                       parse=True, stream_properties=EARLIEST)
    assert list(pushed) == [{"ID": "a", "AMOUNT": 5}, {"ID": "b", "AMOUNT": 50},
                            {"ID": "c", "AMOUNT": 500}]
    chunks = api.query("SELECT id FROM orders EMIT CHANGES LIMIT 1;",
                       stream_properties=EARLIEST)  # HTTP/1.1, the older /query endpoint
    header, row, final = json.loads("".join(chunks))
    assert header["header"]["schema"] == "`ID` STRING"
    assert (row, final) == ({"row": {"columns": ["a"]}}, {"finalMessage": "Limit Reached"})

    (created,) = api.ksql("CREATE STREAM big AS SELECT id, amount FROM orders "
                          "WHERE amount > 10;", stream_properties=EARLIEST)
    query_id = created["commandStatus"]["queryId"]
    assert utils.get_dependent_queries(api, "ORDERS") == ([query_id], [])
    info = utils.get_stream_info(api, "BIG")  # DESCRIBE BIG EXTENDED
    assert [q["id"] for q in info["writeQueries"]] == [query_id]
    assert eventually(lambda: "total-messages:         2" in
                      utils.get_stream_info(api, "BIG")["statistics"])

    utils.drop_all_streams(api)  # terminates the queries, then drops every stream
    assert utils.get_all_streams(api) == []
    assert api.ksql("SHOW QUERIES;")[0]["queries"] == []


def test_client_pull_query_reads_a_materialized_table(server):
    api = KSQLAPI(server.url, timeout=30)
    create_orders(api)
    api.inserts_stream("ORDERS", [{"ID": "a", "AMOUNT": 5}, {"ID": "a", "AMOUNT": 7},
                                  {"ID": "b", "AMOUNT": 1}])
    (created,) = api.ksql("CREATE TABLE totals AS SELECT id, SUM(amount) AS total FROM orders "
                          "GROUP BY id;", stream_properties=EARLIEST)

    def total_of_a():
        return list(api.query("SELECT * FROM totals WHERE id = 'a';", use_http2=True,
                              parse=True))

    assert eventually(lambda: total_of_a() == [{"ID": "a", "TOTAL": 12}])
    api.ksql(f"TERMINATE {created['commandStatus']['queryId']};")
    api.ksql("DROP TABLE totals;")
    assert api.ksql("SHOW TABLES;")[0]["tables"] == []


def test_client_sees_statement_errors_with_ksqldb_error_codes(server):
    api = KSQLAPI(server.url, timeout=30)
    with pytest.raises(KSQLError) as raised:
        api.ksql("SELEC 1;")
    assert raised.value.error_code == 40001
    with pytest.raises(KSQLError) as raised:
        api.ksql("DROP STREAM missing;")
    assert raised.value.error_code == 40001
    assert utils.get_stream_info(api, "MISSING") is None  # the helper's 40001 convention


def test_client_credentials_open_a_protected_server(tmp_path):
    credentials = tmp_path / "password.properties"
    credentials.write_text("fred: letmein,admin\n")
    config = tmp_path / "server.properties"
    config.write_text(f"authentication.method=BASIC\n"
                      f"authentication.basic.credentials.file={credentials}\n")
    server = ServerProcess(tmp_path / "data", "--config-file", str(config))
    try:
        with pytest.raises(ValueError, match="401"):
            KSQLAPI(server.url, timeout=30)
        api = KSQLAPI(server.url, timeout=30, api_key="fred", secret="letmein")
        create_orders(api)
        assert utils.get_all_streams(api) == ["ORDERS"]
    finally:
        assert server.stop() == 0
