"""`streamsql test`: argument parsing, file discovery, parallel runs, and the exit status.

Also the ksql-test-runner form (`--statements/--input/--output`, section 13 of the QTT spec).
"""
from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import sys
from contextlib import contextmanager
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Callable, Sequence

from streamsql.testing.loader import LoadError, Run, load_file, load_runner_files
from streamsql.testing.report import (CaseResult, Progress, format_line, summary_line,
                                      write_json)
from streamsql.testing.runner import FAILED, PASSED, run_one

def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", metavar="PATH", nargs="*", type=Path,
                        help="QTT .json files or directories of them")
    parser.add_argument("--json", metavar="REPORT", type=Path,
                        help="also write every run's verdict to REPORT as JSON")
    parser.add_argument("--jobs", "-j", metavar="N", type=int, default=None,
                        help="worker processes (default: number of CPUs)")
    runner = parser.add_argument_group("ksql-test-runner form")
    runner.add_argument("--statements", "--sql-file", "-s", metavar="SQL", type=Path,
                        help="the statements of a single test")
    runner.add_argument("--input", "--input-file", "-i", metavar="JSON", type=Path,
                        help='{"inputs": [...]} records (optional with INSERT VALUES)')
    runner.add_argument("--output", "--output-file", "-o", metavar="JSON", type=Path,
                        help='{"outputs": [...]} expected records')


def run(args: argparse.Namespace) -> int:
    """Run what the arguments name; 0 when nothing failed, 1 otherwise."""
    with _quiet_engine_logs():
        return _run(args)


@contextmanager
def _quiet_engine_logs():
    """Engine warnings off while runs execute in this process, unless the user asked for them.

    Records the engine skips are part of what the cases check; logging each one would
    bury the verdict lines.
    """
    logger = logging.getLogger("streamsql")
    saved = logger.level
    if "STREAMSQL_LOG_LEVEL" not in os.environ:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(saved)


def _run(args: argparse.Namespace) -> int:
    if args.statements is not None or args.output is not None:
        return _run_single(args)
    if not args.paths:
        print("streamsql test: give QTT files or directories, or --statements and --output",
              file=sys.stderr)
        return 2
    jobs = args.jobs if args.jobs is not None else (os.cpu_count() or 1)
    results = run_suite(args.paths, jobs=jobs, on_result=_print_line)
    print(summary_line(results), flush=True)
    if args.json is not None:
        write_json(args.json, results)
    return 1 if any(r.status == FAILED for r in results) else 0


def find_files(paths: Sequence[Path]) -> list[Path]:
    """QTT files named directly, plus the `*.json` files under named directories, sorted."""
    found: list[Path] = []
    for path in paths:
        path = Path(path)
        found.extend(sorted(path.rglob("*.json")) if path.is_dir() else [path])
    return found


def run_suite(paths: Sequence[Path], *, jobs: int = 1,
              on_result: Callable[[CaseResult], None] | None = None,
              progress_stream=None) -> list[CaseResult]:
    """Every run of every file, in file/case order; `on_result` sees each result in that order."""
    items: list[Run | CaseResult] = []
    for path in find_files(paths):
        try:
            items.extend(load_file(path))
        except LoadError as err:
            items.append(CaseResult(path.name, "", FAILED, str(err)))
    runs = [(i, item) for i, item in enumerate(items) if isinstance(item, Run)]
    progress = Progress(progress_stream if progress_stream is not None else sys.stderr,
                        len(items))
    results: list[CaseResult | None] = [None if isinstance(i, Run) else i for i in items]
    emitted = 0

    def emit_ready() -> None:
        """Hand on results in file/case order, as soon as all earlier ones are known."""
        nonlocal emitted
        while emitted < len(results) and results[emitted] is not None:
            if on_result is not None:
                progress.clear()
                on_result(results[emitted])
                progress.draw()
            emitted += 1

    def record(index: int, result: CaseResult) -> None:
        results[index] = result
        progress.update(result)
        emit_ready()

    for item in items:
        if isinstance(item, CaseResult):
            progress.update(item)
    emit_ready()
    if jobs <= 1 or len(runs) <= 1:
        for index, item in runs:
            record(index, _result(item, run_one(item)))
    else:
        _run_in_workers(runs, jobs, record)
    progress.clear()
    return [r for r in results if r is not None]


def _run_in_workers(runs: list[tuple[int, Run]], jobs: int,
                    record: Callable[[int, CaseResult], None]) -> None:
    """Runs in worker processes; a run that kills its worker is re-run alone to be blamed."""
    queue = runs
    while queue:
        workers = min(jobs, len(queue))
        unfinished = _run_pool(queue, workers, record)
        # The pool feeds workers in submission order, so only the first workers + 1
        # unfinished runs can have been started when a worker died.
        suspects, queue = unfinished[:workers + 1], unfinished[workers + 1:]
        for index, suspect in suspects:
            if _run_pool([(index, suspect)], 1, record):
                record(index, CaseResult(suspect.file, suspect.name, FAILED,
                                         "the worker process died running it"))


def _run_pool(runs: list[tuple[int, Run]], workers: int,
              record: Callable[[int, CaseResult], None]) -> list[tuple[int, Run]]:
    """Run in a fresh pool; the runs left unfinished (in order) if a worker died, else []."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["streamsql.testing.runner", "streamsql.engine"])
    unfinished = dict(runs)
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = {pool.submit(run_one, item): index for index, item in runs}
        while futures:
            done, _ = wait(futures, return_when=FIRST_COMPLETED)
            for future in done:
                index = futures.pop(future)
                try:
                    outcome = future.result()
                except BrokenProcessPool:
                    continue
                record(index, _result(unfinished.pop(index), outcome))
    return list(unfinished.items())


def _result(run: Run, outcome) -> CaseResult:
    return CaseResult(run.file, run.name, outcome.status, outcome.reason)


def _print_line(result: CaseResult) -> None:
    print(format_line(result), flush=True)


def _run_single(args: argparse.Namespace) -> int:
    """The ksql-test-runner form: one run, `>>> Test passed!` or `>>>>> Test failed: reason`."""
    if args.statements is None or args.output is None:
        print(">>>>> Test failed: both --statements and --output are required")
        return 1
    try:
        single = load_runner_files(args.statements, args.input, args.output)
    except LoadError as err:
        print(f">>>>> Test failed: {err}")
        return 1
    outcome = run_one(single)
    if outcome.status == PASSED:
        print(">>> Test passed!")
        return 0
    print(f">>>>> Test failed: {outcome.reason}")
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="streamsql test",
                                     description="Run ksqlDB QTT conformance files.")
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
