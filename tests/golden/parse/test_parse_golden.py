"""tests/golden/parse/*.sql -> *.ast.txt: the AST each script parses to."""
import dataclasses
from pathlib import Path

import pytest

from streamsql.parser import parse

HERE = Path(__file__).parent


def dump_ast(node, indent: int = 0) -> str:
    """An indented, span-free rendering of an AST: one field per line, defaults omitted."""
    pad = "  " * indent
    if dataclasses.is_dataclass(node):
        lines = [type(node).__name__]
        for f in dataclasses.fields(node):
            value = getattr(node, f.name)
            if not f.compare or (f.default is not dataclasses.MISSING and value == f.default):
                continue
            text = dump_ast(value, indent + 1)
            lines.append(f"{pad}  {f.name}:{text if text.startswith(chr(10)) else ' ' + text}")
        return "\n".join(lines)
    if isinstance(node, tuple) and node:
        return "".join(f"\n{pad}  - {dump_ast(item, indent + 2)}" for item in node)
    return repr(node)


@pytest.mark.parametrize("sql_file", sorted(HERE.glob("*.sql")), ids=lambda p: p.stem)
def test_script_parses_to_golden_ast(golden, sql_file):
    statements = parse(sql_file.read_text(encoding="utf-8"), client_statements=True)
    dumped = "\n\n".join(dump_ast(statement) for statement in statements) + "\n"
    golden(sql_file.with_suffix(".ast.txt"), dumped)
