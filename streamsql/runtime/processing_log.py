"""The processing log: records that failed to decode or evaluate, with why and where.

Entries go to the processing-log topic (JSON, as ksqlDB's) and to the Python logger.
A bad record never stops a query; it is counted here.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import orjson

from streamsql.log.backend import LogBackend, Record

logger = logging.getLogger("streamsql.processing")


@dataclass(frozen=True)
class ProcessingError:
    reason: str
    topic: str
    partition: int
    offset: int
    kind: str = "DESERIALIZATION_ERROR"  # or EVALUATION_ERROR, TIMESTAMP_ERROR


def null_group_key(columns: list[str]) -> str:
    """Why a record whose GROUP BY columns `columns` evaluated to null is not aggregated."""
    return (f"GROUP BY column(s) {', '.join(columns)} evaluated to null: the record is not "
            "aggregated")


class ProcessingLog:
    def __init__(self, backend: LogBackend, topic: str):
        self.backend = backend
        self.topic = topic
        self.errors_by_query: dict[str, int] = {}
        self._topic_ready = False

    def count(self, query_id: str) -> int:
        return self.errors_by_query.get(query_id, 0)

    async def record(self, query_id: str, errors: list[ProcessingError]) -> None:
        if not errors:
            return
        self.errors_by_query[query_id] = self.errors_by_query.get(query_id, 0) + len(errors)
        now = int(time.time() * 1000)
        records = []
        for err in errors:
            logger.warning("query=%s kind=%s reason=%r topic=%s partition=%d offset=%d",
                           query_id, err.kind, err.reason, err.topic, err.partition, err.offset)
            entry = {"level": "ERROR", "logger": f"processing.{query_id}", "time": now,
                     "message": {"type": err.kind, "reason": err.reason, "topic": err.topic,
                                 "partition": err.partition, "offset": err.offset,
                                 "queryId": query_id}}
            records.append(Record(key=None, value=orjson.dumps(entry), timestamp=now))
        if not self._topic_ready:
            await self.backend.create_topic(self.topic, 1)
            self._topic_ready = True
        await self.backend.produce(self.topic, records)
