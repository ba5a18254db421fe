"""Statement text -> typed AST (streamsql.ast). The only package that imports lark.

    parse("CREATE STREAM S (ID INT KEY) WITH (KAFKA_TOPIC='s', VALUE_FORMAT='JSON');")

Every node carries a span into the text it was parsed from; every error is a
ParseError whose span and rendering point at the offending token.
"""
from __future__ import annotations

import re

from lark.exceptions import UnexpectedInput, VisitError

from streamsql import ast
from streamsql.errors import ParseError
from streamsql.parser.diagnostics import keywords, reserved_words, syntax_error
from streamsql.parser.grammar import CLIENT_START, SERVER_START, get_parser
from streamsql.parser.transformer import AstBuilder
from streamsql.parser.variables import substitute_variables

__all__ = ["parse", "parse_expression", "parse_type", "split_statements",
           "substitute_variables", "keywords", "reserved_words"]


def parse(text: str, *, client_statements: bool = False) -> list[ast.Statement]:
    """Parse a script of `;`-separated statements (the last `;` may be missing).

    Args:
        client_statements: also accept the statements that clients run themselves
            (RUN SCRIPT, ASSERT VALUES); a server never sees them.

    Raises:
        ParseError: with the span of the offending token in `text`.
    """
    return _parse(text, CLIENT_START if client_statements else SERVER_START)


def parse_expression(text: str) -> ast.Expr:
    """Parse a single expression, e.g. `A + 1 > B`."""
    select = _parse_wrapped(text, "SELECT ", " FROM T").select
    item = select.items[0]
    if len(select.items) != 1 or not isinstance(item, ast.SingleColumn) or item.alias:
        raise ParseError(f"Not a single expression: {text}", text=text)
    return item.expr


def parse_type(text: str) -> ast.TypeNode:
    """Parse a type, e.g. `STRUCT<A INT, B ARRAY<STRING>>`."""
    return _parse_wrapped(text, "CREATE TYPE T AS ", "").type


def _parse_wrapped(text: str, prefix: str, suffix: str) -> ast.Statement:
    # The wrapper sits on the same line, so only columns and offsets need shifting back.
    try:
        statements = _parse(prefix + text + suffix, SERVER_START)
    except ParseError as error:
        raise _unwrapped(error, text, len(prefix)) from None
    if len(statements) != 1:
        raise ParseError(f"Expected one expression or type, got: {text}", text=text)
    return statements[0]


def _unwrapped(error: ParseError, text: str, offset: int) -> ParseError:
    span = error.span
    if span is not None and span.start_pos >= offset + len(text):
        # The error is in the wrapper: the expression or type stopped too early.
        end = len(text.rstrip())
        line = text.count("\n", 0, end) + 1
        column = end - (text.rfind("\n", 0, end) + 1) + 1
        return ParseError("Syntax Error\nunexpected end of input",
                          type(span)(line, column, line, column + 1, end, end),
                          hint="the expression or type is incomplete", text=text)
    if span is not None:
        first_line = span.line == 1
        span = type(span)(span.line, span.column - offset if first_line else span.column,
                          span.end_line,
                          span.end_column - offset if span.end_line == 1 else span.end_column,
                          max(0, span.start_pos - offset), max(0, span.end_pos - offset))
    return ParseError(error.message, span, hint=error.diagnostic.hint, text=text)


def _parse(text: str, start: str) -> list[ast.Statement]:
    try:
        tree = get_parser().parse(text, start=start)
    except UnexpectedInput as error:
        raise syntax_error(error, text) from None
    try:
        return AstBuilder(text).transform(tree)
    except VisitError as error:  # Lark wraps what the transformer raises
        raise error.orig_exc from None


_SPLIT = re.compile(r"""'(?:[^']|'')*'?|`(?:[^`]|``)*`?|"(?:[^"]|"")*"?|--[^\n]*|/\*.*?(?:\*/|\Z)|;""",
                    re.DOTALL)
_COMMENT_ONLY = re.compile(r"(?:\s+|--[^\n]*|/\*.*?\*/)*\Z", re.DOTALL)


def split_statements(text: str) -> list[str]:
    """The texts of the statements in a script, without their `;` and surrounding blanks.

    `;` inside strings, quoted names and comments does not split; pieces holding only
    blanks and comments are dropped.
    """
    pieces, start = [], 0
    for match in _SPLIT.finditer(text):
        if match.group() == ";":
            pieces.append(text[start:match.start()])
            start = match.end()
    pieces.append(text[start:])
    return [piece.strip() for piece in pieces if not _COMMENT_ONLY.match(piece)]
