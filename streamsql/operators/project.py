"""Filter and project a decoded batch with the plan's SQL, in one DuckDB statement.

If the statement fails on a batch (a value no expression guard caught), the batch is
split in halves until the failing records are isolated: they are reported back with
the reason and every other record is still processed, in order. The common path stays
one statement.
"""
from __future__ import annotations

import pyarrow as pa

from streamsql.analyzer.analyzer import ROW_INDEX
from streamsql.planner.physical import ProjectOperatorSpec
from streamsql.state.store import EvaluationError, QueryConnection


class ProjectOperator:
    def __init__(self, spec: ProjectOperatorSpec, connection: QueryConnection):
        self.spec = spec
        self.connection = connection

    def process(self, table: pa.Table) -> tuple[pa.Table, list[tuple[int, str]]]:
        """The projected rows, and (ROW_INDEX, reason) of rows that could not be evaluated."""
        try:
            return self._run(table), []
        except EvaluationError:
            pass
        failed: list[tuple[int, str]] = []
        parts = self._isolate(table, failed)
        return (pa.concat_tables(parts) if parts else self._run(table.slice(0, 0))), failed

    def _run(self, table: pa.Table) -> pa.Table:
        return self.connection.run(self.spec.sql, **{self.spec.relation: table})

    def _isolate(self, table: pa.Table, failed: list[tuple[int, str]]) -> list[pa.Table]:
        try:
            return [self._run(table)]
        except EvaluationError as err:
            if table.num_rows == 1:
                failed.append((table.column(ROW_INDEX)[0].as_py(), str(err)))
                return []
            half = table.num_rows // 2
            return self._isolate(table.slice(0, half), failed) + \
                self._isolate(table.slice(half), failed)
