import pytest

from tests.unit.expr.harness import Batch, make_batch


@pytest.fixture
def batch() -> Batch:
    return make_batch()
