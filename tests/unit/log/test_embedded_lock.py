"""The data directory lock: one owner at a time, in this process or another."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from streamsql.errors import LogError
from streamsql.log import EmbeddedLog

REPO_ROOT = Path(__file__).resolve().parents[3]

HOLDER = textwrap.dedent("""
    import asyncio, sys
    from streamsql.log import EmbeddedLog

    async def main():
        async with EmbeddedLog(sys.argv[1]):
            print("locked", flush=True)
            sys.stdin.readline()  # hold the lock until the test says stop

    asyncio.run(main())
""")


async def test_second_log_in_the_same_process_is_refused(data_dir):
    async with EmbeddedLog(data_dir):
        with pytest.raises(LogError) as raised:
            await EmbeddedLog(data_dir).start()
    assert raised.value.message == (f"data directory {data_dir} is in use by another "
                                    f"streamsql process (pid {os.getpid()})")
    async with EmbeddedLog(data_dir):  # released on close
        pass


async def test_lock_held_by_another_process_is_refused_until_it_exits(data_dir):
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(data_dir)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    try:
        assert holder.stdout.readline() == "locked\n"
        with pytest.raises(LogError) as raised:
            await EmbeddedLog(data_dir).start()
        assert raised.value.message == (f"data directory {data_dir} is in use by another "
                                        f"streamsql process (pid {holder.pid})")
    finally:
        holder.communicate("stop\n")
    assert holder.returncode == 0
    async with EmbeddedLog(data_dir):
        assert (data_dir / "LOCK").read_text() == f"{os.getpid()}\n"


async def test_a_data_directory_that_is_a_file_is_a_log_error(tmp_path):
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(LogError, match="cannot use data directory .*file: File exists"):
        await EmbeddedLog(tmp_path / "file").start()
