"""scripts/conformance.py: the CONFORMANCE.md text and the expected-passing list."""
import importlib.util
from pathlib import Path

from streamsql.testing.report import CaseResult
from streamsql.testing.runner import REGISTRY_SKIP_REASON

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "conformance.py"
_spec = importlib.util.spec_from_file_location("conformance_script", SCRIPT)
conformance = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(conformance)

RESULTS = [
    CaseResult("select.json", "a", "passed"),
    CaseResult("select.json", "b", "failed", "value differs"),
    CaseResult("select.json", "c - AVRO", "skipped", REGISTRY_SKIP_REASON),
    CaseResult("count.json", "a", "passed"),
    CaseResult("other.json", "a", "skipped", "some capability not built yet"),
]


def test_report_has_totals_targets_without_registry_runs_and_per_file_rows():
    text = conformance.render(RESULTS, "abc1234")
    assert "at commit abc1234" in text
    assert "**5 runs: 2 passed, 1 failed, 2 skipped** (40.0% of all runs, 50.0% of runs " \
           "that need no schema registry)." in text
    # select.json: the AVRO run needs a registry and is left out of the issue-2 rate.
    assert "| Issue 2: stateless queries | 39 | 2 | 1 | 50.0% | 90% | no |" in text
    assert "| Issue 3: stateful queries | 24 | 1 | 1 | 100.0% | 85% | yes |" in text
    assert "| select.json | 3 | 1 | 1 | 1 | 33.3% |" in text
    assert "| other.json | 1 | 0 | 0 | 1 | 0.0% |" in text


def test_expected_passing_lists_passing_runs_of_the_slice_files_only():
    assert conformance.expected_passing(RESULTS, ["select.json"]) == ["select.json::a"]
