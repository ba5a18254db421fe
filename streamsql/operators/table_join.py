"""Table-table joins in DuckDB: each side's latest row per key, joined per changelog batch.

ksqlDB's record-at-a-time changelog outputs, computed set-based; the rules and the reasons
are in docs/design/table-joins.md. Nothing here decodes, encodes or commits.
"""
from __future__ import annotations

import pyarrow as pa

from streamsql.analyzer.analyzer import JOIN_KEY, JOIN_ROWTIME, ROW_INDEX, TOMBSTONE
from streamsql.planner.physical import (BATCH_RELATION, FORWARDED, OLD_VERSION, OUTPUT_ORDER,
                                       PASSES, ROW_EXISTS, TableJoinOperatorSpec, chain_key,
                                       chain_rowtime)
from streamsql.state.store import QueryConnection

_KEY = "$key"  # a state row's primary key
_MATCH = "$match"  # the value the other side's rows join on (the foreign key, on the left)
_PREV = "$prev"  # the batch row of the previous change to the same key
_OLD_PRESENT, _NEW_PRESENT, _OTHER_PRESENT = "$old_present", "$new_present", "$other_present"
_INTERNAL = (OLD_VERSION, ROW_EXISTS, FORWARDED, OUTPUT_ORDER)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _old(name: str) -> str:
    return _q("$old:" + name)


class TableJoinOperator:
    """Joins each side's changelog batch with the other sides' rows; keeps every side.

    Two tables are one step. A chain of more tables is a step per added table: each later
    step joins the changes of the step before (as its left side) with one more table.
    """

    def __init__(self, spec: TableJoinOperatorSpec, connection: QueryConnection,
                 empty_batches: tuple[pa.Table, ...]):
        self.spec = spec
        self.connection = connection
        self.steps = [_JoinStep(spec, connection, empty_batches[:2])]
        for n, step in enumerate(spec.then, start=1):
            self.steps.append(_JoinStep(step, connection, (
                self.changelog(self.empty_changes(), n), empty_batches[n + 1])))

    def process(self, side: int, batch: pa.Table) -> pa.Table:
        """The join's changes caused by one side's batch (one version row or two per change),
        for the projection; the sides' rows are updated afterwards."""
        first = max(side - 1, 0)  # tables after the first two join at step side - 1
        changes = self.steps[first].process(side if first == 0 else 1, batch)
        for n in range(first + 1, len(self.steps)):
            changes = self.steps[n].process(0, self.changelog(changes, n))
        return changes

    def changelog(self, changes: pa.Table, step: int | None = None) -> pa.Table:
        """The join's changes as a changelog batch of the result table (for an aggregation
        over it): one row per forwarded change, in order, a deleted row a tombstone. With
        `step`, a step's changes as the batch of the next step's left side."""
        internal, chained = _INTERNAL, ""
        if step is not None:
            internal += (JOIN_KEY, JOIN_ROWTIME)
            chained = (f"{_q(JOIN_KEY)} AS {_q(chain_key(step))}, "
                       f"{_q(JOIN_ROWTIME)} AS {_q(chain_rowtime(step))}, ")
        return self.connection.run(
            f"SELECT * EXCLUDE ({', '.join(_q(c) for c in internal)}), {chained}"
            f"NOT {_q(ROW_EXISTS)} AS {_q(TOMBSTONE)} FROM changes "
            f"WHERE NOT {_q(OLD_VERSION)} AND {_q(FORWARDED)} ORDER BY {_q(OUTPUT_ORDER)}",
            changes=changes)

    def empty_changes(self) -> pa.Table:
        """No changes, with the columns `process` gives (those of the last step)."""
        last = self.steps[-1]
        return last.changes(0, last.empty[0])

    def resolve(self, projected: pa.Table) -> pa.Table:
        """Projected version rows -> the output changes, in order; PASSES says upsert or delete."""
        has_where = PASSES in projected.column_names
        new_ok = f'n.{_q(ROW_EXISTS)} AND coalesce(n.{_q(PASSES)}, false)' if has_where \
            else f'n.{_q(ROW_EXISTS)}'
        old_ok = f'coalesce(o.{_q(ROW_EXISTS)} AND o.{_q(PASSES)}, false)' if has_where \
            else "false"
        excluded = ", ".join(_q(c) for c in _INTERNAL + ((PASSES,) if has_where else ()))
        condition = f"NOT n.{_q(OLD_VERSION)} AND n.{_q(FORWARDED)}"
        if self.spec.filtered:
            # A change whose row passes WHERE neither before nor after changes nothing.
            condition += f" AND (({new_ok}) OR {old_ok})"
        return self.connection.run(
            f"SELECT n.* EXCLUDE ({excluded}), ({new_ok}) AS {_q(PASSES)} "
            f"FROM projected n LEFT JOIN projected o ON o.{_q(OUTPUT_ORDER)} = "
            f"n.{_q(OUTPUT_ORDER)} AND o.{_q(OLD_VERSION)} WHERE {condition} "
            f"ORDER BY n.{_q(OUTPUT_ORDER)}", projected=projected)

    def drop_state(self) -> None:
        for step in self.steps:
            for name in step.spec.state:
                self.connection.run(f"DROP TABLE IF EXISTS {_q(name)}")


class _JoinStep:
    """Two changelogs joined: each side's latest row per key in a DuckDB table."""

    def __init__(self, spec: TableJoinOperatorSpec, connection: QueryConnection,
                 empty_batches: tuple[pa.Table, pa.Table]):
        self.spec = spec
        self.connection = connection
        self.empty = empty_batches
        # Each side's stored columns: its batch minus the per-batch internals.
        self.columns = tuple([c for c in empty.column_names if c not in (ROW_INDEX, TOMBSTONE)]
                             for empty in empty_batches)
        for side, empty in enumerate(empty_batches):
            self.connection.run(
                f"CREATE TABLE IF NOT EXISTS {_q(spec.state[side])} AS SELECT "
                f"{self._select_list(side)}, ({spec.row_key_sql[side]}) AS {_q(_KEY)}, "
                f"({self._match_sql(side)}) AS {_q(_MATCH)} FROM {BATCH_RELATION} WHERE false",
                **{BATCH_RELATION: empty})

    def process(self, side: int, batch: pa.Table) -> pa.Table:
        """The changes one side's batch makes to the join; then the side's rows are updated."""
        joined = self.changes(side, batch)
        self._store(side, batch)
        return joined

    def changes(self, side: int, batch: pa.Table) -> pa.Table:
        if self.spec.foreign_key:
            if side == 0:
                return self._left_foreign_key_changes(batch)
            return self._right_foreign_key_changes(batch)
        return self._primary_key_changes(side, batch)

    # ---- primary-key joins ----------------------------------------------------------------
    def _primary_key_changes(self, side: int, batch: pa.Table) -> pa.Table:
        spec, other = self.spec, 1 - side
        this_time, other_time = _q(spec.time_sql[side]), _q(spec.time_sql[other])
        old_columns = ", ".join(
            f"CASE WHEN v.{_q(_PREV)} IS NOT NULL THEN p.{_q(c)} ELSE s.{_q(c)} END AS {_old(c)}"
            for c in self.columns[side])
        other_columns = ", ".join(f"o.{_q(c)}" for c in self.columns[other])

        def version(present: str, column) -> str:
            this = ", ".join(f"CASE WHEN {_q(present)} THEN {column(c)} END AS {_q(c)}"
                             for c in self.columns[side])
            return (f"SELECT {this}, {', '.join(_q(c) for c in self.columns[other])}, "
                    f"{_q(ROW_INDEX)}, {_q(_KEY)} AS {_q(JOIN_KEY)}, {_q(JOIN_ROWTIME)}, "
                    f"{'true' if present == _OLD_PRESENT else 'false'} AS {_q(OLD_VERSION)}, "
                    f"{self._exists(side, _q(present), _q(_OTHER_PRESENT))} AS {_q(ROW_EXISTS)}, "
                    f"{_q(FORWARDED)}, {_q(ROW_INDEX)} AS {_q(OUTPUT_ORDER)} FROM y")

        sql = (
            f"WITH b AS (SELECT *, ({spec.row_key_sql[side]}) AS {_q(_KEY)} "
            f"FROM {BATCH_RELATION}), "
            f"v AS (SELECT *, lag({_q(ROW_INDEX)}) OVER (PARTITION BY {_q(_KEY)} "
            f"ORDER BY {_q(ROW_INDEX)}) AS {_q(_PREV)} FROM b), "
            f"x AS (SELECT v.*, CASE WHEN v.{_q(_PREV)} IS NOT NULL THEN NOT p.{_q(TOMBSTONE)} "
            f"ELSE s.{_q(_KEY)} IS NOT NULL END AS {_q(_OLD_PRESENT)}, {old_columns}, "
            f"o.{_q(_KEY)} IS NOT NULL AS {_q(_OTHER_PRESENT)}, {other_columns} "
            f"FROM v LEFT JOIN b p ON p.{_q(ROW_INDEX)} = v.{_q(_PREV)} "
            f"LEFT JOIN {_q(spec.state[side])} s ON s.{_q(_KEY)} = v.{_q(_KEY)} "
            f"LEFT JOIN {_q(spec.state[other])} o ON o.{_q(_KEY)} = v.{_q(_KEY)}), "
            f"y AS (SELECT *, NOT {_q(TOMBSTONE)} AS {_q(_NEW_PRESENT)}, "
            f"CASE WHEN {_q(_OTHER_PRESENT)} THEN greatest({this_time}, {other_time}) "
            f"ELSE {this_time} END AS {_q(JOIN_ROWTIME)}, "
            f"{self._forwarded(side)} AS {_q(FORWARDED)} FROM x) "
            f"{version(_NEW_PRESENT, _q)} UNION ALL BY NAME {version(_OLD_PRESENT, _old)} "
            f"ORDER BY {_q(OUTPUT_ORDER)}, {_q(OLD_VERSION)}")
        return self.connection.run(sql, **{BATCH_RELATION: batch})

    def _exists(self, side: int, present: str, other_present: str) -> str:
        """Whether the join has a row for the key, given which sides have one."""
        kind = self.spec.kind
        if kind == "INNER":
            return f"({present} AND {other_present})"
        if kind == "FULL":
            return f"({present} OR {other_present})"
        # LEFT keeps every left row, RIGHT every right row.
        kept = 0 if kind == "LEFT" else 1
        return present if side == kept else other_present

    def _forwarded(self, side: int) -> str:
        """Whether a change reaches the output at all (Kafka Streams' table-join rules)."""
        kind = self.spec.kind
        dependent = kind == "INNER" or (kind == "LEFT" and side == 1) or \
            (kind == "RIGHT" and side == 0)
        if dependent:
            # Without the other side's row the change cannot be joined: nothing to send.
            return _q(_OTHER_PRESENT)
        return f"({_q(_OTHER_PRESENT)} OR {_q(_NEW_PRESENT)} OR {_q(_OLD_PRESENT)})"

    # ---- foreign-key joins ----------------------------------------------------------------
    def _left_foreign_key_changes(self, batch: pa.Table) -> pa.Table:
        spec = self.spec
        left_join = "true" if spec.kind == "LEFT" else "false"
        left_columns = ", ".join(_q(c) for c in self.columns[0])
        right_columns = ", ".join(f"o.{_q(c)}" for c in self.columns[1])
        joins = f"(NOT {_q(TOMBSTONE)} AND ({_q(_OTHER_PRESENT)} OR {left_join}))"
        sql = (
            f"WITH b AS (SELECT *, ({spec.row_key_sql[0]}) AS {_q(_KEY)}, "
            f"({spec.key_sql[0]}) AS {_q(_MATCH)} FROM {BATCH_RELATION}), "
            f"v AS (SELECT *, lag({_q(ROW_INDEX)}) OVER (PARTITION BY {_q(_KEY)} "
            f"ORDER BY {_q(ROW_INDEX)}) AS {_q(_PREV)} FROM b), "
            f"x AS (SELECT v.*, CASE WHEN v.{_q(_PREV)} IS NOT NULL THEN NOT p.{_q(TOMBSTONE)} "
            f"ELSE s.{_q(_KEY)} IS NOT NULL END AS {_q(_OLD_PRESENT)}, "
            f"o.{_q(_KEY)} IS NOT NULL AS {_q(_OTHER_PRESENT)}, {right_columns} "
            f"FROM v LEFT JOIN b p ON p.{_q(ROW_INDEX)} = v.{_q(_PREV)} "
            f"LEFT JOIN {_q(spec.state[0])} s ON s.{_q(_KEY)} = v.{_q(_KEY)} "
            f"LEFT JOIN {_q(spec.state[1])} o ON o.{_q(_KEY)} = v.{_q(_MATCH)} "
            f"AND NOT v.{_q(TOMBSTONE)}) "
            # A left row that existed and no longer joins is deleted from the result.
            f"SELECT {left_columns}, {', '.join(_q(c) for c in self.columns[1])}, "
            f"{_q(ROW_INDEX)}, {_q(spec.time_sql[0])} AS {_q(JOIN_ROWTIME)}, "
            f"false AS {_q(OLD_VERSION)}, {joins} AS {_q(ROW_EXISTS)}, "
            f"({joins} OR {_q(_OLD_PRESENT)}) AS {_q(FORWARDED)}, "
            f"{_q(ROW_INDEX)} AS {_q(OUTPUT_ORDER)} FROM x ORDER BY {_q(ROW_INDEX)}")
        return self.connection.run(sql, **{BATCH_RELATION: batch})

    def _right_foreign_key_changes(self, batch: pa.Table) -> pa.Table:
        spec = self.spec
        left_join = "true" if spec.kind == "LEFT" else "false"
        left_columns = ", ".join(f"l.{_q(c)}" for c in self.columns[0])
        right_columns = ", ".join(f"CASE WHEN NOT b.{_q(TOMBSTONE)} THEN b.{_q(c)} END AS {_q(c)}"
                                  for c in self.columns[1])
        # Every left row referencing the right key sees the change, in left key order.
        sql = (
            f"WITH b AS (SELECT *, ({spec.row_key_sql[1]}) AS {_q(_KEY)} FROM {BATCH_RELATION}) "
            f"SELECT {left_columns}, {right_columns}, b.{_q(ROW_INDEX)}, "
            f"b.{_q(spec.time_sql[1])} AS {_q(JOIN_ROWTIME)}, false AS {_q(OLD_VERSION)}, "
            f"(NOT b.{_q(TOMBSTONE)} OR {left_join}) AS {_q(ROW_EXISTS)}, "
            f"true AS {_q(FORWARDED)}, row_number() OVER (ORDER BY b.{_q(ROW_INDEX)}, "
            f"l.{_q(_KEY)}) AS {_q(OUTPUT_ORDER)} "
            f"FROM b JOIN {_q(spec.state[0])} l ON l.{_q(_MATCH)} = b.{_q(_KEY)} "
            f"ORDER BY {_q(OUTPUT_ORDER)}")
        return self.connection.run(sql, **{BATCH_RELATION: batch})

    # ---- state ----------------------------------------------------------------------------
    def _match_sql(self, side: int) -> str:
        """What the other side joins on: the foreign key on the left of a foreign-key join."""
        return self.spec.key_sql[0] if side == 0 else self.spec.row_key_sql[1]

    def _select_list(self, side: int) -> str:
        return ", ".join(_q(c) for c in self.columns[side])

    def _store(self, side: int, batch: pa.Table) -> None:
        """Keep the latest row per key of the batch; a delete removes the key."""
        if batch.num_rows == 0:
            return
        state, key = _q(self.spec.state[side]), self.spec.row_key_sql[side]
        self.connection.run(
            f"DELETE FROM {state} WHERE {_q(_KEY)} IN (SELECT ({key}) FROM {BATCH_RELATION})",
            **{BATCH_RELATION: batch})
        self.connection.run(
            f"INSERT INTO {state} SELECT {self._select_list(side)}, {_q(_KEY)}, {_q(_MATCH)} "
            f"FROM (SELECT *, ({key}) AS {_q(_KEY)}, ({self._match_sql(side)}) AS {_q(_MATCH)}, "
            f"row_number() OVER (PARTITION BY ({key}) ORDER BY {_q(ROW_INDEX)} DESC) AS rn "
            f"FROM {BATCH_RELATION}) WHERE rn = 1 AND NOT {_q(TOMBSTONE)}",
            **{BATCH_RELATION: batch})
