"""Options and hooks shared by the whole test suite: `--update-golden`, and `async def` tests
run on a fresh event loop (no plugin needed)."""
import asyncio
import inspect

import pytest

# The session's Kafka-protocol broker, shared by tests/kafka and tests/e2e.
pytest_plugins = ["kafka_broker"]


def pytest_addoption(parser):
    parser.addoption("--update-golden", action="store_true", default=False,
                     help="rewrite golden files (tests/golden/**) from the current output")


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    if inspect.iscoroutinefunction(pyfuncitem.obj):
        args = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
        asyncio.run(pyfuncitem.obj(**args))
        return True
    return None
