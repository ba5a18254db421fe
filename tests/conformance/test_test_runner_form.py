"""The ksql-test-runner form: `streamsql test --statements S --input I --output O`."""
import json

from streamsql.testing.command import main

STATEMENTS = """
-- a comment, as users write them
CREATE STREAM ORDERS (ID INT KEY, UNITS DOUBLE) WITH (kafka_topic='orders', value_format='JSON');
CREATE STREAM BIG AS SELECT ID, UNITS * 2 AS DOUBLED FROM ORDERS WHERE UNITS > 1;
"""


def write(path, document):
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return str(path)


def run(tmp_path, outputs, inputs=None, statements=STATEMENTS):
    args = ["--statements", write(tmp_path / "s.sql", statements),
            "--output", write(tmp_path / "out.json", {"outputs": outputs})]
    if inputs is not None:
        args += ["--input", write(tmp_path / "in.json", {"inputs": inputs})]
    return main(args)


INPUTS = [{"topic": "orders", "key": 1, "value": {"UNITS": 0.5}, "timestamp": 0},
          {"topic": "orders", "key": 2, "value": {"UNITS": 3.0}, "timestamp": 10}]


def test_matching_outputs_pass(tmp_path, capsys):
    outputs = [{"topic": "BIG", "key": 2, "value": {"DOUBLED": 6.0}, "timestamp": 10}]
    assert run(tmp_path, outputs, INPUTS) == 0
    assert capsys.readouterr().out.strip() == ">>> Test passed!"


def test_a_different_value_fails_naming_topic_and_record(tmp_path, capsys):
    outputs = [{"topic": "BIG", "key": 2, "value": {"DOUBLED": 7.0}, "timestamp": 10}]
    assert run(tmp_path, outputs, INPUTS) == 1
    assert capsys.readouterr().out.strip() == (
        ">>>>> Test failed: topic 'BIG', record 0: value: DOUBLED: expected 7.0 but was 6.0")


def test_without_input_file_insert_values_rows_match_timestamp_zero(tmp_path, capsys):
    statements = STATEMENTS + "INSERT INTO ORDERS (ID, UNITS) VALUES (3, 5.0);"
    outputs = [{"topic": "orders", "key": 3, "value": {"UNITS": 5.0}, "timestamp": 0}]
    assert run(tmp_path, outputs, statements=statements) == 0, capsys.readouterr().out
