import sys
from pathlib import Path

import pytest

# The expression tests' harness serves these tests too; pytest puts only each test
# directory itself on sys.path (no packages under tests/).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "expr"))

from expr_harness import Batch, make_batch  # noqa: E402


@pytest.fixture
def batch() -> Batch:
    return make_batch()
