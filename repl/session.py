"""What the shell needs from whatever runs its statements: the embedded engine
(repl/local.py) or a server over its REST API (repl/remote.py). The shell sees only this.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import AsyncIterator, Protocol

from streamsql.engine import Result


@dataclass(frozen=True)
class Names:
    """The catalog's names, as completion offers them."""

    streams: tuple[str, ...] = ()
    tables: tuple[str, ...] = ()
    columns: dict[str, tuple[str, ...]] = field(default_factory=dict)  # source -> its columns
    topics: tuple[str, ...] = ()
    functions: tuple[str, ...] = ()


class Session(Protocol):
    """Statements in, Results out, for one shell or script run."""

    async def start(self) -> None:
        """Open the engine or check the server answers; raises StreamSQLError if not."""

    async def close(self) -> None:
        """Stop everything this session started (push queries, the engine, connections)."""

    def banner(self) -> str:
        """One line: version, where statements run, and on what."""

    def execute(self, text: str) -> AsyncIterator[Result]:
        """Run the statements of `text` in order, yielding each one's Result.

        A Result of kind 'stream' owns a running query: iterate its `stream` for rows and
        `aclose()` it to stop the query. Raises StreamSQLError for a rejected statement.
        """

    async def names(self) -> Names:
        """The current streams, tables, columns, topics and functions."""


async def close_stream(stream: AsyncIterator) -> None:
    """Stop a streamed Result's query, read or not. A generator that never started would skip
    its cleanup on aclose() and leave the query open, so it is started and cancelled first."""
    first = asyncio.ensure_future(stream.__anext__())
    await asyncio.sleep(0)
    first.cancel()
    await asyncio.gather(first, return_exceptions=True)
    await stream.aclose()
