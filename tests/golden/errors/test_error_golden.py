"""tests/golden/errors/*.sql -> *.err.txt: the exact rendered diagnostic, caret included."""
from pathlib import Path

import pytest

from streamsql.errors import ParseError
from streamsql.parser import parse

HERE = Path(__file__).parent


@pytest.mark.parametrize("sql_file", sorted(HERE.glob("*.sql")), ids=lambda p: p.stem)
def test_bad_script_renders_golden_diagnostic(golden, sql_file):
    with pytest.raises(ParseError) as caught:
        parse(sql_file.read_text(encoding="utf-8"))
    golden(sql_file.with_suffix(".err.txt"), caught.value.render() + "\n")
