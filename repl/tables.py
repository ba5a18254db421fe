"""Render statement results for a terminal: aligned tables, status lines, streamed rows.

Pure text; no prompt-toolkit here, so non-interactive commands (--file, run) share it.
"""
from __future__ import annotations

import base64
import decimal
import json
from typing import Any, Sequence


def cell(value: Any) -> str:
    """A value as ksqlDB's CLI shows it: JSON-ish for collections, plain for scalars."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, (list, dict)):
        return json.dumps(value, default=json_default, separators=(",", ":"))
    return " ".join(str(value).split()) if isinstance(value, str) else str(value)


def json_default(value):
    """JSON for the values json cannot write itself: DECIMAL, BYTES (base64), times (text)."""
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return str(value)


def table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A boxed, aligned table."""
    texts = [[cell(v) for v in row] for row in rows]
    widths = [len(c) for c in columns]
    for row in texts:
        for i, text in enumerate(row):
            widths[i] = max(widths[i], len(text))
    rule = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
    lines = [rule, "|" + "|".join(f" {c:<{w}} " for c, w in zip(columns, widths)) + "|", rule]
    for row in texts:
        lines.append("|" + "|".join(f" {t:<{w}} " for t, w in zip(row, widths)) + "|")
    lines.append(rule)
    return "\n".join(lines)


def header(columns: Sequence[str], widths: Sequence[int]) -> str:
    rule = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
    return "\n".join([rule, "|" + "|".join(f" {c:<{w}} " for c, w in zip(columns, widths)) + "|",
                      rule])


def stream_row(row: Sequence[Any], widths: Sequence[int]) -> str:
    return "|" + "|".join(f" {cell(v):<{w}} " for v, w in zip(row, widths)) + "|"


def column_widths(columns: Sequence[str], minimum: int = 12) -> list[int]:
    return [max(minimum, len(c)) for c in columns]
