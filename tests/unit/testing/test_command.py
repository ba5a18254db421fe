"""`streamsql test` output lines, summary, JSON report and exit status, on runs that need no engine."""
import io
import json

from streamsql.testing.command import find_files, main, run_suite
from streamsql.testing.report import CaseResult, Progress, format_line, summary_line

REST_CASE = {"name": "proto", "statements": ["SELECT * FROM T;"], "responses": [],
             "testPullWithProtoFormat": True}
AVRO_CASE = {"name": "avro", "statements": ["CREATE STREAM S WITH (value_format='AVRO');"],
             "inputs": [{"topic": "t", "value": {}}]}


def write(path, document):
    path.write_text(json.dumps(document))
    return path


def test_lines_name_file_and_run_and_keep_reasons_on_one_line():
    assert format_line(CaseResult("f.json", "c - JSON", "passed")) == "PASS f.json::c - JSON"
    assert format_line(CaseResult("f.json", "c", "failed", "a\nb")) == "FAIL f.json::c: a b"
    assert format_line(CaseResult("f.json", "c", "skipped", "why")) == "SKIP f.json::c: why"
    assert format_line(CaseResult("bad.json", "", "failed", "cannot read")) == \
        "FAIL bad.json: cannot read"


def test_summary_counts_every_status():
    results = [CaseResult("f", "a", "passed"), CaseResult("f", "b", "failed"),
               CaseResult("f", "c", "skipped"), CaseResult("f", "d", "skipped")]
    assert summary_line(results) == "1 passed, 1 failed, 2 skipped"


def test_skips_only_exit_zero_and_write_the_json_report(tmp_path, capsys):
    write(tmp_path / "a.json", {"tests": [REST_CASE, AVRO_CASE,
                                          dict(AVRO_CASE, name="off", enabled=False)]})
    report = tmp_path / "report.json"
    assert main([str(tmp_path / "a.json"), "--jobs", "1", "--json", str(report)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "SKIP a.json::proto: the protobuf row format of pull queries is not built yet",
        "SKIP a.json::avro: needs a schema registry",
        "0 passed, 0 failed, 2 skipped"]
    document = json.loads(report.read_text())
    assert document["skipped"] == 2 and document["passed"] == 0 and document["failed"] == 0
    assert document["cases"][1] == {"file": "a.json", "name": "avro", "status": "skipped",
                                    "reason": "needs a schema registry"}


def test_an_unloadable_file_fails_and_sets_the_exit_status(tmp_path, capsys):
    (tmp_path / "bad.json").write_text("{nope")
    write(tmp_path / "ok.json", {"tests": [REST_CASE]})
    assert main([str(tmp_path), "--jobs", "1"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("FAIL bad.json: bad.json: cannot read")
    assert out[-1] == "0 passed, 1 failed, 1 skipped"


def test_parallel_runs_report_in_file_and_case_order(tmp_path):
    cases = [dict(REST_CASE, name=f"r{i}") for i in range(6)]
    write(tmp_path / "b.json", {"tests": cases})
    write(tmp_path / "a.json", {"tests": [AVRO_CASE]})
    seen = []
    results = run_suite([tmp_path], jobs=3, on_result=seen.append)
    assert [(r.file, r.name) for r in results] == \
        [("a.json", "avro")] + [("b.json", f"r{i}") for i in range(6)]
    assert seen == results


def test_directories_are_searched_recursively_in_name_order(tmp_path):
    (tmp_path / "sub").mkdir()
    for name in ("sub/c.json", "b.json", "a.json", "notes.txt"):
        (tmp_path / name).write_text("{}")
    assert [p.name for p in find_files([tmp_path])] == ["a.json", "b.json", "c.json"]


def test_progress_is_drawn_only_on_a_terminal():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    quiet, terminal = io.StringIO(), Terminal()
    for stream in (quiet, terminal):
        progress = Progress(stream, 2)
        progress.update(CaseResult("f", "a", "passed"))
        progress.clear()
    assert quiet.getvalue() == ""
    assert "[1/2] 1 passed, 0 failed, 0 skipped" in terminal.getvalue()


def test_runner_form_reports_invalid_files_as_failures(tmp_path, capsys):
    sql = tmp_path / "s.sql"
    sql.write_text("CREATE STREAM A (X INT) WITH (kafka_topic='a', value_format='JSON');")
    missing = tmp_path / "missing.json"
    assert main(["--statements", str(sql), "--output", str(missing)]) == 1
    out = capsys.readouterr().out
    assert out.startswith(">>>>> Test failed: ") and "missing.json" in out
