"""The shell's view of statement text: tokens for highlighting and completion, and whether
the input so far is complete (ends with `;` outside strings and comments) or a shell command.

No prompt-toolkit here, and no parsing: the engine (or the server) parses what is sent.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from streamsql.parser import keywords

# Commands the shell runs itself, as ksqlDB's CLI does; they need no `;`.
SHELL_COMMANDS = ("exit", "quit", "help", "output", "history", "clear")

_TOKEN = re.compile(r"""
    (?P<comment>--[^\n]*|/\*.*?(?:\*/|\Z))
  | (?P<string>'(?:[^']|'')*'?)
  | (?P<quoted>`(?:[^`]|``)*`?|"(?:[^"]|"")*"?)
  | (?P<variable>\$\{[^}]*\}?)
  | (?P<number>\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)
  | (?P<word>[A-Za-z_][A-Za-z0-9_@]*)
  | (?P<space>\s+)
  | (?P<punctuation>.)
""", re.VERBOSE | re.DOTALL)


@dataclass(frozen=True)
class Token:
    kind: str  # comment, string, quoted, variable, number, keyword, word, space, punctuation
    text: str
    start: int

    @property
    def is_closed(self) -> bool:
        """False for a string, quoted name or block comment still open at the end of input."""
        closed = _CLOSED.get(self.kind if not self.text.startswith("--") else "")
        return closed is None or closed.fullmatch(self.text) is not None


_CLOSED = {"string": re.compile(r"'(?:[^']|'')*'", re.DOTALL),
           "quoted": re.compile(r"`(?:[^`]|``)*`|\"(?:[^\"]|\"\")*\"", re.DOTALL),
           "comment": re.compile(r"/\*.*?\*/", re.DOTALL)}


@lru_cache(maxsize=1)
def keyword_set() -> frozenset[str]:
    """The grammar's keywords, upper-case."""
    return keywords()


def tokenize(text: str) -> list[Token]:
    """Every token of `text`, covering it exactly; words that are keywords are `keyword`."""
    words = keyword_set()
    tokens = []
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup
        if kind == "word" and match.group().upper() in words:
            kind = "keyword"
        tokens.append(Token(kind, match.group(), match.start()))
    return tokens


def is_shell_command(text: str) -> bool:
    """`exit`, `output json`, `history`...: a line the shell handles itself."""
    words = text.strip().rstrip(";").split()
    return bool(words) and words[0].lower() in SHELL_COMMANDS and \
        (len(words) == 1 or words[0].lower() == "output" and len(words) == 2)


def is_complete(text: str) -> bool:
    """True when the input can run: empty, a shell command, or ending in `;` outside any
    string, quoted name or comment."""
    if not text.strip() or is_shell_command(text):
        return True
    tokens = [t for t in tokenize(text) if t.kind != "space"]
    if tokens and not tokens[-1].is_closed:
        return False
    significant = [t for t in tokens if t.kind != "comment"]
    return bool(significant) and significant[-1].text == ";"
