"""The `golden` fixture: compare output with an expected file, or rewrite it (--update-golden)."""
from pathlib import Path

import pytest


@pytest.fixture
def golden(request):
    update = request.config.getoption("--update-golden")

    def check(path: Path, actual: str) -> None:
        if update:
            path.write_text(actual, encoding="utf-8")
            return
        assert path.exists(), f"{path} is missing; run pytest --update-golden and review it"
        assert actual == path.read_text(encoding="utf-8")

    return check
