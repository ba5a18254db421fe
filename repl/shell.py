"""The interactive shell: multi-line statements ended by `;`, history, results as tables.

Push queries stream rows until LIMIT or Ctrl-C, which stops the query, not the shell.
"""
from __future__ import annotations

import asyncio
import signal
from pathlib import Path

from prompt_toolkit import PromptSession
from prompt_toolkit.history import FileHistory
from prompt_toolkit.patch_stdout import patch_stdout

from repl.render import print_result
from streamsql import __version__
from streamsql.engine import Engine
from streamsql.errors import StreamSQLError


def _complete_statement(text: str) -> bool:
    stripped = text.strip()
    return not stripped or stripped.endswith(";") or stripped.lower() in ("exit", "quit")


async def _shell(data_dir: Path, properties: dict[str, str], variables: dict[str, str],
                 backend=None) -> int:
    engine = Engine(data_dir, properties, backend=backend)
    engine.variables.update(variables)
    await engine.start()
    history = Path.home() / ".streamsql" / "history"
    history.parent.mkdir(parents=True, exist_ok=True)
    session = PromptSession(history=FileHistory(str(history)))
    print(f"streamsql {__version__} · data dir {data_dir} · backend {engine.backend.name}\n"
          "Statements end with ';'. Ctrl-C stops a running query; Ctrl-D or 'exit' quits.")
    try:
        while True:
            lines: list[str] = []
            try:
                while True:
                    prompt = "streamsql> " if not lines else "        -> "
                    with patch_stdout():
                        line = await session.prompt_async(prompt)
                    lines.append(line)
                    if _complete_statement("\n".join(lines)):
                        break
            except KeyboardInterrupt:
                continue
            except EOFError:
                return 0
            text = "\n".join(lines).strip()
            if not text:
                continue
            if text.rstrip(";").strip().lower() in ("exit", "quit"):
                return 0
            task = asyncio.ensure_future(_run(engine, text))
            loop = asyncio.get_running_loop()
            # Ctrl-C while a statement runs cancels that statement only.
            loop.add_signal_handler(signal.SIGINT, task.cancel)
            try:
                await task
            except asyncio.CancelledError:
                pass
            finally:
                loop.remove_signal_handler(signal.SIGINT)
    finally:
        await engine.close()


async def _run(engine: Engine, text: str) -> None:
    try:
        results = await engine.execute(text, client_statements=True)
    except StreamSQLError as err:
        print(err.render())
        return
    for result in results:
        try:
            await print_result(result)
        except asyncio.CancelledError:
            print("Query terminated")
            raise


def run_shell(data_dir: Path, properties: dict[str, str], variables: dict[str, str],
              backend=None) -> int:
    try:
        return asyncio.run(_shell(data_dir, properties, variables, backend))
    except KeyboardInterrupt:
        return 0
