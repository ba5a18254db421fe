"""Run ksqlDB's QTT files through `streamsql test` and write CONFORMANCE.md at the repo root.

With --update-expected it also rewrites tests/conformance/expected_passing.txt: the runs of
the CI slice (tests/conformance/slice.txt) that pass now, which CI then requires to pass.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from streamsql.testing.command import run_suite  # noqa: E402
from streamsql.testing.report import CaseResult, counts, summary_line  # noqa: E402
from streamsql.testing.runner import FAILED, PASSED, REGISTRY_SKIP_REASON, SKIPPED  # noqa: E402

DEFAULT_CASES = [ROOT.parent / "shared" / "qtt" / "cases",
                 ROOT.parent / "shared" / "qtt" / "rest-cases"]
CONFORMANCE = ROOT / "CONFORMANCE.md"
SLICE = ROOT / "tests" / "conformance" / "slice.txt"
EXPECTED_PASSING = ROOT / "tests" / "conformance" / "expected_passing.txt"

# The files each issue is measured on, with its target pass rate.
TARGET_GROUPS = [
    ("Issue 2: stateless queries", 0.90, [
        "project-filter", "select", "where", "filter", "like", "case-expression",
        "comparison-expression", "binary-arithmetic", "operators", "null", "identifiers",
        "quoted-identifiers", "cast", "floating-point", "decimal", "create-struct",
        "create_array", "create_map", "simple-struct", "more-complex-struct", "select-struct-all",
        "formats", "json", "kafka", "none", "serdes", "bytes", "elements", "headers",
        "system-columns", "row-offset-and-partition", "timestamp-extractor", "insert-into",
        "source-stream", "drop_source", "create-type", "asserts", "sink-topic-naming",
        "sink-partitions-replicas"]),
    ("Issue 3: stateful queries", 0.85, [
        "group-by", "count", "sum", "average", "max-group-by", "topk-group-by", "collect-list",
        "udaf", "earliest-offset-udaf", "latest-offset-udaf", "variadic-udaf",
        "generic-variadic-udaf", "middle-variadic-udaf", "multi-arg-udaf",
        "obj-var-col-arg-udaf", "test-custom-udaf", "attr", "tumbling-windows",
        "hopping-windows", "session-windows", "windowed-source", "suppress", "table",
        "source-table"]),
    ("Issue 3: pull queries (REST-QTT)", 0.85, [
        "pull-queries-against-cst-materialized", "pull-queries-against-materialized-aggregates",
        "pull-queries-against-materialized-table-table-joins", "pull-queries-against-streams",
        "pull-queries-complex-lambda", "pull-queries-protobuf", "pull-queries-with-headers",
        "pull-queries-with-limit-clause", "pull-queries-with-range-scan",
        "pull-queries-with-struct-star"]),
    ("Issue 4: push queries and INSERT VALUES (REST-QTT)", 0.85, [
        "push-queries", "insert-values"]),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", action="append", type=Path, metavar="DIR",
                        help="QTT directory (repeatable; default ../shared/qtt/cases and "
                             "../shared/qtt/rest-cases)")
    parser.add_argument("--jobs", "-j", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--update-expected", action="store_true",
                        help=f"also rewrite {EXPECTED_PASSING.relative_to(ROOT)}")
    args = parser.parse_args(argv)

    results = run_suite(args.cases or DEFAULT_CASES, jobs=args.jobs)
    CONFORMANCE.write_text(render(results, _commit()), encoding="utf-8")
    print(f"{summary_line(results)}; wrote {CONFORMANCE.relative_to(ROOT)}")
    if args.update_expected:
        passing = expected_passing(results, slice_files())
        EXPECTED_PASSING.write_text("".join(f"{line}\n" for line in passing), encoding="utf-8")
        print(f"{len(passing)} passing slice runs; wrote {EXPECTED_PASSING.relative_to(ROOT)}")
    return 0


def slice_files() -> list[str]:
    """File names of the CI slice, one per line in slice.txt (`#` starts a comment line)."""
    lines = (line.strip() for line in SLICE.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def expected_passing(results: list[CaseResult], files: list[str]) -> list[str]:
    """`file::run` of every passing run in the given files, in run order."""
    wanted = set(files)
    return [f"{r.file}::{r.name}" for r in results if r.file in wanted and r.status == PASSED]


def render(results: list[CaseResult], commit: str) -> str:
    """The text of CONFORMANCE.md."""
    by_file: dict[str, list[CaseResult]] = {}
    for result in results:
        by_file.setdefault(result.file, []).append(result)
    totals = counts(results)
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Conformance with ksqlDB's query-validation tests",
        "",
        f"Generated by `scripts/conformance.py` on {now} at commit {commit}; do not edit by hand.",
        "Counts are *runs* (a case expanded per format/config); disabled cases are not counted.",
        "A run passes only on an exact match of outputs, errors and post conditions.",
        "Runs that need a schema registry (AVRO, PROTOBUF, PROTOBUF_NOSR, JSON_SR) are skipped",
        "until one is built; a skipped run counts as not passed.",
        "",
        f"**{len(results)} runs: {totals[PASSED]} passed, {totals[FAILED]} failed, "
        f"{totals[SKIPPED]} skipped** ({_percent(totals[PASSED], len(results))} of all runs, "
        f"{_percent(totals[PASSED], _without_registry(results))} of runs that need no schema "
        "registry).",
        "",
        "## Targets",
        "",
        "Pass rate over the runs of the group's files that need no schema registry.",
        "",
        "| group | files | runs | passed | pass % | target | met |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for title, target, stems in TARGET_GROUPS:
        group = [r for stem in stems for r in by_file.get(f"{stem}.json", [])]
        counted = _without_registry(group)
        passed = sum(r.status == PASSED for r in group)
        met = "yes" if counted and passed / counted >= target else "no"
        lines.append(f"| {title} | {len(stems)} | {counted} | {passed} | "
                     f"{_percent(passed, counted)} | {target:.0%} | {met} |")
    for title, _, stems in TARGET_GROUPS:
        missing = [s for s in stems if f"{s}.json" not in by_file]
        if missing:
            lines += ["", f"{title}: files not found: {', '.join(missing)}."]
    lines += ["", "## Per file", "",
              "| file | runs | passed | failed | skipped | pass % |",
              "|---|---:|---:|---:|---:|---:|"]
    for file in sorted(by_file):
        file_totals = counts(by_file[file])
        runs = len(by_file[file])
        lines.append(f"| {file} | {runs} | {file_totals[PASSED]} | {file_totals[FAILED]} | "
                     f"{file_totals[SKIPPED]} | {_percent(file_totals[PASSED], runs)} |")
    return "\n".join(lines) + "\n"


def _without_registry(results: list[CaseResult]) -> int:
    return sum(r.reason != REGISTRY_SKIP_REASON for r in results)


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "n/a"


def _commit() -> str:
    def git(*words: str) -> str:
        return subprocess.run(["git", *words], cwd=ROOT, capture_output=True, text=True,
                              check=False).stdout.strip()
    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    return f"{commit} (with uncommitted changes)" if git("status", "--porcelain") else commit


if __name__ == "__main__":
    sys.exit(main())
