"""Expressions as ksqlDB prints them inside error messages: `(A + 1)`, `SUM(VALUE)`, `'x'`.

Message text only; the SQL that runs is built by expr/compile.py.
"""
from __future__ import annotations

import re
from typing import Callable

from streamsql import ast
from streamsql.catalog.types import from_ast

_PLAIN_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")
_COMPARISONS = {"=", "<>", "<", "<=", ">", ">="}


def _name(name: str) -> str:
    return name if _PLAIN_NAME.fullmatch(name) else f"`{name}`"


def format_expr(node: ast.Expr,
                column_text: Callable[[ast.ColumnRef], str | None] | None = None, *,
                qualifier: str | None = None) -> str:
    """ksqlDB's ExpressionFormatter text of an expression.

    `column_text` may name a column as its query knows it (a join's `I1_BAR` for `I1.BAR`);
    `qualifier` names the source of unqualified columns (`INPUT.ID` for `ID`).
    """
    def fmt(node: ast.Expr) -> str:
        match node:
            case ast.IntegerLiteral(value=value) | ast.DecimalLiteral(value=value):
                return str(value)
            case ast.DoubleLiteral(value=value):
                return repr(value).upper()
            case ast.StringLiteral(value=value):
                return "'" + value.replace("'", "''") + "'"
            case ast.BooleanLiteral(value=value):
                return "true" if value else "false"
            case ast.NullLiteral():
                return "null"
            case ast.ColumnRef(name=name, source=source):
                resolved = column_text(node) if column_text is not None else None
                if resolved is not None:
                    return _name(resolved)
                source = source or qualifier
                return f"{_name(source)}.{_name(name)}" if source else _name(name)
            case ast.FieldAccess(base=base, field=field):
                return f"{fmt(base)}->{_name(field)}"
            case ast.Subscript(base=base, index=index):
                return f"{fmt(base)}[{fmt(index)}]"
            case ast.FunctionCall(name=name, args=args, star=star, distinct=distinct):
                inner = "*" if star else ", ".join(fmt(a) for a in args)
                return f"{name}({'DISTINCT ' if distinct else ''}{inner})"
            case ast.BinaryOp(op=op, left=left, right=right):
                return f"({fmt(left)} {op} {fmt(right)})"
            case ast.UnaryOp(op="NOT", operand=operand):
                return f"(NOT {fmt(operand)})"
            case ast.UnaryOp(op=op, operand=operand):
                return f"{op}{fmt(operand)}"
            case ast.Between(value=value, low=low, high=high, negated=negated):
                return (f"({fmt(value)} {'NOT ' if negated else ''}BETWEEN "
                        f"{fmt(low)} AND {fmt(high)})")
            case ast.InList(value=value, items=items, negated=negated):
                return (f"({fmt(value)} {'NOT ' if negated else ''}IN "
                        f"({', '.join(fmt(i) for i in items)}))")
            case ast.Like(value=value, pattern=pattern, escape=escape, negated=negated):
                text = f"{fmt(value)} {'NOT ' if negated else ''}LIKE {fmt(pattern)}"
                if escape is not None:
                    text += f" ESCAPE '{escape}'"
                return f"({text})"
            case ast.IsNull(value=value, negated=negated):
                return f"({fmt(value)} IS {'NOT ' if negated else ''}NULL)"
            case ast.IsDistinctFrom(left=left, right=right, negated=negated):
                return (f"({fmt(left)} IS {'NOT ' if negated else ''}DISTINCT FROM "
                        f"{fmt(right)})")
            case ast.Case(operand=operand, whens=whens, default=default):
                parts = ["(CASE"]
                if operand is not None:
                    parts.append(fmt(operand))
                for when in whens:
                    parts.append(f"WHEN {fmt(when.condition)} THEN {fmt(when.result)}")
                if default is not None:
                    parts.append(f"ELSE {fmt(default)}")
                return " ".join(parts) + " END)"
            case ast.Cast(value=value, type=type_node):
                try:
                    type_text = from_ast(type_node).sql()
                except Exception:  # a custom type name: print it as written
                    type_text = getattr(type_node, "name", "?")
                return f"CAST({fmt(value)} AS {type_text})"
            case ast.Lambda(params=params, body=body):
                return f"({', '.join(params)}) => {fmt(body)}"
            case ast.CreateArray(items=items):
                return f"ARRAY[{', '.join(fmt(i) for i in items)}]"
            case ast.CreateMap(entries=entries):
                return "MAP(" + ", ".join(f"{fmt(e.key)}:={fmt(e.value)}"
                                          for e in entries) + ")"
            case ast.CreateStruct(fields=fields):
                return "STRUCT(" + ", ".join(f"{_name(f.name)}:={fmt(f.value)}"
                                             for f in fields) + ")"
            case ast.IntervalUnit(unit=unit):
                return unit
        raise TypeError(f"not an expression node: {node!r}")

    return fmt(node)


def operator_name(op: str) -> str:
    """ksqlDB's enum name of a comparison operator, as its messages print it."""
    return {"=": "EQUAL", "<>": "NOT_EQUAL", "<": "LESS_THAN", "<=": "LESS_THAN_OR_EQUAL",
            ">": "GREATER_THAN", ">=": "GREATER_THAN_OR_EQUAL",
            "IS DISTINCT FROM": "IS_DISTINCT_FROM",
            "IS NOT DISTINCT FROM": "IS_NOT_DISTINCT_FROM"}[op]


def is_comparison(op: str) -> bool:
    return op in _COMPARISONS
