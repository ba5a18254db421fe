"""GROUP BY aggregation over a micro-batch, with the groups' state in a DuckDB table.

Per batch, in a few set-based statements (no per-record round trips):
  1. project grouping keys and aggregate arguments; drop rows with a null key;
  2. assign each row its window(s) and the stream time as of that row; rows whose
     window closed (end + grace <= stream time) are late: reported, not aggregated;
  3. running aggregates per (group, window) over the batch, merged with the stored
     state, give every row the result as record-at-a-time processing would;
  4. the last row of each (group, window) replaces its stored state; windows past
     their retention are purged.
With the record cache on, only the last update per (group, window) is emitted.
"""
from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from streamsql.analyzer.analyzer import ROW_INDEX
from streamsql.catalog.schema import WINDOWEND, WINDOWSTART
from streamsql.planner.physical import (BATCH_RELATION, EVENT_TIME, MAX_TIME, PRESENT, TASK,
                                       AggregateOperatorSpec)
from streamsql.state.store import QueryConnection

WINDOW = "$ws"
STREAM_TIME = "$st"  # of the record's task (source partition), as of the record
QUERY_TIME = "$qt"  # the largest record time the query has seen, as of the record
SEQ = "$seq"  # over a table: 0 retracts the old row, 1 adds the new one
SIGN = "$sign"
SILENT = "$silent"  # a retraction followed by an addition to the same group: no output
SENT = "$sent"  # EMIT FINAL: the window's final result was emitted
SHOWN = "$shown"  # the group's row is in the result table (it passed HAVING)
_STORED_SHOWN, _WAS_SHOWN = "$stored_shown", "$was_shown"
_PARTIAL_TIME = "$pts"


def _advances(stream_times: pa.ChunkedArray, previous: int) -> list[int]:
    """The stream times at which the running stream time moved forward, in order."""
    times = stream_times.combine_chunks() if isinstance(stream_times, pa.ChunkedArray) \
        else stream_times
    if len(times) == 0:
        return []
    times = times.cast(pa.int64())
    before = pa.concat_arrays([pa.array([previous], pa.int64()), times.slice(0, len(times) - 1)])
    return times.filter(pc.greater(times, before)).to_pylist()


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass
class LateRecord:
    row: int
    window_start: int
    late_by_ms: int


class AggregateOperator:
    def __init__(self, spec: AggregateOperatorSpec, connection: QueryConnection,
                 empty_batch: pa.Table):
        self.spec = spec
        self.connection = connection
        self.state = _q(spec.state)
        self.meta = _q(spec.state + "_time")
        self.late: list[LateRecord] = []
        pre = self.connection.run(spec.pre_sql, **{BATCH_RELATION: empty_batch})
        # The state's column types are those of a running aggregate (over no rows here)
        # merged into no stored state.
        fields = ", ".join(
            f"{merge.format(old='NULL', new=running, **{f'old_{n}': 'NULL' for n in agg.fields})}"
            f" AS {_q(self._field(i, j))}"
            for i, agg in enumerate(spec.aggregates)
            for j, (template, merge) in enumerate(zip(agg.accumulate, agg.merge))
            for running in [f"({template.format(*[f'({_q(a)})' for a in agg.args], sign='1')} "
                            "OVER ())"])
        groups = ", ".join(_q(g) for g in spec.groups)
        self.connection.run(
            f"CREATE TABLE IF NOT EXISTS {self.state} AS SELECT {groups}, CAST(0 AS BIGINT) AS "
            f"{_q(WINDOW)}, {fields}, max({_q(EVENT_TIME)}) OVER () AS {_q(MAX_TIME)}, "
            f"CAST(NULL AS BOOLEAN) AS {_q(SHOWN)}, false AS {_q(SENT)} FROM pre LIMIT 0",
            pre=pre)
        self.connection.run(f"CREATE TABLE IF NOT EXISTS {self.meta} (stream_time BIGINT)")
        self.task_times = _q(spec.state + "_task_time")
        self.connection.run(f"CREATE TABLE IF NOT EXISTS {self.task_times} "
                            "(task INTEGER PRIMARY KEY, stream_time BIGINT)")
        self.source = _q(spec.state + "_source")
        self.order = [ROW_INDEX]
        if spec.source_keys:
            # Over a table: the source's current rows, to retract a row's old contribution.
            columns = ", ".join(_q(c) for c in self._source_columns())
            self.connection.run(f"CREATE TABLE IF NOT EXISTS {self.source} AS SELECT {columns} "
                                "FROM pre LIMIT 0", pre=pre)
            self.order = [ROW_INDEX, SEQ]
        found = self.connection.run(f"SELECT max(stream_time) AS t FROM {self.meta}")
        self.stream_time = found.column("t")[0].as_py()
        if self.stream_time is None:
            self.stream_time = -1

    @staticmethod
    def _field(i: int, j: int) -> str:
        return f"$f{i}_{j}"

    def _source_columns(self) -> list[str]:
        return [*self.spec.source_keys, *self.spec.groups,
                *(a for agg in self.spec.aggregates for a in agg.args)]

    def process(self, batch: pa.Table) -> pa.Table:
        """One row per (input row, window) with every aggregate's value, in input order."""
        if self.spec.source_keys:
            return self._process_changelog(batch)
        spec = self.spec
        not_null = " AND ".join(f"{_q(g)} IS NOT NULL" for g in spec.groups)
        running = f"max(p.{_q(EVENT_TIME)}) OVER ({{}}ORDER BY p.{_q(ROW_INDEX)} ROWS " \
                  "UNBOUNDED PRECEDING)"
        pre = self.connection.run(
            f"SELECT p.*, greatest(coalesce(t.stream_time, -1), "
            f"{running.format(f'PARTITION BY p.{_q(TASK)} ')}) AS {_q(STREAM_TIME)}, "
            f"greatest({self.stream_time}, {running.format('')}) AS {_q(QUERY_TIME)} "
            f"FROM ({spec.pre_sql}) p LEFT JOIN {self.task_times} t ON t.task = p.{_q(TASK)} "
            f"WHERE {not_null} ORDER BY p.{_q(ROW_INDEX)}", **{BATCH_RELATION: batch})
        expanded = self.connection.run(self._windows_sql(), pre=pre)
        expanded = self._drop_late(expanded)
        # Windows close (EMIT FINAL) and are purged by the query's stream time.
        advances = _advances(pre.column(QUERY_TIME), self.stream_time)
        if pre.num_rows:
            self.stream_time = max(self.stream_time, pre.column(QUERY_TIME)[-1].as_py())
            self.connection.run(
                f"INSERT OR REPLACE INTO {self.task_times} SELECT {_q(TASK)}, "
                f"max({_q(STREAM_TIME)}) FROM pre GROUP BY {_q(TASK)}", pre=pre)
        aggregated = self.connection.run(self._aggregate_sql(), expanded=expanded)
        if spec.emit_final:
            self._store(aggregated)
            return self._closed_windows(batch, advances)
        if spec.having_sql is not None:
            aggregated = self._apply_having(aggregated)
        self._store(aggregated)
        if not spec.every_update and aggregated.num_rows:
            aggregated = self._latest_per_group(aggregated)
        return aggregated

    def _closed_windows(self, batch: pa.Table, advances: list[int]) -> pa.Table:
        """EMIT FINAL: each time stream time advances, the windows that close at exactly
        that time (start = stream time - grace - size) emit their final result, once.

        This is the observable behaviour of ksqlDB's emit-on-window-close, which its tests
        pin down: a window whose close time is jumped over is not emitted.
        """
        window = self.spec.window
        starts = [t - window.grace_ms - window.size_ms for t in advances]
        if window.kind in ("TUMBLING", "HOPPING"):
            # Windows start only at multiples of the advance: the other times close none,
            # and leaving them out keeps the statement small (a batch advances thousands
            # of times).
            step = window.size_ms if window.kind == "TUMBLING" else window.advance_ms
            starts = [s for s in starts if s % step == 0]
        if not starts:
            return self._closed_rows(batch, "false")
        order = "CASE " + " ".join(f"WHEN {_q(WINDOW)} = {s} THEN {i}"
                                    for i, s in enumerate(starts)) + " END"
        due = f"NOT {_q(SENT)} AND {_q(WINDOW)} IN ({', '.join(map(str, starts))})"
        closed = self._closed_rows(batch, due, order)
        self.connection.run(f"UPDATE {self.state} SET {_q(SENT)} = true WHERE {due}")
        return closed

    def _closed_rows(self, batch: pa.Table, due: str, order: str = "1") -> pa.Table:
        spec, window = self.spec, self.spec.window
        finals = []
        for i, agg in enumerate(spec.aggregates):
            by_name = {name: _q(self._field(i, j)) for j, name in enumerate(agg.fields)}
            finals.append(f"CAST({agg.final.format(**by_name)} AS {agg.result_type}) AS "
                          f"{_q(f'$a{i}')}")
        # Output rows carry the batch's last input row for headers (none for a window).
        last_row = batch.num_rows - 1 if batch.num_rows else 0
        closed = self.connection.run(
            f"SELECT *, {', '.join(finals)}, {_q(WINDOW)} AS {_q(WINDOWSTART)}, {_q(WINDOW)} + "
            f"{window.size_ms} AS {_q(WINDOWEND)}, CAST({last_row} AS BIGINT) AS "
            f"{_q(ROW_INDEX)} FROM {self.state} WHERE {due} ORDER BY {order}, {_q(MAX_TIME)}")
        if spec.having_sql is not None and closed.num_rows:
            closed = self.connection.run(
                f"SELECT * FROM aggregated WHERE coalesce({spec.having_sql}, false)",
                aggregated=closed)
        return closed

    def _process_changelog(self, batch: pa.Table) -> pa.Table:
        """Over a table: each update retracts the row's old values from its old group, then
        adds the new values to its new group (one output when both are the same group)."""
        spec = self.spec
        pre = self.connection.run(spec.pre_sql, **{BATCH_RELATION: batch})
        keys = [_q(k) for k in spec.source_keys]
        carried = [*spec.groups, *(a for agg in spec.aggregates for a in agg.args)]
        by_key = f"PARTITION BY {', '.join(keys)} ORDER BY {_q(ROW_INDEX)}"
        lags = ", ".join(f"lag({_q(c)}) OVER k AS {_q('$prev' + c)}" for c in carried)
        olds = ", ".join(f"CASE WHEN {_q('$rn')} = 1 THEN s.{_q(c)} ELSE c.{_q('$prev' + c)} "
                         f"END AS {_q('$old' + c)}" for c in carried)
        match = " AND ".join(f"s.{k} IS NOT DISTINCT FROM c.{k}" for k in keys)
        groups_known = " AND ".join(f"{_q(g)} IS NOT NULL" for g in spec.groups)
        old_known = " AND ".join(f"{_q('$old' + g)} IS NOT NULL" for g in spec.groups)
        same_group = " AND ".join(f"{_q(g)} IS NOT DISTINCT FROM {_q('$old' + g)}"
                                  for g in spec.groups)
        retract = ", ".join(f"{_q('$old' + c)} AS {_q(c)}" for c in carried)
        add = ", ".join(_q(c) for c in carried)
        events = self.connection.run(
            f"WITH c AS (SELECT *, row_number() OVER k AS {_q('$rn')}, lag({_q(PRESENT)}) OVER k "
            f"AS {_q('$prev_present')}, {lags} FROM pre WINDOW k AS ({by_key})), "
            f"o AS (SELECT c.*, CASE WHEN {_q('$rn')} = 1 THEN s.{keys[0]} IS NOT NULL ELSE "
            f"coalesce({_q('$prev_present')}, false) END AS {_q('$had')}, {olds} FROM c "
            f"LEFT JOIN {self.source} s ON {match}) "
            f"SELECT {_q(ROW_INDEX)}, 0 AS {_q(SEQ)}, -1 AS {_q(SIGN)}, {_q(EVENT_TIME)}, "
            f"{retract}, ({_q(PRESENT)} AND {same_group}) AS {_q(SILENT)}, "
            f"CAST(0 AS BIGINT) AS {_q(WINDOW)} FROM o WHERE {_q('$had')} AND {old_known} "
            f"UNION ALL SELECT {_q(ROW_INDEX)}, 1, 1, {_q(EVENT_TIME)}, {add}, false, 0 FROM o "
            f"WHERE {_q(PRESENT)} AND {groups_known} ORDER BY {_q(ROW_INDEX)}, {_q(SEQ)}",
            pre=pre)
        aggregated = self.connection.run(self._aggregate_sql(), expanded=events)
        if spec.having_sql is not None:
            aggregated = self._apply_having(aggregated)
        self._store(aggregated)
        latest = ", ".join(_q(c) for c in self._source_columns())
        self.connection.run(f"DELETE FROM {self.source} s WHERE EXISTS (SELECT 1 FROM pre c "
                            f"WHERE {match})", pre=pre)
        self.connection.run(
            f"INSERT INTO {self.source} SELECT {latest} FROM pre WHERE {_q(PRESENT)} QUALIFY "
            f"row_number() OVER (PARTITION BY {', '.join(keys)} ORDER BY {_q(ROW_INDEX)} DESC) "
            f"= 1 AND {_q(PRESENT)}", pre=pre)
        aggregated = aggregated.filter(pc.invert(aggregated.column(SILENT)))
        if not spec.every_update and aggregated.num_rows:
            aggregated = self._latest_per_group(aggregated)
        return aggregated

    def _windows_sql(self) -> str:
        window = self.spec.window
        t = _q(EVENT_TIME)
        if window is None:
            return f"SELECT *, CAST(0 AS BIGINT) AS {_q(WINDOW)} FROM pre"
        size, advance = window.size_ms, window.advance_ms
        if window.kind == "TUMBLING":
            start = f"{t} - ((({t} % {size}) + {size}) % {size})"
            return f"SELECT *, {start} AS {_q(WINDOW)} FROM pre"
        # HOPPING: every window start (a multiple of ADVANCE) with start <= t < start + size
        last = f"{t} - ((({t} % {advance}) + {advance}) % {advance})"
        first = f"{last} - {((size - 1) // advance) * advance}"
        return (f"SELECT pre.*, w AS {_q(WINDOW)} FROM pre, "
                f"unnest(generate_series({first}, {last}, {advance})) AS g(w) "
                f"WHERE w >= 0 AND {t} < w + {size} ORDER BY {_q(ROW_INDEX)}, w")

    def _drop_late(self, expanded: pa.Table) -> pa.Table:
        window = self.spec.window
        if window is None or expanded.num_rows == 0:
            return expanded
        ends = pc.add(expanded.column(WINDOW), window.size_ms + window.grace_ms)
        open_ = pc.greater(ends, expanded.column(STREAM_TIME))
        if pc.all(open_).as_py():
            return expanded
        late = expanded.filter(pc.invert(open_))
        for row, start, time in zip(late.column(ROW_INDEX).to_pylist(),
                                    late.column(WINDOW).to_pylist(),
                                    late.column(STREAM_TIME).to_pylist()):
            self.late.append(LateRecord(row, start, time - (start + window.size_ms +
                                                            window.grace_ms)))
        return expanded.filter(open_)

    def _aggregate_sql(self) -> str:
        spec = self.spec
        keys = [*spec.groups, WINDOW]
        partition = ", ".join(_q(k) for k in keys)
        running, merged, finals = [], [], []
        for i, agg in enumerate(spec.aggregates):
            args = [f"({_q(a)})" for a in agg.args]
            by_name = {}
            stored = {f"old_{name}": f"s.{_q(self._field(i, j))}"
                      for j, name in enumerate(agg.fields)}
            for j, (name, template) in enumerate(zip(agg.fields, agg.accumulate)):
                field, partial = _q(self._field(i, j)), _q(f"$p{i}_{j}")
                running.append(f"{template.format(*args, sign=_q(SIGN))} OVER w AS {partial}")
                merged.append(f"{agg.merge[j].format(old=f's.{field}', new=f'r.{partial}', **stored)}"
                              f" AS {field}")
                by_name[name] = field
            finals.append(f"CAST({agg.final.format(**by_name)} AS {agg.result_type}) AS "
                          f"{_q(f'$a{i}')}")
        join = " AND ".join(f"s.{_q(k)} IS NOT DISTINCT FROM r.{_q(k)}" for k in keys)
        size = self.spec.window.size_ms if self.spec.window else 0
        return (
            f"WITH r AS (SELECT *, {', '.join(running)}, max({_q(EVENT_TIME)}) OVER w AS "
            f"{_q(_PARTIAL_TIME)} FROM expanded WINDOW w AS (PARTITION BY {partition} ORDER BY "
            f"{self._order()} ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)), "
            f"m AS (SELECT r.*, {', '.join(merged)}, greatest(s.{_q(MAX_TIME)}, "
            f"r.{_q(_PARTIAL_TIME)}) AS {_q(MAX_TIME)}, s.{_q(SHOWN)} AS {_q(_STORED_SHOWN)} "
            f"FROM r LEFT JOIN {self.state} s ON {join}) "
            f"SELECT *, {', '.join(finals)}, {_q(WINDOW)} AS {_q(WINDOWSTART)}, "
            f"{_q(WINDOW)} + {size} AS {_q(WINDOWEND)} FROM m "
            f"ORDER BY {self._order()}, {_q(WINDOW)}")

    def _order(self, descending: bool = False) -> str:
        return ", ".join(_q(c) + (" DESC" if descending else "") for c in self.order)

    def _apply_having(self, aggregated: pa.Table) -> pa.Table:
        """Keep the rows that change the result table: a group that passes HAVING is
        upserted; one that stops passing is deleted (a tombstone) once; one that never
        passed produces nothing, as ksqlDB's table filter does."""
        keys = ", ".join(_q(k) for k in [*self.spec.groups, WINDOW])
        return self.connection.run(
            f"SELECT * FROM (SELECT *, coalesce(lag({_q(SHOWN)}) OVER (PARTITION BY {keys} "
            f"ORDER BY {self._order()}), {_q(_STORED_SHOWN)}, false) AS {_q(_WAS_SHOWN)} FROM "
            f"(SELECT *, coalesce({self.spec.having_sql}, false) AS {_q(SHOWN)} FROM aggregated)) "
            f"WHERE {_q(SHOWN)} OR {_q(_WAS_SHOWN)} ORDER BY {self._order()}, {_q(WINDOW)}",
            aggregated=aggregated)

    def _store(self, aggregated: pa.Table) -> None:
        spec = self.spec
        keys = [*spec.groups, WINDOW]
        if aggregated.num_rows:
            partition = ", ".join(_q(k) for k in keys)
            match = " AND ".join(f"a.{_q(k)} IS NOT DISTINCT FROM s.{_q(k)}" for k in keys)
            fields = [self._field(i, j) for i, agg in enumerate(spec.aggregates)
                      for j in range(len(agg.fields))]
            shown = _q(SHOWN) if SHOWN in aggregated.column_names else "NULL"
            columns = ", ".join(_q(c) for c in [*keys, *fields, MAX_TIME]) + f", {shown}, false"
            self.connection.run(f"DELETE FROM {self.state} s WHERE EXISTS (SELECT 1 FROM "
                                f"aggregated a WHERE {match})", aggregated=aggregated)
            self.connection.run(
                f"INSERT INTO {self.state} SELECT {columns} FROM aggregated QUALIFY "
                f"row_number() OVER (PARTITION BY {partition} ORDER BY {self._order(True)}) = 1",
                aggregated=aggregated)
        self.connection.run(f"DELETE FROM {self.meta}")
        self.connection.run(f"INSERT INTO {self.meta} VALUES ({self.stream_time})")
        window = spec.window
        if window is not None:
            # Closed windows are kept for their retention (pull queries read them), then go.
            unsent_kept = f" AND {_q(SENT)}" if spec.emit_final else ""
            self.connection.run(f"DELETE FROM {self.state} WHERE {_q(WINDOW)} + "
                                f"{window.retention_ms} <= {self.stream_time}{unsent_kept}")

    def _latest_per_group(self, aggregated: pa.Table) -> pa.Table:
        keys = ", ".join(_q(k) for k in [*self.spec.groups, WINDOW])
        return self.connection.run(
            f"SELECT * FROM aggregated QUALIFY row_number() OVER (PARTITION BY {keys} ORDER BY "
            f"{self._order(True)}) = 1 ORDER BY {self._order()}, {_q(WINDOW)}",
            aggregated=aggregated)

    def snapshot_sql(self) -> str:
        """The committed state as the rows `process` would return (for pull queries)."""
        finals = []
        for i, agg in enumerate(self.spec.aggregates):
            by_name = {name: _q(self._field(i, j)) for j, name in enumerate(agg.fields)}
            finals.append(f"CAST({agg.final.format(**by_name)} AS {agg.result_type}) AS "
                          f"{_q(f'$a{i}')}")
        size = self.spec.window.size_ms if self.spec.window else 0
        return (f"SELECT *, {', '.join(finals)}, {_q(WINDOW)} AS {_q(WINDOWSTART)}, "
                f"{_q(WINDOW)} + {size} AS {_q(WINDOWEND)}, CAST(0 AS BIGINT) AS "
                f"{_q(ROW_INDEX)} FROM {self.state} ORDER BY {_q(WINDOW)}")

    def state_rows(self) -> int:
        result = self.connection.run(f"SELECT count(*) AS n FROM {self.state}")
        return result.column("n")[0].as_py()

    def drop_state(self) -> None:
        for table in (self.state, self.meta, self.task_times, self.source):
            self.connection.run(f"DROP TABLE IF EXISTS {table}")
