"""The benchmark suite runs end to end on a tiny input (it measures; nothing here is timed)."""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_benchmark_runs_every_query_on_the_embedded_log(tmp_path):
    figures = tmp_path / "figures.json"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--records", "3000", "--runs", "1",
         "--steady-seconds", "0.5", "--backends", "embedded", "--json", str(figures)],
        cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    assert "catch-up run 1/1" in done.stderr  # progress is reported while it runs
    table = done.stdout.splitlines()
    assert any(line.startswith("backend") and "records/s" in line for line in table)
    for name in ("Q1 stateless", "Q2 cache off", "Q2 cache on", "Q2 EMIT FINAL"):
        assert any(line.startswith("embedded") and name in line for line in table), name
    results = json.loads(figures.read_text())
    assert results["records"] == 3000 and results["raw_read"]["embedded"] > 0
    for row in results["rows"]:
        assert row["rate"] > 0 and row["rss_mb"] > 0
        if row["query"] != "Q2 EMIT FINAL":  # 3 s of event time close no window
            assert row["first_output_s"] is not None
            assert row["p50_ms"] is not None
