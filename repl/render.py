"""Print a statement Result to the terminal: status lines, tables, and streamed rows."""
from __future__ import annotations

import sys

from repl.tables import column_widths, header, stream_row, table


async def print_result(result, out=sys.stdout) -> None:
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
