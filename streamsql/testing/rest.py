"""REST-QTT runs (spec section 10): statements and queries sent to the real HTTP endpoint.

A run starts the server on a free loopback port over a fresh engine, sends the admin
statements in one /ksql request, delivers the inputs to the persistent queries (as QTT
runs do), sends each query to /query, and compares the responses as the spec says. With
`waitForActivePushQuery` the inputs go out only once the streamed push query runs.
"""
from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Awaitable, Callable

import h11
import orjson

from streamsql.testing.compare import difference
from streamsql.testing.loader import Run

READ_TIMEOUT = 30.0


async def post(port: int, path: str, document: dict, *,
               on_open: Callable[[object], Awaitable[None]] | None = None) -> tuple[int, object]:
    """One HTTP/1.1 POST over a socket; the status and the decoded JSON body.

    on_open: awaited with the first element of a successful JSON-array response (a query's
    header) as soon as it has arrived, while the response is still open: what it does
    (producing a push query's inputs) happens while the query runs.

    Raises asyncio.TimeoutError when the server sends nothing for READ_TIMEOUT seconds.
    """
    body = orjson.dumps(document)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    connection = h11.Connection(h11.CLIENT)
    try:
        writer.write(connection.send(h11.Request(
            method="POST", target=path,
            headers=[("host", f"127.0.0.1:{port}"), ("content-type", "application/json"),
                     ("content-length", str(len(body)))])))
        writer.write(connection.send(h11.Data(data=body)))
        writer.write(connection.send(h11.EndOfMessage()))
        await writer.drain()
        status, chunks, opened = 0, [], on_open is None
        while True:
            event = connection.next_event()
            if event is h11.NEED_DATA:
                connection.receive_data(await asyncio.wait_for(reader.read(65536), READ_TIMEOUT))
                continue
            if isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.Data):
                chunks.append(bytes(event.data))
                if not opened and status == 200:
                    first = _first_element(b"".join(chunks))
                    if first is not None:
                        opened = True
                        await on_open(first)
            elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                break
        text = b"".join(chunks)
        return status, _json(text) if text.strip() else None
    finally:
        writer.close()


def _json(text: bytes):
    return json.loads(text, parse_float=Decimal)


def _first_element(body: bytes):
    """The first element of a JSON array of which `body` is the beginning, once it is whole."""
    text = body.lstrip()
    if not text.startswith(b"["):
        return None
    try:
        element, _ = json.JSONDecoder(parse_float=Decimal).raw_decode(text[1:].decode().lstrip())
    except ValueError:  # not all there yet (UnicodeDecodeError is a ValueError too)
        return None
    return element


def push_query_id(header) -> str | None:
    """The query id in a /query header element, if it is one."""
    if isinstance(header, dict) and isinstance(header.get("header"), dict):
        query_id = header["header"].get("queryId")
        return query_id if isinstance(query_id, str) else None
    return None


def waits_for_push_query(run: Run) -> bool:
    """`inputConditions.waitForActivePushQuery`: inputs go out while the push query runs."""
    conditions = run.rest.get("inputConditions") or {}
    return bool(conditions.get("waitForActivePushQuery"))


def split_statements(statements) -> tuple[list[str], list[str]]:
    """Admin statements first; from the first `SELECT ` on, queries (section 10, step 2)."""
    for i, statement in enumerate(statements):
        if statement.startswith("SELECT "):
            return list(statements[:i]), list(statements[i:])
    return list(statements), []


def match_template(expected, actual, path: str = "") -> str | None:
    """Partial match: each expected key must exist and match; other values equal (9a)."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return f"{path or 'response'}: expected an object, got {actual!r}"
        for key, value in expected.items():
            name, _, op = key.partition("|")
            if name not in actual:
                return f"{path}{name}: missing"
            if op == "starts_with":
                if not (isinstance(actual[name], str) and actual[name].startswith(value)):
                    return f"{path}{name}: {actual[name]!r} does not start with {value!r}"
                continue
            problem = match_template(value, actual[name], f"{path}{name}.")
            if problem:
                return problem
        return None
    return difference(expected, actual, path.rstrip(".") or "value")


def match_query(expected: list, actual) -> str | None:
    """A query response: the same number of elements; rows compared as a multiset."""
    if not isinstance(actual, list):
        return f"query response: expected a JSON array, got {actual!r}"
    if len(expected) != len(actual):
        return f"query response: expected {len(expected)} elements, got {len(actual)}: " \
               f"{orjson.dumps(actual, default=str).decode()[:300]}"
    expected_rows = [e for e in expected if "row" in e]
    actual_rows = [a for a in actual if isinstance(a, dict) and "row" in a]
    for e, a in zip([e for e in expected if "row" not in e],
                    [a for a in actual if not (isinstance(a, dict) and "row" in a)]):
        problem = match_template(e, a)
        if problem:
            return problem
    unmatched = list(actual_rows)
    for row in expected_rows:
        found = next((a for a in unmatched if match_template(row, a) is None), None)
        if found is None:
            return f"no row matches {row!r} among {unmatched!r}"[:400]
        unmatched.remove(found)
    return None


def match_error(expected: dict, status: int, body) -> str | None:
    """An error response against `expectedError` (9b)."""
    if "status" in expected and int(expected["status"]) != status:
        return f"expected HTTP status {expected['status']}, got {status}: {body!r}"[:400]
    message = body.get("message", "") if isinstance(body, dict) else ""
    if "message" in expected and expected["message"] not in message:
        return f"expected an error containing {expected['message']!r}, got {message!r}"
    return None


def check_responses(expected: list, actual: list) -> str | None:
    for i, want in enumerate(expected):
        if "queryProto" in want:
            continue
        if i >= len(actual):
            return f"response {i}: missing"
        kind, template = next(iter(want.items()))
        problem = match_query(template, actual[i]) if kind == "query" else \
            match_template(template, actual[i])
        if problem:
            return f"response {i}: {problem}"
    return None


__all__ = ["Run", "post", "split_statements", "check_responses", "match_error",
           "push_query_id", "waits_for_push_query"]
