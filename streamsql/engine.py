"""Engine: statement text in, results out; the one module that wires every layer.

    text -> parser -> analyzer -> planner -> runtime (queries over the log, DuckDB)
                         |
                      catalog <-> command log (a topic; replayed on start)

Each statement is validated completely before anything changes, so a failing
statement leaves the catalog, the topics and the running queries as they were.
"""
from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, AsyncIterator

from streamsql import ast, parser
from streamsql.analyzer.aggregates import AggregateAnalysis, analyze_aggregation, is_aggregation
from streamsql.analyzer.analyzer import QueryAnalysis, analyze_query
from streamsql.analyzer.pull import check_pull_where, window_bounds_as_millis
from streamsql.analyzer.properties import (SINK_PROPERTIES, Properties, build_formats,
                                           resolve_format_names)
from streamsql.analyzer.sources import analyze_create_source, validate_formats, \
    validate_timestamp_column
from streamsql.catalog import types as T
from streamsql.catalog.catalog import STREAM, TABLE, Catalog, DataSource, QueryInfo
from streamsql.catalog.command_log import CommandLog
from streamsql.catalog.schema import ROWOFFSET, ROWPARTITION, VALUE, Column, LogicalSchema
from streamsql.config import Config
from streamsql.errors import NotSupportedError, StatementError, StreamSQLError
from streamsql.functions.registry import FunctionRegistry, default_registry
from streamsql.log.backend import LogBackend, Record
from streamsql.planner.explain import explain
from streamsql.planner.logical import build_logical_plan
from streamsql.planner.physical import PhysicalPlan, plan_physical
from streamsql.runtime.insert import encode_values
from streamsql.runtime.print import print_records
from streamsql.runtime.pull import result_rows, selection_order, table_rows
from streamsql.planner.physical import PASSES
from streamsql.runtime.metrics import QueryMetrics, refresh_log_end
from streamsql.runtime.assignment import GroupOptions
from streamsql.runtime.processing_log import ProcessingLog
from streamsql.runtime.query import PersistentQuery, PushQuery, TombstoneRow  # noqa: F401 (server)
from streamsql.sqlformat import format_statement
from streamsql.state.store import StateStore

logger = logging.getLogger("streamsql.engine")

DEFAULT_DATA_DIR = Path.home() / ".streamsql" / "data"


@dataclass
class Result:
    """The outcome of one statement.

    kind: 'status' (a message), 'table' (columns + rows: SHOW, DESCRIBE, EXPLAIN, pull
    queries), or 'stream' (rows arrive over time: push queries and PRINT, via `stream`;
    a push query over a table yields a TombstoneRow where a key is deleted).
    """

    statement: str
    kind: str = "status"
    message: str = ""
    query_id: str | None = None
    columns: list[str] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)
    stream: AsyncIterator[list[Any]] | None = None
    entity: str = ""  # what the statement returned: 'streams', 'queries', 'sourceDescription', ...
    data: Any = None  # structured form for the REST API (descriptions, lists)
    # How a finished query's rows end, as ksqlDB says it ('Query Completed', 'Limit
    # Reached'); None: nothing is said (pull queries on tables).
    final_message: str | None = None


class Engine:
    """Runs statements against one data directory (embedded log) or a given LogBackend."""

    def __init__(self, data_dir: Path | str | None = None, properties: dict[str, str] | None = None,
                 *, backend: LogBackend | None = None, run_queries: bool = True,
                 test_functions: bool = False, state_in_memory: bool = False):
        self.data_dir = Path(data_dir) if data_dir is not None else DEFAULT_DATA_DIR
        self.config = Config().with_overrides(properties or {})
        if backend is None:
            from streamsql.log import EmbeddedLog
            backend = EmbeddedLog(self.data_dir)
        self.backend = backend
        self.run_queries = run_queries
        self.registry: FunctionRegistry = default_registry(test_functions=test_functions)
        self.catalog = Catalog()
        self.variables: dict[str, str] = {}
        self.persistent: dict[str, PersistentQuery] = {}
        self.push_queries: dict[str, PushQuery] = {}
        self._state_path = None if state_in_memory else self.data_dir / "state.duckdb"
        self.store: StateStore | None = None
        self.service_id = self.config.get("ksql.service.id") or "default_"
        self.processing_log = ProcessingLog(self.backend, f"{self.service_id}ksql_processing_log")
        self.command_log = CommandLog(self.backend, f"_confluent-ksql-{self.service_id}_command_topic")
        self._transient_ids = itertools.count()
        self._replaying = False

    # ---- lifecycle ---------------------------------------------------------------------
    async def start(self) -> None:
        await self.backend.start()
        if self._state_path is not None:
            self._state_path.parent.mkdir(parents=True, exist_ok=True)
        self.store = StateStore(self._state_path)
        self.store.create_sequences(self.registry.sequences)
        await self._replay()
        if self.run_queries:
            for query in self.persistent.values():
                query.start()

    async def close(self) -> None:
        for query in list(self.push_queries.values()):
            query.close()
        for query in list(self.persistent.values()):
            await query.stop()
        if self.store is not None:
            self.store.close()
        await self.backend.close()

    async def __aenter__(self) -> "Engine":
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    async def _replay(self) -> None:
        """Rebuild the catalog and persistent queries from the command log."""
        commands = await self.command_log.read_all()
        if not commands:
            return
        self._replaying = True
        try:
            for command in commands:
                saved = self.config
                self.config = self.config.with_overrides(command.get("properties", {}))
                try:
                    await self.execute(command["statement"])
                except StreamSQLError as err:
                    logger.error("could not replay command %r: %s", command["statement"], err)
                finally:
                    self.config = saved
        finally:
            self._replaying = False
        logger.info("replayed %d commands: %d sources, %d queries", len(commands),
                    len(self.catalog.sources), len(self.persistent))

    # ---- statements ---------------------------------------------------------------------
    @property
    def queries(self) -> list[PersistentQuery]:
        return list(self.persistent.values())

    async def query_metrics(self) -> dict[str, QueryMetrics]:
        """Each persistent query's metrics by query id, with the log end offsets (and so
        the consumer lag) brought up to date."""
        for query in self.persistent.values():
            await refresh_log_end(query.metrics, self.backend)
        return {query_id: query.metrics for query_id, query in self.persistent.items()}

    async def execute(self, text: str, properties: dict[str, Any] | None = None, *,
                      client_statements: bool = False) -> list[Result]:
        """Parse and execute a script, statement by statement.

        Raises the first statement's error (a StreamSQLError); statements before it keep
        their effects, as in ksqlDB's REST API. `client_statements` also accepts what only
        ksqlDB's CLI accepts (RUN SCRIPT), for the shell and `--file`.
        """
        return [result async for result in
                self.execute_each(text, properties, client_statements=client_statements)]

    async def execute_each(self, text: str, properties: dict[str, Any] | None = None, *,
                           client_statements: bool = False) -> AsyncIterator[Result]:
        """execute(), one Result at a time: each statement runs only once the previous one's
        Result is taken, as ksqlDB's CLI runs a script (a push query's rows are read before
        the next statement runs; the Results before an error are kept)."""
        saved = self.config
        if properties:
            self.config = self.config.with_overrides(properties)
        try:
            for statement, sql in self._statements(text, client_statements):
                try:
                    result = await self._execute_one(statement, sql)
                except StreamSQLError as err:
                    if err.statement is None:  # ksqlDB names the failing statement
                        err.statement = sql if sql.endswith(";") else sql + ";"
                    raise err.with_text(text if err.span and err.span.end_pos <= len(text)
                                        and sql in text else sql)
                yield result
        finally:
            if properties:
                # request-scoped properties end with the request; SET inside it persists
                for key in properties:
                    if self.config.overrides.get(key) == str(properties[key]):
                        self.config = self.config.without(key) if key not in saved.overrides \
                            else self.config.with_overrides({key: saved.overrides[key]})

    def _statements(self, text: str, client_statements: bool):
        """(statement, its text) pairs; ${var} substitution happens statement by statement,
        so DEFINE affects the statements after it."""
        if "${" not in text:
            for statement in parser.parse(text, client_statements=client_statements):
                yield statement, _statement_text(text, statement)
            return
        for piece in parser.split_statements(text):
            substituted = parser.substitute_variables(piece, self.variables)
            for statement in parser.parse(substituted, client_statements=client_statements):
                yield statement, _statement_text(substituted, statement)

    async def _execute_one(self, stmt: ast.Statement, sql: str) -> Result:
        handler = _HANDLERS.get(type(stmt))
        if handler is None:
            raise NotSupportedError(f"{type(stmt).__name__} statements are not supported yet",
                                    stmt.span)
        return await handler(self, stmt, sql)

    # ---- DDL ---------------------------------------------------------------------------
    async def _create_source(self, stmt, sql: str) -> Result:
        word = "Table" if isinstance(stmt, ast.CreateTable) else "Stream"
        existing = self.catalog.source(stmt.name)
        if existing is not None and stmt.if_not_exists:
            return Result(sql, message=f"{word} {stmt.name} already exists")
        source = analyze_create_source(stmt, self.catalog, self.config, sql)
        props = Properties(stmt.properties, set(p.name.upper() for p in stmt.properties))
        await self._ensure_topic(source.topic, props, kind=word.lower(), stmt=stmt)
        await self._log_command(sql)
        self.catalog = self.catalog.with_source(source)
        return Result(sql, message=f"{word} created", entity="currentStatus")

    async def _ensure_topic(self, topic: str, props: Properties, *, kind: str, stmt) -> None:
        info = await self.backend.describe_topic(topic)
        partitions = props.get_int("PARTITIONS")
        if info is None:
            if partitions is None:
                raise StatementError(
                    f"Topic '{topic}' does not exist. If you want to create a new topic for the "
                    f"{kind} please re-run the statement providing the required 'PARTITIONS' "
                    "configuration in the WITH clause (and, optionally, 'REPLICAS'). For example: "
                    f"CREATE {kind.upper()} {stmt.name} (ID INT {'PRIMARY ' if kind == 'table' else ''}"
                    f"KEY, VAL STRING) WITH (KAFKA_TOPIC='{topic}', PARTITIONS=2, REPLICAS=1, "
                    "VALUE_FORMAT='JSON');", stmt.span)
            await self.backend.create_topic(topic, partitions, props.get_int("REPLICAS") or 1,
                                            _topic_config(props))
        elif partitions is not None and info.partitions != partitions:
            raise StatementError(
                f"A Kafka topic with the name '{topic}' already exists, with different partition/"
                f"replica configuration than required. KSQL expects {partitions} partitions "
                f"(topic has {info.partitions}).", stmt.span)

    async def _create_as(self, stmt: ast.CreateStreamAs | ast.CreateTableAs, sql: str) -> Result:
        kind = TABLE if isinstance(stmt, ast.CreateTableAs) else STREAM
        word = kind.lower()
        if stmt.query.limit is not None:
            raise StatementError(f"CREATE {kind} AS SELECT statements don't support LIMIT "
                                 "clause.", stmt.span)
        existing = self.catalog.source(stmt.name)
        if existing is not None:
            if stmt.if_not_exists:
                return Result(sql, message=f"{word.capitalize()} {stmt.name} already exists")
            if not stmt.or_replace:
                raise StatementError(f"Cannot add {word} '{stmt.name}': A "
                                     f"{existing.kind_word} with the same name already exists",
                                     stmt.span)
            if existing.is_source:
                raise StatementError(f"Cannot add {word} '{stmt.name}': CREATE OR REPLACE is not "
                                     f"supported on source {word}s.")
        analysis = self._analyze(stmt.query, persistent=True, sink_name=stmt.name)
        if analysis.result_kind != kind:
            produced = analysis.result_kind
            raise StatementError(f"Invalid result type. Your SELECT query produces a {produced}. "
                                 f"Please use CREATE {produced} AS SELECT statement instead.",
                                 stmt.span)
        props = Properties(stmt.properties, SINK_PROPERTIES)
        sink = self._sink_source(stmt, props, analysis, sql)
        partitions, replicas = await self._sink_topic_shape(props, analysis.source, sink.topic,
                                                            stmt)

        prefix = "CTAS" if kind == TABLE else "CSAS"
        query_id = self._query_id_for(stmt.name, existing, prefix)
        plan = self._plan(analysis, sink, query_id)
        await self.backend.create_topic(sink.topic, partitions, replicas, _topic_config(props))
        await self._log_command(sql)
        if existing is not None and query_id in self.persistent:
            await self.persistent.pop(query_id).stop(drop_state=True)
        info = QueryInfo(query_id, sql, sink.name, _source_names(analysis), prefix)
        self.catalog = self.catalog.with_source(sink).with_query(info)
        self._start_query(info, plan, sink_partitions=partitions)
        return Result(sql, message=f"Created query with ID {query_id}", query_id=query_id,
                      entity="currentStatus")

    def _query_id_for(self, sink_name: str, existing: DataSource | None, prefix: str) -> str:
        if existing is not None and existing.created_by_query:
            return existing.created_by_query
        return f"{prefix}_{sink_name.upper()}_{self.catalog.next_query_number}"

    def _sink_source(self, stmt, props: Properties, analysis: QueryAnalysis | AggregateAnalysis,
                     sql: str) -> DataSource:
        """The catalog entry of a CSAS/CTAS sink: topic, formats and features from WITH or the
        source."""
        src = analysis.source
        schema = analysis.schema
        inherited_key = src.key_format.name
        if inherited_key == "NONE" and schema.key:
            # a NONE key cannot carry the new key columns: fall back to the default key format
            inherited_key = None
        if not schema.key and getattr(analysis, "repartitioned", False):
            # PARTITION BY NULL: the records have no key at all
            given = props.get_str("KEY_FORMAT") or props.get_str("FORMAT")
            if given is not None and given.upper() != "NONE":
                raise StatementError("Key format specified for stream without key columns.",
                                     stmt.span)
            inherited_key = "NONE"
        key_name, value_name = resolve_format_names(
            props, self.config, inherited_key=inherited_key,
            inherited_value=src.value_format.name)
        if isinstance(analysis, AggregateAnalysis) and value_name == "DELIMITED" and any(
                not call.type.is_primitive for call in analysis.aggregates):
            raise StreamSQLError("One of the functions used in the statement has an intermediate "
                                 "type that the value format can not handle. Please remove the "
                                 "function or change the format.", stmt.span)
        key_format, value_format = build_formats(
            props, self.config, schema.columns, key_name=key_name, value_name=value_name,
            inherited_value=src.value_format, inherited_key=src.key_format)
        validate_formats(key_format, value_format, schema.columns)
        timestamp_column = props.get_str("TIMESTAMP")
        timestamp_format = props.get_str("TIMESTAMP_FORMAT")
        if timestamp_column is not None:
            timestamp_column = validate_timestamp_column(timestamp_column, timestamp_format,
                                                         schema.columns)
        prefix = self.config.get("ksql.output.topic.name.prefix") or ""
        topic = props.get_str("KAFKA_TOPIC") or f"{prefix}{stmt.name}"
        query_id = self._query_id_for(stmt.name, self.catalog.source(stmt.name),
                                      "CTAS" if analysis.result_kind == TABLE else "CSAS")
        if isinstance(analysis, AggregateAnalysis):
            window = analysis.window_info
        elif not analysis.repartitioned:
            window = src.window  # a join of windowed sources matches windows: it keeps them
        else:
            window = None
        return DataSource(name=stmt.name, kind=analysis.result_kind, schema=schema, topic=topic,
                          key_format=key_format, value_format=value_format, window=window,
                          timestamp_column=timestamp_column, timestamp_format=timestamp_format,
                          sql=sql, created_by_query=query_id)

    async def _sink_topic_shape(self, props: Properties, source: DataSource, sink_topic: str,
                                stmt) -> tuple[int, int]:
        wanted = props.get_int("PARTITIONS")
        existing = await self.backend.describe_topic(sink_topic)
        if existing is not None:
            # A query writes into an existing topic as it is, unless told otherwise.
            if wanted is not None and wanted != existing.partitions:
                raise StatementError(
                    f"A Kafka topic with the name '{sink_topic}' already exists, with different "
                    f"partition/replica configuration than required. KSQL expects {wanted} "
                    f"partitions (topic has {existing.partitions}).", stmt.span)
            return existing.partitions, existing.replicas
        partitions = wanted or self.config.get_int("ksql.sink.partitions")
        replicas = props.get_int("REPLICAS") or self.config.get_int("ksql.sink.replicas")
        if partitions is None or replicas is None:
            info = await self.backend.describe_topic(source.topic)
            partitions = partitions or (info.partitions if info else 1)
            replicas = replicas or (info.replicas if info else 1)
        return partitions, replicas

    def _analyze(self, select: ast.Select, *, persistent: bool,
                 sink_name: str | None = None) -> QueryAnalysis | AggregateAnalysis:
        if is_aggregation(select, self.registry):
            return analyze_aggregation(select, self.catalog, self.registry, sink_name=sink_name,
                                       settings=self.config.as_dict(), persistent=persistent)
        return analyze_query(select, self.catalog, self.registry, persistent=persistent,
                             sink_name=sink_name,
                             new_planner=self.config.get_bool("ksql.new.query.planner.enabled"))

    def _plan(self, analysis: QueryAnalysis | AggregateAnalysis, sink: DataSource | None,
              query_id: str = "") -> PhysicalPlan:
        return plan_physical(build_logical_plan(analysis, sink), self.registry, query_id,
                             every_update=not self.config.cache_enabled)

    def _start_query(self, info: QueryInfo, plan: PhysicalPlan, *, sink_partitions: int) -> None:
        query = PersistentQuery(
            info.query_id, info.sql, plan, self.backend, self.store, self.processing_log,
            sink_partitions=sink_partitions,
            group=f"_confluent-ksql-{self.service_id}query_{info.query_id}",
            auto_offset_reset=self.config.get("auto.offset.reset") or "latest",
            throw_on_invalid_timestamp=self.config.get_bool("ksql.timestamp.throw.on.invalid"),
            # On Kafka, processes with this service id split the query's partitions.
            scale_out=GroupOptions.from_config(self.config) if self.backend.name == "kafka"
            else None)
        self.persistent[info.query_id] = query
        if self.run_queries and not self._replaying:
            query.start()

    async def _insert_into(self, stmt: ast.InsertInto, sql: str) -> Result:
        target = self.catalog.source(stmt.target)
        if target is None:
            raise StatementError(f"Source `{stmt.target}` does not exist.",
                                 stmt.target_span or stmt.span)
        if target.kind == TABLE:
            raise StatementError("INSERT INTO can only be used to insert into a stream. "
                                 f"{target.name} is a table.", stmt.span)
        if is_aggregation(stmt.query, self.registry):
            raise StatementError("INSERT INTO can only be used to insert into a stream. "
                                 "The query produces a table.", stmt.span)
        if target.is_source:
            raise StatementError(f"Cannot insert into read-only stream: {target.name}", stmt.span)
        if target.schema.headers:
            raise StatementError(f"Cannot insert into {target.name} because it has header columns",
                                 stmt.span)
        analysis = self._analyze(stmt.query, persistent=True, sink_name=target.name)
        if _comparable(analysis.schema) != _comparable(target.schema):
            raise StatementError(
                "Incompatible schema between results and sink.\n"
                f"Result schema is {analysis.schema.sql()}\nSink schema is {target.schema.sql()}",
                stmt.span)
        query_id = f"INSERTQUERY_{self.catalog.next_query_number}"
        plan = self._plan(analysis, target, query_id)
        info_topic = await self.backend.describe_topic(target.topic)
        await self._log_command(sql)
        info = QueryInfo(query_id, sql, target.name, _source_names(analysis), "INSERT")
        self.catalog = self.catalog.with_query(info)
        self._start_query(info, plan, sink_partitions=info_topic.partitions if info_topic else 1)
        return Result(sql, message=f"Created query with ID {query_id}", query_id=query_id,
                      entity="currentStatus")

    async def _insert_values(self, stmt: ast.InsertValues, sql: str) -> Result:
        target = self.catalog.source(stmt.target)
        if target is None:
            message = f"Cannot insert values into an unknown stream/table: `{stmt.target}`"
            other = self.catalog.suggest_source(stmt.target)
            if other is not None and other.upper() == stmt.target.upper():
                if other != other.upper():
                    message += (f"\nDid you mean \"{other}\"? Hint: wrap the source name in "
                                "double quotes to make it case-sensitive.")
                else:
                    message += (f"\nDid you mean {other}? Hint: try removing double quotes from "
                                "the source name.")
            raise StatementError(message, stmt.span)
        if target.is_source:
            raise StatementError(f"Cannot insert values into read-only {target.kind_word}: "
                                 f"{target.name}", stmt.span)
        record = encode_values(stmt, target, self.registry, self.store.cursor())
        info = await self.backend.describe_topic(target.topic)
        partitions = info.partitions if info else 1
        if partitions > 1:
            from streamsql.log.partitioner import partition_for
            record = Record(record.key, record.value, record.timestamp, record.headers,
                            partition_for(record.key, partitions))
        await self.backend.produce(target.topic, [record])
        return Result(sql, message="", entity="currentStatus")

    async def _drop_source(self, stmt: ast.DropSource, sql: str) -> Result:
        source = self.catalog.source(stmt.name)
        word = stmt.kind.capitalize()
        if source is None:
            if stmt.if_exists:
                return Result(sql, message=f"Source `{stmt.name}` does not exist.")
            raise StatementError(f"{word} {stmt.name} does not exist.", stmt.span)
        if source.kind != stmt.kind:
            raise StatementError(f"Incompatible data source type is {source.kind}, but statement "
                                 f"was DROP {stmt.kind}", stmt.span)
        if stmt.delete_topic and source.is_source:
            raise StatementError(f"Cannot delete topic for read-only source: {source.name}",
                                 stmt.span)
        readers = [q.query_id for q in self.catalog.queries_reading(source.name)]
        writers = [q.query_id for q in self.catalog.queries_writing(source.name)
                   if q.query_id != source.created_by_query]
        if readers or writers:
            raise StatementError(
                f"Cannot drop {source.name}.\nThe following queries read from this source: "
                f"[{', '.join(readers)}].\nThe following queries write into this source: "
                f"[{', '.join(writers)}].\nYou need to terminate them before dropping "
                f"{source.name}.", stmt.span)
        await self._log_command(sql)
        if source.created_by_query and source.created_by_query in self.persistent:
            await self.persistent.pop(source.created_by_query).stop(drop_state=True)
            self.catalog = self.catalog.without_query(source.created_by_query)
        self.catalog = self.catalog.without_source(source.name)
        if stmt.delete_topic:
            await self.backend.delete_topic(source.topic)
        return Result(sql, message=f"Source `{source.name}` (topic: {source.topic}) was dropped.",
                      entity="currentStatus")

    async def _alter_source(self, stmt: ast.AlterSource, sql: str) -> Result:
        source = self.catalog.source(stmt.name)
        word = stmt.kind.lower()
        if source is None:
            raise StatementError(f"Source {stmt.name} does not exist.", stmt.span)
        if source.is_source:
            raise StatementError(f"Cannot alter {word} '{source.name}': ALTER operations are not "
                                 f"supported on source {word}s.", stmt.span)
        if source.created_by_query:
            raise StatementError("ALTER command is not supported for CREATE ... AS statements.",
                                 stmt.span)
        columns = list(source.schema.columns)
        for col in stmt.columns:
            if source.schema.find(col.name) is not None:
                raise StatementError(f"Cannot add column `{col.name}` to schema. A column with "
                                     "the same name already exists.", col.span)
            columns.append(Column(col.name, T.from_ast(col.type, self.catalog.types), VALUE))
        await self._log_command(sql)
        self.catalog = self.catalog.with_source(replace(source, schema=LogicalSchema(tuple(columns))))
        return Result(sql, message=f"{word.capitalize()} altered", entity="currentStatus")

    async def _create_type(self, stmt: ast.CreateType, sql: str) -> Result:
        if stmt.name in self.catalog.types:
            if stmt.if_not_exists:
                return Result(sql, message=f"Type {stmt.name} already exists")
            raise StatementError(f"Cannot register custom type '{stmt.name}' since it is already "
                                 f"registered with type: {self.catalog.types[stmt.name].sql()}",
                                 stmt.span)
        sql_type = T.from_ast(stmt.type, self.catalog.types)
        await self._log_command(sql)
        self.catalog = self.catalog.with_type(stmt.name, sql_type)
        return Result(sql, message=f"Registered custom type with name '{stmt.name}' and SQL type "
                                   f"{sql_type.sql()}", entity="currentStatus")

    async def _drop_type(self, stmt: ast.DropType, sql: str) -> Result:
        if stmt.name not in self.catalog.types:
            if stmt.if_exists:
                return Result(sql, message=f"Type {stmt.name} does not exist")
            raise StatementError(f"Type {stmt.name} does not exist.", stmt.span)
        await self._log_command(sql)
        self.catalog = self.catalog.without_type(stmt.name)
        return Result(sql, message=f"Dropped type '{stmt.name}'", entity="currentStatus")

    async def _terminate(self, stmt: ast.Terminate, sql: str) -> Result:
        ids = list(self.catalog.queries) if stmt.all else [stmt.query_id]
        for query_id in ids:
            if query_id not in self.catalog.queries:
                match = next((q for q in self.catalog.queries if q.upper() == query_id.upper()),
                             None)
                if match is None:
                    raise StatementError(f"Unknown queryId: {query_id}", stmt.span)
        await self._log_command(sql)
        for query_id in ids:
            query_id = next(q for q in self.catalog.queries if q.upper() == query_id.upper())
            query = self.persistent.pop(query_id, None)
            if query is not None:
                await query.stop(drop_state=True)
            info = self.catalog.queries[query_id]
            self.catalog = self.catalog.without_query(query_id)
            sink = self.catalog.source(info.sink) if info.sink else None
            if sink is not None and sink.created_by_query == query_id:
                self.catalog = self.catalog.with_source(replace(sink, created_by_query=None))
        return Result(sql, message="Query terminated." if len(ids) == 1 else
                      f"{len(ids)} queries terminated.", entity="currentStatus")

    async def _log_command(self, sql: str) -> None:
        if not self._replaying:
            await self.command_log.append(sql, dict(self.config.overrides))

    # ---- session -----------------------------------------------------------------------
    async def _set(self, stmt: ast.SetProperty, sql: str) -> Result:
        self.config = self.config.with_overrides({stmt.name: stmt.value})
        return Result(sql, message=f"Successfully changed local property '{stmt.name}' to "
                                   f"'{stmt.value}'.", entity="currentStatus")

    async def _unset(self, stmt: ast.UnsetProperty, sql: str) -> Result:
        self.config = self.config.without(stmt.name)
        return Result(sql, message=f"Successfully unset local property '{stmt.name}'.",
                      entity="currentStatus")

    async def _define(self, stmt: ast.DefineVariable, sql: str) -> Result:
        self.variables[stmt.name] = stmt.value
        return Result(sql, message=f"Defined variable {stmt.name}")

    async def _undefine(self, stmt: ast.UndefineVariable, sql: str) -> Result:
        self.variables.pop(stmt.name, None)
        return Result(sql, message=f"Undefined variable {stmt.name}")

    async def _run_script(self, stmt: ast.RunScript, sql: str) -> Result:
        path = Path(stmt.path)
        try:
            text = path.read_text()
        except OSError as err:
            raise StatementError(f"Cannot read script '{stmt.path}': {err.strerror}",
                                 stmt.span) from None
        results = await self.execute(text, client_statements=True)
        # entity 'script': `data` holds the script's own Results, for the shell to show
        return Result(sql, message=f"Ran {len(results)} statements from {stmt.path}",
                      entity="script", data=results)

    # ---- inspection ----------------------------------------------------------------------
    async def _show(self, stmt: ast.Show, sql: str) -> Result:
        from streamsql.describe import show
        return await show(self, stmt, sql)

    async def _describe(self, stmt: ast.Describe, sql: str) -> Result:
        from streamsql.describe import describe
        return await describe(self, stmt, sql)

    async def _describe_function(self, stmt: ast.DescribeFunction, sql: str) -> Result:
        from streamsql.describe import describe_function
        return describe_function(self, stmt, sql)

    async def _explain(self, stmt: ast.Explain, sql: str) -> Result:
        if stmt.query_id is not None:
            query = self.persistent.get(stmt.query_id)
            if query is None:
                raise StatementError(f"Query with id:{stmt.query_id} does not exist, use SHOW "
                                     "QUERIES to view the full set of queries.", stmt.span)
            plan_text = explain(query.plan)
        else:
            inner = stmt.statement
            select = inner.select if isinstance(inner, ast.Query) else getattr(inner, "query", None)
            if select is None:
                raise StatementError("EXPLAIN needs a query id or a query", stmt.span)
            analysis = self._analyze(select, persistent=not isinstance(inner, ast.Query),
                                     sink_name=getattr(inner, "name", None))
            sink = None
            if isinstance(inner, (ast.CreateStreamAs, ast.CreateTableAs)):
                sink = self._sink_source(inner, Properties(inner.properties, SINK_PROPERTIES),
                                         analysis, format_statement(inner))
            elif isinstance(inner, ast.InsertInto):
                sink = self.catalog.source(inner.target)
            plan_text = explain(self._plan(analysis, sink))
        return Result(sql, kind="table", columns=["Plan"],
                      rows=[[line] for line in plan_text.splitlines()], entity="queryDescription",
                      data=plan_text)

    # ---- queries ---------------------------------------------------------------------------
    async def _query(self, stmt: ast.Query, sql: str) -> Result:
        select = stmt.select
        table = None
        if select.emit is None:
            _check_pull_query(select, stmt, self.config)
            table = self.catalog.source(select.from_.name) \
                if isinstance(select.from_, ast.Table) else None
            if table is not None and table.window is not None:
                select = replace(select, where=window_bounds_as_millis(select.where))
            if table is not None and table.kind == TABLE:
                check_pull_where(select.where, table, self.config)
        analysis = self._analyze(select, persistent=False)
        if table is not None and table.kind == TABLE and not table.is_source and \
                table.created_by_query is None:
            raise StatementError(
                f"The `{table.name}` table isn't queryable. To derive a queryable table, "
                f"you can do 'CREATE TABLE QUERYABLE_{table.name} AS SELECT * FROM "
                f"{table.name}'. See https://cnfl.io/queries for more info.", stmt.span)
        kind = "SCALABLE_PUSH_QUERY" if self._is_scalable_push(select) else "transient"
        query_id = f"{kind}_{analysis.source.name}_{next(self._transient_ids)}"
        plan = self._plan(analysis, None, query_id)
        if select.emit is None:
            columns = selection_order(plan.output_columns, analysis.order)
            if analysis.source.kind == TABLE:
                return await self._pull_table(query_id, plan, columns, sql)
            return await self._pull_scan(query_id, plan, columns, sql)
        reset = self.config.get("auto.offset.reset") or "latest"
        # A push query's rows are plain rows, in SELECT order: its header shows no KEY columns.
        shown = tuple(replace(c, role=VALUE)
                      for c in selection_order(plan.output_columns, analysis.order))
        query = PushQuery(query_id, plan, self.backend, self.store, self.processing_log,
                          from_beginning=reset == "earliest", columns=shown)
        # Started before the statement returns: whatever is produced after it is seen.
        try:
            await query.start()
        except BaseException:
            query.close()
            raise
        self.push_queries[query_id] = query

        async def rows():
            try:
                async for row in query.rows():
                    yield row
            finally:
                self.push_queries.pop(query_id, None)

        return Result(sql, kind="stream", query_id=query_id, columns=[c.name for c in shown],
                      stream=rows(), entity="pushQuery", data=shown)

    def _is_scalable_push(self, select: ast.Select) -> bool:
        """Whether ksqlDB would serve this push query as a scalable push query: one that taps
        the output of the one persistent query writing its source, from the latest offset."""
        if not self.config.get_bool("ksql.query.push.v2.enabled") or \
                (self.config.get("auto.offset.reset") or "latest") != "latest":
            return False
        if not isinstance(select.from_, ast.Table) or select.window is not None or \
                select.group_by or select.having is not None or select.partition_by or \
                is_aggregation(select, self.registry):
            return False
        source = self.catalog.source(select.from_.name)
        if source is None or len(self.catalog.queries_writing(source.name)) != 1:
            return False
        # ksqlDB does not offer ROWPARTITION and ROWOFFSET to scalable push queries
        clauses = [i.expr for i in select.items if isinstance(i, ast.SingleColumn)]
        clauses += [select.where] if select.where is not None else []
        return not any(isinstance(node, ast.ColumnRef) and node.name in (ROWPARTITION, ROWOFFSET)
                       for clause in clauses for node in ast.walk(clause))

    async def _pull_scan(self, query_id: str, plan: PhysicalPlan, columns: tuple[Column, ...],
                         sql: str) -> Result:
        """A pull query on a stream: every record now in the topic, through the plan."""
        query = PushQuery(query_id, plan, self.backend, self.store, self.processing_log,
                          from_beginning=True)
        topic = plan.source.topic
        info = await self.backend.describe_topic(topic)
        rows: list[list[Any]] = []
        names = [c.name for c in columns]
        try:
            for partition in range(info.partitions if info else 1):
                offset = await self.backend.start_offset(topic, partition)
                end = await self.backend.end_offset(topic, partition)
                while offset < end and (plan.limit is None or len(rows) < plan.limit):
                    records = await self.backend.fetch(topic, partition, offset, 10_000)
                    if not records:
                        break
                    offset = records[-1].offset + 1
                    result, _ = await query._transform(topic, records)
                    rows.extend(result_rows(result, names))
        finally:
            query.close()
        final = "Query Completed"
        if plan.limit is not None and len(rows) >= plan.limit:
            rows, final = rows[:plan.limit], "Limit Reached"
        return Result(sql, kind="table", query_id=query_id, columns=names, rows=rows,
                      entity="pullQuery", data=columns, final_message=final)

    async def _pull_table(self, query_id: str, plan: PhysicalPlan, columns: tuple[Column, ...],
                          sql: str) -> Result:
        """A pull query on a table: its current rows, through the query's projection."""
        source = plan.source
        writer = self.persistent.get(source.created_by_query) if source.created_by_query \
            else None
        connection = self.store.cursor()
        try:
            rows = await table_rows(source, self.backend, connection, writer)
            result = connection.run(plan.project.sql, **{plan.project.relation: rows})
        finally:
            connection.close()
        if PASSES in result.column_names:
            result = result.filter(result.column(PASSES))
        names = [c.name for c in columns]
        values = result_rows(result, names)
        if plan.limit is not None:
            values = values[:plan.limit]
        return Result(sql, kind="table", query_id=query_id, columns=names, rows=values,
                      entity="pullQuery", data=columns)

    async def _print(self, stmt: ast.Print, sql: str) -> Result:
        if await self.backend.describe_topic(stmt.topic) is None:
            raise StatementError(f"Could not find topic '{stmt.topic}', or the KSQL user does not "
                                 "have permissions to list the topic. Topic names are "
                                 "case-sensitive.", stmt.span)
        return Result(sql, kind="stream", columns=["record"],
                      stream=print_records(self.backend, self.catalog, stmt), entity="print")

    # ---- test runner support ----------------------------------------------------------------
    async def process(self, query_id: str, topic: str, partition: int, start_offset: int,
                      end_offset: int) -> None:
        """Deliver records [start, end) of a topic partition to a query, synchronously."""
        query = self.persistent[query_id]
        offset = start_offset
        while offset < end_offset:
            records = await self.backend.fetch(topic, partition, offset,
                                               min(10_000, end_offset - offset))
            records = [r for r in records if r.offset < end_offset]
            if not records:
                break
            await query.process(topic, records)
            offset = records[-1].offset + 1


def _statement_text(text: str, statement: ast.Statement) -> str:
    span = statement.span
    if span is None:
        return format_statement(statement)
    return text[span.start_pos:span.end_pos].strip()


def _check_pull_query(select: ast.Select, stmt: ast.Statement, config: Config) -> None:
    """What a pull query cannot do, in ksqlDB's words."""
    suffix = (" See https://cnfl.io/queries for more info.\nAdd EMIT CHANGES if you intended to "
              "issue a push query.")
    if select.limit is not None and \
            not config.get_bool("ksql.query.pull.limit.clause.enabled", True):
        raise StatementError("LIMIT clause in pull queries is currently disabled. You can enable "
                             "them by setting ksql.query.pull.limit.clause.enabled=true."
                             f"{suffix}", stmt.span)
    for present, clause in ((isinstance(select.from_, ast.Join), "JOIN"),
                            (select.window is not None, "WINDOW"),
                            (bool(select.group_by), "GROUP BY"),
                            (select.having is not None, "HAVING"),
                            (bool(select.partition_by), "PARTITION BY")):
        if present:
            raise StatementError(f"Pull queries don't support {clause} clauses.{suffix}",
                                 stmt.span)
    if select.limit is not None and select.limit < 0:
        raise StatementError("Pull queries don't support negative integers in the LIMIT "
                             "clause. See https://cnfl.io/queries for more info.", stmt.span)
    for clause, exprs in (("SELECT", [i.expr for i in select.items
                                      if isinstance(i, ast.SingleColumn)]),
                          ("WHERE", [select.where] if select.where is not None else [])):
        banned = sorted({c.name for e in exprs for c in ast.walk(e)
                         if isinstance(c, ast.ColumnRef) and c.name in ("ROWPARTITION",
                                                                        "ROWOFFSET")})
        if banned:
            raise StatementError(f"Pull queries don't support the following columns in "
                                 f"{clause} clauses: {', '.join(f'`{b}`' for b in banned)}",
                                 stmt.span)


def _topic_config(props: Properties) -> dict[str, str]:
    """The topic configs a new topic gets from WITH (RETENTION_MS, CLEANUP_POLICY)."""
    config = {}
    if props.get_int("RETENTION_MS") is not None:
        config["retention.ms"] = str(props.get_int("RETENTION_MS"))
    if props.get_str("CLEANUP_POLICY") is not None:
        config["cleanup.policy"] = props.get_str("CLEANUP_POLICY").lower()
    return config


def _source_names(analysis: QueryAnalysis) -> tuple[str, ...]:
    return tuple(side.source.name for side in analysis.sides)


def _comparable(schema: LogicalSchema):
    return [(c.name, c.type, c.role) for c in schema.columns]


async def _not_supported(engine: Engine, stmt, sql: str) -> Result:
    raise NotSupportedError(f"{type(stmt).__name__} is not supported yet", stmt.span)


_HANDLERS = {
    ast.CreateStream: Engine._create_source,
    ast.CreateTable: Engine._create_source,
    ast.CreateStreamAs: Engine._create_as,
    ast.CreateTableAs: Engine._create_as,
    ast.InsertInto: Engine._insert_into,
    ast.InsertValues: Engine._insert_values,
    ast.DropSource: Engine._drop_source,
    ast.AlterSource: Engine._alter_source,
    ast.CreateType: Engine._create_type,
    ast.DropType: Engine._drop_type,
    ast.Terminate: Engine._terminate,
    ast.SetProperty: Engine._set,
    ast.UnsetProperty: Engine._unset,
    ast.DefineVariable: Engine._define,
    ast.UndefineVariable: Engine._undefine,
    ast.RunScript: Engine._run_script,
    ast.Show: Engine._show,
    ast.Describe: Engine._describe,
    ast.DescribeFunction: Engine._describe_function,
    ast.Explain: Engine._explain,
    ast.Query: Engine._query,
    ast.Print: Engine._print,
}
