"""The installed `streamsql` command in a real pseudo-terminal, driven by keystrokes; and a
real `streamsql server` subprocess for --server tests."""
import fcntl
import os
import pty
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import termios
import time
import urllib.request

import pytest

# Generous deadlines: the machine is shared, and a wait only lasts until its text appears.
DEADLINE = 60.0
_ESCAPE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07|\x1b[()][0-9A-Za-z]|\x1b[=>]")


def streamsql_command() -> list[str]:
    found = shutil.which("streamsql", path=os.path.dirname(sys.executable))
    return [found] if found else [sys.executable, "-m", "streamsql.cli"]


class Terminal:
    """A process on the child side of a pty; what it writes is read back as plain text."""

    ENTER, UP, TAB, CTRL_C, CTRL_D = "\r", "\x1b[A", "\t", "\x03", "\x04"

    def __init__(self, args: list[str], env: dict[str, str]):
        self.raw = b""
        self.mark = 0  # text before this offset was matched by an earlier expect()
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: the pty is its controlling terminal
            try:
                os.execve(args[0], args, env)
            finally:
                os._exit(127)
        # wide enough that tables and echoed statements do not wrap
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 220, 0, 0))
        self.status: int | None = None

    @property
    def text(self) -> str:
        """Everything written so far, without escape sequences and carriage returns."""
        return _ESCAPE.sub("", self.raw.decode(errors="replace")).replace("\r", "")

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return True
        try:
            data = os.read(self.fd, 65536)
        except OSError:  # EIO: the child has exited and the pty is closed
            data = b""
        if not data:
            return False
        self.raw += data
        return True

    def expect(self, pattern: str, timeout: float = DEADLINE) -> re.Match:
        """Wait until `pattern` (a regex) appears after the previous match; fail with the
        whole screen text if it does not within `timeout`."""
        deadline = time.monotonic() + timeout
        compiled = re.compile(pattern)
        while True:
            found = compiled.search(self.text, self.mark)
            if found is not None:
                self.mark = found.end()
                return found
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._read(min(remaining, 0.5)):
                found = compiled.search(self.text, self.mark)
                if found is not None:
                    self.mark = found.end()
                    return found
                pytest.fail(f"{pattern!r} did not appear within {timeout}s; the terminal "
                            f"shows after the last match:\n{self.text[self.mark:]}")

    def expect_prompt(self) -> None:
        self.expect(r"streamsql>")

    def send(self, keys: str) -> None:
        os.write(self.fd, keys.encode())

    def line(self, text: str) -> None:
        """Type a line and press Enter."""
        self.send(text + self.ENTER)

    def wait_exit(self, timeout: float = DEADLINE) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = os.waitstatus_to_exitcode(status)
                return self.status
            self._read(0.2)
        pytest.fail(f"the shell did not exit within {timeout}s; it shows:\n{self.text}")

    def kill(self) -> None:
        if self.status is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except ChildProcessError:
                pass
        os.close(self.fd)


@pytest.fixture
def shell_env(tmp_path):
    """Environment of a shell: its own HOME (history file) and no CPR probing."""
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMSQL_")}
    env.update(HOME=str(home), TERM="xterm-256color", PROMPT_TOOLKIT_NO_CPR="1")
    return env


@pytest.fixture
def terminal_factory(shell_env):
    """terminal_factory(*args): `streamsql *args` in a new pty; killed after the test."""
    started: list[Terminal] = []

    def start(*args: str) -> Terminal:
        terminal = Terminal(streamsql_command() + list(args), shell_env)
        started.append(terminal)
        return terminal

    yield start
    for terminal in started:
        terminal.kill()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def server_url(tmp_path, shell_env):
    """A `streamsql server` subprocess on a free port, on its own data directory."""
    port = free_port()
    log = open(tmp_path / "server.log", "wb")
    proc = subprocess.Popen(streamsql_command() + [
        "server", "--port", str(port), "--data-dir", str(tmp_path / "server-data"),
        "-p", "auto.offset.reset=earliest"], env=shell_env, stdout=log,
        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + DEADLINE
    while True:
        try:
            with urllib.request.urlopen(f"{url}/healthcheck", timeout=5):
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail("the server did not start:\n" +
                            (tmp_path / "server.log").read_text())
            time.sleep(0.2)
    yield url
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    log.close()
