"""`${name}` variable substitution in statement text, as ksqlDB does before parsing.

Substitutes everywhere, string literals included; an undefined variable is an error.
"""
from __future__ import annotations

import difflib
import re

from streamsql.errors import ParseError, Span

_REFERENCE = re.compile(r"\$\{([^}]*)\}")


def substitute_variables(text: str, variables: dict[str, str]) -> str:
    """Replace every `${name}` (name matched case-insensitively) with its value."""
    by_name = {name.upper(): value for name, value in variables.items()}

    def replace(match: re.Match) -> str:
        name = match.group(1).strip()
        if name.upper() in by_name:
            return by_name[name.upper()]
        raise _undefined(match, name, text, by_name)

    return _REFERENCE.sub(replace, text)


def _undefined(match: re.Match, name: str, text: str, known: dict[str, str]) -> ParseError:
    start, end = match.span()
    line = text.count("\n", 0, start) + 1
    column = start - (text.rfind("\n", 0, start) + 1) + 1
    close = difflib.get_close_matches(name.upper(), list(known), n=1)
    hint = (f"did you mean '{close[0]}'?" if close
            else f"define it first: DEFINE {name} = '...';")
    return ParseError(f"Variable '{name}' is not defined", Span(line, column, line,
                      column + end - start, start, end), hint=hint, text=text)
