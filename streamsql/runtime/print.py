"""PRINT topic: the raw records of a topic as text lines, following new records."""
from __future__ import annotations

import asyncio
import datetime as dt
import struct

from streamsql import ast
from streamsql.catalog.catalog import Catalog
from streamsql.log.backend import LogBackend


def render_bytes(data: bytes | None) -> str:
    """Best-effort text of raw bytes, as PRINT shows them: text, else a number, else hex."""
    if data is None:
        return "<null>"
    try:
        text = data.decode("utf-8")
        if text.isprintable():
            return text
    except UnicodeDecodeError:
        pass
    if len(data) == 4:
        return str(struct.unpack(">i", data)[0])
    if len(data) == 8:
        return str(struct.unpack(">q", data)[0])
    return data.hex()


def format_record(record) -> str:
    when = dt.datetime.fromtimestamp(record.timestamp / 1000, dt.timezone.utc)
    stamp = when.strftime("%Y/%m/%d %H:%M:%S.") + f"{when.microsecond // 1000:03d} Z"
    line = (f"rowtime: {stamp}, key: {render_bytes(record.key)}, "
            f"value: {render_bytes(record.value)}, partition: {record.partition}")
    if record.headers:
        shown = ", ".join(f"{k}={render_bytes(v)}" for k, v in record.headers)
        line += f", headers: [{shown}]"
    return line


async def print_records(backend: LogBackend, catalog: Catalog, stmt: ast.Print):
    """Yield one-element rows [line] until LIMIT (or forever, following the topic)."""
    info = await backend.describe_topic(stmt.topic)
    partitions = info.partitions if info else 1
    offsets = {}
    for p in range(partitions):
        offsets[p] = (await backend.start_offset(stmt.topic, p) if stmt.from_beginning
                      else await backend.end_offset(stmt.topic, p))
    interval = max(1, stmt.interval or 1)
    seen = printed = 0
    while stmt.limit is None or printed < stmt.limit:
        got = False
        for partition in range(partitions):
            records = await backend.fetch(stmt.topic, partition, offsets[partition], 1000)
            if not records:
                continue
            got = True
            offsets[partition] = records[-1].offset + 1
            for record in records:
                seen += 1
                if (seen - 1) % interval:
                    continue
                yield [format_record(record)]
                printed += 1
                if stmt.limit is not None and printed >= stmt.limit:
                    return
        if not got:
            await asyncio.sleep(0.1)
