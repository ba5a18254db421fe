"""Engine-independent parts of a run: skips, delivery order, expected-exception matching."""
from streamsql.errors import ParseError, ProcessingError, Span, StatementError, StreamSQLError
from streamsql.testing.loader import ExpectedException, TopicSpec, expand_case
from streamsql.testing.expected_errors import exception_mismatch
from streamsql.testing.runner import (FAILED, REGISTRY_SKIP_REASON, SKIPPED,
                                      Delivery, engine_properties, plan_deliveries, run_one,
                                      skip_reason, statement_topics)

KSQL = "io.confluent.ksql.util.KsqlException"
STATEMENT = "io.confluent.ksql.util.KsqlStatementException"
PARSE = "io.confluent.ksql.parser.exception.ParseFailedException"
STREAMS = "org.apache.kafka.streams.errors.StreamsException"


def run_of(**fields):
    raw = {"name": "c", "statements": ["CREATE STREAM S AS SELECT * FROM T;"],
           "inputs": [{"topic": "t", "value": 1}]}
    raw.update(fields)
    return expand_case(raw, "f.json")


def test_schema_registry_formats_skip_with_the_reason():
    [avro] = run_of(statements=["CREATE STREAM T WITH (value_format = 'avro');"])
    [json_run, sr_run] = run_of(format=["JSON", "JSON_SR"],
                                statements=["CREATE STREAM T WITH (VALUE_FORMAT='{FORMAT}');"])
    [default] = run_of(properties={"ksql.persistence.default.format.value": "PROTOBUF"})
    [registered] = run_of(topics=[{"name": "t", "valueSchema": {"type": "int"}}])
    assert skip_reason(avro) == REGISTRY_SKIP_REASON
    assert skip_reason(json_run) is None and skip_reason(sr_run) == REGISTRY_SKIP_REASON
    assert skip_reason(default) == REGISTRY_SKIP_REASON
    assert skip_reason(registered) == REGISTRY_SKIP_REASON
    assert registered.topics == (TopicSpec("t", has_schema=True),)


def test_rest_proto_cases_skip_and_invalid_cases_fail_without_an_engine():
    [push] = run_of(responses=[], inputConditions={"waitForActivePushQuery": True})
    assert skip_reason(push) is None  # run for real: tests/server/test_rest_push_runs.py
    [proto] = run_of(responses=[], testPullWithProtoFormat=True)
    assert run_one(proto).status == SKIPPED
    [invalid] = expand_case({"name": "c", "statements": ["x"]}, "f.json")
    outcome = run_one(invalid)
    assert outcome.status == FAILED and outcome.reason.startswith("invalid case:")


def test_engine_properties_put_the_case_over_the_base_and_drop_harness_switches():
    [run] = run_of(properties={"auto.offset.reset": "latest", "use.exact.numeric.comparison": False,
                               "ksql.sink.partitions": 2})
    properties = engine_properties(run)
    assert properties["auto.offset.reset"] == "latest"
    assert properties["cache.max.bytes.buffering"] == "0"
    assert properties["ksql.service.id"] == "some.ksql.service.id"
    assert properties["ksql.sink.partitions"] == "2"
    assert "use.exact.numeric.comparison" not in properties
    assert "ksql.query.push.v2.enabled" not in properties  # a REST server's setting only


def test_rest_runs_have_scalable_push_queries_unless_the_case_says_otherwise():
    [on] = run_of(responses=[])
    [off] = run_of(responses=[], properties={"ksql.query.push.v2.enabled": "false"})
    assert engine_properties(on)["ksql.query.push.v2.enabled"] == "true"
    assert engine_properties(off)["ksql.query.push.v2.enabled"] == "false"


def test_deliveries_follow_input_order_and_merge_consecutive_records_of_a_topic():
    inputs = [("a", 0, 0), ("a", 0, 1), ("b", 0, 0), ("a", 0, 2), ("c", 0, 0), ("b", 0, 1)]
    assert plan_deliveries(inputs, ["a", "b"], {}) == [
        Delivery("a", 0, 0, 2), Delivery("b", 0, 0, 1), Delivery("a", 0, 2, 3),
        Delivery("b", 0, 1, 2)]


def test_inputs_start_after_rows_written_before_them():
    # INSERT VALUES put two rows on 'a' first: the query must not see them.
    assert plan_deliveries([("a", 0, 2), ("a", 0, 3)], ["a"], {}) == [Delivery("a", 0, 2, 4)]


def test_upstream_topics_come_after_inputs_topic_by_topic_and_partition_by_partition():
    stored = {"up": [(0, 0, 3), (1, 0, 0), (2, 0, 1)], "other": [(0, 0, 2)]}
    assert plan_deliveries([("a", 0, 0)], ["up", "a", "other"], stored) == [
        Delivery("a", 0, 0, 1), Delivery("up", 0, 0, 3), Delivery("up", 2, 0, 1),
        Delivery("other", 0, 0, 2)]


def test_a_query_reading_no_input_topic_sees_only_stored_records():
    assert plan_deliveries([("a", 0, 0)], ["b"], {"b": [(0, 0, 1)]}) == [Delivery("b", 0, 0, 1)]


def test_records_of_one_topic_in_different_partitions_are_separate_deliveries():
    inputs = [("a", 1, 0), ("a", 1, 1), ("a", 0, 0), ("a", 1, 2)]
    assert plan_deliveries(inputs, ["a"], {}) == [
        Delivery("a", 1, 0, 2), Delivery("a", 0, 0, 1), Delivery("a", 1, 2, 3)]


def test_statement_errors_match_their_java_class_and_superclasses():
    error = StatementError("Column 'X' cannot be resolved.")
    assert exception_mismatch(ExpectedException(STATEMENT, "cannot be resolved"), error) is None
    assert exception_mismatch(ExpectedException(KSQL, None), error) is None
    assert "expected ParseFailedException" in exception_mismatch(ExpectedException(PARSE, None),
                                                                 error)
    assert exception_mismatch(ExpectedException(STREAMS, None), error) is not None


def test_parse_errors_are_statement_errors_too():
    error = ParseError("mismatched input 'FOO'")
    for java_class in (PARSE, STATEMENT, KSQL):
        assert exception_mismatch(ExpectedException(java_class, "mismatched"), error) is None


def test_processing_errors_are_streams_exceptions_only():
    error = ProcessingError("Exception caught in process")
    assert exception_mismatch(ExpectedException(STREAMS, "caught in process"), error) is None
    assert exception_mismatch(ExpectedException(KSQL, None), error) is not None


def test_message_may_match_with_the_line_prefix_or_the_rendered_text():
    error = StatementError("bad thing", Span(2, 5, 2, 9), text="a\nbbbbbbbbbbb")
    assert exception_mismatch(ExpectedException(None, "line 2:5: bad thing"), error) is None
    assert exception_mismatch(ExpectedException(None, "Line: 2, Col: 5: bad thing"), error) is None
    assert exception_mismatch(ExpectedException(None, "Line: 2, Col: 6: bad thing"), error)
    assert exception_mismatch(ExpectedException(None, "bbbbbbbbbbb"), error) is None
    assert "expected an error containing 'Bad thing'" in \
        exception_mismatch(ExpectedException(None, "Bad thing"), error)


def test_cause_is_checked_against_the_direct_cause():
    try:
        try:
            raise StreamSQLError("Numeric field overflow")
        except StreamSQLError as inner:
            raise ProcessingError("Exception caught in process") from inner
    except ProcessingError as caught:
        error = caught
    assert exception_mismatch(ExpectedException(STREAMS, "process", KSQL, "overflow"), error) is None
    assert exception_mismatch(ExpectedException(STREAMS, "process", STREAMS, None), error) \
        .startswith("cause:")
    bare = ProcessingError("Exception caught in process")
    assert "has none" in exception_mismatch(ExpectedException(STREAMS, None, KSQL, None), bare)


def test_statement_topics_are_every_create_topic_and_sinks_with_partitions():
    [run] = run_of(statements=[
        "CREATE STREAM A (X INT) WITH (kafka_topic='a', value_format='JSON');",
        "CREATE TABLE B (K INT PRIMARY KEY, X INT) WITH (kafka_topic='b', partitions=4, "
        "replicas=2, value_format='JSON');",
        "CREATE STREAM C AS SELECT * FROM A;",
        "CREATE STREAM D WITH (partitions=3) AS SELECT * FROM A;",
        "CREATE STREAM E WITH (kafka_topic='e', partitions=2) AS SELECT * FROM A;"],
        properties={"ksql.output.topic.name.prefix": "p_"})
    assert statement_topics(run) == [("a", 1, 1), ("b", 4, 2), ("p_D", 3, 1), ("e", 2, 1)]
    # A REST run's undeclared topics have REST_DEFAULT_PARTITIONS (four) partitions.
    assert statement_topics(run, 4)[:2] == [("a", 4, 1), ("b", 4, 2)]
    [unparseable] = run_of(statements=["CREATE STREAM (;"])
    assert statement_topics(unparseable) == []
