"""Builds the Lark LALR parser for grammar/streamsql.lark once and caches it.

Looks for the grammar in a source checkout first, then inside an installed wheel.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import lark

import streamsql

SERVER_START = "script"
CLIENT_START = "client_script"


def grammar_path() -> Path:
    """The grammar file: `<repo>/grammar/` in a checkout, `streamsql/grammar/` when installed."""
    package_dir = Path(streamsql.__file__).parent
    for candidate in (package_dir.parent / "grammar" / "streamsql.lark",
                      package_dir / "grammar" / "streamsql.lark"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"streamsql.lark not found next to {package_dir}")


@lru_cache(maxsize=1)
def get_parser() -> lark.Lark:
    """The shared parser; both start symbols share one set of LALR tables."""
    return lark.Lark(
        grammar_path().read_text(encoding="utf-8"),
        parser="lalr",
        lexer="contextual",
        start=[SERVER_START, CLIENT_START],
        propagate_positions=True,
        maybe_placeholders=True,
        cache=True,  # keyed by the grammar text; saves ~1s at every start
    )
