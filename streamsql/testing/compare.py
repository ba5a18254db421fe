"""The QTT value comparison rules: expected test data against a decoded actual value.

Dispatch is on the expected JSON value, reproducing the reference harness, quirks included
(int truncation, decimal scale, 1e-6 double tolerance, upper-case field fallback).
"""
from __future__ import annotations

import base64
from decimal import Decimal, InvalidOperation
from typing import Any

_INT32 = (-2**31, 2**31 - 1)
_INT64 = (-2**63, 2**63 - 1)
_DOUBLE_TOLERANCE = 1e-6


def matches(expected: Any, actual: Any) -> bool:
    """True when the actual value matches the expected test data."""
    return difference(expected, actual) is None


def difference(expected: Any, actual: Any, path: str = "") -> str | None:
    """The first mismatch as `<path>: expected X but was Y`, or None when the values match."""
    if expected is None:
        return None if actual is None else _mismatch(path, expected, actual)
    if isinstance(expected, bool):
        return None if actual is expected else _mismatch(path, expected, actual)
    if isinstance(expected, (int, Decimal)):
        return None if _number_matches(expected, actual) else _mismatch(path, expected, actual)
    if isinstance(expected, str):
        return None if _string_matches(expected, actual) else _mismatch(path, expected, actual)
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return _mismatch(path, expected, actual)
        for index, (want, got) in enumerate(zip(expected, actual)):
            found = difference(want, got, f"{path}[{index}]")
            if found:
                return found
        return None
    if isinstance(expected, dict):
        if not isinstance(actual, dict) or len(actual) != len(expected):
            return _mismatch(path, expected, actual)
        for name, want in expected.items():
            got = actual.get(name)
            if got is None:
                # The reference looks a field up by the expected name, then upper-cased.
                got = actual.get(name.upper())
            found = difference(want, got, f"{path}.{name}" if path else name)
            if found:
                return found
        return None
    raise TypeError(f"not a test-data value: {expected!r}")


def bytes_to_text(value: Any) -> Any:
    """Top-level byte fields of a decoded object as base64 text (an empty array as null)."""
    if not isinstance(value, dict):
        return value
    return {name: _base64_or_none(field) if isinstance(field, (bytes, bytearray)) else field
            for name, field in value.items()}


def _base64_or_none(raw: bytes) -> str | None:
    return base64.b64encode(raw).decode("ascii") if raw else None


def _number_matches(expected: int | Decimal, actual: Any) -> bool:
    if isinstance(actual, bool):
        return False
    if isinstance(actual, int):
        # Java's intValue()/longValue(): drop the fraction, keep the low 32/64 bits.
        if _INT32[0] <= actual <= _INT32[1]:
            return _wrap(int(expected), 32) == actual
        if _INT64[0] <= actual <= _INT64[1]:
            return _wrap(int(expected), 64) == actual
        return False
    if isinstance(actual, float):
        return abs(float(expected) - actual) < _DOUBLE_TOLERANCE
    if isinstance(actual, Decimal):
        if isinstance(expected, int):
            return actual.as_tuple().exponent >= 0 and actual == expected
        return _same_decimal(expected, actual)
    return False


def _string_matches(expected: str, actual: Any) -> bool:
    if isinstance(actual, str):
        return actual == expected
    if isinstance(actual, Decimal):
        try:
            return _same_decimal(Decimal(expected), actual)
        except InvalidOperation:
            return False
    if isinstance(actual, (bytes, bytearray)):
        return base64.b64encode(actual).decode("ascii") == expected
    return False


def _same_decimal(left: Decimal, right: Decimal) -> bool:
    """Java BigDecimal.equals: equal value and equal scale."""
    if not (left.is_finite() and right.is_finite()):
        return False
    return left == right and left.as_tuple().exponent == right.as_tuple().exponent


def _wrap(value: int, bits: int) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def _mismatch(path: str, expected: Any, actual: Any) -> str:
    where = f"{path}: " if path else ""
    return f"{where}expected {show(expected)} but was {show(actual)}"


def show(value: Any) -> str:
    """A value as JSON-like text for failure messages (decimals keep their digits)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, Decimal)):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (bytes, bytearray)):
        return f"bytes({base64.b64encode(value).decode('ascii')})"
    if isinstance(value, list):
        return "[" + ", ".join(show(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{show(str(k))}: {show(v)}" for k, v in value.items()) + "}"
    return repr(value)
