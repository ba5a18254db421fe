"""The engine end to end in-process: real embedded log, real DuckDB, real serdes."""
import asyncio

import orjson
import pytest

from streamsql.engine import Engine
from streamsql.errors import ParseError, StatementError
from streamsql.log.backend import Record

SOURCE = ("CREATE STREAM orders (id STRING KEY, amount DOUBLE, item STRING) "
          "WITH (kafka_topic='orders', partitions=1, value_format='JSON');")


def run(coro):
    return asyncio.run(coro)


async def read_all(engine, topic):
    out = []
    info = await engine.backend.describe_topic(topic)
    for partition in range(info.partitions):
        offset = 0
        while True:
            records = await engine.backend.fetch(topic, partition, offset, 1000)
            if not records:
                break
            out.extend(records)
            offset = records[-1].offset + 1
    return out


async def wait_for(engine, topic, count, seconds=20.0):
    """Poll until `count` records are on `topic` (bounded; not a timing assertion)."""
    for _ in range(int(seconds / 0.05)):
        if await engine.backend.describe_topic(topic) is not None:
            records = await read_all(engine, topic)
            if len(records) >= count:
                return records
        await asyncio.sleep(0.05)
    return await read_all(engine, topic)


def test_csas_filters_and_projects_records_in_order(tmp_path):
    async def scenario():
        async with Engine(tmp_path, {"auto.offset.reset": "earliest"}) as engine:
            await engine.execute(SOURCE)
            for i, amount in enumerate([5.0, 50.0, 500.0]):
                await engine.execute(f"INSERT INTO orders (id, amount, item) VALUES "
                                     f"('o{i}', {amount}, 'widget');")
            await engine.execute("CREATE STREAM big AS SELECT id, amount * 2 AS doubled, "
                                 "UCASE(item) AS item FROM orders WHERE amount > 10;")
            records = await wait_for(engine, "BIG", 2)
            return [(r.key, orjson.loads(r.value)) for r in records]

    assert run(scenario()) == [(b"o1", {"DOUBLED": 100.0, "ITEM": "WIDGET"}),
                               (b"o2", {"DOUBLED": 1000.0, "ITEM": "WIDGET"})]


def test_failed_statement_leaves_catalog_unchanged(tmp_path):
    async def scenario():
        async with Engine(tmp_path) as engine:
            await engine.execute(SOURCE)
            before = engine.catalog
            with pytest.raises(StatementError):
                await engine.execute("CREATE STREAM bad AS SELECT id, nope FROM orders;")
            with pytest.raises(ParseError):
                await engine.execute("CREATE STREAM bad AS SELEC id FROM orders;")
            return before, engine.catalog, await engine.backend.describe_topic("BAD")

    before, after, topic = run(scenario())
    assert after == before
    assert topic is None


def test_catalog_and_queries_survive_restart_without_reprocessing(tmp_path):
    async def first():
        async with Engine(tmp_path, {"auto.offset.reset": "earliest"}) as engine:
            await engine.execute(SOURCE)
            await engine.execute("CREATE TYPE money AS DOUBLE;")
            await engine.execute("CREATE STREAM copy AS SELECT * FROM orders;")
            await engine.execute("INSERT INTO orders (id, amount, item) VALUES ('a', 1.0, 'x');")
            await wait_for(engine, "COPY", 1)

    async def second():
        async with Engine(tmp_path, {"auto.offset.reset": "earliest"}) as engine:
            names = sorted(engine.catalog.sources)
            queries = list(engine.catalog.queries)
            types = dict(engine.catalog.types)
            await engine.execute("INSERT INTO orders (id, amount, item) VALUES ('b', 2.0, 'y');")
            records = await wait_for(engine, "COPY", 2)
            await asyncio.sleep(0.3)  # give a wrongly restarted query time to duplicate
            records = await read_all(engine, "COPY")
            return names, queries, types, [r.key for r in records]

    run(first())
    names, queries, types, keys = run(second())
    assert names == ["COPY", "ORDERS"]
    assert queries == ["CSAS_COPY_0"]
    assert "MONEY" in types
    assert keys == [b"a", b"b"]


def test_undecodable_record_is_skipped_counted_and_logged(tmp_path):
    async def scenario():
        async with Engine(tmp_path, {"auto.offset.reset": "earliest"}) as engine:
            await engine.execute(SOURCE)
            await engine.backend.produce("orders", [
                Record(b"k1", b'{"AMOUNT": 1.5, "ITEM": "ok"}'),
                Record(b"k2", b"{not json"),
                Record(b"k3", b'{"AMOUNT": 2.5, "ITEM": "ok"}'),
            ])
            await engine.execute("CREATE STREAM copy AS SELECT * FROM orders;")
            out = await wait_for(engine, "COPY", 2)
            log = await wait_for(engine, "default_ksql_processing_log", 1)
            return [r.key for r in out], engine.processing_log.count("CSAS_COPY_0"), log

    keys, errors, log = run(scenario())
    assert keys == [b"k1", b"k3"]
    assert errors == 1
    entry = orjson.loads(log[0].value)["message"]
    assert (entry["topic"], entry["partition"], entry["offset"]) == ("orders", 0, 1)
    assert entry["reason"]


@pytest.mark.parametrize("query", [
    "SELECT ITEM, COUNT(*) AS N FROM orders GROUP BY ITEM",
    "SELECT ITEM, COUNT(*) AS N FROM orders WINDOW SESSION (1 MINUTE) GROUP BY ITEM",
    "SELECT ITEM, COUNT(*) AS N FROM ORDER_TABLE GROUP BY ITEM",
])
def test_record_whose_group_key_is_null_is_skipped_counted_and_logged(tmp_path, query):
    async def scenario():
        async with Engine(tmp_path, {"auto.offset.reset": "earliest",
                                     "cache.max.bytes.buffering": "0"}) as engine:
            await engine.execute(SOURCE + "CREATE TABLE order_table (id STRING PRIMARY KEY, "
                                 "amount DOUBLE, item STRING) WITH (kafka_topic='orders', "
                                 "value_format='JSON');")
            await engine.backend.produce("orders", [
                Record(b"k1", b'{"AMOUNT": 1.5, "ITEM": "a"}', 1),
                Record(b"k2", b'{"AMOUNT": 2.5}', 2),
                Record(b"k3", b'{"AMOUNT": 3.5, "ITEM": "a"}', 3),
            ])
            await engine.execute(f"CREATE TABLE counts AS {query};")
            out = await wait_for(engine, "COUNTS", 2)
            log = await wait_for(engine, "default_ksql_processing_log", 1)
            return out, engine.processing_log.count(engine.queries[0].query_id), log

    out, errors, log = run(scenario())
    assert [orjson.loads(r.value)["N"] for r in out if r.value is not None][-1] == 2
    assert errors == 1
    entry = orjson.loads(log[0].value)["message"]
    assert (entry["type"], entry["topic"], entry["offset"]) == ("EVALUATION_ERROR", "orders", 1)
    assert entry["reason"] == ("GROUP BY column(s) ITEM evaluated to null: the record is not "
                               "aggregated")


def test_push_query_streams_rows_until_limit(tmp_path):
    async def scenario():
        async with Engine(tmp_path, {"auto.offset.reset": "earliest"}) as engine:
            await engine.execute(SOURCE)
            for i in range(3):
                await engine.execute(f"INSERT INTO orders (id, amount, item) VALUES "
                                     f"('o{i}', {i}.5, 'w');")
            (result,) = await engine.execute("SELECT id, amount FROM orders EMIT CHANGES LIMIT 2;")
            return result.columns, [row async for row in result.stream]

    columns, rows = run(scenario())
    assert columns == ["ID", "AMOUNT"]
    assert rows == [["o0", 0.5], ["o1", 1.5]]
