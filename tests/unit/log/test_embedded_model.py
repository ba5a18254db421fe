"""Stateful check: random produces, fetches, restarts and retention against a list model."""
from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from streamsql.log import EmbeddedLog, Record

PARTITIONS = 2
optional_bytes = st.none() | st.binary(max_size=30)
records = st.builds(Record, key=optional_bytes, value=optional_bytes,
                    timestamp=st.integers(min_value=0, max_value=10_000),
                    partition=st.integers(min_value=0, max_value=PARTITIONS - 1))


class EmbeddedLogMachine(RuleBasedStateMachine):
    """The model is, per partition, every record ever produced (index = offset) and the
    start offset the log reports; the log must always agree with it."""

    def __init__(self):
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.data_dir = Path(tempfile.mkdtemp())
        self.produced: list[list[Record]] = [[] for _ in range(PARTITIONS)]
        self.log = self._open()
        self.run(self.log.create_topic("t", partitions=PARTITIONS,
                                       config={"retention.bytes": "600"}))

    def run(self, coroutine):
        return self.loop.run_until_complete(coroutine)

    def _open(self) -> EmbeddedLog:
        log = EmbeddedLog(self.data_dir, fsync="never", segment_bytes=256)
        self.run(log.start())
        return log

    @rule(batch=st.lists(records, min_size=1, max_size=8))
    def produce(self, batch):
        offsets = self.run(self.log.produce("t", batch))
        for record, offset in zip(batch, offsets):
            assert offset == len(self.produced[record.partition])
            self.produced[record.partition].append(record)

    @rule(partition=st.integers(0, PARTITIONS - 1), offset=st.integers(0, 80),
          max_records=st.integers(1, 30))
    def fetch(self, partition, offset, max_records):
        start = self.run(self.log.start_offset("t", partition))
        got = self.run(self.log.fetch("t", partition, offset, max_records))
        first = max(offset, start)
        expected = self.produced[partition][first:first + max_records]
        assert [(r.key, r.value, r.timestamp, r.offset, r.partition) for r in got] == \
            [(r.key, r.value, r.timestamp, first + i, partition) for i, r in enumerate(expected)]

    @rule()
    def restart(self):
        self.run(self.log.close())
        self.log = self._open()

    @precondition(lambda self: any(self.produced))
    @rule()
    def enforce_retention(self):
        self.run(self.log.enforce_retention())

    @invariant()
    def offsets_match_the_model(self):
        for p in range(PARTITIONS):
            assert self.run(self.log.end_offset("t", p)) == len(self.produced[p])
            start = self.run(self.log.start_offset("t", p))
            assert 0 <= start <= len(self.produced[p])

    def teardown(self):
        self.run(self.log.close())
        self.loop.close()
        shutil.rmtree(self.data_dir)


EmbeddedLogMachine.TestCase.settings = settings(max_examples=40, stateful_step_count=30,
                                                deadline=None)
test_embedded_log_agrees_with_a_list_model = EmbeddedLogMachine.TestCase
