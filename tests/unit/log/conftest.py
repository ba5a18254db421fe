"""Fixtures for the log tests: a real EmbeddedLog under tmp_path; `async def` tests run
on a fresh event loop (no plugin needed)."""
from __future__ import annotations

import asyncio

import pytest

from streamsql.log import EmbeddedLog




@pytest.fixture
def data_dir(tmp_path):
    return tmp_path / "data"


@pytest.fixture
def log_factory(data_dir):
    """Builds (unstarted) EmbeddedLogs on the test's data directory; closes them at the end."""
    made: list[EmbeddedLog] = []

    def make(**options) -> EmbeddedLog:
        options.setdefault("fsync", "never")
        log = EmbeddedLog(data_dir, **options)
        made.append(log)
        return log

    yield make
    for log in made:
        asyncio.run(log.close())
