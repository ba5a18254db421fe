"""Date and time functions: epoch conversions, Java-pattern formatting/parsing, DATEADD & co.

Java DateTimeFormatter patterns are translated to DuckDB strftime/strptime formats at
compile time for literal patterns. Patterns held in columns format by a chain of
replacements, and parse field by field (fixed-width tokens only), since DuckDB parses with
constant formats only. TIMESTAMP values are UTC wall-clock times.
Known gap: zone names (`z`) format as the zone offset, not as 'PDT'.
"""
from __future__ import annotations

import datetime
import functools
import re
import zoneinfo

from sqlglot import exp

from streamsql.catalog.types import BIGINT, DATE, INTEGER, STRING, TIME, TIMESTAMP, SqlType
from streamsql.errors import StatementError
from streamsql.functions.registry import Call, FunctionRegistry, UnitArg
from streamsql.functions.sqltree import (case, column, concat, fn, fresh_param, lambda_, lit,
                                         paren, try_)
from streamsql.functions.typed import Typed

CATEGORY = "DATE / TIME"
_EPOCH_DAY = exp.cast(lit("1970-01-01"), "DATE")
_UNIT_MS = {"MILLISECONDS": 1, "SECONDS": 1000, "MINUTES": 60_000, "HOURS": 3_600_000,
            "DAYS": 86_400_000}
_DAY_MS = 86_400_000

# Java pattern letter -> {run length: strftime code}; the largest length <= the run wins.
_PATTERN_CODES = {
    "y": {1: "%Y", 2: "%y", 3: "%Y"}, "u": {1: "%Y", 2: "%y", 3: "%Y"},
    "M": {1: "%-m", 2: "%m", 3: "%b", 4: "%B"}, "L": {1: "%-m", 2: "%m", 3: "%b", 4: "%B"},
    "d": {1: "%-d", 2: "%d"}, "D": {1: "%-j", 3: "%j"},
    "H": {1: "%-H", 2: "%H"}, "h": {1: "%-I", 2: "%I"},
    "m": {1: "%-M", 2: "%M"}, "s": {1: "%-S", 2: "%S"},
    "S": {3: "%g", 6: "%f", 9: "%n"}, "a": {1: "%p"},
    "E": {1: "%a", 4: "%A"}, "z": {1: "%Z"}, "Z": {1: "%z"}, "X": {1: "%z"}, "x": {1: "%z"},
    "V": {2: "%Z"},
}
_PATTERN_TOKEN = re.compile(r"'(?:[^']|'')*'|([A-Za-z])\1*|.", re.S)


def java_to_strftime(pattern: str) -> str:
    """A Java DateTimeFormatter pattern as a DuckDB strftime/strptime format."""
    out = []
    for match in _PATTERN_TOKEN.finditer(pattern):
        token = match.group(0)
        if token.startswith("'"):
            out.append("'" if token == "''" else token[1:-1].replace("''", "'").replace("%", "%%"))
        elif token[0].isalpha():
            codes = _PATTERN_CODES.get(token[0])
            lengths = [n for n in (codes or {}) if n <= len(token)]
            if not lengths or (token[0] == "S" and len(token) not in codes):
                raise StatementError(f"Unknown or unsupported date/time pattern '{token}' in "
                                     f"'{pattern}'")
            out.append(codes[max(lengths)])
        else:
            out.append(token.replace("%", "%%"))
    return "".join(out)


# Pattern tokens a pattern held in a column may use, longest first so 'yyyy' is not two 'yy'.
_DYNAMIC_TOKENS = (("yyyy", "%Y"), ("MMMM", "%B"), ("EEEE", "%A"), ("MMM", "%b"), ("EEE", "%a"),
                   ("SSS", "%g"), ("yy", "%y"), ("MM", "%m"), ("dd", "%d"), ("HH", "%H"),
                   ("hh", "%I"), ("mm", "%M"), ("ss", "%S"), ("y", "%Y"), ("M", "%-m"),
                   ("d", "%-d"), ("H", "%-H"), ("h", "%-I"), ("m", "%-M"), ("s", "%-S"),
                   ("a", "%p"))


def _literal_pattern(pattern: Typed) -> str | None:
    if isinstance(pattern.sql, exp.Literal) and pattern.sql.is_string:
        return pattern.sql.this
    return None


def _strftime(value: exp.Expression, pattern: Typed) -> exp.Expression:
    """`value` formatted with a Java pattern.

    DuckDB wants a constant format, so a pattern from a column is applied by substitution
    outside its quoted parts: each token becomes a control-character placeholder (which no
    formatted value contains), then each placeholder becomes its formatted component.
    """
    literal = _literal_pattern(pattern)
    if literal is not None:
        return fn("STRFTIME", value, lit(java_to_strftime(literal)))
    # Splitting at quotes leaves the unquoted text at odd (1-based) positions.
    part, position = fresh_param(), fresh_param()
    text = column(part)
    for index, (token, _) in enumerate(_DYNAMIC_TOKENS):
        text = fn("REPLACE", text, lit(token), lit(chr(index + 1)))
    for index, (_, code) in enumerate(_DYNAMIC_TOKENS):
        text = fn("REPLACE", text, lit(chr(index + 1)), fn("STRFTIME", value, lit(code)))
    unquoted = exp.EQ(this=exp.Mod(this=column(position), expression=lit(2)), expression=lit(1))
    parts = fn("LIST_TRANSFORM", fn("STRING_SPLIT", pattern.sql, lit("'")),
               lambda_([part, position], case((unquoted, text), default=column(part))))
    return fn("ARRAY_TO_STRING", parts, lit(""))


# Fixed-width tokens a pattern held in a column may use when parsing (DuckDB parses only
# with a constant format), longest first so that 'yyyy' is not read as two 'yy'.
_PARSE_TOKENS = ("yyyy", "yy", "MMM", "MM", "dd", "HH", "mm", "ss", "SSS")
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")


def _placeholder(token: str) -> str:
    """A run of one control character as wide as the token (which no pattern contains)."""
    return chr(_PARSE_TOKENS.index(token) + 1) * len(token)


def _parse_with_column_pattern(text: exp.Expression, pattern: exp.Expression
                               ) -> exp.Expression:
    """`text` read with a Java pattern that each row holds, as a TIMESTAMP; NULL when it does
    not match or the pattern uses anything but _PARSE_TOKENS and quoted literals.

    The pattern is expanded once per row (tokens become placeholder runs, quotes are
    dropped): each field is then read at its placeholder's position, and the other characters
    must match the text, case-insensitively as ksqlDB parses. Text after the pattern is
    ignored, as for a literal fixed-width pattern.
    """
    part, position, expansion = fresh_param(), fresh_param(), fresh_param()

    def expanded(unquoted_only: bool) -> exp.Expression:
        replaced = column(part)
        for token in _PARSE_TOKENS:
            replaced = fn("REPLACE", replaced, lit(token), lit(_placeholder(token)))
        quoted = lit("") if unquoted_only else column(part)
        # Splitting at quotes leaves the unquoted text at odd (1-based) positions.
        unquoted = exp.EQ(this=exp.Mod(this=column(position), expression=lit(2)),
                          expression=lit(1))
        parts = fn("LIST_TRANSFORM", fn("STRING_SPLIT", pattern, lit("'")),
                   lambda_([part, position], case((unquoted, replaced), default=quoted)))
        return fn("ARRAY_TO_STRING", parts, lit(""))

    layout = column(expansion)  # bound once below: every field reads it
    unsupported = fn("REGEXP_MATCHES", expanded(unquoted_only=True), lit("[A-Za-z]"))
    like = layout
    for special in ("\\", "%", "_"):
        like = fn("REPLACE", like, lit(special), lit("\\" + special))
    like = fn("REGEXP_REPLACE", like, lit(f"[{chr(1)}-{chr(len(_PARSE_TOKENS))}]"), lit("_"),
              lit("g"))
    matches = fn("ILIKE_ESCAPE", text, fn("CONCAT", like, lit("%")), lit("\\"))

    def field(token: str, default: int, read=None) -> exp.Expression:
        start = fn("STRPOS", layout, lit(_placeholder(token)))
        value = fn("SUBSTR", text, start, lit(len(token)))
        if read is None:
            read = case((fn("REGEXP_FULL_MATCH", value, lit("[0-9]+")), exp.cast(value, "INT")))
        else:
            read = read(value)
        return case((exp.EQ(this=start, expression=lit(0)), lit(default)), default=read)

    def month_name(value: exp.Expression) -> exp.Expression:
        months = exp.Array(expressions=[lit(m) for m in _MONTHS])
        return fn("NULLIF", fn("LIST_POSITION", months, fn("LOWER", value)), lit(0))

    # A two-digit year is in 2000-2099, as Java's `yy` reads it.
    year = case((exp.GT(this=fn("STRPOS", layout, lit(_placeholder("yy"))), expression=lit(0)),
                 exp.Add(this=lit(2000), expression=field("yy", 0))), default=field("yyyy", 1970))
    month = case((exp.GT(this=fn("STRPOS", layout, lit(_placeholder("MMM"))),
                         expression=lit(0)), field("MMM", 1, month_name)),
                 default=field("MM", 1))
    seconds = exp.Add(this=field("ss", 0), expression=exp.Div(
        this=field("SSS", 0), expression=lit(1000.0)))
    made = try_(fn("MAKE_TIMESTAMP", year, month, field("dd", 1), field("HH", 0),
                   field("mm", 0), seconds))
    parsed = case((fn("COALESCE", unsupported, lit(True)), exp.null()), (matches, made))
    return fn("LIST_EXTRACT", fn("LIST_TRANSFORM", exp.Array(
        expressions=[expanded(unquoted_only=False)]), lambda_([expansion], parsed)), lit(1))


# Widths of the fixed-width pattern tokens; a pattern made only of these (and literals)
# always formats to the same number of characters.
_FIXED_WIDTHS = {"yyyy": 4, "yy": 2, "MM": 2, "dd": 2, "HH": 2, "hh": 2, "mm": 2, "ss": 2,
                 "SSS": 3, "DDD": 3}


def _fixed_width(pattern: str) -> int | None:
    width = 0
    for match in _PATTERN_TOKEN.finditer(pattern):
        token = match.group(0)
        if token.startswith("'"):
            width += 1 if token == "''" else len(token[1:-1].replace("''", "'"))
        elif token[0].isalpha():
            if token not in _FIXED_WIDTHS:
                return None
            width += _FIXED_WIDTHS[token]
        else:
            width += len(token)
    return width


def _strptime(text: exp.Expression, pattern: str) -> exp.Expression:
    """TRY_STRPTIME with Java's leniency for trailing text after a fixed-width pattern.

    ksqlDB reads '2003-12-24-01-01' with 'yyyy-MM-dd' as 2003-12-24; DuckDB wants the
    whole text to match, so the prefix the pattern covers is tried as well.
    """
    fmt = lit(java_to_strftime(pattern))
    parsed = fn("TRY_STRPTIME", text, fmt)
    width = _fixed_width(pattern)
    if width is None:
        return parsed
    return fn("COALESCE", parsed, fn("TRY_STRPTIME", fn("LEFT", text, lit(width)), fmt))


def _pattern_has_offset(pattern: Typed) -> bool:
    literal = _literal_pattern(pattern)
    return literal is not None and bool(re.search(r"[XZx]", re.sub(r"'(?:[^']|'')*'", "",
                                                                     literal)))


_OFFSET = re.compile(r"[+-]\d\d:?\d\d")


def _offset_minutes(zone: exp.Expression) -> exp.Expression:
    """Minutes east of UTC of an offset zone such as '+0200' or '-05:30'."""
    hours = exp.cast(fn("SUBSTR", zone, lit(2), lit(2)), "INT")
    minutes = exp.cast(fn("RIGHT", zone, lit(2)), "INT")
    sign = case((exp.EQ(this=fn("LEFT", zone, lit(1)), expression=lit("-")), lit(-1)),
                default=lit(1))
    return exp.Mul(this=sign, expression=paren(exp.Add(
        this=exp.Mul(this=hours, expression=lit(60)), expression=minutes)))


def _shift(timestamp: exp.Expression, zone: Typed, to_local: bool) -> exp.Expression:
    """Between a UTC timestamp and the wall-clock time in `zone` (an id or a '+0200' offset).

    DuckDB knows zone ids only, so offsets are applied as arithmetic.
    """
    def by_offset() -> exp.Expression:
        minutes = _offset_minutes(zone.sql)
        if not to_local:
            minutes = exp.Neg(this=paren(minutes))
        return exp.Add(this=timestamp, expression=fn("TO_MINUTES", minutes))

    def by_id() -> exp.Expression:
        if to_local:
            return fn("TIMEZONE", zone.sql, fn("TIMEZONE", lit("UTC"), timestamp))
        return fn("TIMEZONE", lit("UTC"), fn("TIMEZONE", zone.sql, timestamp))

    literal = _literal_pattern(zone)
    if literal is not None:
        if _OFFSET.fullmatch(literal):
            return by_offset()
        if _zone_ids() and literal not in _zone_ids():
            raise StatementError(f"Unknown time zone: '{literal}'")
        return by_id()
    is_offset = fn("REGEXP_FULL_MATCH", zone.sql, lit(_OFFSET.pattern))
    if not _zone_ids():
        return case((is_offset, by_offset()), default=by_id())
    # DuckDB fails the whole statement on an unknown zone; such a row gets NULL instead.
    known = fn("LIST_CONTAINS", exp.Array(expressions=[lit(z) for z in sorted(_zone_ids())]),
               zone.sql)
    return case((is_offset, by_offset()), (known, by_id()))


@functools.lru_cache(maxsize=1)
def _zone_ids() -> frozenset[str]:
    """Zone ids Python's tz database knows (empty without one: zones are then not checked)."""
    return frozenset(zoneinfo.available_timezones())


def _format(timestamp: exp.Expression, pattern: Typed, zone: Typed | None) -> exp.Expression:
    local = _shift(timestamp, zone, to_local=True) if zone is not None else timestamp
    literal = _literal_pattern(pattern)
    if literal is None or not re.search("%[Zz]", java_to_strftime(literal)):
        return _strftime(local, pattern)
    # DuckDB cannot name a zone it is not set to, nor print a local time's offset, so zone
    # names and Java's `+0000` offsets are spliced in.
    spliced = {"%Z": _zone_name(timestamp, local, zone),
               "%z": _offset_text(_local_offset_minutes(timestamp, local), "%s%02d%02d")}
    parts: list[exp.Expression] = []
    for piece in re.split("(%[Zz])", java_to_strftime(literal)):
        if piece in spliced:
            parts.append(spliced[piece])
        elif piece:
            parts.append(fn("STRFTIME", local, lit(piece)))
    return concat(*parts)


def _local_offset_minutes(utc: exp.Expression, local: exp.Expression) -> exp.Expression:
    offset_seconds = exp.Sub(this=fn("EPOCH", local), expression=fn("EPOCH", utc))
    return exp.cast(exp.Div(this=offset_seconds, expression=lit(60)), "INT")


def _offset_text(minutes: exp.Expression, template: str) -> exp.Expression:
    """`template` (sign, hours, minutes) filled with an offset in minutes."""
    return fn("PRINTF", lit(template),
              case((exp.LT(this=minutes, expression=lit(0)), lit("-")), default=lit("+")),
              exp.IntDiv(this=fn("ABS", minutes), expression=lit(60)),
              exp.Mod(this=fn("ABS", minutes), expression=lit(60)))


def _zone_name(utc: exp.Expression, local: exp.Expression, zone: Typed | None
               ) -> exp.Expression:
    """Java's short zone name ('PDT', 'BST') of a zone at an instant.

    The names a literal zone uses are looked up once (zoneinfo) by UTC offset; the row's
    offset picks one. Other zones print as their offset.
    """
    if zone is None:
        return lit("UTC")
    minutes = _local_offset_minutes(utc, local)
    as_offset = _offset_text(minutes, "%s%02d:%02d")
    literal = _literal_pattern(zone)
    names = _zone_names(literal) if literal is not None else {}
    if not names:
        return as_offset
    return case(*((exp.EQ(this=minutes, expression=lit(offset)), lit(name))
                  for offset, name in names.items()), default=as_offset)


@functools.lru_cache(maxsize=256)
def _zone_names(zone_id: str) -> dict[int, str]:
    """UTC offset in minutes -> short name, for the offsets a zone has used since 1970."""
    try:
        zone = zoneinfo.ZoneInfo(zone_id)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return {}
    names: dict[int, str] = {}
    for year in range(1970, 2040):
        for month in (1, 7):
            instant = datetime.datetime(year, month, 15, 12, tzinfo=zone)
            offset = int(instant.utcoffset().total_seconds() // 60)
            names.setdefault(offset, instant.tzname())
    return names


def _parse(call: Call, text: exp.Expression, pattern: Typed, zone: Typed | None
           ) -> exp.Expression:
    """A string read with a Java pattern as a UTC TIMESTAMP; NULL when it does not parse."""
    literal = _literal_pattern(pattern)
    if literal is None:
        parsed = _parse_with_column_pattern(text, pattern.sql)
        return _shift(parsed, zone, to_local=False) if zone is not None else parsed
    if _pattern_has_offset(pattern):
        # Java's X accepts 'Z' for UTC; DuckDB's %z wants a numeric offset.
        text = fn("REGEXP_REPLACE", text, lit("[Zz]$"), lit("+00:00"))
        return fn("TIMEZONE", lit("UTC"), fn("TRY_STRPTIME", text, lit(java_to_strftime(literal))))
    parsed = _strptime(text, literal)
    return _shift(parsed, zone, to_local=False) if zone is not None else parsed


def _epoch_ms(timestamp: exp.Expression) -> exp.Expression:
    return fn("EPOCH_MS", timestamp)


def _interval_ms(call: Call) -> tuple[int, Typed, Typed]:
    """(unit in ms, amount, value) of a DATEADD-style call, or the 'does not accept' error."""
    if len(call.args) != 3 or not isinstance(call.args[0], UnitArg):
        call.reject()
    unit = _UNIT_MS.get(call.args[0].unit)
    if unit is None:
        call.error(f"Unknown time unit: {call.args[0].unit}")
    return unit, call.typed(1), call.typed(2)


def register(registry: FunctionRegistry) -> None:
    def define(name: str, description: str, signatures: list[str]):
        return registry.scalar(name, category=CATEGORY, description=description,
                               signatures=signatures, display_name=name.lower())

    @define("UNIX_TIMESTAMP", "Milliseconds since the epoch: now, or of a TIMESTAMP.",
            ["UNIX_TIMESTAMP()", "UNIX_TIMESTAMP(TIMESTAMP)"])
    def unix_timestamp(call: Call) -> Typed:
        if not call.args:
            return Typed(_epoch_ms(fn("NOW")), BIGINT)
        (value,) = call.match(TIMESTAMP) or call.reject()
        return Typed(_epoch_ms(value.sql), BIGINT)

    @define("UNIX_DATE", "Days since the epoch: today, or of a DATE.",
            ["UNIX_DATE()", "UNIX_DATE(DATE)"])
    def unix_date(call: Call) -> Typed:
        day = fn("CURRENT_DATE") if not call.args else (call.match(DATE) or call.reject())[0].sql
        return Typed(exp.cast(exp.Sub(this=day, expression=_EPOCH_DAY), "INT"), INTEGER)

    @define("FROM_UNIXTIME", "The TIMESTAMP of milliseconds since the epoch.",
            ["FROM_UNIXTIME(BIGINT)"])
    def from_unixtime(call: Call) -> Typed:
        (value,) = call.match(BIGINT) or call.reject()
        return Typed(exp.cast(fn("EPOCH_MS", value.sql), "TIMESTAMP"), TIMESTAMP)

    @define("FROM_DAYS", "The DATE of days since the epoch.", ["FROM_DAYS(INTEGER)"])
    def from_days(call: Call) -> Typed:
        (value,) = call.match(INTEGER) or call.reject()
        return Typed(exp.cast(exp.Add(this=_EPOCH_DAY, expression=value.sql), "DATE"), DATE)

    @define("TIMESTAMPTOSTRING", "Formats epoch milliseconds with a Java pattern, optionally "
                                 "in a time zone.",
            ["TIMESTAMPTOSTRING(BIGINT, STRING)", "TIMESTAMPTOSTRING(BIGINT, STRING, STRING)"])
    def timestamp_to_string(call: Call) -> Typed:
        args = call.match(BIGINT, STRING) or call.match(BIGINT, STRING, STRING) or call.reject()
        value = exp.cast(fn("EPOCH_MS", args[0].sql), "TIMESTAMP")
        return Typed(_format(value, args[1], args[2] if len(args) == 3 else None), STRING)

    @define("FORMAT_TIMESTAMP", "Formats a TIMESTAMP with a Java pattern, optionally in a "
                                "time zone.",
            ["FORMAT_TIMESTAMP(TIMESTAMP, STRING)", "FORMAT_TIMESTAMP(TIMESTAMP, STRING, STRING)"])
    def format_timestamp(call: Call) -> Typed:
        args = call.match(TIMESTAMP, STRING) or call.match(TIMESTAMP, STRING, STRING) \
            or call.reject()
        return Typed(_format(args[0].sql, args[1], args[2] if len(args) == 3 else None), STRING)

    @define("STRINGTOTIMESTAMP", "Parses a string with a Java pattern into epoch milliseconds.",
            ["STRINGTOTIMESTAMP(STRING, STRING)", "STRINGTOTIMESTAMP(STRING, STRING, STRING)"])
    def string_to_timestamp(call: Call) -> Typed:
        args = call.match(STRING, STRING) or call.match(STRING, STRING, STRING) or call.reject()
        parsed = _parse(call, args[0].sql, args[1], args[2] if len(args) == 3 else None)
        return Typed(_epoch_ms(parsed), BIGINT)

    @define("PARSE_TIMESTAMP", "Parses a string with a Java pattern into a TIMESTAMP.",
            ["PARSE_TIMESTAMP(STRING, STRING)", "PARSE_TIMESTAMP(STRING, STRING, STRING)"])
    def parse_timestamp(call: Call) -> Typed:
        args = call.match(STRING, STRING) or call.match(STRING, STRING, STRING) or call.reject()
        parsed = _parse(call, args[0].sql, args[1], args[2] if len(args) == 3 else None)
        return Typed(exp.cast(parsed, "TIMESTAMP"), TIMESTAMP)

    @define("FORMAT_DATE", "Formats a DATE with a Java pattern.", ["FORMAT_DATE(DATE, STRING)"])
    def format_date(call: Call) -> Typed:
        value, pattern = call.match(DATE, STRING) or call.reject()
        return Typed(_strftime(value.sql, pattern), STRING)

    @define("DATETOSTRING", "Formats days since the epoch with a Java pattern.",
            ["DATETOSTRING(INTEGER, STRING)"])
    def date_to_string(call: Call) -> Typed:
        value, pattern = call.match(INTEGER, STRING) or call.reject()
        day = exp.cast(exp.Add(this=_EPOCH_DAY, expression=value.sql), "DATE")
        return Typed(_strftime(day, pattern), STRING)

    @define("PARSE_DATE", "Parses a string with a Java pattern into a DATE.",
            ["PARSE_DATE(STRING, STRING)"])
    def parse_date(call: Call) -> Typed:
        value, pattern = call.match(STRING, STRING) or call.reject()
        return Typed(exp.cast(_parse(call, value.sql, pattern, None), "DATE"), DATE)

    @define("STRINGTODATE", "Parses a string with a Java pattern into days since the epoch.",
            ["STRINGTODATE(STRING, STRING)"])
    def string_to_date(call: Call) -> Typed:
        value, pattern = call.match(STRING, STRING) or call.reject()
        day = exp.cast(_parse(call, value.sql, pattern, None), "DATE")
        return Typed(exp.cast(exp.Sub(this=day, expression=_EPOCH_DAY), "INT"), INTEGER)

    @define("CONVERT_TZ", "Moves a TIMESTAMP's wall-clock time from one zone to another.",
            ["CONVERT_TZ(TIMESTAMP, STRING from, STRING to)"])
    def convert_tz(call: Call) -> Typed:
        value, source, target = call.match(TIMESTAMP, STRING, STRING) or call.reject()
        utc = _shift(value.sql, source, to_local=False)
        return Typed(_shift(utc, target, to_local=True), TIMESTAMP)

    def adder(name: str, value_type: SqlType, sign: int, description: str) -> None:
        @define(name, description, [f"{name}(unit, INTEGER, {value_type.sql()})"])
        def bind(call: Call) -> Typed:
            unit_ms, amount, value = _interval_ms(call)
            fitted = Call(call.function, (amount, value), call.span).match(BIGINT, value_type)
            if fitted is None:
                call.reject()
            amount, value = fitted
            delta = exp.Mul(this=paren(amount.sql), expression=lit(sign * unit_ms))
            if value_type == TIMESTAMP:
                moved = fn("EPOCH_MS", exp.Add(this=_epoch_ms(value.sql), expression=delta))
                return Typed(exp.cast(moved, "TIMESTAMP"), TIMESTAMP)
            if value_type == DATE:
                days = exp.cast(exp.IntDiv(this=delta, expression=lit(_DAY_MS)), "INT")
                return Typed(exp.cast(exp.Add(this=value.sql, expression=days), "DATE"), DATE)
            # TIME wraps around midnight, as LocalTime.plus does.
            micros = fn("EPOCH_US", value.sql)
            wrapped = exp.Mod(this=paren(exp.Add(this=exp.Mod(this=paren(exp.Add(
                this=micros, expression=exp.Mul(this=delta, expression=lit(1000)))),
                expression=lit(_DAY_MS * 1000)), expression=lit(_DAY_MS * 1000))),
                expression=lit(_DAY_MS * 1000))
            return Typed(exp.cast(fn("MAKE_TIME", lit(0), lit(0), exp.Div(
                this=exp.cast(wrapped, "DOUBLE"), expression=lit(1_000_000.0))), "TIME"), TIME)

    adder("DATEADD", DATE, 1, "Adds a number of time units to a DATE.")
    adder("DATESUB", DATE, -1, "Subtracts a number of time units from a DATE.")
    adder("TIMESTAMPADD", TIMESTAMP, 1, "Adds a number of time units to a TIMESTAMP.")
    adder("TIMESTAMPSUB", TIMESTAMP, -1, "Subtracts a number of time units from a TIMESTAMP.")
    adder("TIMEADD", TIME, 1, "Adds a number of time units to a TIME, wrapping at midnight.")
    adder("TIMESUB", TIME, -1, "Subtracts a number of time units from a TIME, wrapping at "
                               "midnight.")
