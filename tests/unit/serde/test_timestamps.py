"""Record timestamps from a column: epoch ms columns and Java date-time patterns."""
from datetime import datetime, timezone

import pyarrow as pa
import pytest

from streamsql.catalog.types import BIGINT, STRING, TIMESTAMP
from streamsql.errors import StatementError
from streamsql.serde.timestamps import compile_pattern, extract_timestamps, parse_timestamps


def epoch_ms(*args, tz=timezone.utc):
    return int(datetime(*args, tzinfo=tz).timestamp() * 1000)


def parse(texts, pattern):
    return extract_timestamps(pa.table({"TS": pa.array(texts, pa.string())}), "TS", STRING,
                              pattern)


def test_bigint_column_is_epoch_millis_and_negative_or_null_fail():
    table = pa.table({"TS": pa.array([1526075913000, -1, None], pa.int64())})
    millis, errors = extract_timestamps(table, "TS", BIGINT, None)
    assert millis.to_pylist() == [1526075913000, None, None]
    assert set(errors) == {1, 2}
    assert "negative" in errors[1] and "null" in errors[2]


def test_timestamp_column_is_taken_as_is():
    table = pa.table({"TS": pa.array([1234], pa.timestamp("ms"))})
    millis, errors = extract_timestamps(table, "TS", TIMESTAMP, None)
    assert (millis.to_pylist(), errors) == ([1234], {})


def test_two_digit_year_with_zone_offset():
    millis, errors = parse(["10-04-19 12:00:17Z", "!!!!!!!!!!!!!!!!!", None,
                            "10-04-19 12:00:17+0100"], "yy-MM-dd HH:mm:ssX")
    assert millis.to_pylist() == [1271678417000, None, None, 1271678417000 - 3_600_000]
    assert errors[1] == ("Failed to parse timestamp '!!!!!!!!!!!!!!!!!' with formatter "
                         "'yy-MM-dd HH:mm:ssX'")
    assert set(errors) == {1, 2}


@pytest.mark.parametrize("pattern,text,expected", [
    ("yyyy-MM-dd'T'HH:mm:ss.SSS", "2020-02-29T23:59:58.123", epoch_ms(2020, 2, 29, 23, 59, 58,
                                                                       123000)),
    ("yyyy-MM-dd", "1999-07-20", epoch_ms(1999, 7, 20)),
    ("dd/MMM/yyyy:HH:mm:ss XXX", "10/Oct/2000:13:55:36 -07:00",
     epoch_ms(2000, 10, 10, 20, 55, 36)),
    ("yyyy-MM-dd hh:mm a", "2021-03-04 12:30 AM", epoch_ms(2021, 3, 4, 0, 30)),
    ("yyyy-MM-dd hh:mm a", "2021-03-04 01:30 PM", epoch_ms(2021, 3, 4, 13, 30)),
    ("yyyy-MM-dd HH:mm:ss.S", "2021-03-04 01:02:03.7", epoch_ms(2021, 3, 4, 1, 2, 3, 700000)),
    ("yyyyMMddHHmmssSSSSSS", "20210304010203123456", epoch_ms(2021, 3, 4, 1, 2, 3, 123000)),
    ("EEE, d MMMM yyyy", "Thu, 4 March 2021", epoch_ms(2021, 3, 4)),
    ("yyyy-MM-dd HH:mm VV", "2021-07-01 12:00 Europe/Berlin", epoch_ms(2021, 7, 1, 10, 0)),
    ("yyyy-MM-dd HH:mm VV", "2021-01-01 12:00 Europe/Berlin", epoch_ms(2021, 1, 1, 11, 0)),
    ("yyyy-MM-dd", "2021-04-31", epoch_ms(2021, 4, 30)),  # smart resolution clamps the day
])
def test_java_patterns(pattern, text, expected):
    millis, errors = parse([text], pattern)
    assert errors == {}
    assert millis.to_pylist() == [expected]


def test_dates_before_the_epoch_parse_to_negative_millis():
    errors = {}
    millis = parse_timestamps(pa.array(["1969-07-20", "0001-01-01"]), "yyyy-MM-dd", errors)
    assert millis.to_pylist() == [epoch_ms(1969, 7, 20), epoch_ms(1, 1, 1)]
    assert errors == {}


@pytest.mark.parametrize("text", ["2021-13-01", "2021-00-10", "2021-01-32", "21-01-01",
                                  "2021-01-01 "])
def test_out_of_range_or_malformed_dates_fail(text):
    millis, errors = parse([text], "yyyy-MM-dd")
    assert millis.to_pylist() == [None]
    assert set(errors) == {0}


def test_unknown_zone_fails_the_row():
    _, errors = parse(["2021-01-01 Mars/Base"], "yyyy-MM-dd VV")
    assert set(errors) == {0}


def test_untranslatable_pattern_is_a_statement_error():
    with pytest.raises(StatementError, match="Invalid TIMESTAMP_FORMAT 'yyyy\\[-MM\\]'"):
        compile_pattern("yyyy[-MM]")
    with pytest.raises(StatementError, match="Unsupported pattern letter 'Q'"):
        compile_pattern("yyyy QQ")


def test_string_column_without_format_is_a_statement_error():
    with pytest.raises(StatementError, match="needs a TIMESTAMP_FORMAT"):
        parse(["1"], None)
