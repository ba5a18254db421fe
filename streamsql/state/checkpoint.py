"""The ordered commit of a stateful query's batch, so that state and offsets always agree.

A stateful query's input offsets live in its DuckDB database, next to its state, and
change in the same transaction. For each batch:
  1. open a transaction; the operators update their state tables inside it;
  2. produce the batch's outputs to the sink topic (on Kafka, also the state changes to
     the changelog topics) and wait until they are durable;
  3. store the next input offsets in the same database, and commit the transaction;
  4. commit the offsets to the log's consumer group too (lag and tooling read them; on
     Kafka they decide where a partition's next owner starts).
A crash before step 3 rolls state and offsets back together: the batch is processed again
(its outputs may repeat: at-least-once) and nothing is lost or counted twice in the local
state. (A changelog restore after a crash between steps 2 and 4 counts the batch twice,
as in ksqlDB; under exactly-once, steps 2 and 4 are one Kafka transaction.)
"""
from __future__ import annotations

from streamsql.state.store import QueryConnection

_TABLE = '"streamsql_offsets"'


def _text(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


class Checkpoint:
    def __init__(self, connection: QueryConnection, query_id: str):
        self.connection = connection
        self.query_id = query_id
        self._query = _text(query_id)
        self.connection.run(f"CREATE TABLE IF NOT EXISTS {_TABLE} (query_id VARCHAR, "
                            "topic VARCHAR, partition INTEGER, next_offset BIGINT)")

    def offsets(self) -> dict[tuple[str, int], int]:
        """The next offsets to read, as of the last committed batch (empty if none)."""
        rows = self.connection.run(
            f"SELECT topic, partition, next_offset FROM {_TABLE} WHERE query_id = "
            f"{self._query}").to_pylist()
        return {(r["topic"], r["partition"]): r["next_offset"] for r in rows}

    def begin(self) -> None:
        """Step 1."""
        self.connection.begin()

    def commit(self, offsets: dict[tuple[str, int], int]) -> None:
        """Step 3: the offsets and the state the batch changed become durable together."""
        self.forget(list(offsets))
        if offsets:
            rows = ", ".join(f"({self._query}, {_text(topic)}, {int(partition)}, "
                             f"{int(offset)})" for (topic, partition), offset in offsets.items())
            self.connection.run(f"INSERT INTO {_TABLE} VALUES {rows}")
        self.connection.commit()

    def forget(self, partitions: list[tuple[str, int]]) -> None:
        """Drop the offsets of partitions whose state this process no longer holds (in the
        caller's transaction)."""
        if not partitions:
            return
        listed = " OR ".join(f"(topic = {_text(topic)} AND partition = {int(partition)})"
                             for topic, partition in partitions)
        self.connection.run(
            f"DELETE FROM {_TABLE} WHERE query_id = {self._query} AND ({listed})")

    def abort(self) -> None:
        self.connection.rollback()

    def drop_state(self) -> None:
        """The query is gone: its offsets go with its state."""
        self.connection.run(f"DELETE FROM {_TABLE} WHERE query_id = {self._query}")
