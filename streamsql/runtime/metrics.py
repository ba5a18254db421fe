"""What a query has done, counted once per batch: records in and out, processing errors,
per-second rates over a sliding window, and consumer lag per source partition.

Queries update their QueryMetrics; SHOW/DESCRIBE and the server's /metrics only read
snapshots of them. Nothing here does I/O except refresh_log_end, which asks the log.
"""
from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import Callable

from streamsql.log.backend import LogBackend

# Rates are averaged over this many seconds (or since the query started, if later), so a
# scrape every 15 to 60 seconds sees a steady figure rather than the last batch's burst.
RATE_WINDOW_SECONDS = 60.0


@dataclass
class PartitionOffsets:
    """One source partition as the query's consumer group sees it."""

    topic: str
    partition: int
    log_start: int
    log_end: int
    committed: int

    @property
    def lag(self) -> int:
        return max(self.log_end - self.committed, 0)


@dataclass(frozen=True)
class Rates:
    records_in: float
    records_out: float
    errors: float


class QueryMetrics:
    """Counters and offsets of one query; call the record_* methods once per batch.

    Input and errors are kept per source topic, so a source's DESCRIBE counts only what
    its own topic contributed to a join.
    """

    def __init__(self, clock: Callable[[], float] = time.time):
        self._clock = clock
        self.consumed: dict[str, int] = {}  # records read, by source topic
        self.failed: dict[str, int] = {}  # records that failed, by source topic
        self.records_out = 0
        self.started_at = clock()
        self.last_batch_at: float | None = None  # when a record last came in
        self.last_output_at: float | None = None
        self.last_error_at: float | None = None
        self.partitions: dict[tuple[str, int], PartitionOffsets] = {}
        # (time, source topic, records in, records out, errors) per batch in the rate window
        self._recent: deque[tuple[float, str | None, int, int, int]] = deque()

    @property
    def records_in(self) -> int:
        return sum(self.consumed.values())

    @property
    def errors(self) -> int:
        return sum(self.failed.values())

    def record_input(self, topic: str, records: int, errors: int) -> None:
        """A batch was consumed: `records` read, of which `errors` could not be processed."""
        now = self._clock()
        self.consumed[topic] = self.consumed.get(topic, 0) + records
        self.last_batch_at = now
        self.record_errors(topic, errors)
        self._remember(now, topic, records, 0, 0)

    def record_output(self, records: int) -> None:
        """A batch's results were produced (or, for a push query, sent)."""
        if not records:
            return
        now = self._clock()
        self.records_out += records
        self.last_output_at = now
        self._remember(now, None, 0, records, 0)

    def record_errors(self, topic: str, errors: int) -> None:
        """Records of `topic` that could not be processed (decoded, evaluated, encoded)."""
        if not errors:
            return
        now = self._clock()
        self.failed[topic] = self.failed.get(topic, 0) + errors
        self.last_error_at = now
        self._remember(now, topic, 0, 0, errors)

    def record_position(self, topic: str, partition: int, *, committed: int, log_end: int,
                        log_start: int = 0) -> None:
        """Where the query's group stands in a source partition, and where the log ends."""
        known = self.partitions.get((topic, partition))
        if known is None:
            self.partitions[topic, partition] = PartitionOffsets(topic, partition, log_start,
                                                                 log_end, committed)
        else:
            known.committed, known.log_end = committed, log_end

    @property
    def lag(self) -> int:
        return sum(p.lag for p in self.partitions.values())

    def rates(self, topic: str | None = None) -> Rates:
        """Records per second in, out and failed over the last RATE_WINDOW_SECONDS; with
        `topic`, input and errors of that source topic only."""
        now = self._clock()
        self._forget_before(now - RATE_WINDOW_SECONDS)
        span = min(RATE_WINDOW_SECONDS, max(now - self.started_at, 1.0))
        mine = [entry for entry in self._recent
                if topic is None or entry[1] in (topic, None)]
        records_in = sum(entry[2] for entry in mine)
        records_out = sum(entry[3] for entry in mine)
        errors = sum(entry[4] for entry in mine)
        return Rates(records_in / span, records_out / span, errors / span)

    def _remember(self, now: float, topic: str | None, records_in: int, records_out: int,
                  errors: int) -> None:
        self._recent.append((now, topic, records_in, records_out, errors))
        self._forget_before(now - RATE_WINDOW_SECONDS)

    def _forget_before(self, cutoff: float) -> None:
        while self._recent and self._recent[0][0] < cutoff:
            self._recent.popleft()


async def refresh_log_end(metrics: QueryMetrics, backend: LogBackend) -> None:
    """Bring each partition's log start and end up to date, so lag is current even while
    the query is idle, stopped or failed (its committed offsets stay where they are)."""
    for offsets in metrics.partitions.values():
        offsets.log_end = await backend.end_offset(offsets.topic, offsets.partition)
        offsets.log_start = await backend.start_offset(offsets.topic, offsets.partition)
