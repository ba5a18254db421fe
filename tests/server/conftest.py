"""A real server on a free port over a real engine, for each test."""
import asyncio

import pytest
from http_client import Client

from streamsql.engine import Engine
from streamsql.server.app import Server


@pytest.fixture
def served(tmp_path):
    """served(body): run `await body(client, engine)` against a server on a fresh engine."""

    def run(body):
        async def main():
            async with Engine(tmp_path / "data") as engine:
                async with Server(engine, port=0) as server:
                    await body(Client(server.port), engine)

        asyncio.run(main())

    return run
