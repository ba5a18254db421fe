"""Aggregate functions, each one small definition of the accumulator contract.

An aggregate keeps named state fields. For a micro-batch it:
  1. accumulates each field as a running SQL aggregate over the batch's rows of a group
     (so that every input row sees the aggregate up to and including itself),
  2. merges that partial state with the group's stored state (SQL over `{old}`/`{new}`),
  3. produces the final value from the merged fields.
Templates receive SQL fragments already compiled from the arguments (`{0}`, `{1}`, ...),
always parenthesised, so a template never changes how an argument binds.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from streamsql.catalog import types as T
from streamsql.catalog.types import SqlType
from streamsql.errors import StatementError


@dataclass(frozen=True)
class AggregateFunction:
    name: str
    description: str
    fields: tuple[str, ...]
    accumulate: tuple[str, ...]  # running aggregate per field, over the arguments
    merge: tuple[str, ...]  # per field: combine stored `{old}` with the batch's `{new}`
    final: str  # over the merged fields, by name: `{n}`, `{s}`
    result_type: Callable[[Sequence[SqlType]], SqlType]
    arity: tuple[int, ...] = (1,)  # accepted argument counts
    accepts: Callable[[Sequence[SqlType]], bool] = lambda types: True

    def check(self, arg_types: Sequence[SqlType | None], span=None) -> SqlType:
        if len(arg_types) not in self.arity or not self.accepts(arg_types):
            shown = ", ".join("null" if t is None else t.sql() for t in arg_types)
            raise StatementError(f"Function '{self.name}' does not accept parameters ({shown}).",
                                 span)
        return self.result_type(arg_types)


def _numeric(types) -> bool:
    return all(t is not None and t.is_numeric for t in types)


def _sum_type(types) -> SqlType:
    (arg,) = types
    return arg  # ksqlDB: SUM keeps its argument's type (INT stays INT, DECIMAL keeps p, s)


def _same_type(types) -> SqlType:
    return types[0]


def _comparable(types) -> bool:
    return types[0] is not None and (types[0].is_numeric or types[0].kind in
                                     ("STRING", "DATE", "TIME", "TIMESTAMP", "BYTES"))


AGGREGATES: dict[str, AggregateFunction] = {}


def _register(function: AggregateFunction) -> None:
    AGGREGATES[function.name] = function


_register(AggregateFunction(
    "COUNT", "Counts the rows, or the rows whose argument is not null.",
    fields=("n",), accumulate=("count({0})",), merge=("coalesce({old}, 0) + {new}",),
    final="{n}", result_type=lambda types: T.BIGINT, arity=(0, 1)))
_register(AggregateFunction(
    "SUM", "Sums the non-null values (0 when there are none).",
    fields=("s",), accumulate=("sum({0})",),
    merge=("coalesce({old}, 0) + coalesce({new}, 0)",), final="coalesce({s}, 0)",
    result_type=_sum_type, accepts=_numeric))
_register(AggregateFunction(
    "AVG", "The average of the non-null values.",
    fields=("s", "n"), accumulate=("sum({0})", "count({0})"),
    merge=("coalesce({old}, 0) + coalesce({new}, 0)", "coalesce({old}, 0) + {new}"),
    final="CASE WHEN {n} = 0 THEN 0.0 ELSE CAST({s} AS DOUBLE) / {n} END",
    result_type=lambda types: T.DOUBLE, accepts=_numeric))
_register(AggregateFunction(
    "MIN", "The smallest non-null value.",
    fields=("m",), accumulate=("min({0})",), merge=("least({old}, {new})",), final="{m}",
    result_type=_same_type, accepts=_comparable))
_register(AggregateFunction(
    "MAX", "The largest non-null value.",
    fields=("m",), accumulate=("max({0})",), merge=("greatest({old}, {new})",), final="{m}",
    result_type=_same_type, accepts=_comparable))


def aggregate(name: str) -> AggregateFunction | None:
    return AGGREGATES.get(name.upper())


def is_aggregate(name: str) -> bool:
    return name.upper() in AGGREGATES
