"""Stream-stream joins with an explicit GRACE PERIOD: outer rows wait for their window to close.

Owns the join's state tables and its outputs per batch; never decodes, encodes or commits.
"""
from __future__ import annotations

import pyarrow as pa

from streamsql.analyzer.analyzer import JOIN_KEY, JOIN_ROWTIME, ROW_INDEX
from streamsql.planner.physical import BATCH_RELATION, JoinOperatorSpec
from streamsql.state.store import QueryConnection

_KEY, _SEQ, _PENDING = "$key", "$seq", "$pending"  # state columns
_ST, _SIDE_T = "$st", "$sidet"  # stream time, and this side's stream time, as of each record
_ORDER = ("$o1", "$o2", "$o3")  # output order: triggering row, phase, tie-break


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class ClosingJoinOperator:
    """Kafka Streams' rules for joins that name their grace (ksqlDB uses them then).

    A record of an outer side that nothing joins goes out alone only once its window has
    closed (stream time past its time + the window's reach + grace), and not at all if a
    record of the other side joins it first; a record whose window had closed when it arrived
    goes out alone at once. Each side keeps its records until its own stream time passes them
    by before + after + grace; a record already that old is not kept. Set-based: the stream
    time as of each record is a running max over the batch. probe() returns a batch's outputs
    and stages its state changes; store() applies them.
    """

    def __init__(self, spec: JoinOperatorSpec, connection: QueryConnection,
                 empty_batches: tuple[pa.Table, pa.Table]):
        self.spec = spec
        self.connection = connection
        for side, empty in enumerate(empty_batches):
            self.connection.run(
                f"CREATE TABLE IF NOT EXISTS {_q(spec.state[side])} AS SELECT * EXCLUDE "
                f"({_q(ROW_INDEX)}), ({spec.key_sql[side]}) AS {_q(_KEY)}, "
                f"CAST(0 AS BIGINT) AS {_q(_SEQ)}, false AS {_q(_PENDING)} "
                f"FROM {BATCH_RELATION} WHERE false", **{BATCH_RELATION: empty})
        self.columns = tuple([c for c in empty.column_names if c != ROW_INDEX]
                             for empty in empty_batches)
        self.next_seq = [self._stat(side, f"max({_q(_SEQ)})") + 1 for side in (0, 1)]
        self.side_time = [self._stat(side, f"max({_q(spec.time_sql[side])})") for side in (0, 1)]
        self.retention = spec.before_ms + spec.after_ms + spec.grace_ms
        self._staged: tuple[int, pa.Table, pa.Table] | None = None

    def _stat(self, side: int, aggregate: str) -> int:
        result = self.connection.run(
            f"SELECT coalesce({aggregate}, -1) AS v FROM {_q(self.spec.state[side])}")
        return result.column("v")[0].as_py()

    def _reach(self, side: int) -> int:
        """How far after its time a record of `side` can still be joined."""
        return self.spec.after_ms if side == 0 else self.spec.before_ms

    def probe(self, side: int, batch: pa.Table) -> pa.Table:
        """The outputs of one side's batch, in the order record-at-a-time processing gives."""
        spec, other = self.spec, 1 - side
        outer = {"LEFT": (0,), "RIGHT": (1,), "FULL": (0, 1)}.get(spec.kind, ())
        my_time, other_time = _q(spec.time_sql[side]), _q(spec.time_sql[other])
        low, high = (spec.before_ms, spec.after_ms) if side == 0 else \
            (spec.after_ms, spec.before_ms)
        stream_time = max(self.side_time)
        records = self.connection.run(
            f"SELECT b.*, ({spec.key_sql[side]}) AS {_q(_KEY)}, "
            f"greatest({stream_time}, max(b.{my_time}) OVER w) AS {_q(_ST)}, "
            f"greatest({self.side_time[side]}, max(b.{my_time}) OVER w) AS {_q(_SIDE_T)} "
            f"FROM {BATCH_RELATION} b WINDOW w AS (ORDER BY b.{_q(ROW_INDEX)} "
            f"ROWS UNBOUNDED PRECEDING)", **{BATCH_RELATION: batch})
        this_columns = ", ".join(f"b.{_q(c)}" for c in self.columns[side])
        stored_columns = ", ".join(f"s.{_q(c)}" for c in self.columns[side])
        other_columns = ", ".join(f"o.{_q(c)}" for c in self.columns[other])
        grace = spec.grace_ms
        sql = (
            f"WITH m AS (SELECT b.{_q(ROW_INDEX)} AS r, o.{_q(_SEQ)} AS seq, "
            f"o.{_q(_PENDING)} AS pending FROM records b JOIN {_q(spec.state[other])} o "
            f"ON o.{_q(_KEY)} = b.{_q(_KEY)} AND o.{other_time} BETWEEN b.{my_time} - {low} "
            f"AND b.{my_time} + {high}), "
            # a record nothing joins: alone now if its window has closed, else it waits
            f"lone AS (SELECT b.* FROM records b WHERE {'true' if side in outer else 'false'} "
            f"AND b.{_q(ROW_INDEX)} NOT IN (SELECT r FROM m)), "
            f"waiting AS (SELECT {this_columns}, b.{_q(_KEY)}, b.{_q(ROW_INDEX)} AS arrived, "
            f"NULL::BIGINT AS seq, NULL::BIGINT AS matched, {side} AS side FROM lone b "
            f"WHERE b.{my_time} + {self._reach(side)} >= b.{_q(_ST)}), "
            f"triggers AS (SELECT {_q(ROW_INDEX)} AS r, {_q(_ST)} AS st FROM records "
            f"WHERE {my_time} = {_q(_ST)}), "
            # waiting records of both sides, each with the first record that emits it
            f"candidates AS (SELECT * FROM waiting UNION ALL BY NAME "
            f"SELECT {stored_columns}, s.{_q(_KEY)}, NULL::BIGINT AS arrived, "
            f"s.{_q(_SEQ)} AS seq, NULL::BIGINT AS matched, {side} AS side "
            f"FROM {_q(spec.state[side])} s WHERE s.{_q(_PENDING)} UNION ALL BY NAME "
            f"SELECT {other_columns}, o.{_q(_KEY)}, NULL::BIGINT AS arrived, o.{_q(_SEQ)} AS seq, "
            f"(SELECT min(r) FROM m WHERE m.seq = o.{_q(_SEQ)}) AS matched, {other} AS side "
            f"FROM {_q(spec.state[other])} o WHERE o.{_q(_PENDING)}), "
            f"closing AS (SELECT c.*, (SELECT min(t.r) FROM triggers t WHERE t.st > "
            f"coalesce(c.{my_time}, c.{other_time}) + CASE WHEN c.side = 0 THEN "
            f"{self._reach(0)} ELSE {self._reach(1)} END + {grace} AND "
            f"(c.arrived IS NULL OR t.r > c.arrived) AND (c.matched IS NULL OR t.r <= c.matched)"
            f") AS emit_at FROM candidates c) "
            f"SELECT * EXCLUDE (arrived, seq, matched, side, emit_at, {_q(_KEY)}), "
            f"emit_at AS {_q(ROW_INDEX)}, coalesce({my_time}, {other_time}) AS {_q(JOIN_ROWTIME)}, "
            f"{_q(_KEY)} AS {_q(JOIN_KEY)}, emit_at AS {_q(_ORDER[0])}, 0 AS {_q(_ORDER[1])}, "
            f"coalesce({my_time}, {other_time}) AS {_q(_ORDER[2])}, arrived, seq, side, "
            f"emit_at AS emitted FROM closing WHERE emit_at IS NOT NULL "
            f"UNION ALL BY NAME "
            f"SELECT b.* EXCLUDE ({_q(_KEY)}, {_q(_ST)}, {_q(_SIDE_T)}), {other_columns}, "
            f"greatest(b.{my_time}, o.{other_time}) AS {_q(JOIN_ROWTIME)}, "
            f"b.{_q(_KEY)} AS {_q(JOIN_KEY)}, b.{_q(ROW_INDEX)} AS {_q(_ORDER[0])}, "
            f"1 AS {_q(_ORDER[1])}, o.{_q(_SEQ)} AS {_q(_ORDER[2])} "
            f"FROM records b JOIN {_q(spec.state[other])} o ON o.{_q(_KEY)} = b.{_q(_KEY)} "
            f"AND o.{other_time} BETWEEN b.{my_time} - {low} AND b.{my_time} + {high} "
            f"UNION ALL BY NAME "
            f"SELECT b.* EXCLUDE ({_q(_KEY)}, {_q(_ST)}, {_q(_SIDE_T)}), "
            f"b.{my_time} AS {_q(JOIN_ROWTIME)}, b.{_q(_KEY)} AS {_q(JOIN_KEY)}, "
            f"b.{_q(ROW_INDEX)} AS {_q(_ORDER[0])}, 1 AS {_q(_ORDER[1])}, "
            f"-1 AS {_q(_ORDER[2])} FROM lone b WHERE b.{my_time} + {self._reach(side)} < "
            f"b.{_q(_ST)} "
            f"ORDER BY {', '.join(_q(c) for c in _ORDER)}")
        out = self.connection.run(sql, records=records)
        emitted = out.filter(out.column("emitted").is_valid()).select(
            ["arrived", "seq", "side"]) if out.num_rows else out.select(["arrived", "seq", "side"])
        self._staged = (side, records, emitted)
        return out.drop_columns(list(_ORDER) + ["arrived", "seq", "side", "emitted"])

    def store(self, side: int, batch: pa.Table) -> None:
        """Keep the batch's records that are not expired; clear waiting records that were
        joined or emitted; expire this side's old records."""
        staged_side, records, emitted = self._staged
        assert staged_side == side, (staged_side, side)
        self._staged = None
        spec, other = self.spec, 1 - side
        my_time, other_time = _q(spec.time_sql[side]), _q(spec.time_sql[other])
        low, high = (spec.before_ms, spec.after_ms) if side == 0 else \
            (spec.after_ms, spec.before_ms)
        outer = side in {"LEFT": (0,), "RIGHT": (1,), "FULL": (0, 1)}.get(spec.kind, ())
        base = self.next_seq[side]
        self.next_seq[side] += batch.num_rows
        columns = ", ".join(_q(c) for c in self.columns[side])
        # A record joins (or is waiting) only if it is kept: not already expired on arrival.
        self.connection.run(
            f"INSERT INTO {_q(spec.state[side])} SELECT {columns}, {_q(_KEY)}, "
            f"{_q(ROW_INDEX)} + {base}, {'true' if outer else 'false'} AND NOT EXISTS "
            f"(SELECT 1 FROM {_q(spec.state[other])} o WHERE o.{_q(_KEY)} = b.{_q(_KEY)} AND "
            f"o.{other_time} BETWEEN b.{my_time} - {low} AND b.{my_time} + {high}) AND "
            f"b.{my_time} + {self._reach(side)} >= b.{_q(_ST)} AND {_q(ROW_INDEX)} NOT IN "
            f"(SELECT arrived FROM emitted WHERE arrived IS NOT NULL) "
            f"FROM records b WHERE b.{my_time} > b.{_q(_SIDE_T)} - {self.retention}",
            records=records, emitted=emitted)
        # Records of the other side that this batch joined no longer wait.
        self.connection.run(
            f"UPDATE {_q(spec.state[other])} o SET {_q(_PENDING)} = false WHERE "
            f"o.{_q(_PENDING)} AND EXISTS (SELECT 1 FROM records b WHERE o.{_q(_KEY)} = "
            f"b.{_q(_KEY)} AND o.{other_time} BETWEEN b.{my_time} - {low} AND "
            f"b.{my_time} + {high})", records=records)
        for emitted_side in (0, 1):
            self.connection.run(
                f"UPDATE {_q(spec.state[emitted_side])} SET {_q(_PENDING)} = false WHERE "
                f"{_q(_SEQ)} IN (SELECT seq FROM emitted WHERE side = {emitted_side} AND "
                f"seq IS NOT NULL)", emitted=emitted)
        if records.num_rows:
            self.side_time[side] = max(self.side_time[side],
                                       max(records.column(_SIDE_T).to_pylist()))
        self.connection.run(f"DELETE FROM {_q(spec.state[side])} WHERE "
                            f"{my_time} <= {self.side_time[side] - self.retention}")

    def drop_state(self) -> None:
        for name in self.spec.state:
            self.connection.run(f"DROP TABLE IF EXISTS {_q(name)}")
