"""QTT file loading: comments, loss-free numbers, validation and expansion into runs."""
import json
from decimal import Decimal

import pytest

from streamsql.testing.loader import (LoadError, Window, expand_case, load_file,
                                      load_runner_files, parse_json, strip_comments)


def write(tmp_path, name, document):
    path = tmp_path / name
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return path


def case(**fields):
    base = {"name": "c", "statements": ["CREATE STREAM S AS SELECT * FROM T;"],
            "inputs": [{"topic": "t", "value": {"A": 1}}]}
    base.update(fields)
    return base


def test_line_and_block_comments_are_stripped_outside_strings():
    text = """{
      // a line comment
      "url": "http://example.com/a//b", /* block
      comment */ "x": 1 // trailing
    }"""
    assert parse_json(text) == {"url": "http://example.com/a//b", "x": 1}


def test_comment_markers_inside_strings_with_escaped_quotes_are_kept():
    assert strip_comments(r'{"a": "q\" // not a comment"}') == r'{"a": "q\" // not a comment"}'


def test_unterminated_block_comment_is_a_load_error():
    with pytest.raises(LoadError):
        strip_comments('{"a": 1 /* never closed')


def test_numbers_keep_their_written_scale_and_integers_stay_exact():
    value = parse_json('{"d": 1.50, "e": 1e3, "i": 12345678901234567890123}')
    assert value["d"].as_tuple() == Decimal("1.50").as_tuple()
    assert isinstance(value["e"], Decimal) and value["e"] == 1000
    assert value["i"] == 12345678901234567890123 and isinstance(value["i"], int)


def test_format_expansion_substitutes_statements_only_and_names_runs(tmp_path):
    raw = case(format=["JSON", "AVRO"],
               statements=["CREATE STREAM T WITH (value_format='{FORMAT}');"],
               outputs=[{"topic": "{FORMAT}", "value": "{FORMAT}"}])
    runs = load_file(write(tmp_path, "f.json", {"tests": [raw]}))
    assert [r.name for r in runs] == ["c - JSON", "c - AVRO"]
    assert runs[1].statements == ("CREATE STREAM T WITH (value_format='AVRO');",)
    assert runs[1].outputs[0].topic == "{FORMAT}" and runs[1].outputs[0].value == "{FORMAT}"


def test_format_placeholder_without_format_list_makes_an_unparseable_statement():
    [run] = expand_case(case(statements=["CREATE STREAM T WITH (value_format={FORMAT});"]), "f.json")
    assert "{FORMAT}" in run.statements[0] and "value_format={FORMAT}" not in run.statements[0]


def test_config_expansion_crosses_formats_outer_configs_inner():
    raw = case(format=["JSON", "KAFKA"], config=["true", "false"],
               properties={"ksql.new.query.planner.enabled": "{CONFIG}", "other": "x"})
    runs = expand_case(raw, "f.json")
    assert [r.name for r in runs] == [
        "c - JSON - ksql.new.query.planner.enabled=true",
        "c - JSON - ksql.new.query.planner.enabled=false",
        "c - KAFKA - ksql.new.query.planner.enabled=true",
        "c - KAFKA - ksql.new.query.planner.enabled=false"]
    assert runs[1].property_map == {"ksql.new.query.planner.enabled": "false", "other": "x"}


def test_config_without_exactly_one_placeholder_is_invalid():
    [run] = expand_case(case(config=["true"], properties={"a": "1"}), "f.json")
    assert run.invalid and "{CONFIG}" in run.invalid


def test_disabled_cases_produce_no_runs(tmp_path):
    path = write(tmp_path, "f.json", {"tests": [case(enabled=False), case(name="d")]})
    assert [r.name for r in load_file(path)] == ["d"]


def test_case_without_records_or_expected_exception_is_invalid():
    [run] = expand_case({"name": "c", "statements": ["SELECT 1;"]}, "f.json")
    assert run.invalid == "a case without 'expectedException' needs 'inputs' or 'outputs'"


def test_expected_exception_case_needs_no_records():
    [run] = expand_case({"name": "c", "statements": ["x"], "expectedException": {
        "type": "io.confluent.ksql.util.KsqlException", "message": "boom"}}, "f.json")
    assert run.invalid is None and run.expected_exception.message == "boom"


def test_records_keep_windows_headers_timestamps_and_ignore_unknown_keys():
    [run] = expand_case(case(outputs=[{
        "topic": "o", "key": 1, "value": None, "timestamp": 5, "N4": 1,
        "window": {"start": 0, "end": 10, "type": "TIME"},
        "headers": [{"KEY": "h", "VALUE": "IQ=="}, {"KEY": "n", "VALUE": None}]}]), "f.json")
    record = run.outputs[0]
    assert record.window == Window(0, 10, "time")
    assert record.headers == (("h", "IQ=="), ("n", None))
    assert record.timestamp == 5 and record.value is None and record.key == 1
    assert run.inputs[0].headers is None and run.inputs[0].timestamp is None


def test_unreadable_file_is_a_load_error(tmp_path):
    with pytest.raises(LoadError, match="bad.json"):
        load_file(write(tmp_path, "bad.json", "{not json"))
    with pytest.raises(LoadError, match="non-empty 'tests'"):
        load_file(write(tmp_path, "empty.json", {"tests": []}))


def test_rest_cases_are_recognised_by_keys_and_by_directory(tmp_path):
    path = write(tmp_path, "q.json", {"tests": [case(responses=[{"admin": {}}]), case(name="d")]})
    runs = load_file(path)
    assert [r.is_rest for r in runs] == [True, False]
    assert runs[0].rest == {"responses": [{"admin": {}}]} and runs[1].rest == {}
    rest_dir = tmp_path / "rest-cases"
    rest_dir.mkdir()
    path = write(rest_dir, "q.json", {"tests": [case()]})
    assert [r.is_rest for r in load_file(path)] == [True]


def test_runner_files_make_one_run_named_ksql_test(tmp_path):
    sql = write(tmp_path, "s.sql", "CREATE STREAM A (X INT) WITH (kafka_topic='a', "
                                   "value_format='JSON');\nCREATE STREAM B AS SELECT * FROM A;")
    inputs = write(tmp_path, "in.json", {"inputs": [{"topic": "a", "value": {"X": 1}}]})
    outputs = write(tmp_path, "out.json", {"outputs": [{"topic": "B", "value": {"X": 1}}]})
    run = load_runner_files(sql, inputs, outputs)
    assert run.name == "KSQL_Test" and len(run.inputs) == 1 and len(run.outputs) == 1
    assert load_runner_files(sql, None, outputs).inputs == ()
    empty = write(tmp_path, "empty.json", {"outputs": []})
    with pytest.raises(LoadError, match="non-empty 'outputs'"):
        load_runner_files(sql, None, empty)


def test_duplicate_run_names_in_a_file_are_invalid(tmp_path):
    path = write(tmp_path, "f.json", {"tests": [case(), case()]})
    first, second = load_file(path)
    assert first.invalid is None and second.invalid == "another run of the file has this name"


@pytest.mark.parametrize("record", [
    {"topic": "t", "value": 1, "window": {"start": 0, "type": "time"}},
    {"topic": "t", "value": 1, "headers": [{"VALUE": None}]},
    {"topic": "t", "value": 1, "timestamp": "soon"},
    {"topic": "t", "value": 1, "window": {"start": 0, "end": 1, "type": "sliding"}},
    {"value": 1},
])
def test_malformed_records_make_the_case_invalid_not_the_suite(record):
    [run] = expand_case(case(inputs=[record]), "f.json")
    assert run.invalid
