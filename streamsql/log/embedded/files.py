"""Crash-safe file primitives: atomic replace of a small file, fsync of a directory entry.

Nothing here knows about topics or records.
"""
from __future__ import annotations

import os
from pathlib import Path


def write_atomically(path: Path, data: bytes, *, sync: bool = True,
                     sync_replace: bool = True) -> None:
    """Replace `path` with `data` so that a crash leaves either the old or the new content.

    Steps: write a temporary sibling, fsync it, rename it over `path`, fsync the directory
    (the rename itself is only durable once the directory entry is).

    sync_replace=False skips the directory fsync when `path` already exists: a crash may
    then leave an earlier content, never a broken one (for data where that is allowed).
    """
    sync_directory = sync and (sync_replace or not path.exists())
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        write_all(fd, data)
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    if sync_directory:
        fsync_directory(path.parent)


def write_all(fd: int, data: bytes | memoryview) -> None:
    """os.write until every byte is written (a regular file may accept fewer on one call)."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def fsync_directory(directory: Path) -> None:
    """Make creations, renames and deletions inside `directory` durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
