"""Print statement Results to the terminal: status lines, tables and streamed rows, as aligned
text (TABULAR, the default) or as JSON (ksqlDB CLI's OUTPUT setting)."""
from __future__ import annotations

import json
import sys

from repl.tables import column_widths, header, json_default, stream_row, table

TABULAR, JSON = "TABULAR", "JSON"
OUTPUT_FORMATS = (TABULAR, JSON)


async def print_result(result, out=sys.stdout, output: str = TABULAR) -> None:
    """Print one Result; a streamed one is printed row by row until it ends."""
    if output == JSON:
        await _print_json(result, out)
        return
    if result.kind == "table":
        print(table(result.columns, result.rows), file=out)
        if result.entity in ("pullQuery",):
            print("Query terminated", file=out)
    elif result.kind == "stream":
        if result.entity == "print":
            async for (line,) in result.stream:
                print(line, file=out, flush=True)
            return
        widths = column_widths(result.columns)
        print(header(result.columns, widths), file=out, flush=True)
        async for row in result.stream:
            print(stream_row(row, widths), file=out, flush=True)
        print("Limit Reached\nQuery terminated", file=out)
    elif result.message:
        print(result.message, file=out)


async def _print_json(result, out) -> None:
    """Tables as one array of row objects, streamed rows as one object per line, status
    as {"message": ...}."""
    if result.kind == "table":
        rows = [dict(zip(result.columns, row)) for row in result.rows]
        print(_dumps(rows, indent=2), file=out)
    elif result.kind == "stream":
        async for row in result.stream:
            shown = {"record": row[0]} if result.entity == "print" \
                else dict(zip(result.columns, row))
            print(_dumps(shown), file=out, flush=True)
    elif result.message:
        print(_dumps({"statement": result.statement, "message": result.message}, indent=2),
              file=out)


def _dumps(value, indent: int | None = None) -> str:
    return json.dumps(value, default=json_default, indent=indent, ensure_ascii=False)
