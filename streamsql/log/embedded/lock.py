"""The data directory lock: one EmbeddedLog (in any process) owns a directory at a time.

flock locks belong to an open file description, so a second open in the same process
conflicts just like one in another process, and the kernel drops the lock if we die.
"""
from __future__ import annotations

import fcntl
import os
from pathlib import Path

from streamsql.errors import LogError


class DirectoryLock:
    """An exclusive, non-blocking flock on `<data_dir>/LOCK` holding the owner's pid."""

    def __init__(self, data_dir: Path):
        self.data_dir = data_dir
        self.path = data_dir / "LOCK"
        self._fd: int | None = None

    @property
    def is_held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock or raise LogError naming the process that holds it."""
        if self._fd is not None:
            return
        # No O_TRUNC: the holder's pid must stay readable until we own the lock.
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise LogError(
                f"data directory {self.data_dir} is in use by another streamsql process "
                f"(pid {holder})",
                hint="stop that process, or give this one another data directory") from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        # Leave the file in place: unlinking it would let a waiter lock a stale inode.
        os.ftruncate(fd, 0)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
