"""EXPLAIN output (logical and physical plans) for representative queries, as golden files."""
import asyncio
from pathlib import Path

import pytest

from streamsql.engine import Engine

HERE = Path(__file__).parent
CASES = sorted(HERE.glob("*.sql"))


async def _explain(tmp_path, text: str) -> str:
    async with Engine(tmp_path, run_queries=False, state_in_memory=True) as engine:
        results = await engine.execute(text)
        return results[-1].data + "\n"


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.stem)
def test_explain_matches_golden(case, tmp_path, golden):
    golden(case.with_suffix(".plan.txt"), asyncio.run(_explain(tmp_path, case.read_text())))
