"""What a pull query's WHERE may say about a table's key, in ksqlDB's words.

With `ksql.query.pull.table.scan.enabled=false` a pull query must be a key lookup (or,
with range scans on, a range over a STRING key): every disjunct of its WHERE pins every
key column once. Some rules hold whatever the setting (no NULL or unconvertible keys).
Window bounds may be given as datetime text, which becomes epoch milliseconds here.
"""
from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime, timedelta, timezone

from streamsql import ast
from streamsql.catalog.catalog import DataSource
from streamsql.catalog.schema import WINDOW_BOUNDS
from streamsql.config import Config
from streamsql.errors import StatementError
from streamsql.expr.text import format_expr

_RANGES = {"<", "<=", ">", ">="}
# Appended, after ". ", to the rules a key lookup breaks (ksqlDB adds its own guidance there).
_KEY_LOOKUP_HELP = ("Without table scans a pull query looks keys up: its WHERE clause must give "
                    "every key column with '=' or IN, and may bound the window columns.")
# A datetime, as much of it as is given: 2020, 2020-02, ..., 2020-02-23T23:45:12.000-0100.
_DATETIME = re.compile(r"(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2})(?::(\d{2})(?::(\d{2})"
                       r"(?:\.(\d{1,3}))?)?)?)?)?)?(Z|[+-]\d{2}(?::?\d{2})?)?")


def _split(expr: ast.Expr, op: str) -> list[ast.Expr]:
    if isinstance(expr, ast.BinaryOp) and expr.op == op:
        return _split(expr.left, op) + _split(expr.right, op)
    return [expr]


def _columns(expr: ast.Node) -> set[str]:
    return {node.name for node in ast.walk(expr) if isinstance(node, ast.ColumnRef)}


def _is_resolvable(expr: ast.Expr) -> bool:
    """A value known without reading a row: no column references (`10 + 1` is fine)."""
    return not _columns(expr)


def check_pull_where(where: ast.Expr | None, source: DataSource, config: Config) -> None:
    keys = {c.name: c for c in source.schema.key}
    if where is None:
        return
    _check_key_values(where, keys)
    if config.get_bool("ksql.query.pull.table.scan.enabled", True):
        return
    range_scans = config.get_bool("ksql.query.pull.range.scan.enabled", True)
    disjuncts = _split(where, "OR")
    ranged = False
    for disjunct in disjuncts:
        bound: dict[str, str] = {}  # key column -> '=' | 'range'
        for term in _split(disjunct, "AND"):
            refs = _columns(term) & set(keys)
            if not refs:
                continue
            kind = _key_term(term, keys)
            for name in refs:
                if name in bound:
                    raise StatementError(
                        "A comparison condition on the key column cannot be combined with other "
                        "comparisons such as an IN predicate", term.span)
                bound[name] = kind
        if not bound:
            raise StatementError("WHERE clause missing key column for disjunct: "
                                 f"{format_expr(disjunct)}", disjunct.span)
        if len(bound) < len(keys):
            raise StatementError("Multi-column sources must specify every key in the WHERE "
                                 "clause.", disjunct.span)
        for name, kind in bound.items():
            if kind == "range":
                ranged = True
                if not range_scans or keys[name].type.kind != "STRING" or \
                        source.window is not None:
                    raise StatementError("Query requires table scan to be enabled",
                                         disjunct.span)
    if ranged and len(disjuncts) > 1:
        raise StatementError("Query requires table scan to be enabled", where.span)


def _key_term(term: ast.Expr, keys) -> str:
    """'=' for a lookup, 'range' for a bound; errors for what no key lookup can be."""
    if isinstance(term, ast.InList) and not term.negated:
        if not (isinstance(term.value, ast.ColumnRef) and term.value.name in keys):
            raise StatementError("A comparison must directly reference a key column.", term.span)
        if not all(_is_resolvable(item) for item in term.items):
            raise StatementError("A comparison must be between a key column and a resolvable "
                                 "expression.", term.span)
        return "="
    if isinstance(term, ast.BinaryOp) and term.op in _RANGES | {"=", "<>"}:
        left_key = isinstance(term.left, ast.ColumnRef) and term.left.name in keys
        right_key = isinstance(term.right, ast.ColumnRef) and term.right.name in keys
        if not (left_key or right_key):
            raise StatementError("A comparison must directly reference a key column.", term.span)
        other = term.right if left_key else term.left
        if not _is_resolvable(other):
            raise StatementError("A comparison must be between a key column and a resolvable "
                                 "expression.", term.span)
        if term.op == "<>":
            column = keys[(term.left if left_key else term.right).name]
            raise StatementError(f"Bound on key columns '[{column.sql()}]' must currently be "
                                 f"'='. {_KEY_LOOKUP_HELP}", term.span)
        return "=" if term.op == "=" else "range"
    if _columns(term) <= set(WINDOW_BOUNDS):
        return "="
    raise StatementError("A comparison must directly reference a key column.", term.span)


def _check_key_values(where: ast.Expr, keys) -> None:
    """IN lists on a key: no NULLs, and every value convertible to the key's type."""
    for disjunct in _split(where, "OR"):
        for term in _split(disjunct, "AND"):
            if not (isinstance(term, ast.InList) and isinstance(term.value, ast.ColumnRef)
                    and term.value.name in keys):
                continue
            column = keys[term.value.name]
            for item in term.items:
                if isinstance(item, ast.NullLiteral):
                    raise StatementError("Primary key columns can not be NULL: "
                                         f"({column.name} = null)", item.span)
                if isinstance(item, ast.StringLiteral) and column.type.is_numeric:
                    raise StatementError(f"{format_expr(item)} can not be converted to the "
                                         f"type of the key column: {column.name} "
                                         f"{column.type.sql()} KEY", item.span)


def window_bounds_as_millis(where: ast.Expr | None) -> ast.Expr | None:
    """WHERE with each datetime text compared to WINDOWSTART or WINDOWEND replaced by its
    epoch milliseconds, as ksqlDB accepts on windowed tables."""
    if isinstance(where, ast.BinaryOp) and where.op in ("AND", "OR"):
        return replace(where, left=window_bounds_as_millis(where.left),
                       right=window_bounds_as_millis(where.right))
    if isinstance(where, ast.BinaryOp) and where.op in _RANGES | {"="}:
        sides = [where.left, where.right]
        bound = any(isinstance(side, ast.ColumnRef) and side.name in WINDOW_BOUNDS
                    for side in sides)
        if bound:
            left, right = (ast.IntegerLiteral(_epoch_millis(side), span=side.span)
                           if isinstance(side, ast.StringLiteral) else side for side in sides)
            return replace(where, left=left, right=right)
    return where


def _epoch_millis(text: ast.StringLiteral) -> int:
    """A full or partial datetime, UTC unless it names an offset; the parts left out are
    the earliest (`2020-02` is 2020-02-01T00:00:00.000), hour 24 is the next midnight."""
    match = _DATETIME.fullmatch(text.value.strip())
    if match is None:
        raise StatementError(f"Failed to parse datetime: {text.value}", text.span)
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    if int(hour or 0) > 24:
        raise StatementError(f"Failed to parse datetime: {text.value}", text.span)
    offset = timezone.utc
    if zone and zone != "Z":
        digits = zone[1:].replace(":", "")
        minutes = int(digits[:2]) * 60 + int(digits[2:4] or 0)
        offset = timezone(timedelta(minutes=-minutes if zone[0] == "-" else minutes))
    try:
        moment = datetime(int(year), int(month or 1), int(day or 1), 0, int(minute or 0),
                          int(second or 0), int((fraction or "0").ljust(3, "0")) * 1000,
                          tzinfo=offset) + timedelta(hours=int(hour or 0))
    except ValueError:
        raise StatementError(f"Failed to parse datetime: {text.value}", text.span) from None
    return (moment - datetime(1970, 1, 1, tzinfo=timezone.utc)) // timedelta(milliseconds=1)
