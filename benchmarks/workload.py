"""The benchmark workload: sensor readings as JSON records, and the queries run over them.

1,000 sensor ids, ts rising about 1 ms per record with +-2 ms jitter, reading ~ N(60, 15),
key = sensor_id, 4 partitions; the same seed gives the same bytes on every machine.
"""
from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc

from streamsql.log.backend import RecordBatch
from streamsql.log.partitioner import partitions_for

SENSORS = 1_000
PARTITIONS = 4
SEED = 7
START_MS = 1_700_000_000_000
TOPIC = "sensors"

SOURCE = ("CREATE STREAM sensors (sensor_id STRING KEY, ts BIGINT, reading DOUBLE, "
          "site STRING) WITH (kafka_topic='{topic}', value_format='JSON', timestamp='ts');")
_Q1 = ("CREATE STREAM hot WITH (kafka_topic='{sink}') AS SELECT sensor_id, "
       "reading * 1.8 + 32 AS f FROM sensors WHERE reading > 50;")
_Q2 = ("CREATE TABLE stats WITH (kafka_topic='{sink}') AS SELECT sensor_id, COUNT(*) AS n, "
       "AVG(reading) AS avg_reading, MAX(reading) AS max_reading FROM sensors "
       "WINDOW TUMBLING (SIZE 10 SECONDS{grace}) GROUP BY sensor_id{emit};")
WINDOW_MS = 10_000
# EMIT FINAL closes windows by the query's stream time (the latest time of any partition),
# not per source partition as Kafka Streams does: a window of a partition read after another
# partition's later records would close before they are in. A grace period longer than the
# event time one fetch covers (10,000 records of a partition, ~40 s) keeps them in.
FINAL_GRACE_MS = 60_000

# DuckDB running each query once, as a batch, over the same records as NDJSON.
_NDJSON = ("read_json('{path}', format='newline_delimited', columns={{'sensor_id': 'VARCHAR', "
           "'ts': 'BIGINT', 'reading': 'DOUBLE', 'site': 'VARCHAR'}})")
BATCH_Q1 = "SELECT sensor_id, reading * 1.8 + 32 AS f FROM " + _NDJSON + " WHERE reading > 50"
BATCH_Q2 = ("SELECT sensor_id, ts - ts % 10000 AS window_start, count(*), avg(reading), "
            "max(reading) FROM " + _NDJSON + " GROUP BY ALL")


@dataclass(frozen=True)
class Query:
    """One benchmarked query: its statement and the engine properties it runs with."""

    name: str
    template: str
    cache_bytes: str  # cache.max.bytes.buffering: '0' = one update per input record
    emit_final: bool = False
    batch_sql: str = BATCH_Q1

    def statement(self, sink: str) -> str:
        grace = f", GRACE PERIOD {FINAL_GRACE_MS // 1000} SECONDS" if self.emit_final else ""
        return self.template.format(sink=sink, grace=grace,
                                    emit=" EMIT FINAL" if self.emit_final else "")

    @property
    def final_delay_ms(self) -> int:
        """How long after a window's end (in event time) EMIT FINAL emits it."""
        return WINDOW_MS + FINAL_GRACE_MS

    @property
    def properties(self) -> dict[str, str]:
        return {"auto.offset.reset": "earliest", "cache.max.bytes.buffering": self.cache_bytes}


QUERIES = {
    "q1": Query("Q1 stateless", _Q1, "10485760"),
    "q2-cache-off": Query("Q2 cache off", _Q2, "0", batch_sql=BATCH_Q2),
    "q2-cache-on": Query("Q2 cache on", _Q2, "10485760", batch_sql=BATCH_Q2),
    "q2-final": Query("Q2 EMIT FINAL", _Q2, "10485760", emit_final=True, batch_sql=BATCH_Q2),
}


def generate(count: int, seed: int = SEED) -> pa.Table:
    """`count` records as columns key, value (JSON bytes), ts, partition."""
    rng = random.Random(seed)
    keys, values, stamps = [], [], []
    for i in range(count):
        sensor = f"s{rng.randrange(SENSORS)}"
        ts = START_MS + i + rng.randint(-2, 2)
        value = {"sensor_id": sensor, "ts": ts, "reading": round(rng.gauss(60, 15), 1),
                 "site": f"icu-{rng.randrange(4)}"}
        keys.append(sensor.encode())
        values.append(json.dumps(value, separators=(",", ":")).encode())
        stamps.append(ts)
    key_array = pa.array(keys, pa.binary())
    return pa.table({"key": key_array, "value": pa.array(values, pa.binary()),
                     "ts": pa.array(stamps, pa.int64()),
                     "partition": partitions_for(key_array, PARTITIONS)})


def save(table: pa.Table, path: Path) -> None:
    with ipc.new_file(path, table.schema) as writer:
        writer.write_table(table)


def load(path: Path) -> pa.Table:
    """The saved workload, memory-mapped (it does not count towards the reader's heap)."""
    return ipc.open_file(pa.memory_map(str(path))).read_all()


def record_batch(table: pa.Table) -> RecordBatch:
    """Rows of the workload as records to produce (each to its partition)."""
    def column(name):
        return table.column(name).combine_chunks()
    return RecordBatch(column("key"), column("value"), column("ts"), column("partition"),
                       pa.array([-1] * table.num_rows, pa.int64()))


def write_ndjson(table: pa.Table, path: Path) -> None:
    with open(path, "wb") as out:
        for chunk in table.column("value").chunks:
            out.write(b"\n".join(chunk.to_pylist()) + b"\n")


def partition_counts(table: pa.Table) -> dict[int, int]:
    counts = pc.value_counts(table.column("partition")).to_pylist()
    return {c["values"]: c["counts"] for c in counts}
