"""Property: cut a partition's log file at any byte, reopen, and exactly the batches that
were whole before the cut are there, in order, and producing continues from them."""
from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from streamsql.log import EmbeddedLog, Record

optional_bytes = st.none() | st.binary(max_size=40)
records = st.builds(
    Record,
    key=optional_bytes,
    value=optional_bytes,
    timestamp=st.integers(min_value=-(2**63), max_value=2**63 - 1),
    headers=st.lists(st.tuples(st.text(max_size=5), optional_bytes), max_size=2).map(tuple),
)
batches = st.lists(st.lists(records, min_size=1, max_size=6), min_size=1, max_size=6)


async def write(data_dir: Path, produced: list[list[Record]]) -> list[int]:
    """Produce each batch; return the log file size after each."""
    log_file = data_dir / "topics" / "t" / "0" / "00000000000000000000.log"
    sizes = []
    async with EmbeddedLog(data_dir, fsync="never") as log:
        await log.create_topic("t")
        for batch in produced:
            await log.produce("t", batch)
            sizes.append(log_file.stat().st_size)
    return sizes


async def reopen(data_dir: Path) -> tuple[list[Record], int, list[Record]]:
    async with EmbeddedLog(data_dir, fsync="never") as log:
        survivors = await log.fetch("t", 0, 0)
        (offset,) = await log.produce("t", [Record(b"after", b"the cut")])
        return survivors, offset, await log.fetch("t", 0, offset)


@settings(max_examples=100, deadline=None)
@given(produced=batches, cut_fraction=st.floats(min_value=0, max_value=1))
def test_log_recovers_every_whole_batch_before_a_cut(produced, cut_fraction):
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        sizes = asyncio.run(write(data_dir, produced))
        log_file = data_dir / "topics" / "t" / "0" / "00000000000000000000.log"
        cut = round(cut_fraction * sizes[-1])
        with log_file.open("r+b") as f:
            f.truncate(cut)

        survivors, next_offset, after = asyncio.run(reopen(data_dir))

        whole = sum(1 for size in sizes if size <= cut)
        expected = [r for batch in produced[:whole] for r in batch]
        assert [(r.key, r.value, r.timestamp, r.headers) for r in survivors] == \
            [(r.key, r.value, r.timestamp, r.headers) for r in expected]
        assert [r.offset for r in survivors] == list(range(len(expected)))
        assert next_offset == len(expected)
        assert [(r.value, r.offset) for r in after] == [(b"the cut", next_offset)]
