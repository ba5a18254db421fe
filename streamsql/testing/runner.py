"""One QTT run against a fresh engine: topics, statements, record delivery, then the checks.

Follows the reference model of the QTT spec (sections 4, 6, 7, 9); post conditions live in
post.py, byte formats in testdata.py, value rules in compare.py.
"""
from __future__ import annotations

import asyncio
import base64
import logging
import re
import tempfile
import traceback
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

from streamsql import ast, parser
from streamsql.errors import StreamSQLError
from streamsql.log import EmbeddedLog
from streamsql.log.backend import Record
from streamsql.log.partitioner import partition_for
from streamsql.testing import post
from streamsql.testing.compare import bytes_to_text, difference, show
from streamsql.testing.expected_errors import exception_mismatch, java_type, short_class
from streamsql.testing import rest
from streamsql.testing.loader import Run, TestRecord, Window
from streamsql.testing.testdata import (RAW, SCHEMA_REGISTRY_FORMATS, Serde, TestDataError,
                                        decode, decode_key, encode, encode_key)

PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"

# Records a query skips are engine behaviour that the expected outputs already encode;
# without a handler Python would print each one to stderr, burying the verdict lines.
logging.getLogger("streamsql.processing").addHandler(logging.NullHandler())

# Section 4.1: forced engine config; the case's own properties go on top.
BASE_PROPERTIES = {
    "cache.max.bytes.buffering": "0",
    "auto.offset.reset": "earliest",
    "auto.commit.interval.ms": "0",
    "ksql.service.id": "some.ksql.service.id",
    "ksql.headers.columns.enabled": "true",
}
# Section 10: what the REST server runs with besides; the case's properties go on top.
REST_SERVER_PROPERTIES = {"ksql.query.push.v2.enabled": "true"}
# A switch of the harness's comparison, not an engine setting.
EXACT_NUMBERS_PROPERTY = "use.exact.numeric.comparison"
# Section 10 as the reference behaves (its cases' ROWPARTITION values and LIMIT rows show
# it): a REST run's topics that no `topics` entry declares have four partitions.
REST_DEFAULT_PARTITIONS = 4

_CREATE_STATEMENTS = (ast.CreateStream, ast.CreateTable, ast.CreateStreamAs, ast.CreateTableAs)

if TYPE_CHECKING:
    from streamsql.engine import Engine

REGISTRY_SKIP_REASON = "needs a schema registry"

_REGISTRY_FORMAT = re.compile(
    r"FORMAT\s*=\s*['\"](" + "|".join(sorted(SCHEMA_REGISTRY_FORMATS)) + r")['\"]", re.I)

@dataclass(frozen=True)
class Outcome:
    status: str  # PASSED | FAILED | SKIPPED
    reason: str = ""


def skip_reason(run: Run) -> str | None:
    """Why a run cannot be run with the capabilities built so far, or None."""
    if run.is_rest and run.rest.get("testPullWithProtoFormat"):
        return "the protobuf row format of pull queries is not built yet"
    if run.invalid is None and needs_schema_registry(run):
        return REGISTRY_SKIP_REASON
    return None


def needs_schema_registry(run: Run) -> bool:
    """True when the run uses a schema-registry format or registers schemas."""
    if any(t.has_schema for t in run.topics):
        return True
    if any(_REGISTRY_FORMAT.search(s) for s in run.statements):
        return True
    return any(k.startswith("ksql.persistence.default.format.")
               and v.upper() in SCHEMA_REGISTRY_FORMATS for k, v in run.properties)


def engine_properties(run: Run) -> dict[str, str]:
    properties = dict(BASE_PROPERTIES)
    if run.is_rest:
        properties.update(REST_SERVER_PROPERTIES)
    properties.update((k, v) for k, v in run.properties if k != EXACT_NUMBERS_PROPERTY)
    return properties


def run_one(run: Run) -> Outcome:
    """The verdict of one run, in a fresh engine over a temporary data directory."""
    reason = skip_reason(run)
    if reason:
        return Outcome(SKIPPED, reason)
    if run.invalid is not None:
        return Outcome(FAILED, f"invalid case: {run.invalid}")
    with tempfile.TemporaryDirectory(prefix="streamsql-test-") as data_dir:
        try:
            return asyncio.run(execute_run(run, Path(data_dir)))
        except Exception as err:  # an engine bug must fail this run, not the whole suite
            return Outcome(FAILED, f"internal error: {_describe_internal(err)}")


async def execute_run(run: Run, data_dir: Path) -> Outcome:
    """Section 9, steps 2-5, on an engine created for this run only."""
    from streamsql.engine import Engine  # the runner drives the whole engine

    try:
        # A run's data is thrown away afterwards, so durability (fsync, state files) buys nothing.
        engine = Engine(data_dir, engine_properties(run), run_queries=False, test_functions=True,
                        backend=EmbeddedLog(data_dir, fsync="never"), state_in_memory=True)
        await engine.start()
    except StreamSQLError as error:  # e.g. an invalid property value of the case
        return error_outcome(run, error)
    try:
        if run.is_rest:
            return await _rest_verdict(engine, run)
        return await _Session(engine, run).verdict()
    finally:
        await engine.close()


async def _rest_verdict(engine: "Engine", run: Run) -> Outcome:
    """Section 10: admin statements in one /ksql request, inputs, then each query on /query."""
    from streamsql.server.app import Server

    session = _Session(engine, run)
    await session._create_topics()
    admin, queries = rest.split_statements(run.statements)
    properties = {k: str(v) for k, v in run.properties}
    expected_error = run.rest.get("expectedError")
    responses: list = []
    wait_for_push = rest.waits_for_push_query(run)
    delivered = False

    async def deliver(header=None) -> None:
        nonlocal delivered
        # With waitForActivePushQuery, only once the streamed query is registered (its
        # start offsets fixed when its header was sent).
        if header is None or rest.push_query_id(header) in engine.push_queries:
            delivered = True
            await session._deliver_inputs()

    async with Server(engine, port=0) as server:
        requests = ([("/ksql", "\n".join(admin))] if admin else []) + \
            [("/query", q) for q in queries]
        for path, text in requests:
            streamed = path == "/query" and wait_for_push and not delivered
            try:
                if path == "/query" and not wait_for_push and not delivered:
                    await deliver()  # no admin statements came first
                status, body = await rest.post(
                    server.port, path, {"ksql": text, "streamsProperties": properties},
                    on_open=deliver if streamed else None)
                if status == 200 and path == "/ksql" and not wait_for_push:
                    await deliver()
            except (StreamSQLError, TestDataError) as error:
                return Outcome(FAILED, f"delivering inputs: {error}")
            except asyncio.TimeoutError:
                return Outcome(FAILED, f"{path}: nothing arrived for {rest.READ_TIMEOUT:g} s "
                                       f"while answering {text!r}"[:400])
            if status != 200:
                if expected_error is None:
                    return Outcome(FAILED, f"{path} answered {status}: {body!r}"[:400])
                problem = rest.match_error(expected_error, status, body)
                return Outcome(FAILED, problem) if problem else Outcome(PASSED)
            if streamed and not delivered:
                return Outcome(FAILED, f"no push query was running to produce the inputs to: "
                                       f"{body!r}"[:400])
            responses.extend(body if path == "/ksql" else [body])
    if expected_error is not None:
        return Outcome(FAILED, f"expected an error {expected_error!r} but nothing failed")
    problem = await session._check_outputs() or \
        rest.check_responses(run.rest.get("responses", []), responses)
    return Outcome(FAILED, problem) if problem else Outcome(PASSED)


@dataclass(frozen=True)
class Delivery:
    """Records [start, end) of one topic partition, delivered to a query in one call."""

    topic: str
    partition: int
    start: int
    end: int


def plan_deliveries(input_positions: Sequence[tuple[str, int, int]],
                    source_topics: Iterable[str],
                    stored: dict[str, list[tuple[int, int, int]]]) -> list[Delivery]:
    """The order in which one query sees its records (section 4.3, step 2).

    Args:
        input_positions: (topic, partition, offset) of every input record in file order
            (QTT puts them all in partition 0).
        source_topics: the query's source topics, in the query's order.
        stored: for each source topic not named by inputs, its (partition, start, end) ranges.
    """
    sources = list(dict.fromkeys(source_topics))
    wanted = set(sources)
    deliveries: list[Delivery] = []
    for topic, partition, offset in input_positions:
        if topic not in wanted:
            continue
        last = deliveries[-1] if deliveries else None
        if last is not None and (last.topic, last.partition, last.end) == \
                (topic, partition, offset):
            deliveries[-1] = Delivery(topic, partition, last.start, offset + 1)
        else:
            deliveries.append(Delivery(topic, partition, offset, offset + 1))
    input_topics = {topic for topic, _, _ in input_positions}
    for topic in sources:
        if topic in input_topics:
            continue
        for partition, start, end in stored.get(topic, ()):
            if end > start:
                deliveries.append(Delivery(topic, partition, start, end))
    return deliveries


def statement_topics(run: Run, default_partitions: int = 1) -> list[tuple[str, int, int]]:
    """(topic, partitions, replicas) the reference creates from the statements up front.

    Every CREATE STREAM/TABLE names its KAFKA_TOPIC (`default_partitions` unless PARTITIONS
    says otherwise); a CREATE ... AS SELECT counts only when it gives PARTITIONS, since otherwise
    its sink topic copies the source's shape. A statement that does not parse names no topic
    (the engine reports the parse error itself).
    """
    statements = []
    for text in run.statements:
        try:
            statements.extend(parser.parse(text))
        except StreamSQLError:
            continue
    prefix = run.property_map.get("ksql.output.topic.name.prefix", "")
    topics = []
    for statement in statements:
        if not isinstance(statement, _CREATE_STATEMENTS):
            continue
        properties = {p.name.upper(): getattr(p.value, "value", None)
                      for p in statement.properties}
        partitions, replicas = properties.get("PARTITIONS"), properties.get("REPLICAS")
        topic = properties.get("KAFKA_TOPIC")
        if isinstance(statement, (ast.CreateStreamAs, ast.CreateTableAs)):
            if not isinstance(partitions, int):
                continue
            topic = topic if isinstance(topic, str) else prefix + statement.name
        if not isinstance(topic, str):
            continue
        topics.append((topic, partitions if isinstance(partitions, int) else default_partitions,
                       replicas if isinstance(replicas, int) else 1))
    return topics


def error_outcome(run: Run, error: StreamSQLError) -> Outcome:
    """The verdict of a run that raised `error` (section 9, step 4)."""
    if run.expected_exception is None:
        return Outcome(FAILED, f"{short_class(java_type(error))}: {error.message}")
    problem = exception_mismatch(run.expected_exception, error)
    return Outcome(FAILED, problem) if problem else Outcome(PASSED)


def _describe_internal(err: BaseException) -> str:
    """The error and the innermost streamsql line it came from, for whoever fixes the bug."""
    frames = traceback.extract_tb(err.__traceback__) if err.__traceback__ else []
    ours = [f for f in frames if "streamsql" in Path(f.filename).parts]
    frame = (ours or frames or [None])[-1]
    where = f" (at {Path(frame.filename).name}:{frame.lineno})" if frame else ""
    return f"{type(err).__name__}: {err}{where}"


class _Session:
    """The steps of one run against its engine."""

    def __init__(self, engine: "Engine", run: Run):
        self.engine = engine
        self.run = run
        self.exact_numbers = run.property_map.get(EXACT_NUMBERS_PROPERTY, "true").lower() != "false"

    async def verdict(self) -> Outcome:
        expected = self.run.expected_exception
        try:
            await self._create_topics()
            await self.engine.execute("\n".join(self.run.statements))
            if expected is None and not self.engine.queries:
                return Outcome(FAILED, "the statements created no persistent query")
            await self._deliver_inputs()
        except StreamSQLError as error:
            return error_outcome(self.run, error)
        except TestDataError as error:
            return Outcome(FAILED, f"test data: {error}")
        if expected is not None:
            what = short_class(expected.type) if expected.type else "an exception"
            message = f" with message {expected.message!r}" if expected.message else ""
            return Outcome(FAILED, f"expected {what}{message} but nothing failed")
        problem = await self._check_outputs()
        if problem is None:
            problem = await post.check(self.engine.catalog, self.engine.backend, self.run.post)
        return Outcome(FAILED, problem) if problem else Outcome(PASSED)

    # ---- step 2: topics -----------------------------------------------------------------
    async def _create_topics(self) -> None:
        """Pre-declared topics, then the topics of every input and output record (3.4)."""
        backend = self.engine.backend
        for spec in self.run.topics:
            await backend.create_topic(spec.name, spec.partitions, spec.replicas)
        declared = {spec.name for spec in self.run.topics}
        default = REST_DEFAULT_PARTITIONS if self.run.is_rest else 1
        for name, partitions, replicas in statement_topics(self.run, default):
            if name not in declared:
                declared.add(name)
                await backend.create_topic(name, partitions, replicas)
        for record in (*self.run.inputs, *self.run.outputs):
            if record.topic not in declared:
                declared.add(record.topic)
                await backend.create_topic(record.topic, default, 1)

    # ---- step 3: records (section 4.3) --------------------------------------------------
    async def _deliver_inputs(self) -> None:
        backend = self.engine.backend
        positions: list[tuple[str, int, int]] = []
        for topic, records in _consecutive_by_topic(self.run.inputs):
            key_serde, value_serde = self._serdes(topic)
            encoded = [Record(key=encode_key(r.key, r.window, key_serde),
                              value=encode(r.value, value_serde),
                              timestamp=r.timestamp or 0,
                              headers=tuple((k, None if v is None else _base64(v))
                                            for k, v in r.headers or ()))
                       for r in records]
            if self.run.is_rest:
                # Section 10: a real producer places each record by its key's hash.
                info = await backend.describe_topic(topic)
                encoded = [replace(r, partition=partition_for(r.key, info.partitions))
                           for r in encoded]
            offsets = await backend.produce(topic, encoded)
            positions.extend((topic, r.partition, offset) for r, offset in zip(encoded, offsets))
        input_topics = {topic for topic, _, _ in positions}
        for query in list(self.engine.queries):
            stored = {}
            for topic in query.source_topics:
                if topic not in input_topics:
                    stored[topic] = await self._stored_ranges(topic)
            for step in plan_deliveries(positions, query.source_topics, stored):
                await self.engine.process(query.query_id, step.topic, step.partition,
                                          step.start, step.end)

    async def _stored_ranges(self, topic: str) -> list[tuple[int, int, int]]:
        backend = self.engine.backend
        info = await backend.describe_topic(topic)
        if info is None:
            return []
        return [(p, await backend.start_offset(topic, p), await backend.end_offset(topic, p))
                for p in range(info.partitions)]

    # ---- step 5: outputs (section 6) ----------------------------------------------------
    async def _check_outputs(self) -> str | None:
        expected_by_topic: dict[str, list[TestRecord]] = {}
        for record in self.run.outputs:
            expected_by_topic.setdefault(record.topic, []).append(record)
        for topic, expected in expected_by_topic.items():
            actual = await self._read_topic(topic)
            if len(actual) != len(expected):
                shown = "; ".join(self._render_actual(topic, r) for r in actual[:5])
                more = f"; ... {len(actual) - 5} more" if len(actual) > 5 else ""
                return (f"topic '{topic}': expected {len(expected)} records but got "
                        f"{len(actual)}: [{shown}{more}]")
            for index, (want, got) in enumerate(zip(expected, actual)):
                problem = self._record_mismatch(topic, want, got)
                if problem:
                    return f"topic '{topic}', record {index}: {problem}"
        return None

    def _record_mismatch(self, topic: str, want: TestRecord, got: Record) -> str | None:
        key_serde, value_serde = self._serdes(topic)
        try:
            key, window = decode_key(got.key, key_serde, exact_numbers=self.exact_numbers)
        except TestDataError as err:
            return f"cannot decode key: {err}"
        try:
            value = decode(got.value, value_serde, exact_numbers=self.exact_numbers)
        except TestDataError as err:
            return f"cannot decode value: {err}"
        problem = _window_mismatch(want.window, window)
        if problem is None:
            found = difference(want.key, bytes_to_text(key))
            problem = f"key: {found}" if found else None
        if problem is None:
            found = difference(want.value, bytes_to_text(value))
            problem = f"value: {found}" if found else None
        if problem is None:
            problem = _headers_mismatch(want.headers, got.headers)
        if problem is None and want.timestamp is not None and want.timestamp != got.timestamp:
            # Section 6.3: rows from INSERT VALUES carry wall-clock time; 0 means "any".
            if not (want.timestamp == 0 and not self.run.inputs):
                problem = f"timestamp: expected {want.timestamp} but was {got.timestamp}"
        return problem

    def _render_actual(self, topic: str, record: Record) -> str:
        key_serde, value_serde = self._serdes(topic)
        try:
            key, window = decode_key(record.key, key_serde, exact_numbers=self.exact_numbers)
            value = decode(record.value, value_serde, exact_numbers=self.exact_numbers)
        except TestDataError:
            return f"<undecodable key={record.key!r}, value={record.value!r}>"
        window_text = f" window {window.type} [{window.start}, {window.end}]" if window else ""
        return f"<{show(key)}, {show(value)}> at {record.timestamp}{window_text}"

    async def _read_topic(self, topic: str) -> list[Record]:
        backend = self.engine.backend
        info = await backend.describe_topic(topic)
        if info is None:
            return []
        records: list[Record] = []
        for partition in range(info.partitions):
            offset = await backend.start_offset(topic, partition)
            end = await backend.end_offset(topic, partition)
            while offset < end:
                batch = await backend.fetch(topic, partition, offset)
                if not batch:
                    break
                records.extend(batch)
                offset = batch[-1].offset + 1
        return records

    def _serdes(self, topic: str) -> tuple[Serde, Serde]:
        """Key and value serdes of the catalog source on the topic (an arbitrary one if many)."""
        sources = self.engine.catalog.sources_on_topic(topic)
        if not sources:
            return RAW, RAW
        source = sources[0]
        return (Serde(source.key_format.name, source.schema.key, source.window),
                Serde(source.value_format.name, source.schema.value))


def _consecutive_by_topic(records: Sequence[TestRecord]) -> list[tuple[str, list[TestRecord]]]:
    groups: list[tuple[str, list[TestRecord]]] = []
    for record in records:
        if groups and groups[-1][0] == record.topic:
            groups[-1][1].append(record)
        else:
            groups.append((record.topic, [record]))
    return groups


def _window_mismatch(expected: Window | None, actual: Window | None) -> str | None:
    if expected == actual:
        return None
    def text(window: Window | None) -> str:
        return "no window" if window is None else \
            f"{window.type} window [{window.start}, {window.end}]"
    return f"window: expected {text(expected)} but was {text(actual)}"


def _headers_mismatch(expected: tuple[tuple[str, str | None], ...] | None,
                      actual: tuple[tuple[str, bytes | None], ...]) -> str | None:
    want = [(k, None if v is None else _base64(v)) for k, v in expected or ()]
    got = [(k, v) for k, v in actual]
    if want == got:
        return None
    return f"headers: expected {_show_headers(want)} but was {_show_headers(got)}"


def _show_headers(headers: list[tuple[str, bytes | None]]) -> str:
    return "[" + ", ".join(
        f"{key}={'null' if value is None else base64.b64encode(value).decode()}"
        for key, value in headers) + "]"


def _base64(text: str) -> bytes:
    return base64.b64decode(text)
