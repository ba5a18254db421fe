"""ksqlDB's REST wire shapes: request bodies in, entities, query frames and error bodies out.

Pure functions over engine Results and AST nodes; no I/O and no web framework here, so the
same shapes serve HTTP/1.1 and HTTP/2.
"""
from __future__ import annotations

import base64
import datetime
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Iterable

import orjson

from streamsql import __version__, ast
from streamsql.engine import TombstoneRow
from streamsql.errors import StreamSQLError

KSQL_JSON = "application/vnd.ksql.v1+json"
DELIMITED = "application/vnd.ksqlapi.delimited.v1"
JSON = "application/json"

LIMIT_REACHED = "Limit Reached"
QUERY_COMPLETED = "Query Completed"

# ksqlDB's error codes (io.confluent.ksql.rest.Errors)
BAD_REQUEST = 40000
BAD_STATEMENT = 40001
QUERY_ENDPOINT = 40002
NOT_FOUND = 40400
SERVER_ERROR = 50000

# Labels runtime statistics when the server's own address is not known (KsqlHostInfoEntity).
LOCAL_HOST = {"host": "localhost", "port": 0}

QUERY_STATEMENTS_MESSAGE = ("The following statement types should be issued to the websocket "
                            "endpoint '/query':\n\t* PRINT\n\t* SELECT")


class RequestError(Exception):
    """A request ksqlDB would reject before running anything: bad JSON, missing fields."""

    def __init__(self, message: str, *, error_code: int = BAD_REQUEST,
                 statement_text: str | None = None):
        super().__init__(message)
        self.message = message
        self.error_code = error_code
        self.statement_text = statement_text


# ---- requests ----------------------------------------------------------------------------
@dataclass(frozen=True)
class StatementRequest:
    """The body of /ksql, /query and /query-stream."""

    sql: str
    properties: dict[str, str] = field(default_factory=dict)
    session_variables: dict[str, str] = field(default_factory=dict)


def parse_statement_request(body: bytes) -> StatementRequest:
    """Read a statement request; `ksql` (/ksql, /query) and `sql` (/query-stream) both work."""
    document = parse_json_object(body)
    sql = document.get("ksql", document.get("sql"))
    if not isinstance(sql, str) or not sql.strip():
        raise RequestError("The request must contain the statement text in 'ksql' or 'sql'")
    properties = document.get("streamsProperties") or document.get("properties") or {}
    variables = document.get("sessionVariables") or {}
    return StatementRequest(sql, _string_map(properties, "streamsProperties"),
                            _string_map(variables, "sessionVariables"))


def parse_json_object(body: bytes) -> dict:
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as err:
        raise RequestError(f"Invalid JSON in request: {err}") from None
    if not isinstance(document, dict):
        raise RequestError("The request body must be a JSON object")
    return document


def _string_map(value: Any, name: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise RequestError(f"'{name}' must be a JSON object")
    # JSON true/false become the strings ksqlDB's config parser expects
    return {key: (str(v).lower() if isinstance(v, bool) else str(v)) for key, v in value.items()}


# ---- JSON values -------------------------------------------------------------------------
def dumps(document: Any) -> bytes:
    return orjson.dumps(document)


def json_value(value: Any) -> Any:
    """A result value as ksqlDB writes it: DECIMAL with its scale, BYTES as base64, MAP as an
    object (Arrow gives maps as lists of pairs), TIMESTAMP/DATE/TIME as ISO text."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Decimal):
        return orjson.Fragment(str(value).encode())
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, dict):
        return {key: json_value(v) for key, v in value.items()}
    if isinstance(value, list):
        if value and all(isinstance(item, tuple) and len(item) == 2 for item in value):
            return {key: json_value(v) for key, v in value}
        return [json_value(item) for item in value]
    if isinstance(value, datetime.datetime):
        return value.isoformat(timespec="milliseconds").removesuffix("+00:00")
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    raise TypeError(f"no JSON form for result value {value!r} of type {type(value).__name__}")


def row_values(row: Iterable[Any]) -> list[Any]:
    return [json_value(value) for value in row]


# ---- errors ------------------------------------------------------------------------------
def statement_error(err: StreamSQLError, statement_text: str) -> tuple[int, dict]:
    """(HTTP status, body) for a statement that failed: 400 statement_error for statements
    ksqlDB rejects, 500 generic_error for faults of the server or the log."""
    if err.error_code // 100 == 400:
        return 400, {"@type": "statement_error", "error_code": err.error_code,
                     "message": err.render_for_api(), "statementText": statement_text,
                     "entities": []}
    return 500, generic_error(err.error_code, err.render())


def generic_error(error_code: int, message: str) -> dict:
    return {"@type": "generic_error", "error_code": error_code, "message": message}


def request_error(err: RequestError) -> dict:
    if err.statement_text is not None:
        return {"@type": "statement_error", "error_code": err.error_code, "message": err.message,
                "statementText": err.statement_text, "entities": []}
    return generic_error(err.error_code, err.message)


# ---- /ksql entities ----------------------------------------------------------------------
def command_id(statement: ast.Statement) -> str:
    """ksqlDB's `type/entity/action` id of a catalog command."""
    if isinstance(statement, (ast.CreateStream, ast.CreateStreamAs)):
        kind, name, action = "stream", statement.name, "create"
    elif isinstance(statement, (ast.CreateTable, ast.CreateTableAs)):
        kind, name, action = "table", statement.name, "create"
    elif isinstance(statement, ast.DropSource):
        kind, name, action = statement.kind.lower(), statement.name, "drop"
    elif isinstance(statement, ast.AlterSource):
        kind, name, action = statement.kind.lower(), statement.name, "execute"
    elif isinstance(statement, ast.InsertInto):
        kind, name, action = "stream", statement.target, "create"
    elif isinstance(statement, ast.Terminate):
        kind, name, action = "terminate", "ALL" if statement.all else statement.query_id, "execute"
    elif isinstance(statement, ast.CreateType):
        kind, name, action = "type", statement.name, "create"
    elif isinstance(statement, ast.DropType):
        kind, name, action = "type", statement.name, "drop"
    else:
        kind, name, action = "cluster", type(statement).__name__, "execute"
    return f"{kind}/{name}/{action}"


def current_status(result, statement_id: str, sequence_number: int) -> dict:
    status = {"status": "SUCCESS", "message": result.message}
    if result.query_id is not None:
        status["queryId"] = result.query_id
    return {"@type": "currentStatus", "statementText": result.statement,
            "commandId": statement_id, "commandStatus": status,
            "commandSequenceNumber": sequence_number, "warnings": []}


def listing_entity(result, host: dict | None = None) -> dict:
    """SHOW/LIST results, EXPLAIN and DESCRIBE FUNCTION in ksqlDB's entity shapes; `host`
    (this server's {"host", "port"}) labels the runtime statistics of SHOW QUERIES EXTENDED."""
    if result.entity == "query_descriptions":
        body = _query_descriptions(result, host)
    else:
        body = _LISTINGS[result.entity](result)
    return {"@type": result.entity, "statementText": result.statement, **body, "warnings": []}


def _sources(kind: str):
    def entity(result) -> dict:
        return {kind.lower() + "s": [
            {"type": kind, "name": name, "topic": topic, "keyFormat": key_format,
             "valueFormat": value_format, "isWindowed": bool(windowed)}
            for name, topic, key_format, value_format, windowed in result.rows]}
    return entity


def _queries(result) -> dict:
    return {"queries": [running_query(query_id, sql, sink, sink_topic, state)
                        for query_id, state, sink, sink_topic, sql, *_ in result.rows]}


def _topics(result) -> dict:
    return {"topics": [{"name": name, "replicaInfo": [replicas] * partitions}
                       for name, partitions, replicas in result.rows]}


def _functions(result) -> dict:
    return {"functions": [{"name": name, "type": kind, "category": category}
                          for name, kind, category in result.rows]}


def _properties(result) -> dict:
    return {"properties": [{"name": name, "scope": scope, "value": value}
                           for name, scope, value in result.rows],
            "overwrittenProperties": [], "defaultProperties": []}


def _variables(result) -> dict:
    return {"variables": [{"name": name, "value": value} for name, value in result.rows]}


def _query_descriptions(result, host: dict | None) -> dict:
    """SHOW QUERIES EXTENDED: each persistent query with its runtime statistics."""
    host = host or LOCAL_HOST
    descriptions = []
    for info, state, sink, statistics in result.data:
        descriptions.append({
            "id": info.query_id, "statementText": info.sql,
            "windowType": sink.window.type if sink is not None and sink.window else None,
            "fields": [_field(column) for column in _columns(sink)] if sink is not None else [],
            "sources": list(info.sources), "sinks": [info.sink] if info.sink else [],
            "topology": "", "executionPlan": "", "overriddenProperties": {},
            "ksqlHostQueryStatus": {f"{host['host']}:{host['port']}": state},
            "queryType": "PERSISTENT", "queryErrors": [], "tasksMetadata": [], "state": state,
            **_runtime_statistics(statistics, host)})
    return {"queryDescriptions": descriptions}


def _runtime_statistics(statistics, host: dict | None) -> dict:
    """The statistics fields of a source or query description: ksqlDB's one-line texts,
    the same figures per host, and the consumer groups' offsets per partition."""
    if statistics is None:
        return {"statistics": "", "errorStats": "", "clusterStatistics": [],
                "clusterErrorStats": [], "queryOffsetSummaries": []}
    return {
        "statistics": statistics.text(), "errorStats": statistics.error_text(),
        "clusterStatistics": [_host_statistic(s, host or LOCAL_HOST)
                              for s in statistics.statistics],
        "clusterErrorStats": [_host_statistic(s, host or LOCAL_HOST)
                              for s in statistics.error_statistics],
        "queryOffsetSummaries": [
            {"groupId": summary.group_id, "topicSummaries": [
                {"kafkaTopic": topic, "offsets": [
                    {"partition": p.partition, "logStartOffset": p.log_start,
                     "logEndOffset": p.log_end, "consumerOffset": p.committed}
                    for p in summary.partitions if p.topic == topic]}
                for topic in dict.fromkeys(p.topic for p in summary.partitions)]}
            for summary in statistics.offsets]}


def _host_statistic(statistic, host: dict) -> dict:
    return {"host": host, "name": statistic.name, "value": statistic.value,
            "timestamp": statistic.timestamp}


def _explain(result) -> dict:
    return {"queryDescription": {"statementText": result.statement,
                                 "executionPlan": result.data, "fields": [], "sources": [],
                                 "sinks": [], "overriddenProperties": {}}}


def _function_description(result) -> dict:
    fields = dict((name, value) for name, value in result.rows if name != "Variation")
    return {"name": fields.get("Name", ""), "type": fields.get("Type", ""),
            "description": fields.get("Description", ""), "author": "", "version": "",
            "path": "internal",
            "functions": [{"argumentTypes": [], "returnType": "", "description": signature,
                           "arguments": []}
                          for name, signature in result.rows if name == "Variation"]}


_LISTINGS = {
    "streams": _sources("STREAM"),
    "tables": _sources("TABLE"),
    "queries": _queries,
    "kafka_topics": _topics,
    "function_names": _functions,
    "properties": _properties,
    "variables": _variables,
    "queryDescription": _explain,
    "describe_function": _function_description,
}


def is_listing(result) -> bool:
    return result.entity in _LISTINGS or result.entity == "query_descriptions"


def type_list(result, types: dict) -> dict:
    """SHOW TYPES: each custom type's schema, from the catalog's types by name."""
    return {"@type": "type_list", "statementText": result.statement,
            "types": {name: schema_of(types[name]) for name, _ in result.rows}, "warnings": []}


def source_description(result, *, extended: bool, partitions: int = 0, replication: int = 0,
                       read_queries: list[dict] = (), write_queries: list[dict] = (),
                       host: dict | None = None) -> dict:
    """DESCRIBE: the source's schema, formats and the queries reading and writing it; with
    EXTENDED, also its runtime statistics on this server (`host`)."""
    source = result.data.source
    columns = _columns(source)
    body = {
        "name": source.name, "windowType": source.window.type if source.window else None,
        "readQueries": list(read_queries), "writeQueries": list(write_queries),
        "fields": [_field(column) for column in columns], "type": source.kind,
        "timestamp": source.timestamp_column or "", "extended": extended,
        "keyFormat": source.key_format.name, "valueFormat": source.value_format.name,
        "topic": source.topic, "partitions": partitions, "replication": replication,
        "statement": source.sql, "sourceConstraints": [],
        **_runtime_statistics(result.data.statistics, host)}
    return {"@type": "sourceDescription", "statementText": result.statement,
            "sourceDescription": body, "warnings": []}


def running_query(query_id: str, sql: str, sink: str | None, sink_topic: str | None,
                  state: str) -> dict:
    return {"queryString": sql, "sinks": [sink] if sink else [],
            "sinkKafkaTopics": [sink_topic] if sink_topic else [], "id": query_id,
            "statusCount": {state: 1}, "queryType": "PERSISTENT", "state": state}


def _columns(source) -> list:
    """Key columns first, then the rest, as DESCRIBE lists them."""
    return list(source.schema.key) + [c for c in source.schema.columns if c.role != "key"]


def _field(column) -> dict:
    described = {"name": column.name, "schema": schema_of(column.type)}
    if column.role == "key":
        described["type"] = "KEY"
    elif column.role == "header":
        described["type"] = "HEADER"
        if column.header_key is not None:
            described["headerKey"] = column.header_key
    return described


def schema_of(sql_type) -> dict:
    """ksqlDB's SchemaInfo: type name, struct fields, array/map member schema."""
    schema: dict[str, Any] = {"type": sql_type.kind, "fields": None, "memberSchema": None}
    if sql_type.kind == "DECIMAL":
        schema["parameters"] = {"precision": sql_type.precision, "scale": sql_type.scale}
    elif sql_type.kind in ("ARRAY", "MAP"):
        schema["memberSchema"] = schema_of(sql_type.element)
    elif sql_type.kind == "STRUCT":
        schema["fields"] = [{"name": name, "schema": schema_of(field_type)}
                            for name, field_type in sql_type.fields]
    return schema


# ---- query responses -----------------------------------------------------------------------
def schema_text(columns) -> str:
    """`` `ID` STRING KEY, `COUNT` BIGINT ``: the header schema of /query.

    ksqlDB lists header columns before the first value column, though rows keep their order.
    """
    headers = [column for column in columns if column.role == "header"]
    listed = [column for column in columns if column.role != "header"]
    first_value = next((i for i, column in enumerate(listed) if column.role == "value"),
                       len(listed))
    listed[first_value:first_value] = headers
    return ", ".join(column.sql() for column in listed)


class QueryFraming:
    """How one query response is framed: the older /query JSON array of {"header"}, {"row"}
    and {"finalMessage"} objects, or /query-stream's header object and bare row arrays, as
    newline-delimited JSON or as one JSON array."""

    def __init__(self, query_id: str | None, columns, *, endpoint: str, array: bool):
        self.endpoint = endpoint
        self.array = array
        if endpoint == "query":
            header = {"header": {"queryId": query_id, "schema": schema_text(columns)}}
        else:
            header = {"queryId": query_id, "columnNames": [c.name for c in columns],
                      "columnTypes": [c.type.sql() for c in columns]}
        self.header = dumps(header)

    @property
    def media_type(self) -> str:
        return JSON if self.array else DELIMITED

    def opening(self) -> bytes:
        return (b"[" if self.array else b"") + self.header + (b"" if self.array else b"\n")

    def row(self, values: list[Any]) -> bytes:
        if self.endpoint == "query":
            row = {"columns": row_values(values)}
            if isinstance(values, TombstoneRow):
                row["tombstone"] = True
            element = dumps({"row": row})
        else:
            element = dumps(row_values(values))
        return b",\n" + element if self.array else element + b"\n"

    def error(self, error_code: int, message: str) -> bytes:
        body = generic_error(error_code, message)
        element = dumps({"errorMessage": body} if self.endpoint == "query" else body)
        return b",\n" + element if self.array else element + b"\n"

    def closing(self, final_message: str | None) -> bytes:
        """The end of the response; only /query says why the query ended."""
        tail = b""
        if final_message is not None and self.endpoint == "query":
            element = dumps({"finalMessage": final_message})
            tail = b",\n" + element if self.array else element + b"\n"
        return tail + (b"]\n" if self.array else b"")

    def whole(self, rows: list[list[Any]], final_message: str | None) -> bytes:
        """A response computed at once (pull queries)."""
        return b"".join([self.opening(), *(self.row(r) for r in rows),
                         self.closing(final_message)])


# ---- /inserts-stream ---------------------------------------------------------------------
def insert_statement(target: str, row: dict, schema) -> ast.InsertValues:
    """INSERT VALUES for one JSON object of /inserts-stream. Keys name columns as ksqlDB
    does (exact name first, then upper-cased); values become literals of the column's type,
    so the engine's own INSERT VALUES checks and coercions apply."""
    columns, values = [], []
    for key, value in row.items():
        column = schema.find(key) or schema.find(key.upper())
        columns.append(column.name if column is not None else key)
        values.append(literal(value, column.type if column is not None else None))
    return ast.InsertValues(target, tuple(columns), tuple(values))


def literal(value: Any, sql_type=None) -> ast.Expr:
    """A JSON value as an AST literal; `sql_type` decides whether an object is a STRUCT or a
    MAP and what type array members and map values have."""
    if value is None:
        return ast.NullLiteral()
    if isinstance(value, bool):
        return ast.BooleanLiteral(value)
    if isinstance(value, int):
        return ast.IntegerLiteral(value)
    if isinstance(value, float):
        return ast.DoubleLiteral(value)
    if isinstance(value, str):
        return ast.StringLiteral(value)
    member = sql_type.element if sql_type is not None else None
    if isinstance(value, list):
        return ast.CreateArray(tuple(literal(item, member) for item in value))
    if isinstance(value, dict):
        if sql_type is not None and sql_type.kind == "STRUCT":
            # JSON keys name fields case-insensitively, as they name columns
            declared = {name.upper(): (name, field_type) for name, field_type in sql_type.fields}
            fields = []
            for key, v in value.items():
                name, field_type = declared.get(key.upper(), (key, None))
                fields.append(ast.StructFieldValue(name, literal(v, field_type)))
            return ast.CreateStruct(tuple(fields))
        return ast.CreateMap(tuple(ast.MapEntry(ast.StringLiteral(str(k)), literal(v, member))
                                   for k, v in value.items()))
    raise RequestError(f"Unsupported JSON value in insert: {value!r}")


def insert_ack(sequence: int) -> bytes:
    return dumps({"status": "ok", "seq": sequence}) + b"\n"


def insert_error(sequence: int, error_code: int, message: str) -> bytes:
    return dumps({"status": "error", "seq": sequence, "error_code": error_code,
                  "message": message}) + b"\n"


# ---- server introspection ------------------------------------------------------------------
def server_info(service_id: str, cluster_id: str) -> dict:
    return {"KsqlServerInfo": {"version": __version__, "kafkaClusterId": cluster_id,
                               "ksqlServiceId": service_id, "serverStatus": "RUNNING"}}


def health(kafka_ok: bool) -> dict:
    return {"isHealthy": kafka_ok,
            "details": {"metastore": {"isHealthy": True}, "kafka": {"isHealthy": kafka_ok},
                        "commandRunner": {"isHealthy": True}}}
