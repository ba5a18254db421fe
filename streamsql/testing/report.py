"""What `streamsql test` prints: one line per run, the summary line, the JSON report, progress.

Other tools parse these lines; their shape is part of the interface.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Iterable

from streamsql.testing.runner import FAILED, PASSED, SKIPPED

_LABELS = {PASSED: "PASS", FAILED: "FAIL", SKIPPED: "SKIP"}


@dataclass(frozen=True)
class CaseResult:
    """The verdict of one run; `name` is empty when a whole file could not be loaded."""

    file: str
    name: str
    status: str  # PASSED | FAILED | SKIPPED
    reason: str = ""


def format_line(result: CaseResult) -> str:
    """`PASS file::case`, `FAIL file::case: reason` or `SKIP file::case: reason`, on one line."""
    where = f"{result.file}::{result.name}" if result.name else result.file
    line = f"{_LABELS[result.status]} {where}"
    if result.reason and result.status != PASSED:
        line += ": " + result.reason.replace("\r", " ").replace("\n", " ")
    return line


def counts(results: Iterable[CaseResult]) -> dict[str, int]:
    totals = {PASSED: 0, FAILED: 0, SKIPPED: 0}
    for result in results:
        totals[result.status] += 1
    return totals


def summary_line(results: Iterable[CaseResult]) -> str:
    totals = counts(results)
    return f"{totals[PASSED]} passed, {totals[FAILED]} failed, {totals[SKIPPED]} skipped"


def write_json(path: Path, results: list[CaseResult]) -> None:
    """The --json report: every run with its status and reason, and the totals."""
    document = {"cases": [asdict(r) for r in results], **counts(results)}
    Path(path).write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n",
                          encoding="utf-8")


class Progress:
    """A one-line `done/total` counter on a terminal; silent when the stream is not a tty."""

    def __init__(self, stream: IO[str], total: int):
        self.stream = stream
        self.total = total
        self.enabled = total > 0 and stream.isatty()
        self.done = 0
        self.totals = {PASSED: 0, FAILED: 0, SKIPPED: 0}

    def update(self, result: CaseResult) -> None:
        """Count a finished run and redraw."""
        self.done += 1
        self.totals[result.status] += 1
        self.draw()

    def draw(self) -> None:
        if self.enabled:
            self.stream.write(f"\r\x1b[K[{self.done}/{self.total}] {self.totals[PASSED]} passed, "
                              f"{self.totals[FAILED]} failed, {self.totals[SKIPPED]} skipped")
            self.stream.flush()

    def clear(self) -> None:
        """Erase the counter line so that other output starts on a clean line."""
        if self.enabled:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
