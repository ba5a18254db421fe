"""Turns Lark's syntax errors into ParseErrors: span, ksqlDB's wording, and a hint.

The message keeps ksqlDB's phrases (`Syntax Error`, `missing ')' at ','`,
`Expecting {...}`, `Syntax error at or near ...`, `Unknown statement 'X'`) because
clients and conformance tests match on them; the hint says it plainly.
"""
from __future__ import annotations

import difflib
import re
from functools import lru_cache

from lark import Token
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from streamsql.errors import ParseError, Span
from streamsql.parser.grammar import get_parser

# Names of token classes in messages, as ksqlDB's own grammar calls them.
_CLASS_NAMES = {
    "IDENTIFIER": "IDENTIFIER",
    "STRING": "STRING", "INTEGER_VALUE": "INTEGER_VALUE", "DECIMAL_VALUE": "DECIMAL_VALUE",
    "FLOATING_POINT_VALUE": "FLOATING_POINT_VALUE", "TIME_UNIT": "time unit",
    "LAMBDA_PARAMETERS": "lambda", "STRING_KEYWORD": "'STRING'", "$END": "<EOF>",
}

_PUNCTUATION_ORDER = [",", "(", ")", "[", "]", "<", ">", ";", ".", "=", ":=", "->", "*"]

# Tokens worth inserting when checking for a single missing token (ANTLR's repair).
_INSERTABLE = {")", "]", ">", ",", ";"}

_STATEMENT_KEYWORDS = ("SELECT", "CREATE", "INSERT", "DROP", "DESCRIBE", "SHOW", "LIST",
                       "EXPLAIN", "TERMINATE", "PRINT", "SET", "UNSET", "DEFINE",
                       "UNDEFINE", "ALTER", "ASSERT")

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_@]*\Z")


@lru_cache(maxsize=1)
def reserved_words() -> frozenset[str]:
    """Words that are never identifiers, read from the IDENTIFIER terminal of the grammar."""
    pattern = next(t for t in get_parser().terminals if t.name == "IDENTIFIER").pattern.value
    return frozenset(re.search(r"\(\?:([A-Z|]+)\)", pattern).group(1).split("|"))


@lru_cache(maxsize=1)
def keywords() -> frozenset[str]:
    """Every keyword of the grammar (reserved or not), upper-case."""
    return frozenset(text.upper() for text in _terminal_texts().values() if _WORD.match(text))


@lru_cache(maxsize=1)
def _terminal_texts() -> dict[str, str]:
    """Terminal name -> its fixed text, for terminals that are plain strings."""
    return {t.name: t.pattern.value for t in get_parser().terminals if t.pattern.type == "str"}


def syntax_error(error: UnexpectedInput, text: str) -> ParseError:
    """The ParseError for a Lark error raised while parsing `text`."""
    if isinstance(error, UnexpectedCharacters):
        return _bad_character(error, text)
    assert isinstance(error, UnexpectedToken), error
    return _unexpected_token(error, text)


def _bad_character(error: UnexpectedCharacters, text: str) -> ParseError:
    char = text[error.pos_in_stream]
    span = Span(error.line, error.column, error.line, error.column + 1,
                error.pos_in_stream, error.pos_in_stream + 1)
    hint = None
    if char in "'`\"":
        hint = f"this {_QUOTE_NAMES[char]} is never closed; add the closing {char}"
    return ParseError(f"Syntax Error\ntoken recognition error at: '{char}'", span,
                      hint=hint, text=text)


_QUOTE_NAMES = {"'": "string", "`": "quoted name", '"': "quoted name"}


def _unexpected_token(error: UnexpectedToken, text: str) -> ParseError:
    token = error.token
    at_end = token.type == "$END"
    span = _token_span(token, text)
    shown = "<EOF>" if at_end else token.value
    parser = error.interactive_parser
    expected = parser.accepts()  # exact for this stack, unlike LALR's merged error.expected
    if not at_end and len(expected) > 1:
        expected.discard("$END")  # "or end the statement here" is rarely what was meant
    reserved = reserved_words()
    word = None if at_end else token.value.upper()
    line, column = span.line, span.column

    if "SELECT" in expected and "CREATE" in expected and not at_end:
        close = difflib.get_close_matches(word, _STATEMENT_KEYWORDS, n=1)
        hint = f"did you mean '{close[0]}'?" if close else \
            "statements start with SELECT, CREATE, INSERT, DROP, SHOW, DESCRIBE, ..."
        return ParseError(f"Syntax Error\nUnknown statement '{shown}'", span, hint=hint,
                          text=text)

    missing = _missing_token(parser, token, expected)
    if missing is not None:
        return ParseError(f"Syntax Error\nmissing '{missing}' at '{shown}'", span,
                          hint=f"missing `{missing}`", text=text)

    names = _expected_names(expected)
    close_keyword = _close_keyword(word, expected)
    if word in reserved and (_accepts_identifier(expected) or len(names) <= 3):
        detail = f"Syntax error at or near '{shown}' at line {line}:{column}"
        hint = (f"`{shown}` is a reserved word; quote it as `{shown}`"
                if _accepts_identifier(expected) else _expected_hint(names))
        return ParseError(f"Syntax Error\n{detail}", span, hint=hint, text=text)

    shortlist = names if len(names) <= 3 else [n for n in names if _is_punctuation(n)]
    if 0 < len(shortlist) <= 3 and word not in reserved:
        detail = "Expecting {" + ", ".join(shortlist) + "}"
    else:
        detail = ""  # ksqlDB prints no detail when it cannot name a short expectation
    hint = f"did you mean '{close_keyword}'?" if close_keyword else _expected_hint(names)
    if at_end:
        hint = "the statement is incomplete; " + _expected_hint(names)
    return ParseError(f"Syntax Error\n{detail}", span, hint=hint, text=text)


def _token_span(token: Token, text: str) -> Span:
    if token.type == "$END":
        # Point just past the last non-blank character: where more text was expected.
        end = len(text.rstrip())
        line = text.count("\n", 0, end) + 1
        column = end - (text.rfind("\n", 0, end) + 1) + 1
        return Span(line, column, line, column + 1, end, end)
    return Span(token.line, token.column, token.end_line, token.end_column,
                token.start_pos, token.end_pos)


def _missing_token(parser, token: Token, expected: set[str]) -> str | None:
    """The single closing token whose insertion would let `token` be parsed, if any."""
    for name in sorted(expected):
        text = _terminal_texts().get(name)
        if text not in _INSERTABLE:
            continue
        attempt = parser.copy()
        try:
            attempt.feed_token(Token(name, text))
            if token.type in attempt.accepts():
                return text
        except UnexpectedToken:
            continue
    return None


def _display(name: str) -> str:
    if name in _CLASS_NAMES:
        return _CLASS_NAMES[name]
    text = _terminal_texts().get(name)
    return f"'{text.upper()}'" if text is not None else name


def _expected_names(expected: set[str]) -> list[str]:
    names = {_display(name) for name in expected}

    def order(name: str):
        bare = name.strip("'")
        if name.startswith("'") and bare in _PUNCTUATION_ORDER:
            return (0, _PUNCTUATION_ORDER.index(bare), name)
        if name.startswith("'"):
            return (1, 0, name)
        return (2, 0, name)

    return sorted(names, key=order)


def _is_punctuation(name: str) -> bool:
    return name.startswith("'") and not _WORD.match(name.strip("'"))


def _accepts_identifier(expected: set[str]) -> bool:
    return "IDENTIFIER" in expected


def _close_keyword(word: str | None, expected: set[str]) -> str | None:
    if not word or not _WORD.match(word):
        return None
    candidates = [name.strip("'") for name in map(_display, expected)
                  if name.startswith("'") and _WORD.match(name.strip("'"))]
    close = difflib.get_close_matches(word, candidates, n=1, cutoff=0.75)
    return close[0] if close and close[0] != word else None


def _expected_hint(names: list[str]) -> str:
    if not names:
        return "check the statement's syntax"
    # Keywords say most to a reader; punctuation least.
    names = sorted(names, key=lambda n: (_is_punctuation(n), not n.startswith("'")))
    listed = ", ".join(names[:3])
    return f"expected {listed}" + (" or ..." if len(names) > 3 else "")
