"""QTT files in, runs out: comment stripping, loss-free numbers, case validation and expansion.

Owns the file model of ksqlDB's query-validation tests; knows nothing about the engine.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

# ksqlDB replaces `{FORMAT}` with a sentence when a case has no format list, so such a
# statement fails to parse; any text that cannot parse keeps that verdict.
_NO_FORMAT_TEXT = "<{FORMAT} used but the case has no format list>"
_CONFIG_PLACEHOLDER = "{config}"
_REST_KEYS = ("responses", "expectedError", "inputConditions", "outputConditions",
              "testPullWithProtoFormat")


class LoadError(Exception):
    """A QTT file (or one case in it) is not valid; the message says where and why."""


@dataclass(frozen=True)
class Window:
    start: int
    end: int
    type: str  # 'time' | 'session'


@dataclass(frozen=True)
class TestRecord:
    """One input or expected output record, in test-data form."""

    __test__ = False  # not a pytest test class

    topic: str
    value: Any
    key: Any = None
    timestamp: int | None = None  # None: input 0, output "any timestamp"
    window: Window | None = None
    headers: tuple[tuple[str, str | None], ...] | None = None  # None: no headers given


@dataclass(frozen=True)
class TopicSpec:
    """A pre-declared topic (`topics` entry)."""

    name: str
    partitions: int = 1
    replicas: int = 1
    has_schema: bool = False  # a key/value schema to register in a schema registry


@dataclass(frozen=True)
class ExpectedException:
    type: str | None
    message: str | None
    cause: str | None = None
    cause_message: str | None = None


@dataclass(frozen=True)
class Run:
    """One execution of a case: `format`/`config` already substituted."""

    file: str  # file name, e.g. 'project-filter.json'
    name: str  # case name + ' - FORMAT' + ' - prop=value'
    statements: tuple[str, ...]
    inputs: tuple[TestRecord, ...] = ()
    outputs: tuple[TestRecord, ...] = ()
    topics: tuple[TopicSpec, ...] = ()
    properties: tuple[tuple[str, str], ...] = ()
    expected_exception: ExpectedException | None = None
    post: dict = field(default_factory=dict, compare=False)
    is_rest: bool = False  # a REST-QTT case: responses/expectedError, checked over HTTP
    rest: dict = field(default_factory=dict, compare=False)  # REST-QTT keys (section 10)
    invalid: str | None = None  # why the case is invalid; the run fails with this reason

    @property
    def property_map(self) -> dict[str, str]:
        return dict(self.properties)


def strip_comments(text: str) -> str:
    """Remove `//` and `/* */` comments outside JSON string literals."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(text[i:j + 1])
            i = j + 1
        elif text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                raise LoadError("unterminated /* comment")
            out.append(" ")  # a comment separates tokens
            i = end + 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def parse_json(text: str) -> Any:
    """JSON with comments; integers stay ints, other numbers become Decimals keeping their scale."""
    return json.loads(strip_comments(text), parse_float=Decimal)


def load_file(path: Path, *, rest: bool | None = None) -> list[Run]:
    """All runs of one QTT (or REST-QTT) file, in case order; `enabled: false` cases are left out.

    `rest` forces REST-QTT handling; by default a file under a `rest-cases` directory is REST-QTT.

    Raises:
        LoadError: the file is not valid JSON or has no `tests`.
    """
    path = Path(path)
    try:
        document = parse_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, LoadError) as err:
        raise LoadError(f"{path.name}: cannot read: {err}") from err
    if not isinstance(document, dict) or not isinstance(document.get("tests"), list) \
            or not document["tests"]:
        raise LoadError(f"{path.name}: the top level needs a non-empty 'tests' array")
    if rest is None:
        rest = "rest-cases" in path.parts
    runs: list[Run] = []
    seen: set[str] = set()
    for index, case in enumerate(document["tests"]):
        for run in expand_case(case, path.name, rest=rest, index=index):
            if run.name in seen:  # the reference rejects a suite with duplicate run names
                run = _invalid_run(path.name, run.name, "another run of the file has this name")
            seen.add(run.name)
            runs.append(run)
    return runs


def expand_case(case: Any, file: str, *, rest: bool = False, index: int = 0) -> list[Run]:
    """The runs of one case (section 2.1): formats outer, configs inner."""
    if not isinstance(case, dict):
        return [_invalid_run(file, f"#{index}", "a case must be a JSON object")]
    name = case.get("name")
    if not isinstance(name, str) or not name:
        return [_invalid_run(file, f"#{index}", "a case needs a non-empty 'name'")]
    if case.get("enabled", True) is False:
        return []
    is_rest = rest or "responses" in case or "expectedError" in case
    try:
        base = _build_run(case, file, name, is_rest)
    except LoadError as err:
        return [_invalid_run(file, name, str(err))]

    formats = case.get("format") or []
    configs = case.get("config") or []
    format_variants = [(f" - {f}", f) for f in formats] or [("", None)]
    config_variants: list[tuple[str, str | None, str | None]] = [("", None, None)]
    if configs:
        placeholders = [k for k, v in base.properties
                        if isinstance(v, str) and v.lower() == _CONFIG_PLACEHOLDER]
        if len(placeholders) != 1:
            return [_invalid_run(file, name, "'config' needs exactly one property set to "
                                             "'{CONFIG}'")]
        config_variants = [(f" - {placeholders[0]}={c}", placeholders[0], c) for c in configs]

    runs = []
    for format_suffix, fmt in format_variants:
        statements = tuple(s.replace("{FORMAT}", fmt if fmt is not None else _NO_FORMAT_TEXT)
                           for s in base.statements)
        for config_suffix, prop, value in config_variants:
            properties = base.properties
            if prop is not None:
                properties = tuple((k, value if k == prop else v) for k, v in properties)
            runs.append(replace(base, name=name + format_suffix + config_suffix,
                                 statements=statements, properties=properties))
    return runs


def load_runner_files(statements: Path, input_file: Path | None, output_file: Path) -> Run:
    """The single run of `ksql-test-runner` style files (section 13), named `KSQL_Test`."""
    try:
        sql = Path(statements).read_text(encoding="utf-8")
    except OSError as err:
        raise LoadError(f"{statements}: cannot read: {err}") from err
    inputs: list = []
    if input_file is not None:
        inputs = _records_file(Path(input_file), "inputs")
    outputs = _records_file(Path(output_file), "outputs")
    return Run(file=Path(statements).name, name="KSQL_Test", statements=(sql,),
               inputs=tuple(_record(r, "inputs") for r in inputs),
               outputs=tuple(_record(r, "outputs") for r in outputs))


# ---- building ---------------------------------------------------------------------------

def _records_file(path: Path, key: str) -> list:
    try:
        document = parse_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, LoadError) as err:
        raise LoadError(f"{path}: cannot read: {err}") from err
    records = document.get(key) if isinstance(document, dict) else None
    if not isinstance(records, list) or not records:
        raise LoadError(f"{path}: needs a non-empty '{key}' array")
    return records


def _build_run(case: dict, file: str, name: str, is_rest: bool) -> Run:
    statements = case.get("statements")
    if not isinstance(statements, list) or not statements \
            or not all(isinstance(s, str) for s in statements):
        raise LoadError("'statements' must be a non-empty array of strings")
    expected = case.get("expectedException")
    if expected is not None:
        expected = _expected_exception(expected)
    inputs = case.get("inputs") or []
    outputs = case.get("outputs") or []
    if expected is None and not is_rest and not inputs and not outputs:
        raise LoadError("a case without 'expectedException' needs 'inputs' or 'outputs'")
    properties = case.get("properties") or {}
    if not isinstance(properties, dict):
        raise LoadError("'properties' must be an object")
    post = case.get("post") or {}
    if not isinstance(post, dict):
        raise LoadError("'post' must be an object")
    return Run(
        file=file, name=name, statements=tuple(statements),
        inputs=tuple(_record(r, "inputs") for r in inputs),
        outputs=tuple(_record(r, "outputs") for r in outputs),
        topics=tuple(_topic(t) for t in case.get("topics") or []),
        properties=tuple((str(k), _property_text(v)) for k, v in properties.items()),
        expected_exception=expected, post=post, is_rest=is_rest,
        rest={k: case[k] for k in _REST_KEYS if k in case} if is_rest else {})


def _record(raw: Any, where: str) -> TestRecord:
    if not isinstance(raw, dict) or not isinstance(raw.get("topic"), str):
        raise LoadError(f"every record in '{where}' needs a 'topic'")
    if "value" not in raw:
        raise LoadError(f"record on topic '{raw['topic']}' in '{where}' has no 'value'")
    try:
        window = raw.get("window")
        if window is not None:
            kind = str(window.get("type", "")).lower()
            if kind not in ("time", "session"):
                raise LoadError(f"unknown window type {window.get('type')!r}")
            window = Window(int(window["start"]), int(window["end"]), kind)
        headers = raw.get("headers")
        if headers is not None:
            headers = tuple((h["KEY"], h.get("VALUE")) for h in headers)
        timestamp = raw.get("timestamp")
        return TestRecord(topic=raw["topic"], value=raw["value"], key=raw.get("key"),
                          timestamp=None if timestamp is None else int(timestamp),
                          window=window, headers=headers)
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise LoadError(f"malformed record on topic '{raw['topic']}' in '{where}': "
                        f"{type(err).__name__}: {err}") from err


def _topic(raw: Any) -> TopicSpec:
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
        raise LoadError("every 'topics' entry needs a 'name'")
    try:
        return TopicSpec(name=raw["name"], partitions=int(raw.get("partitions", 1)),
                         replicas=int(raw.get("replicas", 1)),
                         has_schema="keySchema" in raw or "valueSchema" in raw)
    except (TypeError, ValueError) as err:
        raise LoadError(f"topic '{raw['name']}': {err}") from err


def _expected_exception(raw: Any) -> ExpectedException:
    if not isinstance(raw, dict) or ("type" not in raw and "message" not in raw):
        raise LoadError("'expectedException' needs a 'type' or a 'message'")
    if "causeMessage" in raw and "cause" not in raw:
        raise LoadError("'expectedException.causeMessage' needs 'cause'")
    return ExpectedException(raw.get("type"), raw.get("message"), raw.get("cause"),
                             raw.get("causeMessage"))


def _property_text(value: Any) -> str:
    """Property values as the engine takes them: strings, with JSON booleans as true/false."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _invalid_run(file: str, name: str, reason: str) -> Run:
    return Run(file=file, name=name, statements=(), invalid=reason)
