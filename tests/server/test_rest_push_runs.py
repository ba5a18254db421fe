"""REST-QTT runs with `waitForActivePushQuery` (spec section 10): the inputs are produced
only once the streamed push query runs, so a query reading from the latest offset sees them."""
import copy

from streamsql.testing.loader import expand_case
from streamsql.testing.runner import FAILED, PASSED, run_one

SCALABLE_CASE = {
    "name": "scalable push query sees inputs produced while it runs",
    "properties": {"ksql.query.push.v2.enabled": True, "auto.offset.reset": "latest"},
    "statements": [
        "CREATE STREAM S1 (ID INT KEY, NAME STRING) WITH (kafka_topic='test_topic', "
        "value_format='JSON');",
        "CREATE STREAM S2 AS SELECT ID, UCASE(NAME) AS NAME FROM S1;",
        "SELECT * FROM S2 WHERE ID > 1 EMIT CHANGES LIMIT 2;",
    ],
    "inputs": [
        {"topic": "test_topic", "timestamp": 1, "key": 1, "value": {"NAME": "a"}},
        {"topic": "test_topic", "timestamp": 2, "key": 2, "value": {"NAME": "b"}},
        {"topic": "test_topic", "timestamp": 3, "key": 3, "value": {"NAME": "c"}},
    ],
    "inputConditions": {"waitForActivePushQuery": True},
    "responses": [
        {"admin": {"@type": "currentStatus"}},
        {"admin": {"@type": "currentStatus"}},
        {"query": [
            {"header": {"queryId|starts_with": "SCALABLE_PUSH_QUERY",
                        "schema": "`ID` INTEGER, `NAME` STRING"}},
            {"row": {"columns": [2, "B"]}},
            {"row": {"columns": [3, "C"]}},
            {"finalMessage": "Limit Reached"},
        ]},
    ],
}


def run_case(case: dict):
    (run,) = expand_case(case, "push.json", rest=True)
    return run_one(run)


def test_inputs_reach_a_push_query_that_reads_from_the_latest_offset():
    outcome = run_case(SCALABLE_CASE)
    assert outcome.status == PASSED, outcome.reason


def test_streamed_rows_are_compared_with_the_expected_rows():
    case = copy.deepcopy(SCALABLE_CASE)
    case["responses"][2]["query"][2] = {"row": {"columns": [3, "c"]}}
    outcome = run_case(case)
    assert outcome.status == FAILED
    assert "no row matches {'row': {'columns': [3, 'c']}}" in outcome.reason


def test_a_transient_query_fails_a_case_expecting_a_scalable_one():
    case = copy.deepcopy(SCALABLE_CASE)
    case["properties"] = {"auto.offset.reset": "latest"}
    case["statements"][1] = "CREATE STREAM S2 AS SELECT * FROM S1;"
    case["responses"][2]["query"][1:3] = [{"row": {"columns": [2, "b"]}},
                                          {"row": {"columns": [3, "c"]}}]
    outcome = run_case(case)
    # push queries are scalable on the REST server unless a property says otherwise
    assert outcome.status == PASSED, outcome.reason
    case["properties"]["ksql.query.push.v2.enabled"] = False
    outcome = run_case(case)
    assert outcome.status == FAILED
    assert "does not start with 'SCALABLE_PUSH_QUERY'" in outcome.reason
