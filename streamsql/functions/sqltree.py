"""Small builders of DuckDB sqlglot trees shared by the compiler and function definitions.

Trees only: turning them into text is expr/compile.py's job.
"""
from __future__ import annotations

import itertools

from sqlglot import exp

_lambda_ids = itertools.count()


def fn(name: str, *args: exp.Expression) -> exp.Expression:
    """A call of a DuckDB function by its DuckDB name, passed through untranslated."""
    return exp.Anonymous(this=name, expressions=list(args))


def lit(value) -> exp.Expression:
    """A literal: str -> string, bool -> boolean, int/float -> number, None -> NULL."""
    if value is None:
        return exp.null()
    if isinstance(value, bool):
        return exp.true() if value else exp.false()
    if isinstance(value, str):
        return exp.Literal.string(value)
    return exp.Literal.number(value)


def ident(name: str) -> exp.Identifier:
    return exp.to_identifier(name, quoted=True)


def column(name: str) -> exp.Column:
    return exp.Column(this=ident(name))


def fresh_param() -> str:
    """A lambda parameter name users cannot write (their identifiers never start with '__')."""
    return f"__p{next(_lambda_ids)}"


def lambda_(params: list[str], body: exp.Expression) -> exp.Lambda:
    return exp.Lambda(this=body, expressions=[ident(p) for p in params])


def case(*whens: tuple[exp.Expression, exp.Expression], default: exp.Expression | None = None
         ) -> exp.Case:
    node = exp.Case()
    for condition, result in whens:
        node = node.when(condition, result)
    if default is not None:
        node = node.else_(default)
    return node


def paren(node: exp.Expression) -> exp.Paren:
    return exp.Paren(this=node)


def concat(*parts: exp.Expression) -> exp.Expression:
    """`a || b || ...`: NULL if any part is NULL."""
    result = parts[0]
    for part in parts[1:]:
        result = exp.DPipe(this=result, expression=part)
    return result


def try_(node: exp.Expression) -> exp.Expression:
    """DuckDB's TRY(expr): NULL for the rows where expr raises, instead of failing the batch."""
    return fn("TRY", node)


# DuckDB functions whose result may differ per call; TRY refuses expressions with them.
_VOLATILE = frozenset({"RANDOM", "UUID", "GEN_RANDOM_UUID", "NEXTVAL", "CURRVAL", "ERROR",
                       "SETSEED"})


def try_where_possible(node: exp.Expression) -> exp.Expression:
    """TRY(node), unless nothing in it can fail (columns and literals only) or TRY refuses
    it (a volatile function)."""
    inert = (exp.Column, exp.Identifier, exp.Literal, exp.Null, exp.Boolean, exp.Paren)
    if all(isinstance(child, inert) for child in node.walk()):
        return node
    if any(isinstance(child, exp.Anonymous) and str(child.this).upper() in _VOLATILE
           for child in node.walk()):
        return node
    return try_(node)


# The text of the cast that fails on purpose when a lambda hits a NULL operand (see
# expr/arithmetic.py); TRY around the lambda's function turns the failure into NULL.
_LAMBDA_FAILURE = "NULL operand in lambda"


def failing(duck_type: exp.DataType | str, message: str = _LAMBDA_FAILURE) -> exp.Expression:
    """An expression of `duck_type` that fails when evaluated, saying `message`.

    DuckDB's error() is volatile and TRY refuses volatile functions; a failing cast is not.
    try_if_failing recognises the default message only.
    """
    return exp.cast(exp.cast(lit(message), "INT"), duck_type)


def try_if_failing(node: exp.Expression, *parts: exp.Expression) -> exp.Expression:
    """TRY(node) if any of `parts` holds a `failing` expression, else node unchanged.

    TRY is only added where needed: it rejects volatile functions such as RANDOM().
    """
    for part in parts:
        for child in part.walk():
            if isinstance(child, exp.Literal) and child.this == _LAMBDA_FAILURE:
                return try_(node)
    return node
