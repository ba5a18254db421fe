"""The shell's session on the embedded engine: statements run in this process, on --data-dir
(or a Kafka cluster with --bootstrap-servers)."""
from __future__ import annotations

from pathlib import Path
from typing import AsyncIterator

from repl.session import Names, close_stream
from streamsql import __version__
from streamsql.engine import Engine, Result


class LocalSession:
    """A Session over an Engine this session starts and closes."""

    def __init__(self, data_dir: Path, properties: dict[str, str], variables: dict[str, str],
                 backend=None):
        self.engine = Engine(data_dir, properties, backend=backend)
        self.engine.variables.update(variables)

    async def start(self) -> None:
        await self.engine.start()

    async def close(self) -> None:
        await self.engine.close()

    def banner(self) -> str:
        return (f"streamsql {__version__} · data dir {self.engine.data_dir} · "
                f"backend {self.engine.backend.name}")

    async def execute(self, text: str) -> AsyncIterator[Result]:
        results = self.engine.execute_each(text, client_statements=True)
        try:
            async for result in results:
                shown = list(_flattened(result))
                try:
                    while shown:
                        yield shown.pop(0)
                finally:
                    # RUN SCRIPT's push queries not shown (the caller stopped) must be closed
                    for left in shown:
                        if left.stream is not None:
                            await close_stream(left.stream)
        finally:
            await results.aclose()

    async def names(self) -> Names:
        catalog = self.engine.catalog
        sources = catalog.sources.values()
        registry = self.engine.registry
        topics = await self.engine.backend.list_topics()
        return Names(
            streams=tuple(sorted(s.name for s in sources if s.kind == "STREAM")),
            tables=tuple(sorted(s.name for s in sources if s.kind != "STREAM")),
            columns={s.name: tuple(c.name for c in s.schema.columns) for s in sources},
            topics=tuple(sorted(t.name for t in topics if not t.name.startswith("_"))),
            functions=tuple(sorted({f.name for f in registry.functions()} |
                                   set(registry.aggregates))))


def _flattened(result: Result):
    """RUN SCRIPT's own statements' Results, in order, then its summary; others as they are."""
    if result.entity == "script":
        for inner in result.data:
            yield from _flattened(inner)
    yield result
