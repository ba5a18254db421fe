"""Record timestamps taken from a column (ksqlDB's TIMESTAMP='col' with TIMESTAMP_FORMAT).

A Java DateTimeFormatter pattern is compiled once into a regular expression; a batch is parsed
with Arrow's regex extraction and integer arithmetic. Only rows whose zone is a region name
(`z`, `VV`) are resolved one by one, because their offset depends on the instant.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pyarrow as pa
import pyarrow.compute as pc

from streamsql.catalog.types import SqlType
from streamsql.errors import StatementError

_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"]
_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
_MS_PER_DAY = 86_400_000


@dataclass(frozen=True)
class CompiledPattern:
    """A Java date-time pattern as a regex with named groups (see _group_regex)."""

    pattern: str
    regex: str
    groups: frozenset[str]


def _digits(count: int, max_width: int = 2) -> str:
    return r"\d{2}" if count == 2 else rf"\d{{{count},{max(count, max_width)}}}"


def _group_regex(letter: str, count: int) -> tuple[str | None, str]:
    """(group name or None, regex) for one run of a pattern letter."""
    if letter in "yu":
        return ("year2", r"\d{2}") if count == 2 else ("year", _digits(count, 9))
    if letter == "M" or letter == "L":
        if count >= 4:
            return "month_name", "|".join(_MONTHS)
        if count == 3:
            return "month_name", "|".join(m[:3] for m in _MONTHS)
        return "month", _digits(count)
    simple = {"d": "day", "H": "hour", "h": "hour12", "m": "minute", "s": "second"}
    if letter in simple:
        return simple[letter], _digits(count)
    if letter == "S":
        return "fraction", rf"\d{{{count}}}"
    if letter == "a":
        return "ampm", "AM|PM"
    if letter == "E":
        return None, "|".join(_DAYS if count >= 4 else [d[:3] for d in _DAYS])
    if letter == "X":
        return "offset", {1: r"Z|[+-]\d{2}(?:\d{2})?", 2: r"Z|[+-]\d{4}"}.get(
            count, r"Z|[+-]\d{2}:\d{2}")
    if letter == "x":
        return "offset", {1: r"[+-]\d{2}(?:\d{2})?", 2: r"[+-]\d{4}"}.get(
            count, r"[+-]\d{2}:\d{2}")
    if letter == "Z":
        return "offset", r"[+-]\d{4}" if count <= 3 else r"Z|[+-]\d{2}:\d{2}"
    if letter in "zV":
        return "zone", r"[A-Za-z][A-Za-z0-9_/+\-]*"
    raise ValueError(f"Unsupported pattern letter '{letter}'")


@lru_cache(maxsize=64)
def compile_pattern(pattern: str) -> CompiledPattern:
    """Compile a Java DateTimeFormatter pattern; StatementError if it cannot be understood."""
    parts: list[str] = []
    groups: set[str] = set()
    index = 0
    try:
        while index < len(pattern):
            char = pattern[index]
            if char == "'":
                end = pattern.find("'", index + 1)
                if end == -1:
                    raise ValueError("Pattern ends with an incomplete string literal")
                literal = pattern[index + 1:end] or "'"  # '' is a quote character
                parts.append(re.escape(literal))
                index = end + 1
            elif char.isascii() and char.isalpha():
                count = 1
                while index + count < len(pattern) and pattern[index + count] == char:
                    count += 1
                name, regex = _group_regex(char, count)
                if name is None:
                    parts.append(f"(?:{regex})")
                elif name in groups:
                    raise ValueError(f"Field '{char}' appears twice")
                else:
                    groups.add(name)
                    parts.append(f"(?P<{name}>{regex})")
                index += count
            elif char in "[]{}#":
                raise ValueError(f"Unsupported pattern character '{char}'")
            else:
                parts.append(re.escape(char))
                index += 1
    except ValueError as error:
        raise StatementError(f"Invalid TIMESTAMP_FORMAT '{pattern}': {error}") from None
    return CompiledPattern(pattern, "^" + "".join(parts) + "$", frozenset(groups))


def extract_timestamps(table: pa.Table, column: str, column_type: SqlType,
                       timestamp_format: str | None) -> tuple[pa.Array, dict[int, str]]:
    """Epoch-ms record timestamps from `column`, and the rows that have none (null, negative or
    unparseable) with the reason; those rows hold null."""
    values = table.column(column).combine_chunks()
    errors: dict[int, str] = {}
    if column_type.kind == "STRING":
        if timestamp_format is None:
            raise StatementError(f"TIMESTAMP column '{column}' is a STRING: it needs a "
                                 "TIMESTAMP_FORMAT")
        millis = parse_timestamps(values, timestamp_format, errors)
    elif column_type.kind in ("BIGINT", "TIMESTAMP"):
        millis = pc.cast(values, pa.int64())
    else:
        raise StatementError(f"TIMESTAMP column '{column}' must be BIGINT, TIMESTAMP or STRING, "
                             f"not {column_type.sql()}")
    invalid = pc.fill_null(pc.less(millis, 0), True)
    for row in pc.indices_nonzero(invalid).to_pylist():
        if row not in errors:
            value = millis[row].as_py()
            errors[row] = (f"Invalid timestamp: column '{column}' is null" if value is None else
                           f"Invalid timestamp: column '{column}' is negative ({value})")
    return _null_where(millis, errors), errors


def _null_where(values: pa.Array, errors: dict[int, str]) -> pa.Array:
    """values with the error rows set to null."""
    if not errors:
        return values
    mask = pa.array([row in errors for row in range(len(values))], pa.bool_())
    return pc.if_else(mask, pa.scalar(None, values.type), values)


def parse_timestamps(texts: pa.Array, pattern: str, errors: dict[int, str]) -> pa.Array:
    """Epoch ms for each text by the Java pattern; unparseable rows go to errors, hold null.

    Missing fields default as in ksqlDB (1970-01-01T00:00:00); no zone in the pattern means UTC.
    """
    compiled = compile_pattern(pattern)
    matched = pc.extract_regex(texts, compiled.regex)
    fields = {name: pc.struct_field(matched, name) for name in compiled.groups}

    def number(name: str, default: int) -> pa.Array:
        if name not in fields:
            return pa.array([default] * len(texts), pa.int64())
        return pc.cast(fields[name], pa.int64())

    year = number("year", 1970)
    if "year2" in fields:
        year = pc.add(number("year2", 0), 2000)  # Java's two-digit year base is 2000
    month = number("month", 1)
    if "month_name" in fields:
        month = _lookup(fields["month_name"], _month_number)
    day = number("day", 1)
    hour = number("hour", 0)
    if "hour12" in fields:
        hour = _mod(number("hour12", 0), 12)  # 12 AM is hour 0
        if "ampm" in fields:
            hour = pc.add(hour, pc.if_else(pc.equal(fields["ampm"], "PM"), 12, 0))
    minute = number("minute", 0)
    second = number("second", 0)
    fraction_ms = _fraction_millis(fields.get("fraction"), len(texts))
    offset_ms = (_lookup(fields["offset"], _offset_millis) if "offset" in fields
                 else pa.array([0] * len(texts), pa.int64()))

    valid = pc.and_(matched.is_valid(), _in_range(month, 1, 12))
    for value, low, high in ((day, 1, 31), (hour, 0, 23), (minute, 0, 59), (second, 0, 59),
                             (year, 1, 999_999)):
        valid = pc.and_(valid, _in_range(value, low, high))
    day = pc.min_element_wise(day, _days_in_month(year, month))  # SMART resolution clamps
    local_ms = pc.add(pc.add(pc.multiply(_epoch_days(year, month, day), _MS_PER_DAY),
                             pc.multiply(pc.add(pc.multiply(pc.add(
                                 pc.multiply(hour, 60), minute), 60), second), 1000)),
                      fraction_ms)
    millis = pc.subtract(local_ms, offset_ms)
    if "zone" in fields:
        millis = _apply_zones(millis, fields["zone"], valid, errors, pattern, texts)

    unparsed = pc.and_(pc.invert(valid), texts.is_valid())
    for row in pc.indices_nonzero(unparsed).to_pylist():
        errors.setdefault(row, _unparseable(texts[row].as_py(), pattern))
    return _null_where(pc.if_else(valid, millis, pa.scalar(None, pa.int64())), errors)


def _unparseable(text: str, pattern: str) -> str:
    return f"Failed to parse timestamp '{text}' with formatter '{pattern}'"


def _in_range(values: pa.Array, low: int, high: int) -> pa.Array:
    return pc.fill_null(pc.and_(pc.greater_equal(values, low), pc.less_equal(values, high)), False)


def _lookup(texts: pa.Array, convert) -> pa.Array:
    """Map each distinct text through convert in Python, then back over the batch vectorized."""
    distinct = pc.unique(texts)
    converted = pa.array([None if t is None else convert(t) for t in distinct.to_pylist()],
                         pa.int64())
    return pc.take(converted, pc.index_in(texts, value_set=distinct))


def _month_number(name: str) -> int:
    return next(i for i, month in enumerate(_MONTHS, 1) if month.startswith(name))


def _offset_millis(text: str) -> int:
    if text == "Z":
        return 0
    digits = text[1:].replace(":", "")
    minutes = int(digits[:2]) * 60 + (int(digits[2:4]) if len(digits) > 2 else 0)
    return (-1 if text[0] == "-" else 1) * minutes * 60_000


def _fraction_millis(fraction: pa.Array | None, length: int) -> pa.Array:
    if fraction is None:
        return pa.array([0] * length, pa.int64())
    # Pad or cut the fraction digits to three: "5" -> 500 ms, "123456" -> 123 ms.
    padded = pc.utf8_rpad(fraction, width=3, padding="0")
    return pc.cast(pc.utf8_slice_codeunits(padded, 0, 3), pa.int64())


def _days_in_month(year: pa.Array, month: pa.Array) -> pa.Array:
    lengths = pa.array([31, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], pa.int64())
    base = pc.take(lengths, pc.fill_null(pc.min_element_wise(pc.max_element_wise(month, 0), 12),
                                         0))
    leap = pc.and_(pc.equal(pc.bit_wise_and(year, 3), 0),
                   pc.or_(pc.not_equal(_mod(year, 100), 0), pc.equal(_mod(year, 400), 0)))
    return pc.add(base, pc.if_else(pc.and_(leap, pc.equal(month, 2)), 1, 0))


def _mod(values: pa.Array, divisor: int) -> pa.Array:
    return pc.subtract(values, pc.multiply(pc.divide(values, divisor), divisor))


def _epoch_days(year: pa.Array, month: pa.Array, day: pa.Array) -> pa.Array:
    """Days since 1970-01-01 of a proleptic Gregorian date (years >= 1), vectorized."""
    # March-based years put the leap day last, so the day of year is a linear formula.
    march_year = pc.subtract(year, pc.if_else(pc.less_equal(month, 2), 1, 0))
    era = pc.divide(march_year, 400)
    year_of_era = pc.subtract(march_year, pc.multiply(era, 400))
    shifted_month = pc.add(month, pc.if_else(pc.greater(month, 2), -3, 9))
    day_of_year = pc.add(pc.divide(pc.add(pc.multiply(shifted_month, 153), 2), 5),
                         pc.subtract(day, 1))
    day_of_era = pc.add(pc.add(pc.multiply(year_of_era, 365), pc.divide(year_of_era, 4)),
                        pc.subtract(day_of_year, pc.divide(year_of_era, 100)))
    return pc.subtract(pc.add(pc.multiply(era, 146_097), day_of_era), 719_468)


def _apply_zones(millis: pa.Array, zones: pa.Array, valid: pa.Array, errors: dict[int, str],
                 pattern: str, texts: pa.Array) -> pa.Array:
    """Region zones shift local time by their offset at that instant: resolved per row."""
    adjusted = millis.to_pylist()
    for row, (local_ms, zone, ok) in enumerate(zip(adjusted, zones.to_pylist(),
                                                   valid.to_pylist())):
        if not ok or local_ms is None:
            continue
        try:
            tz = ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            errors[row] = _unparseable(texts[row].as_py(), pattern)
            continue
        local = datetime.fromtimestamp(local_ms / 1000, timezone.utc).replace(tzinfo=None)
        offset = tz.utcoffset(local)
        adjusted[row] = local_ms - int(offset.total_seconds() * 1000)
    return pa.array(adjusted, pa.int64())
