"""The shell's session on a remote streamsql or ksqlDB server, over its REST API.

Statements are routed as ksqlDB's CLI routes them: queries to /query-stream (PRINT to
/query), everything else to /ksql; SET, DEFINE and RUN SCRIPT are the client's own, and
their properties and variables go with every request. Answers become the same Results the
embedded engine gives, so the shell shows both alike.
"""
from __future__ import annotations

import asyncio
import base64
import ssl
from pathlib import Path
from typing import AsyncIterator
from urllib.parse import unquote, urlsplit

import h11
import orjson

from repl.session import Names
from streamsql import __version__, ast, parse
from streamsql.engine import Result
from streamsql.errors import ParseError, StatementError, StreamSQLError
from streamsql.parser import split_statements, substitute_variables

CONNECT_TIMEOUT = 10.0
DELIMITED = "application/vnd.ksqlapi.delimited.v1"


class RemoteSession:
    """A Session whose statements run on the server at `url` (http:// or https://)."""

    def __init__(self, url: str, properties: dict[str, str], variables: dict[str, str]):
        self.server = _Server(url)
        self.properties = dict(properties)
        self.variables = dict(variables)
        self.server_version = ""
        self._functions: tuple[str, ...] = ()

    async def start(self) -> None:
        status, document = await self.server.request_json("GET", "/info")
        if status != 200:
            raise StreamSQLError(f"{self.server.url} refused the session: "
                                 f"{_error_of(document, status).message}")
        info = document.get("KsqlServerInfo") if isinstance(document, dict) else None
        if not info:
            raise StreamSQLError(f"{self.server.url} did not answer /info as a ksqlDB server")
        self.server_version = info.get("version", "")

    async def close(self) -> None:
        """Nothing stays open between statements: each request has its own connection."""

    def banner(self) -> str:
        return (f"streamsql {__version__} · server {self.server.url} · "
                f"server version {self.server_version or 'unknown'}")

    async def execute(self, text: str) -> AsyncIterator[Result]:
        for piece in split_statements(text):
            sql = substitute_variables(piece, self.variables)
            statement = _parsed(sql)
            async for result in self._execute_one(statement, sql):
                yield result

    async def _execute_one(self, statement, sql: str) -> AsyncIterator[Result]:
        if isinstance(statement, ast.SetProperty):
            self.properties[statement.name] = statement.value
            yield Result(sql, message=f"Successfully changed local property '{statement.name}' "
                                      f"to '{statement.value}'.")
        elif isinstance(statement, ast.UnsetProperty):
            self.properties.pop(statement.name, None)
            yield Result(sql, message=f"Successfully unset local property '{statement.name}'.")
        elif isinstance(statement, ast.DefineVariable):
            self.variables[statement.name] = statement.value
            yield Result(sql, message=f"Defined variable {statement.name}")
        elif isinstance(statement, ast.UndefineVariable):
            self.variables.pop(statement.name, None)
            yield Result(sql, message=f"Undefined variable {statement.name}")
        elif isinstance(statement, ast.RunScript):
            try:
                script = Path(statement.path).read_text()
            except OSError as err:
                raise StatementError(f"Cannot read script '{statement.path}': {err.strerror}",
                                     statement.span, text=sql) from None
            count = 0
            async for result in self.execute(script):
                count += 1
                yield result
            yield Result(sql, message=f"Ran {count} statements from {statement.path}")
        elif isinstance(statement, ast.Print) or _first_word(sql) == "PRINT":
            yield await self._print(sql)
        elif isinstance(statement, ast.Query) or _first_word(sql) == "SELECT":
            push = statement.select.emit is not None if isinstance(statement, ast.Query) \
                else " EMIT " in f" {sql.upper()} "
            yield await self._query(sql, push)
        else:
            for entity in await self._ksql(sql):
                yield _result_of(entity, sql)

    async def _ksql(self, sql: str) -> list[dict]:
        status, document = await self.server.request_json("POST", "/ksql", {
            "ksql": _terminated(sql), "streamsProperties": self.properties,
            "sessionVariables": self.variables})
        if status != 200:
            raise _error_of(document, status)
        return document if isinstance(document, list) else [document]

    async def _query(self, sql: str, push: bool) -> Result:
        exchange = await self.server.open("POST", "/query-stream", {
            "sql": _terminated(sql), "properties": self.properties,
            "sessionVariables": self.variables}, accept=DELIMITED)
        try:
            status = await exchange.start()
            if status != 200:
                raise _error_of(_loads(await exchange.body()), status)
            header = _loads(await exchange.line() or b"{}")
            if not isinstance(header, dict) or "columnNames" not in header:
                raise _error_of(header, status)
        except BaseException:
            await exchange.close()
            raise
        columns = header["columnNames"]
        query_id = header.get("queryId")
        if not push:
            try:
                rows = [row async for row in _rows(exchange)]
            finally:
                await exchange.close()
            return Result(sql, kind="table", query_id=query_id, columns=columns, rows=rows,
                          entity="pullQuery")
        return Result(sql, kind="stream", query_id=query_id, columns=columns,
                      stream=self._pushed(exchange, query_id), entity="pushQuery")

    async def _pushed(self, exchange: "_Exchange", query_id: str | None):
        """The rows of a push query; closing this early closes the query on the server."""
        try:
            async for row in _rows(exchange):
                yield row
        finally:
            if not exchange.ended and query_id:
                try:
                    await self.server.request_json("POST", "/close-query", {"queryId": query_id})
                except (OSError, StreamSQLError):
                    pass  # dropping the connection below ends the query as well
            await exchange.close()

    async def _print(self, sql: str) -> Result:
        exchange = await self.server.open("POST", "/query", {
            "ksql": _terminated(sql), "streamsProperties": self.properties,
            "sessionVariables": self.variables})
        try:
            status = await exchange.start()
            if status != 200:
                raise _error_of(_loads(await exchange.body()), status)
        except BaseException:
            await exchange.close()
            raise

        async def lines():
            try:
                while (line := await exchange.line()) is not None:
                    if line.strip():
                        yield [line.decode()]
            finally:
                await exchange.close()

        return Result(sql, kind="stream", columns=["record"], stream=lines(), entity="print")

    async def names(self) -> Names:
        if not self._functions:  # the server's functions do not change while it runs
            self._functions = tuple(await self._names_of("SHOW FUNCTIONS"))
        streams, tables, topics = [await self._names_of(sql) for sql in
                                   ("SHOW STREAMS", "SHOW TABLES", "SHOW TOPICS")]
        columns: dict[str, tuple[str, ...]] = {}
        if streams or tables:
            describe = " ".join(f"DESCRIBE `{name}`;" for name in streams + tables)
            for entity in await self._ksql(describe.removesuffix(";")):
                description = entity.get("sourceDescription") or {}
                columns[description.get("name", "")] = tuple(
                    f["name"] for f in description.get("fields", []))
        return Names(tuple(streams), tuple(tables), columns, tuple(topics), self._functions)

    async def _names_of(self, show: str) -> list[str]:
        """The first column of a SHOW statement's table."""
        return [row[0] for entity in await self._ksql(show)
                for row in _result_of(entity, show).rows]


def _parsed(sql: str):
    """The statement, or None where our grammar rejects it: a ksqlDB server may accept it,
    and if not, its error is the one to show."""
    try:
        statements = parse(sql, client_statements=True)
    except ParseError:
        return None
    return statements[0] if len(statements) == 1 else None


def _terminated(sql: str) -> str:
    """The statement with its `;` back, on a line of its own after a trailing `--` comment."""
    return sql + ("\n;" if "--" in sql.rsplit("\n", 1)[-1] else ";")


def _first_word(sql: str) -> str:
    words = sql.split(None, 1)
    return words[0].upper() if words else ""


async def _rows(exchange: "_Exchange") -> AsyncIterator[list]:
    while (line := await exchange.line()) is not None:
        if not line.strip():
            continue
        value = _loads(line)
        if isinstance(value, dict):  # an error in the middle of the stream
            raise _error_of(value, 200)
        yield value


def _loads(body: bytes):
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return {"message": body.decode(errors="replace").strip()}


def _error_of(document, status: int) -> StreamSQLError:
    message = document.get("message") if isinstance(document, dict) else None
    return StreamSQLError(message or f"the server answered HTTP {status}")


# ---- /ksql entities as Results ------------------------------------------------------------
def _result_of(entity: dict, sql: str) -> Result:
    """One /ksql entity as the Result the embedded engine gives for the same statement."""
    kind = entity.get("@type")
    statement = entity.get("statementText", sql)
    shape = _TABLES.get(kind)
    if shape is not None:
        columns, rows = shape(entity)
        return Result(statement, kind="table", columns=columns, rows=rows, entity=kind)
    if kind == "currentStatus":
        status = entity.get("commandStatus", {})
        return Result(statement, message=status.get("message", ""), entity=kind,
                      query_id=status.get("queryId"))
    return Result(statement, message=orjson.dumps(entity, option=orjson.OPT_INDENT_2).decode(),
                  entity=kind or "")


def _sources(name: str, key: str):
    def shape(entity):
        return ([f"{name} Name", "Kafka Topic", "Key Format", "Value Format", "Windowed"],
                [[s["name"], s["topic"], s.get("keyFormat", ""), s.get("valueFormat", ""),
                  s.get("isWindowed", False)] for s in entity.get(key, [])])
    return shape


def _queries(entity):
    return (["Query ID", "Status", "Sink Name", "Sink Kafka Topic", "Query String"],
            [[q["id"], q.get("state", ""), ", ".join(q.get("sinks", [])),
              ", ".join(q.get("sinkKafkaTopics", [])), q.get("queryString", "")]
             for q in entity.get("queries", [])])


def _topics(entity):
    return (["Kafka Topic", "Partitions", "Partition Replicas"],
            [[t["name"], len(t.get("replicaInfo", [])), (t.get("replicaInfo") or [0])[0]]
             for t in entity.get("topics", [])])


def _description(entity):
    source = entity.get("sourceDescription", {})
    key_word = "(key)" if source.get("type") == "STREAM" else "(primary key)"
    rows = []
    for f in source.get("fields", []):
        extra = {"KEY": key_word, "HEADER": "(headers)"}.get(f.get("type"), "")
        rows.append([f["name"], f"{_type_text(f['schema'])} {extra}".strip()])
    if source.get("extended"):
        rows += [["", ""], ["Type", source.get("type", "")],
                 ["Kafka topic", f"{source.get('topic')} (partitions: {source.get('partitions')}"
                                 f", replication: {source.get('replication')})"],
                 ["Key format", source.get("keyFormat", "")],
                 ["Value format", source.get("valueFormat", "")]]
        rows += [["Written by", q["id"]] for q in source.get("writeQueries", [])]
        rows += [["Read by", q["id"]] for q in source.get("readQueries", [])]
    return ["Field", "Type"], rows


def _function(entity):
    name = entity.get("name", "")
    rows = [["Name", name], ["Type", entity.get("type", "")],
            ["Description", entity.get("description", "")]]
    for variant in entity.get("functions", []):
        arguments = variant.get("arguments") or []
        # ksqlDB lists typed arguments; streamsql's server puts the signature in the description
        signature = (f"{name}({', '.join(a.get('type', '') for a in arguments)}) -> "
                     f"{variant.get('returnType', '')}" if arguments
                     else variant.get("description", ""))
        rows.append(["Variation", signature])
    return ["Field", "Value"], rows


_TABLES = {
    "streams": _sources("Stream", "streams"),
    "tables": _sources("Table", "tables"),
    "queries": _queries,
    "kafka_topics": _topics,
    "function_names": lambda e: (["Function Name", "Type", "Category"],
                                 [[f["name"], f.get("type", ""), f.get("category", "")]
                                  for f in e.get("functions", [])]),
    "properties": lambda e: (["Property", "Scope", "Value"],
                             [[p["name"], p.get("scope", ""), p.get("value")]
                              for p in e.get("properties", [])]),
    "variables": lambda e: (["Variable Name", "Value"],
                            [[v["name"], v.get("value")] for v in e.get("variables", [])]),
    "type_list": lambda e: (["Type Name", "Schema"],
                            [[name, _type_text(schema)]
                             for name, schema in sorted(e.get("types", {}).items())]),
    "queryDescription": lambda e: (["Plan"], [[line] for line in str(
        e.get("queryDescription", {}).get("executionPlan", "")).splitlines()]),
    "sourceDescription": _description,
    "describe_function": _function,
}


def _type_text(schema: dict) -> str:
    """ksqlDB's SchemaInfo JSON as SQL type text: `ARRAY<STRUCT<A INTEGER>>`."""
    kind = schema.get("type", "")
    if kind == "ARRAY":
        return f"ARRAY<{_type_text(schema['memberSchema'])}>"
    if kind == "MAP":
        return f"MAP<STRING, {_type_text(schema['memberSchema'])}>"
    if kind == "STRUCT":
        fields = ", ".join(f"`{f['name']}` {_type_text(f['schema'])}" for f in schema["fields"])
        return f"STRUCT<{fields}>"
    if kind == "DECIMAL":
        parameters = schema.get("parameters", {})
        return f"DECIMAL({parameters.get('precision')}, {parameters.get('scale')})"
    return kind


# ---- HTTP/1.1 ------------------------------------------------------------------------------
class _Server:
    """Where requests go: scheme, host and port of the server's URL, and the credentials of
    its `user:password@` part (HTTP Basic, as ksqlDB's CLI sends them)."""

    def __init__(self, url: str):
        parts = urlsplit(url if "://" in url else f"http://{url}")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise StreamSQLError(f"--server expects http://HOST:PORT or https://HOST:PORT, "
                                 f"got {url!r}")
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.url = f"{parts.scheme}://{self.host}:{self.port}"  # shown: no credentials
        self.tls = ssl.create_default_context() if parts.scheme == "https" else None
        self.credentials = []
        if parts.username is not None:
            pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            self.credentials = [("authorization", "Basic " +
                                 base64.b64encode(pair.encode()).decode())]

    async def open(self, method: str, path: str, document=None, *,
                   accept: str = "application/json") -> "_Exchange":
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port, ssl=self.tls), CONNECT_TIMEOUT)
        except (OSError, asyncio.TimeoutError) as err:
            raise StreamSQLError(f"Cannot reach the server at {self.url}: "
                                 f"{err.strerror if isinstance(err, OSError) else 'timed out'}"
                                 ) from None
        exchange = _Exchange(reader, writer)
        body = orjson.dumps(document) if document is not None else b""
        exchange.send(h11.Request(method=method, target=path, headers=[
            ("host", f"{self.host}:{self.port}"), ("accept", accept),
            ("content-type", "application/json"), ("content-length", str(len(body))),
            *self.credentials]))
        if body:
            exchange.send(h11.Data(data=body))
        exchange.send(h11.EndOfMessage())
        await writer.drain()
        return exchange

    async def request_json(self, method: str, path: str, document=None):
        """(status, decoded JSON body) of one whole request."""
        exchange = await self.open(method, path, document)
        try:
            status = await exchange.start()
            body = await exchange.body()
        finally:
            await exchange.close()
        return status, _loads(body) if body.strip() else None


class _Exchange:
    """One request on its own connection, its response read as it arrives."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader = reader
        self.writer = writer
        self.connection = h11.Connection(h11.CLIENT)
        self.ended = False
        self._pending = b""

    def send(self, event) -> None:
        self.writer.write(self.connection.send(event))

    async def _event(self):
        try:
            while (event := self.connection.next_event()) is h11.NEED_DATA:
                self.connection.receive_data(await self.reader.read(65536))
        except (OSError, h11.ProtocolError) as err:
            raise StreamSQLError(f"Lost the connection to the server: {err}") from None
        if isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
            self.ended = True
        return event

    async def start(self) -> int:
        """Read up to the response's headers; its status code."""
        while not isinstance(event := await self._event(), h11.Response):
            if self.ended:
                raise StreamSQLError("the server closed the connection without answering")
        return event.status_code

    async def _chunk(self) -> bytes | None:
        while not self.ended:
            event = await self._event()
            if isinstance(event, h11.Data):
                return bytes(event.data)
        return None

    async def line(self) -> bytes | None:
        """The next line of the body, or None at its end."""
        while b"\n" not in self._pending:
            chunk = await self._chunk()
            if chunk is None:
                rest, self._pending = self._pending, b""
                return rest or None
            self._pending += chunk
        line, self._pending = self._pending.split(b"\n", 1)
        return line

    async def body(self) -> bytes:
        parts = [self._pending]
        self._pending = b""
        while (chunk := await self._chunk()) is not None:
            parts.append(chunk)
        return b"".join(parts)

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except (OSError, ssl.SSLError):
            pass  # the server may already have dropped it
