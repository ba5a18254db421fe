"""The `streamsql` command: the REPL (default), `run FILE.sql`, `server`, and `test`."""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

from streamsql import __version__
from streamsql.errors import StreamSQLError

logger = logging.getLogger("streamsql")


def _data_dir(args) -> Path:
    if args.data_dir:
        return Path(args.data_dir)
    env = os.environ.get("STREAMSQL_DATA_DIR")
    return Path(env) if env else Path.home() / ".streamsql" / "data"


def _defines(pairs: list[str] | None) -> dict[str, str]:
    variables = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise SystemExit(f"--define expects NAME=VALUE, got {pair!r}")
        name, value = pair.split("=", 1)
        variables[name.strip()] = value
    return variables


def _add_engine_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", help="directory of the embedded log and state "
                        "(default: $STREAMSQL_DATA_DIR or ~/.streamsql/data)")
    parser.add_argument("--config", "-p", action="append", metavar="NAME=VALUE",
                        help="engine property, e.g. -p auto.offset.reset=earliest (repeatable)")
    parser.add_argument("--bootstrap-servers", metavar="HOST:PORT[,HOST:PORT...]",
                        default=os.environ.get("STREAMSQL_BOOTSTRAP_SERVERS"),
                        help="use this Kafka cluster as the topic log instead of the embedded one")
    parser.add_argument("--service-id", help="ksql.service.id (default: default_)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="streamsql", description="Streaming SQL over topics, ksqlDB-style. "
        "Without a command, opens the interactive shell.")
    parser.add_argument("--version", action="version", version=f"streamsql {__version__}")
    _add_engine_options(parser)
    parser.add_argument("--execute", "-e", metavar="SQL", help="run these statements and exit")
    parser.add_argument("--file", "-f", metavar="FILE", help="run the statements of FILE and exit")
    parser.add_argument("--define", "-d", action="append", metavar="NAME=VALUE",
                        help="define a variable for ${NAME} substitution (repeatable)")
    commands = parser.add_subparsers(dest="command")

    run = commands.add_parser("run", help="run a query file as a service until SIGTERM/SIGINT")
    run.add_argument("file", help="the .sql file to run")
    run.add_argument("--define", "-d", action="append", metavar="NAME=VALUE",
                     help="define a variable for ${NAME} substitution (repeatable)")
    _add_engine_options(run)

    server = commands.add_parser("server", help="serve ksqlDB's REST API over HTTP")
    server.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1)")
    server.add_argument("--port", type=int, default=8088, help="port to listen on (default 8088)")
    _add_engine_options(server)

    test = commands.add_parser("test", help="run query tests (ksqlDB QTT JSON files, or "
                               "--statements/--input/--output)")
    from streamsql.testing.command import add_arguments
    add_arguments(test)
    return parser


def _backend(args):
    """The Kafka log for --bootstrap-servers; None means the embedded log in --data-dir."""
    if not getattr(args, "bootstrap_servers", None):
        return None
    from streamsql.log import open_backend
    return open_backend(f"kafka:{args.bootstrap_servers}")


def _properties(args) -> dict[str, str]:
    props = {}
    for pair in getattr(args, "config", None) or []:
        if "=" not in pair:
            raise SystemExit(f"--config expects NAME=VALUE, got {pair!r}")
        name, value = pair.split("=", 1)
        props[name.strip()] = value.strip()
    if getattr(args, "service_id", None):
        props.setdefault("ksql.service.id", args.service_id)
    return props


async def _started_engine(args):
    """The engine of these options, started; None (after saying why) if it cannot start."""
    from streamsql.engine import Engine

    engine = Engine(_data_dir(args), _properties(args), backend=_backend(args))
    engine.variables.update(_defines(args.define))
    try:
        await engine.start()
    except StreamSQLError as err:
        print(err.render(), file=sys.stderr)
        return None
    return engine


async def _run_script(args, text: str) -> int:
    """--execute / --file: run the statements, print each result, exit."""
    from repl.render import print_result

    engine = await _started_engine(args)
    if engine is None:
        return 1
    try:
        try:
            results = await engine.execute(text, client_statements=True)
        except StreamSQLError as err:
            print(err.render(), file=sys.stderr)
            return 1
        for result in results:
            await print_result(result)
        return 0
    finally:
        await engine.close()


async def _run_service(args) -> int:
    """`run FILE.sql`: execute the file, keep its persistent queries running until a signal."""

    path = Path(args.file)
    try:
        text = path.read_text()
    except OSError as err:
        print(f"cannot read {path}: {err.strerror}", file=sys.stderr)
        return 2
    engine = await _started_engine(args)
    if engine is None:
        return 1
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        try:
            await _execute_service_file(engine, text)
        except StreamSQLError as err:
            logger.error("statement failed, stopping:\n%s", err.render())
            return 1
        logger.info("running %d persistent queries; SIGTERM or Ctrl-C stops them",
                    len(engine.persistent))
        await stop.wait()
        logger.info("stopping: finishing the batch in flight and committing offsets")
        return 0
    finally:
        await engine.close()
        logger.info("stopped")


async def _execute_service_file(engine, text: str) -> None:
    """Run the file's statements; statements whose effect already exists are skipped,
    so running the same file again does not duplicate queries."""
    from streamsql import parser
    from streamsql import ast

    for piece in parser.split_statements(text):
        statement_text = parser.substitute_variables(piece, engine.variables)
        for stmt in parser.parse(statement_text, client_statements=True):
            name = getattr(stmt, "name", None)
            if isinstance(stmt, (ast.CreateStream, ast.CreateTable, ast.CreateStreamAs,
                                 ast.CreateTableAs)) and engine.catalog.source(name) is not None:
                logger.info("%s already exists; keeping it", name)
                continue
            if isinstance(stmt, ast.InsertInto) and any(
                    q.sql.strip() == statement_text.strip().rstrip(";").strip()
                    for q in engine.catalog.queries.values()):
                logger.info("INSERT INTO %s query already running; keeping it", stmt.target)
                continue
            results = await engine.execute(statement_text, client_statements=True)
            for result in results:
                if result.message:
                    logger.info("%s", result.message)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=os.environ.get("STREAMSQL_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s %(message)s",
                        stream=sys.stderr)
    args = build_parser().parse_args(argv)
    if args.command == "test":
        from streamsql.testing.command import run
        return run(args)
    if args.command == "server":
        from streamsql.server.app import run_server
        return asyncio.run(run_server(_data_dir(args), args.host, args.port, _properties(args),
                                      backend=_backend(args)))
    if args.command == "run":
        return asyncio.run(_run_service(args))
    if args.execute or args.file:
        if "STREAMSQL_LOG_LEVEL" not in os.environ:
            logging.getLogger().setLevel(logging.WARNING)
        text = args.execute if args.execute else Path(args.file).read_text()
        return asyncio.run(_run_script(args, text))
    logging.getLogger().setLevel(logging.WARNING)
    from repl.shell import run_shell
    return run_shell(_data_dir(args), _properties(args), _defines(args.define),
                     backend=_backend(args))


if __name__ == "__main__":
    sys.exit(main())
