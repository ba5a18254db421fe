"""SESSION-window aggregation over a micro-batch, with each key's sessions in a DuckDB table.

Record-at-a-time semantics (ksqlDB's): a record at time t merges every visible session of
its key whose [start - gap, end + gap] contains t; the merged session spans all of them,
its aggregate is the merge of theirs in time order followed by the record. A merge emits
a tombstone for each old session's windowed key, then the new session. A record whose
merged session ends before stream time - grace - gap is late (dropped); a session whose
end is not after stream time - retention is no longer visible.

Per batch, set-based:
  1. each key's records are cut into runs: a new run starts at a record that is out of
     time order for its key, or one that may be late (it comes first in its run, so it
     is checked against the stored sessions alone); each round takes every key's next run;
  2. per round, the run's records and the stored sessions they can reach are sorted by
     time and split into islands (gaps-and-islands); because a run is in time order, the
     island pieces before a record are exactly the ones present when it arrived, so
     window functions give every record its session, aggregate and tombstones (a record
     whose session expired meanwhile is deferred to start a run of its own);
  3. the islands replace the stored sessions they merged.
In-order input takes one round per batch.
With the record cache on, only the last row per windowed key is emitted, and a
tombstone only for a session that was in the result before the batch (as a cache flush
forwards a delete only when the store had the key).
"""
from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from streamsql.analyzer.analyzer import ROW_INDEX
from streamsql.catalog.schema import WINDOWEND, WINDOWSTART
from streamsql.operators.aggregate import LateRecord, UngroupedRecord, split_ungrouped
from streamsql.planner.physical import (BATCH_RELATION, EVENT_TIME, MAX_TIME, SESSION_LIVE, TASK,
                                       AggregateOperatorSpec)
from streamsql.state.changelog import (Store, StoreChanges, delete_rows, drop_partitions,
                                      write_rows)
from streamsql.state.store import QueryConnection

START, END = "$start", "$end"
SENT = "$sent"  # EMIT FINAL: the session's final result was emitted
STREAM_TIME = "$st"
RISKY = "$risky"  # may be late: first in its run, checked against the stored sessions
RUN = "$run"
SEQ = "$seq"  # per record: 0 left tombstone, 1 right tombstone, 2 the merged session
DELETED = "$deleted"


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class SessionAggregateOperator:
    """GROUP BY ... WINDOW SESSION: `process` returns one row per emitted change, in order."""

    def __init__(self, spec: AggregateOperatorSpec, connection: QueryConnection,
                 empty_batch: pa.Table):
        self.spec = spec
        self.connection = connection
        window = spec.window
        self.gap, self.grace, self.retention = window.size_ms, window.grace_ms, \
            window.retention_ms
        self.state = _q(spec.state)
        # Each state partition's stream time, as each Kafka Streams task has its own: it
        # decides which records are late, which sessions expire and which close.
        self.task_times = _q(spec.state + "_task_time")
        self.keys = [_q(g) for g in spec.groups]
        self.fields = [[_q(f"$f{i}_{j}") for j in range(len(agg.fields))]
                       for i, agg in enumerate(spec.aggregates)]
        self.late: list[LateRecord] = []
        self.ungrouped: list[UngroupedRecord] = []
        pre = self.connection.run(spec.pre_sql, **{BATCH_RELATION: empty_batch})
        # The state's column types are those of the running aggregates (over no rows here).
        typed = ", ".join(
            f"{template.format(*[f'({_q(a)})' for a in agg.args], sign='1')} OVER () AS "
            f"{self.fields[i][j]}"
            for i, agg in enumerate(spec.aggregates) for j, template in enumerate(agg.accumulate))
        self.connection.run(
            f"CREATE TABLE IF NOT EXISTS {self.state} AS SELECT {', '.join(self.keys)}, "
            f"CAST(0 AS BIGINT) AS {_q(START)}, CAST(0 AS BIGINT) AS {_q(END)}, {typed}, "
            f"false AS {_q(SENT)}, CAST(0 AS INTEGER) AS {_q(TASK)} FROM pre LIMIT 0", pre=pre)
        # State kept by a version without state partitions: all of it in partition 0.
        self.connection.run(f"ALTER TABLE {self.state} ADD COLUMN IF NOT EXISTS {_q(TASK)} "
                            "INTEGER DEFAULT 0")
        # With a changelog (Kafka scale-out), what each batch does to the sessions.
        self.changes: StoreChanges | None = None
        self.store = Store("Aggregate-Aggregate-Materialize", spec.state, (*spec.groups, START),
                           TASK)
        self.connection.run(f"CREATE TABLE IF NOT EXISTS {self.task_times} "
                            "(task INTEGER PRIMARY KEY, stream_time BIGINT)")

    # ---- state partitions (see runtime/changelog.py) ---------------------------------------

    def stores(self) -> list[Store]:
        """The state tables that a changelog must carry (named as ksqlDB names its stores)."""
        return [self.store]

    def keep_partitions(self, partitions: set[int]) -> None:
        """Forget the sessions of every other state partition (it moved to another process)."""
        drop_partitions(self.connection, self.store, partitions)
        drop_partitions(self.connection, Store("", self.spec.state + "_task_time", (), "task"),
                        partitions)

    def restored(self, partitions: set[int]) -> None:
        """After state partitions were restored: each one's stream time is at least its
        newest session's end (its newest record)."""
        self.connection.run(
            f"INSERT INTO {self.task_times} SELECT {_q(TASK)}, max({_q(END)}) FROM {self.state} "
            f"GROUP BY ALL ON CONFLICT (task) DO UPDATE SET stream_time = "
            "greatest(stream_time, excluded.stream_time)")

    # ---- SQL fragments -------------------------------------------------------------------

    def _match(self, a: str, b: str) -> str:
        return " AND ".join(f"{a}.{k} IS NOT DISTINCT FROM {b}.{k}" for k in self.keys)

    def _merged(self, old: list[list[str]], new: list[list[str]]) -> list[list[str]]:
        """Each aggregate's fields merged: `old` then `new` (SQL per field)."""
        result = []
        for agg, olds, news in zip(self.spec.aggregates, old, new):
            by_name = {f"old_{name}": o for name, o in zip(agg.fields, olds)}
            result.append([template.format(old=o, new=n, **by_name)
                           for template, o, n in zip(agg.merge, olds, news)])
        return result

    def _renamed(self, prefix: str) -> list[str]:
        """Column names for another session's state fields (`$f0_0` -> `<prefix>0_0`)."""
        return [_q(prefix + f[3:-1]) for fs in self.fields for f in fs]

    def _columns(self, prefix: str) -> list[list[str]]:
        return [[f"{prefix}.{f}" for f in fields] for fields in self.fields]

    def _finals(self) -> str:
        finals = []
        for i, agg in enumerate(self.spec.aggregates):
            by_name = dict(zip(agg.fields, self.fields[i]))
            finals.append(f"CAST({agg.final.format(**by_name)} AS {agg.result_type}) AS "
                          f"{_q(f'$a{i}')}")
        return ", ".join(finals)

    def _live(self) -> str:
        """A stored session is in the result table if it passes HAVING."""
        having = self.spec.having_sql
        return f"{'true' if having is None else f'coalesce({having}, false)'} AS " \
            f"{_q(SESSION_LIVE)}"

    # ---- a batch ---------------------------------------------------------------------------

    def process(self, batch: pa.Table) -> pa.Table:
        spec = self.spec
        grouped, ungrouped = split_ungrouped(
            self.connection.run(spec.pre_sql, **{BATCH_RELATION: batch}), spec.groups)
        self.ungrouped += ungrouped
        t, st = _q(EVENT_TIME), _q(STREAM_TIME)
        pre = self.connection.run(
            f"SELECT g.*, greatest(coalesce(p.stream_time, -1), max(g.{t}) OVER (PARTITION BY "
            f"g.{_q(TASK)} ORDER BY g.{_q(ROW_INDEX)} ROWS UNBOUNDED PRECEDING)) AS {st} FROM "
            f"grouped g LEFT JOIN {self.task_times} p ON p.task = g.{_q(TASK)} "
            f"ORDER BY g.{_q(ROW_INDEX)}", grouped=grouped)
        runs = self.connection.run(self._runs_sql(), pre=pre)
        cached = not (spec.every_update or spec.emit_final)
        if cached:
            # The windows of the batch's keys in the result before the batch: the only
            # ones whose tombstones the cache forwards.
            existed = self.connection.run(
                f"SELECT {', '.join(self.keys)}, {_q(START)}, {_q(END)} FROM {self.state} s "
                f"SEMI JOIN pre ON {self._match('s', 'pre')}", pre=pre)
        if pre.num_rows:
            self.connection.run(
                f"INSERT INTO {self.task_times} SELECT {_q(TASK)}, max({st}) FROM pre "
                "GROUP BY ALL ON CONFLICT (task) DO UPDATE SET stream_time = "
                "greatest(stream_time, excluded.stream_time)", pre=pre)
        changes, triggers = [], {}
        pending = runs
        while pending.num_rows:
            rows = self._next_runs(pending)
            pending = pending.filter(pc.invert(pc.is_in(pending.column(ROW_INDEX),
                                                        value_set=rows.column(ROW_INDEX))))
            rows = self._drop_late(rows)
            if rows.num_rows == 0:
                continue
            done, deferred = self._round(rows)
            changes.append(done)
            pending = pa.concat_tables([pending, deferred])
            last = rows.group_by(TASK).aggregate([(STREAM_TIME, "max")])
            for task, time in zip(last.column(TASK).to_pylist(),
                                  last.column(f"{STREAM_TIME}_max").to_pylist()):
                triggers[task] = max(triggers.get(task, time), time)
        self._finish_batch()
        if spec.emit_final:
            return self._closed_sessions(batch, triggers)
        if not changes:
            return self._no_changes()
        result = pa.concat_tables(changes)
        order = f"{_q(ROW_INDEX)}, {_q(SEQ)}"
        if not cached:
            return self.connection.run(f"SELECT * FROM result ORDER BY {order}", result=result)
        # The cache keeps the latest row per windowed key; a session created and merged
        # away before the cache flushed was never written, so its tombstone is not sent.
        window = ", ".join(f"r.{c}" for c in [*self.keys, _q(WINDOWSTART), _q(WINDOWEND)])
        return self.connection.run(
            f"SELECT r.* FROM result r LEFT JOIN existed e ON {self._match('r', 'e')} AND "
            f"e.{_q(START)} = r.{_q(WINDOWSTART)} AND e.{_q(END)} = r.{_q(WINDOWEND)} "
            f"QUALIFY row_number() OVER (PARTITION BY {window} ORDER BY r.{_q(ROW_INDEX)} DESC, "
            f"r.{_q(SEQ)} DESC) = 1 AND NOT (r.{_q(DELETED)} AND e.{_q(START)} IS NULL) "
            f"ORDER BY {', '.join(f'r.{c}' for c in (_q(ROW_INDEX), _q(SEQ)))}",
            result=result, existed=existed)

    def _runs_sql(self) -> str:
        t, st, row = _q(EVENT_TIME), _q(STREAM_TIME), _q(ROW_INDEX)
        by_key = f"PARTITION BY {', '.join(self.keys)} ORDER BY {row}"
        return (
            f"SELECT * EXCLUDE ({_q('$cut')}), CAST(sum({_q('$cut')}) OVER ({by_key} ROWS "
            f"UNBOUNDED PRECEDING) AS BIGINT) AS {_q(RUN)} FROM (SELECT *, CAST({_q(RISKY)} OR "
            f"coalesce({t} < max({t}) OVER ({by_key} ROWS BETWEEN UNBOUNDED PRECEDING AND 1 "
            f"PRECEDING), false) AS INTEGER) AS {_q('$cut')} FROM (SELECT *, {t} < {st} - "
            f"{self.grace + self.gap} AS {_q(RISKY)} FROM pre)) ORDER BY {row}")

    def _next_runs(self, pending: pa.Table) -> pa.Table:
        """The first pending run of every key."""
        runs = pending.column(RUN)
        if pc.min(runs).as_py() == pc.max(runs).as_py():
            return pending
        return self.connection.run(
            f"SELECT * FROM pending QUALIFY {_q(RUN)} = min({_q(RUN)}) OVER (PARTITION BY "
            f"{', '.join(self.keys)}) ORDER BY {_q(ROW_INDEX)}", pending=pending)

    def _drop_late(self, rows: pa.Table) -> pa.Table:
        """A risky record (first in its run) is late if even its merged session ends before
        stream time - grace - gap."""
        if not pc.any(rows.column(RISKY)).as_py():
            return rows
        t, st, row = _q(EVENT_TIME), _q(STREAM_TIME), _q(ROW_INDEX)
        merged = self.connection.run(
            f"SELECT r.{row} AS row, least(r.{t}, min(s.{_q(START)})) AS start, "
            f"r.{st} - greatest(r.{t}, max(s.{_q(END)})) - {self.grace + self.gap} AS late_by "
            f"FROM run_records r LEFT JOIN {self.state} s ON {self._match('r', 's')} AND "
            f"s.{_q(END)} >= r.{t} - {self.gap} AND s.{_q(START)} <= r.{t} + {self.gap} AND "
            f"s.{_q(END)} + {self.retention} > r.{st} WHERE r.{_q(RISKY)} "
            f"GROUP BY r.{row}, r.{t}, r.{st} HAVING late_by > 0", run_records=rows)
        if merged.num_rows == 0:
            return rows
        for row_index, start, late_by in zip(merged.column("row").to_pylist(),
                                             merged.column("start").to_pylist(),
                                             merged.column("late_by").to_pylist()):
            self.late.append(LateRecord(row_index, start, late_by))
        return rows.filter(pc.invert(pc.is_in(rows.column(ROW_INDEX),
                                              value_set=merged.column("row"))))

    def _round(self, rows: pa.Table) -> tuple[pa.Table, pa.Table]:
        """One in-order run per key: every record's changes, with the stored sessions
        updated; and the records deferred to a later round."""
        pieces = self.connection.run(self._pieces_sql(), run_records=rows)
        deferred = rows.slice(0, 0)
        if pc.any(pieces.column("left_expired")).as_py():
            # The session a record would extend expired (passed its retention) by the
            # record's stream time: the record starts a new run, where it is first and
            # the expired session is no longer a candidate.
            match = self._match("r", "c")
            cut = (f"FROM run_records r LEFT JOIN (SELECT {', '.join(self.keys)}, min(idx) AS "
                   f"cut_at FROM pieces WHERE left_expired GROUP BY ALL) c ON {match} WHERE")
            now = f"c.cut_at IS NULL OR r.{_q(ROW_INDEX)} < c.cut_at"
            deferred = self.connection.run(f"SELECT r.* {cut} NOT ({now})", run_records=rows,
                                           pieces=pieces)
            rows = self.connection.run(f"SELECT r.* {cut} {now}", run_records=rows,
                                       pieces=pieces)
            pieces = self.connection.run(self._pieces_sql(), run_records=rows)
        merged = self.connection.run(self._aggregate_sql(), pieces=pieces)
        changes = self.connection.run(self._changes_sql(), merged=merged)
        delete_rows(
            self.connection, self.changes, self.store,
            f"DELETE FROM {self.state} s WHERE EXISTS (SELECT 1 FROM pieces p WHERE "
            f"p.idx IS NULL AND {self._match('p', 's')} AND p.ps = s.{_q(START)})",
            pieces=pieces)
        fields = ", ".join(f for fs in self.fields for f in fs)
        # A session's state partition: that of its key's records (one partition per key).
        task = f"(SELECT max(r.{_q(TASK)}) FROM run_records r WHERE {self._match('r', 'merged')})"
        write_rows(
            self.connection, self.changes, self.store,
            f"INSERT INTO {self.state} ({', '.join(self.keys)}, {_q(START)}, {_q(END)}, "
            f"{fields}, {_q(SENT)}, {_q(TASK)}) SELECT "
            f"{', '.join(self.keys)}, istart, merged_end, {fields}, false, {task} FROM merged "
            f"QUALIFY row_number() OVER (PARTITION BY "
            f"{', '.join(self.keys)}, isl ORDER BY idx DESC) = 1",
            merged=merged, run_records=rows)
        return changes, deferred

    def _pieces_sql(self) -> str:
        """The run's records and the reachable stored sessions, sorted by time per key and
        split into islands, with what each record's arrival sees: the island so far
        (`upto`: its latest end) and the next stored session (`n*`), which it merges when
        within the gap (`touch`); `left_expired`: the session the record extends passed its
        retention before the record arrived."""
        keys = ", ".join(self.keys)
        t, st, row, gap = _q(EVENT_TIME), _q(STREAM_TIME), _q(ROW_INDEX), self.gap
        args = ", ".join(dict.fromkeys(_q(a) for agg in self.spec.aggregates for a in agg.args))
        fields = ", ".join(f for fs in self.fields for f in fs)
        by_key = f"PARTITION BY {keys} ORDER BY ord"
        island = f"PARTITION BY {keys}, isl"
        flat = [f for fs in self.fields for f in fs]
        # the replaced sessions' own aggregates, for HAVING on their tombstones
        next_fields = ", ".join(f"n.{f} AS {n}" for f, n in zip(flat, self._renamed("$n")))
        left_stored = ", ".join(f"lag({f}) OVER w AS {n}"
                                for f, n in zip(flat, self._renamed("$ls")))
        return (
            f"WITH b AS (SELECT {keys}, min({t}) AS lo, max({t}) AS hi, min({st}) AS st FROM "
            f"run_records GROUP BY {keys}), "
            f"c AS (SELECT s.* FROM {self.state} s JOIN b ON {self._match('s', 'b')} WHERE "
            f"s.{_q(END)} >= b.lo - {gap} AND s.{_q(START)} <= b.hi + {gap} AND "
            f"s.{_q(END)} + {self.retention} > b.st), "
            f"p AS (SELECT {keys}, {t} AS ps, {t} AS pe, {row} AS idx, {st} AS pst"
            f"{', ' + args if args else ''} FROM run_records UNION ALL BY NAME SELECT {keys}, "
            f"{_q(START)} AS ps, {_q(END)} AS pe, {fields} FROM c), "
            f"o AS (SELECT *, row_number() OVER (PARTITION BY {keys} ORDER BY ps, idx NULLS "
            f"FIRST) AS ord FROM p), "
            f"i AS (SELECT *, sum(brk) OVER ({by_key} ROWS UNBOUNDED PRECEDING) AS isl FROM "
            f"(SELECT *, CASE WHEN ps - max(pe) OVER ({by_key} ROWS BETWEEN UNBOUNDED "
            f"PRECEDING AND 1 PRECEDING) <= {gap} THEN 0 ELSE 1 END AS brk FROM o)), "
            f"j AS (SELECT *, max(pe) OVER ({island} ORDER BY ord ROWS UNBOUNDED PRECEDING) "
            f"AS upto, min(ps) OVER ({island}) AS istart, min(idx) OVER ({island}) AS "
            f"first_rec, ord = min(ord) OVER ({island}) AS first_piece, min(CASE WHEN idx IS "
            f"NULL THEN ord END) OVER ({by_key} ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED "
            f"FOLLOWING) AS nxt FROM i), "
            f"k AS (SELECT j.*, n.ps AS nps, n.pe AS npe, {next_fields}, "
            f"coalesce(n.ps - j.upto <= {gap}, false) AS touch FROM j LEFT JOIN j n ON "
            f"{self._match('j', 'n')} AND n.ord = j.nxt), "
            f"l AS (SELECT *, lag(touch) OVER w AS prev_touch, lag(upto) OVER w AS prev_upto, "
            f"lag(idx) OVER w AS prev_idx, {left_stored} FROM k "
            f"WHERE first_rec IS NOT NULL WINDOW w AS ({island} ORDER BY ord)) "
            f"SELECT *, coalesce(idx IS NOT NULL AND NOT first_piece AND greatest(prev_upto, "
            f"CASE WHEN prev_touch THEN npe END) + {self.retention} <= pst, false) AS "
            f"left_expired FROM l")

    def _aggregate_sql(self) -> str:
        """Every record's session aggregate: the stored sessions its island merged so far,
        in the order they were merged, and the island's records up to it.

        A stored session is merged by the island's first record (if it starts the island)
        or by the first record that reaches it; `c` counts those merged before a record.
        The aggregate of the part before the c-th stored session is folded recursively
        (c is small: one per stored session merged).
        """
        keys = ", ".join(self.keys)
        row_keys = ", ".join(f"r.{k}" for k in self.keys)
        spec = self.spec
        partials = [[_q(f"$p{i}_{j}") for j in range(len(agg.fields))]
                    for i, agg in enumerate(spec.aggregates)]
        running = ", ".join(
            f"{template.format(*[f'({_q(a)})' for a in agg.args], sign='1')} OVER (PARTITION "
            f"BY {keys}, isl, c ORDER BY idx ROWS UNBOUNDED PRECEDING) AS {partials[i][j]}"
            for i, agg in enumerate(spec.aggregates) for j, template in enumerate(agg.accumulate))
        flat_fields = [f for fs in self.fields for f in fs]
        flat_partials = [p for ps in partials for p in ps]
        # prefix(c) = merge(merge(prefix(c-1), records between), stored session c)
        with_records = self._merged(self._columns("f"), [[f"t.{p}" for p in ps]
                                                          for ps in partials])
        carried = [[f"CASE WHEN t.isl IS NULL THEN f.{f} ELSE {m} END" for f, m in zip(fs, ms)]
                   for fs, ms in zip(self.fields, with_records)]
        step = [m for ms in self._merged(carried, self._columns("x")) for m in ms]
        final = [m for ms in self._merged(self._columns("f"), [[f"r.{p}" for p in ps]
                                                                for ps in partials]) for m in ms]
        fk = self._match("f", "x")
        left_records = ", ".join(
            f"lag({f}) OVER (PARTITION BY {keys}, isl ORDER BY idx) AS {n}"
            for f, n in zip(flat_fields, self._renamed("$lr")))
        return (
            f"WITH RECURSIVE "
            f"m AS (SELECT {keys}, nxt, min(idx) AS jr FROM pieces WHERE idx IS NOT NULL AND "
            f"touch GROUP BY {keys}, nxt), "
            f"j AS (SELECT s.*, CASE WHEN s.first_piece THEN s.first_rec ELSE m.jr END AS jidx, "
            f"CASE WHEN s.first_piece THEN 0 ELSE 1 END AS sub FROM pieces s LEFT JOIN m ON "
            f"{self._match('s', 'm')} AND m.nxt = s.ord WHERE s.idx IS NULL), "
            f"x AS (SELECT *, row_number() OVER (PARTITION BY {keys}, isl ORDER BY jidx, sub) "
            f"AS c FROM j), "
            f"e AS (SELECT idx, isl, {keys}, idx AS pos, 2 AS sub FROM pieces WHERE idx IS NOT "
            f"NULL UNION ALL SELECT NULL, isl, {keys}, jidx, sub FROM j), "
            f"n AS (SELECT idx, sum(CASE WHEN idx IS NULL THEN 1 ELSE 0 END) OVER (PARTITION BY "
            f"{keys}, isl ORDER BY pos, sub ROWS UNBOUNDED PRECEDING) AS c FROM e), "
            f"q AS (SELECT p.* EXCLUDE ({', '.join(flat_fields)}), n.c FROM pieces p JOIN n "
            f"ON n.idx = p.idx), "
            f"r AS (SELECT *, {running} FROM q), "
            f"t AS (SELECT * FROM r QUALIFY row_number() OVER (PARTITION BY {keys}, isl, c "
            f"ORDER BY idx DESC) = 1), "
            f"f({keys}, isl, c, {', '.join(flat_fields)}) AS ("
            f"SELECT DISTINCT {row_keys}, r.isl, 0, {', '.join('z.' + f for f in flat_fields)} "
            f"FROM r LEFT JOIN (SELECT * FROM {self.state} LIMIT 0) z ON false "
            f"UNION ALL SELECT {', '.join('f.' + k for k in self.keys)}, f.isl, f.c + 1, "
            f"{', '.join(step)} FROM f JOIN x ON {fk} AND x.isl = f.isl AND x.c = f.c + 1 "
            f"LEFT JOIN t ON {self._match('f', 't')} AND t.isl = f.isl AND t.c = f.c) "
            f"SELECT *, {left_records} FROM (SELECT r.* EXCLUDE ({', '.join(flat_partials)}), "
            f"{', '.join(f'{m} AS {f}' for m, f in zip(final, flat_fields))}, "
            f"greatest(r.upto, CASE WHEN r.touch THEN r.npe END) AS merged_end "
            f"FROM r JOIN f ON {self._match('r', 'f')} AND f.isl = r.isl AND f.c = r.c)")

    def _changes_sql(self) -> str:
        """Per record: a tombstone for the session it extends (unless that is the record's
        own single-point window again), one for the next session it merges, then its
        merged session."""
        keys = ", ".join(self.keys)
        outputs = (f"{_q(WINDOWSTART)}, {_q(WINDOWEND)}, {_q(MAX_TIME)}, {_q(ROW_INDEX)}, "
                   f"{_q(SEQ)}, {_q(DELETED)}")
        new_window = "NOT (istart = ps AND merged_end = ps)"
        left_end = "greatest(prev_upto, CASE WHEN prev_touch THEN npe END)"
        flat = [f for fs in self.fields for f in fs]
        rest = f"SELECT * EXCLUDE ({', '.join(flat)}), "
        # A tombstone carries the replaced session's aggregate: the previous piece's (a
        # stored session's, or the previous record's merged one), or the next session's.
        left = ", ".join(f"CASE WHEN prev_idx IS NULL THEN {ls} ELSE {lr} END AS {f}" for f, ls, lr
                         in zip(flat, self._renamed("$ls"), self._renamed("$lr")))
        right = ", ".join(f"{n} AS {f}" for f, n in zip(flat, self._renamed("$n")))
        rows = (
            f"{rest}{', '.join(flat)}, istart AS {_q(WINDOWSTART)}, merged_end AS "
            f"{_q(WINDOWEND)}, merged_end AS {_q(MAX_TIME)}, idx AS {_q(ROW_INDEX)}, 2 AS "
            f"{_q(SEQ)}, false AS {_q(DELETED)} FROM "
            f"merged UNION ALL {rest}{left}, istart, {left_end}, {left_end}, idx, 0, true "
            f"FROM merged WHERE NOT first_piece AND {new_window} "
            f"UNION ALL {rest}{right}, nps, npe, npe, idx, 1, true FROM merged "
            f"WHERE touch AND NOT coalesce(prev_touch, false) AND {new_window}")
        # ksqlDB's HAVING is a table filter over (new, old) values: a session row that fails
        # it is not sent, and neither is the tombstone of a session that never passed.
        having = self.spec.having_sql
        passing = f"WHERE coalesce({having}, false) " if having is not None else ""
        return (f"SELECT {keys}, {self._finals_over('c')}, {outputs}, NOT {_q(DELETED)} AS "
                f"{_q(SESSION_LIVE)} FROM ({self._with_finals(rows)}) c {passing}"
                f"ORDER BY {_q(ROW_INDEX)}, {_q(SEQ)}")

    def _with_finals(self, rows: str) -> str:
        return f"SELECT *, {self._finals()} FROM ({rows})"

    def _finals_over(self, alias: str) -> str:
        return ", ".join(f"{alias}.{_q(f'$a{i}')}" for i in range(len(self.spec.aggregates)))

    def _no_changes(self) -> pa.Table:
        keys = ", ".join(self.keys)
        return self.connection.run(
            f"SELECT {keys}, {self._finals_over('c')}, {_q(START)} AS {_q(WINDOWSTART)}, "
            f"{_q(END)} AS {_q(WINDOWEND)}, {_q(END)} AS {_q(MAX_TIME)}, CAST(0 AS BIGINT) AS "
            f"{_q(ROW_INDEX)}, 2 AS {_q(SEQ)}, false AS {_q(DELETED)}, "
            f"{self._live()} FROM ({self._with_finals(f'SELECT * FROM {self.state}')}) "
            "c LIMIT 0")

    def _finish_batch(self) -> None:
        # Sessions past their retention can no longer merge; pull queries stop seeing them.
        unsent_kept = f" AND s.{_q(SENT)}" if self.spec.emit_final else ""
        delete_rows(self.connection, self.changes, self.store,
                    f"DELETE FROM {self.state} s WHERE s.{_q(END)} + {self.retention} <= "
                    f"(SELECT p.stream_time FROM {self.task_times} p WHERE p.task = "
                    f"s.{_q(TASK)}){unsent_kept}")

    def _closed_sessions(self, batch: pa.Table, triggers: dict[int, int]) -> pa.Table:
        """EMIT FINAL: sessions whose end + gap + grace has been reached by the stream time
        of the last record of their state partition that updated a session, once each, by
        end time."""
        trigger = "CASE " + " ".join(f"WHEN {_q(TASK)} = {task} THEN {time}"
                                     for task, time in triggers.items()) + " END"
        closed = f"NOT {_q(SENT)} AND {_q(END)} + {self.gap + self.grace} <= {trigger}" \
            if triggers else "false"
        last_row = batch.num_rows - 1 if batch.num_rows else 0
        keys = ", ".join(self.keys)
        having = self.spec.having_sql
        rows = self.connection.run(
            f"SELECT {keys}, {self._finals_over('c')}, {_q(START)} AS {_q(WINDOWSTART)}, "
            f"{_q(END)} AS {_q(WINDOWEND)}, {_q(END)} AS {_q(MAX_TIME)}, CAST({last_row} AS "
            f"BIGINT) AS {_q(ROW_INDEX)}, 2 AS {_q(SEQ)}, false AS {_q(DELETED)}, "
            f"{self._live()} FROM ("
            f"{self._with_finals(f'SELECT * FROM {self.state} WHERE {closed}')}) c "
            f"{'WHERE coalesce(' + having + ', false) ' if having else ''}"
            f"ORDER BY {_q(END)}, {_q(START)}")
        write_rows(self.connection, self.changes, self.store,
                   f"UPDATE {self.state} SET {_q(SENT)} = true WHERE {closed}")
        return rows

    def snapshot_sql(self) -> str:
        """The committed sessions as the rows `process` would return (for pull queries)."""
        keys = ", ".join(self.keys)
        return (f"SELECT {keys}, {self._finals_over('c')}, {_q(START)} AS {_q(WINDOWSTART)}, "
                f"{_q(END)} AS {_q(WINDOWEND)}, {_q(END)} AS {_q(MAX_TIME)}, CAST(0 AS BIGINT) "
                f"AS {_q(ROW_INDEX)}, {self._live()} FROM "
                f"({self._with_finals(f'SELECT * FROM {self.state}')}) c "
                f"ORDER BY {_q(START)}")

    def state_rows(self) -> int:
        result = self.connection.run(f"SELECT count(*) AS n FROM {self.state}")
        return result.column("n")[0].as_py()

    def drop_state(self) -> None:
        # `_time`: the one stream time of older versions
        for table in (self.state, self.task_times, _q(self.spec.state + "_time")):
            self.connection.run(f"DROP TABLE IF EXISTS {table}")
