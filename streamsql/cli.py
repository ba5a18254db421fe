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


def _add_config_file_option(parser: argparse.ArgumentParser) -> None:
    # Not for `server`, whose own --config-file also configures its HTTP listener.
    parser.add_argument("--config-file", metavar="FILE",
                        help="ksqlDB-style properties file: bootstrap.servers, Kafka client "
                        "security (security.protocol, sasl.*, ssl.*, client.id) and engine "
                        "properties; -p and the options above override it")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="streamsql", description="Streaming SQL over topics, ksqlDB-style. "
        "Without a command, opens the interactive shell.")
    parser.add_argument("--version", action="version", version=f"streamsql {__version__}")
    _add_engine_options(parser)
    _add_config_file_option(parser)
    parser.add_argument("--execute", "-e", metavar="SQL", help="run these statements and exit")
    parser.add_argument("--file", "-f", metavar="FILE", help="run the statements of FILE and exit")
    parser.add_argument("--define", "-d", action="append", metavar="NAME=VALUE",
                        help="define a variable for ${NAME} substitution (repeatable)")
    parser.add_argument("--server", "-s", metavar="URL",
                        help="run statements on this streamsql or ksqlDB server (its REST API, "
                        "e.g. http://localhost:8088) instead of the embedded engine")
    parser.add_argument("--output", choices=("TABULAR", "JSON"), type=str.upper,
                        default="TABULAR", help="how results are printed (default TABULAR)")
    commands = parser.add_subparsers(dest="command")

    run = commands.add_parser("run", help="run a query file as a service until SIGTERM/SIGINT")
    run.add_argument("file", help="the .sql file to run")
    run.add_argument("--define", "-d", action="append", metavar="NAME=VALUE",
                     help="define a variable for ${NAME} substitution (repeatable)")
    run.add_argument("--http", metavar="[HOST:]PORT",
                     help="also serve ksqlDB's REST API from this process (e.g. 8088, or "
                     "0.0.0.0:8088), so clients can insert and query while the service runs")
    _add_engine_options(run)
    _add_config_file_option(run)

    server = commands.add_parser("server", help="serve ksqlDB's REST API over HTTP")
    server.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1)")
    server.add_argument("--port", type=int, default=8088, help="port to listen on (default 8088)")
    server.add_argument("--config-file", metavar="FILE",
                        help="server and engine properties (NAME=VALUE lines), e.g. "
                        "authentication.method=BASIC or ssl.certificate.location; -p overrides")
    _add_engine_options(server)

    test = commands.add_parser("test", help="run query tests (ksqlDB QTT JSON files, or "
                               "--statements/--input/--output)")
    from streamsql.testing.command import add_arguments
    add_arguments(test)
    return parser


def _config_file(args) -> dict[str, str]:
    """--config-file's properties (none without it, or for `server`, which reads its own)."""
    if not getattr(args, "config_file", None) or args.command == "server":
        return {}
    from streamsql.config import read_properties_file
    return read_properties_file(args.config_file)


def _backend(args):
    """The Kafka log for --bootstrap-servers (or the config file's bootstrap.servers);
    None means the embedded log in --data-dir."""
    file_properties = _config_file(args)
    servers = getattr(args, "bootstrap_servers", None) or file_properties.get("bootstrap.servers")
    if not servers:
        return None
    from streamsql.log import open_backend
    from streamsql.log.kafka import client_options
    return open_backend(f"kafka:{servers}", **client_options(file_properties))


def _properties(args) -> dict[str, str]:
    # Client properties (credentials among them) stay out of the engine's properties,
    # which the command topic records with each statement.
    file_properties = _config_file(args)
    if file_properties:
        from streamsql.log.kafka import is_client_property
        file_properties = {k: v for k, v in file_properties.items() if not is_client_property(k)}
    props = dict(file_properties)
    if getattr(args, "service_id", None):
        props["ksql.service.id"] = args.service_id
    for pair in getattr(args, "config", None) or []:
        if "=" not in pair:
            raise SystemExit(f"--config expects NAME=VALUE, got {pair!r}")
        name, value = pair.split("=", 1)
        props[name.strip()] = value.strip()
    return props


async def _started_engine(args):
    """The engine of these options, started; None (after saying why) if it cannot start."""
    from streamsql.engine import Engine

    try:
        engine = Engine(_data_dir(args), _properties(args), backend=_backend(args))
        engine.variables.update(_defines(args.define))
        await engine.start()
    except StreamSQLError as err:  # a bad config file, an unreachable cluster, ...
        print(err.render(), file=sys.stderr)
        return None
    return engine


def _shell_session(args):
    """What the shell and --execute/--file run statements on: a --server, or the engine."""
    if args.server:
        from repl.remote import RemoteSession
        return RemoteSession(args.server, _properties(args), _defines(args.define))
    from repl.local import LocalSession
    return LocalSession(_data_dir(args), _properties(args), _defines(args.define),
                        backend=_backend(args))


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
        if args.http:
            await _serve_until(engine, args.http, stop)
        else:
            await stop.wait()
        logger.info("stopping: finishing the batch in flight and committing offsets")
        return 0
    finally:
        await engine.close()
        logger.info("stopped")


async def _serve_until(engine, address: str, stop: asyncio.Event) -> None:
    """`run --http`: the REST endpoint on the service's own engine (the embedded log
    admits one process per data directory, so clients reach it through this endpoint)."""
    from streamsql.server.app import DEFAULT_HOST, serve

    host, _, port = address.rpartition(":")
    try:
        port_number = int(port)
    except ValueError:
        raise SystemExit(f"--http expects [HOST:]PORT, got {address!r}") from None
    server = asyncio.create_task(serve(engine, host or DEFAULT_HOST, port_number, shutdown=stop))
    await asyncio.wait({server, asyncio.create_task(stop.wait())},
                       return_when=asyncio.FIRST_COMPLETED)
    stop.set()
    await server  # re-raises if the server could not start (e.g. the port is taken)


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
        from streamsql.server.security import read_properties_file
        try:
            properties = read_properties_file(args.config_file) if args.config_file else {}
            properties.update(_properties(args))
            return asyncio.run(run_server(_data_dir(args), args.host, args.port, properties,
                                          backend=_backend(args)))
        except StreamSQLError as err:
            print(err.render(), file=sys.stderr)
            return 1
    if args.command == "run":
        return asyncio.run(_run_service(args))
    if "STREAMSQL_LOG_LEVEL" not in os.environ:
        logging.getLogger().setLevel(logging.WARNING)
    try:
        session = _shell_session(args)
    except StreamSQLError as err:
        print(err.render(), file=sys.stderr)
        return 2
    if args.execute or args.file or not sys.stdin.isatty():
        # --execute, --file, or statements piped in: run them, print results, exit
        from repl.shell import run_statements
        try:
            text = args.execute or (Path(args.file).read_text() if args.file
                                    else sys.stdin.read())
        except OSError as err:
            print(f"cannot read {args.file}: {err.strerror}", file=sys.stderr)
            return 2
        return asyncio.run(run_statements(session, text, output=args.output))
    from repl.shell import run_shell
    return run_shell(session, output=args.output)


if __name__ == "__main__":
    sys.exit(main())
