"""Aggregate functions, each one small definition of the accumulator contract.

An aggregate keeps named state fields. For a micro-batch it:
  1. accumulates each field as a running SQL aggregate over the batch's rows of a group
     (so that every input row sees the aggregate up to and including itself),
  2. merges that partial state with the group's stored state (SQL over `{old}`/`{new}`),
  3. produces the final value from the merged fields (`{name}` of each field).
Templates receive the arguments as SQL fragments (`{0}`, `{1}`, ...), always
parenthesised, so a template never changes how an argument binds. A definition is a
function from the call's arguments (types, and values where they are literals) to the
Accumulator that computes it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

from streamsql.catalog import types as T
from streamsql.catalog.types import SqlType
from streamsql.errors import StatementError

NOT_LITERAL = object()


@dataclass(frozen=True)
class Arg:
    type: SqlType | None
    literal: object = NOT_LITERAL  # the value, when the argument is a literal
    text: str = ""  # as written, for error messages

    @property
    def is_literal(self) -> bool:
        return self.literal is not NOT_LITERAL


@dataclass(frozen=True)
class Accumulator:
    fields: tuple[str, ...]
    accumulate: tuple[str, ...]  # running aggregate per field, over the arguments
    merge: tuple[str, ...]  # per field: combine stored `{old}` with the batch's `{new}`
    final: str  # over the merged fields, by name
    type: SqlType  # of the final value
    # Over a table an update retracts the old row: running aggregates of signed
    # contributions (`{sign}` is +1 or -1), one per field; None: not possible.
    undo: tuple[str, ...] | None = None
    # How stored state takes in those contributions, when not as `merge` does.
    undo_merge: tuple[str, ...] | None = None
    # The result depends on the order of the rows (not only on which rows): `accumulate`
    # then works only as a window function ordered by arrival, not in a GROUP BY.
    ordered: bool = False


@dataclass(frozen=True)
class AggregateFunction:
    name: str
    description: str
    # (arguments, settings such as ksql.functions.collect_list.limit) -> Accumulator, or
    # None when the arguments don't fit
    build: Callable[..., Accumulator | None]
    signatures: tuple[str, ...] = ()

    def accumulator(self, args: Sequence[Arg], span=None,
                    settings: Mapping[str, str] | None = None) -> Accumulator:
        found = self.build(args, settings or {})
        if found is None:
            shown = ", ".join("null" if a.type is None else a.type.sql() for a in args)
            raise StatementError(f"Function '{self.name}' does not accept parameters ({shown}).",
                                 span)
        return found


AGGREGATES: dict[str, AggregateFunction] = {}


def _register(name: str, description: str, *signatures: str):
    def decorate(build):
        AGGREGATES[name] = AggregateFunction(name, description, build, signatures)
        return build
    return decorate


def _numeric(arg: Arg) -> bool:
    return arg.type is not None and arg.type.is_numeric


def _int_literal(arg: Arg) -> int | None:
    if arg.is_literal and isinstance(arg.literal, int) and not isinstance(arg.literal, bool):
        return arg.literal
    return None


def _bool_literal(arg: Arg) -> bool | None:
    return arg.literal if arg.is_literal and isinstance(arg.literal, bool) else None


# ---- counting and arithmetic -----------------------------------------------------------

@_register("COUNT", "Counts the rows, or the rows whose argument is not null.",
           "COUNT(*)", "COUNT(ANY)")
def _count(args, settings):
    if len(args) > 1:
        return None
    counted = "CASE WHEN {0} IS NOT NULL THEN {sign} ELSE 0 END" if args else "{sign}"
    return Accumulator(("n",), ("count({0})" if args else "count(*)",),
                       ("coalesce({old}, 0) + {new}",), "{n}", T.BIGINT,
                       undo=(f"sum({counted})",))


@_register("SUM", "Sums the non-null values (0 when there are none).", "SUM(NUMBER)")
def _sum(args, settings):
    if len(args) != 1 or not _numeric(args[0]):
        return None
    return Accumulator(("s",), ("sum({0})",), ("coalesce({old}, 0) + coalesce({new}, 0)",),
                       "coalesce({s}, 0)", args[0].type, undo=("sum({sign} * {0})",))


@_register("AVG", "The average of the non-null values.", "AVG(NUMBER)")
def _avg(args, settings):
    if len(args) != 1 or not _numeric(args[0]):
        return None
    return Accumulator(("s", "n"), ("sum({0})", "count({0})"),
                       ("coalesce({old}, 0) + coalesce({new}, 0)", "coalesce({old}, 0) + {new}"),
                       "CASE WHEN {n} = 0 THEN 0.0 ELSE CAST({s} AS DOUBLE) / {n} END", T.DOUBLE,
                       undo=("sum({sign} * {0})",
                             "sum(CASE WHEN {0} IS NOT NULL THEN {sign} ELSE 0 END)"))


def _extreme(kind: str):
    def build(args, settings):
        if len(args) != 1 or args[0].type is None or not (
                args[0].type.is_numeric or args[0].type.kind in
                ("STRING", "DATE", "TIME", "TIMESTAMP", "BYTES")):
            return None
        combine = "least" if kind == "min" else "greatest"
        return Accumulator(("m",), (f"{kind}({{0}})",), (f"{combine}({{old}}, {{new}})",),
                           "{m}", args[0].type)
    return build


_register("MIN", "The smallest non-null value.", "MIN(ANY)")(_extreme("min"))
_register("MAX", "The largest non-null value.", "MAX(ANY)")(_extreme("max"))


def _moments(args):
    return len(args) == 1 and _numeric(args[0])


@_register("STDDEV_SAMP", "The sample standard deviation of the non-null values.",
           "STDDEV_SAMP(NUMBER)")
def _stddev_samp(args, settings):
    if not _moments(args):
        return None
    return _variance_accumulator("CASE WHEN {n} < 2 THEN 0.0 ELSE sqrt(greatest(({q} - {s} * {s} / "
                                 "{n}) / ({n} - 1), 0.0)) END")


@_register("STDDEV_POP", "The population standard deviation of the non-null values.",
           "STDDEV_POP(NUMBER)")
def _stddev_pop(args, settings):
    if not _moments(args):
        return None
    return _variance_accumulator("CASE WHEN {n} = 0 THEN 0.0 ELSE sqrt(greatest(({q} - {s} * {s} / "
                                 "{n}) / {n}, 0.0)) END")


def _variance_accumulator(final: str) -> Accumulator:
    add = "coalesce({old}, 0) + coalesce({new}, 0)"
    return Accumulator(("n", "s", "q"), ("count({0})", "sum(CAST({0} AS DOUBLE))",
                                         "sum(CAST({0} AS DOUBLE) * CAST({0} AS DOUBLE))"),
                       (add, add, add), final, T.DOUBLE)


@_register("CORRELATION", "The correlation coefficient of two numeric columns.",
           "CORRELATION(DOUBLE, DOUBLE)")
def _correlation(args, settings):
    if len(args) != 2 or not all(_numeric(a) for a in args):
        return None
    both = "{0} IS NOT NULL AND {1} IS NOT NULL"
    x, y = "CAST({0} AS DOUBLE)", "CAST({1} AS DOUBLE)"
    add = "coalesce({old}, 0) + coalesce({new}, 0)"
    sums = [f"count(*) FILTER (WHERE {both})"] + [
        f"sum({e}) FILTER (WHERE {both})" for e in (x, y, f"{x} * {x}", f"{y} * {y}", f"{x} * {y}")]
    final = ("CASE WHEN {n} < 2 THEN CAST('NaN' AS DOUBLE) ELSE ({xy} - {x} * {y} / {n}) / "
             "sqrt(({xx} - {x} * {x} / {n}) * ({yy} - {y} * {y} / {n})) END")
    return Accumulator(("n", "x", "y", "xx", "yy", "xy"), tuple(sums), (add,) * 6, final,
                       T.DOUBLE)


# ---- by offset ----------------------------------------------------------------------------

def _by_offset(latest: bool):
    def build(args, settings):
        if not args or args[0].type is None:
            return None
        for position, arg in enumerate(args[1:], start=2):
            if not arg.is_literal:
                name = "LATEST_BY_OFFSET" if latest else "EARLIEST_BY_OFFSET"
                raise StatementError(f"Parameter {position} passed to function {name} must be a "
                                     f"literal constant, but was expression: '{arg.text}'")
        rest = list(args[1:])
        ignore_nulls = True
        if rest and _bool_literal(rest[-1]) is not None:
            ignore_nulls = _bool_literal(rest.pop())
        count = None
        if rest:
            count = _int_literal(rest.pop())
            if count is None or count < 1:
                return None
        if rest:
            return None
        pick = "last_value" if latest else "first_value"
        nulls = " IGNORE NULLS" if ignore_nulls else ""
        if count is None:
            merge = ("coalesce({new}, {old})" if latest else "coalesce({old}, {new})") \
                if ignore_nulls else "{new}"
            if not ignore_nulls and not latest:
                # EARLIEST keeping nulls: the first row wins even if its value is null
                return Accumulator(("v", "seen"), (f"{pick}({{0}})", "count(*)"),
                                   ("CASE WHEN {old_seen} > 0 THEN {old} ELSE {new} END",
                                    "coalesce({old}, 0) + {new}"), "{v}", args[0].type,
                                   ordered=True)
            return Accumulator(("v",), (f"{pick}({{0}}{nulls})",), (merge,), "{v}", args[0].type,
                               ordered=True)
        kept = "list({0}) FILTER (WHERE {0} IS NOT NULL)" if ignore_nulls else "list({0})"
        joined = "list_concat(coalesce({old}, []), coalesce({new}, []))"
        if latest:
            merge = f"list_slice({joined}, greatest(len({joined}) - {count} + 1, 1), len({joined}))"
        else:
            merge = f"list_slice({joined}, 1, {count})"
        return Accumulator(("l",), (kept,), (merge,), "coalesce({l}, [])",
                           T.SqlType.array(args[0].type), ordered=True)
    return build


_register("LATEST_BY_OFFSET", "The latest value (by offset); with n, the latest n values.",
          "LATEST_BY_OFFSET(ANY[, ignoreNulls])", "LATEST_BY_OFFSET(ANY, n[, ignoreNulls])"
          )(_by_offset(True))
_register("EARLIEST_BY_OFFSET", "The earliest value (by offset); with n, the earliest n values.",
          "EARLIEST_BY_OFFSET(ANY[, ignoreNulls])", "EARLIEST_BY_OFFSET(ANY, n[, ignoreNulls])"
          )(_by_offset(False))


# ---- collections ---------------------------------------------------------------------------

def _limited(values: str, settings: Mapping[str, str], name: str) -> str:
    """At most ksql.functions.<name>.limit elements (the first ones), as ksqlDB keeps."""
    limit = int(settings.get(f"ksql.functions.{name}.limit", "1000"))
    return f"list_slice({values}, 1, {limit})"


@_register("COLLECT_LIST", "Every value, nulls included, in arrival order.", "COLLECT_LIST(ANY)")
def _collect_list(args, settings):
    if len(args) != 1 or args[0].type is None:
        return None
    joined = "list_concat(coalesce({old}, []), coalesce({new}, []))"
    # Over a table: the batch's (sign, value) contributions, applied in order to the stored
    # list; a retraction removes the value's first occurrence.
    position = "list_position(acc, x.v)"
    applied = (f"list_reduce(coalesce({{new}}, []), lambda acc, x: CASE WHEN x.s > 0 THEN "
               f"list_append(acc, x.v) WHEN coalesce({position}, 0) = 0 THEN acc ELSE "
               f"list_concat(acc[:{position} - 1], acc[{position} + 1:]) END, "
               f"coalesce({{old}}, []))")
    return Accumulator(("l",), ("list({0})",), (_limited(joined, settings, "collect_list"),),
                       "coalesce({l}, [])", T.SqlType.array(args[0].type),
                       undo=("list({{'s': {sign}, 'v': {0}}})",),
                       undo_merge=(_limited(applied, settings, "collect_list"),), ordered=True)


@_register("SUM_LIST", "Sums the non-null elements of every list (0 when there are none).",
           "SUM_LIST(ARRAY<NUMBER>)")
def _sum_list(args, settings):
    if len(args) != 1 or args[0].type is None or args[0].type.kind != "ARRAY" or \
            not args[0].type.element.is_numeric:
        return None
    return Accumulator(("s",), ("sum(list_sum({0}))",),
                       ("coalesce({old}, 0) + coalesce({new}, 0)",), "coalesce({s}, 0)",
                       args[0].type.element, undo=("sum({sign} * list_sum({0}))",))


@_register("COLLECT_SET", "The distinct non-null values, in order of first arrival.",
           "COLLECT_SET(ANY)")
def _collect_set(args, settings):
    if len(args) != 1 or args[0].type is None:
        return None
    distinct = _ordered_distinct("list_concat(coalesce({old}, []), coalesce({new}, []))")
    return Accumulator(("l",), ("list({0}) FILTER (WHERE {0} IS NOT NULL)",),
                       (_limited(distinct, settings, "collect_set"),),
                       "coalesce({l}, [])", T.SqlType.array(args[0].type), ordered=True)


@_register("COUNT_DISTINCT", "The number of distinct non-null values.", "COUNT_DISTINCT(ANY)")
def _count_distinct(args, settings):
    if len(args) != 1 or args[0].type is None:
        return None
    return Accumulator(("l",), ("list({0}) FILTER (WHERE {0} IS NOT NULL)",),
                       ("list_distinct(list_concat(coalesce({old}, []), coalesce({new}, [])))",),
                       "CAST(len(coalesce({l}, [])) AS BIGINT)", T.BIGINT)


def _top(distinct: bool):
    def build(args, settings):
        if len(args) < 2 or args[0].type is None or _int_literal(args[-1]) is None:
            return None
        k = _int_literal(args[-1])
        others = args[1:-1]
        if distinct and others:
            return None
        joined = "list_concat(coalesce({old}, []), coalesce({new}, []))"
        if distinct:
            joined = f"list_distinct({joined})"
        if not others:
            return Accumulator(("l",), ("list({0}) FILTER (WHERE {0} IS NOT NULL)",),
                               (f"list_slice(list_reverse_sort({joined}), 1, {k})",),
                               "coalesce({l}, [])", T.SqlType.array(args[0].type))
        # TOPK(sort, other..., k): the rows with the k largest sort values, with their others
        fields = [("SORT_COL", args[0].type)] + [(f"COL{i}", a.type) for i, a in enumerate(others)]
        packed = ", ".join(f"{name} := {{{i}}}" for i, (name, _) in enumerate(fields))
        # largest first; equal sort values keep their arrival order
        ranked = (f"list_transform({joined}, lambda x, i: struct_pack(k := x.SORT_COL, i := -i, "
                  "v := x))")
        top = f"list_transform(list_slice(list_reverse_sort({ranked}), 1, {k}), lambda y: y.v)"
        return Accumulator(("l",), (f"list(struct_pack({packed})) FILTER (WHERE {{0}} IS NOT NULL)",),
                           (top,),
                           "coalesce({l}, [])", T.SqlType.array(T.SqlType.struct(fields)),
                           ordered=True)  # equal sort values keep their arrival order
    return build


_register("TOPK", "The k largest values, largest first.", "TOPK(ANY, k)")(_top(False))
_register("TOPKDISTINCT", "The k largest distinct values, largest first.",
          "TOPKDISTINCT(ANY, k)")(_top(True))


@_register("ATTR", "The value, if every row has the same value (null counts as a value); "
           "else null.", "ATTR(ANY)")
def _attr(args, settings):
    """State: the non-null values (`vals`) and the count of nulls. Over a stream two distinct
    values decide the result for good, so at most two are kept; over a table `vals` holds
    every row's value, so that a retraction can remove one."""
    if len(args) != 1 or args[0].type is None:
        return None
    add = "coalesce({old}, 0) + coalesce({new}, 0)"
    distinct = ("list_slice(list_distinct(list_concat(coalesce({old}, []), coalesce({new}, "
                "[]))), 1, 2)")
    # A batch's (sign, value) contributions: additions first, then each retraction removes
    # one occurrence; every retraction names a value already added, so order does not matter.
    added = "[x.v FOR x IN coalesce({new}, []) IF x.s > 0 AND x.v IS NOT NULL]"
    retracted = "[x.v FOR x IN coalesce({new}, []) IF x.s < 0 AND x.v IS NOT NULL]"
    position = "list_position(acc, v)"
    applied = (f"list_reduce({retracted}, lambda acc, v: CASE WHEN coalesce({position}, 0) = 0 "
               f"THEN acc ELSE list_concat(acc[:{position} - 1], acc[{position} + 1:]) END, "
               f"list_concat(coalesce({{old}}, []), {added}))")
    return Accumulator(("vals", "nulls"),
                       ("list(DISTINCT {0})", "count(*) FILTER (WHERE {0} IS NULL)"),
                       (distinct, add),
                       "CASE WHEN {nulls} = 0 AND len(list_distinct({vals})) = 1 THEN {vals}[1] "
                       "END", args[0].type,
                       undo=("list({{'s': {sign}, 'v': {0}}})",
                             "sum(CASE WHEN {0} IS NULL THEN {sign} ELSE 0 END)"),
                       undo_merge=(applied, add))


def _ordered_distinct(values: str) -> str:
    """The distinct elements of a list, each where it first appears."""
    return f"list_filter({values}, lambda x, i: list_position({values}, x) = i)"


def aggregate(name: str) -> AggregateFunction | None:
    return AGGREGATES.get(name.upper())


def is_aggregate(name: str) -> bool:
    return name.upper() in AGGREGATES
