"""tests/golden/format/identity.sql: each line is canonical, so parse -> format returns it."""
from pathlib import Path

import pytest

from streamsql.parser import parse
from streamsql.sqlformat import format_statement

LINES = [line for line in (Path(__file__).parent / "identity.sql").read_text().splitlines()
         if line.strip()]


@pytest.mark.parametrize("line", LINES)
def test_canonical_statement_formats_to_itself(line):
    [statement] = parse(line, client_statements=True)
    assert format_statement(statement) == line
