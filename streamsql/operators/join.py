"""Joins in DuckDB: each side's batch probes the other side's state in one statement.

Stream-stream: every record is kept for the join window (+ grace) in its side's state
table and matches the other side's records whose time is within the window; an outer
side's record without a match is emitted alone at once (LEFT, RIGHT, FULL). Stream-table:
the table side keeps its latest row per key; stream records look it up (LEFT keeps the
stream record when nothing matches). Each result row carries the probing record's `$row`,
so timestamps and headers come from the record that triggered it, as in ksqlDB.
"""
from __future__ import annotations

import pyarrow as pa

from streamsql.analyzer.analyzer import JOIN_KEY, JOIN_ROWTIME, ROW_INDEX, TOMBSTONE
from streamsql.planner.physical import BATCH_RELATION, JoinOperatorSpec
from streamsql.state.store import QueryConnection

_KEY, _SEQ = "$key", "$seq"


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class JoinOperator:
    def __init__(self, spec: JoinOperatorSpec, connection: QueryConnection,
                 empty_batches: tuple[pa.Table, pa.Table]):
        self.spec = spec
        self.connection = connection
        self.stream_time = -1
        for side, empty in enumerate(empty_batches):
            self.connection.run(
                f"CREATE TABLE IF NOT EXISTS {_q(spec.state[side])} AS SELECT * EXCLUDE "
                f"({_q(ROW_INDEX)}), ({spec.key_sql[side]}) AS {_q(_KEY)}, "
                f"CAST(0 AS BIGINT) AS {_q(_SEQ)} FROM {BATCH_RELATION} WHERE false",
                **{BATCH_RELATION: empty})
        self.next_seq = [self._max_seq(side) + 1 for side in (0, 1)]

    def _max_seq(self, side: int) -> int:
        result = self.connection.run(
            f"SELECT coalesce(max({_q(_SEQ)}), -1) AS m FROM {_q(self.spec.state[side])}")
        return result.column("m")[0].as_py()

    def probe(self, side: int, batch: pa.Table) -> pa.Table:
        """The batch joined with the other side's state, ordered by input row then arrival."""
        spec = self.spec
        other = 1 - side
        my_time, other_time = _q(spec.time_sql[side]), _q(spec.time_sql[other])
        # Column names are unique across the two sides (ALIAS_COLUMN), so the key
        # expression reads the batch's columns unqualified.
        condition = f"o.{_q(_KEY)} = ({spec.key_sql[side]})"
        if spec.window_sql is not None:
            # A windowed record's key includes its window.
            condition += "".join(f" AND o.{_q(theirs)} = b.{_q(mine)}" for mine, theirs in
                                 zip(spec.window_sql[side], spec.window_sql[other]))
        if not spec.stream_table:
            # WITHIN (before, after): right.time within [left.time - before, left.time + after]
            low, high = (spec.before_ms, spec.after_ms) if side == 0 else \
                (spec.after_ms, spec.before_ms)
            condition += (f" AND o.{other_time} BETWEEN b.{my_time} - {low} "
                          f"AND b.{my_time} + {high}")
            rowtime = f"greatest(b.{my_time}, coalesce(o.{other_time}, b.{my_time}))"
        else:
            rowtime = f"b.{my_time}"  # a table lookup keeps the stream record's time
        # An outer side's record is kept without a match (LEFT: the left's, RIGHT: the right's).
        kept = {"LEFT": (0,), "RIGHT": (1,), "FULL": (0, 1)}.get(spec.kind, ())
        kind = "LEFT" if side in kept else "INNER"
        sql = (f"SELECT b.*, o.* EXCLUDE ({_q(_KEY)}, {_q(_SEQ)}), "
               f"{rowtime} AS {_q(JOIN_ROWTIME)}, ({spec.key_sql[side]}) AS {_q(JOIN_KEY)} "
               f"FROM {BATCH_RELATION} b {kind} JOIN {_q(spec.state[other])} o ON {condition} "
               f"ORDER BY b.{_q(ROW_INDEX)}, o.{_q(_SEQ)}")
        return self.connection.run(sql, **{BATCH_RELATION: batch})

    def store(self, side: int, batch: pa.Table) -> None:
        """Add the batch to its side's state (a table side keeps the latest row per key)."""
        spec = self.spec
        state, key = _q(spec.state[side]), spec.key_sql[side]
        base = self.next_seq[side]
        self.next_seq[side] += batch.num_rows
        if batch.num_rows == 0:
            return
        if spec.stream_table and side == 1:
            self.connection.run(
                f"DELETE FROM {state} WHERE {_q(_KEY)} IN (SELECT ({key}) FROM {BATCH_RELATION})",
                **{BATCH_RELATION: batch})
            self.connection.run(
                f"INSERT INTO {state} SELECT * EXCLUDE ({_q(ROW_INDEX)}, rn, k), "
                f"k, {_q(ROW_INDEX)} + {base} FROM (SELECT *, ({key}) AS k, row_number() OVER "
                f"(PARTITION BY ({key}) ORDER BY {_q(ROW_INDEX)} DESC) AS rn FROM "
                f"{BATCH_RELATION}) WHERE rn = 1 AND NOT {_q(TOMBSTONE)}",
                **{BATCH_RELATION: batch})
            return
        self.connection.run(
            f"INSERT INTO {state} SELECT * EXCLUDE ({_q(ROW_INDEX)}), ({key}), "
            f"{_q(ROW_INDEX)} + {base} FROM {BATCH_RELATION}", **{BATCH_RELATION: batch})
        if not spec.stream_table:
            times = batch.column(spec.time_sql[side])
            latest = max((t for t in times.to_pylist() if t is not None), default=-1)
            self.stream_time = max(self.stream_time, latest)
            horizon = self.stream_time - spec.retention_ms
            for name, time_column in zip(spec.state, spec.time_sql):
                self.connection.run(f"DELETE FROM {_q(name)} WHERE {_q(time_column)} < {horizon}")

    def drop_state(self) -> None:
        for name in self.spec.state:
            self.connection.run(f"DROP TABLE IF EXISTS {_q(name)}")

