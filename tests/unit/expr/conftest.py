import pytest

from expr_harness import Batch, make_batch


@pytest.fixture
def batch() -> Batch:
    return make_batch()
