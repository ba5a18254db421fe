"""Changelog records of state tables: one record per changed key per batch (its last
change), and a partition rebuilt from records where the last version of a key wins and a
tombstone deletes it, whatever the column types."""
from __future__ import annotations

import math

import pyarrow as pa

from streamsql.state.changelog import Store, StoreChanges, drop_partitions, restore_partition
from streamsql.state.store import StateStore

STORE = Store("Aggregate-Aggregate-Materialize", "counts", ("g", "$ws"), "$task")


def state_factory(directory):
    directory.mkdir(parents=True, exist_ok=True)
    connection = StateStore(directory / "state.duckdb").cursor()
    connection.run('CREATE TABLE counts (g VARCHAR, "$ws" BIGINT, n BIGINT, avg DOUBLE, '
                   'seen VARCHAR[], "$task" INTEGER)')
    return connection


def records_of(drained: pa.Table, first_offset: int = 0) -> pa.Table:
    """Drained changelog records as a restore reads them back: key, value, offset."""
    return pa.table({"key": drained.column("key"), "value": drained.column("value"),
                     "offset": pa.array(range(first_offset, first_offset + drained.num_rows),
                                        pa.int64())})


def test_a_batch_gives_one_record_per_changed_key_its_last_change(tmp_path):
    connection = state_factory(tmp_path)
    changes = StoreChanges(connection)
    changes.upserted(STORE, connection.run(
        "INSERT INTO counts VALUES ('a', 0, 1, 0.1, ['x'], 1), ('b', 0, 1, 2.5, [], 2), "
        "('c', 0, 1, 1.0, NULL, 2) RETURNING *"))
    changes.upserted(STORE, connection.run(
        "UPDATE counts SET n = 2 WHERE g = 'a' RETURNING *"))
    changes.deleted(STORE, connection.run(
        "DELETE FROM counts WHERE g = 'b' RETURNING g, \"$ws\", \"$task\""))

    [(store, drained)] = changes.drain()

    assert store == STORE
    assert drained.to_pylist() == [
        {"partition": 1, "key": b'["a",0]',
         "value": b'{"g":"a","$ws":0,"n":2,"avg":0.1,"seen":["x"],"$task":1}'},
        {"partition": 2, "key": b'["c",0]',
         "value": b'{"g":"c","$ws":0,"n":1,"avg":1.0,"seen":null,"$task":2}'},
        {"partition": 2, "key": b'["b",0]', "value": None}]
    assert changes.drain() == []  # drained once


def test_discarded_changes_are_not_drained(tmp_path):
    connection = state_factory(tmp_path)
    changes = StoreChanges(connection)
    changes.upserted(STORE, connection.run(
        "INSERT INTO counts VALUES ('a', 0, 1, 0.5, [], 0) RETURNING *"))
    changes.discard()
    assert changes.drain() == []


def test_restore_keeps_the_last_version_of_each_key_and_drops_tombstoned_keys(tmp_path):
    writer = state_factory(tmp_path / "writer")
    changes = StoreChanges(writer)
    log = []  # every batch's records, as an uncompacted changelog partition holds them
    for statement in [
            "INSERT INTO counts VALUES ('a', 0, 1, 0.1, ['x'], 3), ('b', 0, 1, 'NaN', [], 3), "
            "('b', 10, 1, 'Infinity', [], 3) RETURNING *",
            "UPDATE counts SET n = n + 1, avg = 0.1::DOUBLE + 0.2::DOUBLE WHERE g = 'a' RETURNING *",
            "UPDATE counts SET n = n + 5 WHERE g = 'b' RETURNING *"]:
        changes.upserted(STORE, writer.run(statement))
        log.append(changes.drain()[0][1])
    changes.deleted(STORE, writer.run(
        "DELETE FROM counts WHERE \"$ws\" = 10 RETURNING g, \"$ws\", \"$task\""))
    log.append(changes.drain()[0][1])
    records = pa.concat_tables([records_of(batch) for batch in log])
    records = records.set_column(2, "offset", pa.array(range(records.num_rows), pa.int64()))

    reader = state_factory(tmp_path / "reader")
    reader.run("INSERT INTO counts VALUES ('stale', 0, 9, 9.0, [], 3), ('other', 0, 1, 1.0, [], 1)")
    restored = restore_partition(reader, STORE, 3, records.take([3, 0, 6, 5, 2, 4, 1]))  # any order

    assert restored == 2
    rows = reader.run("SELECT * FROM counts ORDER BY g").to_pylist()
    assert [(r["g"], r["$ws"], r["n"], r["$task"]) for r in rows] == [
        ("a", 0, 2, 3), ("b", 0, 6, 3), ("other", 0, 1, 1)]
    a, b = rows[0], rows[1]
    assert a["avg"] == 0.1 + 0.2 and a["seen"] == ["x"]  # doubles exactly, lists
    assert math.isnan(b["avg"])


def test_drop_partitions_keeps_only_the_given_state_partitions(tmp_path):
    connection = state_factory(tmp_path)
    connection.run("INSERT INTO counts VALUES ('a', 0, 1, 1.0, [], 0), ('b', 0, 1, 1.0, [], 1), "
                   "('c', 0, 1, 1.0, [], 2)")
    drop_partitions(connection, STORE, {0, 2})
    assert connection.run("SELECT g FROM counts ORDER BY g").column("g").to_pylist() == ["a", "c"]
    drop_partitions(connection, STORE, set())
    assert connection.run("SELECT count(*) AS n FROM counts").column("n")[0].as_py() == 0
