"""Runtime figures over a real socket: GET /metrics in Prometheus' text format (embedded log
and Kafka), and the same counts in DESCRIBE EXTENDED and SHOW QUERIES EXTENDED."""
import re

from http_client import Client
from kafka_broker import FAST_GROUPS
from test_endpoints import EARLIEST, create_orders, until

from streamsql.engine import Engine
from streamsql.log.backend import Record
from streamsql.log.kafka import KafkaLog
from streamsql.server.app import Server

SAMPLE = re.compile(r'^(?P<name>[a-z_]+)(?:\{(?P<labels>[^}]*)\})? (?P<value>\S+)$')


def parse_exposition(text: str) -> dict[tuple[str, frozenset], float]:
    """Samples by (metric name, labels); fails on a line that is not valid exposition text."""
    samples = {}
    types = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            types[name] = kind
            continue
        if line.startswith("# HELP "):
            continue
        match = SAMPLE.match(line)
        assert match, f"not a Prometheus sample line: {line!r}"
        assert match["name"] in types, f"sample before its # TYPE line: {line!r}"
        labels = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match["labels"] or ""))
        samples[match["name"], labels] = float(match["value"])
    return samples


async def run_filter_query(client: Client, engine) -> str:
    """orders with three good records and one that is not JSON, read by CSAS BIG."""
    await create_orders(client, ("a", 5), ("b", 50), ("c", 500))
    await engine.backend.produce("orders", [Record(b"d", b"{not json", 1)])
    (created,) = (await client.ksql(
        "CREATE STREAM big AS SELECT id, amount FROM orders WHERE amount > 10;",
        EARLIEST)).json()
    query_id = created["commandStatus"]["queryId"]
    metrics = engine.persistent[query_id].metrics
    assert await until(lambda: metrics.records_in == 4 and metrics.lag == 0)
    return query_id


def test_metrics_count_records_errors_and_lag_per_query_in_prometheus_text(served):
    async def body(client, engine):
        query_id = await run_filter_query(client, engine)

        reply = await client.request("GET", "/metrics")
        assert reply.status == 200
        assert reply.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
        samples = parse_exposition(reply.body.decode())
        query = ("query_id", query_id)
        partition = frozenset({query, ("topic", "orders"), ("partition", "0")})
        assert samples["streamsql_query_records_in_total",
                       frozenset({query, ("topic", "orders")})] == 4
        assert samples["streamsql_query_records_out_total", frozenset({query})] == 2
        assert samples["streamsql_query_processing_errors_total",
                       frozenset({query, ("topic", "orders")})] == 1
        assert samples["streamsql_query_records_in_per_second", frozenset({query})] > 0
        assert samples["streamsql_query_consumer_lag", partition] == 0
        assert samples["streamsql_query_committed_offset", partition] == 4
        assert samples["streamsql_query_log_end_offset", partition] == 4
        assert samples["streamsql_persistent_queries", frozenset({("state", "RUNNING")})] == 1

    served(body)


def test_lag_is_log_end_minus_committed_while_a_query_does_not_consume(served):
    async def body(client, engine):
        query_id = await run_filter_query(client, engine)
        await engine.persistent[query_id].stop()
        await engine.backend.produce("orders", [Record(b"e", b'{"AMOUNT": 1}', 2),
                                                Record(b"f", b'{"AMOUNT": 2}', 3)])

        samples = parse_exposition((await client.request("GET", "/metrics")).body.decode())
        partition = frozenset({("query_id", query_id), ("topic", "orders"),
                               ("partition", "0")})
        assert samples["streamsql_query_consumer_lag", partition] == 2
        assert samples["streamsql_query_log_end_offset", partition] == 6
        assert samples["streamsql_persistent_queries", frozenset({("state", "TERMINATED")})] == 1

    served(body)


def test_describe_extended_shows_runtime_statistics_and_consumer_offsets(served):
    async def body(client, engine):
        query_id = await run_filter_query(client, engine)

        (described,) = (await client.ksql("DESCRIBE EXTENDED orders;")).json()
        source = described["sourceDescription"]
        assert "consumer-total-messages:         4" in source["statistics"]
        assert "consumer-failed-messages:         1" in source["errorStats"]
        by_name = {s["name"]: s for s in source["clusterStatistics"]}
        assert by_name["consumer-total-messages"]["value"] == 4
        assert by_name["consumer-total-messages"]["host"] == {"host": "127.0.0.1",
                                                              "port": client.port}
        assert by_name["consumer-total-messages"]["timestamp"] > 0
        errors = {s["name"]: s["value"] for s in source["clusterErrorStats"]}
        assert errors["consumer-failed-messages"] == 1
        (summary,) = source["queryOffsetSummaries"]
        assert summary["groupId"] == engine.persistent[query_id].group
        assert summary["topicSummaries"] == [{"kafkaTopic": "orders", "offsets": [
            {"partition": 0, "logStartOffset": 0, "logEndOffset": 4, "consumerOffset": 4}]}]

        (sink,) = (await client.ksql("DESCRIBE EXTENDED big;")).json()
        produced = {s["name"]: s["value"] for s in sink["sourceDescription"]["clusterStatistics"]}
        assert produced["total-messages"] == 2

        (plain,) = (await client.ksql("DESCRIBE orders;")).json()
        assert plain["sourceDescription"]["statistics"] == ""
        assert plain["sourceDescription"]["clusterStatistics"] == []

    served(body)


def test_show_queries_extended_describes_each_query_with_its_statistics(served):
    async def body(client, engine):
        query_id = await run_filter_query(client, engine)

        (listed,) = (await client.ksql("SHOW QUERIES EXTENDED;")).json()
        assert listed["@type"] == "query_descriptions"
        (query,) = listed["queryDescriptions"]
        assert (query["id"], query["sources"], query["sinks"]) == (query_id, ["ORDERS"], ["BIG"])
        assert query["ksqlHostQueryStatus"] == {f"127.0.0.1:{client.port}": "RUNNING"}
        assert [f["name"] for f in query["fields"]] == ["ID", "AMOUNT"]
        figures = {s["name"]: s["value"] for s in query["clusterStatistics"]}
        assert (figures["consumer-total-messages"], figures["total-messages"]) == (4, 2)
        assert "total-messages:         2" in query["statistics"]
        (summary,) = query["queryOffsetSummaries"]
        assert summary["topicSummaries"][0]["offsets"][0]["consumerOffset"] == 4

    served(body)


async def test_metrics_report_lag_on_the_kafka_backend(kafka_bootstrap, unique_name, tmp_path):
    topic = unique_name("orders")
    properties = {"ksql.service.id": unique_name("svc") + "_", **FAST_GROUPS}
    async with Engine(tmp_path / "data", properties, backend=KafkaLog(kafka_bootstrap)) as engine:
        async with Server(engine, port=0) as server:
            client = Client(server.port)
            reply = await client.ksql(
                f"CREATE STREAM orders (id STRING KEY, amount INT) WITH (kafka_topic='{topic}', "
                "partitions=2, value_format='JSON');")
            assert reply.status == 200, reply.body
            for order_id, amount in (("a", 5), ("b", 50), ("c", 500)):
                await client.ksql(f"INSERT INTO orders (id, amount) VALUES ('{order_id}', "
                                  f"{amount});")
            (created,) = (await client.ksql(
                "CREATE STREAM big AS SELECT id, amount FROM orders WHERE amount > 10;",
                EARLIEST)).json()
            query = engine.persistent[created["commandStatus"]["queryId"]]
            assert await until(lambda: query.metrics.records_in == 3 and query.metrics.lag == 0,
                               seconds=60)
            await query.stop()
            await engine.backend.produce(topic, [Record(b"d", b'{"AMOUNT": 1}', 1, partition=1)])

            samples = parse_exposition((await client.request("GET", "/metrics")).body.decode())
            lag = {dict(labels)["partition"]: value for (name, labels), value in samples.items()
                   if name == "streamsql_query_consumer_lag"}
            assert lag == {"0": 0, "1": 1}
            assert samples["streamsql_query_records_in_total",
                           frozenset({("query_id", query.query_id), ("topic", topic)})] == 3
