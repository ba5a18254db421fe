"""Session windows, cache off, give the changes of a record-at-a-time model of ksqlDB's
session aggregation, however the input is split into micro-batches."""
import asyncio
import struct
import tempfile

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamsql.engine import Engine
from streamsql.log.backend import Record

GAP = 10


def model(records, grace: int, retention: int):
    """Record at a time: merge the visible sessions within the gap (in time order), drop the
    record if the merged session closed; a tombstone per replaced session, then the row."""
    sessions: dict[str, list[tuple[int, int, list]]] = {}
    stream_time, out = -1, []
    for key, value, t in records:
        stream_time = max(stream_time, t)
        visible = [s for s in sessions.get(key, []) if s[1] + retention > stream_time]
        touched = sorted((s for s in visible if s[1] >= t - GAP and s[0] <= t + GAP),
                         key=lambda s: s[1])
        start = min([t] + [s[0] for s in touched])
        end = max([t] + [s[1] for s in touched])
        sessions[key] = visible
        if end < stream_time - grace - GAP:
            continue
        if (start, end) != (t, t):
            out += [(key, s[0], s[1], None, s[1]) for s in touched]
        values = [v for s in touched for v in s[2]] + [value]
        sessions[key] = [s for s in visible if s not in touched] + [(start, end, values)]
        out.append((key, start, end, {"N": len(values), "VS": values}, end))
    return out


async def _engine_output(records, grace: int, retention: int, cuts: set[int]):
    statements = (
        "CREATE STREAM S (K STRING KEY, V INT) WITH (kafka_topic='s', partitions=1, "
        "value_format='JSON');"
        f"CREATE TABLE T AS SELECT K, COUNT(*) AS N, COLLECT_LIST(V) AS VS FROM S WINDOW "
        f"SESSION ({GAP} MILLISECONDS, RETENTION {retention} MILLISECONDS, GRACE PERIOD "
        f"{grace} MILLISECONDS) GROUP BY K;")
    with tempfile.TemporaryDirectory() as data_dir:
        props = {"auto.offset.reset": "earliest", "cache.max.bytes.buffering": "0"}
        async with Engine(data_dir, props, run_queries=False) as engine:
            await engine.execute(statements)
            await engine.backend.produce("s", [Record(k.encode(), orjson.dumps({"V": v}), t)
                                               for k, v, t in records])
            bounds = sorted({0, len(records), *(c for c in cuts if c < len(records))})
            for start, end in zip(bounds, bounds[1:]):
                await engine.process(engine.queries[0].query_id, "s", 0, start, end)
            out = []
            for r in await engine.backend.fetch("T", 0, 0, 10_000):
                end, start = struct.unpack(">qq", r.key[-16:])
                value = None if r.value is None else orjson.loads(r.value)
                out.append((r.key[:-16].decode(), start, end, value, r.timestamp))
            return out


inputs = st.lists(st.tuples(st.sampled_from(["a", "b"]), st.integers(0, 9),
                            st.integers(0, 120)), min_size=1, max_size=25)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inputs, st.sampled_from([0, 5, 40]), st.sampled_from([0, 30]),
       st.sets(st.integers(1, 25)))
def test_session_changes_match_the_record_at_a_time_model(records, grace, extra_retention,
                                                          cuts):
    retention = GAP + grace + extra_retention
    expected = model(records, grace, retention)
    assert asyncio.run(_engine_output(records, grace, retention, cuts)) == expected
