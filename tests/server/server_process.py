"""`streamsql server` as a real subprocess on a free port, for clients that are not asyncio."""
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

LISTENING = re.compile(r"serving ksqlDB's REST API on (?P<url>https?://[\d.]+:\d+)")


class ServerProcess:
    """Starts `streamsql server --port 0 ARGS...`; `url` is where it listens. The log is
    read by a thread (so the server never blocks on a full pipe) and kept in `log`."""

    def __init__(self, data_dir: Path, *args: str):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "streamsql.cli", "server", "--data-dir", str(data_dir),
             "--port", "0", *args], stderr=subprocess.PIPE, text=True,
            env={**os.environ, "STREAMSQL_LOG_LEVEL": "INFO"})
        self.log: list[str] = []
        self._listening = threading.Event()
        self.url: str | None = None
        self._reader = threading.Thread(target=self._read_log, daemon=True)
        self._reader.start()
        # bounded: a server that cannot start fails the test instead of hanging it
        if not self._listening.wait(timeout=60) or self.url is None:
            self.stop()
            raise AssertionError("streamsql server did not start:\n" + "".join(self.log))

    def _read_log(self) -> None:
        for line in self.process.stderr:
            self.log.append(line)
            found = LISTENING.search(line)
            if found and self.url is None:
                self.url = found["url"]
                self._listening.set()
        self._listening.set()  # the process ended

    def stop(self) -> int:
        """SIGTERM, as a service manager would; returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=30)
        self._reader.join(timeout=30)
        self.process.stderr.close()
        return code
