"""DuckDB databases: the one place (with expr/compile.py) that opens DuckDB connections.

Each query gets its own cursor so that the Arrow batches it registers never clash
with another query's. Stateful operators (later) keep their tables in the same file.
"""
from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa


class EvaluationError(Exception):
    """DuckDB could not evaluate a statement over a batch (e.g. a value out of range)."""


class StateStore:
    """The engine's DuckDB database: in memory, or a file under the data directory."""

    def __init__(self, path: Path | None = None):
        self.path = path
        self._connection = duckdb.connect(str(path) if path else ":memory:")
        # ksqlDB is single-threaded per task; one DuckDB thread per query keeps 2 cores free
        # for decoding and I/O and avoids oversubscription with several queries.
        self._connection.execute("SET threads TO 1")

    def create_sequences(self, names) -> None:
        """The sequences functions count calls with (see FunctionRegistry.sequences)."""
        for name in sorted(names):
            self._connection.execute(f'CREATE SEQUENCE IF NOT EXISTS "{name}"')

    def cursor(self) -> "QueryConnection":
        return QueryConnection(self._connection.cursor())

    def close(self) -> None:
        self._connection.close()


class QueryConnection:
    """A query's own DuckDB connection: run SQL over registered Arrow batches."""

    def __init__(self, connection: duckdb.DuckDBPyConnection):
        self._connection = connection

    def run(self, sql: str, **relations: pa.Table) -> pa.Table:
        for name, table in relations.items():
            self._connection.register(name, table)
        try:
            return self._connection.sql(sql).to_arrow_table()
        except duckdb.Error as err:
            raise EvaluationError(str(err).splitlines()[0]) from err
        finally:
            for name in relations:
                self._connection.unregister(name)

    def begin(self) -> None:
        """Open a transaction: the statements until commit() become durable together."""
        self._connection.execute("BEGIN TRANSACTION")

    def commit(self) -> None:
        self._connection.execute("COMMIT")

    def rollback(self) -> None:
        self._connection.execute("ROLLBACK")

    def close(self) -> None:
        self._connection.close()
