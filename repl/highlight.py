"""Syntax highlighting of the input: a prompt-toolkit lexer over repl/syntax.py's tokens, so
the colours follow our own grammar's keywords."""
from __future__ import annotations

from typing import Callable

from prompt_toolkit.document import Document
from prompt_toolkit.lexers import Lexer
from prompt_toolkit.styles import Style

from repl.syntax import tokenize

STYLE = Style.from_dict({
    "keyword": "ansiblue bold",
    "string": "ansigreen",
    "number": "ansicyan",
    "comment": "ansibrightblack italic",
    "quoted": "ansiyellow",
    "variable": "ansimagenta",
    "function": "ansiyellow",
    "continuation": "ansibrightblack",
})


class StatementLexer(Lexer):
    """Colours keywords, strings, numbers, comments, quoted names, ${variables} and calls of
    known functions (`functions()` gives their names, upper-case)."""

    def __init__(self, functions: Callable[[], frozenset[str]]):
        self.functions = functions

    def lex_document(self, document: Document):
        functions = self.functions()
        lines: list[list[tuple[str, str]]] = [[]]
        for token in tokenize(document.text):
            style = _style(token.kind, token.text, functions)
            # a token may span lines (comments, strings): split it at each newline
            for i, part in enumerate(token.text.split("\n")):
                if i:
                    lines.append([])
                if part:
                    lines[-1].append((style, part))
        return lambda number: lines[number] if number < len(lines) else []


def _style(kind: str, text: str, functions: frozenset[str]) -> str:
    if kind == "word":
        return "class:function" if text.upper() in functions else ""
    if kind in ("space", "punctuation"):
        return ""
    return f"class:{kind}"
