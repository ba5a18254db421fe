"""Typed: a compiled expression (sqlglot tree + SQL type), passed between compiler and functions."""
from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from streamsql.catalog.types import SqlType


@dataclass(frozen=True)
class Typed:
    """A compiled expression: its sqlglot tree and its SQL type (None: an untyped NULL)."""

    sql: exp.Expression
    type: SqlType | None
