"""Date/time functions: epoch conversions, Java patterns, zones, DATEADD & co."""
import datetime

import pytest

from streamsql import ast
from streamsql.errors import StatementError
from streamsql.functions.datetime import java_to_strftime
from expr_harness import NULL, call, cast, col, num, text


def unit(name: str) -> ast.IntervalUnit:
    return ast.IntervalUnit(name)


@pytest.mark.parametrize("pattern, expected", [
    ("yyyy-MM-dd HH:mm:ss", "%Y-%m-%d %H:%M:%S"),
    ("yyyy-MM-dd'T'HH:mm:ss.SSS", "%Y-%m-%dT%H:%M:%S.%g"),
    ("dd/MM/yy", "%d/%m/%y"),
    ("yyyy-MM-dd'Lit'", "%Y-%m-%dLit"),
    ("h:mm a, EEE MMM d", "%-I:%M %p, %a %b %-d"),
    ("'it''s' 100%", "it's 100%%"),
])
def test_java_patterns_translate_to_strftime(pattern, expected):
    assert java_to_strftime(pattern) == expected


def test_unknown_pattern_letter_is_rejected():
    with pytest.raises(StatementError, match="'qq'"):
        java_to_strftime("yyyy qq")


def test_timestamptostring_in_zone(batch):
    expr = call("TIMESTAMPTOSTRING", col("ROWTIME"), text("yyyy-MM-dd HH:mm:ss"),
                text("America/Los_Angeles"))
    assert batch.values(expr)[:2] == ["2018-05-11 14:58:33", None]


def test_format_timestamp_without_zone_is_utc(batch):
    expr = call("FORMAT_TIMESTAMP", col("TS"), text("yyyy-MM-dd HH:mm:ss"))
    assert batch.values(expr)[0] == "2018-05-11 21:58:33"


def test_stringtotimestamp_with_offset_pattern(batch):
    expr = call("STRINGTOTIMESTAMP", text("2018-05-11T21:58:33Z"),
                text("yyyy-MM-dd'T'HH:mm:ssX"))
    assert batch.values(expr)[0] == 1526075913000


def test_parse_timestamp_in_zone_and_unparseable_text_is_null(batch):
    in_zone = call("PARSE_TIMESTAMP", text("2018-05-11 14:58:33"), text("yyyy-MM-dd HH:mm:ss"),
                   text("America/Los_Angeles"))
    assert batch.values(in_zone)[0] == datetime.datetime(2018, 5, 11, 21, 58, 33)
    bad = call("PARSE_TIMESTAMP", text("nope"), text("yyyy-MM-dd"))
    assert batch.values(bad)[0] is None


def test_date_formatting_and_parsing_with_pattern_from_a_column(batch):
    pattern = ast.Case(None, (ast.WhenClause(ast.IsNull(col("I")), text("dd/MM/yyyy")),),
                       text("yyyy-MM-dd"))
    expr = call("FORMAT_DATE", call("PARSE_DATE", text("2018-05-11"), text("yyyy-MM-dd")),
                pattern)
    assert batch.values(expr)[:2] == ["2018-05-11", "11/05/2018"]
    quoted = call("FORMAT_DATE", call("FROM_DAYS", num(-1)),
                  ast.Case(None, (ast.WhenClause(ast.IsNull(col("I")), text("dd-MM-yyyy'Sophia'")),),
                           text("yyyy")))
    assert batch.values(quoted)[1] == "31-12-1969Sophia"
    assert batch.values(call("STRINGTODATE", text("2018-05-11Lit"),
                             text("yyyy-MM-dd'Lit'")))[0] == 17662
    assert batch.values(call("DATETOSTRING", num(17662), text("yyyy-MM-dd")))[0] == "2018-05-11"


def test_epoch_conversions(batch):
    assert batch.values(call("UNIX_TIMESTAMP", col("TS")))[0] == 1526075913000
    assert batch.values(call("FROM_UNIXTIME", col("ROWTIME")))[2] == datetime.datetime(1970, 1, 1)
    assert batch.values(call("UNIX_DATE", call("FROM_DAYS", num(-10))))[0] == -10
    assert batch.values(call("UNIX_TIMESTAMP"))[0] > 1_500_000_000_000


def test_timestampadd_and_sub(batch):
    added = call("TIMESTAMPADD", unit("SECONDS"), num(5), col("TS"))
    assert batch.values(added)[2] == datetime.datetime(1970, 1, 1, 0, 0, 5)
    assert batch.values(call("TIMESTAMPSUB", unit("MILLISECONDS"), NULL, col("TS")))[0] is None


def test_dateadd_and_timeadd_wraps_at_midnight(batch):
    day = call("FROM_DAYS", num(10))
    assert batch.values(call("DATEADD", unit("DAYS"), num(-5), day))[0] == datetime.date(1970, 1, 6)
    time = cast(text("23:59:59.995"), "TIME")
    assert batch.values(call("TIMEADD", unit("MILLISECONDS"), num(10), time))[0] == \
        datetime.time(0, 0, 0, 5000)


def test_dateadd_rejects_a_column_as_unit(batch):
    with pytest.raises(StatementError, match=r"Function 'dateadd' does not accept parameters "
                                             r"\(TIMESTAMP, INTEGER, TIMESTAMP\)"):
        batch.compile(call("DATEADD", col("TS"), num(5), col("TS")))


def test_convert_tz_with_offsets(batch):
    expr = call("CONVERT_TZ", col("TS"), text("+0200"), text("+0500"))
    assert batch.values(expr)[2] == datetime.datetime(1970, 1, 1, 3, 0)


def test_parse_date_ignores_text_after_a_fixed_width_pattern_like_java(batch):
    expr = call("PARSE_DATE", text("2003-12-24-01-01"), text("yyyy-MM-dd"))
    assert batch.values(expr)[0] == datetime.date(2003, 12, 24)
    assert batch.values(call("PARSE_DATE", text("2004"), text("yyyy-MM-dd")))[0] is None


def pattern_of_a_column(pattern: str):
    """A pattern that is not a literal, as one read from a column would be."""
    return call("CONCAT", text(pattern), text(""))


@pytest.mark.parametrize("value, pattern, expected", [
    ("01-JAN-2022", "dd-MMM-yyyy", datetime.date(2022, 1, 1)),
    ("JAN-2022", "MMM-yyyy", datetime.date(2022, 1, 1)),  # the day defaults to 1
    ("2018-05-11Lit", "yyyy-MM-dd'Lit'", datetime.date(2018, 5, 11)),
    ("11/05/19", "dd/MM/yy", datetime.date(2019, 5, 11)),
    ("2018_05_11", "yyyy_MM_dd", datetime.date(2018, 5, 11)),
    ("2018x05_11", "yyyy_MM_dd", None),  # `_` is a literal, not a wildcard
    ("2018-05-11", "yyyy/MM/dd", None),
    ("2018-13-11", "yyyy-MM-dd", None),
    ("2018-5-11", "yyyy-M-dd", None),  # variable-width tokens need a literal pattern
])
def test_parse_date_with_a_pattern_from_a_column(batch, value, pattern, expected):
    expr = call("PARSE_DATE", text(value), pattern_of_a_column(pattern))
    assert batch.values(expr)[0] == expected


def test_parse_timestamp_with_a_pattern_from_a_column_reads_the_time_too(batch):
    expr = call("PARSE_TIMESTAMP", text("2018-05-11 14:58:33.120"),
                pattern_of_a_column("yyyy-MM-dd HH:mm:ss.SSS"))
    assert batch.values(expr)[0] == datetime.datetime(2018, 5, 11, 14, 58, 33, 120000)
    days = call("STRINGTODATE", text("01-01-1970"), pattern_of_a_column("dd-MM-yyyy"))
    assert batch.values(days)[0] == 0


def test_zone_names_follow_daylight_saving(batch):
    expr = call("TIMESTAMPTOSTRING", col("ROWTIME"), text("yyyy-MM-dd HH:mm:ss zzz"),
                text("America/Los_Angeles"))
    assert batch.values(expr)[:3] == ["2018-05-11 14:58:33 PDT", None, "1969-12-31 16:00:00 PST"]
    assert batch.values(call("FORMAT_TIMESTAMP", col("TS"), text("HH:mm z")))[0] == "21:58 UTC"
    offset = call("FORMAT_TIMESTAMP", col("TS"), text("HH:mm z"), text("+0530"))
    assert batch.values(offset)[0] == "03:28 +05:30"


def test_pattern_letter_z_prints_the_offset_as_java_does(batch):
    expr = call("TIMESTAMPTOSTRING", col("ROWTIME"), text("yyyy-MM-dd HH:mm:ss Z"), text("UTC"))
    assert batch.values(expr)[0] == "2018-05-11 21:58:33 +0000"
    shifted = call("TIMESTAMPTOSTRING", col("ROWTIME"), text("HH:mm Z"), text("America/Denver"))
    assert batch.values(shifted)[0] == "15:58 -0600"


def test_unknown_zone_is_rejected_when_literal_and_null_when_from_a_column(batch):
    with pytest.raises(StatementError, match="Unknown time zone: 'Bad/Zone'"):
        batch.compile(call("FORMAT_TIMESTAMP", col("TS"), text("HH:mm"), text("Bad/Zone")))
    zone = ast.Case(None, (ast.WhenClause(ast.IsNull(col("I")), text("Bad/Zone")),),
                    text("Europe/London"))
    assert batch.values(call("FORMAT_TIMESTAMP", col("TS"), text("HH:mm"), zone))[:2] == \
        ["22:58", None]
