"""Changelog records of a query's DuckDB state tables: the rows a batch changed, encoded
for a compacted changelog topic, and a state partition's rows rebuilt from those records.

It never talks to the log: the runtime produces the records and reads them back.

Record format (one per changed state row, in the row's state partition):
  key   = JSON array of the row's key columns, e.g. ["s17",60000] (the compaction key);
  value = JSON object of the whole state row, column name -> value (DuckDB's to_json,
          which writes doubles exactly, NaN and Infinity included), or null: the row
          was deleted (a tombstone).
A changelog may hold many versions of one key (a broker that does not compact keeps
them all): a restore keeps each key's last record and drops the keys it deletes.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import pyarrow as pa

from streamsql.state.store import QueryConnection


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class Store:
    """A state table whose rows follow their state partition through a changelog."""

    name: str  # in the changelog topic's name: ...-<name>-changelog
    table: str  # the DuckDB table (unquoted)
    keys: tuple[str, ...]  # the columns that identify a row
    partition: str  # the column holding the row's state partition (an input partition)


class StoreChanges:
    """What the batch in flight did to the stores, in order: upserted rows (whole state
    rows) and deleted rows (their key and partition columns)."""

    def __init__(self, connection: QueryConnection):
        self.connection = connection
        self._changes: dict[Store, list[tuple[bool, pa.Table]]] = {}

    def upserted(self, store: Store, rows: pa.Table) -> None:
        if rows.num_rows:
            self._changes.setdefault(store, []).append((True, rows))

    def deleted(self, store: Store, keys: pa.Table) -> None:
        if keys.num_rows:
            self._changes.setdefault(store, []).append((False, keys))

    def discard(self) -> None:
        """The batch failed: its changes never happened."""
        self._changes.clear()

    def drain(self) -> list[tuple[Store, pa.Table]]:
        """Per changed store, its changelog records: `partition` (int32), `key` and `value`
        (binary; a null value deletes the key), one per key (the batch's last change)."""
        drained = []
        for store, changes in self._changes.items():
            keys = ", ".join(_q(k) for k in store.keys)
            parts, relations = [], {}
            for i, (upsert, table) in enumerate(changes):
                name = f"changes_{i}"
                relations[name] = table
                value = f"CAST(to_json({name}) AS VARCHAR)" if upsert else "CAST(NULL AS VARCHAR)"
                parts.append(
                    f"SELECT CAST({_q(store.partition)} AS INTEGER) AS partition, CAST(json_array("
                    f"{keys}) AS VARCHAR) AS key, {value} AS value, {i} AS change, "
                    f"row_number() OVER () AS n FROM {name}")
            records = self.connection.run(
                f"SELECT partition, key, value FROM ({' UNION ALL '.join(parts)}) QUALIFY "
                "row_number() OVER (PARTITION BY key ORDER BY change DESC, n DESC) = 1 "
                "ORDER BY partition, change, n", **relations)
            drained.append((store, pa.table({
                "partition": records.column("partition"),
                "key": records.column("key").cast(pa.binary()),
                "value": records.column("value").cast(pa.binary())})))
        self._changes.clear()
        return drained


def write_rows(connection: QueryConnection, changes: StoreChanges | None, store: Store,
               sql: str, **relations: pa.Table) -> None:
    """Run an INSERT or UPDATE of a store's table; if changes are recorded, record the
    rows it wrote (RETURNING: no second look at the table)."""
    if changes is None:
        connection.run(sql, **relations)
    else:
        changes.upserted(store, connection.run(f"{sql} RETURNING *", **relations))


def delete_rows(connection: QueryConnection, changes: StoreChanges | None, store: Store,
                sql: str, **relations: pa.Table) -> None:
    """Run a DELETE from a store's table; if changes are recorded, record the keys (and
    state partitions) of the rows it deleted."""
    if changes is None:
        connection.run(sql, **relations)
        return
    returning = ", ".join(_q(c) for c in (*store.keys, store.partition))
    changes.deleted(store, connection.run(f"{sql} RETURNING {returning}", **relations))


def restore_partition(connection: QueryConnection, store: Store, partition: int,
                      records: pa.Table) -> int:
    """Replace the store's rows of one state partition with those its changelog records
    give (`key`, `value`: binary, `offset`: int64, any order); return the rows restored.

    Runs in the caller's transaction.
    """
    table = _q(store.table)
    connection.run(f"DELETE FROM {table} WHERE {_q(store.partition)} = {int(partition)}")
    if records.num_rows == 0:
        return 0
    columns = connection.run(f"DESCRIBE {table}").to_pylist()
    structure = json.dumps({c["column_name"]: c["column_type"] for c in columns})
    names = ", ".join(_q(c["column_name"]) for c in columns)
    staged = pa.table({"key": records.column("key"),
                       "value": records.column("value").cast(pa.string()),
                       "offset": records.column("offset")})
    restored = connection.run(
        f"INSERT INTO {table} ({names}) SELECT s.* FROM (SELECT json_transform(value, "
        f"'{structure.replace(chr(39), chr(39) * 2)}') AS s FROM staged QUALIFY row_number() "
        f"OVER (PARTITION BY key ORDER BY \"offset\" DESC) = 1) WHERE s IS NOT NULL",
        staged=staged)
    return restored.column(0)[0].as_py() if restored.num_rows else 0


def drop_partitions(connection: QueryConnection, store: Store, keep: set[int]) -> None:
    """Delete the store's rows of every state partition not in `keep`."""
    where = f"{_q(store.partition)} NOT IN ({', '.join(map(str, sorted(keep)))})" if keep \
        else "true"
    connection.run(f"DELETE FROM {_q(store.table)} WHERE {where}")
