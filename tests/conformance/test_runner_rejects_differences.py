"""The runner never passes a run whose results differ: real QTT cases, altered, must FAIL.

Each base case must pass unaltered first, so a FAIL of the altered copy is due to the
alteration and not to an engine gap.
"""
import copy
import os
from decimal import Decimal
from pathlib import Path

import pytest

from streamsql.testing.loader import expand_case, parse_json
from streamsql.testing.runner import FAILED, PASSED, run_one

CASES = Path(os.environ.get("STREAMSQL_QTT_CASES",
                            Path(__file__).resolve().parents[3] / "shared" / "qtt" / "cases"))

ALIASED_KEY = ("project-filter.json", "projection with aliased key column")
TRAILING_ZEROS = ("decimal.json", "JSON should not trim trailing zeros")
KAFKA_DOUBLE = ("kafka.json", "DOUBLE")
HEADERS = ("headers.json", "Can create and query stream with HEADERS column")
WINDOWED = ("tumbling-windows.json", "import tumbling stream")
SESSION = ("session-windows.json", "import session stream")
KEY_TWICE = ("project-filter.json", "key in projection more than once")
BASES = [ALIASED_KEY, TRAILING_ZEROS, KAFKA_DOUBLE, HEADERS, WINDOWED, SESSION, KEY_TWICE]


def load_case(file: str, name: str) -> dict:
    if not CASES.is_dir():
        pytest.skip(f"QTT cases not found at {CASES} (set STREAMSQL_QTT_CASES)")
    for raw in parse_json((CASES / file).read_text())["tests"]:
        if raw["name"] == name:
            return copy.deepcopy(raw)
    raise LookupError(f"{file} has no case {name!r}")


def verdict(file: str, raw: dict):
    [run] = expand_case(raw, file)
    return run_one(run)


@pytest.mark.parametrize("base", BASES, ids=lambda b: f"{b[0]}::{b[1]}")
def test_unaltered_case_passes(base):
    outcome = verdict(base[0], load_case(*base))
    assert outcome.status == PASSED, outcome.reason


def first_output(raw):
    return raw["outputs"][0]


def set_value_field(raw):
    first_output(raw)["value"]["NAME"] = "Not Nick"


def add_expected_record(raw):
    raw["outputs"].append(copy.deepcopy(first_output(raw)))


def drop_expected_record(raw):
    raw["outputs"].pop()


def set_timestamp(raw):
    first_output(raw)["timestamp"] = 5


def set_key(raw):
    first_output(raw)["key"] = 2


def expect_header(raw):
    first_output(raw)["headers"] = [{"KEY": "h", "VALUE": "IQ=="}]


def change_post_schema(raw):
    raw["post"]["sources"][0]["schema"] = "NEW_KEY INT KEY, NAME INT"


def rename_post_source(raw):
    raw["post"]["sources"][0]["name"] = "NO_SUCH_SOURCE"


def expect_window_on_unwindowed(raw):
    first_output(raw)["window"] = {"start": 0, "end": 1000, "type": "time"}


def trim_decimal_scale(raw):
    first_output(raw)["value"]["DEC"] = Decimal("10.0")


def decimal_as_number_literal(raw):
    first_output(raw)["value"]["DEC"] = 10


def kafka_double_scale(raw):
    first_output(raw)["value"] = "2.20"


def drop_expected_headers(raw):
    del raw["outputs"][1]["headers"]


def change_header_bytes(raw):
    raw["outputs"][1]["headers"] = [{"KEY": "abc", "VALUE": "Ig=="}]


def null_header_for_bytes(raw):
    raw["outputs"][1]["headers"] = [{"KEY": "abc", "VALUE": None}]


def change_window_end(raw):
    first_output(raw)["window"]["end"] = 60000


def session_instead_of_time(raw):
    first_output(raw)["window"]["type"] = "session"


def drop_window(raw):
    del first_output(raw)["window"]


def zero_timestamp_with_inputs(raw):
    raw["outputs"][-1]["timestamp"] = 0  # a wildcard only when the case has no inputs


def change_session_start(raw):
    first_output(raw)["window"]["start"] = 1


def time_instead_of_session(raw):
    first_output(raw)["window"]["type"] = "time"


def change_expected_message(raw):
    raw["expectedException"]["message"] = "a message ksqlDB never wrote"


def expect_parse_failure(raw):
    raw["expectedException"]["type"] = "io.confluent.ksql.parser.exception.ParseFailedException"


def expect_exception_from_good_case(raw):
    raw["expectedException"] = {"type": "io.confluent.ksql.util.KsqlException"}


def drop_expected_exception(raw):
    del raw["expectedException"]
    raw["inputs"] = [{"topic": "test_topic", "key": 1, "value": {"NAME": "x"}}]


ALTERATIONS = [
    (ALIASED_KEY, set_value_field, "value: NAME"),
    (ALIASED_KEY, add_expected_record, "expected 2 records but got 1"),
    (ALIASED_KEY, set_timestamp, "timestamp: expected 5 but was 0"),
    (ALIASED_KEY, set_key, "key: expected 2 but was 1"),
    (ALIASED_KEY, expect_header, "headers: expected [h=IQ==] but was []"),
    (ALIASED_KEY, change_post_schema, "post.sources: OUTPUT: schema"),
    (ALIASED_KEY, rename_post_source, "no source named 'NO_SUCH_SOURCE'"),
    (ALIASED_KEY, expect_window_on_unwindowed, "window: expected time window"),
    (ALIASED_KEY, expect_exception_from_good_case, "but nothing failed"),
    (TRAILING_ZEROS, drop_expected_record, "expected 1 records but got 2"),
    (TRAILING_ZEROS, trim_decimal_scale, "value: DEC: expected 10.0 but was 10.0000"),
    (TRAILING_ZEROS, decimal_as_number_literal, "value: DEC: expected 10 but was 10.0000"),
    (KAFKA_DOUBLE, kafka_double_scale, "value: expected \"2.20\" but was 2.2"),
    (HEADERS, drop_expected_headers, "headers: expected [] but was [abc=IQ==]"),
    (HEADERS, change_header_bytes, "headers: expected [abc=Ig==]"),
    (HEADERS, null_header_for_bytes, "headers: expected [abc=null]"),
    (WINDOWED, change_window_end, "window: expected time window [0, 60000]"),
    (WINDOWED, session_instead_of_time, "window: expected session window"),
    (WINDOWED, drop_window, "window: expected no window but was time window [0, 30000]"),
    (WINDOWED, zero_timestamp_with_inputs, "timestamp: expected 0 but was 30000"),
    (SESSION, change_session_start, "window: expected session window [1, 0] but was session"),
    (SESSION, time_instead_of_session, "window: expected time window [0, 0]"),
    (KEY_TWICE, change_expected_message, "expected an error containing"),
    (KEY_TWICE, expect_parse_failure, "expected ParseFailedException"),
    (KEY_TWICE, drop_expected_exception, "KsqlStatementException: The projection contains"),
]


@pytest.mark.parametrize("base, alter, reason", ALTERATIONS,
                         ids=[f"{b[1]}: {a.__name__}" for b, a, _ in ALTERATIONS])
def test_altered_case_fails_with_the_difference(base, alter, reason):
    raw = load_case(*base)
    alter(raw)
    outcome = verdict(base[0], raw)
    assert outcome.status == FAILED
    assert reason in outcome.reason


def test_topics_missing_from_outputs_are_not_checked():
    raw = load_case(*TRAILING_ZEROS)
    raw["outputs"] = []  # quirk 12.1: an empty outputs list checks nothing
    assert verdict(TRAILING_ZEROS[0], raw).status == PASSED
