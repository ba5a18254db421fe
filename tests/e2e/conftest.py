"""Helpers for driving the installed `streamsql` command as a subprocess."""
import os
import queue
import shutil
import subprocess
import sys
import threading

import pytest


def streamsql_command() -> list[str]:
    """The installed console script if present, else the same entry point via -m."""
    found = shutil.which("streamsql", path=os.path.dirname(sys.executable) + os.pathsep +
                         os.environ.get("PATH", ""))
    return [found] if found else [sys.executable, "-m", "streamsql.cli"]


class Service:
    """A `streamsql` subprocess whose stderr lines can be awaited."""

    def __init__(self, args: list[str], cwd, env: dict[str, str] | None = None):
        self.proc = subprocess.Popen(streamsql_command() + args, cwd=cwd, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env=env)
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        for line in self.proc.stdout:
            self.lines.put(line)

    def wait_for(self, text: str, timeout: float = 60.0) -> str:
        """Block until a line containing `text` appears; fail with everything seen if not."""
        try:
            while True:
                line = self.lines.get(timeout=timeout)
                self.seen.append(line)
                if text in line:
                    return line
        except queue.Empty:
            pytest.fail(f"no line containing {text!r} within {timeout}s; output:\n"
                        + "".join(self.seen))

    def stop(self, timeout: float = 30.0) -> int:
        self.proc.terminate()
        return self.proc.wait(timeout)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(10)


@pytest.fixture
def service_factory(tmp_path):
    started = []

    def start(*args, env=None):
        service = Service(list(args), tmp_path, env)
        started.append(service)
        return service

    yield start
    for service in started:
        if service.proc.poll() is None:
            service.kill()
