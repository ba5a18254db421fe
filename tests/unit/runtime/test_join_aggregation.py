"""GROUP BY over stream-table and stream-stream joins, through the engine."""
import asyncio

import orjson

from streamsql.engine import Engine
from streamsql.log.backend import Record

CUSTOMERS_ORDERS = (
    "CREATE TABLE C (ID STRING PRIMARY KEY, REGION STRING) "
    "WITH (kafka_topic='c', partitions=1, value_format='JSON');"
    "CREATE STREAM O (OID STRING KEY, CID STRING, AMOUNT DOUBLE) "
    "WITH (kafka_topic='o', partitions=1, value_format='JSON');")
SALES = CUSTOMERS_ORDERS + (
    "CREATE TABLE SALES AS SELECT C.REGION, COUNT(*) AS N, SUM(AMOUNT) AS TOTAL "
    "FROM O LEFT JOIN C ON O.CID = C.ID GROUP BY C.REGION;")


def run(tmp_path, statements: str, batches, sink: str, *, cache: bool = False):
    """Feed each (topic, [(key, value, ts)]) batch in turn; return the sink's records."""
    return run_logged(tmp_path, statements, batches, sink, cache=cache)[0]


def run_logged(tmp_path, statements: str, batches, sink: str, *, cache: bool = False):
    """As `run`, and the processing log's entries."""
    async def go():
        props = {"auto.offset.reset": "earliest"}
        if not cache:
            props["cache.max.bytes.buffering"] = "0"
        async with Engine(tmp_path, props, run_queries=False) as engine:
            await engine.execute(statements)
            query_id = engine.queries[0].query_id
            for topic, records in batches:
                offsets = await engine.backend.produce(topic, [
                    Record(key.encode(), None if value is None else orjson.dumps(value), ts)
                    for key, value, ts in records])
                await engine.process(query_id, topic, 0, offsets[0], offsets[-1] + 1)
            out = await engine.backend.fetch(sink, 0, 0, 10_000)
            log = await engine.backend.fetch("default_ksql_processing_log", 0, 0, 10_000) \
                if await engine.backend.describe_topic("default_ksql_processing_log") else []
            return ([(r.key.decode(), r.value and orjson.loads(r.value), r.timestamp)
                     for r in out],
                    [orjson.loads(r.value)["message"] for r in log])
    return asyncio.run(go())


CUSTOMERS = ("c", [("1", {"REGION": "north"}, 1), ("2", {"REGION": "south"}, 2)])
ORDERS = ("o", [("a", {"CID": "1", "AMOUNT": 5.0}, 10), ("b", {"CID": "2", "AMOUNT": 7.0}, 11),
                ("c", {"CID": "1", "AMOUNT": 1.5}, 12), ("d", {"CID": "3", "AMOUNT": 2.0}, 13)])


def test_stream_table_join_feeds_one_update_per_order_to_its_region(tmp_path):
    out = run(tmp_path, SALES, [CUSTOMERS, ORDERS], "SALES")
    # order d has no customer: its region is null, and a null group is no group
    assert out == [("north", {"N": 1, "TOTAL": 5.0}, 10), ("south", {"N": 1, "TOTAL": 7.0}, 11),
                   ("north", {"N": 2, "TOTAL": 6.5}, 12)]


def test_table_update_changes_the_group_of_later_orders_only(tmp_path):
    moved = ("c", [("1", {"REGION": "south"}, 20)])
    later = ("o", [("e", {"CID": "1", "AMOUNT": 1.0}, 21)])
    out = run(tmp_path, SALES, [CUSTOMERS, ORDERS, moved, later], "SALES")
    assert out[-1] == ("south", {"N": 2, "TOTAL": 8.0}, 21)


def test_cache_on_emits_each_groups_latest_row_of_the_batch(tmp_path):
    out = run(tmp_path, SALES, [CUSTOMERS, ORDERS], "SALES", cache=True)
    assert sorted(out) == [("north", {"N": 2, "TOTAL": 6.5}, 12),
                           ("south", {"N": 1, "TOTAL": 7.0}, 11)]


STREAMS = ("CREATE STREAM L (ID STRING KEY, A STRING) "
           "WITH (kafka_topic='l', partitions=1, value_format='JSON');"
           "CREATE STREAM R (ID STRING KEY, B INT) "
           "WITH (kafka_topic='r', partitions=1, value_format='JSON');")


def test_record_matching_several_rows_adds_each_match_in_arrival_order(tmp_path):
    statements = STREAMS + ("CREATE TABLE OUT AS SELECT L.ID, COUNT(*) AS N, "
                            "COLLECT_LIST(B) AS BS FROM L JOIN R WITHIN 1 SECOND ON L.ID = R.ID "
                            "GROUP BY L.ID;")
    out = run(tmp_path, statements, [
        ("r", [("x", {"B": 1}, 1), ("x", {"B": 2}, 2), ("y", {"B": 5}, 3)]),
        ("l", [("x", {"A": "p"}, 10), ("y", {"A": "q"}, 11), ("x", {"A": "r"}, 12)])], "OUT")
    assert out == [("x", {"N": 1, "BS": [1]}, 10), ("x", {"N": 2, "BS": [1, 2]}, 10),
                   ("y", {"N": 1, "BS": [5]}, 11), ("x", {"N": 3, "BS": [1, 2, 1]}, 12),
                   ("x", {"N": 4, "BS": [1, 2, 1, 2]}, 12)]


def test_late_join_row_is_dropped_and_logged_with_its_own_record(tmp_path):
    statements = CUSTOMERS_ORDERS + (
        "CREATE TABLE W AS SELECT C.REGION, COUNT(*) AS N FROM O JOIN C ON O.CID = C.ID "
        "WINDOW TUMBLING (SIZE 10 MILLISECONDS, GRACE PERIOD 5 MILLISECONDS) "
        "GROUP BY C.REGION;")
    # z matches no customer, so the join's rows are a, b, c, d: c is the third row but
    # the fourth record
    orders = ("o", [("a", {"CID": "1"}, 11), ("b", {"CID": "1"}, 30), ("z", {"CID": "9"}, 30),
                    ("c", {"CID": "1"}, 12), ("d", {"CID": "2"}, 31)])
    out, log = run_logged(tmp_path, statements, [CUSTOMERS, orders], "W")
    # c falls in [10, 20), which closed at stream time 25: it is late and dropped
    assert [(v["N"], ts) for _, v, ts in out] == [(1, 11), (1, 30), (1, 31)]
    assert [(entry["type"], entry["offset"]) for entry in log] == [("LATE_RECORD", 3)]


EMPLOYEES = ("CREATE TABLE DEPT (ID STRING PRIMARY KEY, REGION STRING) "
             "WITH (kafka_topic='dept', partitions=1, value_format='JSON');"
             "CREATE TABLE EMP (ID STRING PRIMARY KEY, DEPT_ID STRING) "
             "WITH (kafka_topic='emp', partitions=1, value_format='JSON');")


def test_foreign_key_join_update_moves_every_joined_row_to_its_new_group(tmp_path):
    statements = EMPLOYEES + ("CREATE TABLE BY_REGION AS SELECT D.REGION, COUNT(*) AS N "
                              "FROM EMP E JOIN DEPT D ON E.DEPT_ID = D.ID GROUP BY D.REGION;")
    out = run(tmp_path, statements, [
        ("dept", [("d1", {"REGION": "east"}, 1), ("d2", {"REGION": "west"}, 2)]),
        ("emp", [("e1", {"DEPT_ID": "d1"}, 3), ("e2", {"DEPT_ID": "d1"}, 4),
                 ("e3", {"DEPT_ID": "d2"}, 5)]),
        ("dept", [("d1", {"REGION": "west"}, 6)])], "BY_REGION")
    assert [(k, v["N"]) for k, v, _ in out] == [
        ("east", 1), ("east", 2), ("west", 1),
        ("east", 1), ("west", 2), ("east", 0), ("west", 3)]  # d1 moves e1, then e2


def test_primary_key_join_row_deleted_by_either_side_leaves_its_group(tmp_path):
    statements = EMPLOYEES + (
        "CREATE TABLE BADGE (ID STRING PRIMARY KEY, LEVEL STRING) "
        "WITH (kafka_topic='badge', partitions=1, value_format='JSON');"
        "CREATE TABLE BY_LEVEL AS SELECT B.LEVEL, COUNT(*) AS N FROM EMP E JOIN BADGE B "
        "ON E.ID = B.ID GROUP BY B.LEVEL;")
    out = run(tmp_path, statements, [
        ("emp", [("e1", {"DEPT_ID": "d1"}, 1), ("e2", {"DEPT_ID": "d1"}, 2)]),
        ("badge", [("e1", {"LEVEL": "1"}, 3), ("e2", {"LEVEL": "1"}, 4),
                   ("e3", {"LEVEL": "1"}, 5), ("e1", {"LEVEL": "2"}, 6)]),
        ("emp", [("e2", None, 7)])], "BY_LEVEL")
    assert [(k, v["N"]) for k, v, _ in out] == [
        ("1", 1), ("1", 2), ("1", 1), ("2", 1), ("1", 0)]
