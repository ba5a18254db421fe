"""The benchmark's printed table: one row per backend and query, then the ceilings."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Row:
    backend: str
    query: str
    rate: float  # catch-up records/s (median)
    raw_rate: float  # the backend's raw read rate, same run
    duckdb_rate: float  # DuckDB running the query once over NDJSON
    steady_rate: float
    p50_ms: float | None
    p99_ms: float | None
    first_output_s: float | None
    rss_mb: float


COLUMNS = ("backend", "query", "records/s", "/ raw read", "/ DuckDB", "steady rec/s",
           "p50 ms", "p99 ms", "1st output s", "peak RSS MB")


def _number(value, digits: int = 0) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def render(rows: list[Row], raw_rates: dict[str, float], duckdb: dict[str, float], args,
           broker_latency: dict | None = None) -> str:
    cells = [COLUMNS] + [(
        row.backend, row.query, _number(row.rate), f"{row.rate / row.raw_rate:.0%}",
        f"{row.rate / row.duckdb_rate:.1%}", _number(row.steady_rate), _number(row.p50_ms),
        _number(row.p99_ms), _number(row.first_output_s, 2), _number(row.rss_mb))
        for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]
    lines = [f"{args.records:,} records, median of {args.runs} run(s); steady runs at half "
             "the catch-up rate"]
    for index, line in enumerate(cells):
        lines.append("  ".join(cell.ljust(width) if i < 2 else cell.rjust(width)
                               for i, (cell, width) in enumerate(zip(line, widths))))
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    lines.append("")
    lines.append("ceilings (same run):")
    ceilings = [(f"raw read, {backend} ("
                 f"{'aiokafka consumer' if backend == 'kafka' else 'fetch_batch'})", rate)
                for backend, rate in raw_rates.items()]
    ceilings += [("DuckDB batch over NDJSON, " +
                  ("Q2 GROUP BY" if "GROUP BY" in sql else "Q1 filter/project"), rate)
                 for sql, rate in duckdb.items()]
    width = max(len(label) for label, _ in ceilings) + 1
    lines += [f"  {label + ':':<{width}} {rate:>12,.0f} records/s" for label, rate in ceilings]
    if broker_latency is not None:
        lines.append(f"  produce -> fetch, kafka (aiokafka pair at "
                     f"{broker_latency['rate']:,} records/s, fetch wait "
                     f"{broker_latency['fetch_wait_ms']:.0f} ms): p50 "
                     f"{broker_latency['p50_ms']:.0f} ms, p99 {broker_latency['p99_ms']:.0f} ms")
    return "\n".join(lines)
