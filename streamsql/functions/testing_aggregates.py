"""Aggregates that ksqlDB registers only for its query-validation tests (QTT section 11).

Registered only by `default_registry(test_functions=True)`, never in production.
"""
from __future__ import annotations

from streamsql.catalog import types as T
from streamsql.functions.aggregates import Accumulator, AggregateFunction, Arg


def _kind(arg: Arg, *kinds: str) -> bool:
    return arg.type is not None and arg.type.kind in kinds


def _running_total(contribution: str, constant: int = 0) -> Accumulator:
    """A BIGINT total of a per-row contribution, plus a constant the call fixes."""
    return Accumulator(("s",), (f"sum({contribution})",),
                       ("coalesce({old}, 0) + coalesce({new}, 0)",),
                       f"coalesce({{s}}, 0) + {constant}", T.BIGINT,
                       undo=(f"sum({{sign}} * ({contribution}))",))


def _length(index: int) -> str:
    return f"coalesce(length({{{index}}}), 0)"


_STRUCT_AB = T.SqlType.struct((("A", T.INTEGER), ("B", T.INTEGER)))


def _test_udaf(args, settings):
    if len(args) == 1 and args[0].type == _STRUCT_AB:
        return _field_sums()
    if len(args) != 1 or not _kind(args[0], "INTEGER", "BIGINT", "DOUBLE", "DECIMAL"):
        return None
    result = T.BIGINT if args[0].type.kind == "INTEGER" else args[0].type
    return Accumulator(("s",), ("sum({0})",), ("coalesce({old}, 0) + coalesce({new}, 0)",),
                       "coalesce({s}, 0)", result, undo=("sum({sign} * {0})",))


def _field_sums() -> Accumulator:
    """TEST_UDAF(STRUCT<A INT, B INT>): the sums of A and of B, as a struct of the same type."""
    fields = ("a", "b")
    sums = tuple(f"sum(struct_extract({{0}}, '{name.upper()}'))" for name in fields)
    undo = tuple(f"sum({{sign}} * struct_extract({{0}}, '{name.upper()}'))" for name in fields)
    return Accumulator(fields, sums, ("coalesce({old}, 0) + coalesce({new}, 0)",) * 2,
                       "struct_pack(A := coalesce({a}, 0), B := coalesce({b}, 0))", _STRUCT_AB,
                       undo=undo)


def _var_arg(args, settings):
    """VAR_ARG(l BIGINT, s STRING...): l (null = 0) plus the lengths of the strings."""
    if not args or not _kind(args[0], "BIGINT") or not all(_kind(a, "STRING") for a in args[1:]):
        return None
    parts = ["coalesce({0}, 0)"] + [_length(i) for i in range(1, len(args))]
    return _running_total(" + ".join(parts))


def _literal_total(args) -> int | None:
    """n + the lengths of the literal strings after it, or None if they are not literals."""
    if not args or not args[0].is_literal or not isinstance(args[0].literal, int):
        return None
    if not all(a.is_literal and isinstance(a.literal, str) for a in args[1:]):
        return None
    return args[0].literal + sum(len(a.literal) for a in args[1:])


def _multi_arg(args, settings):
    """MULTI_ARG(l BIGINT, s STRING, n INT, t STRING...): starts at n + len(t...)."""
    if len(args) < 3 or not _kind(args[0], "BIGINT") or not _kind(args[1], "STRING") or \
            not _kind(args[2], "INTEGER"):
        return None
    constant = _literal_total(args[2:])
    if constant is None:
        return None
    return _running_total(f"coalesce({{0}}, 0) + {_length(1)}", constant)


def _fixed_arg(count: int):
    """FOUR_ARG / FIVE_ARG: MULTI_ARG with 4 (BIGINT, STRING x3) or 5 (.., INT) row arguments,
    then the literal initial arguments n, t..."""
    def build(args, settings):
        kinds = ["BIGINT", "STRING", "STRING", "STRING", "INTEGER"][:count]
        row, initial = args[:count], args[count:]
        if len(row) != count or not all(_kind(a, k) for a, k in zip(row, kinds)):
            return None
        constant = _literal_total(initial)
        if constant is None:
            return None
        parts = ["coalesce({0}, 0)"] + [_length(i) for i in (1, 2, 3)]
        if count == 5:
            parts.append("coalesce({4}, 0)")
        return _running_total(" + ".join(parts), constant)
    return build


def _mid_var_arg(args, settings):
    """MID_VAR_ARG(l BIGINT, s STRING..., a INT, b INT): the total plus a + b."""
    if len(args) < 3 or not _kind(args[0], "BIGINT") or not all(
            _kind(a, "STRING") for a in args[1:-2]):
        return None
    a, b = args[-2], args[-1]
    if not (a.is_literal and b.is_literal and isinstance(a.literal, int)
            and isinstance(b.literal, int)):
        return None
    parts = ["coalesce({0}, 0)"] + [_length(i) for i in range(1, len(args) - 2)]
    return _running_total(" + ".join(parts), a.literal + b.literal)


def _collect_first_when_all_present(minimum: int, first_kinds: tuple[str, ...] | None):
    """GENERIC_VAR_ARG / OBJ_COL_ARG: the first argument's values from rows where every
    argument is not null."""
    def build(args, settings):
        if len(args) < minimum or args[0].type is None:
            return None
        if first_kinds is not None and not _kind(args[0], *first_kinds):
            return None
        if first_kinds is None and len({a.type for a in args[2:]}) > 1:
            return None  # GENERIC_VAR_ARG's variadic arguments share one type
        present = " AND ".join(f"{{{i}}} IS NOT NULL" for i in range(len(args)))
        return Accumulator(("l",), (f"list({{0}}) FILTER (WHERE {present})",),
                           ("list_concat(coalesce({old}, []), coalesce({new}, []))",),
                           "coalesce({l}, [])", T.SqlType.array(args[0].type), ordered=True)
    return build


def register(registry) -> None:
    for name, build in (("TEST_UDAF", _test_udaf), ("VAR_ARG", _var_arg),
                        ("MULTI_ARG", _multi_arg), ("FOUR_ARG", _fixed_arg(4)),
                        ("FIVE_ARG", _fixed_arg(5)), ("MID_VAR_ARG", _mid_var_arg),
                        ("GENERIC_VAR_ARG", _collect_first_when_all_present(2, None)),
                        ("OBJ_COL_ARG", _collect_first_when_all_present(1, ("INTEGER",)))):
        registry.aggregates[name] = AggregateFunction(name, "QTT test aggregate", build)
