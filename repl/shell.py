"""The interactive shell: multi-line statements ended by `;`, persistent history, completion,
highlighting, results as tables or JSON. Also runs --execute/--file scripts non-interactively.

Push queries stream rows until LIMIT or Ctrl-C, which stops the query, not the shell; an
error is printed and the shell goes on. The shell talks to a Session only (repl/session.py),
so the embedded engine and a remote server look the same here.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import signal
import sys
from pathlib import Path

from prompt_toolkit import PromptSession
from prompt_toolkit.formatted_text import FormattedText
from prompt_toolkit.history import FileHistory
from prompt_toolkit.key_binding import KeyBindings
from prompt_toolkit.shortcuts import clear

from repl.completion import StatementCompleter
from repl.highlight import STYLE, StatementLexer
from repl.render import OUTPUT_FORMATS, TABULAR, print_result
from repl.session import Names, Session, close_stream
from repl.syntax import is_complete, is_shell_command
from streamsql.errors import StreamSQLError

logger = logging.getLogger("streamsql.repl")

PROMPT = "streamsql> "
# ksqlDB's CLI keeps its history in ~/.ksql-history; ours is the same idea under our name.
HISTORY_ENV = "STREAMSQL_HISTORY"
DEFAULT_HISTORY = Path.home() / ".streamsql_history"

_SET_OUTPUT = re.compile(r"\s*SET\s+'output'\s*=\s*'(\w*)'\s*;?\s*\Z", re.IGNORECASE)

HELP = """\
Statements end with ';' and may span lines; Tab completes, Up/Down walk the history.
Shell commands (no ';' needed):
  output [TABULAR|JSON]   show or set how results are printed (also: SET 'output'='JSON';)
  history                 list the statements entered before
  clear                   clear the screen
  help                    this text
  exit, quit, Ctrl-D      leave the shell
Ctrl-C stops a running query and returns to the prompt; at the prompt it clears the input.
RUN SCRIPT '/path/file.sql'; runs the statements of a file."""


def history_path() -> Path:
    env = os.environ.get(HISTORY_ENV)
    return Path(env) if env else DEFAULT_HISTORY


class _Interrupt:
    """Ctrl-C while a statement runs: stops the query being streamed, and the rest of the
    input. A statement that changes the catalog is never cut in half; it finishes first."""

    def __init__(self) -> None:
        self.requested = False
        self.streaming: asyncio.Task | None = None

    def __call__(self) -> None:
        self.requested = True
        if self.streaming is not None:
            self.streaming.cancel()


class Shell:
    """One interactive session: prompt, run, print, until exit."""

    def __init__(self, session: Session, out=sys.stdout, output: str = TABULAR):
        self.session = session
        self.out = out
        self.output = output
        self.names = Names()
        self.interrupt = _Interrupt()
        self.prompt = PromptSession(
            history=FileHistory(str(history_path())), multiline=True,
            key_bindings=_key_bindings(), prompt_continuation=_continuation,
            lexer=StatementLexer(self._function_names), completer=StatementCompleter(
                lambda: self.names), complete_while_typing=False, style=STYLE)

    def _function_names(self) -> frozenset[str]:
        return frozenset(name.upper() for name in self.names.functions)

    async def run(self) -> int:
        try:
            await self.session.start()
        except StreamSQLError as err:
            print(err.render(), file=sys.stderr)
            return 1
        try:
            print(f"{self.session.banner()} · 'help' for help, Ctrl-D to quit", file=self.out)
            await self._refresh_names()
            while True:
                try:
                    text = (await self.prompt.prompt_async(PROMPT)).strip()
                except KeyboardInterrupt:
                    continue
                except EOFError:
                    return 0
                if not text:
                    continue
                if is_shell_command(text):
                    if not self._shell_command(text):
                        return 0
                    continue
                if (chosen := _SET_OUTPUT.match(text)) is not None:
                    self._set_output(chosen.group(1))
                    continue
                with self._interruptible():
                    await self.execute(text)
                    await self._refresh_names()
        finally:
            await self.session.close()

    @contextlib.contextmanager
    def _interruptible(self):
        """At the prompt the terminal is raw and Ctrl-C is a key (prompt-toolkit installs
        and removes its own handler); while a statement runs it is a signal, which must stop
        that statement only."""
        loop = asyncio.get_running_loop()
        self.interrupt.requested = False
        loop.add_signal_handler(signal.SIGINT, self.interrupt)
        try:
            yield
        finally:
            loop.remove_signal_handler(signal.SIGINT)

    async def execute(self, text: str) -> None:
        """Run the input's statements in order and print their results; errors are printed."""
        results = self.session.execute(text)
        try:
            async for result in results:
                if result.kind == "stream":
                    await self._stream(result)
                else:
                    await print_result(result, self.out, self.output)
                if self.interrupt.requested:
                    break
        except StreamSQLError as err:
            print(err.render(), file=self.out)
        except Exception as err:  # a bug must not end the session the user is working in
            logger.debug("statement failed", exc_info=err)
            print(f"Internal error: {type(err).__name__}: {err}", file=self.out)
        finally:
            await results.aclose()

    async def _stream(self, result) -> None:
        if self.interrupt.requested:
            await close_stream(result.stream)
            return
        printing = asyncio.ensure_future(print_result(result, self.out, self.output))
        self.interrupt.streaming = printing
        try:
            await printing
        except asyncio.CancelledError:
            if not self.interrupt.requested:
                raise  # the shell itself is being cancelled, not just this query
            await close_stream(result.stream)
            print("Query terminated", file=self.out, flush=True)
        finally:
            self.interrupt.streaming = None

    def _shell_command(self, text: str) -> bool:
        """Run a shell command; False means quit."""
        word, *argument = text.rstrip(";").split()
        word = word.lower()
        if word in ("exit", "quit"):
            return False
        if word == "help":
            print(HELP, file=self.out)
        elif word == "history":
            entries = list(self.prompt.history.get_strings())
            for number, entry in enumerate(entries, 1):
                print(f"{number:>4}  {entry}", file=self.out)
        elif word == "clear":
            clear()
        elif word == "output":
            if argument:
                self._set_output(argument[0])
            else:
                print(f"Current output format: {self.output}", file=self.out)
        return True

    def _set_output(self, name: str) -> None:
        if name.upper() not in OUTPUT_FORMATS:
            print(f"Unknown output format '{name}'; choose one of "
                  f"{', '.join(OUTPUT_FORMATS)}", file=self.out)
            return
        self.output = name.upper()
        print(f"Output format set to {self.output}", file=self.out)

    async def _refresh_names(self) -> None:
        """Completion follows the catalog: re-read after every statement."""
        try:
            self.names = await self.session.names()
        except StreamSQLError as err:
            logger.debug("could not refresh names for completion: %s", err)


def _key_bindings() -> KeyBindings:
    bindings = KeyBindings()

    @bindings.add("enter")
    def _enter(event) -> None:
        buffer = event.current_buffer
        if is_complete(buffer.text):
            buffer.validate_and_handle()
        else:
            buffer.insert_text("\n")

    return bindings


def _continuation(width: int, line_number: int, wrap_count: int) -> FormattedText:
    return FormattedText([("class:continuation", "-> ".rjust(width))])


async def run_statements(session: Session, text: str, out=sys.stdout,
                         output: str = TABULAR) -> int:
    """--execute / --file: run the statements, print each result, exit 1 at the first error."""
    try:
        await session.start()
    except StreamSQLError as err:
        print(err.render(), file=sys.stderr)
        return 1
    results = session.execute(text)
    try:
        async for result in results:
            await print_result(result, out, output)
        return 0
    except StreamSQLError as err:
        print(err.render(), file=sys.stderr)
        return 1
    finally:
        await results.aclose()
        await session.close()


def run_shell(session: Session, output: str = TABULAR) -> int:
    return asyncio.run(Shell(session, output=output).run())

