"""The ksqlDB-compatible endpoints: statements, queries, inserts and server introspection.

Each handler turns a request into engine calls and engine Results into ksqlDB's shapes
(see wire.py). Statements run one request at a time: request-scoped properties and
session variables are applied to the shared engine for the duration of one request.
"""
from __future__ import annotations

import asyncio
import logging

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from streamsql import ast, parse
from streamsql.engine import Engine, Result
from streamsql.errors import ParseError, StreamSQLError
from streamsql.server import wire
from streamsql.server.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE, render_metrics
from streamsql.server.streams import (ActiveQueries, JsonLinesExchange, PrintFraming,
                                      QueryRowsResponse, QueryStreamResponse, discard)
from streamsql.sqlformat import format_statement

logger = logging.getLogger("streamsql.server")

# Statements that change the catalog: ksqlDB gives each a command id and a sequence number.
_COMMANDS = (ast.CreateStream, ast.CreateTable, ast.CreateStreamAs, ast.CreateTableAs,
             ast.DropSource, ast.AlterSource, ast.InsertInto, ast.Terminate, ast.CreateType,
             ast.DropType)
_QUERIES = (ast.Query, ast.Print)
_QUERY_RESULTS = ("pullQuery", "pushQuery", "print")


class Endpoints:
    """The endpoint handlers over one engine, with the server's own bookkeeping: streaming
    queries and the status of the commands run through this server."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.active = ActiveQueries()
        self.command_statuses: dict[str, dict] = {}
        self.command_sequence = -1
        self._statement_lock = asyncio.Lock()
        # this server's address ({"host", "port"}) for runtime statistics; set once it listens
        self.host: dict | None = None

    def routes(self) -> list[Route]:
        return [
            Route("/ksql", self.ksql, methods=["POST"]),
            Route("/query", self.query, methods=["POST"]),
            Route("/query-stream", self.query_stream, methods=["POST"]),
            Route("/inserts-stream", self.inserts_stream, methods=["POST"]),
            Route("/close-query", self.close_query, methods=["POST"]),
            Route("/info", self.info, methods=["GET"]),
            Route("/healthcheck", self.healthcheck, methods=["GET"]),
            Route("/status", self.status, methods=["GET"]),
            Route("/status/{kind}/{entity}/{action}", self.command_status, methods=["GET"]),
            Route("/metrics", self.metrics, methods=["GET"]),
        ]

    # ---- statements ------------------------------------------------------------------
    async def ksql(self, request: Request) -> Response:
        """POST /ksql: run statements; answer a JSON array of one entity per statement."""
        statement_request = wire.parse_statement_request(await request.body())
        for statement, text in _parsed(statement_request.sql):
            if isinstance(statement, _QUERIES):
                raise wire.RequestError(wire.QUERY_STATEMENTS_MESSAGE,
                                        error_code=wire.QUERY_ENDPOINT, statement_text=text)
        results = await self._execute(statement_request)
        entities = []
        for result in results:
            if result.entity in _QUERY_RESULTS:
                # only reachable when ${variables} hid a query from the check above
                if result.stream is not None:
                    await discard(result.stream)
                raise wire.RequestError(wire.QUERY_STATEMENTS_MESSAGE,
                                        error_code=wire.QUERY_ENDPOINT,
                                        statement_text=result.statement)
            entity = await self._entity(result)
            if entity is not None:
                entities.append(entity)
        return _json(200, entities)

    async def _execute(self, statement_request: wire.StatementRequest) -> list[Result]:
        async with self._statement_lock:
            engine = self.engine
            saved_variables = dict(engine.variables)
            engine.variables.update(statement_request.session_variables)
            try:
                return await engine.execute(statement_request.sql,
                                            properties=statement_request.properties)
            finally:
                engine.variables.clear()
                engine.variables.update(saved_variables)

    async def _entity(self, result: Result) -> dict | None:
        statement = _statement_of(result.statement)
        if result.entity == "sourceDescription":
            return await self._source_description(result, statement)
        if result.entity == "type_list":
            return wire.type_list(result, self.engine.catalog.types)
        if wire.is_listing(result):
            return wire.listing_entity(result, self.host)
        if result.entity not in ("currentStatus", ""):
            raise ValueError(f"no /ksql entity for engine result {result.entity!r} "
                             f"of {result.statement!r}")
        if isinstance(statement, ast.InsertValues):
            return None  # ksqlDB answers INSERT VALUES with no entity
        command = wire.command_id(statement) if statement is not None else "cluster/unknown/execute"
        if isinstance(statement, _COMMANDS):
            self.command_sequence += 1
            self.command_statuses[command] = {"status": "SUCCESS", "message": result.message}
        return wire.current_status(result, command, max(self.command_sequence, 0))

    async def _source_description(self, result: Result, statement) -> dict:
        engine = self.engine
        source = result.data.source
        extended = isinstance(statement, ast.Describe) and statement.extended
        partitions = replication = 0
        if extended:
            topic = await engine.backend.describe_topic(source.topic)
            if topic is not None:
                partitions, replication = topic.partitions, topic.replicas
        catalog = engine.catalog
        return wire.source_description(
            result, extended=extended, partitions=partitions, replication=replication,
            read_queries=[self._running_query(q) for q in catalog.queries_reading(source.name)],
            write_queries=[self._running_query(q) for q in catalog.queries_writing(source.name)],
            host=self.host)

    def _running_query(self, info) -> dict:
        query = self.engine.persistent.get(info.query_id)
        sink = self.engine.catalog.source(info.sink) if info.sink else None
        return wire.running_query(info.query_id, info.sql, info.sink, sink.topic if sink else None,
                                  query.state if query is not None else "UNKNOWN")

    # ---- queries -----------------------------------------------------------------------
    async def query(self, request: Request) -> Response:
        """POST /query: the older endpoint; a (chunked) JSON array of header, rows and the
        final message."""
        return await self._run_query(request, endpoint="query", array=True)

    async def query_stream(self, request: Request) -> Response:
        """POST /query-stream: a header object then row arrays, newline-delimited by default,
        one JSON array with `Accept: application/json`."""
        accept = request.headers.get("accept", "")
        array = wire.JSON in accept or wire.KSQL_JSON in accept
        return await self._run_query(request, endpoint="query-stream", array=array)

    async def _run_query(self, request: Request, *, endpoint: str, array: bool):
        statement_request = wire.parse_statement_request(await request.body())
        parsed = _parsed(statement_request.sql)
        if len(parsed) > 1:
            raise wire.RequestError(f"Expected exactly one KSQL statement; found {len(parsed)} "
                                    "instead", statement_text=statement_request.sql)
        if parsed and not isinstance(parsed[0][0], _QUERIES if endpoint == "query" else ast.Query):
            statement, text = parsed[0]
            raise wire.RequestError(f"Statement type `{type(statement).__name__}' not supported "
                                    "for this resource", error_code=wire.BAD_STATEMENT,
                                    statement_text=text)
        (result,) = await self._execute(statement_request)
        if result.entity == "print":
            if endpoint != "query":
                await discard(result.stream)
                raise wire.RequestError("PRINT is only supported on the /query endpoint",
                                        statement_text=result.statement)
            return self._streamed(result, PrintFraming(), final_message=None)
        framing = wire.QueryFraming(result.query_id, result.data, endpoint=endpoint, array=array)
        if result.kind == "stream":
            # a push query ends on its own only when its LIMIT is reached
            return self._streamed(result, framing, final_message=wire.LIMIT_REACHED)
        return QueryRowsResponse(result.rows, framing, final_message=result.final_message)

    def _streamed(self, result: Result, framing, *, final_message: str | None):
        query_id = result.query_id or f"print_{id(result)}"
        stop = self.active.register(query_id)
        return QueryStreamResponse(result.stream, framing, stop=stop, final_message=final_message,
                                   on_close=lambda: self.active.unregister(query_id))

    async def close_query(self, request: Request) -> Response:
        """POST /close-query: end a push query streamed on another request."""
        document = wire.parse_json_object(await request.body())
        query_id = document.get("queryId")
        if not isinstance(query_id, str) or not self.active.close(query_id):
            raise wire.RequestError(f"No query with id {query_id}")
        return Response(b"", status_code=200)

    # ---- inserts -----------------------------------------------------------------------
    async def inserts_stream(self, request: Request):
        """POST /inserts-stream: a target line, then one JSON object per row; one ack per row."""
        return JsonLinesExchange(self._insert_target, self._insert_row)

    async def _insert_target(self, document: dict):
        target = document.get("target")
        if not isinstance(target, str):
            raise wire.RequestError("The first line must be a JSON object with a 'target'")
        catalog = self.engine.catalog
        source = catalog.source(target) or catalog.source(target.upper())
        if source is None:
            raise wire.RequestError(f"Cannot insert values into an unknown stream/table: "
                                    f"`{target}`", error_code=wire.BAD_STATEMENT)
        return source

    async def _insert_row(self, source, sequence: int, row: dict) -> bytes:
        statement = wire.insert_statement(source.name, row, source.schema)
        try:
            await self._execute(wire.StatementRequest(format_statement(statement)))
        except StreamSQLError as err:
            return wire.insert_error(sequence, err.error_code, err.message)
        return wire.insert_ack(sequence)

    # ---- introspection -------------------------------------------------------------------
    async def info(self, request: Request) -> Response:
        engine = self.engine
        return _json(200, wire.server_info(engine.service_id, f"streamsql-{engine.backend.name}"))

    async def healthcheck(self, request: Request) -> Response:
        try:
            await self.engine.backend.list_topics()
            log_ok = True
        except StreamSQLError as err:
            logger.warning("health check: the log is not reachable: %s", err.message)
            log_ok = False
        return _json(200 if log_ok else 503, wire.health(log_ok))

    async def metrics(self, request: Request) -> Response:
        """GET /metrics: the persistent queries' metrics for Prometheus."""
        engine = self.engine
        metrics = await engine.query_metrics()
        states = {query_id: query.state for query_id, query in engine.persistent.items()}
        return Response(render_metrics(metrics, states), media_type=METRICS_CONTENT_TYPE)

    async def status(self, request: Request) -> Response:
        statuses = {command: status["status"] for command, status in self.command_statuses.items()}
        return _json(200, {"commandStatuses": statuses})

    async def command_status(self, request: Request) -> Response:
        params = request.path_params
        command = f"{params['kind']}/{params['entity']}/{params['action']}"
        status = self.command_statuses.get(command)
        if status is None:
            return _json(404, wire.generic_error(wire.NOT_FOUND,
                                                 f"Command not found: {command}"))
        return _json(200, status)


def _parsed(sql: str) -> list[tuple[ast.Statement, str]]:
    """The request's statements with their text, to route them before running anything.

    Text the parser rejects (or that needs ${variable} substitution first) is left to the
    engine, whose error is the one the client gets.
    """
    try:
        statements = parse(sql)
    except ParseError:
        return []
    return [(s, sql[s.span.start_pos:s.span.end_pos] if s.span else sql) for s in statements]


def _statement_of(text: str) -> ast.Statement | None:
    parsed = _parsed(text)
    return parsed[0][0] if len(parsed) == 1 else None


def _json(status: int, document) -> Response:
    return Response(wire.dumps(document), status_code=status, media_type=wire.JSON)
