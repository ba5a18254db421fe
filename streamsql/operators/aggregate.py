"""GROUP BY aggregation over a micro-batch, with the groups' state in a DuckDB table.

Per batch, in a few set-based statements (no per-record round trips):
  1. project grouping keys and aggregate arguments; rows with a null key are in no
     group: reported, not aggregated;
  2. assign each row its window(s); rows whose window closed (end + grace <= the stream
     time of their source partition as of the row) are late: reported, not aggregated.
     The per-row stream times are computed only when the batch's times say a row can be
     late at all;
  3. running aggregates per (group, window) over the batch, merged with the stored
     state, give every row the result as record-at-a-time processing would. With the
     record cache on (only the last update per group and window is emitted) or EMIT
     FINAL, a GROUP BY gives those last updates directly, unless an aggregate depends on
     the rows' order;
  4. the last update of each (group, window) is merged into its stored state (one MERGE);
     the partitions' stream times are one upsert; windows past their retention are
     purged when some can be.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from streamsql.analyzer.analyzer import ROW_INDEX
from streamsql.catalog.schema import WINDOWEND, WINDOWSTART
from streamsql.planner.physical import (BATCH_RELATION, EVENT_TIME, MAX_TIME, PRESENT, TASK,
                                       AggregateOperatorSpec)
from streamsql.state.changelog import (Store, StoreChanges, delete_rows, drop_partitions,
                                      write_rows)
from streamsql.state.store import QueryConnection

WINDOW = "$ws"
STREAM_TIME = "$st"  # of the record's task (source partition), as of the record
SEQ = "$seq"  # over a table: 0 retracts the old row, 1 adds the new one
SIGN = "$sign"
SILENT = "$silent"  # a retraction followed by an addition to the same group: no output
SENT = "$sent"  # EMIT FINAL: the window's final result was emitted
SHOWN = "$shown"  # the group's row is in the result table (it passed HAVING)
LAST = "$last"  # the row is its (group, window)'s last update in the batch: it is stored
_STORED_SHOWN, _WAS_SHOWN = "$stored_shown", "$was_shown"
# The row's state partition: the input partition that first wrote it (it never moves, so
# each key's changelog records stay in one changelog partition).
_STATE_TASK = "$state_task"
_PARTIAL_TIME = "$pts"


def _advances(pre: pa.Table, previous: dict[int, int]) -> list[tuple[int, int]]:
    """(task, stream time) each time a task's stream time (from `previous`, over its rows
    in order) moved forward, in row order."""
    tasks = pre.column(TASK).combine_chunks()
    times = pre.column(EVENT_TIME).combine_chunks().cast(pa.int64())
    found = []
    for task in pc.unique(tasks).to_pylist():
        rows = pc.indices_nonzero(pc.equal(tasks, task))
        own = pc.take(times, rows)
        running = pc.cumulative_max(pa.concat_arrays(
            [pa.array([previous.get(task, -1)], pa.int64()), own]))
        moved = pc.indices_nonzero(pc.greater(running.slice(1), running.slice(0, len(own))))
        found += zip(pc.take(rows, moved).to_pylist(), [task] * len(moved),
                     pc.take(own, moved).to_pylist())
    return [(task, time) for _, task, time in sorted(found)]


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass
class LateRecord:
    row: int
    window_start: int
    late_by_ms: int


@dataclass
class UngroupedRecord:
    """A record a GROUP BY column of which evaluated to null: it is in no group."""

    row: int
    null_columns: tuple[int, ...]  # positions of the null GROUP BY columns


def split_ungrouped(pre: pa.Table, groups: tuple[str, ...], present: str | None = None
                    ) -> tuple[pa.Table, list[UngroupedRecord]]:
    """`pre` without its rows that have a null GROUP BY column, and those rows (over a
    table, `present` rows only: a deleted row leaves its group whatever its key)."""
    nulls = [pc.is_null(pre.column(g)) for g in groups]
    ungrouped = nulls[0]
    for null in nulls[1:]:
        ungrouped = pc.or_(ungrouped, null)
    reported = ungrouped if present is None else \
        pc.and_(ungrouped, pc.fill_null(pre.column(present), False))
    if not pc.any(reported).as_py():
        return pre, []
    rows = pre.column(ROW_INDEX).filter(reported).to_pylist()
    flags = [null.filter(reported).to_pylist() for null in nulls]
    records = [UngroupedRecord(row, tuple(i for i, f in enumerate(flags) if f[n]))
               for n, row in enumerate(rows)]
    return (pre if present is not None else pre.filter(pc.invert(ungrouped))), records


class AggregateOperator:
    def __init__(self, spec: AggregateOperatorSpec, connection: QueryConnection,
                 empty_batch: pa.Table):
        self.spec = spec
        self.connection = connection
        self.state = _q(spec.state)
        self.meta = _q(spec.state + "_time")
        self.late: list[LateRecord] = []
        self.ungrouped: list[UngroupedRecord] = []
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
            f"CAST(NULL AS BOOLEAN) AS {_q(SHOWN)}, false AS {_q(SENT)}, "
            f"CAST(0 AS INTEGER) AS {_q(TASK)} FROM pre LIMIT 0", pre=pre)
        # State kept by a version without state partitions: all of it in partition 0.
        self.connection.run(f"ALTER TABLE {self.state} ADD COLUMN IF NOT EXISTS {_q(TASK)} "
                            "INTEGER DEFAULT 0")
        # With a changelog (Kafka scale-out), what each batch does to the stores.
        self.changes: StoreChanges | None = None
        self._stores = [Store("Aggregate-Aggregate-Materialize", spec.state,
                              (*spec.groups, WINDOW), TASK)]
        if spec.source_keys:
            self._stores.append(Store("KsqlTopic-Reduce", spec.state + "_source",
                                      spec.source_keys, TASK))
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
            self.connection.run(f"ALTER TABLE {self.source} ADD COLUMN IF NOT EXISTS "
                                f"{_q(TASK)} INTEGER DEFAULT 0")
            self.order = [ROW_INDEX, SEQ]
        # The query's stream time is the newest of its partitions' stream times (stored with
        # every batch); the meta table has it where a restore or an older version wrote it.
        found = self.connection.run(
            f"SELECT greatest((SELECT max(stream_time) FROM {self.meta}), "
            f"(SELECT max(stream_time) FROM {self.task_times})) AS t")
        self.stream_time = found.column("t")[0].as_py()
        if self.stream_time is None:
            self.stream_time = -1
        # Only the last update per group and window is needed (and not an order-dependent
        # aggregate): one GROUP BY instead of running aggregates per row.
        self._grouped = (spec.emit_final or not spec.every_update) and not any(
            agg.ordered for agg in spec.aggregates)
        # Windows are purged by their own state partition's stream time, as each Kafka
        # Streams task expires its own windows: a partition that lags (catching up) keeps
        # windows that another one is long past.
        self._task_times = self._stored_task_times()
        # Per state partition, no stored window starts before this; the purge skips
        # batches that cannot delete anything.
        self._oldest_window = self._stored_oldest_windows()
        # EMIT FINAL: per state partition, horizon // advance when last purged
        self._purged_step: dict[int, int] = {}
        self._purge_due = False  # EMIT FINAL: windows were marked sent since the last purge
        self._no_closed_rows: pa.Table | None = None  # EMIT FINAL: nothing closed (schema)

    @staticmethod
    def _field(i: int, j: int) -> str:
        return f"$f{i}_{j}"

    def stores(self) -> list[Store]:
        """The state tables that a changelog must carry (named as ksqlDB names its stores)."""
        return self._stores

    def keep_partitions(self, partitions: set[int]) -> None:
        """Forget the state of every other state partition (it moved to another process)."""
        for store in self._stores:
            drop_partitions(self.connection, store, partitions)
        drop_partitions(self.connection, Store("", self.spec.state + "_task_time", (), "task"),
                        partitions)
        self._task_times = self._stored_task_times()
        self._oldest_window = self._stored_oldest_windows()

    def _stored_task_times(self) -> dict[int, int]:
        rows = self.connection.run(f"SELECT task, stream_time FROM {self.task_times}")
        return dict(zip(rows.column("task").to_pylist(), rows.column("stream_time").to_pylist()))

    def _stored_oldest_windows(self) -> dict[int, float]:
        rows = self.connection.run(f"SELECT {_q(TASK)} AS task, min({_q(WINDOW)}) AS w FROM "
                                   f"{self.state} GROUP BY ALL")
        return dict(zip(rows.column("task").to_pylist(), rows.column("w").to_pylist()))

    def restored(self, partitions: set[int]) -> None:
        """After state partitions were restored: their stream times are their newest rows'
        record times (the newest record of a partition always updates a window that is still
        kept), and the query's stream time is at least the newest of those."""
        listed = ", ".join(map(str, sorted(partitions)))
        if not listed:
            return
        self.connection.run(f"DELETE FROM {self.task_times} WHERE task IN ({listed})")
        self.connection.run(
            f"INSERT INTO {self.task_times} SELECT {_q(TASK)}, max({_q(MAX_TIME)}) FROM "
            f"{self.state} WHERE {_q(TASK)} IN ({listed}) GROUP BY {_q(TASK)}")
        found = self.connection.run(f"SELECT max(stream_time) AS t FROM {self.task_times}")
        newest = found.column("t")[0].as_py()
        if newest is not None and newest > self.stream_time:
            self.stream_time = newest
            self.connection.run(f"DELETE FROM {self.meta}")
            self.connection.run(f"INSERT INTO {self.meta} VALUES ({self.stream_time})")
        self._task_times = self._stored_task_times()
        self._oldest_window = self._stored_oldest_windows()

    def _upsert(self, sql: str, store_index: int = 0, **relations: pa.Table) -> None:
        write_rows(self.connection, self.changes, self._stores[store_index], sql, **relations)

    def _delete(self, sql: str, store_index: int = 0, **relations: pa.Table) -> None:
        delete_rows(self.connection, self.changes, self._stores[store_index], sql, **relations)

    def _source_columns(self) -> list[str]:
        return [*self.spec.source_keys, *self.spec.groups,
                *(a for agg in self.spec.aggregates for a in agg.args), TASK]

    def process(self, batch: pa.Table) -> pa.Table:
        """One row per (input row, window) with every aggregate's value, in input order;
        with the record cache on, one per updated (group, window), in order of its last
        update; with EMIT FINAL, one per window that closed."""
        if self.spec.source_keys:
            return self._process_changelog(batch)
        spec = self.spec
        pre, ungrouped = split_ungrouped(
            self.connection.run(spec.pre_sql, **{BATCH_RELATION: batch}), spec.groups)
        self.ungrouped += ungrouped
        times = pre.column(EVENT_TIME)
        # Windows close (EMIT FINAL) and are purged by their task's stream time.
        advances = _advances(pre, self._task_times) if spec.emit_final else []
        if self._may_be_late(times):
            expanded = self._drop_late(self.connection.run(self._late_sql(), pre=pre))
            aggregated = self.connection.run(self._aggregate_sql(self._grouped),
                                             expanded=expanded)
        else:
            aggregated = self.connection.run(self._aggregate_sql(self._grouped, windows=True),
                                             pre=pre)
        if pre.num_rows:
            self.stream_time = max(self.stream_time, pc.max(times).as_py())
            newest = pre.group_by(TASK).aggregate([(EVENT_TIME, "max")])
            for task, time in zip(newest.column(TASK).to_pylist(),
                                  newest.column(f"{EVENT_TIME}_max").to_pylist()):
                self._task_times[task] = max(self._task_times.get(task, time), time)
            self.connection.run(
                f"INSERT INTO {self.task_times} SELECT * FROM newest ON CONFLICT (task) DO "
                "UPDATE SET stream_time = greatest(stream_time, excluded.stream_time)",
                newest=newest)
        self._store(aggregated)
        if spec.emit_final:
            return self._closed_windows(batch, advances)
        aggregated = self._visible(aggregated)
        if not spec.every_update and not self._grouped and aggregated.num_rows:
            aggregated = self._latest_per_group(aggregated)
        return aggregated

    def _may_be_late(self, times: pa.ChunkedArray) -> bool:
        """Whether some row of the batch can be late. A row's windows end after its time
        and the stream time as of the row is at most the newest time seen, so if the
        oldest time plus the grace reaches that, no row is late."""
        window = self.spec.window
        if window is None or len(times) == 0:
            return False
        newest = max(self.stream_time, pc.max(times).as_py())
        return pc.min(times).as_py() + window.grace_ms < newest

    def _late_sql(self) -> str:
        """The rows of `pre` per window, with the stream time of their task as of the row."""
        running = (f"max(e.{_q(EVENT_TIME)}) OVER (PARTITION BY e.{_q(TASK)} ORDER BY "
                   f"e.{_q(ROW_INDEX)} ROWS UNBOUNDED PRECEDING)")
        return (f"SELECT e.*, greatest(coalesce(t.stream_time, -1), {running}) AS "
                f"{_q(STREAM_TIME)} FROM ({self._windows_sql()}) e LEFT JOIN {self.task_times} "
                f"t ON t.task = e.{_q(TASK)} ORDER BY e.{_q(ROW_INDEX)}, e.{_q(WINDOW)}")

    def _visible(self, aggregated: pa.Table) -> pa.Table:
        """The rows that change the result table under HAVING: a group that passes is
        upserted; one that stops passing is deleted (a tombstone) once; one that never
        passed produces nothing, as ksqlDB's table filter does."""
        if self.spec.having_sql is None or self.spec.emit_final:
            return aggregated
        return aggregated.filter(pc.or_(aggregated.column(SHOWN), aggregated.column(_WAS_SHOWN)))

    def _closed_windows(self, batch: pa.Table, advances: list[tuple[int, int]]) -> pa.Table:
        """EMIT FINAL: each time a task's stream time advances, its windows that close at
        exactly that time (start = stream time - grace - size) emit their final result, once.

        This is the observable behaviour of ksqlDB's emit-on-window-close, which its tests
        pin down: a window whose close time is jumped over is not emitted.
        """
        window = self.spec.window
        starts = [(task, t - window.grace_ms - window.size_ms) for task, t in advances]
        if window.kind in ("TUMBLING", "HOPPING"):
            # Windows start only at multiples of the advance: the other times close none,
            # and leaving them out keeps the statement small (a batch advances thousands
            # of times).
            step = window.size_ms if window.kind == "TUMBLING" else window.advance_ms
            starts = [(task, s) for task, s in starts if s % step == 0]
        if not starts:
            if self._no_closed_rows is None:
                self._no_closed_rows = self._closed_rows(batch, "false")
            return self._no_closed_rows
        closing = [f"{_q(TASK)} = {task} AND {_q(WINDOW)} = {s}" for task, s in starts]
        order = "CASE " + " ".join(f"WHEN {c} THEN {i}" for i, c in enumerate(closing)) + " END"
        due = f"NOT {_q(SENT)} AND ({' OR '.join(f'({c})' for c in closing)})"
        closed = self._closed_rows(batch, due, order)
        self._upsert(f"UPDATE {self.state} SET {_q(SENT)} = true WHERE {due}")
        self._purge_due = True  # sent windows past their retention can go now
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
        self.ungrouped += split_ungrouped(pre, spec.groups, PRESENT)[1]
        # A source key's row is looked up within its task: through a repartition topic
        # (Kafka) a row that moves between groups is, for a while, in two tasks' state.
        keys = [_q(k) for k in spec.source_keys] + [_q(TASK)]
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
            f"CAST(0 AS BIGINT) AS {_q(WINDOW)}, {_q(TASK)} FROM o WHERE {_q('$had')} AND "
            f"{old_known} UNION ALL SELECT {_q(ROW_INDEX)}, 1, 1, {_q(EVENT_TIME)}, {add}, false, "
            f"0, {_q(TASK)} FROM o "
            f"WHERE {_q(PRESENT)} AND {groups_known} ORDER BY {_q(ROW_INDEX)}, {_q(SEQ)}",
            pre=pre)
        aggregated = self.connection.run(self._aggregate_sql(grouped=False), expanded=events)
        self._store(aggregated)
        aggregated = self._visible(aggregated)
        latest = ", ".join(_q(c) for c in self._source_columns())
        self._delete(f"DELETE FROM {self.source} s WHERE EXISTS (SELECT 1 FROM pre c "
                     f"WHERE {match})", 1, pre=pre)
        self._upsert(
            f"INSERT INTO {self.source} SELECT {latest} FROM pre WHERE {_q(PRESENT)} QUALIFY "
            f"row_number() OVER (PARTITION BY {', '.join(keys)} ORDER BY {_q(ROW_INDEX)} DESC) "
            f"= 1 AND {_q(PRESENT)}", 1, pre=pre)
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

    def _aggregate_sql(self, grouped: bool, windows: bool = False) -> str:
        """Every aggregate merged with the stored state, over `expanded` (or, with
        `windows`, over `pre` given its windows here): per input row from running
        aggregates, or `grouped`, once per (group, window) as of its last row."""
        spec = self.spec
        keys = [*spec.groups, WINDOW]
        partition = ", ".join(_q(k) for k in keys)
        over = "" if grouped else " OVER w"
        partials, merged, finals = [], [], []
        for i, agg in enumerate(spec.aggregates):
            args = [f"({_q(a)})" for a in agg.args]
            by_name = {}
            stored = {f"old_{name}": f"s.{_q(self._field(i, j))}"
                      for j, name in enumerate(agg.fields)}
            for j, (name, template) in enumerate(zip(agg.fields, agg.accumulate)):
                field, partial = _q(self._field(i, j)), _q(f"$p{i}_{j}")
                partials.append(f"{template.format(*args, sign=_q(SIGN))}{over} AS {partial}")
                merged.append(f"{agg.merge[j].format(old=f's.{field}', new=f'r.{partial}', **stored)}"
                              f" AS {field}")
                by_name[name] = field
            finals.append(f"CAST({agg.final.format(**by_name)} AS {agg.result_type}) AS "
                          f"{_q(f'$a{i}')}")
        t, row, task = _q(EVENT_TIME), _q(ROW_INDEX), _q(TASK)
        if grouped:
            running = (f"SELECT {partition}, {', '.join(partials)}, max({t}) AS "
                       f"{_q(_PARTIAL_TIME)}, max({row}) AS {row}, arg_max({task}, {row}) AS "
                       f"{task}, true AS {_q(LAST)} FROM expanded GROUP BY {partition}")
        else:
            running = (f"SELECT *, {', '.join(partials)}, max({t}) OVER w AS "
                       f"{_q(_PARTIAL_TIME)}, lead(true) OVER w IS NULL AS {_q(LAST)} FROM "
                       f"expanded WINDOW w AS (PARTITION BY {partition} ORDER BY "
                       f"{self._order()} ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)")
        join = " AND ".join(f"s.{_q(k)} = r.{_q(k)}" for k in keys)
        size = self.spec.window.size_ms if self.spec.window else 0
        steps = [f"expanded AS ({self._windows_sql()})"] if windows else []
        steps += [
            f"r AS ({running})",
            f"m AS (SELECT r.*, {', '.join(merged)}, greatest(s.{_q(MAX_TIME)}, "
            f"r.{_q(_PARTIAL_TIME)}) AS {_q(MAX_TIME)}, s.{_q(SHOWN)} AS {_q(_STORED_SHOWN)}, "
            f"coalesce(s.{_q(TASK)}, r.{_q(TASK)}) AS {_q(_STATE_TASK)} "
            f"FROM r LEFT JOIN {self.state} s ON {join})",
            f"a AS (SELECT *, {', '.join(finals)}, {_q(WINDOW)} AS {_q(WINDOWSTART)}, "
            f"{_q(WINDOW)} + {size} AS {_q(WINDOWEND)} FROM m)"]
        result = "a"
        if spec.having_sql is not None and not spec.emit_final:
            # Whether the row is in the result table, and was before this row.
            before = "" if grouped else \
                f"lag({_q(SHOWN)}) OVER (PARTITION BY {partition} ORDER BY {self._order()}), "
            steps += [f"h AS (SELECT *, coalesce({spec.having_sql}, false) AS {_q(SHOWN)} "
                      "FROM a)",
                      f"v AS (SELECT *, coalesce({before}{_q(_STORED_SHOWN)}, false) AS "
                      f"{_q(_WAS_SHOWN)} FROM h)"]
            result = "v"
        return (f"WITH {', '.join(steps)} SELECT * FROM {result} "
                f"ORDER BY {self._order()}, {_q(WINDOW)}")

    def _order(self, descending: bool = False) -> str:
        return ", ".join(_q(c) + (" DESC" if descending else "") for c in self.order)

    def _store(self, aggregated: pa.Table) -> None:
        """Merge each (group, window)'s last update into the state; purge expired windows."""
        spec = self.spec
        keys = [*spec.groups, WINDOW]
        if aggregated.num_rows:
            match = " AND ".join(f"s.{_q(k)} = a.{_q(k)}" for k in keys)
            fields = [self._field(i, j) for i, agg in enumerate(spec.aggregates)
                      for j in range(len(agg.fields))]
            shown = f"a.{_q(SHOWN)}" if SHOWN in aggregated.column_names else "NULL"
            columns = [*keys, *fields, MAX_TIME]
            self._upsert(
                f"MERGE INTO {self.state} s USING (SELECT * FROM aggregated WHERE {_q(LAST)}) a "
                f"ON {match} WHEN MATCHED THEN UPDATE SET "
                f"{', '.join(f'{_q(c)} = a.{_q(c)}' for c in [*fields, MAX_TIME])}, "
                f"{_q(SHOWN)} = {shown}, {_q(SENT)} = false "
                f"WHEN NOT MATCHED THEN INSERT ({', '.join(_q(c) for c in columns)}, "
                f"{_q(SHOWN)}, {_q(SENT)}, {_q(TASK)}) VALUES "
                f"({', '.join(f'a.{_q(c)}' for c in columns)}, {shown}, false, "
                f"a.{_q(_STATE_TASK)})", aggregated=aggregated)
        window = spec.window
        if window is not None and self._is_purge_due(aggregated):
            # Closed windows are kept for their retention (pull queries read them), then go.
            unsent_kept = f" AND s.{_q(SENT)}" if spec.emit_final else ""
            self._delete(f"DELETE FROM {self.state} s WHERE s.{_q(WINDOW)} + "
                         f"{window.retention_ms} <= (SELECT t.stream_time FROM "
                         f"{self.task_times} t WHERE t.task = s.{_q(TASK)}){unsent_kept}")

    def _is_purge_due(self, aggregated: pa.Table) -> bool:
        """Whether the purge can delete anything in some state partition. No stored window
        of partition p starts before `_oldest_window[p]`, and windows start at multiples of
        the advance; with EMIT FINAL, unsent windows stay past their retention, so the
        purge runs again only once a horizon passes another window start, windows were
        sent, or this batch wrote one already past its horizon."""
        window = self.spec.window
        written: dict[int, int] = {}
        if aggregated.num_rows:
            oldest = aggregated.group_by(_STATE_TASK).aggregate([(WINDOW, "min")])
            written = dict(zip(oldest.column(_STATE_TASK).to_pylist(),
                               oldest.column(f"{WINDOW}_min").to_pylist()))
        for task, start in written.items():
            self._oldest_window[task] = min(self._oldest_window.get(task, start), start)
        due = False
        for task, stream_time in self._task_times.items():
            horizon = stream_time - window.retention_ms  # windows starting here or before go
            if self._oldest_window.get(task, math.inf) > horizon:
                continue
            step = horizon // window.advance_ms
            if not self.spec.emit_final:
                self._oldest_window[task] = (step + 1) * window.advance_ms
                due = True
            elif self._purge_due or step != self._purged_step.get(task) or \
                    written.get(task, math.inf) <= horizon:
                self._purged_step[task] = step
                due = True
        if due:
            self._purge_due = False
        return due

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
